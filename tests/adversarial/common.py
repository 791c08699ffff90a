"""Helpers shared by the adversarial tests (black-box: real HTTP and WebSocket)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import websockets

from tests.conftest import RECEIVE
from tests.support import connect_ws

NEW_MESSAGE = """subscription($inbox: InboxSelector, $after: Int) {
  newMessage(inbox: $inbox, afterSequence: $after) {
    sequence
    message { id text }
    conversation { contact { name } }
  } }"""

NODE_CONTACT = "query($id: ID!) { node(id: $id) { id ... on Contact { name assignee { id } } } }"


def global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def receive(world, contact: str, text: str) -> dict:
    """An inbound webchat message from the world's contact ``contact`` (integration token)."""
    integration = world.client("integration")
    try:
        data = await integration(
            RECEIVE,
            {"i": {"channelId": world.channel_ids["WEBCHAT"], "from": f"visitor-{contact}",
                   "externalMessageId": uuid.uuid4().hex, "text": text}},
        )
    finally:
        await integration.aclose()
    return data["receiveMessage"]


async def open_socket(served, token: str):
    """An acknowledged graphql-transport-ws socket."""
    socket = await connect_ws(served, token)
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    return socket


async def ws_operation(socket, query: str, variables: dict | None = None, timeout: float = 5.0) -> dict:
    """Run one query/mutation over an open socket.

    Returns ``{"closed": code}`` when the server closed the socket, else
    ``{"payload": <first next payload or error list>}``.
    """
    operation_id = uuid.uuid4().hex
    try:
        await socket.send(json.dumps(
            {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        ))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            if message.get("id") != operation_id:
                continue
            if message["type"] == "next":
                return {"payload": message["payload"]}
            if message["type"] == "error":
                return {"payload": {"errors": message["payload"]}}
            if message["type"] == "complete":
                return {"payload": {}}
    except websockets.ConnectionClosed as closed:
        return {"closed": closed.rcvd.code if closed.rcvd else None}


def rejected(outcome: dict) -> bool:
    """The server refused: closed the socket with an auth code, or answered UNAUTHENTICATED
    with no data."""
    if "closed" in outcome:
        return outcome["closed"] in (4401, 4403, 4400, 1008)
    payload = outcome["payload"]
    codes = [e.get("extensions", {}).get("code") for e in payload.get("errors") or []]
    data = payload.get("data")
    return "UNAUTHENTICATED" in codes and not any((data or {}).values())

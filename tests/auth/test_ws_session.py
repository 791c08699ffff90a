"""An open WebSocket must not outlive the rights it was opened with: every operation and
every new subscription is authorised against the token and user as they are *now*
(``domain.md`` section 1 and 7; ``graph/auth.py``: revoked, expired and deactivated users'
tokens resolve to no viewer)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import websockets

from tests.conftest import ASSIGN, PASSWORD, login
from tests.support import (
    NEW_MESSAGE,
    NODE_CONTACT,
    Client,
    open_socket,
    receive,
    rejected,
    ws_operation,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE_TOKEN = "mutation($n: String!) { createAccessToken(name: $n) { token accessToken { id } } }"
REVOKE = "mutation($id: ID!) { revokeAccessToken(id: $id) }"


async def test_revoked_token_cannot_query_or_mutate_over_an_already_open_websocket(world):
    owner = world.client("owner")
    try:
        data = (await owner(CREATE_TOKEN, {"n": "ws-then-revoked"}))["createAccessToken"]
        socket = await open_socket(world.served, data["token"])
        before = await ws_operation(socket, "{ me { id } }")
        assert before["payload"]["data"]["me"]["id"] == world.user_ids["owner"]
        await owner(REVOKE, {"id": data["accessToken"]["id"]})

        query = await ws_operation(socket, "{ me { id } }")
        assert rejected(query), f"revoked token still reads over its socket: {query}"
        # worse: a revoked token must not be able to mint itself a fresh, valid one
        minted = await ws_operation(socket, CREATE_TOKEN, {"n": "zombie"})
        assert rejected(minted), f"revoked token minted a new token over its socket: {minted}"
        await socket.close()
    finally:
        await owner.aclose()


async def test_deactivated_user_loses_an_open_websocket(world):
    owner = world.client("owner")
    email = f"leaver-{uuid.uuid4().hex[:6]}@{world.domain}"
    created = await owner(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {"i": {"email": email, "name": "Leaver", "password": PASSWORD, "contactVisibility": "ALL"}},
    )
    user_id = created["createUser"]["id"]
    token = await login(world.served, email, PASSWORD)
    socket = await open_socket(world.served, token)
    try:
        await owner(
            "mutation($id: ID!) { updateUser(id: $id, input: {isActive: false}) { id } }",
            {"id": user_id},
        )
        assert await Client(world.served, token).error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
        outcome = await ws_operation(
            socket,
            "{ conversations(inbox: {standard: ALL}) { edges { node { contact { name } } } } }",
        )
        assert rejected(outcome), (
            f"deactivated user still lists conversations over the socket: {outcome}"
        )
    finally:
        await socket.close()
        await owner.aclose()


async def test_visibility_downgrade_applies_to_queries_on_an_open_websocket(world):
    """An unrestricted agent made SELF must stop seeing others' contacts on its open socket,
    exactly as over HTTP (domain.md section 1: one policy for every path)."""
    owner = world.client("owner")
    agent = world.client("agent_all")
    socket = await open_socket(world.served, world.tokens["agent_all"])
    hidden = world.contact_ids["c_none"]
    try:
        first = await ws_operation(socket, NODE_CONTACT, {"id": hidden})
        assert first["payload"]["data"]["node"]["id"] == hidden
        await owner(
            "mutation($id: ID!) { updateUser(id: $id, input: {contactVisibility: SELF}) { id } }",
            {"id": world.user_ids["agent_all"]},
        )
        assert (await agent(NODE_CONTACT, {"id": hidden}))["node"] is None  # HTTP is right
        over_ws = await ws_operation(socket, NODE_CONTACT, {"id": hidden})
        assert over_ws.get("payload", {}).get("data", {}).get("node") is None, (
            f"SELF agent still resolves an unassigned contact over its socket: {over_ws}"
        )
        listed = await ws_operation(
            socket,
            "{ conversations(inbox: {standard: ALL}) { edges { node { contact { name } } } } }",
        )
        codes = [
            e.get("extensions", {}).get("code")
            for e in listed.get("payload", {}).get("errors") or []
        ]
        assert "closed" in listed or codes == ["FORBIDDEN"], (
            f"SELF agent still lists the ALL inbox over its socket: {str(listed)[:300]}"
        )
    finally:
        await owner(
            "mutation($id: ID!) { updateUser(id: $id, input: {contactVisibility: ALL}) { id } }",
            {"id": world.user_ids["agent_all"]},
        )
        await socket.close()
        await owner.aclose()
        await agent.aclose()


async def test_open_websocket_does_not_serve_stale_rows_or_stale_visibility(world):
    """Loaders are per request (graph/loaders.py), but a socket's queries reuse one loader set
    for the life of the connection: a contact reassigned away stays visible, with its old
    assignee, to a TEAM agent."""
    owner = world.client("owner")
    socket = await open_socket(world.served, world.tokens["agent_team"])
    contact = world.contact_ids["c_team"]
    try:
        first = await ws_operation(socket, NODE_CONTACT, {"id": contact})
        assert first["payload"]["data"]["node"]["assignee"]["id"] == world.user_ids["agent_team"]
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_beta"]})  # out of Alpha
        again = await ws_operation(socket, NODE_CONTACT, {"id": contact})
        assert again["payload"]["data"]["node"] is None, (
            f"contact reassigned out of the agent's team still resolves over its socket: {again}"
        )
    finally:
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_team"]})
        await socket.close()
        await owner.aclose()


async def test_subscription_started_after_revocation_on_an_open_socket_gets_no_events(world):
    owner = world.client("owner")
    try:
        data = (await owner(CREATE_TOKEN, {"n": "ws-subscribe-after-revoke"}))["createAccessToken"]
        socket = await open_socket(world.served, data["token"])
        await owner(REVOKE, {"id": data["accessToken"]["id"]})
        await socket.send(
            json.dumps({"id": "late", "type": "subscribe", "payload": {"query": NEW_MESSAGE}})
        )
        await asyncio.sleep(0.3)
        await receive(world, "c_all", "must not reach a revoked token")
        try:
            message = json.loads(await asyncio.wait_for(socket.recv(), 3))
        except (TimeoutError, websockets.ConnectionClosed):
            return
        payload = message.get("payload")
        has_data = message["type"] == "next" and (payload or {}).get("data")
        assert not has_data, f"revoked token received a live event: {message}"
    finally:
        await owner.aclose()


@pytest.mark.parametrize(
    "frame",
    [
        "null",
        "42",
        "[]",
        '"text"',
        '{"type": "subscribe", "id": "x", "payload": null}',
        '{"type": "subscribe", "id": "x", "payload": "query"}',
    ],
)
async def test_malformed_frames_close_with_4400_not_a_crash(world, frame):
    """graphql-transport-ws: an invalid message closes the socket with 4400. Today these
    frames raise inside the handler (TypeError in the ASGI app, logged traceback) and the
    socket is dropped without a close code (1006)."""
    socket = await open_socket(world.served, world.tokens["owner"])
    await socket.send(frame)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, (
        frame,
        closed.value.rcvd,
    )


async def test_a_socket_that_never_sends_connection_init_is_closed_with_4408(world):
    """graphql-transport-ws: without connection_init in time (10 s here) the server closes the
    socket with 4408 instead of holding it open for ever."""
    socket = await websockets.connect(
        world.served.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10
    )
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408

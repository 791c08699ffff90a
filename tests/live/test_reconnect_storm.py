"""A reconnect storm (issue 23): many dashboards resume with the same ``afterSequence`` at once
while messages keep arriving. Each gets every message it missed and every live one, in order,
exactly once, in frames any WebSocket client decodes (the pre-framed writes of
``graph.ws_compression.FrameWriter`` and the shared outbox reads of
``graph.live.read_outbox_shared_batch``)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support import connect_ws, receive, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""

DASHBOARDS = 40


async def _resume(served, token: str, after: int, wanted: int) -> list[tuple[int, str]]:
    """One dashboard: connect, resume after ``after``, and collect ``wanted`` messages."""
    socket = await connect_ws(served, token)
    try:
        ack = json.loads(await asyncio.wait_for(socket.recv(), 30))
        assert ack["type"] == "connection_ack", ack
        operation_id = uuid.uuid4().hex
        await socket.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {"query": NEW_MESSAGE, "variables": {"after": after}},
                }
            )
        )
        got: list[tuple[int, str]] = []
        while len(got) < wanted:
            message = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
                continue
            assert message.get("id") == operation_id and message["type"] == "next", message
            assert not message["payload"].get("errors"), message
            event = message["payload"]["data"]["newMessage"]
            got.append((event["sequence"], event["message"]["text"]))
        return got
    finally:
        await socket.close()


async def test_dashboards_resuming_at_once_get_every_message_once_in_order(world):
    token = world.tokens["owner"]
    probe = await subscribe(world.served, token, NEW_MESSAGE)
    try:
        await receive(world, "c_all", "before the deploy")
        after = (await probe.next())["data"]["newMessage"]["sequence"]
    finally:
        await probe.close()
    missed = [f"missed {i}" for i in range(3)]
    for text in missed:
        await receive(world, "c_all", text)
    live = [f"live {i}" for i in range(2)]

    async def keep_writing() -> None:
        for text in live:
            await asyncio.sleep(0.05)
            await receive(world, "c_all", text)

    results = await asyncio.gather(
        *(_resume(world.served, token, after, len(missed) + len(live)) for _ in range(DASHBOARDS)),
        keep_writing(),
    )
    for got in results[:DASHBOARDS]:
        assert [text for _, text in got] == missed + live
        sequences = [sequence for sequence, _ in got]
        assert sequences == sorted(set(sequences)) and sequences[0] > after

"""Back-pressure: a subscriber that stops reading is cut off with close code 4413 instead of
growing the server's memory, and resumes with ``afterSequence`` without loss."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import PASSWORD, login
from tests.live.helpers import NEW_MESSAGE, flood, heavy_subscription
from tests.support import Client, RawWebSocket, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEAVY = heavy_subscription()


@pytest.fixture(scope="module")
def served(server_env):
    server = serve({**server_env, "INBOX_GRAPH_SUBSCRIBER_QUEUE": "8"})
    yield server
    server.stop()


async def test_a_slow_subscriber_is_closed_and_resumes_without_loss(world, served):
    client = await asyncio.to_thread(RawWebSocket, served)
    client.send(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {world.tokens['owner']}"}}
    )
    assert json.loads((await asyncio.to_thread(client.frame))[1])["type"] == "connection_ack"
    client.send({"id": "slow", "type": "subscribe", "payload": {"query": HEAVY}})
    await asyncio.sleep(0.5)
    # from here on the client reads nothing: the server's socket buffers fill, its sends
    # wait, then its bounded queue of 8 events overflows
    integration = world.client("integration")
    texts = await flood(world, "c_all", 150, integration)  # about 30 MB of frames
    received: list[tuple[int, str]] = []
    while True:
        opcode, payload = await asyncio.to_thread(client.frame)
        if opcode == 8:
            close_code = int.from_bytes(payload[:2], "big")
            break
        message = json.loads(payload)
        if message["type"] == "next":
            event = message["payload"]["data"]["newMessage"]
            received.append((event["sequence"], event["message"]["text"]))
    client.close()
    assert close_code == 4413
    assert 0 < len(received) < len(texts)
    resumed = await subscribe(
        served, world.tokens["owner"], NEW_MESSAGE, {"after": received[-1][0]}
    )
    while len(received) < len(texts):
        event = (await resumed.next(timeout=10))["data"]["newMessage"]
        received.append((event["sequence"], event["message"]["text"]))
    await resumed.close()
    await integration.aclose()
    assert sorted(t for _, t in received) == sorted(texts)
    sequences = [s for s, _ in received]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


async def test_a_replay_under_way_stops_when_its_token_is_revoked(world, served):
    """A session's socket replaying events its client reads slowly is closed with 4403 once
    the session ends, before the rest of the replay (a helper's review: 1,055 frames went on
    arriving for 24 s after ``logout``, read after the revocation; README: a socket with a
    subscription open is closed as soon as its token is revoked)."""
    integration = world.client("integration")
    marker = await subscribe(served, world.tokens["owner"], NEW_MESSAGE)
    await receive(world, "c_all", "before the flood", client=integration)
    after = (await marker.next(timeout=10))["data"]["newMessage"]["sequence"]
    await marker.close()
    texts = await flood(world, "c_all", 60, integration)  # about 12 MB of frames below
    token = await login(served, f"manager@{world.domain}", PASSWORD)
    client = await asyncio.to_thread(RawWebSocket, served)
    client.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert json.loads((await asyncio.to_thread(client.frame))[1])["type"] == "connection_ack"
    query = heavy_subscription(f"afterSequence: {after}")
    client.send({"id": "replay", "type": "subscribe", "payload": {"query": query}})
    opcode, payload = await asyncio.to_thread(client.frame)  # the replay is under way
    assert json.loads(payload)["type"] == "next", payload[:300]
    await asyncio.sleep(0.5)  # the server's socket buffers fill: its sends wait
    session = Client(served, token)
    assert (await session("mutation { logout }"))["logout"] is True
    await session.aclose()
    received = 1
    while True:
        opcode, payload = await asyncio.to_thread(client.frame)
        if opcode == 8:
            close_code = int.from_bytes(payload[:2], "big")
            break
        received += json.loads(payload)["type"] == "next"
    client.close()
    await integration.aclose()
    assert close_code == 4403
    assert received < len(texts), received  # the last ones were never sent

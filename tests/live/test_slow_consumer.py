"""Back-pressure: a subscriber that stops reading is cut off with close code 4413 instead of
growing the server's memory, and resumes with ``afterSequence`` without loss."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.live.helpers import NEW_MESSAGE, flood, heavy_subscription
from tests.support import RawWebSocket, serve, subscribe

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

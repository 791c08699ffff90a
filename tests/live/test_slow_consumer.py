"""Back-pressure: a subscriber that stops reading is cut off with close code 4413 instead of
growing the server's memory, and resumes with ``afterSequence`` without loss."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.live.helpers import NEW_MESSAGE
from tests.support import RawWebSocket, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

COPIES = 20
# a dashboard selecting each message's text 20 times (aliases): about 200 KB a frame, so that
# the server's socket buffers (a few MB) fill after a few dozen events
HEAVY = (
    "subscription { newMessage { sequence message { text "
    + " ".join(f"t{i}: text" for i in range(1, COPIES))
    + " } } }"
)


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
    texts = [f"{i:04d} " + "x" * 9995 for i in range(150)]  # about 30 MB of frames
    integration = world.client("integration")
    semaphore = asyncio.Semaphore(6)

    async def send(text: str) -> None:
        async with semaphore:
            await receive(world, "c_all", text, client=integration)

    await asyncio.gather(*(send(t) for t in texts))
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

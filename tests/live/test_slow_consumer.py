"""Back-pressure: a subscriber that stops reading is cut off with close code 4413 instead of
growing the server's memory, and resumes with ``afterSequence`` without loss."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.live.helpers import NEW_MESSAGE, receive
from tests.support import connect_ws, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def served(server_env):
    server = serve({**server_env, "INBOX_GRAPH_SUBSCRIBER_QUEUE": "8"})
    yield server
    server.stop()


async def test_a_slow_subscriber_is_closed_and_resumes_without_loss(world, served):
    socket = await connect_ws(served, world.tokens["owner"])
    # from here on the client reads nothing: its socket buffers fill, then the server's queue
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "slow", "type": "subscribe", "payload": {"query": NEW_MESSAGE}}))
    await asyncio.sleep(0.5)
    texts = [f"{i:04d} " + "x" * 9000 for i in range(400)]
    integration = world.client("integration")
    semaphore = asyncio.Semaphore(6)

    async def send(text: str) -> None:
        async with semaphore:
            await receive(world, "c_all", text, client=integration)

    await asyncio.gather(*(send(t) for t in texts))
    received: list[tuple[int, str]] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "next":
                event = message["payload"]["data"]["newMessage"]
                received.append((event["sequence"], event["message"]["text"]))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4413
    assert len(received) < len(texts)
    last = received[-1][0] if received else None
    if last is None:
        pytest.skip("the socket closed before delivering anything; nothing to resume from")
    resumed = await subscribe(served, world.tokens["owner"], NEW_MESSAGE, {"after": last})
    while len(received) < len(texts):
        event = (await resumed.next(timeout=10))["data"]["newMessage"]
        received.append((event["sequence"], event["message"]["text"]))
    await resumed.close()
    await integration.aclose()
    assert sorted(t for _, t in received) == sorted(texts)
    sequences = [s for s, _ in received]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)

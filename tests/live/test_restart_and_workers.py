"""Shutdown closes sockets with 1012 and clients resume after a restart; with Redis, servers
sharing the database deliver each other's events, in order."""

from __future__ import annotations

import os

import pytest
import websockets

from tests.live.helpers import NEW_MESSAGE
from tests.support import Client, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_shutdown_closes_with_1012_and_the_client_resumes_after_restart(world, server_env):
    first = serve(server_env)
    try:
        subscription = await subscribe(first, world.tokens["owner"], NEW_MESSAGE)
        ingest = Client(first, world.integration_token)  # memory:// events stay in one process
        await receive(world, "c_all", "before restart", client=ingest)
        await ingest.aclose()
        seen = (await subscription.next())["data"]["newMessage"]["sequence"]
        first.process.terminate()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscription.next(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
        first.process.wait(15)
    finally:
        first.stop()
    await receive(world, "c_all", "while that server was down")  # through another server
    second = serve(server_env)
    try:
        resumed = await subscribe(second, world.tokens["owner"], NEW_MESSAGE, {"after": seen})
        event = (await resumed.next())["data"]["newMessage"]
        assert event["message"]["text"] == "while that server was down"
        await resumed.close()
    finally:
        second.stop()


@pytest.mark.skipif(
    not os.environ.get("BROADCAST_URL", "").startswith("redis"),
    reason="events cross processes through Redis only",
)
async def test_two_servers_deliver_each_others_events_in_order(world, served, server_env):
    other = serve(server_env)
    try:
        subscriptions = [
            await subscribe(served, world.tokens["owner"], NEW_MESSAGE),
            await subscribe(other, world.tokens["owner"], NEW_MESSAGE),
            await subscribe(other, world.tokens["agent_self"], NEW_MESSAGE),
        ]
        clients = [Client(served, world.integration_token), Client(other, world.integration_token)]
        texts = []
        for i in range(20):
            contact = "c_self" if i % 3 == 0 else "c_all"
            text = f"{contact} {i}"
            await receive(world, contact, text, client=clients[i % 2])
            texts.append(text)
        for subscription, expected in (
            (subscriptions[0], texts),
            (subscriptions[1], texts),
            (subscriptions[2], [t for t in texts if t.startswith("c_self")]),
        ):
            got = [(await subscription.next())["data"]["newMessage"] for _ in expected]
            assert [e["message"]["text"] for e in got] == expected
            assert [e["sequence"] for e in got] == sorted(e["sequence"] for e in got)
            await subscription.nothing(within=0.3)
        for subscription in subscriptions:
            await subscription.close()
        for client in clients:
            await client.aclose()
    finally:
        other.stop()

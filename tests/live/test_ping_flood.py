"""WebSocket ping frames (RFC 6455 5.5.2): each is answered with a pong, written at once
whether the peer reads or not, so a peer may send at most ``MAX_PINGS_PER_SECOND`` within a
second; one more drops its connection (``graph.ws_compression``). A socket flooding pings
without reading grew the worker by its pongs and took the event loop from everyone else,
before it even sent ``connection_init``."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from graph.ws_compression import MAX_PINGS_PER_SECOND
from tests.support import RawWebSocket

pytestmark = pytest.mark.asyncio(loop_scope="session")


def pongs_until_dropped(client: RawWebSocket, seconds: float) -> tuple[list[bytes], bool]:
    """The pongs' payloads the socket delivers within ``seconds``, and whether the server
    dropped the connection (no close frame) meanwhile."""
    client.sock.settimeout(seconds)
    pongs = []
    try:
        while True:
            opcode, payload = client.frame()
            assert opcode == 10, (opcode, payload)
            pongs.append(payload)
    except TimeoutError:
        return pongs, False
    except OSError:  # closed (ConnectionError) or reset
        return pongs, True


async def test_pings_at_a_keep_alive_rate_are_each_answered_with_their_pong(world):
    client = await asyncio.to_thread(RawWebSocket, world.served)
    try:
        for index in range(MAX_PINGS_PER_SECOND):
            client.send_frame(b"ping %d" % index, opcode=9)
        pongs, dropped = await asyncio.to_thread(pongs_until_dropped, client, 2)
        assert not dropped
        assert pongs == [b"ping %d" % index for index in range(MAX_PINGS_PER_SECOND)]
    finally:
        client.close()


async def test_a_ping_flood_drops_the_connection_and_others_are_served(world):
    client = await asyncio.to_thread(RawWebSocket, world.served)
    try:
        started = time.monotonic()
        # what a flooding peer sends before it reads anything: 2,000 pings of 125 bytes
        with contextlib.suppress(OSError):  # dropped while it still sends
            for _ in range(2000):
                client.send_frame(b"x" * 125, opcode=9)
        pongs, dropped = await asyncio.to_thread(pongs_until_dropped, client, 10)
        assert dropped and time.monotonic() - started < 10
        assert len(pongs) <= MAX_PINGS_PER_SECOND, len(pongs)
    finally:
        client.close()
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(world.served.http_url, json={"query": "{ __typename }"})
    assert answer.json()["data"] == {"__typename": "Query"}

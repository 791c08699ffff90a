"""WebSocket compression (``INBOX_GRAPH_WS_COMPRESSION``, ``graph.ws_compression``): what a
browser's permessage-deflate offer gets, by default and with ``bounded``, and that events still
arrive. (Its memory per idle subscription is a benchmark figure: bench/fanout --clients browser.)"""

from __future__ import annotations

import json
import zlib

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.live.helpers import NEW_MESSAGE
from tests.support import Client, RawWebSocket, cli, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHROMIUM_OFFER = "permessage-deflate; client_max_window_bits"
BOUNDED = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"


@pytest.fixture(scope="module")
def bounded_server(server_env):
    server = serve({**server_env, "INBOX_GRAPH_WS_COMPRESSION": "bounded"})
    yield server
    server.stop()


async def test_by_default_a_browser_offer_gets_no_compression_and_events_arrive(world):
    subscription = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    try:
        # websockets offers permessage-deflate as Chromium does
        assert subscription.socket.request.headers["Sec-WebSocket-Extensions"] == CHROMIUM_OFFER
        assert "Sec-WebSocket-Extensions" not in subscription.socket.response.headers
        await receive(world, "c_all", "uncompressed")
        event = (await subscription.next())["data"]["newMessage"]
        assert event["message"]["text"] == "uncompressed"
    finally:
        await subscription.close()


async def test_bounded_negotiates_no_context_takeover_and_events_arrive(world, bounded_server):
    chromium = await subscribe(bounded_server, world.tokens["owner"], NEW_MESSAGE)
    # a client may cap the server's window: it gets at most the server's own 12 bits
    capped = await subscribe(
        bounded_server,
        world.tokens["owner"],
        NEW_MESSAGE,
        extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=15)],
        compression=None,
    )
    smaller = await subscribe(
        bounded_server,
        world.tokens["owner"],
        NEW_MESSAGE,
        extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=10)],
        compression=None,
    )
    ingest = Client(bounded_server, world.integration_token)  # memory:// events stay in one process
    try:
        assert chromium.socket.request.headers["Sec-WebSocket-Extensions"] == CHROMIUM_OFFER
        assert chromium.socket.response.headers["Sec-WebSocket-Extensions"] == BOUNDED
        assert (
            capped.socket.response.headers["Sec-WebSocket-Extensions"]
            == BOUNDED + "; server_max_window_bits=12"
        )
        assert (
            smaller.socket.response.headers["Sec-WebSocket-Extensions"]
            == BOUNDED + "; server_max_window_bits=10"
        )
        text = "compressed " + "and repeated " * 400  # longer than the 4 KB window
        await receive(world, "c_all", text, client=ingest)
        await receive(world, "c_all", "short", client=ingest)
        for subscription in (chromium, capped, smaller):
            assert (await subscription.next())["data"]["newMessage"]["message"]["text"] == text
            assert (await subscription.next())["data"]["newMessage"]["message"]["text"] == "short"
    finally:
        await ingest.aclose()
        for subscription in (chromium, capped, smaller):
            await subscription.close()


async def test_bounded_compresses_each_frame_on_its_own(world, bounded_server):
    """Every frame is compressed (RSV1) and decodes without the previous frames' context."""
    raw = RawWebSocket(bounded_server, headers=f"Sec-WebSocket-Extensions: {CHROMIUM_OFFER}\r\n")
    try:
        assert f"sec-websocket-extensions: {BOUNDED.lower()}" in raw.response.lower()
        raw.send(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {world.tokens['owner']}"},
            }
        )
        for expected in ("connection_ack", "pong", "pong"):
            opcode, payload = raw.frame()
            assert (opcode, raw.compressed) == (1, True)
            fresh = zlib.decompressobj(wbits=-12)  # no context from earlier frames
            assert json.loads(fresh.decompress(payload + b"\x00\x00\xff\xff"))["type"] == expected
            raw.send({"type": "ping"})
    finally:
        raw.close()


async def test_an_unknown_compression_setting_stops_the_server_at_start(server_env):
    done = cli(
        {**server_env, "INBOX_GRAPH_WS_COMPRESSION": "gzip"}, "serve", "--port", "0", check=False
    )
    assert done.returncode != 0
    assert "INBOX_GRAPH_WS_COMPRESSION must be one of off, bounded" in done.stderr


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (``VmHWM``), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def zeros_deflated(megabytes: int) -> bytes:
    """A permessage-deflate body (no ``00 00 ff ff`` tail) that inflates to that many MB of
    zeros: about a thousandth of it."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = b"".join(deflater.compress(bytes(1 << 20)) for _ in range(megabytes))
    return body + deflater.flush(zlib.Z_SYNC_FLUSH)[: -len(b"\x00\x00\xff\xff")]


def authenticated_compressed_socket(served, token: str) -> RawWebSocket:
    raw = RawWebSocket(served, headers=f"Sec-WebSocket-Extensions: {CHROMIUM_OFFER}\r\n")
    raw.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert raw.frame()[0] == 1  # connection_ack
    return raw


async def test_bounded_closes_a_message_that_inflates_past_the_limit(world, bounded_server):
    """A compressed message that inflates past the 1 MB message limit is closed with 1009 (a
    5 KB frame that inflates to 5 MB)."""
    raw = authenticated_compressed_socket(bounded_server, world.tokens["owner"])
    try:
        raw.send_frame(zeros_deflated(5), deflated=True)
        opcode, payload = raw.frame()
        assert (opcode, int.from_bytes(payload[:2], "big")) == (8, 1009)
    finally:
        raw.close()


async def test_bounded_never_inflates_a_bomb_in_memory(world, bounded_server):
    """A 100 KB frame (under the 1 MB frame limit) of deflated zeros would inflate to 100 MB:
    inflating stops once the limit is passed, the server's peak memory does not grow by the
    bomb's size, the socket is closed (with 1009, or reset: the server closes without reading
    the rest of the frame), and the server goes on serving others."""
    raw = authenticated_compressed_socket(bounded_server, world.tokens["owner"])
    bomb = zeros_deflated(100)
    assert len(bomb) < 128 * 1024
    before = peak_rss_bytes(bounded_server.process.pid)
    try:
        raw.send_frame(bomb, deflated=True)
        opcode, payload = raw.frame()
        assert (opcode, int.from_bytes(payload[:2], "big")) == (8, 1009)
    except ConnectionResetError:
        pass
    finally:
        raw.close()
    assert peak_rss_bytes(bounded_server.process.pid) - before < 32 * 1024 * 1024
    other = await subscribe(bounded_server, world.tokens["owner"], NEW_MESSAGE)
    ingest = Client(bounded_server, world.integration_token)
    try:
        await receive(world, "c_all", "still serving", client=ingest)
        assert (await other.next())["data"]["newMessage"]["message"]["text"] == "still serving"
    finally:
        await ingest.aclose()
        await other.close()

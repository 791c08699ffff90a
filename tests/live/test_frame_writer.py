"""``graph.ws_compression.FrameWriter`` against uvicorn's own ``wsproto`` protocol, as the
served app runs it (a real handshake; the bytes on the wire read back by a wsproto client).

Not through a served app: what is checked is the boundary with the uvicorn release installed
(``pyproject.toml`` allows 0.46 on), including the protocol state an older release lacks."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import wsproto
from starlette.websockets import WebSocket, WebSocketState
from uvicorn.config import Config
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from uvicorn.server import ServerState
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from graph.ws_compression import BoundedDeflateWSProtocol, InboxWSProtocol, frame_writer

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _Transport(asyncio.Transport):
    """Records what the server writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.written += data
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:  # what the app's protocols do to a peer that stopped answering
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def take(self) -> bytes:
        data, self.written = bytes(self.written), bytearray()
        return data


@contextlib.asynccontextmanager
async def _accepted(protocol_class=WSProtocol, offer=None, **options):
    """A uvicorn ``WSProtocol`` (or ``protocol_class``, e.g. the app's own) past the
    handshake, the app's starlette ``WebSocket``, the transport and the client's end; the app
    returns on the way out. ``offer``: the client's extensions (a ``PerMessageDeflate``: the
    server's compression is on). ``options``: uvicorn's ``Config``."""
    accepted: asyncio.Future[WebSocket] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def app(scope, receive, send):
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        accepted.set_result(websocket)
        await done.wait()

    deflate = offer is not None
    config = Config(
        app, ws="wsproto", ws_per_message_deflate=deflate, log_level="warning", **options
    )
    config.load()
    protocol = protocol_class(config, ServerState(), {})
    transport = _Transport()
    protocol.connection_made(transport)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    request = Request(host="127.0.0.1", target="/graphql", extensions=offer or [])
    protocol.data_received(client.send(request))
    websocket = await asyncio.wait_for(accepted, 5)
    client.receive_data(transport.take())
    assert isinstance(next(client.events()), AcceptConnection)
    try:
        yield protocol, websocket, transport, client
    finally:
        done.set()
        await asyncio.gather(*protocol.tasks)


def _messages(client: wsproto.WSConnection, data: bytes) -> list[str]:
    client.receive_data(data)
    return [event.data for event in client.events() if isinstance(event, TextMessage)]


@pytest.mark.parametrize("size", [10, 200, 70_000])
async def test_a_pre_framed_message_reads_back_as_sent(size):
    async with _accepted() as (protocol, websocket, transport, client):
        writer = frame_writer(websocket)
        assert writer is not None
        text = json.dumps({"t": "é€😀" * size}, ensure_ascii=False)
        written = writer.write_text(b'{"a":', text.encode(), b"}")
        assert written and _messages(client, transport.take()) == ['{"a":' + text + "}"]
        protocol.connection_lost(None)
        written = writer.write_text(b"{}")
        assert not written and transport.take() == b""


@pytest.mark.parametrize("window_bits", [None, 9, 12])
async def test_a_bounded_compressed_socket_gets_an_event_compressed_once_for_all(window_bits):
    """A ``bounded`` socket (permessage-deflate, no context takeover) gets each event written
    by the writer, compressed (RSV1): the operation's prefix, then the payload's blocks, the
    same for every socket of that window; a client inflates each frame to the text uvicorn
    would have sent, whatever came before it."""
    options = {"server_max_window_bits": window_bits} if window_bits else {}
    sockets = [
        _accepted(BoundedDeflateWSProtocol, [PerMessageDeflate(**options)]) for _ in range(2)
    ]
    async with sockets[0] as first, sockets[1] as second:
        repeated = json.dumps({"t": "é€😀 and repeated " * 2_000}, ensure_ascii=False)
        for body in (b'{"n":1}}', (repeated + "}").encode(), b'{"n":2}}'):
            frames = []
            for index, (_, websocket, transport, client) in enumerate((first, second)):
                writer = frame_writer(websocket)
                head = f'{{"id":"{index}","payload":'
                assert writer is not None and writer.write(head.encode(), body)
                frames.append(transport.take())
                assert frames[-1][0] == 0xC1  # FIN, RSV1 (compressed), text
                assert _messages(client, frames[-1]) == [head + body.decode()]
            # the payload's compressed bytes are the same on both sockets
            assert frames[0][-20:] == frames[1][-20:]
        # a protocol message written whole (the writer's one part) reads back too
        _, websocket, transport, client = first
        assert frame_writer(websocket).write_text(b'{"type":"pong"}')
        assert _messages(client, transport.take()) == ['{"type":"pong"}']


async def test_a_uvicorn_without_disconnected_state_gets_frames_and_none_once_lost():
    # uvicorn before 0.52 (pyproject.toml allows 0.46 on) has no ``disconnected`` attribute
    async with _accepted() as (protocol, websocket, transport, client):
        del protocol.disconnected
        writer = frame_writer(websocket)
        assert writer is not None
        written = writer.write_text(b'{"n":1}')
        assert written and _messages(client, transport.take()) == ['{"n":1}']
        transport.close()  # asyncio closes a lost transport before telling its protocol
        protocol.connection_lost(ConnectionResetError())
        written = writer.write_text(b'{"n":2}')
        assert not written and transport.take() == b""


async def test_a_protocol_keeping_its_state_otherwise_gets_no_writer():
    async with _accepted() as (protocol, websocket, _, _):
        del protocol.close_sent
        assert frame_writer(websocket) is None


async def test_corked_frames_leave_in_one_write_in_order():
    async with _accepted() as (_, websocket, transport, client):
        writer = frame_writer(websocket)
        writer.cork()
        writer.cork()  # nested: a second operation of the socket catching up too
        before = transport.writes
        assert all(writer.write_text(b'{"n":%d}' % n) for n in range(3))
        writer.uncork()
        assert transport.writes == before and transport.take() == b""
        writer.uncork()
        assert transport.writes == before + 1
        assert _messages(client, transport.take()) == ['{"n":0}', '{"n":1}', '{"n":2}']
        assert writer.write_text(b'{"n":3}')  # uncorked: written at once
        assert _messages(client, transport.take()) == ['{"n":3}']


async def test_corked_frames_precede_a_send_through_uvicorn():
    async with _accepted() as (protocol, websocket, transport, client):
        writer = frame_writer(websocket)
        writer.cork()
        assert writer.write_text(b'{"n":1}')
        protocol.pause_writing()  # the socket backs up: the next frame goes through uvicorn
        assert not writer.write_text(b'{"n":2}')
        assert _messages(client, transport.take()) == ['{"n":1}']
        protocol.resume_writing()
        await websocket.send_text('{"n":2}')
        writer.uncork()
        assert _messages(client, transport.take()) == ['{"n":2}']


async def test_corked_frames_never_follow_a_close_frame():
    async with _accepted() as (_, websocket, transport, client):
        writer = frame_writer(websocket)
        writer.cork()
        assert writer.write_text(b'{"n":1}')
        await websocket.close(code=4403)
        writer.uncork()
        client.receive_data(transport.take())
        events = list(client.events())
        assert [type(e).__name__ for e in events] == ["CloseConnection"], events


def _client_close(protocol, websocket, transport, client):
    protocol.data_received(client.send(CloseConnection(code=1000)))


def _protocol_error(protocol, websocket, transport, client):
    protocol.data_received(b"\x81\x02{}")  # unmasked: a client must mask its frames


def _too_big(protocol, websocket, transport, client):
    protocol.data_received(client.send(Message(data="x" * 100)))  # over ws_max_size=64


def _keepalive_timeout(protocol, websocket, transport, client):
    protocol.keepalive_timeout()  # uvicorn 0.46 on (pyproject.toml)


def _connection_lost(protocol, websocket, transport, client):
    transport.close()  # asyncio closes a lost transport before telling its protocol
    protocol.connection_lost(ConnectionResetError())


async def _application_close(protocol, websocket, transport, client):
    await websocket.close(code=4403)


async def _application_close_while_backed_up(protocol, websocket, transport, client):
    protocol.pause_writing()
    closing = asyncio.create_task(websocket.close(code=4403))
    await asyncio.sleep(0)  # starlette no longer sees it connected; uvicorn's send waits
    assert websocket.application_state is WebSocketState.DISCONNECTED
    assert not protocol.close_sent
    protocol.resume_writing()  # the close is about to resume: it goes first
    return closing


PROTOCOLS = pytest.mark.parametrize(
    "protocol_class",
    # uvicorn's own: its state is read before every write; the app's: when it says it changed
    [WSProtocol, InboxWSProtocol],
    ids=["uvicorn", "app"],
)


@PROTOCOLS
@pytest.mark.parametrize(
    "closing",
    [
        _client_close,
        _protocol_error,
        _too_big,
        _keepalive_timeout,
        _connection_lost,
        _application_close,
        _application_close_while_backed_up,
    ],
)
async def test_no_frame_follows_the_socket_closing_whichever_way(protocol_class, closing):
    # once starlette or wsproto no longer see the socket open, the writer refuses, though after
    # its first write it reads neither (FrameWriter: uvicorn sets ``close_sent`` or closes the
    # transport in the same step)
    async with _accepted(protocol_class, ws_max_size=64) as (
        protocol,
        websocket,
        transport,
        client,
    ):
        writer = frame_writer(websocket)
        assert writer.write(b'{"n":', b"1}")
        assert _messages(client, transport.take()) == ['{"n":1}']
        outcome = closing(protocol, websocket, transport, client)
        pending = await outcome if asyncio.iscoroutine(outcome) else None

        assert (
            websocket.application_state is not WebSocketState.CONNECTED
            or protocol.conn.state is not ConnectionState.OPEN
            or transport.is_closing()
        )
        assert not writer.write(b'{"n":', b"2}")
        if pending is not None:
            await pending
            assert not writer.write(b'{"n":', b"3}")
        client.receive_data(transport.take())
        assert not [e for e in client.events() if isinstance(e, TextMessage)]


@PROTOCOLS
async def test_a_backed_up_socket_gets_no_frame_before_the_sends_waiting_on_it(protocol_class):
    async with _accepted(protocol_class) as (protocol, websocket, transport, client):
        writer = frame_writer(websocket)
        assert frame_writer(websocket) is writer or protocol_class is WSProtocol
        assert writer.write(b'{"n":', b"1}")
        protocol.pause_writing()
        assert not writer.write(b'{"n":', b"2}")
        waiting = asyncio.create_task(websocket.send_text('{"n":3}'))  # uvicorn's send waits
        await asyncio.sleep(0)
        protocol.resume_writing()
        assert not writer.write(b'{"n":', b"4}")  # the waiting send resumes first
        await waiting
        assert writer.write(b'{"n":', b"5}")
        assert _messages(client, transport.take()) == ['{"n":1}', '{"n":3}', '{"n":5}']

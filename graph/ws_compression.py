"""WebSocket compression (``permessage-deflate``, RFC 7692) with bounded memory.

Every browser offers ``permessage-deflate`` when it opens a WebSocket. uvicorn's ``wsproto``
protocol accepts it with wsproto's defaults: both sides keep their LZ77 context from message
to message with 15-bit windows, so every open socket holds a zlib compressor (2^(15+2) +
2^(8+9) bytes, 256 KB, allocated; about 100 KB of it touched by the first frame) and a
decompressor for as long as it is open. Measured with a browser's handshake, that made an idle
subscription cost 134 KB instead of 26 KB (`bench/README.md`, "bench/fanout").

It also ratcheted the server's memory over rounds of opening and closing sockets (5,000:
714 MiB open, 734 closed, 1,071 and 1,305 after two more rounds). A closed socket is a set of
reference cycles (uvicorn's protocol and transport, graphql-core's execution context, the
subscription's operation and stream), freed by the cyclic garbage collector only at a full
collection, which Python runs when the objects promoted since the last one reach a quarter of
all long-lived ones: in practice while the next round's sockets open. Until then every dead
socket kept its zlib buffers, which the collector does not see (a few hundred bytes of Python
objects holding 130 KB of C memory), and the next round allocated its own beside them. Without
context takeover (or compression) an idle or dead socket holds no zlib state, and open/close
rounds no longer ratchet (README). ``malloc_trim`` or a lower mmap threshold would not have
helped: the memory was not free, only unreachable.

``INBOX_GRAPH_WS_COMPRESSION`` (:class:`graph.settings.Settings`) chooses, in
:func:`graph.cli.cmd_serve`:

- ``off`` (the default): the extension is declined (uvicorn's ``ws_per_message_deflate``
  off); browsers send and receive uncompressed frames. Subscription frames are small (a few
  hundred bytes), so this costs little bandwidth and saves compressing every event once per
  socket.
- ``bounded``: :class:`BoundedDeflateWSProtocol` accepts the extension with
  :class:`BoundedPerMessageDeflate`: no context takeover either way, so an idle socket holds
  no zlib state at all, and each frame sent is compressed with a fresh compressor of
  ``SERVER_MAX_WINDOW_BITS`` / ``MEMORY_LEVEL`` (2^(12+2) + 2^(5+9) = 32 KB, freed right
  after the frame).

Subscription events skip uvicorn's per-message path where it would only re-frame the same
bytes: :class:`FrameWriter` writes a payload encoded once per event, pre-framed, to every
socket. On a ``bounded`` socket the payload is also compressed once per event, not once per
socket (:func:`deflated`): a message is the operation's prefix in a stored (uncompressed)
DEFLATE block, then the payload's shared blocks, which refer to nothing before them, as no
context takeover allows. A browser's events then cost what they cost without compression
(``bench/README.md``, "Compressed once per event").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import math
import re
import struct
import zlib
from typing import Any, NamedTuple

import h11
import wsproto
from starlette.websockets import WebSocketState
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode
from wsproto.handshake import H11Handshake
from wsproto.utilities import (
    LocalProtocolError,
    RemoteProtocolError,
    generate_accept_token,
    normed_header_dict,
)

from graph.settings import WS_COMPRESSION_MODES

log = logging.getLogger(__name__)

SERVER_MAX_WINDOW_BITS = 12
"""The server's LZ77 window (4 KB): larger than a typical frame, since with no context
takeover a frame can only refer back within itself."""

MEMORY_LEVEL = 5
"""zlib's ``memLevel`` for the server's compressor (8 is zlib's default): a 4,096-entry hash
table instead of 32,768 (which zlib clears for every new compressor)."""

COMPRESSION_LEVEL = 1
"""zlib's fastest level: on this API's frames (JSON of 0.2 to 3 KB) it compresses within 3% of
level 6 at a third of the CPU, and every socket compresses each event on its own."""


def server_compressor(window_bits: int) -> Any:
    """A raw DEFLATE compressor for one message the server sends: zlib's
    :data:`COMPRESSION_LEVEL` and :data:`MEMORY_LEVEL`, a window of ``window_bits``. Both of
    the server's ways of compressing a message use it (wsproto's, through
    :class:`BoundedPerMessageDeflate`, and :func:`deflated`)."""
    return zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -window_bits, MEMORY_LEVEL)


class BoundedPerMessageDeflate(PerMessageDeflate):
    """``permessage-deflate`` that holds no state between messages.

    The response always carries ``client_no_context_takeover`` and
    ``server_no_context_takeover`` (RFC 7692 7.1.1: a server may include both whatever the
    offer says), so wsproto drops its compressor and decompressor after every message. The
    server compresses with a window of ``SERVER_MAX_WINDOW_BITS`` or the smaller one the client
    asks for with ``server_max_window_bits`` (7.1.2.1; an offer of 8 bits, which zlib cannot
    produce, is declined). The client's window is not limited (``client_max_window_bits`` is
    left out of the response, as 7.1.2.2 allows): the decompressor takes any window, and lives
    for one message only.

    A compressed message from a client is inflated at most to ``max_message_bytes`` (the
    server's ``ws_max_size``, ``INBOX_GRAPH_MAX_FRAME_BYTES``): one byte more closes the socket
    with 1009 (message too big) before anything else is inflated. wsproto inflates a frame
    whole, so a 1 MB frame of deflated zeros (about 1 GB inflated) used to be held in memory
    before uvicorn's size check saw it.
    """

    def __init__(self, max_message_bytes: int | None = None) -> None:
        super().__init__(
            client_no_context_takeover=True,
            server_no_context_takeover=True,
            server_max_window_bits=SERVER_MAX_WINDOW_BITS,
        )
        self.max_message_bytes = max_message_bytes
        self._inflated = 0  # bytes inflated so far in the message being received

    def accept(self, offer: str) -> bool | str | None:
        offered = {part.split("=", 1)[0].strip() for part in offer.split(";")[1:]}
        try:
            if super().accept(offer) is None:  # wsproto declines windows outside 9..15 bits
                return None
        except ValueError:  # a window that is not a number: declined (RFC 7692 5)
            return None
        # the decompressor is made with client_max_window_bits: 15 decodes any client window
        self.client_max_window_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        parameters = ["client_no_context_takeover", "server_no_context_takeover"]
        self.server_max_window_bits = min(self.server_max_window_bits, SERVER_MAX_WINDOW_BITS)
        if "server_max_window_bits" in offered:
            parameters.append(f"server_max_window_bits={self.server_max_window_bits}")
        return "; ".join(parameters)

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if (
            self.max_message_bytes is None
            or not self._inbound_compressed
            or not self._inbound_is_compressible
        ):
            return super().frame_inbound_payload_data(proto, data)
        assert self._decompressor is not None
        allowed = self.max_message_bytes - self._inflated
        try:  # at most one byte past the limit: enough to know it is passed
            inflated = self._decompressor.decompress(bytes(data), allowed + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        if self._inflated > self.max_message_bytes:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        counting = fin and bool(self._inbound_compressed) and self._inbound_is_compressible
        result = super().frame_inbound_complete(proto, fin)
        if counting:
            inflated = self._inflated + (len(result) if isinstance(result, bytes) else 0)
            self._inflated = 0
            if self.max_message_bytes is not None and inflated > self.max_message_bytes:
                return CloseReason.MESSAGE_TOO_BIG
        return result

    def frame_outbound(
        self, proto: Any, opcode: Opcode, rsv: Any, data: bytes, fin: bool
    ) -> tuple[Any, bytes]:
        if self._compressor is None and opcode in (Opcode.TEXT, Opcode.BINARY):
            # wsproto would make it with zlib's default level and memLevel; dropped after the
            # message's last frame (server_no_context_takeover)
            self._compressor = server_compressor(self.server_max_window_bits)
        return super().frame_outbound(proto, opcode, rsv, data, fin)


DEFLATE_TAIL = b"\x00\x00\xff\xff"
"""The empty stored block a sync flush ends with, left out of every message (RFC 7692 7.2.1)."""

_DEFLATED_KEPT_BYTES = 1024 * 1024
"""Bytes of payloads (and their compressed forms) :func:`deflated` keeps, the oldest going
first (an event's is asked for once per socket of its subscribers, one after the other; a
replay's by every socket replaying it)."""

_DEFLATED_MAX_BYTES = 64 * 1024
"""Larger payloads are compressed for each socket and not kept."""

_deflated: dict[tuple[bytes, int], bytes] = {}
_deflated_bytes = 0  # what _deflated holds: its payloads' and compressed forms' lengths


def deflated(body: bytes, window_bits: int) -> bytes:
    """``body`` compressed as the end of a ``permessage-deflate`` message on a socket without
    server context takeover and a window of ``window_bits``: raw DEFLATE blocks closed by a
    sync flush, its :data:`DEFLATE_TAIL` removed. They refer back only within ``body``, so
    they may follow any blocks of the same message (:meth:`FrameWriter.write`).

    The same ``body`` (one event's payload, encoded once for every socket by
    :func:`graph.fanout.dispatch`) is compressed once: the latest are kept, up to
    :data:`_DEFLATED_KEPT_BYTES` (a ``bytes`` keeps its hash, so finding it again costs no
    pass over it)."""
    global _deflated_bytes
    key = (body, window_bits)
    found = _deflated.get(key)
    if found is not None:
        return found
    compressor = server_compressor(window_bits)
    data = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
    data = data[: -len(DEFLATE_TAIL)]  # a sync flush always ends with it
    if len(body) <= _DEFLATED_MAX_BYTES:
        _deflated[key] = data
        _deflated_bytes += len(body) + len(data)
        while _deflated_bytes > _DEFLATED_KEPT_BYTES:
            oldest = next(iter(_deflated))
            _deflated_bytes -= len(oldest[0]) + len(_deflated.pop(oldest))
    return data


def stored_block(data: bytes) -> bytes:
    """``data`` (at most 65,535 bytes) as a stored DEFLATE block, not final, starting on a byte
    boundary (RFC 1951 3.2.4): a header byte, its length and the length's complement, itself."""
    return struct.pack("<BHH", 0, len(data), len(data) ^ 0xFFFF) + data


class _Head(NamedTuple):
    """What wsproto's handshake reads of h11's request event."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]


def _upgrade_head(data: bytes) -> _Head | None:
    """The upgrade request uvicorn's httptools protocol hands over, as it writes it again after
    httptools parsed it (``GET <target> HTTP/1.1``, then ``name: value`` lines, names in lower
    case, values trimmed, one ``host``, no ``transfer-encoding``): ``None`` for anything else
    (h11 parses it then, and refuses what it refuses: two hosts, a coding it cannot read)."""
    if not data.endswith(b"\r\n\r\n"):
        return None
    lines = data[:-4].split(b"\r\n")
    request_line = lines[0].split(b" ")
    if len(request_line) != 3 or request_line[2] != b"HTTP/1.1" or not request_line[1].isascii():
        return None
    headers = []
    for line in lines[1:]:
        name, separator, value = line.partition(b": ")
        if not separator or not name:
            return None
        headers.append((name, value))
        if name == b"transfer-encoding":
            return None
    if sum(name == b"host" for name, _ in headers) != 1:
        return None
    return _Head(request_line[0], request_line[1], headers)


class _Switching:
    """Stands in for h11 to write the 101 response (:class:`FastHandshake`)."""

    @staticmethod
    def send(response: h11.InformationalResponse) -> bytes:
        lines = [b"HTTP/1.1 %d %s\r\n" % (response.status_code, response.reason)]
        # h11 validated every name and value when it made the response (no CR or LF)
        lines += [name + b": " + value + b"\r\n" for name, value in response.headers.raw_items()]
        lines.append(b"\r\n")
        return b"".join(lines)


_SWITCHING = _Switching()


_SWITCHING_HEAD = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
)
"""The 101's status line and the headers wsproto writes first, as h11 writes them."""
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
"""h11's rules for a header's name (RFC 9110's token) and value (no NUL, CR or LF, no space
at either end), for the 101 :meth:`FastHandshake._accept` writes without h11."""


def _plain_headers(headers: Any) -> bool:
    """Whether ``headers`` are pairs of ``bytes`` h11 would write as they are (valid names and
    values, neither ``Content-Length`` nor ``Transfer-Encoding``, which h11 checks further)."""
    for name, value in headers:
        if not (
            type(name) is bytes
            and type(value) is bytes
            and _TOKEN.fullmatch(name)
            and _FIELD_VALUE.fullmatch(value)
            and name.lower() not in (b"content-length", b"transfer-encoding")
        ):
            return False
    return True


class FastHandshake(H11Handshake):
    """wsproto's server handshake without parsing the request a second time (issue 23).

    uvicorn's httptools protocol has parsed the upgrade request already; it writes it out
    again and wsproto parses it with h11, then builds the 101 with h11 (a fifth of a
    subscription's set-up in a reconnect storm). Here the request uvicorn writes is split
    into its lines (:func:`_upgrade_head`) and checked by wsproto's own checks
    (``_process_connection_request``: method, ``Connection``, ``Upgrade``, version, key,
    host), and the 101 is written from the response wsproto makes, without h11's state
    machine. h11 gets the request only if something else must be answered (a rejection: a
    403, a denial response, a malformed request's 400) or more bytes come before the answer;
    anything :func:`_upgrade_head` does not recognise goes to h11 as before.
    """

    _raw: bytes | None = None
    """The request taken without h11, until h11 has it too or the 101 is written."""
    _fresh = True

    def __init__(self, connection_type: ConnectionType) -> None:
        # wsproto's, but h11's connection is made only if it is used (:attr:`_h11_connection`)
        self.client = connection_type is ConnectionType.CLIENT
        self._state = ConnectionState.CONNECTING
        self._h11: Any = None
        self._connection = None
        self._events = collections.deque()
        self._initiating_request = None
        self._nonce = None

    @property  # type: ignore[override]
    def _h11_connection(self) -> Any:
        if self._h11 is None:
            self._h11 = h11.Connection(h11.CLIENT if self.client else h11.SERVER)
        return self._h11

    @_h11_connection.setter
    def _h11_connection(self, value: Any) -> None:
        self._h11 = value

    def receive_data(self, data: bytes | None) -> None:
        if self._fresh and not self.client:
            self._fresh = False
            head = _upgrade_head(data) if data else None
            if head is not None:
                self._raw = data
                self._events.append(self._process_connection_request(head))  # type: ignore[arg-type]
                return
        self._catch_up()
        super().receive_data(data)

    def _catch_up(self) -> None:
        """Give h11 the request taken without it (it must answer it, or read what follows)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            self._h11_connection.receive_data(raw)
            # the request, handled already; or h11 refuses it (e.g. no Host), as wsproto did
            with contextlib.suppress(h11.RemoteProtocolError):
                self._h11_connection.next_event()

    def _accept(self, event: AcceptConnection) -> bytes:
        data = self._answer(event)
        # a WebSocket now: its request is not read again, nor held as long as it is open
        self._initiating_request = None
        return data

    def _answer(self, event: AcceptConnection) -> bytes:
        if self._raw is None:
            return super()._accept(event)
        self._raw = None
        # from here on the connection is a WebSocket: h11 is never used again
        self._h11_connection = _SWITCHING
        request = self._initiating_request
        if event.extensions or request is None or not _plain_headers(event.extra_headers):
            return super()._accept(event)  # wsproto's, h11's response written by _SWITCHING
        # wsproto's 101 (H11Handshake._accept), the same bytes without h11's response object
        nonce = normed_header_dict(request.extra_headers)[b"sec-websocket-key"]
        lines = [_SWITCHING_HEAD, b"Sec-WebSocket-Accept: ", generate_accept_token(nonce), b"\r\n"]
        if event.subprotocol is not None:
            if event.subprotocol not in request.subprotocols:
                raise LocalProtocolError(f"unexpected subprotocol {event.subprotocol}")
            lines += [b"Sec-WebSocket-Protocol: ", event.subprotocol.encode("ascii"), b"\r\n"]
        for name, value in event.extra_headers:
            lines += [name, b": ", value, b"\r\n"]
        lines.append(b"\r\n")
        self._connection = Connection(ConnectionType.SERVER, event.extensions)
        self._state = ConnectionState.OPEN
        return b"".join(lines)

    def _reject(self, event: Any) -> bytes:
        self._catch_up()
        return super()._reject(event)

    def _process_connection_request(self, event: Any) -> Request:
        try:
            return super()._process_connection_request(event)
        except UnicodeError:  # wsproto decodes the Host as IDNA: a 400, not a traceback
            raise RemoteProtocolError("Bad Host header", event_hint=RejectConnection()) from None


MAX_PINGS_PER_SECOND = 10
"""WebSocket ping frames a peer may send within a second; one more drops its connection.
Browsers never send pings (their API cannot), libraries' keep-alives one every few seconds."""


class _TellsItsWriter(WSProtocol):
    """uvicorn's ``wsproto`` protocol telling its socket's :class:`FrameWriter` when a write
    can no longer go out at once: the transport backs up (``pause_writing``, the only place
    uvicorn clears ``writable``) or a close frame is sent (``close_sent``, which uvicorn only
    ever sets). The writer then reads uvicorn's state again before its next write, instead of
    before every write.

    The writer refers to the protocol, and the protocol to it: once the connection is lost
    (every socket's end, whichever side closed it) the protocol lets go of its writer, so that
    neither waits for the cyclic garbage collector with the socket's starlette ``WebSocket``
    (a reconnect storm ends thousands; issue 23). A writer still held by the app refuses every
    write from then on (its transport is closed)."""

    frame_writer: FrameWriter | None = None
    _close_sent = False
    _pings = 0  # ping frames received since _pings_since (the event loop's time, seconds)
    _pings_since = -math.inf

    def handle_ping(self, event: Ping) -> None:
        """A ping frame is answered with a pong written at once, as uvicorn does, unless the
        peer sent more than :data:`MAX_PINGS_PER_SECOND` within a second: its connection is
        then dropped. Each pong is written whether the peer reads or not: one socket flooding
        pings without reading grew the worker by its pongs (136 to 258 MB in 12 s, before it
        even sent ``connection_init``) and took the event loop from everyone else (HTTP/2
        servers bound pings alike: the ping flood, CVE-2019-9512)."""
        now = self.loop.time()
        if now - self._pings_since >= 1.0:
            self._pings_since, self._pings = now, 0
        self._pings += 1
        if self._pings > MAX_PINGS_PER_SECOND:
            if not self.transport.is_closing():
                log.warning(
                    "%s sent more than %d WebSocket pings within a second: dropped",
                    self.client,
                    MAX_PINGS_PER_SECOND,
                )
                self.transport.abort()
            return
        super().handle_ping(event)

    def keepalive_timeout(self) -> None:
        """The peer did not answer the last ping within ``ws_ping_timeout``
        (``INBOX_GRAPH_WS_PING_SECONDS``): drop the connection at once, without a close frame.

        uvicorn's own writes a close frame (1011) and closes the transport gracefully, which
        waits for everything buffered to go out first: a peer whose TCP stack still
        acknowledges but that reads nothing (a frozen tab, a stopped process, a client that
        replays a large backlog without reading) then kept its socket, its subscriptions and
        megabytes of buffers for as long as it lived, since the close frame sat behind them.
        And a standard ``graphql-ws`` client that did get the 1011 took it as fatal and stopped
        reconnecting for good; a connection dropped reads as 1006, which it retries (with
        ``afterSequence``, nothing is missed)."""
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.logger.level <= TRACE_LOG_LEVEL:
            self.logger.log(TRACE_LOG_LEVEL, "%s WebSocket keepalive ping timeout", self.client)
        self.transport.abort()

    def shutdown(self) -> None:
        """The server stops: a socket whose writes are backed up (its peer reads nothing) is
        dropped at once, since the 1012 close frame would wait behind its buffers until
        uvicorn's graceful shutdown gave up (10 seconds); any other gets 1012, as uvicorn
        does."""
        if not self.writable.is_set() and not self.transport.is_closing():
            self.transport.abort()
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.frame_writer = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.frame_writer is not None:
            self.frame_writer.recheck = True

    @property  # type: ignore[override]
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        if value and self.frame_writer is not None:
            self.frame_writer.recheck = True


class InboxWSProtocol(_TellsItsWriter):
    """uvicorn's ``wsproto`` protocol with :class:`FastHandshake`
    (``INBOX_GRAPH_WS_COMPRESSION=off``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.handshake = FastHandshake(ConnectionType.SERVER)


class _BoundedDeflateConnection(wsproto.WSConnection):
    """A server connection that accepts ``permessage-deflate`` on bounded terms: uvicorn
    builds its accept with wsproto's ``PerMessageDeflate()``; this swaps it on its way."""

    def __init__(self, max_message_bytes: int) -> None:
        super().__init__(connection_type=ConnectionType.SERVER)
        self.max_message_bytes = max_message_bytes

    def send(self, event: Event) -> bytes:
        if isinstance(event, AcceptConnection) and event.extensions:
            event = dataclasses.replace(
                event,
                extensions=[
                    BoundedPerMessageDeflate(self.max_message_bytes)
                    if isinstance(e, PerMessageDeflate)
                    else e
                    for e in event.extensions
                ],
            )
        return super().send(event)


class BoundedDeflateWSProtocol(_TellsItsWriter):
    """uvicorn's ``wsproto`` protocol, accepting ``permessage-deflate`` with
    :class:`BoundedPerMessageDeflate` (``INBOX_GRAPH_WS_COMPRESSION=bounded``), with
    :class:`FastHandshake`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _BoundedDeflateConnection(self.config.ws_max_size)
        self.conn.handshake = FastHandshake(ConnectionType.SERVER)

    def handle_close(self, event: CloseConnection) -> None:
        if self.conn.state == ConnectionState.OPEN and not self.close_sent:
            # not a close frame from the client: wsproto failed to parse one of its frames (an
            # inflated message past the limit, bad deflate data) and closes without telling
            # it; the client is told why, as uvicorn does for an uncompressed message too big
            reason = (
                f"Message exceeds the maximum size ({self.config.ws_max_size} bytes)"
                if event.code == CloseReason.MESSAGE_TOO_BIG
                else ""
            )
            self.transport.write(self.conn.send(CloseConnection(code=event.code, reason=reason)))
            super().handle_close(event)  # the application is told; the transport closes
            self.close_sent = True
            return
        super().handle_close(event)


CORK_BYTES = 64 * 1024
"""Held frames (:meth:`FrameWriter.cork`) are written once they reach this many bytes."""

_TEXT_FIN = 0x81
"""The first byte of an unfragmented, uncompressed text frame (FIN, opcode 1)."""

_DEFLATED_TEXT_FIN = 0xC1
"""The first byte of an unfragmented, compressed text frame (FIN, RSV1, opcode 1)."""


class FrameWriter:
    """Writes pre-framed text messages straight to one WebSocket's transport (issue 23, item 3).

    uvicorn sends a text message through starlette's state checks, its own ``send`` coroutine
    and wsproto, which encodes the text and frames it again for every socket. For an event
    delivered to thousands of sockets, the payload is encoded once
    (:func:`graph.fanout.dispatch`) and each socket's frame is its header (2 to 10 bytes, the
    server never masks) and the operation's prefix around those bytes: one ``bytes`` join and
    one ``transport.write`` per socket. Between :meth:`cork` and :meth:`uncork` (a replay),
    the frames are held and written together.

    On a socket that negotiated :class:`BoundedPerMessageDeflate` (``bounded``: no context
    takeover), the frame is compressed (RSV1): the prefix as a stored DEFLATE block, then the
    payload's blocks, compressed once for every socket with the socket's window
    (:func:`deflated`). A client inflates it to the same text as uvicorn's frame (a message
    per compressor either way); the bytes differ. Any other extension: uvicorn's path.

    :meth:`write` writes only when uvicorn's own path would write at once: the socket is open
    on both sides (handshake done, no close sent or received, the transport not closing or
    lost), no extension but ``bounded`` compression was negotiated, and no send is waiting
    for the transport to drain (nor about to resume: ordering). Otherwise it returns ``False``
    and the caller sends through uvicorn, which waits or raises as before.

    It reads uvicorn's protocol state (``writable``, ``close_sent``, ``handshake_complete``,
    ``response_started``, ``conn``, ``transport``), present in every uvicorn release
    ``pyproject.toml`` allows (0.46 on; ``disconnected`` only came in 0.52: a lost connection
    is seen as a closing transport instead). :func:`frame_writer` makes none for a protocol
    without them.

    A fan-out writes to every socket in one pass (10,000 sockets: 10,000 writes an event), so
    the checks per write are the fewest that decide it, on the fewest objects (each socket's
    objects are apart in memory: every one read costs a cache miss): the handshake's outcome
    (done, accepted, no extension) is read once, at the first write, and is final; from then
    on a write reads the writer and the transport, and the ``writable`` event and
    ``close_sent`` only after the protocol said they changed (:attr:`recheck`; the app's
    protocols do: ``_TellsItsWriter``; another ``WSProtocol`` has them read before every
    write). starlette's ``application_state`` and wsproto's connection state are not read again: in
    every release allowed, each way they leave ``CONNECTED`` / ``OPEN`` sets ``close_sent`` or
    closes the transport in the same step (a close frame received is answered and the
    transport closed as it is parsed; the application's close sets ``close_sent``, or waits on
    ``writable``; a protocol error or a message too big closes the transport), which
    ``tests/live/test_frame_writer.py`` checks for each of them.
    """

    __slots__ = (
        "_corked",
        "_held",
        "_held_bytes",
        "_told",
        "deflate_bits",
        "plain",
        "protocol",
        "recheck",
        "transport",
        "websocket",
        "writable",
    )

    def __init__(self, websocket: Any, protocol: WSProtocol) -> None:
        self.websocket = websocket
        self.protocol = protocol
        # both made with the protocol (``connection_made``, before the application runs) and
        # never replaced
        self.transport = protocol.transport
        self.writable = protocol.writable
        self.plain: bool | None = None  # no extension negotiated: known once the handshake is done
        # the server's window of a bounded permessage-deflate socket (known then too), else None
        self.deflate_bits: int | None = None
        # read uvicorn's state before the next write: always, unless the protocol says when
        self.recheck = True
        # a protocol whose connection is lost (its transport closed) keeps no writer: this one
        # then checks before every write (and refuses each)
        self._told = isinstance(protocol, _TellsItsWriter) and not self.transport.is_closing()
        if self._told:
            protocol.frame_writer = self
        self._corked = 0  # cork() calls not yet matched by uncork()
        self._held: list[bytes] | None = None  # frames written while corked, in order
        self._held_bytes = 0

    def cork(self) -> None:
        """Hold the frames :meth:`write` writes from now on until the matching
        :meth:`uncork` (calls nest): a subscription replaying its backlog writes it with one
        ``transport.write`` (one system call) instead of one per frame (a reconnect storm,
        issue 23). Held frames are written first whenever a frame must go through uvicorn
        instead (:meth:`write` returns ``False``), and at :data:`CORK_BYTES`."""
        self._corked += 1

    def uncork(self) -> None:
        """End one :meth:`cork`; the last one writes what was held (:meth:`flush`)."""
        self._corked = max(self._corked - 1, 0)
        if not self._corked:
            self.flush()

    def flush(self) -> None:
        """Write the frames held by :meth:`cork` now, in one ``transport.write``. Call it before
        anything else is sent on the socket through uvicorn (a close, an error frame), so that
        it follows them. Held frames are dropped if the socket closed meanwhile (a close frame
        was sent or received: nothing may follow it)."""
        held = self._held
        if not held:
            return
        self._held = None
        self._held_bytes = 0
        protocol = self.protocol
        connection = protocol.conn.connection
        if (
            protocol.close_sent
            or connection is None
            or connection.state is not ConnectionState.OPEN
            or self.transport.is_closing()
        ):
            return
        self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write_text(self, *parts: bytes) -> bool:
        """:meth:`write` of ``parts`` joined."""
        return self.write(b"".join(parts))

    def write(self, head: bytes, body: bytes = b"") -> bool:
        """Write ``head`` and ``body`` (UTF-8, one after the other) as one text message;
        ``False`` if it must go through uvicorn instead (nothing was written; frames held by
        :meth:`cork` were written first). Two parts: a ``next`` frame's operation prefix and
        the event's payload, encoded once for every socket."""
        if self.recheck and not self._writes_at_once():
            return self._refuse()
        transport = self.transport
        if transport.is_closing():
            return self._refuse()
        first = _TEXT_FIN
        if self.deflate_bits is not None:
            if not body:  # one part (write_text): all of it compressed
                head, body = body, head
            elif len(head) > 0xFFFF:
                return self._refuse()  # more than one stored block: not worth a case
            body = deflated(body, self.deflate_bits)
            head = stored_block(head) if head else b""
            first = _DEFLATED_TEXT_FIN
        length = len(head) + len(body)
        if length < 126:
            header = bytes((first, length))
        elif length < 65536:
            header = struct.pack("!BBH", first, 126, length)
        else:
            header = struct.pack("!BBQ", first, 127, length)
        frame = b"".join((header, head, body))
        if self._corked:
            if self._held is None:
                self._held = []
            self._held.append(frame)
            self._held_bytes += len(frame)
            if self._held_bytes >= CORK_BYTES:
                self.flush()
        else:
            transport.write(frame)
        return True

    def _writes_at_once(self) -> bool:
        """Whether uvicorn's own send would write at once now: the socket accepted without an
        extension (or with bounded compression), not backed up, no send waiting, no close sent
        (the transport is read by :meth:`write`). Once it would, and the protocol tells when
        that changes, the next writes need not read it again (:attr:`recheck`)."""
        if self.plain is None and not self._accepted():
            return False
        writable = self.writable
        if (
            (not self.plain and self.deflate_bits is None)
            or not writable._value  # the transport is backed up: uvicorn's send waits
            or writable._waiters  # a send waits (or is about to resume): keep the order
            or self.protocol.close_sent
        ):
            return False
        if self._told:
            self.recheck = False  # until pause_writing or close_sent says otherwise
        return True

    def _accepted(self) -> bool:
        """Whether the handshake is done and accepted (the socket open on both sides): then
        :attr:`plain` says whether an extension was negotiated, and :attr:`deflate_bits`
        whether it is bounded compression alone, for good."""
        protocol = self.protocol
        if (
            not protocol.handshake_complete
            or protocol.response_started
            or protocol.close_sent
            or self.websocket.application_state is not WebSocketState.CONNECTED
        ):
            return False
        connection = protocol.conn.connection  # wsproto's, made by the handshake
        if connection is None or connection.state is not ConnectionState.OPEN:
            return False
        extensions = connection._proto.extensions
        self.plain = not extensions
        if len(extensions) == 1 and isinstance(extensions[0], BoundedPerMessageDeflate):
            self.deflate_bits = extensions[0].server_max_window_bits
        return True

    def _refuse(self) -> bool:
        if self._held:
            self.flush()  # they precede whatever the caller now sends through uvicorn
        return False


_PROTOCOL_STATE = ("close_sent", "handshake_complete", "response_started", "conn", "transport")
"""What :meth:`FrameWriter.write` reads of uvicorn's ``WSProtocol`` (and ``writable``)."""


def frame_writer(websocket: Any) -> FrameWriter | None:
    """A :class:`FrameWriter` for a starlette ``WebSocket`` served by uvicorn's ``wsproto``
    protocol (both of ``INBOX_GRAPH_WS_COMPRESSION``'s modes), else ``None`` (e.g. another
    server, or a uvicorn whose protocol keeps its state otherwise): send through ASGI then.
    One per socket: the app's protocols keep theirs (:attr:`_TellsItsWriter.frame_writer`)."""
    protocol = getattr(getattr(websocket, "_send", None), "__self__", None)
    if not isinstance(protocol, WSProtocol):
        return None
    if isinstance(protocol, _TellsItsWriter) and protocol.frame_writer is not None:
        return protocol.frame_writer
    writable = getattr(protocol, "writable", None)
    if not isinstance(writable, asyncio.Event) or not all(
        hasattr(writable, name) for name in ("_value", "_waiters")
    ):
        return None
    if not all(hasattr(protocol, name) for name in _PROTOCOL_STATE):
        return None
    return FrameWriter(websocket, protocol)


def uvicorn_options(mode: str) -> dict[str, Any]:
    """The ``uvicorn.run`` options that serve WebSockets with compression ``mode``."""
    if mode == "bounded":
        return {"ws": f"{__name__}:BoundedDeflateWSProtocol", "ws_per_message_deflate": True}
    if mode == "off":
        # wsproto holds the least per open connection of uvicorn's WebSocket protocols: about
        # 17.5 KB for an idle socket, against 20 KB for websockets' Sans-I/O one and 28 KB for
        # the legacy websockets one (`bench/README.md`, "Latest figures")
        return {"ws": f"{__name__}:InboxWSProtocol", "ws_per_message_deflate": False}
    raise ValueError(
        f"INBOX_GRAPH_WS_COMPRESSION must be one of {', '.join(WS_COMPRESSION_MODES)}, not {mode!r}"
    )


__all__ = [
    "MAX_PINGS_PER_SECOND",
    "BoundedDeflateWSProtocol",
    "BoundedPerMessageDeflate",
    "FastHandshake",
    "FrameWriter",
    "InboxWSProtocol",
    "frame_writer",
    "uvicorn_options",
]

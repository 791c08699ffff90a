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
socket without an extension (compressed sockets are framed by wsproto, one compressor each).
"""

from __future__ import annotations

import asyncio
import dataclasses
import struct
import zlib
from typing import Any

import wsproto
from starlette.websockets import WebSocketState
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import ConnectionType
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Event
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode

from graph.settings import WS_COMPRESSION_MODES

SERVER_MAX_WINDOW_BITS = 12
"""The server's LZ77 window (4 KB): larger than a typical frame, since with no context
takeover a frame can only refer back within itself."""

MEMORY_LEVEL = 5
"""zlib's ``memLevel`` for the server's compressor (8 is zlib's default): a 4,096-entry hash
table instead of 32,768 (which zlib clears for every new compressor)."""

COMPRESSION_LEVEL = 1
"""zlib's fastest level: on this API's frames (JSON of 0.2 to 3 KB) it compresses within 3% of
level 6 at a third of the CPU, and every socket compresses each event on its own."""


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
        if super().accept(offer) is None:  # wsproto declines windows outside 9..15 bits
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
            self._compressor = zlib.compressobj(
                COMPRESSION_LEVEL, zlib.DEFLATED, -self.server_max_window_bits, MEMORY_LEVEL
            )
        return super().frame_outbound(proto, opcode, rsv, data, fin)


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


class BoundedDeflateWSProtocol(WSProtocol):
    """uvicorn's ``wsproto`` protocol, accepting ``permessage-deflate`` with
    :class:`BoundedPerMessageDeflate` (``INBOX_GRAPH_WS_COMPRESSION=bounded``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _BoundedDeflateConnection(self.config.ws_max_size)

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


_TEXT_FIN = 0x81
"""The first byte of an unfragmented, uncompressed text frame (FIN, opcode 1)."""


class FrameWriter:
    """Writes pre-framed text messages straight to one WebSocket's transport (issue 23, item 3).

    uvicorn sends a text message through starlette's state checks, its own ``send`` coroutine
    and wsproto, which encodes the text and frames it again for every socket. For an event
    delivered to thousands of sockets, the payload is encoded once
    (:func:`graph.fanout.dispatch`) and each socket's frame is its header (2 to 10 bytes, the
    server never masks) and the operation's prefix around those bytes: one ``bytes`` join and
    one ``transport.write`` per socket.

    :meth:`write_text` writes only when uvicorn's own path would write at once, the same bytes:
    the socket is open on both sides (handshake done, no close sent or received, the transport
    not closing or lost), no extension was negotiated (a ``permessage-deflate`` socket
    compresses per socket: uvicorn's path), and no send is waiting for the transport to drain
    (nor about to resume: ordering). Otherwise it returns ``False`` and the caller sends through
    uvicorn, which waits or raises as before.

    It reads uvicorn's protocol state (``writable``, ``close_sent``, ``handshake_complete``,
    ``response_started``, ``conn``, ``transport``), present in every uvicorn release
    ``pyproject.toml`` allows (0.34 on; ``disconnected`` only came in 0.52: a lost connection
    is seen as a closing transport instead). :func:`frame_writer` makes none for a protocol
    without them.
    """

    __slots__ = ("plain", "protocol", "websocket")

    def __init__(self, websocket: Any, protocol: WSProtocol) -> None:
        self.websocket = websocket
        self.protocol = protocol
        self.plain: bool | None = None  # no extension negotiated: known once the handshake is done

    def write_text(self, *parts: bytes) -> bool:
        """Write ``parts`` (UTF-8, joined) as one text message; ``False`` if it must go through
        uvicorn instead (nothing was written)."""
        protocol = self.protocol
        writable = protocol.writable
        if (
            not writable.is_set()
            or writable._waiters  # a send waits (or is about to resume): keep the order
            or protocol.close_sent
            or not protocol.handshake_complete
            or protocol.response_started
            or self.websocket.application_state is not WebSocketState.CONNECTED
        ):
            return False
        connection = protocol.conn.connection  # wsproto's, made by the handshake
        if connection is None or connection.state is not ConnectionState.OPEN:
            return False
        if self.plain is None:
            self.plain = not connection._proto.extensions
        if not self.plain or protocol.transport.is_closing():
            return False
        length = sum(map(len, parts))
        if length < 126:
            header = bytes((_TEXT_FIN, length))
        elif length < 65536:
            header = struct.pack("!BBH", _TEXT_FIN, 126, length)
        else:
            header = struct.pack("!BBQ", _TEXT_FIN, 127, length)
        protocol.transport.write(b"".join((header, *parts)))
        return True


_PROTOCOL_STATE = ("close_sent", "handshake_complete", "response_started", "conn", "transport")
"""What :meth:`FrameWriter.write_text` reads of uvicorn's ``WSProtocol`` (and ``writable``)."""


def frame_writer(websocket: Any) -> FrameWriter | None:
    """A :class:`FrameWriter` for a starlette ``WebSocket`` served by uvicorn's ``wsproto``
    protocol (both of ``INBOX_GRAPH_WS_COMPRESSION``'s modes), else ``None`` (e.g. another
    server, or a uvicorn whose protocol keeps its state otherwise): send through ASGI then."""
    protocol = getattr(getattr(websocket, "_send", None), "__self__", None)
    if not isinstance(protocol, WSProtocol):
        return None
    writable = getattr(protocol, "writable", None)
    if not isinstance(writable, asyncio.Event) or not hasattr(writable, "_waiters"):
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
        return {"ws": "wsproto", "ws_per_message_deflate": False}
    raise ValueError(
        f"INBOX_GRAPH_WS_COMPRESSION must be one of {', '.join(WS_COMPRESSION_MODES)}, not {mode!r}"
    )


__all__ = [
    "BoundedDeflateWSProtocol",
    "BoundedPerMessageDeflate",
    "FrameWriter",
    "frame_writer",
    "uvicorn_options",
]

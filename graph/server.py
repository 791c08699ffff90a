"""The HTTP protocol uvicorn serves with, and the process's descriptor limit.

uvicorn's httptools protocol lets a connection hold its descriptor for as long as the client
likes before it has sent a request: it starts no timer on a new connection (its keep-alive
timeout runs only between requests, and the first byte of the next request stops it), and
its ``limit_concurrency`` answers 503 only once a complete request head has arrived. Idle and
slow (slowloris) clients could take every descriptor and lock everyone else out. Nor does
httptools limit the size of a request head. :class:`GuardedHttpProtocol` adds, per
connection:

- a header timeout: a request head (request line and headers) must be complete within
  ``header_timeout`` seconds of the connection opening, or of the next byte after a response
  on a kept-alive connection; otherwise the connection is closed. This closes sockets that
  send nothing and slowloris senders alike; WebSockets are upgraded once their handshake's
  head is in, and from then on strawberry's ``connection_init`` timeout and uvicorn's pings
  take over;
- a limit on the size of a request head (:data:`MAX_HEAD_BYTES`): beyond it, the answer is
  431, with a lingering close (below); the head of a pipelined request is answered so once
  the answers to the requests before it are written (reading stops meanwhile), and so are
  bytes that are not HTTP after them (uvicorn's 400): written at once, the refusal came
  first and the client took it for the answer to a request that ran; a WebSocket upgrade
  pipelined so is switched once those answers are written (uvicorn switched at once, and
  wrote them into the WebSocket);
- at most :data:`MAX_PIPELINED` requests read ahead behind the one running: uvicorn queues
  every pipelined request it parses (about 1.4 KB each) and reads on after each answer (and
  whenever the running request reads its body), so one connection pipelining small requests
  as fast as it could grew the worker by gigabytes. A request beyond them is not parsed: the
  requests queued are answered, then the connection is closed (lingering, below), which
  RFC 9112 (9.3.2) lets a server do; a pipelining client retries what was not answered;
- a maximum of ``max_connections`` open connections per worker, HTTP and WebSocket alike: a
  connection beyond it is answered 503 and closed as soon as it is accepted, before anything
  is read, so its descriptor is freed at once;
- a lingering close (as nginx's ``lingering_close``): a response that closes the connection
  while the client is still sending its request (413 for a body over the limit, 431, 408)
  half-closes it instead and drops what still arrives, for at most :data:`LINGER_SECONDS`.
  Closing with the client's bytes unread would make the kernel reset the connection, and a
  reset discards the answer the client has not read yet: it would see a reset, not the 413.

``inbox-graph serve`` raises the process's descriptor limit (:func:`raise_open_files_limit`)
and keeps the maximum below it (:func:`connection_limit`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graph.errors import ErrorCode, RefusalWarning

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
"""The largest request head (request line and headers) accepted, in bytes."""

MAX_PIPELINED = 16
"""Requests of a connection parsed and queued behind the one running, at most (pipelining
clients send a handful; browsers none)."""

LINGER_SECONDS = 5.0
"""How long a connection answered before its request was read whole drops what the client
still sends before it is closed, in seconds (nginx's ``lingering_timeout``)."""

RESERVED_DESCRIPTORS = 256
"""Descriptors kept for what is not a client connection: the listening socket, database,
Redis and CRM connections, log files."""


def _response(status: str, message: str, code: str, *headers: str) -> bytes:
    """A complete HTTP response closing the connection, with a GraphQL-shaped error body."""
    error = {"message": message, "extensions": {"code": code}}
    body = json.dumps({"errors": [error]}, separators=(",", ":")).encode()
    head = [
        f"HTTP/1.1 {status}",
        "content-type: application/json",
        *headers,
        "connection: close",
        f"content-length: {len(body)}",
    ]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


_REFUSED = _response(
    "503 Service Unavailable",
    "Too many open connections; retry shortly.",
    ErrorCode.SERVICE_UNAVAILABLE,
    "retry-after: 1",
)
_MALFORMED = _response(
    "400 Bad Request",
    "Invalid HTTP request received: it is not well-formed HTTP/1.1.",
    ErrorCode.BAD_USER_INPUT,
)
_HEAD_TOO_LARGE = _response(
    "431 Request Header Fields Too Large",
    f"The request line and headers exceed {MAX_HEAD_BYTES} bytes.",
    ErrorCode.BAD_USER_INPUT,
)


class _ClosingLingers:
    """The connection's transport as a request's cycle sees it.

    - uvicorn's cycle closes it after a response that closes the connection, which goes
      through :meth:`GuardedHttpProtocol.close_after_response` instead;
    - a response's head is written with the start of its body, in one write: uvicorn writes
      the head when the app starts its response and the body when the app sends it, two
      system calls and two TCP segments a response (with ``TCP_NODELAY``), and a client
      woken twice, reading a head without its body first (a quarter of the server's time in a
      ``{ __typename }``, in the head's ``send``). Only a head with a ``content-length``
      (a whole body follows at once: a streamed response's head goes out at once, not when
      its first part is ready) of a request other than ``HEAD`` (whose answer has no body to
      wait for) is held; ``100 Continue`` goes out at once. A response the app leaves
      unfinished still has its head written before the connection closes.
    """

    __slots__ = ("_head", "_hold", "_protocol", "_transport")

    def __init__(
        self, transport: asyncio.Transport, protocol: GuardedHttpProtocol, hold: bool
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._hold = hold  # the response's head is still to come, and may wait for its body
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            # the connection was lost under a pipelined request (uvicorn marks only the latest
            # request disconnected): nobody to answer, and the closed transport would raise
            return
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif self._hold and data.startswith(b"HTTP/1.1 ") and not data.startswith(_CONTINUE):
            self._hold = False
            if b"\r\ncontent-length: " in data:
                self._head = data
            else:
                self._transport.write(data)
        else:
            self._transport.write(data)

    def close(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)
        self._protocol.close_after_response()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_CONTINUE = b"HTTP/1.1 100 "


class _StopParsing(Exception):
    """Raised in httptools' callback to stop parsing what a connection sent: requests beyond
    :data:`MAX_PIPELINED`, a head over :data:`MAX_HEAD_BYTES` that arrived whole."""


class _StoppedOnPurpose(logging.Filter):
    """Drops uvicorn's "Invalid HTTP request received." warning for a parse
    :class:`GuardedHttpProtocol` stopped itself (:class:`_StopParsing`): uvicorn logs it
    between the parser's error and :meth:`GuardedHttpProtocol.send_400_response`, which
    clears :attr:`stopping` (nothing else runs between them)."""

    stopping = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.stopping and record.levelno == logging.WARNING)


_stopped_on_purpose = _StoppedOnPurpose()


_refusals = RefusalWarning(
    log,
    "at its maximum of %d open connections (INBOX_GRAPH_MAX_CONNECTIONS), this worker refuses "
    "new ones with 503 (%d since the previous warning)",
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a head size limit and a maximum
    number of open connections (see the module's docstring).

    ``inbox-graph serve`` passes it to uvicorn with its two settings bound
    (``functools.partial``: uvicorn creates one per connection with its own arguments).

    Args:
        header_timeout: seconds a request head may take to arrive complete.
        max_connections: open connections (HTTP and WebSocket) of this worker beyond which a
            new one is refused with 503.
    """

    def __init__(self, *args: Any, header_timeout: float, max_connections: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_bytes: int | None = 0  # None: a request is being served, no head awaited
        self.discarding = False  # answered: what the client still sends is dropped
        self.request_read = True  # the current request's body has arrived whole
        # the head's bytes the parser has passed on (request line, complete header lines): a
        # request ending inside a chunk leaves the next head's first bytes uncounted by
        # ``head_bytes``, which then takes this
        self.parsed_head = 0
        self.refusal: bytes | None = None  # a later request's refusal, once answers are out
        self.upgrade_waits = False  # a later request's WebSocket upgrade, once answers are out
        self.linger_timer: asyncio.TimerHandle | None = None
        # more than MAX_PIPELINED requests were pipelined: the rest is not read, and the
        # connection closes once the queued ones are answered
        self.pipeline_full = False
        # _stop_parsing: nothing more is read, and uvicorn's 400 for it is not sent
        self.parse_stopped = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self.transport = transport  # for connection_lost
            transport.write(_REFUSED)
            transport.close()
            _refusals.refused_one(self.max_connections)
            return
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.discarding or self.parse_stopped:
            return
        if self.head_bytes is not None:
            self.head_bytes += len(data)
            if self.head_timer is None and (self.cycle is None or self.cycle.response_complete):
                # bytes of the next request on a kept-alive connection (uvicorn has just
                # stopped its keep-alive timer)
                self._await_head()
        super().data_received(data)
        if self.head_bytes is not None and self.parsed_head > self.head_bytes:
            # a request ended in this chunk: what followed it is the next request's head (a
            # client pipelining, a busy server reading both at once)
            self.head_bytes = self.parsed_head
        # checked once the parser has seen the data: a head that ended in it is complete
        # whatever followed it (httptools holds an unfinished header in memory until its end)
        too_large = self.head_bytes is not None and self.head_bytes > MAX_HEAD_BYTES
        if too_large and not self.transport.is_closing():
            self._refuse(_HEAD_TOO_LARGE)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP (two ``Content-Length`` headers, one
        beside ``Transfer-Encoding: chunked``, a negative length ...), closing the connection:
        a GraphQL-shaped error with ``BAD_USER_INPUT`` in JSON, as the 431 and 503 of this
        protocol are (uvicorn's was plain text). Bytes after a request read whole are a later
        request's: while an earlier answer is still to be written, the 400 waits for it, as a
        head over the limit does (uvicorn wrote it at once, and the answer in flight was
        lost)."""
        if self.parse_stopped:  # not bytes that are not HTTP: the parse stopped on purpose
            _stopped_on_purpose.stopping = False
            if self.pipeline_full:
                self._close_when_answered()
            return  # else refused (431) already
        cycle = self.cycle
        if not self.request_read or cycle is None or cycle.response_complete:
            self.transport.write(_MALFORMED)
            self.transport.close()
            return
        self._refuse(_MALFORMED)

    def handle_websocket_upgrade(self) -> None:
        """uvicorn's switch to a WebSocket, once no earlier request's answer is still to be
        written (reading stops meanwhile): an upgrade pipelined behind a request still running
        was switched at once, and that request's answer was then written into the WebSocket
        after the 101."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self.upgrade_waits = True
            self.flow.pause_reading()
            return
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.pipeline_full:
            self._close_when_answered()
            return
        if self.upgrade_waits:
            if self.cycle.response_complete and not self.transport.is_closing():
                self.upgrade_waits = False
                if not self.discarding:  # else that answer closed the connection
                    self._unset_keepalive_if_required()  # armed by uvicorn just now
                    super().handle_websocket_upgrade()
            return
        if self.refusal is not None:
            self._refuse()

    def _refuse(self, response: bytes | None = None) -> None:
        """Answer a later request with ``response`` (431, 400), closing the connection, once
        no earlier request's answer is still to be written (uvicorn's :attr:`cycle` is the
        latest request's; answers go out in order); until then, read nothing more."""
        if self.refusal is None:
            self.refusal = response
        if self.refusal is None or self.transport.is_closing() or self.discarding:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.flow.pause_reading()
            return
        self.transport.write(self.refusal)
        self._linger()

    def on_headers_complete(self) -> None:
        cycle = self.cycle
        if (
            cycle is not None
            and not cycle.response_complete
            and len(self.pipeline) >= MAX_PIPELINED
        ):
            self.pipeline_full = True
            self._stop_head_timer()  # the queued requests' answers may take longer
            self._stop_parsing()
        if self.parsed_head - len(self.headers) > MAX_HEAD_BYTES:
            # a head over the limit that arrived whole in one read (data_received's check
            # sees only heads still incomplete): not served. ``parsed_head`` counts a space
            # after each header's colon, which a client may leave out: at most that many bytes
            # over what arrived
            self._refuse(_HEAD_TOO_LARGE)
            self._stop_parsing()
        self._stop_head_timer()
        self.head_bytes = None
        self.request_read = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # a new request's cycle
            hold = cycle.scope["method"] != "HEAD"
            cycle.transport = _ClosingLingers(self.transport, self, hold)  # type: ignore[assignment]

    def on_url(self, url: bytes) -> None:
        self.parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.parsed_head += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self.head_bytes = 0  # what follows is the next request's head
        self.parsed_head = 0
        self.request_read = True
        super().on_message_complete()

    def _stop_parsing(self) -> None:
        """Stop httptools' parse of the data being read: it reports the exception raised here
        as a callback error, which uvicorn logs as an invalid request (filtered out) and
        answers through :meth:`send_400_response` (which sends nothing: :attr:`parse_stopped`)."""
        self.parse_stopped = True
        if _stopped_on_purpose not in self.logger.filters:
            self.logger.addFilter(_stopped_on_purpose)
        _stopped_on_purpose.stopping = True
        raise _StopParsing

    def _close_when_answered(self) -> None:
        """Once every request queued before :attr:`pipeline_full` is answered, close the
        connection (lingering: the client may still be sending)."""
        cycle = self.cycle
        if self.pipeline or (cycle is not None and not cycle.response_complete):
            return  # on_response_complete calls again
        if not self.transport.is_closing() and not self.discarding:
            self._linger()

    def close_after_response(self) -> None:
        """Close the connection after a response that closes it: at once when its request
        has been read whole, with a lingering close while the client is still sending it."""
        if self.transport.is_closing():
            return
        if self.request_read:
            self.transport.close()
        else:
            self._linger()

    def _linger(self) -> None:
        """Half-close the connection (the answer is written whole, then FIN) and drop what the
        client still sends until it closes, or :data:`LINGER_SECONDS` have passed: closing
        with its bytes unread would reset the connection and lose the answer."""
        self._stop_head_timer()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.discarding = True
        self.flow.resume_reading()  # uvicorn pauses reading while a body waits to be read
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, self._linger_ended)

    def timeout_keep_alive_handler(self) -> None:
        if not self.discarding:  # uvicorn arms it after any response; a linger has its own
            super().timeout_keep_alive_handler()

    def _linger_ended(self) -> None:
        self.linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _await_head(self) -> None:
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def raise_open_files_limit() -> int | None:
    """Raise this process's soft limit of open descriptors to its hard limit (workers inherit
    it).

    Returns:
        The soft limit now in force, or ``None`` where the platform has none to read.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open files limit from %d to %d", soft, hard)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_limit(configured: int | None, open_files: int | None) -> int:
    """The maximum of open connections per worker.

    Args:
        configured: ``INBOX_GRAPH_MAX_CONNECTIONS``, or ``None`` for the default.
        open_files: the process's limit of open descriptors (``None``: unknown).

    Returns:
        ``configured``, or by default ``open_files`` less :data:`RESERVED_DESCRIPTORS` (a
        quarter of them under 1,024); a configured value that would not fit under
        ``open_files`` is lowered to that, with a warning: past it, accepting fails and
        nobody is served.
    """
    if open_files is None:
        return configured or 10_000
    fits = open_files - min(RESERVED_DESCRIPTORS, open_files // 4)
    if configured is None:
        return fits
    if configured > fits:
        log.warning(
            "INBOX_GRAPH_MAX_CONNECTIONS=%d does not fit under this process's limit of %d open "
            "files: using %d (raise the limit, e.g. `ulimit -n`, to allow more)",
            configured,
            open_files,
            fits,
        )
        return fits
    return configured


__all__ = [
    "LINGER_SECONDS",
    "MAX_HEAD_BYTES",
    "MAX_PIPELINED",
    "RESERVED_DESCRIPTORS",
    "GuardedHttpProtocol",
    "connection_limit",
    "raise_open_files_limit",
]

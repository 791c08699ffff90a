"""The HTTP transport of a webhook endpoint's queue (issue 20; ``architecture.md``: outbound
webhooks): httpx's own :class:`httpx.AsyncHTTPTransport` over one kept-alive httpcore
connection (:class:`OneConnection`, instead of httpcore's pool), on a network backend of plain
asyncio instead of httpcore's anyio one.

Why: a delivery is one small POST on a kept-alive connection, and on a 2-core machine the
deliverer's CPU per delivery bounds its throughput. httpcore's anyio backend sends a request's
head and body in two ``send()`` calls (two system calls, and on loopback two wake-ups of the
receiver) and enters an anyio cancel scope for each read and write; this backend buffers what
httpcore writes until it reads the answer (one ``send()`` per request) and reads from an
:class:`asyncio.Protocol`'s buffer. Timeouts are not applied here: the caller bounds the whole
request (:func:`graph.webhooks.post_once`, ``asyncio.timeout``). One event is in flight per
endpoint, so its queue needs one connection and no pool: httpcore's pool queues, locks and
re-examines its connections on every request and every response's close.

:class:`EndpointTransport` is sent :class:`httpx.Request` objects directly
(:meth:`httpx.AsyncBaseTransport.handle_async_request`): no client-level cookies, auth or
redirects, which deliveries do not use (redirects are not followed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

import aiodns
import httpcore
import httpx

if TYPE_CHECKING:
    from collections.abc import Iterable

KEEPALIVE_SECONDS = 5.0
"""How long an idle connection is kept (httpx's default)."""
FLUSH_BYTES = 65536
"""What is buffered at most before it is written without waiting for a read."""
RESPONSE_BYTES = 65536
"""How much of an answer's body is read (:func:`send`): a receiver's status is what counts, and
a partner answering with gigabytes (or streaming for ever) must not fill the worker's memory;
the connection of an answer left unread is closed."""
RECEIVE_BUFFER_BYTES = 262144
"""What a connection buffers at most before it stops reading from its socket until the reader
takes some (:class:`_Protocol`: flow control)."""

Refuse = Callable[[str, list[str]], None]
"""Called with a host and the addresses it resolved to before connecting to them; raises
(``ConnectionRefusedError``) to refuse (:func:`graph.resolvers.webhook.refuse_non_public`)."""


class _Protocol(asyncio.Protocol):
    """The bytes received on a connection, and whether it ended (``closed``, ``error``)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.error: BaseException | None = None
        self.readable: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.reading: asyncio.Transport | None = None
        """The transport reading is paused on (:data:`RECEIVE_BUFFER_BYTES` buffered), if any;
        the stream (:class:`_Stream`) resumes it once it took what was buffered."""
        self.transport: asyncio.Transport | None = None
        """The transport the data comes from: the socket's, or the TLS one over it."""

    def _wake(self) -> None:
        if self.readable is not None and not self.readable.done():
            self.readable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        transport = self.transport
        if len(self.buffer) >= RECEIVE_BUFFER_BYTES and transport is not None and not self.reading:
            transport.pause_reading()
            self.reading = transport
        self._wake()

    def resume(self) -> None:
        """Read from the socket again, once what was buffered was taken."""
        transport, self.reading = self.reading, None
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None


class _Stream(httpcore.AsyncNetworkStream):
    """One connection: writes are buffered until the next read (or :data:`FLUSH_BYTES`)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self.transport = transport
        self.protocol = protocol
        protocol.transport = transport
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    async def _flush(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        if self.transport.is_closing():
            raise httpcore.WriteError("The connection was closed.")
        self.transport.write(data)
        if self.protocol.writable is not None:  # the kernel's buffer is full: wait
            await self.protocol.writable

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush()
        protocol = self.protocol
        while not protocol.buffer and not protocol.closed:
            protocol.readable = asyncio.get_running_loop().create_future()
            try:
                await protocol.readable
            finally:
                protocol.readable = None
        if not protocol.buffer:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
            return b""  # the peer closed the connection
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        if protocol.reading is not None and len(protocol.buffer) < RECEIVE_BUFFER_BYTES // 2:
            protocol.resume()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self.pending.append(buffer)
            self.pending_bytes += len(buffer)
            if self.pending_bytes >= FLUSH_BYTES:
                await self._flush()

    async def aclose(self) -> None:
        self.pending.clear()
        self.transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await self._flush()
        try:
            transport = await asyncio.get_running_loop().start_tls(
                self.transport, self.protocol, ssl_context, server_hostname=server_hostname
            )
        except (OSError, ssl.SSLError) as exc:
            self.transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # pragma: no cover - only when the loop is closing
            raise httpcore.ConnectError("The connection was closed during the TLS handshake.")
        return _Stream(transport, self.protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle kept-alive connection the peer closed (or wrote to)
            return bool(self.protocol.buffer) or self.protocol.closed
        names = {"client_addr": "sockname", "server_addr": "peername"}
        if info in ("ssl_object", "socket", "client_addr", "server_addr"):
            try:
                return self.transport.get_extra_info(names.get(info, info))
            except AttributeError:  # a closed TLS transport (asyncio's sslproto) knows nothing
                return None
        return None


class Resolver:
    """Looks host names up with c-ares (``aiodns``) in the event loop, not in the loop's few
    resolver threads: a partner's name that takes long to resolve held a thread each, and with
    a few of them every other endpoint's deliveries waited for a thread (a helper's review); a
    lookup is cancelled with the request that made it. One c-ares channel, made on first use
    in the running loop and closed by :meth:`aclose` (its owner's: the worker's deliverer, or
    the client of a one-off send)."""

    def __init__(self) -> None:
        self._dns: aiodns.DNSResolver | None = None

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` (as it is connected to: IDNA-encoded, or an address
        literal) resolves to, in the resolver's order, for TCP on ``port``.

        Raises:
            httpcore.ConnectError: the name does not resolve.
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]
        if self._dns is None:
            self._dns = aiodns.DNSResolver(loop=asyncio.get_running_loop())
        try:
            found = await self._dns.getaddrinfo(host, port=port, type=socket.SOCK_STREAM)
        except aiodns.error.DNSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({exc.args[-1]})") from exc
        addresses = list(dict.fromkeys(node.addr[0].decode("ascii") for node in found.nodes))
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        return addresses

    async def aclose(self) -> None:
        dns, self._dns = self._dns, None
        if dns is not None:
            await dns.close()


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's transports and protocols (TCP, TLS). A host is
    resolved once (``resolver``), ``refuse`` sees its addresses (production: only public
    ones), and the connection goes to those very addresses, tried in order: what was checked
    is what is connected to (a name cannot resolve to a public address for the check and to
    an internal one for the connection, nor be spelled one way for each)."""

    def __init__(self, resolver: Resolver, refuse: Refuse | None = None) -> None:
        self.resolver = resolver
        self.refuse = refuse

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolver.addresses(host, port)
        if self.refuse is not None:
            try:
                self.refuse(host, addresses)
            except ConnectionRefusedError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        for index, address in enumerate(addresses):
            try:
                transport, protocol = await loop.create_connection(
                    _Protocol, address, port, local_addr=local
                )
                break
            except OSError as exc:
                if index == len(addresses) - 1:
                    raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _Stream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Webhooks are not delivered over Unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class OneConnection:
    """What :class:`EndpointTransport` sends through in place of httpcore's connection pool:
    one :class:`httpcore.AsyncHTTPConnection`, kept alive, replaced when it closed (either
    side, or a request cancelled mid-way), expired (:data:`KEEPALIVE_SECONDS` idle) or the
    endpoint's URL moved to another origin. One request at a time (one event is in flight
    per endpoint): the pool's queue, locks and bookkeeping on every request and every
    response's close are not needed."""

    def __init__(self, ssl_context: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend):
        self._ssl_context = ssl_context
        self._backend = backend
        self._connection: httpcore.AsyncHTTPConnection | None = None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on the connection (a new one when it cannot take it).

        Raises:
            httpcore.UnsupportedProtocol: not an ``http``/``https`` URL with a host.
            httpcore.ConnectError, httpcore.ReadError, httpcore.WriteError, …: as httpcore.
        """
        url = request.url
        if url.scheme not in (b"http", b"https") or not url.host:
            raise httpcore.UnsupportedProtocol(f"Cannot send a request to {url!r}.")
        origin = url.origin
        connection = self._connection
        if connection is not None and (
            connection.is_closed()
            or connection.has_expired()
            or not connection.can_handle_request(origin)
        ):
            self._connection = None
            await connection.aclose()
            connection = None
        for last in (False, True):
            if connection is None:
                connection = self._connection = httpcore.AsyncHTTPConnection(
                    origin=origin,
                    ssl_context=self._ssl_context,
                    keepalive_expiry=KEEPALIVE_SECONDS,
                    network_backend=self._backend,
                )
            try:
                return await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:  # it closed meanwhile: once more, anew
                self._connection = None
                await connection.aclose()
                connection = None
                if last:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class EndpointTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP transport over one kept-alive connection (:class:`OneConnection`) on
    :class:`AsyncioBackend`; ``ssl_context``: shared by the worker's endpoints; ``refuse``:
    the backend's check of the addresses it connects to."""

    def __init__(
        self, ssl_context: ssl.SSLContext, resolver: Resolver, refuse: Refuse | None = None
    ) -> None:
        super().__init__(verify=ssl_context)
        # httpx builds an httpcore pool, with no way to name its network backend or to do
        # without it
        backend = AsyncioBackend(resolver, refuse)
        self._pool = OneConnection(ssl_context, backend)  # type: ignore[assignment]


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP transport with httpcore's connection pool on :class:`AsyncioBackend`: what
    is sent outside the endpoints' queues (a test event, a redelivery) is resolved, checked
    and connected as the queues' deliveries are. Its own :class:`Resolver`, closed with it."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        refuse: Refuse | None,
        *,
        connections: int,
        kept_alive: int,
    ) -> None:
        super().__init__(verify=ssl_context)
        self.resolver = Resolver()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=connections,
            max_keepalive_connections=kept_alive,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=AsyncioBackend(self.resolver, refuse),
        )

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.resolver.aclose()


async def send(
    via: httpx.AsyncClient | httpx.AsyncBaseTransport, request: httpx.Request
) -> httpx.Response:
    """Send ``request`` through a client or straight through a transport; the answer (its
    status and headers: its body is read up to :data:`RESPONSE_BYTES` and dropped, so that a
    short one leaves its connection to be kept alive, and a longer one's is closed).

    Raises:
        httpx.HTTPError: the request failed (no answer).
    """
    if isinstance(via, httpx.AsyncClient):
        response = await via.send(request, stream=True)
    else:
        response = await via.handle_async_request(request)
    try:
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= RESPONSE_BYTES:
                break
    finally:
        await response.aclose()
    return response

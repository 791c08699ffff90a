"""The HTTP transport of an endpoint's queue (``graph/webhook_http.py``) over TLS, as receivers
in production are served (https only): requests on one kept-alive connection, a new one when
the receiver closed it, a certificate the system does not trust refused. Against a real local
TLS server with a certificate made for the test."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graph.resolvers.webhook import is_public
from graph.webhook_http import EndpointTransport, PooledTransport, Resolver, send
from graph.webhooks import retry_after

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def resolver():
    """What the worker's deliverer shares among its endpoints' transports."""
    owned = Resolver()
    yield owned
    await owned.aclose()


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_requests_over_tls_reuse_one_connection_and_reconnect(tmp_path, resolver):
    cert, key = _certificate(tmp_path)
    bodies: list[bytes] = []
    connections = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):  # two requests a connection, then the receiver closes it
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            bodies.append(await reader.readexactly(length))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
        writer.close()

    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/hook"
    transport = EndpointTransport(ssl.create_default_context(cafile=str(cert)), resolver)
    try:
        statuses = []
        for index in range(5):
            request = httpx.Request("POST", url, content=b'{"n":%d}' % index)
            statuses.append((await send(transport, request)).status_code)
            await asyncio.sleep(0.05)  # the receiver's close reaches the client
        assert statuses == [204] * 5
        assert bodies == [b'{"n":%d}' % index for index in range(5)]
        assert connections == 3  # kept alive for two requests each, then opened again

        untrusting = EndpointTransport(ssl.create_default_context(), resolver)  # system CAs only
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await send(untrusting, httpx.Request("POST", url, content=b"{}"))
        await untrusting.aclose()
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("through", ["queue", "client"])
async def test_an_endless_answer_is_read_up_to_its_limit_then_dropped(through, resolver):
    """A receiver answering 200 with a body of 100 GB, streamed for ever: the delivery takes
    its status at once, reads at most ``RESPONSE_BYTES`` and closes the connection. Read whole,
    it filled the worker's memory until the timeout (1.4 GB in 5 s; a helper's review)."""
    written = 0
    closed = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n")
        chunk = bytes(65536)
        try:
            while True:
                writer.write(chunk)
                await writer.drain()
                written += len(chunk)
        except ConnectionError:
            pass
        finally:
            writer.close()
            closed.set()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    context = ssl.create_default_context()
    via = (
        EndpointTransport(context, resolver)
        if through == "queue"
        else httpx.AsyncClient(
            transport=PooledTransport(context, None, connections=2, kept_alive=1)
        )
    )
    try:
        async with asyncio.timeout(5):
            response = await send(via, httpx.Request("POST", url, content=b"{}"))
            await closed.wait()  # the connection was dropped
        assert response.status_code == 200
        # what the receiver got written before the connection went: the bytes read, the
        # client's buffer, the sockets' (a few MB at most), not the whole body
        assert written < 16 * 2**20, written
    finally:
        await via.aclose()
        server.close()
        await server.wait_closed()


async def test_an_unreadable_retry_after_is_no_retry_after():
    for value in ("1 Jan 2020 1:1:1 +99999999999999999999", "soon", "", "²"):
        # as a receiver's bytes (UTF-8): "²" is a digit to str.isdigit, not to float
        headers = [(b"retry-after", value.encode())]
        assert retry_after(httpx.Response(503, headers=headers)) is None
    assert retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("fec0::1", False),  # site-local
        ("::1", False),
        ("169.254.169.254", False),
    ],
)
async def test_which_addresses_deliveries_may_connect_to(address, public):
    assert is_public(ipaddress.ip_address(address)) is public

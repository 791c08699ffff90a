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

from graph.webhook_http import EndpointTransport, send

pytestmark = pytest.mark.asyncio(loop_scope="session")


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


async def test_requests_over_tls_reuse_one_connection_and_reconnect(tmp_path):
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
    transport = EndpointTransport(ssl.create_default_context(cafile=str(cert)))
    try:
        statuses = []
        for index in range(5):
            request = httpx.Request("POST", url, content=b'{"n":%d}' % index)
            statuses.append((await send(transport, request)).status_code)
            await asyncio.sleep(0.05)  # the receiver's close reaches the client
        assert statuses == [204] * 5
        assert bodies == [b'{"n":%d}' % index for index in range(5)]
        assert connections == 3  # kept alive for two requests each, then opened again

        untrusting = EndpointTransport(ssl.create_default_context())  # the system's CAs only
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await send(untrusting, httpx.Request("POST", url, content=b"{}"))
        await untrusting.aclose()
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()

"""Upgrade requests at the edges of HTTP, sent on the wire to a served app in both
``INBOX_GRAPH_WS_COMPRESSION`` modes: what h11 refuses is refused with
:class:`graph.ws_compression.FastHandshake` too, a ``Host`` that is not a host name gets a 400
(not a dropped connection and a traceback), and an offer of ``permessage-deflate`` with a
parameter value that is not a number is declined (RFC 7692 5), not a dropped connection."""

from __future__ import annotations

import socket

import pytest

from tests.support import serve


@pytest.fixture(scope="module", params=["off", "bounded"])
def server(request, server_env):
    served = serve({**server_env, "INBOX_GRAPH_WS_COMPRESSION": request.param})
    yield served
    served.stop()


def _answer(served, lines: list[bytes], host: bytes | None = None) -> bytes:
    """The head of the server's answer to a GET /graphql upgrade with ``lines`` added."""
    head = [
        b"GET /graphql HTTP/1.1",
        b"Host: " + (host or b"127.0.0.1:%d" % served.port),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Protocol: graphql-transport-ws",
        *lines,
    ]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def _no_traceback(served) -> None:
    with open(served.log_path) as log:
        assert "Traceback" not in log.read()


@pytest.mark.parametrize(
    "lines",
    [
        [b"Host: other.example"],  # two Hosts (RFC 9112 3.2: 400)
        [b"Transfer-Encoding: gzip"],  # a coding h11 cannot read
    ],
    ids=["two-hosts", "transfer-encoding"],
)
def test_requests_h11_refuses_are_refused(server, lines):
    assert _answer(server, lines).startswith(b"HTTP/1.1 400 ")
    assert _answer(server, []).startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize("host", ["b\u00fccher.example".encode("latin-1"), "b\u00fccher".encode()])
def test_a_host_that_is_not_a_host_name_gets_400(server, host):
    answer = _answer(server, [], host=host)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    _no_traceback(server)
    assert _answer(server, []).startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize("value", [b"abc", b'"10"', b""])
def test_a_deflate_offer_with_a_bad_value_is_declined(server, value):
    offer = b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=" + value
    answer = _answer(server, [offer])
    assert answer.startswith(b"HTTP/1.1 101 "), answer
    assert b"sec-websocket-extensions" not in answer.lower()
    _no_traceback(server)

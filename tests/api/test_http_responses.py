"""An HTTP answer reaches the client whole, in one TCP segment (issue 23, ``graph.server``):
uvicorn wrote a response's head and its body apart, two segments on the wire, and a client
(a browser, a benchmark's) woken twice, reading a head without its body first. What a client
counts: the data segments its socket received for one answer (Linux's ``TCP_INFO``), on a
kept-alive connection. A ``HEAD`` request, a client waiting for ``100 Continue`` and an
answer closing the connection are still answered as HTTP says."""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="TCP_INFO's data segment count is Linux's"
)

DATA_SEGS_IN = 152
"""Offset of ``tcpi_data_segs_in`` in Linux's ``struct tcp_info`` (since Linux 4.6)."""


def data_segments(sock: socket.socket) -> int:
    """The segments carrying data ``sock`` has received."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < DATA_SEGS_IN + 4:
        pytest.skip("this kernel's TCP_INFO has no data segment count")
    return struct.unpack_from("I", info, DATA_SEGS_IN)[0]


def request(method: str, path: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", *headers]
    if body:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_answer(sock: socket.socket, head_only: bool = False) -> tuple[bytes, bytes]:
    """One answer's head and body (by its ``content-length``; none when ``head_only``)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while not head_only and len(body) < length:
        body += sock.recv(65536)
    return head, body


def graphql(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


@pytest.fixture
def connection(served):
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    yield sock
    sock.close()


def segments_of_answer(sock: socket.socket, sent: bytes) -> tuple[int, bytes, bytes]:
    before = data_segments(sock)
    sock.sendall(sent)
    head, body = read_answer(sock)
    time.sleep(0.05)  # anything still coming of this answer arrives and is counted
    return data_segments(sock) - before, head, body


@pytest.mark.parametrize(
    "sent, status",
    [
        (request("POST", "/graphql", graphql("{ __typename }")), b"200"),
        (request("GET", "/graphql?query=%7B__typename%7D"), b"200"),
        (request("POST", "/graphql", b"{not json"), b"400"),
        (
            request("POST", "/graphql", graphql("{ conversations(first: 5) { totalCount } }")),
            b"200",
        ),
        (request("GET", "/healthz"), b"200"),
    ],
    ids=["query", "get", "bad-json", "unauthenticated", "healthz"],
)
def test_an_answer_arrives_in_one_segment(connection, sent, status):
    for _ in range(3):  # on a kept-alive connection, every time
        segments, head, body = segments_of_answer(connection, sent)
        assert head.split(b" ")[1] == status, head
        assert body.startswith(b"{") and body.endswith(b"}"), body
        assert segments == 1, f"{segments} segments for {head.splitlines()[0]!r}"


def test_a_head_request_gets_its_head_and_no_body(connection):
    connection.sendall(request("HEAD", "/healthz"))
    head, _ = read_answer(connection, head_only=True)
    assert head.startswith(b"HTTP/1.1 ") and b"content-length" in head.lower()
    # the connection goes on: the next answer is the next request's, not a body
    segments, head, body = segments_of_answer(
        connection, request("POST", "/graphql", graphql("{ __typename }"))
    )
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["data"] == {"__typename": "Query"}
    assert segments == 1


def test_a_client_expecting_100_continue_gets_it_before_the_answer(connection):
    body = graphql("{ __typename }")
    head = request("POST", "/graphql", body, "expect: 100-continue")[: -len(body)]
    connection.sendall(head)
    interim = b""
    while b"\r\n\r\n" not in interim:
        interim += connection.recv(65536)
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    connection.sendall(body)
    answer_head, answer = read_answer(connection)
    assert answer_head.startswith(b"HTTP/1.1 200"), answer_head
    assert json.loads(answer)["data"] == {"__typename": "Query"}


def test_an_answer_closing_the_connection_arrives_whole(connection):
    connection.sendall(request("POST", "/graphql", graphql("{ __typename }"), "connection: close"))
    head, body = read_answer(connection)
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["data"] == {"__typename": "Query"}
    assert connection.recv(65536) == b""  # then closed

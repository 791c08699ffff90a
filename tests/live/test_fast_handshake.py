"""``graph.ws_compression.FastHandshake`` answers every upgrade request uvicorn hands over
with the same bytes as wsproto's own h11 handshake: the 101 (subprotocol, extensions), the
rejections (403, a denial response), and the 400 or 426 of a malformed request."""

from __future__ import annotations

import pytest
import wsproto
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol
from wsproto.utilities import RemoteProtocolError

from graph.ws_compression import BoundedPerMessageDeflate, FastHandshake

HEAD = [
    (b"host", b"127.0.0.1:8000"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
    (b"sec-websocket-protocol", b"graphql-transport-ws"),
    (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    (b"origin", b"https://app.example"),
]
EXTRA = [(b"date", b"Sat, 05 Dec 2026 05:00:00 GMT"), (b"server", b"uvicorn")]


def _upgrade_request(headers, target: bytes = b"/graphql?x=1") -> bytes:
    """The request as uvicorn's httptools protocol writes it again for the WebSocket protocol."""
    lines = [b"GET " + target + b" HTTP/1.1\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join(lines) + b"\r\n"


def _server(fast: bool) -> wsproto.WSConnection:
    connection = wsproto.WSConnection(ConnectionType.SERVER)
    if fast:
        connection.handshake = FastHandshake(ConnectionType.SERVER)
    return connection


def _both(data: bytes):
    """Both servers fed ``data``, with the events each saw."""
    servers = [_server(False), _server(True)]
    seen = []
    for server in servers:
        server.receive_data(data)
        seen.append(list(server.events()))
    return servers, seen


@pytest.mark.parametrize("deflate", [False, True])
def test_the_101_and_the_frames_after_it_are_wsprotos(deflate):
    (plain, fast), (plain_events, fast_events) = _both(_upgrade_request(HEAD))
    assert fast_events == plain_events and isinstance(fast_events[0], Request)
    answers = []
    for server in (plain, fast):
        extensions = [BoundedPerMessageDeflate()] if deflate else []
        accept = AcceptConnection(
            subprotocol="graphql-transport-ws", extensions=extensions, extra_headers=EXTRA
        )
        answers.append(server.send(accept) + server.send(TextMessage('{"type":"ping"}' * 3)))
    assert answers[1] == answers[0]
    assert b"101 Switching Protocols" in answers[1]
    assert (b"permessage-deflate" in answers[1]) is deflate
    assert fast.state is plain.state


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [(b"X-Mixed-Case", b"kept as written"), (b"x-empty", b"")],
        [("x-text", "a str, as h11 takes it")],
        [(b"x-bad", b"one\r\nx-injected: two")],
        [(b"x-bad", b" padded ")],
        [(b"bad name", b"value")],
        [(b"content-length", b"0")],
    ],
)
def test_the_101_with_any_extra_headers_is_wsprotos_or_its_refusal(extra):
    (plain, fast), _ = _both(_upgrade_request(HEAD))
    answers = []
    for server in (plain, fast):
        accept = AcceptConnection(subprotocol="graphql-transport-ws", extra_headers=extra)
        try:
            answers.append(server.send(accept))
        except Exception as exc:  # noqa: BLE001 - compared: the same refusal from both
            answers.append(type(exc))
    assert answers[1] == answers[0]


def test_a_subprotocol_the_client_did_not_offer_is_refused_as_wsproto_refuses_it():
    (plain, fast), _ = _both(_upgrade_request(HEAD))
    refusals = []
    for server in (plain, fast):
        with pytest.raises(Exception) as raised:
            server.send(AcceptConnection(subprotocol="graphql-ws", extra_headers=EXTRA))
        refusals.append((type(raised.value), str(raised.value)))
    assert refusals[1] == refusals[0]


@pytest.mark.parametrize(
    "reject",
    [
        RejectConnection(status_code=403, headers=[]),
        RejectConnection(
            status_code=401, headers=[(b"content-type", b"text/plain")], has_body=True
        ),
    ],
)
def test_a_rejection_is_wsprotos(reject):
    (plain, fast), _ = _both(_upgrade_request(HEAD))
    answers = []
    for server in (plain, fast):
        data = server.send(reject)
        if reject.has_body:
            data += server.send(RejectData(data=b"no", body_finished=True))
        answers.append(data)
    assert answers[1] == answers[0] and answers[1].startswith(b"HTTP/1.1 40")


@pytest.mark.parametrize(
    "missing", [b"sec-websocket-key", b"sec-websocket-version", b"upgrade", b"host"]
)
def test_a_malformed_upgrade_gets_wsprotos_answer(missing):
    data = _upgrade_request([(n, v) for n, v in HEAD if n != missing])
    answers = []
    for fast in (False, True):
        server = _server(fast)
        with pytest.raises(RemoteProtocolError) as raised:
            server.receive_data(data)
        answers.append(server.send(raised.value.event_hint))
    assert answers[1] == answers[0] and answers[1].startswith(b"HTTP/1.1 4")


def test_what_h11_must_read_goes_to_h11():
    # not the shape uvicorn writes (an HTTP/1.0 line): parsed by h11 as before
    data = _upgrade_request(HEAD).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    (_, _), (plain_events, fast_events) = _both(data)
    assert fast_events == plain_events
    # more bytes before the answer: h11 reads the request first, then them
    (plain, fast), _ = _both(_upgrade_request(HEAD))
    early = FrameProtocol(client=True, extensions=[]).send_data('{"type":"connection_init"}')
    for server in (plain, fast):
        server.receive_data(early)
        assert list(server.events()) == []
    assert fast.send(AcceptConnection(extra_headers=EXTRA)) == plain.send(
        AcceptConnection(extra_headers=EXTRA)
    )
    assert fast.send(CloseConnection(code=1000)) == plain.send(CloseConnection(code=1000))

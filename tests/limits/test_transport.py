"""Hostile transport input (issue 16, part 4): JSON nested deeper than the limit
(``graph.app.MAX_JSON_DEPTH``) is refused on every transport with a code (400 over HTTP,
4400 over WebSocket), deep GraphQL documents get coded errors; idle and slow connections are
closed after the header timeout and connections beyond the maximum are refused at once
(``graph.server``), so that they cannot starve other clients; nothing reaches the server log
as a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from graph.server import LINGER_SECONDS, MAX_PIPELINED
from tests.support import open_socket, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 64  # graph.app.MAX_JSON_DEPTH
TYPENAME = "{ __typename }"
CREATE_INBOX = (
    'mutation($f: ConversationFilter!) { createCustomInbox(input: {name: "x", filter: $f}) { id } }'
)


HEADER_TIMEOUT = 4
"""Long enough that a plain client is answered well before it closes an idle or slow
connection, even on a loaded machine (with 1.5 s, a plain answer took 1.08 s once)."""
KEEP_ALIVE = 1
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def guarded(server_env):
    """A server of its own, with short timeouts and few connections, so that its log holds
    only what this module did."""
    server = serve(
        {
            **server_env,
            "INBOX_GRAPH_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "INBOX_GRAPH_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
            "INBOX_GRAPH_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        }
    )
    yield server
    server.stop()


def nested(levels: int) -> str:
    """A JSON array nested ``levels`` deep."""
    return "[" * levels + "]" * levels


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def post(served, content: str, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(served.http_url, content=content.encode(), headers=headers)


def assert_refused_as_too_deep(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert f"deeper than {LIMIT} levels" in body["errors"][0]["message"], body


@pytest.mark.parametrize("levels", [LIMIT - 1, 1000, 100_000])
async def test_nested_json_in_a_post_body_is_a_coded_400(guarded, levels):
    """About 1,000 levels made the standard library's decoder raise RecursionError: 500
    text/plain and a traceback."""
    # the body object and `variables` are two levels
    body = f'{{"query": "{TYPENAME}", "variables": {{"a": {nested(levels)}}}}}'
    assert_refused_as_too_deep(await post(guarded, body))
    assert_refused_as_too_deep(await post(guarded, nested(levels + 2)))


async def test_json_as_deep_as_the_limit_is_served(guarded):
    body = f'{{"query": "{TYPENAME}", "variables": {{"a": {nested(LIMIT - 2)}}}}}'
    response = await post(guarded, body)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json() and response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("parameter", ["variables", "extensions"])
async def test_nested_json_in_a_get_is_a_coded_400(guarded, parameter):
    query = urlencode({"query": TYPENAME, parameter: f'{{"a": {nested(1000)}}}'})
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{guarded.http_url}?{query}")
    assert_refused_as_too_deep(response)


@pytest.mark.parametrize("levels", [1000, 100_000])
async def test_a_nested_json_frame_closes_the_websocket_with_4400(guarded, world, levels):
    """About 1,000 levels dropped the socket without a close frame (1006)."""
    socket = await open_socket(guarded, world.tokens["owner"])
    try:
        await socket.send(f'{{"type": "ping", "payload": {{"a": {nested(levels)}}}}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    finally:
        await socket.close()
    # a frame as deep as the limit is answered
    socket = await open_socket(guarded, world.tokens["owner"])
    try:
        await socket.send(f'{{"type": "ping", "payload": {{"a": {nested(LIMIT - 2)}}}}}')
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong"}
    finally:
        await socket.close()


CONTAINERS = 2_000  # graph.app.MAX_JSON_CONTAINERS


async def test_json_of_more_arrays_and_objects_than_the_limit_is_a_coded_400(guarded, world):
    """More than 2,000 arrays and objects in a request's JSON are refused before anything
    converts them: 1 MiB of custom inbox filter nodes (61,000) held the worker for 2 s, with
    or without a token (a helper's review). As many as the limit are served."""
    huge = {"any": [{"blocked": True}] * 61_000}
    for token in (world.tokens["owner"], None):
        started = time.monotonic()
        body = {"query": CREATE_INBOX, "variables": {"f": huge}}
        response = await post(guarded, json.dumps(body, separators=(",", ":")), token)
        assert response.status_code == 400, response.text[:300]
        assert codes(response.json()) == ["BAD_USER_INPUT"], response.text[:300]
        assert "more than 2,000 arrays and objects" in response.json()["errors"][0]["message"]
        assert time.monotonic() - started < 1.5  # it was 2 s of the worker's CPU alone
    # the body, its variables and the list: exactly the limit
    at_limit = {"query": TYPENAME, "variables": {"a": [{}] * (CONTAINERS - 3)}}
    response = await post(guarded, json.dumps(at_limit))
    assert response.status_code == 200, response.text[:300]
    payload = {"query": TYPENAME, "variables": {"a": [{}] * CONTAINERS}}
    frame = json.dumps({"id": "1", "type": "subscribe", "payload": payload})
    await closes_with_4400(guarded, world.tokens["owner"], frame)
    await served_normally(guarded)


async def closes_with_4400(served, token: str, frame: str) -> None:
    """Send ``frame`` on a socket past ``connection_ack``: the server closes it with 4400."""
    socket = await open_socket(served, token)
    try:
        await socket.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    finally:
        await socket.close()


LONG_INTEGER = "1" + "0" * 4400
"""More digits than Python converts to an int (``sys.get_int_max_str_digits``: 4,300)."""


async def test_an_integer_longer_than_python_converts_is_malformed_json(guarded, world):
    """A JSON integer of 4,401 digits, anywhere a request's JSON is read, is malformed JSON:
    400 ``BAD_USER_INPUT`` over HTTP, 4400 over WebSocket (a helper's review: the standard
    library's ValueError was a 500 with a traceback, and a socket dropped with 1006)."""
    for response in (
        await post(guarded, f'{{"query": "{TYPENAME}", "x": {LONG_INTEGER}}}'),
        await post(guarded, f'{{"query": "{TYPENAME}", "variables": {{"a": {LONG_INTEGER}}}}}'),
    ):
        assert response.status_code == 400, response.text
        assert codes(response.json()) == ["BAD_USER_INPUT"], response.text
        assert "more than 4,300 digits" in response.json()["errors"][0]["message"]
    query = urlencode({"query": TYPENAME, "variables": f'{{"a": {LONG_INTEGER}}}'})
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{guarded.http_url}?{query}")
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_USER_INPUT"], response.text
    payload = {"query": "subscription { conversationListChanged { sequence } }"}
    frame = json.dumps({"id": "1", "type": "subscribe", "payload": payload})
    await closes_with_4400(guarded, world.tokens["owner"], frame[:-1] + f', "x": {LONG_INTEGER}}}')
    await served_normally(guarded)


def filter_nested(groups: int) -> dict:
    """A custom inbox filter of ``groups`` nested ``all`` groups."""
    node: dict = {"blocked": True}
    for _ in range(groups):
        node = {"all": [node]}
    return node


def create_inbox_literal(groups: int) -> str:
    """``createCustomInbox`` with a literal filter of ``groups`` nested ``all`` groups."""
    node = "{all: [" * groups + "{blocked: true}" + "]}" * groups
    return f'mutation {{ createCustomInbox(input: {{name: "x", filter: {node}}}) {{ id }} }}'


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{" + "a {" * 1000 + "b" + "}" * 1000 + "}", "GRAPHQL_PARSE_FAILED"),
        ("{ node(id: " + "[" * 1000 + "]" * 1000 + ") { id } }", "GRAPHQL_PARSE_FAILED"),
        ("{ node(id: " + "{a: " * 500 + "1" + "}" * 500 + ") { id } }", "GRAPHQL_PARSE_FAILED"),
        (create_inbox_literal(300), "GRAPHQL_PARSE_FAILED"),
        (create_inbox_literal(60), "BAD_USER_INPUT"),
        ("{" + "a {" * 150 + "b" + "}" * 150 + "}", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ ...f0 } "
            + " ".join(f"fragment f{i} on Query {{ ...f{i + 1} }}" for i in range(300))
            + " fragment f300 on Query { __typename }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        # an Int literal of more digits than Python converts (4,300) raised ValueError inside
        # graphql-core's validation: a masked INTERNAL_SERVER_ERROR and a traceback
        (
            "{ conversations(inbox: {standard: ALL}, first: 1" + "0" * 4400 + ") { totalCount } }",
            "GRAPHQL_PARSE_FAILED",
        ),
    ],
    ids=[
        "selections",
        "list-literal",
        "object-literal",
        "input-literal",
        "input-literal-60",
        "selections-150",
        "fragment-chain",
        "long-int-literal",
    ],
)
async def test_deep_graphql_documents_get_coded_errors(guarded, world, query, code):
    """graphql-core's parser stops nesting at 200 levels and its validation at fragment chains
    as long (below the limit of 4,000 tokens, which would stop them too): every such document
    is a coded error, over HTTP and over WebSocket (an ``error`` frame), where a syntax error
    used to leave a traceback in the log and a bare ``complete``."""
    response = await post(guarded, json.dumps({"query": query}), world.tokens["owner"])
    assert response.status_code in (200, 400), response.text
    assert set(codes(response.json())) == {code}, response.text[:500]

    socket = await open_socket(guarded, world.tokens["owner"])
    try:
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if code.startswith("GRAPHQL_"):
            # the operation never ran: an `error` frame (strawberry closed the socket with 4400)
            assert message["type"] == "error", message
            errors = message["payload"]
        else:  # it ran, and its resolver refused the input: a field error in `next`
            assert message["type"] == "next", message
            errors = message["payload"]["errors"]
        assert {e["extensions"]["code"] for e in errors} == {code}, message
    finally:
        await socket.close()


@pytest.mark.parametrize("groups", [6, LIMIT // 2 - 3])
async def test_deeply_nested_input_variables_are_bad_user_input(guarded, world, groups):
    """Variables as deep as the JSON limit allows reach the input coercion and the filter's
    own limit (5 groups): BAD_USER_INPUT, never a crash."""
    response = await post(
        guarded,
        json.dumps({"query": CREATE_INBOX, "variables": {"f": filter_nested(groups)}}),
        world.tokens["owner"],
    )
    assert response.status_code == 200, response.text
    assert codes(response.json()) == ["BAD_USER_INPUT"], response.text[:500]


async def served_normally(served, while_open: asyncio.Task | None = None) -> None:
    """A plain client gets ``{ __typename }`` answered (its own timeout, 10 s, guards against a
    hang); with ``while_open`` (a :func:`closed_after` task of a hostile connection), answered
    while that connection is still open: not starved until the server closes it."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(served.http_url, json={"query": TYPENAME})
    body = response.json()
    assert "errors" not in body and body["data"] == {"__typename": "Query"}, response.text
    if while_open is not None:
        assert not while_open.done(), "answered only once the hostile connection was closed"


async def closed_after(
    reader: asyncio.StreamReader, limit: float = 10, started: float | None = None
) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and after how many seconds since
    ``started`` (a ``time.monotonic()`` reading; default: now). Callers that do other work
    before this task first runs pass the moment the connection opened, so a busy machine
    delaying the task does not shorten the measured time."""
    started = time.monotonic() if started is None else started
    received = await asyncio.wait_for(reader.read(), limit)
    return received, time.monotonic() - started


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 2\r\nContent-Length: 3\r\n",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 1e3\r\n",
    ],
    ids=["two-lengths", "length-and-chunked", "negative", "not-a-number"],
)
async def test_a_request_that_is_not_http_is_a_coded_400_in_json(guarded, head):
    """HTTP framing the parser refuses is answered like the protocol's 431 and 503: a
    GraphQL-shaped error with a code, in JSON (uvicorn's was plain text; a helper's review)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + head
            + b"\r\n{}"
        )
        await writer.drain()
        received, _ = await closed_after(reader)
    finally:
        writer.close()
    status, _, rest = received.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 Bad Request", received[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers.lower(), headers
    assert codes(json.loads(body)) == ["BAD_USER_INPUT"], body
    await served_normally(guarded)


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(guarded):
    """uvicorn started no timer on a new connection: an idle socket stayed open for ever."""
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    opened = time.monotonic()
    try:
        closing = asyncio.create_task(closed_after(reader, started=opened))
        await served_normally(guarded, while_open=closing)
        received, seconds = await closing
        assert received == b""
        assert HEADER_TIMEOUT - 0.2 < seconds < HEADER_TIMEOUT + 2, seconds
    finally:
        writer.close()


async def test_a_slowloris_sender_is_closed_after_the_header_timeout(guarded):
    """A client sending a header line every half second never completes its request head:
    it is closed after the header timeout however much it keeps sending."""
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)

    async def dribble() -> None:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for line in range(20):
            await asyncio.sleep(0.5)
            writer.write(b"X-Slow-%d: 1\r\n" % line)
            await writer.drain()

    dribbling = asyncio.create_task(dribble())
    try:
        closing = asyncio.create_task(closed_after(reader))
        await asyncio.sleep(0.6)
        await served_normally(guarded, while_open=closing)
        received, seconds = await closing
        assert received == b""
        assert seconds < HEADER_TIMEOUT + 2, seconds
        assert not dribbling.done(), "the slow client had stopped sending before"
    finally:
        dribbling.cancel()
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(guarded):
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(
            next(line for line in head.split(b"\r\n") if line.startswith(b"content-length")).split(
                b":"
            )[1]
        )
        await reader.readexactly(length)
        received, seconds = await closed_after(reader)
        assert received == b""
        assert KEEP_ALIVE - 0.2 < seconds < KEEP_ALIVE + 2, seconds
    finally:
        writer.close()


async def test_connections_over_the_maximum_are_refused_and_idle_ones_do_not_lock_others_out(
    guarded,
):
    """With 1,024 descriptors, 1,100 idle sockets locked every other client out. Here the
    sockets over the maximum are answered 503 at once and closed; the others are closed after
    the header timeout, and then a plain client is served."""
    sockets = []  # (reader, writer, when it was opened)
    for _ in range(2 * MAX_CONNECTIONS):
        sockets.append(
            (*await asyncio.open_connection("127.0.0.1", guarded.port), time.monotonic())
        )
    try:
        outcomes = await asyncio.gather(
            *(closed_after(reader, started=opened) for reader, _, opened in sockets)
        )
        # told by what they received, not by when (a loaded machine may take over a second
        # to open and answer 40 sockets): the refused got an answer at once, before the header
        # timeout closed the others silently
        refused = [received for received, _ in outcomes if received]
        timed_out = [seconds for received, seconds in outcomes if not received]
        assert len(refused) >= MAX_CONNECTIONS and len(timed_out) <= MAX_CONNECTIONS, outcomes
        assert all(seconds > HEADER_TIMEOUT - 0.2 for seconds in timed_out), timed_out
        ended = [
            (bool(received), opened + seconds)
            for (_, _, opened), (received, seconds) in zip(sockets, outcomes, strict=True)
        ]
        last_refusal = max(at for answered, at in ended if answered)
        assert all(last_refusal < at for answered, at in ended if not answered), outcomes
        for received in refused:
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), received
            assert b"retry-after: 1" in head.lower(), received
            assert json.loads(body)["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        for _, writer, _ in sockets:
            writer.close()
    await served_normally(guarded)


async def test_a_head_under_the_limit_is_served_however_its_headers_are_spaced(guarded):
    """``name:value`` without the space after the colon, 7,000 of them in one write: 61,924
    bytes, under the limit (counted as if spaced, they were over it and refused 431)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"".join(b"a%d:b\r\n" % line for line in range(7000)) + b"\r\n"
    assert len(head) < 64 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        writer.close()


OVERSIZED_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(
    b"X-Pad-%d: %s\r\n" % (line, b"a" * 1000) for line in range(100)
)


@pytest.mark.parametrize("whole", [False, True], ids=["unfinished", "whole"])
async def test_a_request_head_over_the_limit_is_refused_with_431(guarded, whole):
    """httptools has no limit on the size of a request head (16 MB of headers were read).
    ``whole``: the head ends in the bytes the server reads at once (100 KB of headers in one
    write were served: only a head still unfinished after a read was measured)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        if whole:  # in one write
            writer.write(OVERSIZED_HEAD + b"\r\n")
        else:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for line in range(100):
                writer.write(b"X-Pad-%d: %s\r\n" % (line, b"a" * 1000))
        await writer.drain()
        received, _ = await closed_after(reader)
        assert received.startswith(b"HTTP/1.1 431"), received
        assert json.loads(received.partition(b"\r\n\r\n")[2])["errors"][0]["extensions"][
            "code"
        ] == ("BAD_USER_INPUT")
    finally:
        writer.close()
    await served_normally(guarded)


NOT_HTTP = b"GARBAGE / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    ("following", "status"), [(OVERSIZED_HEAD, b"431"), (NOT_HTTP, b"400")], ids=["431", "400"]
)
async def test_a_pipelined_request_refused_is_answered_after_the_answer_before_it(
    guarded, following, status
):
    """A client pipelining, behind a request still running, a request whose head is over the
    limit (431) or that is not HTTP (uvicorn's 400) gets the running one's answer first, then
    the refusal: the refusal was written at once, before the answer to the request in flight
    (which the client then took for that request's answer, though it ran), and that answer
    was never written."""
    login = json.dumps(
        {
            "query": 'mutation($e: String!) { login(email: $e, password: "not the one") '
            "{ token } }",
            "variables": {"e": f"nobody-{time.monotonic_ns()}@example.test"},
        }
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        # the login runs a password check (tens of milliseconds at least): the next request
        # arrives while it runs
        # one write: the server reads the request and the next one's head in one chunk (as a
        # busy server does when both have arrived before it reads)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(login), login) + following
        )
        await writer.drain()
        received, _ = await closed_after(reader, limit=30)
    finally:
        writer.close()
    first, _, rest = received.partition(b"\r\n")
    assert first == b"HTTP/1.1 200 OK", received[:500]
    head, _, after = rest.partition(b"\r\n\r\n")
    length = next(
        int(line.partition(b":")[2])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    answer, refusal = json.loads(after[:length]), after[length:]
    assert codes(answer) == ["UNAUTHENTICATED"], answer
    assert refusal.startswith(b"HTTP/1.1 " + status), received[-500:]
    await served_normally(guarded)


async def test_a_websocket_upgrade_pipelined_behind_a_running_request_waits_for_its_answer(
    guarded,
):
    """An upgrade to a WebSocket pipelined behind a request still running is switched once
    that request's answer is written: uvicorn switched at once, so the 101 came first and the
    answer was written into the WebSocket, where the client reads frames."""
    login = json.dumps(
        {
            "query": 'mutation($e: String!) { login(email: $e, password: "not the one") '
            "{ token } }",
            "variables": {"e": f"nobody-{time.monotonic_ns()}@example.test"},
        }
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(login), login)
        )
        writer.write(
            b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200 OK"), head
        length = next(
            int(line.partition(b":")[2])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answer = json.loads(await asyncio.wait_for(reader.readexactly(length), 10))
        assert codes(answer) == ["UNAUTHENTICATED"], answer
        switched = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert switched.startswith(b"HTTP/1.1 101"), switched
        # a WebSocket now: a connection_init without a token is refused with 4403
        frame = json.dumps({"type": "connection_init", "payload": {}}).encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(frame))
        writer.write(bytes([0x81, 0x80 | len(frame)]) + mask + masked)
        await writer.drain()
        closing = await asyncio.wait_for(reader.readexactly(4), 10)
        assert closing[0] == 0x88 and int.from_bytes(closing[2:4], "big") == 4403, closing
    finally:
        writer.close()
    await served_normally(guarded)


PIPELINED = (
    b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Accept: application/json\r\n\r\n"
)


def answers(received: bytes) -> list[dict]:
    """The ``data`` of the complete HTTP responses in ``received``, in order."""
    found = []
    while received.startswith(b"HTTP/1.1 "):
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = next(
            int(line.partition(b":")[2])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        found.append(json.loads(rest[:length])["data"])
        received = rest[length:]
    assert received == b"", received[:200]  # nothing but whole answers
    return found


async def test_a_few_pipelined_requests_are_all_answered_and_the_connection_stays(guarded):
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    try:
        writer.write(PIPELINED * MAX_PIPELINED)
        await writer.drain()
        received = b""
        while received.count(b"HTTP/1.1 ") < MAX_PIPELINED or not received.endswith(b"}}"):
            received += await asyncio.wait_for(reader.read(65536), 10)
        assert answers(received) == [{"__typename": "Query"}] * MAX_PIPELINED
        writer.write(PIPELINED)  # kept alive
        await writer.drain()
        again = await asyncio.wait_for(reader.readuntil(b"}}}}"), 10)
        assert again.startswith(b"HTTP/1.1 200 OK"), again
    finally:
        writer.close()


async def test_a_client_pipelining_without_end_is_answered_in_part_then_closed(guarded):
    """uvicorn queued every pipelined request it parsed, and read on after each answer: one
    connection pipelining small requests as fast as it could grew the worker by gigabytes (97
    MB to 1.8 GB in 14 s, kept after it closed). At most MAX_PIPELINED are queued behind the
    running one; they are answered, whole and in order, and the connection is closed, the
    rest unread (the client retries it, as RFC 9112 asks of pipelining clients)."""
    pid = guarded.process.pid
    before = resident_bytes(pid)
    flooding = [asyncio.create_task(pipeline_for(guarded, 3.0)) for _ in range(4)]
    received = await asyncio.gather(*flooding)
    for each in received:
        got = answers(each)
        assert 1 <= len(got) <= 4 * (MAX_PIPELINED + 1), len(got)
        assert got == [{"__typename": "Query"}] * len(got)
    assert resident_bytes(pid) - before < 64 * 1024 * 1024, resident_bytes(pid) - before
    await served_normally(guarded)


def resident_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


async def pipeline_for(served, seconds: float) -> bytes:
    """Pipeline ``{ __typename }`` on one connection as fast as the server reads, for at most
    ``seconds``, reading the answers; what was received until the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    batch = PIPELINED * 500
    deadline = time.monotonic() + seconds

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            while time.monotonic() < deadline and not writer.is_closing():
                writer.write(batch)
                await writer.drain()

    sending = asyncio.create_task(send())
    try:
        received, _ = await closed_after(reader, limit=seconds + 20)
    except ConnectionError:  # reset: what still arrived was dropped (the server lingers)
        received = b""
    finally:
        sending.cancel()
        writer.close()
    return received


async def test_a_refused_client_that_goes_on_sending_is_closed_after_the_lingering_close(
    guarded,
):
    """A body over the limit is answered 413 at once; what the client still sends is dropped
    for ``LINGER_SECONDS`` (so the answer is not lost to a reset), then the connection is
    closed: a client sending for ever does not keep its descriptor."""
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    started = time.monotonic()
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (100 * 1024 * 1024)
        )
        received, _ = await closed_after(reader)  # the answer, then the server's half-close
        assert received.startswith(b"HTTP/1.1 413"), received
        with pytest.raises(ConnectionError):
            while time.monotonic() - started < LINGER_SECONDS + 10:
                writer.write(b"x" * 1024)
                await writer.drain()
                await asyncio.sleep(0.1)
        closed = time.monotonic() - started
    finally:
        writer.close()
    assert LINGER_SECONDS <= closed, closed
    await served_normally(guarded)


async def test_a_client_leaving_before_its_body_has_arrived_is_not_a_crash(guarded):
    """Its request could not be read: this logged a traceback (starlette's ClientDisconnect)."""
    _, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"query": '
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await asyncio.sleep(0.3)
    await served_normally(guarded)


async def test_the_server_log_has_no_traceback(guarded):
    """Last in this module: nothing above was logged as a crash."""
    await asyncio.sleep(0.5)
    text = await asyncio.to_thread(Path(guarded.log_path).read_text)
    assert "Traceback" not in text and "Exception in" not in text, text[-5000:]

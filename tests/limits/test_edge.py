"""No single client stalls the worker (issue 17, part 1): a document built to make validation
slow is refused before graphql-core validates it, password hashing runs off the event loop,
bodies and WebSocket messages have size limits, and a request has a time limit. Each attack
runs while a second client keeps asking ``{ me { id } }``: the test asserts that it keeps
getting answers while the attack goes on, within a bound (60 s for 30 answers) that the old
server missed by far (one bomb held the loop ~1 s, and each answer waited behind the four
attacking connections' bombs; 16 failed logins ~3 s, each answer behind a batch of them: some
90 to 120 s for 30 answers) and the new one meets on a quiet machine in a fraction of a second.
On a machine loaded to 15 runnable processes for 2 cores the server gets so little CPU that
30 answers took over 20 s (the bound was 20 s)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid

import asyncpg
import httpx
import pytest
import websockets

from tests.support import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

ME = "{ me { id } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"


def bomb() -> str:
    """About 10 KB, under the token limit, unique so that no cache helps."""
    return f"# {uuid.uuid4()}\n{{" + " me { id }" * 990 + "}"


async def keeps_answering(served, token: str, attack, *, answers: int = 30, within: float = 60):
    """Run ``attack`` (a coroutine function taking a stop event) while another client asks
    ``{ me { id } }`` one request after another; returns the attack's result once that client
    has had ``answers`` correct answers, failing if it has not within ``within`` seconds."""
    stop = asyncio.Event()
    attacking = asyncio.create_task(attack(stop))
    got = 0
    async with httpx.AsyncClient(timeout=within) as http:

        async def ask() -> None:
            nonlocal got
            while got < answers:
                response = await http.post(
                    served.http_url,
                    json={"query": ME},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                assert response.json()["data"]["me"]["id"]
                got += 1
                assert not attacking.done(), "the attack stopped before the client was done"

        try:
            await asyncio.wait_for(ask(), within)
        except TimeoutError:
            raise AssertionError(f"only {got} of {answers} answers in {within} s") from None
        finally:
            stop.set()
    return await attacking


async def test_a_validation_bomb_is_refused_before_validation_while_others_get_answers(
    served, world
):
    async def attack(stop: asyncio.Event) -> list[dict]:
        refusals: list[dict] = []
        async with httpx.AsyncClient(timeout=60) as http:

            async def one_connection() -> None:
                while not stop.is_set():
                    response = await http.post(served.http_url, json={"query": bomb()})
                    refusals.append(response.json())

            await asyncio.gather(*(one_connection() for _ in range(4)))
        return refusals

    refusals = await keeps_answering(served, world.tokens["owner"], attack)
    assert refusals
    for body in refusals:
        (error,) = body["errors"]
        assert error["extensions"] == {
            "code": "GRAPHQL_VALIDATION_FAILED",
            "limit": "fieldOverlaps",
            "maximum": 1000,
        }, error


@pytest.mark.parametrize(
    ("document", "limit"),
    [
        ("{ me { " + " ".join(f"f{i}: id" for i in range(1001)) + " } }", "fields"),
        ("{ me { " + " id" * 46 + " } }", "fieldOverlaps"),  # 1,035 pairs
        # fragments spreading fragments twice over: 2^11 selections from 60 bytes of each
        (
            " ".join(f"fragment F{i} on User {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(11))
            + " fragment F11 on User { id } { me { ...F0 } }",
            "fields",
        ),
    ],
)
async def test_documents_over_the_field_limits_are_refused_with_the_limit(
    served, world, document, limit
):
    body = await world.client("owner").execute(document)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
    assert error["extensions"]["limit"] == limit, error
    assert "data" not in body or body["data"] is None
    # named, as Apollo, urql and Relay send it: the same refusal, not "Unknown operation"
    named = document.replace("{ me {", "query Named { me {", 1)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            served.http_url,
            json={"query": named, "operationName": "Named"},
            headers={"Authorization": f"Bearer {world.tokens['owner']}"},
        )
    (error,) = response.json()["errors"]
    assert error["extensions"].get("limit") == limit, error


def commented(document: str, characters: int) -> str:
    """``document`` after a comment that makes it ``characters`` long."""
    padding = characters - len(document) - 3
    return f"# {'x' * padding}\n{document}"


async def test_a_document_longer_than_the_limit_is_refused_before_it_is_parsed(served, world):
    """The token limit counts no comment or string: a 1 MB comment beside a field cost 0.2 s
    of CPU to lex, for one point of an anonymous budget. Past 100,000 characters a document
    is refused before graphql-core reads it; one as long as the limit runs."""
    client = world.client("owner")
    for document in (commented(ME, 100_001), commented(ME, 1_000_000)):
        body = await client.execute(document)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED", error
        assert error["extensions"]["limit"] == "documentCharacters", error
        assert error["extensions"]["maximum"] == 100_000, error
        assert body.get("data") is None
    body = await client.execute(commented(ME, 100_000))
    assert not body.get("errors") and body["data"]["me"]["id"], body
    # named, as Apollo, urql and Relay send it: the same refusal, not "Unknown operation"
    async with httpx.AsyncClient(timeout=30) as http:
        named = "query Named " + ME
        response = await http.post(
            served.http_url,
            json={"query": commented(named, 200_000), "operationName": "Named"},
            headers={"Authorization": f"Bearer {world.tokens['owner']}"},
        )
    (error,) = response.json()["errors"]
    assert error["extensions"].get("limit") == "documentCharacters", error
    async with websockets.connect(
        served.ws_url, subprotocols=["graphql-transport-ws"], max_size=None
    ) as socket:
        init = {"authorization": f"Bearer {world.tokens['owner']}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        query = commented(ME, 200_000)
        await socket.send(
            json.dumps({"id": "long", "type": "subscribe", "payload": {"query": query}})
        )
        refused = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["limit"] == "documentCharacters", refused


async def test_what_real_clients_send_is_within_the_limits(served, world):
    # Apollo Client adds __typename to every selection set; Relay repeats `id` per fragment
    fragments = " ".join(f"fragment U{i} on User {{ id __typename name }}" for i in range(20))
    spreads = " ".join(f"...U{i}" for i in range(20))
    document = f"{fragments} query Viewer {{ me {{ __typename id {spreads} teams {{ id __typename name }} }} }}"
    body = await world.client("owner").execute(document)
    assert not body.get("errors"), body
    assert body["data"]["me"]["id"]


async def test_a_burst_of_failed_logins_does_not_hold_the_worker(served, world):
    async def attack(stop: asyncio.Event) -> list[list[str]]:
        outcomes: list[list[str]] = []
        async with httpx.AsyncClient(timeout=60) as http:

            async def fail() -> None:
                email = f"nobody-{uuid.uuid4().hex[:8]}@edge.test"
                response = await http.post(
                    served.http_url,
                    json={"query": LOGIN, "variables": {"e": email, "p": "wrong password"}},
                )
                outcomes.append([e["extensions"]["code"] for e in response.json()["errors"]])

            while not stop.is_set():
                await asyncio.gather(*(fail() for _ in range(16)))
        return outcomes

    outcomes = await keeps_answering(served, world.tokens["owner"], attack)
    assert len(outcomes) >= 16
    assert all(codes == ["UNAUTHENTICATED"] for codes in outcomes), outcomes


async def open_raw(served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


async def test_a_20_mb_body_is_refused_before_it_is_read(served):
    """The answer reaches a client still sending its body: the server closed with bytes of it
    unread, which made the close a reset, and the reset discarded the answer (a
    broken pipe or ``ConnectionResetError`` instead of the 413; seen in CI)."""

    def client() -> bytes:
        # a blocking socket sending 2 MB of the body before it reads anything
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {20 * 1024 * 1024}\r\n"
                f'\r\n{{"query": "'.encode()
            )
            sock.sendall(b"x" * (2 * 1024 * 1024))
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            return received

    head, _, body_bytes = (await asyncio.to_thread(client)).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
    status, body = int(status_line.split()[1]), json.loads(body_bytes)
    assert status == 413
    assert headers.get("connection") == "close"
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "limit": "bodyBytes",
        "maximum": 1024 * 1024,
    }


async def test_a_chunked_body_is_cut_off_at_the_limit(served):
    """Without a ``Content-Length`` the server reads up to the limit, answers 413 and closes
    the connection with a lingering close: the bytes still on their way are dropped, not
    answered with a reset that would discard the answer."""
    reader, writer = await open_raw(served)
    chunk = b"x" * (256 * 1024)
    sent = 0
    answer = None
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        reading = asyncio.create_task(read_response(reader))
        with contextlib.suppress(ConnectionError):
            while not reading.done() and sent < 20 * 1024 * 1024:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0.02)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            answer = await reading
    finally:
        writer.close()
    assert sent < 8 * 1024 * 1024, f"the server read on to {sent} bytes"
    assert answer is not None
    status, _headers, body = answer
    assert status == 413
    assert body["errors"][0]["extensions"]["limit"] == "bodyBytes"


async def test_a_websocket_message_over_the_limit_closes_the_socket_with_1009(served, world):
    async with websockets.connect(
        served.ws_url, subprotocols=["graphql-transport-ws"], max_size=None
    ) as socket:
        await socket.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {world.tokens['owner']}"},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        padding = "x" * (1024 * 1024 + 1)
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": ME, "extensions": {"p": padding}},
                }
            )
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd.code == 1009


@pytest.fixture(scope="module")
def hurried(server_env):
    """A server of its own answering within 1.5 seconds (``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS``)."""
    server = serve({**server_env, "INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS": "1.5"})
    yield server
    server.stop()


async def test_a_body_that_does_not_arrive_in_time_is_answered_408(hurried):
    reader, writer = await open_raw(hurried)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"query": "{ __typename'
        )
        await writer.drain()
        status, headers, body = await read_response(reader)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection closed
    finally:
        writer.close()
    assert status == 408
    assert headers.get("connection") == "close"
    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"
    async with httpx.AsyncClient() as http:  # the server goes on answering
        response = await http.post(hurried.http_url, json={"query": "{ __typename }"})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_over_websocket_a_validation_bomb_gets_an_error_and_the_socket_stays(served, world):
    async with websockets.connect(served.ws_url, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {world.tokens['owner']}"},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps({"id": "bomb", "type": "subscribe", "payload": {"query": bomb()}})
        )
        refused = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert refused["id"] == "bomb" and refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["limit"] == "fieldOverlaps"
        await socket.send(json.dumps({"id": "me", "type": "subscribe", "payload": {"query": ME}}))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert answer["type"] == "next" and answer["payload"]["data"]["me"]["id"], answer


@contextlib.asynccontextmanager
async def writes_held(database_url: str):
    """Every write with events waits while this holds the workspaces' rows (PostgreSQL)."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT id FROM workspace FOR UPDATE")
            yield
    finally:
        await connection.close()


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="runs in the PostgreSQL run of the suite (SQLite refuses a write that would wait "
    "for another's lock at once: SERVICE_UNAVAILABLE, never a wait)",
)
async def test_over_websocket_an_operation_past_the_time_limit_is_stopped_and_changes_nothing(
    hurried, world
):
    """A query or mutation sent over the WebSocket has the time limit HTTP requests have: past
    it, a ``next`` with a ``TIMEOUT`` error, then ``complete``; a mutation stopped so changes
    nothing, and the socket goes on serving."""
    contact = world.contact_ids["c_none"]
    assign = "mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) { id } }"
    async with websockets.connect(hurried.ws_url, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {world.tokens['owner']}"},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        async with writes_held(hurried.env["DATABASE_URL"]):
            variables = {"c": contact, "a": world.user_ids["agent_all"]}
            await socket.send(
                json.dumps(
                    {
                        "id": "slow",
                        "type": "subscribe",
                        "payload": {"query": assign, "variables": variables},
                    }
                )
            )
            stopped = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert (stopped["id"], stopped["type"]) == ("slow", "next"), stopped
            assert [e["extensions"]["code"] for e in stopped["payload"]["errors"]] == ["TIMEOUT"]
            done = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert (done["id"], done["type"]) == ("slow", "complete")
        await socket.send(
            json.dumps(
                {
                    "id": "after",
                    "type": "subscribe",
                    "payload": {
                        "query": "query($c: ID!) { node(id: $c) { ... on Contact { assignee { id } } } }",
                        "variables": {"c": contact},
                    },
                }
            )
        )
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert answer["payload"]["data"] == {"node": {"assignee": None}}, answer

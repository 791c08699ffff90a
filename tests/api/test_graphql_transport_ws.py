"""graphql-transport-ws, every rule of its PROTOCOL.md
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md, issue 19 part 2), over a raw
socket (:class:`tests.support.RawWebSocket`: the frames exactly as written), and with the
``graphql-ws`` client package (Node, ``tests/clients/ws-client.mjs``). A client's mistake in an
operation is an ``error`` frame with the codes HTTP gives the same request; a mistake in the
protocol closes the socket with the protocol's code; neither leaves a traceback in the log.

The 4408 of a socket that never sends ``connection_init`` is
``tests/auth/test_ws_session.py::test_a_socket_that_never_sends_connection_init_is_closed_with_4408``;
frames that are not the protocol's shape (4400) are also in ``tests/auth/test_ws_session.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.api.test_graphql_over_http import REQUEST_ERRORS, log_size, no_traceback_since
from tests.clients import run_node
from tests.support import RawWebSocket, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

SUBSCRIPTION = "subscription { newMessage(inbox: {standard: ALL}) { sequence message { text } } }"


class Socket:
    """A raw graphql-transport-ws socket: JSON messages in, messages or the close out."""

    def __init__(self, served: Any) -> None:
        self.raw = RawWebSocket(served)

    def send(self, message: dict[str, Any]) -> None:
        self.raw.send(message)

    def receive(self) -> dict[str, Any]:
        """The next message, or ``{"close": code, "reason": …}`` when the server closed."""
        opcode, payload = self.raw.frame()
        if opcode == 8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            return {"close": code, "reason": payload[2:].decode()}
        assert opcode == 1, (opcode, payload)
        return json.loads(payload)

    def init(self, token: str) -> None:
        self.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert self.receive() == {"type": "connection_ack", "payload": None}

    def close(self) -> None:
        self.raw.close()


async def on_socket(served: Any, steps: Any) -> Any:
    """Run ``steps(socket)`` (blocking socket calls) off the event loop."""

    def run() -> Any:
        socket = Socket(served)
        try:
            return steps(socket)
        finally:
            socket.close()

    return await asyncio.to_thread(run)


@pytest.mark.parametrize(
    "init", [{"type": "connection_init", "payload": None}, {"type": "connection_init"}]
)
async def test_connection_init_with_a_null_or_no_payload_is_well_formed(world, init):
    """A null payload is the protocol's (``Record<string, unknown> | null``): it is
    authenticated like an empty one, so without a token the socket closes 4403 (Forbidden),
    not 4400 (invalid message)."""

    def steps(socket: Socket) -> Any:
        socket.send(init)
        return socket.receive()

    assert await on_socket(world.served, steps) == {"close": 4403, "reason": "Forbidden"}


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": "Bearer {}"},
        {"AUTHORIZATION": "bearer {}"},
        {"headers": {"Authorization": "Bearer {}"}},
        {"headers": {"authorization": "Bearer {}"}},
    ],
)
async def test_connection_init_takes_the_token_under_any_spelling_of_its_header(world, payload):
    """``Authorization`` is a header name, in any case over HTTP: so it is in
    ``connection_init`` (``graphql-ws`` retries a 4403 for ever, so a client spelling it
    ``Authorization`` reconnected without end), and under ``headers`` as clients written for
    Hasura or Apollo's older transport send it."""
    token = world.tokens["owner"]
    filled = json.loads(json.dumps(payload).replace("{}", token))

    def steps(socket: Socket) -> Any:
        socket.send({"type": "connection_init", "payload": filled})
        return socket.receive()

    assert await on_socket(world.served, steps) == {"type": "connection_ack", "payload": None}


async def test_ping_is_answered_with_pong_before_and_after_the_ack_and_pong_is_ignored(world):
    def steps(socket: Socket) -> list[Any]:
        socket.send({"type": "ping"})
        before = socket.receive()
        socket.init(world.tokens["owner"])
        socket.send({"type": "ping", "payload": {"sent": 1}})
        after = socket.receive()
        socket.send({"type": "pong", "payload": None})  # unsolicited pongs are allowed
        socket.send({"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        return [before, after, socket.receive(), socket.receive()]

    before, after, answered, complete = await on_socket(world.served, steps)
    assert before["type"] == "pong" and after["type"] == "pong"
    assert answered["type"] == "next" and answered["payload"]["data"] == {"__typename": "Query"}
    assert complete == {"id": "q", "type": "complete"}


async def test_subscribe_before_the_ack_closes_with_4401(world):
    def steps(socket: Socket) -> Any:
        socket.send({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        return socket.receive()

    assert (await on_socket(world.served, steps))["close"] == 4401


async def test_a_second_connection_init_closes_with_4429(world):
    def steps(socket: Socket) -> Any:
        socket.init(world.tokens["owner"])
        socket.send({"type": "connection_init", "payload": {}})
        return socket.receive()

    assert (await on_socket(world.served, steps))["close"] == 4429


@pytest.mark.parametrize(
    "message",
    [
        {"type": "unknown"},
        {"type": "next", "id": "1", "payload": {"data": None}},  # server-to-client types
        {"type": "connection_ack"},
        {"type": "ping", "payload": "text"},  # payloads are objects or null
        {"type": "subscribe", "id": "1", "payload": {"query": "{ me { id } }", "extensions": 7}},
    ],
)
async def test_a_message_outside_the_protocol_closes_with_4400(world, message):
    def steps(socket: Socket) -> Any:
        socket.init(world.tokens["owner"])
        socket.send(message)
        return socket.receive()

    assert (await on_socket(world.served, steps))["close"] == 4400


async def test_an_id_or_a_name_with_a_lone_surrogate_is_answered(world):
    """An operation's id (any string) or ``operationName`` holding a lone surrogate
    (``\\ud800`` in the frame's JSON) is repeated in the answer's frames, which orjson
    refused to encode: a traceback in the log, and the operation was never answered."""
    offset = log_size(world.served)

    def steps(socket: Socket) -> list[Any]:
        socket.init(world.tokens["owner"])
        socket.send({"id": "\ud800", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        answered = [socket.receive(), socket.receive()]
        socket.send(
            {
                "id": "named",
                "type": "subscribe",
                "payload": {"query": "query Q { __typename }", "operationName": "\ud800"},
            }
        )
        return [*answered, socket.receive()]

    answered, complete, refused = await on_socket(world.served, steps)
    assert answered["id"] == "\ud800" and answered["type"] == "next", answered
    assert answered["payload"]["data"] == {"__typename": "Query"}, answered
    assert complete == {"id": "\ud800", "type": "complete"}
    assert refused["id"] == "named" and refused["type"] == "error", refused
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["BAD_USER_INPUT"], refused
    no_traceback_since(world.served, offset)


async def test_complete_from_the_client_stops_its_subscription_and_an_id_in_use_is_4409(world):
    """``complete`` from the client stops that subscription (no event for it afterwards, while
    another on the same socket receives it) and frees its id; a ``subscribe`` reusing the id of
    an operation still open closes the socket with 4409."""
    socket = Socket(world.served)
    try:

        def start() -> None:
            socket.init(world.tokens["owner"])
            for operation_id in ("stopped", "open"):
                socket.send(
                    {"id": operation_id, "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
                )

        await asyncio.to_thread(start)
        await asyncio.sleep(0.3)  # both are set up
        socket.send({"id": "stopped", "type": "complete"})
        await asyncio.sleep(0.2)
        await receive(world, "c_all", "after the complete")

        def rest() -> list[Any]:
            seen = [socket.receive()]  # the open subscription's event
            socket.send({"type": "ping"})
            seen.append(socket.receive())  # nothing for "stopped" in between: the pong
            socket.send({"id": "stopped", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            socket.send({"id": "open", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            seen.append(socket.receive())
            return seen

        event, pong, duplicate = await asyncio.to_thread(rest)
    finally:
        socket.close()
    assert event["id"] == "open" and event["type"] == "next", event
    assert event["payload"]["data"]["newMessage"]["message"]["text"] == "after the complete"
    assert pong["type"] == "pong", pong
    assert duplicate["close"] == 4409, duplicate
    assert "open" in duplicate["reason"], duplicate


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
async def test_an_operation_that_never_runs_gets_an_error_frame_with_the_codes_http_gives(
    world, case
):
    """Over both transports alike: the same coded errors; over WebSocket in an ``error`` frame
    for the operation's id (never a bare ``complete``, a masked INTERNAL_SERVER_ERROR or a
    4400 close), and the socket stays open for the next operation."""
    offset = log_size(world.served)
    body, code = REQUEST_ERRORS[case]
    token = world.tokens["owner"]
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            world.served.http_url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    over_http = response.json()["errors"]

    def steps(socket: Socket) -> list[Any]:
        socket.init(token)
        socket.send({"id": "bad", "type": "subscribe", "payload": body})
        refused = socket.receive()
        socket.send({"id": "good", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        return [refused, socket.receive()]

    refused, answered = await on_socket(world.served, steps)
    assert refused["type"] == "error" and refused["id"] == "bad", refused
    assert [e["extensions"]["code"] for e in refused["payload"]] == [code], refused
    assert [e["extensions"] for e in refused["payload"]] == [e["extensions"] for e in over_http]
    assert [e["message"] for e in refused["payload"]] == [e["message"] for e in over_http]
    assert answered["id"] == "good" and answered["type"] == "next", answered
    no_traceback_since(world.served, offset)


async def test_the_graphql_ws_client_sends_a_null_payload_and_receives_errors_as_errors(world):
    """graphql-ws 6.4.2 (Node): a ``connection_init`` with ``"payload": null`` is closed 4403
    for want of a token (not 4400); a parse error, an unknown operation name and a
    validation error reach the client's ``error`` sink with their codes, and the same client
    then runs a query."""
    offset = log_size(world.served)
    outcome = await asyncio.to_thread(
        run_node, "ws-client.mjs", world.served.ws_url, world.tokens["owner"]
    )
    assert outcome["nullPayload"]["sent"] == {"type": "connection_init", "payload": None}
    assert outcome["nullPayload"]["code"] == 4403, outcome
    assert outcome["parse"] == {"error": ["GRAPHQL_PARSE_FAILED"]}, outcome
    assert outcome["unknownOperation"] == {"error": ["BAD_USER_INPUT"]}, outcome
    assert outcome["validation"] == {"error": ["GRAPHQL_VALIDATION_FAILED"]}, outcome
    assert outcome["afterwards"] == {"next": [{"data": {"__typename": "Query"}}]}, outcome
    no_traceback_since(world.served, offset)


async def test_a_client_gone_before_its_refusal_is_sent_leaves_no_traceback(world):
    """A subscription refused at its start (``afterSequence`` ahead of the latest event) whose
    client left before the refusal was sent: nobody to answer, nothing logged (a helper's
    review: a traceback per operation, for a tab closed during a reconnect storm)."""
    query = (
        "subscription($a: Int) { newMessage(inbox: {standard: ALL}, afterSequence: $a) "
        "{ sequence } }"
    )
    subscribe = {"type": "subscribe", "payload": {"query": query, "variables": {"a": 10**9}}}
    offset = log_size(world.served)

    def refused(socket: Socket) -> Any:  # the document validated once: the cached path after
        socket.init(world.tokens["owner"])
        socket.send({"id": "1", **subscribe})
        return socket.receive(), socket.receive()

    answer, complete = await on_socket(world.served, refused)
    assert answer["type"] == "next" and answer["payload"]["errors"], answer
    assert answer["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    assert complete == {"id": "1", "type": "complete"}

    def gone(socket: Socket) -> None:
        socket.init(world.tokens["owner"])
        for index in range(3):
            socket.send({"id": str(index), **subscribe})
        # closed at once, no close frame: the refusals find the socket gone

    await asyncio.gather(*(on_socket(world.served, gone) for _ in range(20)))
    await asyncio.sleep(1)
    no_traceback_since(world.served, offset)

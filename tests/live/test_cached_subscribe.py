"""A ``subscribe`` of a document the server has validated before (a reconnect storm's thousands
of dashboards sending the same few documents) is set up without strawberry's per-operation
stages (``graph.schema.InboxSchema.start_cached_subscription``, issue 23): it must be answered
exactly as the first ``subscribe`` of that document was, which went through them. Each test
sends a document no one sent before (a comment makes its text new), then the same document
again on the same socket, and compares the frames."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.support import open_socket, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")


def new_document(text: str) -> str:
    """``text`` with a comment no other document has: not yet parsed or validated."""
    return f"# {uuid.uuid4().hex}\n{text}"


NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""


async def answer(socket, query: str, variables: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Start an operation and collect its frames up to its last (``complete`` or ``error``),
    with the operation's id left out (each start has its own)."""
    operation_id = uuid.uuid4().hex
    await socket.send(
        json.dumps(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )
    )
    frames = []
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if message.get("id") != operation_id:
            continue
        del message["id"]
        frames.append(message)
        if message["type"] in ("complete", "error"):
            return frames


async def answers(world, who: str, query: str, variables: dict[str, Any] | None) -> list[Any]:
    """The frames of three starts of ``query`` on one socket: the first before the server knew
    the document, the others after."""
    socket = await open_socket(world.served, world.tokens[who])
    try:
        return [await answer(socket, query, variables) for _ in range(3)]
    finally:
        await socket.close()


def codes(frames: list[dict[str, Any]]) -> list[str]:
    payload = frames[0]["payload"]
    errors = payload if isinstance(payload, list) else payload["errors"]
    return [error["extensions"]["code"] for error in errors]


async def test_a_stream_refusing_to_start_ends_alike_once_its_document_is_known(world):
    # the stream refuses in its first step: a ``next`` with the coded error, then ``complete``
    for after in (-1, 10**9):
        first, *again = await answers(world, "owner", new_document(NEW_MESSAGE), {"after": after})
        assert [frame["type"] for frame in first] == ["next", "complete"], first
        assert codes(first) == ["BAD_USER_INPUT"]
        assert first[0]["payload"]["data"] is None
        assert first[0]["payload"]["errors"][0]["extensions"]["field"] == "afterSequence"
        assert again == [first, first]


async def test_a_forbidden_inbox_ends_alike_once_its_document_is_known(world):
    query = new_document(
        """subscription($team: ID!) {
          conversationUpdated(inbox: {teamId: $team}) { sequence } }"""
    )
    first, *again = await answers(world, "agent_team", query, {"team": world.team_ids["Beta"]})
    assert [frame["type"] for frame in first] == ["next", "complete"], first
    assert codes(first) == ["FORBIDDEN"]
    assert again == [first, first]


async def test_variables_that_do_not_coerce_are_refused_alike_once_the_document_is_known(world):
    for variables in ({"after": "soon"}, {"after": 2**40}, {"after": 1, "unused": "\x00"}):
        first, *again = await answers(world, "owner", new_document(NEW_MESSAGE), variables)
        assert [frame["type"] for frame in first] == ["error"], first
        assert codes(first) == ["BAD_USER_INPUT"]
        assert again == [first, first]


async def test_a_known_document_with_another_operation_named_runs_that_one(world):
    query = new_document(
        """subscription Resume($after: Int) { newMessage(afterSequence: $after) { sequence } }
        subscription Named { newMessage { message { text } } }"""
    )
    socket = await open_socket(world.served, world.tokens["owner"])
    try:
        # several operations and none named: refused, the first time as after
        for _ in range(2):
            (frame,) = await answer(socket, query, None)
            assert frame["type"] == "error"
            assert frame["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        starts = []
        for operation_name in ("Named", "Named", "Unknown"):
            operation_id = uuid.uuid4().hex
            starts.append(operation_id)
            payload = {"query": query, "operationName": operation_name}
            await socket.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
            )
        await receive(world, "c_all", "for the named operation")
        delivered: dict[str, list[Any]] = {operation_id: [] for operation_id in starts}
        while len(delivered[starts[0]]) + len(delivered[starts[1]]) < 2 or not delivered[starts[2]]:
            message = json.loads(await asyncio.wait_for(socket.recv(), 15))
            if message.get("id") in delivered:
                delivered[message["id"]].append(message)
        for operation_id in starts[:2]:
            (frame,) = delivered[operation_id]
            assert frame["type"] == "next", frame
            assert frame["payload"] == {
                "data": {"newMessage": {"message": {"text": "for the named operation"}}}
            }
        (unknown,) = delivered[starts[2]]
        assert unknown["type"] == "error"
        assert unknown["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    finally:
        await socket.close()


async def test_a_known_document_resumes_and_goes_live_like_the_first(world):
    socket = await open_socket(world.served, world.tokens["owner"])
    query = new_document(NEW_MESSAGE)
    try:
        probe = uuid.uuid4().hex
        await socket.send(
            json.dumps({"id": probe, "type": "subscribe", "payload": {"query": query}})
        )
        await socket.send(json.dumps({"type": "ping"}))  # answered once it has started
        while json.loads(await asyncio.wait_for(socket.recv(), 15))["type"] != "pong":
            pass
        await receive(world, "c_all", "before the reconnect")
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        assert message["id"] == probe, message
        after = message["payload"]["data"]["newMessage"]["sequence"] - 1
        starts = [uuid.uuid4().hex for _ in range(3)]
        for operation_id in starts:
            payload = {"query": query, "variables": {"after": after}}
            await socket.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
            )
        await receive(world, "c_all", "after the reconnect")
        texts: dict[str, list[str]] = {operation_id: [] for operation_id in starts}
        while any(len(got) < 2 for got in texts.values()):
            message = json.loads(await asyncio.wait_for(socket.recv(), 15))
            if message.get("id") in texts:
                assert message["type"] == "next", message
                event = message["payload"]["data"]["newMessage"]
                texts[message["id"]].append(event["message"]["text"])
        for got in texts.values():
            assert got == ["before the reconnect", "after the reconnect"]
    finally:
        await socket.close()

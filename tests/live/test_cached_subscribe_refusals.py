"""Refusals of a ``subscribe`` whose document the server knows already (set up without
strawberry's per-operation stages: ``graph.schema.InboxSchema.start_cached_subscription``,
issue 23) are the refusals of its first ``subscribe``: a token's scopes, a resolver's input
error, a stream's first step refusing the viewer (call access, visibility), a query named in a
document that holds a subscription too; and the operations that end on that path free their
place on the socket. Each test sends a document no one sent before, then the same one again."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.auth.test_tokens import mint
from tests.live.test_cached_subscribe import NEW_MESSAGE, answer, answers, codes, new_document
from tests.support import open_socket

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_token_without_read_is_refused_alike_once_the_document_is_known(world):
    query = new_document(NEW_MESSAGE)
    # the owner's subscribe validates the document (its stream refuses a negative sequence)
    (owner_start, *_) = await answers(world, "owner", query, {"after": -1})
    assert [frame["type"] for frame in owner_start] == ["next", "complete"], owner_start
    ingest = (await mint(world.client("owner"), "ingest only", ["INGEST"]))["token"]
    world.tokens["ingest only"] = ingest
    first, *again = await answers(world, "ingest only", query, {"after": -1})
    assert [frame["type"] for frame in first] == ["error"], first
    assert codes(first) == ["FORBIDDEN"]
    assert first[0]["payload"][0]["extensions"]["requiredScopes"] == ["READ"]
    assert again == [first, first]


REFUSED = [
    # the resolver refuses its input: an ``error`` frame
    (
        "owner",
        "subscription($c: ID) { messageStatusChanged(conversationId: $c) { sequence } }",
        {"c": "not an id"},
        ["error"],
        "BAD_USER_INPUT",
    ),
    # the stream's first step refuses: a ``next`` with the error, then ``complete``
    (
        "owner",
        "subscription($i: InboxSelector) { newMessage(inbox: $i) { sequence } }",
        {"i": {"teamId": "not an id"}},
        ["next", "complete"],
        "BAD_USER_INPUT",
    ),
    (
        "owner",
        "subscription($i: InboxSelector) { newMessage(inbox: $i) { sequence } }",
        {"i": {"customInboxId": "Q3VzdG9tSW5ib3g6MQ=="}},
        ["next", "complete"],
        "BAD_USER_INPUT",
    ),
    ("agent_self", "subscription { incomingCall { id } }", None, ["next", "complete"], "FORBIDDEN"),
    ("agent_self", "subscription { callUpdated { id } }", None, ["next", "complete"], "FORBIDDEN"),
    (
        "agent_self",
        "subscription { conversationUpdated(inbox: {blocked: true}) { sequence } }",
        None,
        ["next", "complete"],
        "FORBIDDEN",
    ),
    (
        "agent_self",
        "subscription { conversationUpdated(inbox: {standard: UNASSIGNED}) { sequence } }",
        None,
        ["next", "complete"],
        "FORBIDDEN",
    ),
]


@pytest.mark.parametrize(("who", "text", "variables", "types", "code"), REFUSED)
async def test_refusals_are_alike_once_the_document_is_known(
    world, who, text, variables, types, code
):
    first, *again = await answers(world, who, new_document(text), variables)
    assert [frame["type"] for frame in first] == types, first
    assert codes(first) == [code]
    assert again == [first, first]


async def test_a_query_named_beside_a_subscription_runs_as_a_query_each_time(world):
    query = new_document("query Q { me { id } }\nsubscription S { newMessage { sequence } }")
    socket = await open_socket(world.served, world.tokens["owner"])
    try:
        # the subscription first: the document is known when the query is named
        for operation_name in ("S", "Q", "Q"):
            operation_id = uuid.uuid4().hex
            payload = {"query": query, "operationName": operation_name, "variables": None}
            await socket.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
            )
            if operation_name == "S":
                continue
            frames = []
            while not frames or frames[-1]["type"] not in ("complete", "error"):
                message = json.loads(await asyncio.wait_for(socket.recv(), 15))
                if message.get("id") == operation_id:
                    frames.append(message)
            assert [frame["type"] for frame in frames] == ["next", "complete"], frames
            assert frames[0]["payload"]["data"] == {"me": {"id": world.user_ids["owner"]}}
    finally:
        await socket.close()


async def test_operations_ended_on_the_known_document_path_free_their_place(world):
    # more than INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_SOCKET (100) operations on one socket, each
    # ended: by its stream refusing to start, or by the client's ``complete``
    query = new_document(NEW_MESSAGE)
    socket = await open_socket(world.served, world.tokens["owner"])
    try:
        for _ in range(60):
            frames = await answer(socket, query, {"after": -1})
            assert [frame["type"] for frame in frames] == ["next", "complete"], frames
            operation_id = uuid.uuid4().hex
            payload = {"query": query, "variables": None}
            await socket.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
            )
            await socket.send(json.dumps({"id": operation_id, "type": "complete"}))
        frames = await answer(socket, query, {"after": -1})
        assert [frame["type"] for frame in frames] == ["next", "complete"], frames
        assert codes(frames) == ["BAD_USER_INPUT"]
    finally:
        await socket.close()

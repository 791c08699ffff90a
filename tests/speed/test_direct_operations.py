"""Queries and mutations of a document the server validated before run without strawberry's
per-operation stages (issue 23, the fixed cost of a request: ``graph.schema.InboxSchema.
_execute_cached``), with the same answers. A document's first request goes through strawberry's
stages (it is parsed and validated, then cached); every later one runs directly. Each
operation below is sent twice under a text of its own (a comment names the user and the
operation), as every user of the visibility matrix: the two answers must be the same bytes
(errors of what a user may not see included), with the same status and headers, and the same
``extensions.cost`` but for the budget left."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import strawberry

from bench.queries import CONVERSATIONS
from graph.schema import build_schema
from tests.conftest import PEOPLE
from tests.speed.test_plain_leaves import ARGUMENTS, operations
from tests.support import Client, serve

USERS = ["owner", *PEOPLE]

NODE = "query($id: ID!) { node(id: $id) { id ... on Contact { name } } }"
SEND = """mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id } }
}"""
EXPENSIVE = """query {
  conversations(inbox: {standard: ALL}, first: 100) {
    edges { node { id messages(first: 100) { edges { node { id text } } } } }
  }
}"""


def mistakes(contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Operations that fail: an id that is no id, variables that do not coerce (a request
    error), a mutation refused for its input (nothing written), an unknown operation name."""
    return [
        (NODE, {"id": "not-an-id"}),
        (CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": "many"}),
        (SEND, {"input": {"contactId": contact_id, "text": ""}}),
        (SEND, {"input": {"contactId": "not-an-id", "text": "hello"}}),
    ]


def same_cost(one: dict[str, Any], other: dict[str, Any]) -> None:
    """The two answers' ``extensions`` are the same, but for the budget each left."""
    for body in (one, other):
        status = (body.get("extensions", {}).get("cost") or {}).get("throttleStatus")
        if status:
            status.pop("currentlyAvailable")
    assert one.get("extensions") == other.get("extensions")


async def twice(client: Client, query: str, variables: dict[str, Any], name: str) -> None:
    """Send ``query`` under a text no request sent before, twice: strawberry's stages, then
    the direct path; the answers must not differ."""
    text = f"{query}\n# {name}"
    first = await client.raw(text, variables)
    second = await client.raw(text, variables)
    assert second.status_code == first.status_code, (name, first.text[:300])
    assert [k for k in second.headers if k != "date"] == [
        k for k in first.headers if k != "date"
    ], name
    head = first.content.rpartition(b',"extensions":')[0] or first.content
    assert second.content.startswith(head), (name, first.text[:300], second.text[:300])
    same_cost(first.json(), second.json())


@pytest.fixture(scope="module")
def fresh(served):
    """A server of its own: nothing has validated the documents below there yet."""
    server = serve(served.env)
    yield server
    server.stop()


async def test_a_validated_document_answers_the_same_directly_for_every_user(world, fresh):
    owner = Client(fresh, world.tokens["owner"])
    listed = await owner.execute(CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": 100})
    await owner.aclose()
    nodes = [e["node"] for e in listed["data"]["conversations"]["edges"]]
    conversations = [n["id"] for n in nodes][:3]
    contacts = sorted(world.contact_ids.values())
    assert conversations and contacts
    sent = [
        *operations(conversations, contacts),
        *((ARGUMENTS, {"id": c, "f": 2, "l": 2, "yes": True, "no": False}) for c in conversations),
        *((NODE, {"id": c}) for c in contacts),
        *mistakes(contacts[0]),
    ]
    for who in USERS:
        client = Client(fresh, world.tokens[who])
        for number, (query, variables) in enumerate(sent):
            await twice(client, query, variables, f"{who} {number}")
        await client.aclose()


async def test_what_the_direct_path_leaves_to_strawberry_answers_as_before(world, fresh):
    """A mutation over GET (405), an ``operationName`` the document lacks, a document with two
    operations and none named, and one that names its operation: sent twice each."""
    token = world.tokens["owner"]
    two = "query A { __typename } query B { me { id } }"
    async with httpx.AsyncClient(timeout=30) as http:
        for name, request in [
            ("get mutation", {"method": "GET", "params": {"query": SEND}}),
            ("unknown name", {"json": {"query": two, "operationName": "C"}}),
            ("none named", {"json": {"query": two}}),
            ("named", {"json": {"query": two, "operationName": "B"}}),
        ]:
            answers = []
            for _ in range(2):
                answers.append(
                    await http.request(
                        request.get("method", "POST"),
                        fresh.http_url,
                        headers={"Authorization": f"Bearer {token}"},
                        **{k: v for k, v in request.items() if k != "method"},
                    )
                )
            first, second = answers
            assert first.status_code == second.status_code, name
            assert first.json().get("errors") == second.json().get("errors"), name
            assert first.json().get("data") == second.json().get("data"), name
            if name == "get mutation":
                assert first.status_code == 405, first.text
            elif name == "named":
                assert first.json()["data"]["me"]["id"], first.text
            else:
                assert first.json()["errors"] and "data" not in first.json(), (name, first.text)


async def test_an_operation_over_the_budget_is_refused_the_same_directly(world, served):
    """The cost budget charged by the direct path as by strawberry's stages: an operation
    costing more than the whole budget is refused alike (nothing runs, its cost reported)."""
    server = serve({**served.env, "INBOX_GRAPH_RATE_LIMIT_POINTS": "1000"})
    client = Client(server, world.tokens["owner"])
    try:
        first = await client.raw(EXPENSIVE)
        second = await client.raw(EXPENSIVE)
        assert first.status_code == second.status_code
        one, other = first.json(), second.json()
        assert [e["extensions"]["code"] for e in one["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
        assert one["errors"] == other["errors"] and "data" not in other
        same_cost(one, other)
        assert other["extensions"]["cost"]["requestedQueryCost"] > 1000
    finally:
        await client.aclose()
        server.stop()


async def test_the_second_request_of_a_document_skips_strawberrys_stages(monkeypatch):
    """In process: strawberry's ``Schema.execute`` runs for a document's first request only;
    with an extension the direct path does not stand for (its hooks, its ``resolve``), for
    every request."""
    calls = []
    original = strawberry.Schema.execute

    async def counted(self, *args, **kwargs):
        calls.append(args[0])
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    schema = build_schema()
    for _ in range(3):
        result = await schema.execute("{ __typename }", operation_name=None)
        assert result.data == {"__typename": "Query"} and not result.errors
    assert calls == ["{ __typename }"]

    class Hooked(strawberry.extensions.SchemaExtension):
        def resolve(self, _next, root, info, *args, **kwargs):
            return _next(root, info, *args, **kwargs)

    class Timed(strawberry.extensions.SchemaExtension):
        def on_execute(self):
            yield

    for extra in (Hooked, Timed):
        hooked = build_schema()
        hooked.extensions = [*hooked.extensions, extra]
        calls.clear()
        for _ in range(2):
            assert (await hooked.execute("{ __typename }", operation_name=None)).data
        assert len(calls) == 2, extra

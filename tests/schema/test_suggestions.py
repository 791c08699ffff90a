"""With introspection off (production's default), no error suggests a name: graphql-core's
"Did you mean …?" would spell out the schema that introspection hides (issue 19, part 5)."""

from __future__ import annotations

import pytest

from tests.support import Client, serve

MISTAKES = [
    # an unknown field, argument, enum literal and input field, in the document
    ('{ contac(id: "x") { id } }', None),
    ('{ node(idd: "x") { id } }', None),
    ("{ conversations(inbox: {standard: MIN}) { edges { cursor } } }", None),
    ("{ conversations(inbox: {standrd: MINE}) { edges { cursor } } }", None),
    ("{ me { nam } }", None),
    # and in variables, coerced when the operation runs
    (
        "query($s: StandardInboxKind!) { conversations(inbox: {standard: $s}) { edges { cursor } } }",
        {"s": "MIN"},
    ),
    (
        "query($i: InboxSelector!) { conversations(inbox: $i) { edges { cursor } } }",
        {"i": {"standrd": "MINE"}},
    ),
]


@pytest.fixture(scope="module")
def production(server_env):
    server = serve({**server_env, "INBOX_GRAPH_ENV": "production"})
    yield server
    server.stop()


async def _messages(served, query: str, variables) -> list[str]:
    client = Client(served)
    try:
        body = await client.execute(query, variables)
    finally:
        await client.aclose()
    assert body.get("errors"), body
    return [error["message"] for error in body["errors"]]


@pytest.mark.parametrize(("query", "variables"), MISTAKES)
async def test_production_suggests_no_names(production, served, query, variables):
    hidden = await _messages(production, query, variables)
    assert not any("Did you mean" in m for m in hidden), hidden
    # development (introspection on) keeps them: they help whoever may read the schema anyway
    shown = await _messages(served, query, variables)
    assert any("Did you mean" in m for m in shown), shown

"""Plain leaves (issue 23, ``graph.schema.direct``): completing plain scalar and enum fields
without graphql-core's per-field machinery changes no answer. The same operations (the
benchmark's: sidebar, inbox lists forward and backward, a timeline, a contact panel, and a
node lookup) are sent as every user of the visibility matrix to two servers on one database,
one with the fast path and one without (``INBOX_GRAPH_PLAIN_LEAVES=0``), and their bodies must
be the same bytes (up to the ``extensions``: cost and budget), errors (what a user may not
see) included."""

from __future__ import annotations

import pytest

from bench.queries import (
    CONVERSATIONS,
    CONVERSATIONS_BACKWARDS,
    SIDEBAR,
    TIMELINE,
    contact_panel_query,
)
from tests.conftest import PEOPLE
from tests.support import Client, serve

USERS = ["owner", *PEOPLE]


def answer(body: bytes) -> bytes:
    """The body up to its ``extensions`` (the cost and the token's remaining budget, which
    differ between two servers): ``data`` and ``errors`` as the server wrote them."""
    head, found, _ = body.rpartition(b',"extensions":')
    assert found, body[:200]
    return head


@pytest.fixture(scope="module")
def without_plain_leaves(served):
    server = serve({**served.env, "INBOX_GRAPH_PLAIN_LEAVES": "0"})
    yield server
    server.stop()


def operations(conversation_ids: list[str], contact_ids: list[str]) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = [(SIDEBAR, {})]
    for inbox in ("ALL", "MINE", "UNASSIGNED"):
        found.append((CONVERSATIONS, {"inbox": {"standard": inbox}, "first": 100}))
        found.append((CONVERSATIONS_BACKWARDS, {"inbox": {"standard": inbox}, "last": 3}))
    found += [(TIMELINE, {"id": c, "first": 50}) for c in conversation_ids]
    found += [(contact_panel_query(), {"id": c}) for c in contact_ids]
    return found


async def test_plain_leaves_answer_the_same_bytes_for_every_user(world, without_plain_leaves):
    owner = world.client("owner")
    listed = await owner(CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": 100})
    await owner.aclose()
    nodes = [e["node"] for e in listed["conversations"]["edges"]]
    conversation_ids = [n["id"] for n in nodes]
    contact_ids = sorted({n["contact"]["id"] for n in nodes} | set(world.contact_ids.values()))
    assert len(conversation_ids) >= 5
    compared = 0
    for who in USERS:
        fast = world.client(who)
        slow = Client(without_plain_leaves, world.tokens[who])
        for query, variables in operations(conversation_ids, contact_ids):
            one = await fast.raw(query, variables)
            other = await slow.raw(query, variables)
            assert one.status_code == other.status_code == 200
            assert answer(one.content) == answer(other.content), (who, query[:60], variables)
            compared += 1
        await fast.aclose()
        await slow.aclose()
    assert compared == len(USERS) * len(operations(conversation_ids, contact_ids))

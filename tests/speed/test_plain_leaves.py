"""Plain leaves and selection plans (issue 23, ``graph.schema.direct``, ``graph.schema.plan``):
completing plain scalar and enum fields without graphql-core's per-field machinery, and objects
by compiled plans, changes no answer. The same operations (the benchmark's: sidebar, inbox
lists forward and backward, a timeline, a contact panel, and a node lookup, plus the inbox list
with aliases, fragments, ``@include``/``@skip`` and merged fields) are sent as every user of
the visibility matrix to three servers on one database: with both fast paths (the default),
with plain leaves only (``INBOX_GRAPH_PLANS=0``) and with neither
(``INBOX_GRAPH_PLAIN_LEAVES=0``); their bodies must be the same bytes (up to the
``extensions``: cost and budget), errors (what a user may not see) included."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.queries import (
    CONVERSATIONS,
    CONVERSATIONS_BACKWARDS,
    SIDEBAR,
    TIMELINE,
    USER,
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


@pytest.fixture(scope="module")
def without_plans(served):
    server = serve({**served.env, "INBOX_GRAPH_PLANS": "0"})
    yield server
    server.stop()


# the inbox list as a client may shape it: aliases, fragments (named and inline), directives
# by variable, a field selected twice (merged), __typename, the same relation twice by alias
SHAPED = f"""query($inbox: InboxSelector!, $first: Int, $with: Boolean!, $without: Boolean!) {{
  list: conversations(inbox: $inbox, first: $first) {{
    __typename
    edges {{ at: cursor node {{ ...Row __typename state: status
      contact {{ id }} contact {{ name ... on Contact {{ assignee @include(if: $with) {{ {USER} }} }} }}
      who: contact {{ ident: id assignee @skip(if: $without) {{ name }} }}
      lastMessage @include(if: $with) {{ id text }}
      lastMessage @skip(if: $with) {{ direction }}
    }} }}
    nodes {{ id ... on Node {{ id }} }}
    pageInfo {{ ... on PageInfo {{ hasNextPage endCursor }} hasNextPage }}
  }}
}}
fragment Row on Conversation {{ id lastActivityAt lastMessage {{ createdAt id }} }}"""


def operations(conversation_ids: list[str], contact_ids: list[str]) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = [(SIDEBAR, {})]
    for inbox in ("ALL", "MINE", "UNASSIGNED"):
        found.append((CONVERSATIONS, {"inbox": {"standard": inbox}, "first": 100}))
        found.append((CONVERSATIONS_BACKWARDS, {"inbox": {"standard": inbox}, "last": 3}))
        for flags in ((True, False), (False, True)):
            found.append(
                (
                    SHAPED,
                    {
                        "inbox": {"standard": inbox},
                        "first": 50,
                        "with": flags[0],
                        "without": flags[1],
                    },
                )
            )
    found += [(TIMELINE, {"id": c, "first": 50}) for c in conversation_ids]
    found += [(contact_panel_query(), {"id": c}) for c in contact_ids]
    return found


async def test_plain_leaves_and_plans_answer_the_same_bytes_for_every_user(
    world, without_plain_leaves, without_plans
):
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
        leaves = Client(without_plans, world.tokens[who])
        for query, variables in operations(conversation_ids, contact_ids):
            one = await fast.raw(query, variables)
            other = await slow.raw(query, variables)
            third = await leaves.raw(query, variables)
            assert one.status_code == other.status_code == third.status_code == 200
            assert answer(one.content) == answer(other.content), (who, query[:60], variables)
            assert answer(third.content) == answer(other.content), (who, query[:60], variables)
            compared += 1
        await fast.aclose()
        await slow.aclose()
        await leaves.aclose()
    assert compared == len(USERS) * len(operations(conversation_ids, contact_ids))


# a contact's channels in a list, without Contact.phone: nothing has read the workspace (phone
# masking) when the channels' handles are resolved, so each handle is an awaitable
HANDLES = """query($inbox: InboxSelector!) {
  conversations(inbox: $inbox, first: 50) {
    edges { node { id contact { id channels { hasIdentity handle handles } } } }
  }
}"""


MASKING = (
    "mutation($m: Boolean!) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) { id } }"
)


async def test_a_lists_handles_answer_the_same_and_leave_no_coroutine_unawaited(
    world, served, without_plans
):
    """A channel's ``handles`` of phone numbers, asked before anything read the workspace,
    answer the same bytes with and without plans for every user (masked or not), as the
    panels of their contacts do, and the
    server's log (a server of its own: Python warns once per place) says nothing of a
    coroutine never awaited."""
    from tests.contact.common import inbound

    panels = []
    for assignee in ("agent_self", "agent_team", None):
        message = await inbound(world, channel="WHATSAPP", assignee=assignee)
        panels.append(message["contact"]["id"])
    fresh = serve(served.env)
    owner = world.client("owner")
    numbers = masked = 0
    try:
        for masking in (False, True):
            await owner(MASKING, {"m": masking})
            for who in USERS:
                fast = Client(fresh, world.tokens[who])
                slow = Client(without_plans, world.tokens[who])
                for query, variables in [
                    *((HANDLES, {"inbox": {"standard": inbox}}) for inbox in ("ALL", "MINE")),
                    *((contact_panel_query(), {"id": id_}) for id_ in panels),
                ]:
                    one = await fast.raw(query, variables)
                    other = await slow.raw(query, variables)
                    assert one.status_code == other.status_code == 200
                    assert answer(one.content) == answer(other.content), (who, variables, masking)
                    numbers += one.content.count(b'"handles":["+')
                    masked += one.content.count(b"\\u2022") + one.content.count("\u2022".encode())
                await fast.aclose()
                await slow.aclose()
    finally:
        await owner(MASKING, {"m": False})
        await owner.aclose()
        fresh.stop()
    assert numbers >= 3 and masked  # the comparison above is of numbers, shown and masked
    written = await asyncio.to_thread(Path(fresh.log_path).read_text)
    assert "never awaited" not in written, written


# connections taking arguments (called by the plans with graphql-core's coerced arguments): the
# same field under aliases with different arguments, literals, nulls, variables given, null and
# absent, @include/@skip on them, fragments, connections inside connections
TIMELINE_ITEM = f"""edges {{ cursor node {{ __typename
  ... on Message {{ id text direction author {{ {USER} }} }}
  ... on Activity {{ id kind text author {{ id }} }} }} }}
  pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} totalCount"""
ARGUMENTS = f"""query($id: ID!, $f: Int, $l: Int, $after: String, $before: String,
  $yes: Boolean!, $no: Boolean!) {{
  node(id: $id) {{ ... on Conversation {{
    a: timeline(first: 1) {{ {TIMELINE_ITEM} }}
    b: timeline(first: 2) {{ edges {{ cursor }} }}
    c: timeline(first: $f, after: $after) {{ {TIMELINE_ITEM} }}
    d: timeline(last: $l, before: $before) {{ {TIMELINE_ITEM} }}
    e: timeline {{ totalCount }}
    f: timeline(first: null, last: null) {{ totalCount }}
    k: timeline(first: 1) @include(if: $yes) {{ totalCount }}
    l: timeline(first: 1) @skip(if: $yes) {{ totalCount }}
    ...Later
    ... on Conversation {{ m: messages(first: $f) {{ edges {{ node {{ id text }} }} totalCount }} }}
    n: messages(last: 1, before: $after) {{ totalCount edges {{ node {{ id }} }} }}
    contact {{ id phone
      conversations(first: 1) {{ edges {{ node {{ id o: timeline(first: 1) {{ totalCount }} }} }} }}
      activities(last: 2) {{ edges {{ node {{ id kind }} }} }}
      callActivities(first: 2) {{ totalCount }} }}
  }} }}
}}
fragment Later on Conversation {{
  p: timeline(first: $f) @skip(if: $no) {{ edges {{ node {{ __typename }} }} }}
}}"""
# arguments the resolvers refuse (BAD_USER_INPUT), beside fields that answer
REFUSED = """query($id: ID!, $f: Int) { node(id: $id) { ... on Conversation { id
  a: timeline(first: 1) { totalCount }
  g: timeline(first: $f) { totalCount }
  m: messages(first: 1, last: 1) { totalCount }
  n: messages(first: 2) { totalCount }
  contact { id activities(after: "bad") { totalCount } conversations(first: 1) { totalCount } }
} } }"""


async def test_connections_with_arguments_answer_the_same_bytes_for_every_user(
    world, without_plans
):
    """One parsed document per shape, executed with variables of different values (given,
    null, absent, refused): the same bytes with and without plans, errors included."""
    owner = world.client("owner")
    listed = await owner(CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": 100})
    await owner.aclose()
    ids = [e["node"]["id"] for e in listed["conversations"]["edges"]][:4]
    cases: list[tuple[str, dict]] = []
    for id_ in ids:
        for given in ({"f": 1, "l": 2}, {"f": None, "after": None}, {}, {"f": 3, "after": "x"}):
            for yes in (True, False):
                cases.append((ARGUMENTS, {"id": id_, "yes": yes, "no": not yes, **given}))
        cases += [(REFUSED, {"id": id_, "f": f}) for f in (0, 1, None, 200)]
    refused = answered = 0
    for who in USERS:
        fast = world.client(who)
        slow = Client(without_plans, world.tokens[who])
        for query, variables in cases:
            one = await fast.raw(query, variables)
            other = await slow.raw(query, variables)
            assert one.status_code == other.status_code
            assert answer(one.content) == answer(other.content), (who, variables)
            refused += b"BAD_USER_INPUT" in one.content
            answered += b'"totalCount":' in one.content
        await fast.aclose()
        await slow.aclose()
    assert refused and answered  # both kinds of answers were compared

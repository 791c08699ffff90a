"""Combined reads (issue 23 item 1, ``db.combined``): the sidebar, a timeline, a contact panel
and ``node`` read several kinds of rows in one statement. The same operations are sent as
every user of the visibility matrix to two servers on one database, with combined reads (the
default) and without (``INBOX_GRAPH_COMBINED_READS=0``: each kind of row read by a statement
of its own, as before); their bodies must be the same bytes (up to the ``extensions``), errors
included, and the combined server must run the fewer statements it was built for."""

from __future__ import annotations

import pytest

from bench.queries import CONTACT_PANEL, SIDEBAR, TIMELINE, contact_panel_query
from bench.queries import CONVERSATIONS as BENCH_LIST
from tests.calls.common import grant_call_access
from tests.conftest import ASSIGN, PEOPLE
from tests.speed.test_plain_leaves import answer
from tests.speed.test_statement_counts import (
    COMMENT,
    CONVERSATIONS,
    NODE_FIELDS,
    PANEL_OF,
    TIMELINE_BACKWARDS,
    panel_pairs,
    ring_calls,
    statements,
)
from tests.speed.test_statement_counts import SIDEBAR as SIDEBAR_WITH_RELATIONS
from tests.speed.test_statement_counts import TIMELINE as TIMELINE_WITH_RELATIONS
from tests.support import Client, receive, serve, sql

USERS = ["owner", *PEOPLE]

CUSTOM = """mutation($i: CustomInboxInput!) { createCustomInbox(input: $i) { id } }"""
BLOCK = "mutation($c: ID!) { blockContact(contactId: $c) { id } }"
NODE = f"query($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}"
LIST_WITH_TIMELINES = """query($first: Int) {
  conversations(inbox: {standard: ALL}, first: $first) { edges { node { id
    timeline(first: 3) { edges { cursor node { __typename ... on Message { id text author { id } }
      ... on Activity { id kind author { id } assignee { id } } } } pageInfo { hasNextPage } }
    contact { id activities(first: 2) { edges { node { id text author { id } } } } }
  } } }
}"""
# node(id)'s timeline read with the conversation (graph.schema.node ``_timeline_ahead``): by a
# fragment, with literal arguments, under a directive, twice, with a bad cursor
TIMELINE_SHAPES = [
    """query($id: ID!) { node(id: $id) { id ...t } }
    fragment t on Conversation { timeline(first: 5) { edges { cursor node { __typename
      ... on Message { id author { id } } ... on Activity { id author { id } } } } } }""",
    """query($id: ID!, $on: Boolean!) { node(id: $id) { ... on Conversation @include(if: $on) {
      timeline(first: 3) { edges { cursor } } } } }""",
    """query($id: ID!) { node(id: $id) { ... on Conversation {
      a: timeline(first: 2) { edges { cursor } } b: timeline(last: 2) { edges { cursor } } } } }""",
    """query($id: ID!) { node(id: $id) { ... on Conversation {
      timeline(first: 2, after: "bm90IGEgY3Vyc29y") { edges { cursor } } } } }""",
    """query($id: ID!) { node(id: $id) { ... on Conversation {
      timeline(last: 4) { edges { cursor } pageInfo { hasPreviousPage startCursor } } } } }""",
]
NODE_PANEL = (
    "query($id: ID!) { node(id: $id) { ... on Contact { "
    + " ".join(CONTACT_PANEL.values())
    + " } } }"
)
# a contact panel read with the contact (graph.schema.contact ``panel_ahead``): by node(id)
# with a fragment on Node, under a directive, activities twice, backwards, with a bad cursor,
# merge suggestions alone, with the same contact twice in one request
PANEL_SHAPES = [
    """query($id: ID!) { node(id: $id) { id ...p } }
    fragment p on Node { ... on Contact { name channels { handle handles }
      activities(first: 3) { edges { cursor node { id author { id name } } } }
      mergeSuggestions { id name assignee { id } } } }""",
    """query($id: ID!, $on: Boolean!) { contact(id: $id) { id
      channels @include(if: $on) { hasIdentity } activities(first: 2) { edges { cursor } } } }""",
    """query($id: ID!) { contact(id: $id) { mergeSuggestions { id }
      a: activities(first: 2) { edges { cursor } } b: activities(last: 2) { edges { cursor } } } }""",
    """query($id: ID!) { contact(id: $id) { activities(last: 4) { edges { cursor node { kind } }
      pageInfo { hasPreviousPage startCursor } } channels { channel { id } } } }""",
    """query($id: ID!) { contact(id: $id) { channels { handle }
      activities(first: 2, after: "bm90IGEgY3Vyc29y") { edges { cursor } } } }""",
    """query($id: ID!) { contact(id: $id) { phone email mergeSuggestions { id phone email } } }""",
    """query($id: ID!) { contact(id: $id) { id activities(first: 1) { edges { cursor } } }
      node(id: $id) { ... on Contact { mergeSuggestions { id } channels { handle } } } }""",
]
TIMELINE_PAGE = """query($id: ID!, $first: Int, $after: String) {
  node(id: $id) { ... on Conversation { timeline(first: $first, after: $after) {
    edges { cursor node { __typename ... on Message { id createdAt } ... on Activity { id kind } } }
    pageInfo { hasNextPage endCursor } } } }
}"""


@pytest.fixture(scope="module")
def apart(served):
    server = serve({**served.env, "INBOX_GRAPH_COMBINED_READS": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def screens(world):
    """The matrix's world with what the screens show: custom inboxes named so that the
    database's collation orders them (shared with everyone, with a team, private), comments
    and reassignments (activities naming an assignee) on a conversation, the merge pairs of
    ``panel_pairs`` and a blocked contact (the blocked inbox appears)."""
    owner, integration = world.client("owner"), world.client("integration")
    alpha = world.team_ids["Alpha"]
    opened = {"status": ["OPEN"]}
    # filters joining the contact, with a subquery (channels), on blocked contacts
    joined = {"any": [{"assignee": {"me": True}}, {"countryCodes": ["GB"]}]}
    identities = {
        "all": [{"channelIds": [world.channel_ids["WEBCHAT"]]}, {"assignee": {"none": True}}]
    }
    for name, sharing, teams, spec in (
        ("beta", "EVERYONE", None, opened),
        ("Alpha", "EVERYONE", None, opened),
        ("alpha 2", "CHOSEN", [alpha], opened),
        ("Émile", "EVERYONE", None, opened),
        ("private", "PRIVATE", None, opened),
        ("joined", "EVERYONE", None, joined),
        ("identities", "EVERYONE", None, identities),
        ("blocked ones", "EVERYONE", None, {"blocked": True}),
    ):
        i = {"name": name, "filter": spec, "sharing": sharing}
        if teams:
            i["sharedWithTeamIds"] = teams
        await owner(CUSTOM, {"i": i})
    contact = world.contact_ids["c_team"]
    for n, assignee in enumerate(("agent_all", "agent_team", None)):
        await owner(COMMENT, {"c": contact, "t": f"Note {n}"})
        await owner(ASSIGN, {"c": contact, "a": world.user_ids[assignee] if assignee else None})
        await receive(world, "c_team", f"Again {n}", integration)
    world.panel_pairs = await panel_pairs(world)
    await grant_call_access(world)
    await ring_calls(world, 8)  # the call log's rows, their contacts assigned in turn
    await owner(BLOCK, {"c": world.contact_ids["c_free"]})
    await owner.aclose()
    await integration.aclose()
    return world


async def operations(owner: Client, world) -> list[tuple[str, dict]]:
    listed = await owner(
        "{ conversations(inbox: {standard: ALL}, first: 100) { edges { node { id "
        "timeline(first: 100) { edges { cursor node { __typename "
        "... on Message { id } ... on Activity { id } } } } } } } }"
    )
    nodes = [e["node"] for e in listed["conversations"]["edges"]]
    contact_ids = sorted(set(world.contact_ids.values()) | set(world.panel_pairs.values()))
    found: list[tuple[str, dict]] = [
        (SIDEBAR, {}),
        (SIDEBAR_WITH_RELATIONS, {}),
        (LIST_WITH_TIMELINES, {"first": 50}),
    ]
    for node in nodes[:12]:
        found.append((TIMELINE, {"id": node["id"], "first": 50}))
        found.append((TIMELINE_WITH_RELATIONS, {"id": node["id"], "first": 50}))
        found.append((NODE, {"id": node["id"]}))
        for shape in TIMELINE_SHAPES:
            found.append((shape, {"id": node["id"], "on": True}))
        edges = node["timeline"]["edges"]
        for edge in edges[:3]:
            found.append((NODE, {"id": edge["node"]["id"]}))
        if len(edges) > 2:
            cursor = edges[1]["cursor"]
            found.append((TIMELINE_PAGE, {"id": node["id"], "first": 2, "after": cursor}))
            found.append((TIMELINE_BACKWARDS, {"id": node["id"], "last": 2, "before": cursor}))
    for contact_id in contact_ids:
        found.append((contact_panel_query(), {"id": contact_id}))
        found.append((PANEL_OF, {"id": contact_id}))
        found.append((NODE, {"id": contact_id}))
        found.append((NODE_PANEL, {"id": contact_id}))
        for shape in PANEL_SHAPES:
            found.append((shape, {"id": contact_id, "on": True}))
    found.append((NODE, {"id": "Q29udmVyc2F0aW9uOjIxNDc0ODM2NDc="}))  # no such row
    found.append((contact_panel_query(), {"id": "Q29udGFjdDoyMTQ3NDgzNjQ3"}))  # no such row
    # several roots: node(id) batched with its siblings (graph.schema.ahead alone: one root
    # field is read at once), the same object twice, a conversation and its contact's panel
    first, second = nodes[0]["id"], nodes[1]["id"]
    contact = world.contact_ids["c_team"]
    found.append((TWO_ROOTS, {"a": first, "b": second}))
    found.append((TWO_ROOTS, {"a": first, "b": first}))
    found.append((TWO_ROOTS, {"a": first, "b": contact}))
    found.append((TWO_ROOTS, {"a": contact, "b": contact}))
    both = await owner(TWO_ROOTS, {"a": first, "b": contact})  # data, no errors
    assert both["a"]["timeline"] and both["b"]["channels"] is not None
    return found + await lists(owner, world)


TWO_ROOTS = f"""query($a: ID!, $b: ID!) {{
  a: node(id: $a) {{ {NODE_FIELDS}
    ... on Conversation {{ timeline(first: 3) {{ edges {{ cursor }} }} }} }}
  b: node(id: $b) {{ {NODE_FIELDS}
    ... on Contact {{ activities(first: 2) {{ edges {{ cursor }} }} channels {{ handle }} }} }}
}}"""


LIST_PAGE = """query($inbox: InboxSelector!, $first: Int, $after: String, $last: Int,
  $before: String, $status: ConversationStatus, $unseen: Boolean! = false) {
  conversations(inbox: $inbox, first: $first, after: $after, last: $last, before: $before,
    status: $status, unseen: $unseen) {
    edges { cursor node { id contact { id name assignee { id name } }
      lastMessage { id text author { id name } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def lists(owner: Client, world) -> list[tuple[str, dict]]:
    """The inbox lists (a page read with its contacts, last messages and their users,
    graph.loaders ``read_with``): every kind of inbox, both directions, the unseen filter,
    both statuses."""
    custom = await owner("{ customInboxes { id name } }")
    inboxes = (
        [{"standard": kind} for kind in ("ALL", "MINE", "UNASSIGNED")]
        + [{"blocked": True}, {"teamId": world.team_ids["Alpha"]}]
        + [{"customInboxId": c["id"]} for c in custom["customInboxes"]]
    )
    for inbox in inboxes:  # each a list the owner sees (not an error both servers share)
        body = await owner.execute(CONVERSATIONS, {"inbox": inbox, "first": 1})
        assert "errors" not in body, (inbox, body)
    found: list[tuple[str, dict]] = []
    for inbox in inboxes:
        found.append((CONVERSATIONS, {"inbox": inbox, "first": 100}))
        found.append((LIST_PAGE, {"inbox": inbox, "first": 2, "unseen": True}))
        found.append((LIST_PAGE, {"inbox": inbox, "last": 3, "status": None}))
    first = await owner(LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 2})
    cursor = first["conversations"]["pageInfo"]["endCursor"]
    found.append((LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 3, "after": cursor}))
    found.append((LIST_PAGE, {"inbox": {"standard": "ALL"}, "last": 1, "before": cursor}))
    found.append((LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 2, "status": "CLOSED"}))
    found.append((LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 2, "after": "bm8="}))
    # the call log (graph.resolvers.call call_log: its page with each call's contact and
    # channel, the users the calls and contacts name): every inbox kind, both directions
    for inbox in [None, *inboxes]:
        found.append((CALLS, {"inbox": inbox, "first": 100}))
        found.append((CALLS, {"inbox": inbox, "last": 3}))
    log = await owner(CALLS, {"inbox": None, "first": 3})
    assert len(log["calls"]["edges"]) == 3
    after = log["calls"]["pageInfo"]["endCursor"]
    found.append((CALLS, {"inbox": None, "first": 2, "after": after}))
    return found


CALLS = """query($inbox: InboxSelector, $first: Int, $last: Int, $after: String) {
  calls(inbox: $inbox, first: $first, last: $last, after: $after) {
    edges { cursor node { id status direction answeredBy { id name }
      channel { id name } contact { id name assignee { id name } } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""


async def same_bytes_for_every_user(screens, apart, wanted) -> int:
    """Every ``(query, variables)`` of ``wanted`` asked by each user of :data:`USERS` of both
    servers (combined reads on, ``screens``; off, ``apart``): 200 and the same bytes from
    both. Returns how many were compared."""
    compared = 0
    for who in USERS:
        together = screens.client(who)
        alone = Client(apart, screens.tokens[who])
        for query, variables in wanted:
            one = await together.raw(query, variables)
            other = await alone.raw(query, variables)
            assert one.status_code == other.status_code == 200
            assert answer(one.content) == answer(other.content), (who, query[:70], variables)
            compared += 1
        await together.aclose()
        await alone.aclose()
    return compared


async def test_combined_reads_answer_the_same_bytes_for_every_user(screens, apart):
    owner = screens.client("owner")
    wanted = await operations(owner, screens)
    await owner.aclose()
    assert len(wanted) > 60
    assert await same_bytes_for_every_user(screens, apart, wanted) == len(USERS) * len(wanted)


async def test_the_screens_run_one_statement_per_read(screens, apart):
    """The bench's screens (``bench.queries``), as the unrestricted agent (who may not view
    blocked contacts): the sidebar is one statement (was four: the custom inboxes, two
    counts, its teams' names), a timeline one (was five: the conversation, its contact,
    messages, activities, their users; all read together, graph.schema.node), a contact
    panel one (was nine: the contact, its assignee, the workspace, channels, identities,
    activities, their users, two merge groups; all read with the contact, by ``contact(id)``
    and by ``node(id)``, graph.schema.contact ``panel_ahead``)."""
    conversation = screens.client("owner")
    listed = await conversation(
        '{ node(id: "' + screens.contact_ids["c_team"] + '") { ... on Contact { '
        "conversations(first: 1) { nodes { id } } } } }"
    )
    await conversation.aclose()
    conversation_id = listed["node"]["conversations"]["nodes"][0]["id"]
    counts = {}
    for name, server in (("together", screens.served), ("apart", apart)):
        client = Client(server, screens.tokens["agent_all"])
        counts[name] = (
            (await statements(client, SIDEBAR))[0],
            (await statements(client, TIMELINE, {"id": conversation_id, "first": 50}))[0],
            (
                await statements(
                    client, contact_panel_query(), {"id": screens.panel_pairs["phone_b"]}
                )
            )[0],
            (await statements(client, NODE_PANEL, {"id": screens.panel_pairs["phone_b"]}))[0],
        )
        await client.aclose()
    assert counts == {"together": (1, 1, 1, 1), "apart": (4, 5, 9, 9)}, counts


async def test_an_inbox_list_is_one_statement(screens, apart):
    """An inbox list with its contacts, their assignees and the last messages (the bench's
    list, as the unrestricted agent): one statement (was four: the page, its contacts and
    last messages, their users); what hangs further off them (a user's teams, a message's
    channel) is read by its own loaders as before."""
    counts = {}
    for name, server in (("together", screens.served), ("apart", apart)):
        client = Client(server, screens.tokens["agent_all"])
        counts[name] = [
            (await statements(client, BENCH_LIST, {"inbox": inbox, "first": first}))[0]
            for inbox, first in (({"standard": "ALL"}, 25), ({"standard": "MINE"}, 100))
        ]
        await client.aclose()
    assert counts == {"together": [1, 1], "apart": [4, 4]}, counts


async def test_the_call_log_is_one_statement(screens, apart):
    """The call log with each call's contact, its assignee and the call's channel (as the
    owner): one statement (was four: the page, its contacts and channels, their users)."""
    counts = {}
    for name, server in (("together", screens.served), ("apart", apart)):
        client = Client(server, screens.tokens["owner"])
        counts[name] = (await statements(client, CALLS, {"inbox": None, "first": 5}))[0]
        await client.aclose()
    assert counts == {"together": 1, "apart": 4}, counts


# rows the API never writes, planted straight in the database (older code, SQLite's
# CURRENT_TIMESTAMP, another time zone, a message deleted under its conversation): ties on
# the lists' first key, timestamps in other forms, conversations without a last message or
# naming one that is gone, a contact with two conversations on one page
PLANTED = [  # (table, what is set, which rows)
    ("conversation", "last_activity_at = '2026-12-05 10:00:00+00:00'", "ORDER BY id LIMIT 6"),
    ("conversation", "last_activity_at = '2026-12-05 10:00:00'", "ORDER BY id DESC LIMIT 2"),
    (
        "conversation",
        "last_activity_at = '2026-12-05 12:00:00.5+02:00'",
        "ORDER BY id LIMIT 1 OFFSET 6",
    ),
    ("conversation", "last_message_id = NULL", "ORDER BY id LIMIT 1 OFFSET 1"),
    ("conversation", "last_message_id = 2147483647", "ORDER BY id LIMIT 1 OFFSET 2"),
    (  # a second conversation of the first conversation's contact
        "conversation",
        (
            "contact_id = (SELECT contact_id FROM conversation ORDER BY id LIMIT 1), "
            "open_contact_id = NULL, status = 'CLOSED'"
        ),
        "ORDER BY id LIMIT 1 OFFSET 4",
    ),
    # calls ringing since a moment still to come: in the past, a ringing one is past its ring
    # timeout, and each server's sweep (every second) may turn it MISSED between two answers
    ("call", "ringing_at = '2036-12-05 10:00:00+00:00'", "ORDER BY id LIMIT 4"),
    ("call", "ringing_at = '2036-12-05 10:00:00'", "ORDER BY id DESC LIMIT 1"),
]


async def test_lists_of_planted_rows_answer_the_same_bytes(screens, apart):
    """The inbox lists and the call log (read with their contacts, last messages and users:
    graph.loaders ``read_with``, one statement of joins) over rows the API never
    writes (:data:`PLANTED`), every inbox kind, forwards and backwards from a cursor inside
    the ties, pages of 1 and 100: the same bytes as without combined reads, for every user.
    Runs last in this module: it rewrites the world's rows."""
    for table, assignment, rows in PLANTED:
        sql(
            screens.served.env["DATABASE_URL"],
            f"UPDATE {table} SET {assignment} WHERE id IN (SELECT id FROM {table} {rows})",
        )
    sql(  # a last message written by SQLite's CURRENT_TIMESTAMP
        screens.served.env["DATABASE_URL"],
        "UPDATE message SET created_at = '2026-12-05 10:00:00' WHERE id IN "
        "(SELECT last_message_id FROM conversation ORDER BY id LIMIT 1 OFFSET 3)",
    )
    owner = screens.client("owner")
    custom = await owner("{ customInboxes { id } }")
    inboxes = [{"standard": "ALL"}, {"standard": "MINE"}, {"standard": "UNASSIGNED"}]
    inboxes += [{"blocked": True}, {"teamId": screens.team_ids["Alpha"]}]
    inboxes += [{"customInboxId": c["id"]} for c in custom["customInboxes"]]
    ties = await owner(LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 3, "status": None})
    assert len(ties["conversations"]["edges"]) == 3
    await owner.aclose()
    middle = ties["conversations"]["edges"][1]["cursor"]
    wanted: list[tuple[str, dict]] = []
    for inbox in inboxes:
        for size in (1, 100):
            for status in ("OPEN", None):
                wanted.append((LIST_PAGE, {"inbox": inbox, "first": size, "status": status}))
                wanted.append((LIST_PAGE, {"inbox": inbox, "last": size, "status": status}))
            wanted.append((LIST_PAGE, {"inbox": inbox, "first": size, "after": middle}))
            wanted.append((LIST_PAGE, {"inbox": inbox, "last": size, "before": middle}))
            wanted.append((CALLS, {"inbox": inbox, "first": size}))
            wanted.append((CALLS, {"inbox": inbox, "last": size}))
    assert await same_bytes_for_every_user(screens, apart, wanted) == len(USERS) * len(wanted)

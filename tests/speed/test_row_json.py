"""A list's nodes written as JSON by PostgreSQL (issue 23 item 1, ``graph.schema.row_json``).

Two servers on one database, one writing an inbox list's nodes in the database (the default)
and one completing them in Python (``INBOX_GRAPH_ROW_JSON=0``), asked the same lists as every
user of the visibility matrix: the same bytes (``data`` and ``errors``) and the same actual
cost. The world holds what each kind of value can be at its edges: texts with every control
character, quotes, backslashes and characters beyond ASCII, instants with and without
microseconds, contacts named by their given names, one of them, their e-mail or nothing, an
erased contact, a contact without assignee, a conversation without last message. Which
selections the database writes is checked on its own below; on SQLite every list is completed
in Python, and the comparison holds as well."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from graphql import Visitor, parse, visit

from bench.queries import CONVERSATIONS as BENCH_LIST
from bench.queries import TIMELINE
from db import combined
from db import models as m
from graph.app import InboxGraphQL
from graph.resolvers.contact import display_name, display_name_sql
from graph.schema import schema
from graph.schema.contact import ACTIVITY_MODELS
from graph.schema.conversation import TIMELINE_MODELS
from graph.schema.row_json import MAX_JOINS, EdgeJson, node_json, page_json
from graph.written import WrittenJson
from tests.speed.test_lean_reads import APOLLO
from tests.speed.test_plain_leaves import answer
from tests.speed.test_screens import USERS, operations, screens  # noqa: F401
from tests.support import Client, models_on, serve, sql

PAGE = "conversations(inbox: $inbox, first: 100, status: null)"
CHAIN = "lastMessage { id conversation { id " * (MAX_JOINS // 2) + "} }" * (MAX_JOINS // 2)
"""A node joining :data:`MAX_JOINS` rows: last message, its conversation, its last message..."""
ROW = (
    "id status lastActivityAt contact { id name firstName lastName email blocked "
    "assignee { id name role isActive } } lastMessage { id text direction createdAt }"
)
WRITTEN = [
    (
        f"query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ cursor node {{ {ROW} }} }} "
        "pageInfo { hasNextPage endCursor } totalCount } }"
    ),
    APOLLO,
    # a relation selected twice (counted twice), a fragment whose type does not apply
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id contact {{ id }}
      contact {{ name }} }} }} }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id lastMessage {{ id }}
      ... on Node {{ ... on Contact {{ lastMessage: assignee {{ id }} }} }} }} }} }} }}""",
    # aliases, __typename, a fragment on an interface, a leaf twice
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ __typename
      key: id ... on Node {{ id }} ...row who: contact {{ label: name }} }} }} }} }}
    fragment row on Conversation {{ status id lastMessage {{ __typename words: text }} }}""",
    # as many relations as it may join (MAX_JOINS)
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id {CHAIN} }} }} }} }}",
    # edges written whole: aliased, __typename, a key twice, the cursor after the node, a
    # fragment on the edge, no cursor
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ __typename at: cursor
      item: node {{ id }} at: cursor }} pageInfo {{ startCursor }} }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ ...edge }} }} }}
    fragment edge on ConversationEdge {{ node {{ id status }} cursor }}""",
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ totalCount edges {{ node {{ id }} }} }} }}",
]
EDGE_TEMPLATES = {
    WRITTEN[0]: ('{{"cursor":"{0}","node":{1}}}', 2),
    WRITTEN[-3]: ('{{"__typename":"ConversationEdge","at":"{0}","item":{1}}}', 2),
    WRITTEN[-2]: ('{{"node":{1},"cursor":"{0}"}}', 2),
    WRITTEN[-1]: ('{{"node":{1}}}', 2),
}
"""How some lists' edges are written around their nodes (``EdgeJson``: the edge's JSON, and
what the actual cost counts of it besides its node's: itself and its node)."""
PYTHON = [
    # a connection's nodes, a field the database does not write (a masked number), a
    # directive, a relation with arguments
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {ROW} }} }} }}",
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id contact {{ phone }} }} }} }} }}",
    f"""query($inbox: InboxSelector!, $on: Boolean! = true) {{ {PAGE} {{ edges {{ node {{ id
      contact @include(if: $on) {{ id }} }} }} }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id
      timeline(first: 2) {{ edges {{ cursor }} }} }} }} }} }}""",
    # a key that is a leaf here and an object in a fragment of another type (graph.cost
    # counts it when it is not null)
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id x: status
      ... on Node {{ ... on Contact {{ x: assignee {{ id }} }} }} }} }} }} }}""",
    # one relation more than it may join
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ node {{ id "
    + CHAIN.replace("conversation { id ", "conversation { id contact { id } ", 1)
    + " } } } }",
]
INBOXES = [{"standard": "ALL"}, {"standard": "MINE"}, {"blocked": True}]
EDGES = "".join(chr(c) for c in range(1, 32)) + "\"\\/'é€😀\u2028"
"""Every control character, the characters JSON escapes, and some beyond ASCII."""


@pytest.fixture(scope="module")
def in_python(served):
    server = serve({**served.env, "INBOX_GRAPH_ROW_JSON": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def edged(screens):  # noqa: F811
    """The screens' world with each kind of value at its edges (the module docstring)."""
    url = screens.served.env["DATABASE_URL"]
    owner = screens.client("owner")
    listed = await owner(
        "{ conversations(inbox: {standard: ALL}, first: 100, status: null) { edges { node { "
        "id contact { id } } } } }"
    )
    await owner.aclose()
    contacts = [int(_key(e["node"]["contact"]["id"])) for e in listed["conversations"]["edges"]]
    names = [(None, None, None), ("", "Lee", ""), ("Ann", "", None), ("", "", "a@b.test")]
    names += [("Zoë", None, None), (EDGES, "O'Neil", None)]
    for contact, (first, last, email) in zip(contacts, names, strict=False):
        sql(
            url,
            f"UPDATE contact SET first_name = {_text(first)}, last_name = {_text(last)}, "
            f"email = {_text(email)}, assignee_id = NULL WHERE id = {contact}",
        )
    sql(url, f"UPDATE contact SET erased_at = {AT} WHERE id = {contacts[len(names)]}")
    first, second, third = (_key(e["node"]["id"]) for e in listed["conversations"]["edges"][:3])
    sql(url, f"UPDATE conversation SET last_message_id = NULL WHERE id = {first}")
    sql(url, f"UPDATE conversation SET last_activity_at = {AT} WHERE id = {second}")
    sql(
        url,
        f"UPDATE message SET text = {_text(EDGES)}, created_at = {AT_MICRO} "
        f"WHERE id = (SELECT last_message_id FROM conversation WHERE id = {third})",
    )
    return screens


AT = "'2026-12-05 10:30:15+00:00'"  # an instant without microseconds
AT_MICRO = "'2026-12-05 10:30:15.000001+00:00'"
FAR = "'10000-01-01 00:00:00+00:00'"  # PostgreSQL holds it, Python's datetime does not


def _text(value: str | None) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def _key(global_id: str) -> str:
    padded = global_id + "=" * (-len(global_id) % 4)
    return base64.urlsafe_b64decode(padded).decode().partition(":")[2]


def _actual_cost(body: bytes) -> int:
    return json.loads(body)["extensions"]["cost"]["actualQueryCost"]


async def _same_bytes_and_cost(edged, in_python, wanted) -> list[bytes]:
    """Each ``(query, variables)`` of ``wanted`` asked by every user of :data:`USERS` of both
    servers (JSON written by the database, ``edged``; completed in Python, ``in_python``): 200,
    the same bytes and the same actual cost. Returns the first server's bodies."""
    bodies = []
    for who in USERS:
        written = edged.client(who)
        python = Client(in_python, edged.tokens[who])
        for query, variables in wanted:
            one = await written.raw(query, variables)
            other = await python.raw(query, variables)
            assert one.status_code == other.status_code == 200
            assert answer(one.content) == answer(other.content), (who, query[:80], variables)
            assert _actual_cost(one.content) == _actual_cost(other.content), (who, query[:80])
            bodies.append(one.content)
        await written.aclose()
        await python.aclose()
    return bodies


async def test_lists_answer_the_same_bytes_and_cost_for_every_user(edged, in_python):
    owner = edged.client("owner")
    custom = await owner("{ customInboxes { id } }")
    await owner.aclose()
    inboxes = [
        *INBOXES,
        {"teamId": edged.team_ids["Alpha"]},
        *({"customInboxId": c["id"]} for c in custom["customInboxes"]),
    ]
    wanted = [(shape, {"inbox": inbox}) for shape in [*WRITTEN, *PYTHON] for inbox in inboxes]
    backwards = BENCH_LIST.replace("first: $first", "last: $first")
    unseen = BENCH_LIST.replace("first: $first)", "first: $first, unseen: true)")
    wanted += [(unseen, {"inbox": inbox, "first": 100}) for inbox in INBOXES[:2]]
    wanted += [
        (BENCH_LIST, {"inbox": {"standard": "ALL"}, "first": 100}),
        (BENCH_LIST, {"inbox": {"standard": "ALL"}, "first": 1}),
        (backwards, {"inbox": {"standard": "ALL"}, "first": 3}),
        (
            BENCH_LIST.replace("$first: Int", "$first: Int, $status: ConversationStatus").replace(
                "first: $first)", "first: $first, status: $status)"
            ),
            {"inbox": {"standard": "ALL"}, "first": 100, "status": "CLOSED"},
        ),
    ]
    bodies = await _same_bytes_and_cost(edged, in_python, wanted)
    assert len(bodies) == len(USERS) * len(wanted)
    shown = {
        text
        for text in (EDGES, "Erased contact", "Unknown contact", "a@b.test", "Lee", "Zoë")
        if any(json.dumps(text, ensure_ascii=False)[1:-1].encode() in body for body in bodies)
    }
    # the edges were met (the owner sees every contact)
    assert shown == {EDGES, "Erased contact", "Unknown contact", "a@b.test", "Lee", "Zoë"}
    owner = edged.client("owner")
    found = await owner(WRITTEN[0], {"inbox": {"standard": "ALL"}})
    await owner.aclose()
    nodes = [e["node"] for e in found["conversations"]["edges"]]
    assert any(n["lastMessage"] is None for n in nodes)
    assert any(n["contact"]["assignee"] is None for n in nodes)
    assert any(n["contact"]["assignee"] is not None for n in nodes)
    assert "2026-12-05T10:30:15+00:00" in {n["lastActivityAt"] for n in nodes}
    assert any(
        n["lastMessage"] and n["lastMessage"]["createdAt"] == "2026-12-05T10:30:15.000001+00:00"
        for n in nodes
    )
    # an instant Python's datetime cannot hold (a message's, read by no cursor): the list is
    # read by Python, which reports it
    url = edged.served.env["DATABASE_URL"]
    message = _key(next(n for n in nodes if n["lastMessage"])["lastMessage"]["id"])
    kept = sql(url, f"SELECT created_at FROM message WHERE id = {message}")
    sql(url, f"UPDATE message SET created_at = {FAR} WHERE id = {message}")
    try:
        for query, variables in wanted[:1]:  # every conversation: ALL
            one = await Client(edged.served, edged.tokens["owner"]).raw(query, variables)
            other = await Client(in_python, edged.tokens["owner"]).raw(query, variables)
            assert answer(one.content) == answer(other.content)
            assert b"INTERNAL_SERVER_ERROR" in one.content
    finally:
        sql(url, f"UPDATE message SET created_at = '{kept}' WHERE id = {message}")


def test_written_edges_are_the_bytes_and_cost_of_their_edges():
    """A page's edges written around their nodes' JSON are what the encoder writes of the
    edges themselves, and the actual cost counts in them what it counts in the edges."""
    from graph.cost import _Kind, _Walk

    nodes = [WrittenJson('{"id":"QQ"}', 3), WrittenJson('{"text":"\\u00e9"}', 0)]
    cursors = ["WyIyMDI2Il0", "Wy0xXQ"]
    edge = EdgeJson('{{"__typename":"E","at":"{0}","item":{1}}}', 2)
    plain = [{"__typename": "E", "at": c, "item": n} for c, n in zip(cursors, nodes, strict=True)]
    written = edge.write(cursors, nodes)
    assert InboxGraphQL.encode_json(None, {"edges": written}) == InboxGraphQL.encode_json(
        None, {"edges": plain}
    )
    walk = _Walk(schema._schema, parse("{ __typename }"), {})
    program = (("edges", _Kind.LIST, (("item", _Kind.OBJECT, (("x", _Kind.OBJECT, None),)),)),)
    assert walk.actual(program, {"edges": written}) == walk.actual(program, {"edges": plain})
    assert walk.actual(program, {"edges": written}) == 2 * 2 + 3 + 0
    assert edge.write([], []).text == "[]" and edge.write([], []).objects == 0


def test_written_json_is_encoded_as_it_is():
    """A node written by the database is the bytes its value would be, through orjson and
    through the standard library (an answer holding an unpaired surrogate elsewhere)."""
    node = {"id": "Q29u", "text": 'é\u2028"\\', "none": None, "n": [1, True]}
    written = WrittenJson(json.dumps(node, ensure_ascii=False, separators=(",", ":")))
    for errors in ([], [{"message": "\ud800"}]):
        made = {"data": {"edges": [{"cursor": "c", "node": written}]}, "errors": errors}
        plain = {"data": {"edges": [{"cursor": "c", "node": node}]}, "errors": errors}
        assert InboxGraphQL.encode_json(None, made) == InboxGraphQL.encode_json(None, plain)


def _info(document: str) -> SimpleNamespace:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if d.kind == "operation_definition")
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}
    field = operation.selection_set.selections[0]
    raw = SimpleNamespace(
        schema=schema._schema,
        operation=operation,
        fragments=fragments,
        field_nodes=[field],
        return_type=schema._schema.query_type.fields["conversations"].type,
    )
    context = SimpleNamespace(request=SimpleNamespace(scope={"type": "http"}))
    return SimpleNamespace(_raw_info=raw, schema=schema, context=context)


async def test_which_lists_the_database_writes(database_url):
    async with models_on(database_url):
        for shape in [*WRITTEN, BENCH_LIST]:
            found = node_json(_info(shape), m.Conversation)
            assert found is not None, shape
            # every edge the database's nodes are in is written around them
            assert found.edge is not None, shape
            if shape in EDGE_TEMPLATES:
                assert (found.edge.template, found.edge.objects) == EDGE_TEMPLATES[shape]
        for shape in PYTHON:
            assert node_json(_info(shape), m.Conversation) is None, shape[:80]
        over_websocket = _info(BENCH_LIST)
        over_websocket.context.request = SimpleNamespace(scope={"type": "websocket"})
        assert node_json(over_websocket, m.Conversation) is None


async def test_a_row_the_database_cannot_write_is_read_by_python(database_url, edged):
    async with models_on(database_url):
        query = m.Conversation.all().order_by("-id").limit(5)
        order = [("id", True)]
        written = await combined.read_json(query, order, (), "'{}'")
        postgres = database_url.startswith("postgres")
        if not postgres:
            assert written is None  # SQLite: always Python
            return
        assert [row.node for row in written] == ["{}"] * 5
        assert [row.id for row in written] == sorted((row.id for row in written), reverse=True)
        assert await combined.read_json(query, order, (), "NULL") is None


@pytest.mark.parametrize("erased", [None, datetime(2026, 12, 5, tzinfo=UTC)])
async def test_the_database_names_a_contact_as_display_name_does(database_url, erased):
    if not database_url.startswith("postgres"):
        pytest.skip("the database writes JSON on PostgreSQL only")
    import asyncpg

    values = [None, "", "Ann", "O'Neil é"]
    connection = await asyncpg.connect(database_url)
    try:
        for first, last, email in itertools.product(values, values, [None, "", "a@b.test"]):
            found = await connection.fetchval(
                f"SELECT {display_name_sql('c')} FROM (VALUES ($1::text, $2::text, $3::text, "
                "$4::timestamptz)) AS c(first_name, last_name, email, erased_at)",
                first,
                last,
                email,
                erased,
            )
            row = SimpleNamespace(first_name=first, last_name=last, email=email, erased_at=erased)
            assert found == display_name(row), (first, last, email, erased)
    finally:
        await connection.close()


TIMELINE_JSON = [
    # one member's fragment only (the other's nodes are {}), both members' authors and a
    # fragment on an interface, a relation twice under two keys, an alias naming a part of the
    # statement (page_0: graph.resolvers.pages renames parts, never a written key)
    """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(first: 50) {
      edges { cursor node { ... on Message { id text } } } } } } }""",
    # edges written whole around the nodes: aliased, __typename
    """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(first: 50) {
      edges { kind: __typename item: node { __typename ... on Activity { kind } } at: cursor }
      pageInfo { endCursor } } } } }""",
    """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(last: 7) {
      edges { cursor node { __typename ... on Node { id } ... on Message { page_0: text
        direction createdAt author { id name } } ... on Activity { kind page_0: text
        author { id name role } who: author { id } } } }
      pageInfo { hasPreviousPage startCursor } } } } }""",
    # a key that is a leaf in one member and an object in the other: Python's
    """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(first: 50) {
      edges { node { ... on Message { x: text } ... on Activity { x: author { id } } } } } } } }""",
    # the page written, then dropped by a sibling's error (null propagated over the node):
    # what it held costs nothing
    """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(first: 50) {
      edges { node { ... on Message { author { id } } ... on Activity { author { id } } } } }
      messages(first: 0) { totalCount } } } }""",
]
PANEL_JSON = [
    # a contact's activities read with its channels and merge suggestions, not by a screen's
    # root (a list of one conversation): one statement of their parts, renamed
    """{ conversations(inbox: {standard: ALL}, first: 1, status: null) { edges { node {
      contact { id channels { handle } mergeSuggestions { id }
        activities(first: 10) { edges { cursor node { page_0: text b0_page_0: kind id
          author { id name } } } } } } } } }""",
    """query($id: ID!) { contact(id: $id) { activities(first: 10) { edges { cursor node {
      __typename id kind text createdAt author { id name } } } pageInfo { hasNextPage } } } }""",
    """query($id: ID!) { contact(id: $id) { activities(first: 10) { edges { node { id
      author { id } } } } conversations(first: -1) { totalCount } } }""",
    # pages read on their own, not by a screen's root, each alone in its statement
    """{ conversations(inbox: {standard: ALL}, first: 1, status: null) { edges { node {
      timeline(first: 20) { edges { node { ... on Message { text } } } } } } } }""",
    """{ conversations(inbox: {standard: ALL}, first: 1, status: null) { edges { node {
      contact { activities(last: 3) { edges { cursor node { kind text } } } } } } } }""",
]


async def test_timelines_and_panels_answer_the_same_bytes_and_cost_for_every_user(edged, in_python):
    """The screens' operations (``tests/speed/test_screens.py``: the bench's timeline and
    panel, by ``node(id)`` and ``contact(id)``, every shape read ahead or not, the lists with
    timelines, two roots) and the shapes above: the same bytes and actual cost with the
    pages' nodes written by the database and completed in Python."""
    owner = edged.client("owner")
    wanted = await operations(owner, edged)
    listed = await owner(
        "{ conversations(inbox: {standard: ALL}, first: 12, status: null) { edges { node { "
        "id contact { id } } } } }"
    )
    await owner.aclose()
    for edge in listed["conversations"]["edges"]:
        conversation, contact = edge["node"]["id"], edge["node"]["contact"]["id"]
        wanted += [(shape, {"id": conversation}) for shape in TIMELINE_JSON]
        wanted += [(shape, {"id": contact}) for shape in PANEL_JSON if "$id" in shape]
    wanted += [(shape, {}) for shape in PANEL_JSON if "$id" not in shape]
    bodies = await _same_bytes_and_cost(edged, in_python, wanted)
    assert len(bodies) == len(USERS) * len(wanted)


async def test_a_timeline_the_database_cannot_write_is_read_by_python(edged, in_python):
    """An activity of a kind the schema lacks: its node's JSON is NULL, the timeline is read
    again as rows, and Python reports it as it always did."""
    owner = edged.client("owner")
    listed = await owner(
        "{ conversations(inbox: {standard: ALL}, first: 100, status: null) { edges { node { "
        "id timeline(first: 50) { edges { node { __typename ... on Activity { id } } } } } } } }"
    )
    await owner.aclose()
    conversation, activity = next(
        (edge["node"]["id"], item["node"]["id"])
        for edge in listed["conversations"]["edges"]
        for item in edge["node"]["timeline"]["edges"]
        if item["node"]["__typename"] == "Activity"
    )
    url = edged.served.env["DATABASE_URL"]
    kept = sql(url, f"SELECT kind FROM activity WHERE id = {_key(activity)}")
    sql(url, f"UPDATE activity SET kind = 'NOT_A_KIND' WHERE id = {_key(activity)}")
    try:
        for query in (TIMELINE, TIMELINE_JSON[1]):
            variables = {"id": conversation, "first": 50}
            one = await Client(edged.served, edged.tokens["owner"]).raw(query, variables)
            other = await Client(in_python, edged.tokens["owner"]).raw(query, variables)
            assert answer(one.content) == answer(other.content), (one.content, other.content)
            assert b"INTERNAL_SERVER_ERROR" in one.content
    finally:
        sql(url, f"UPDATE activity SET kind = '{kept}' WHERE id = {_key(activity)}")


def _field(document: str, name: str) -> tuple[SimpleNamespace, object]:
    """The resolve info of ``document``'s first root field and the first field named ``name``
    below it (what ``node(id)`` reads ahead)."""
    info = _info(document)
    found = []

    class Finder(Visitor):
        def enter_field(self, node, *_):
            if node.name.value == name:
                found.append(node)

    visit(info._raw_info.operation, Finder())
    return info, found[0]


async def test_which_pages_the_database_writes(database_url):
    async with models_on(database_url):
        postgres = database_url.startswith("postgres")
        for shape, joins in [
            (TIMELINE, [1, 1]),  # the messages' and the activities' authors
            (TIMELINE_JSON[0], [0, 0]),
            (TIMELINE_JSON[1], [0, 0]),
            (TIMELINE_JSON[2], [1, 2]),
            (TIMELINE_JSON[3], None),  # a leaf here, an object there
            (TIMELINE.replace("author {", "mentions {"), None),  # a list of users
        ]:
            info, timeline = _field(shape, "timeline")
            found = page_json(info, TIMELINE_MODELS, timeline, "Conversation")
            assert (found is not None) == (joins is not None and postgres), shape[:80]
            if found is not None:
                assert [len(node.joins) for node in found] == joins
                assert found[0].edge is not None and found[0].edge == found[1].edge
        # a mutation's fields read what the request's loaders kept: never written
        mutation = _field(
            "mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { conversation { "
            "timeline(first: 5) { edges { node { ... on Message { id } } } } } } }",
            "timeline",
        )
        assert page_json(*mutation[:1], TIMELINE_MODELS, mutation[1], "Conversation") is None
        info, activities = _field(PANEL_JSON[1], "activities")
        found = page_json(info, ACTIVITY_MODELS, activities, "Contact")
        assert (found is not None) == postgres
        # the node's selection decides: not the conversation's field name
        assert page_json(info, ACTIVITY_MODELS, activities, "Conversation") is None

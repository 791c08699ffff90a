"""Lean reads (issue 23 item 1, ``graph.schema.lean``): an inbox list leaves out of its
statement the columns none of the request's fields read. The lists, shaped so that a left-out
column is asked for from everywhere a document can ask (the list's own fields, a named
fragment, an interface, an alias, another root field, a field under a directive), are sent as
every user of the visibility matrix to two servers on one database, reading lean (the default)
and every column (``INBOX_GRAPH_LEAN_READS=0``): the same bytes from both. Which columns a
document leaves out is checked on its own below."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from graphql import parse

from bench.queries import CONVERSATIONS as BENCH_LIST
from db import models as m
from graph.schema import schema
from graph.schema.lean import LEAN, unread_columns, unread_users
from graph.schema.lean import USERS as USER_FIELDS
from tests.speed.test_screens import USERS, same_bytes_for_every_user, screens  # noqa: F401
from tests.support import serve

LEAN_TYPES = {lean.model: lean.columns for lean in LEAN.values()}

PAGE = "conversations(inbox: $inbox, first: 100, status: null)"
NODE = (
    "id status lastActivityAt contact { id name assignee { id name } } "
    "lastMessage { id text direction createdAt author { id name } }"
)
# the bench's list, then lists asking for left-out columns from everywhere a document can ask:
# the list's own fields, a named fragment, an interface, an alias, another root field, a
# field under a directive
SHAPES = [
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ edges {{ cursor node {{ {NODE} }} }} }} }}",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE} contact {{ ...c }} }} }} }}
    fragment c on Contact {{ phone countryCode language createdAt erasedAt
      erasedCounts {{ messages }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE}
      contact {{ assignee {{ mail: email }} }} lastMessage {{ author {{ email }} }} }} }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE} }} }}
      me {{ id email role }} }}""",
    f"""query($inbox: InboxSelector!, $on: Boolean! = false) {{ {PAGE} {{ nodes {{ {NODE}
      contact {{ phone @include(if: $on) }} }} }} }}""",
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ ... on Node {{ id }} {NODE}
      contact {{ ... on Node {{ ... on Contact {{ language }} }} }} }} }} }}""",
    # the list's contacts met again by another root field, through the same loader
    f"""query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE} }} }}
      calls(first: 100) {{ nodes {{ id contact {{ id phone countryCode language }} }} }} }}""",
]
NO_USER = (
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ id contact {{ id name }} "
    "lastMessage { id text } } } }"
)
"""A list showing no user: neither a contact's assignee nor a message's author is read with
its page (``graph.schema.lean.unread_users``)."""
SHAPES.append(NO_USER)
# a message's author asked for where the walk over a document counts it though an answer may
# not show it: under @include, in a fragment not spread, through an interface
AUTHOR_ASKED = [
    (
        f"query($inbox: InboxSelector!, $on: Boolean! = false) {{ {PAGE} {{ nodes {{ id "
        "lastMessage { id author @include(if: $on) { id } } } } }"
    ),
    (
        f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ id lastMessage {{ id }} }} }} }} "
        "fragment unused on Message { author { id } }"
    ),
    (
        f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ id lastMessage {{ ... on Node {{ "
        "... on Message { author { id } } } } } } }"
    ),
]
# each field reading a left-out column, alone in a list (so that it alone decides)
ALONE = {
    "Conversation": "{}",
    "Contact": "contact {{ {} }}",
    "Message": "lastMessage {{ {} }}",
    "User": "contact {{ assignee {{ {} }} }}",
}
ASKING = {
    "Conversation": ["openedAt", "closedAt", "closingCategory", "closingSummary"],
    "Contact": ["phone", "countryCode", "language", "createdAt", "erasedCounts { messages }"],
    "Message": ["deliveryStatus", "sentAt", "deliveredAt", "readAt", "failedAt", "failureReason"],
    "User": ["email"],
}
SHAPES += [
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE} "
    + ALONE[name].format(field)
    + " } } }"
    for name, fields in ASKING.items()
    for field in fields
]
INBOXES = [{"standard": "ALL"}, {"standard": "MINE"}, {"blocked": True}]


@pytest.fixture(scope="module")
def every_column(served):
    server = serve({**served.env, "INBOX_GRAPH_LEAN_READS": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def listed(screens):  # noqa: F811
    """The screens' world with a value in each left-out column a list shows: a contact's
    country and language, a closed conversation's note, a message sent (its status)."""
    owner = screens.client("owner")
    contact = screens.contact_ids["c_all"]
    await owner(
        "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }",
        {"i": {"contactId": contact, "countryCode": "FR", "language": "fr"}},
    )
    await owner(
        "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } } }",
        {"i": {"contactId": screens.contact_ids["c_team"], "text": "Sent"}},
    )
    await owner(
        'mutation($c: ID!) { closeConversation(contactId: $c, category: "Sales", '
        'summary: "Done") { id } }',
        {"c": contact},
    )
    await owner.aclose()
    return screens


async def test_lean_lists_answer_the_same_bytes_for_every_user(listed, every_column):
    owner = listed.client("owner")
    shown = await owner(SHAPES[1], {"inbox": {"standard": "ALL"}})
    closed = await owner(ALL_COLUMNS, {"inbox": {"standard": "ALL"}})
    await owner.aclose()
    contacts = [n["contact"] for n in shown["conversations"]["nodes"]]
    nodes = closed["conversations"]["nodes"]
    assert any(c["phone"] for c in contacts) and any(c["language"] for c in contacts)
    assert any(n["closingSummary"] for n in nodes) and any(n["openedAt"] for n in nodes)
    assert all(n["lastMessage"]["deliveryStatus"] for n in nodes if n["lastMessage"])
    wanted = [(shape, {"inbox": inbox}) for shape in [*SHAPES, APOLLO] for inbox in INBOXES]
    wanted.append((BENCH_LIST, {"inbox": {"standard": "ALL"}, "first": 100}))
    compared = await same_bytes_for_every_user(listed, every_column, wanted)
    assert compared == len(USERS) * len(wanted)


ALL_COLUMNS = (
    f"query($inbox: InboxSelector!) {{ {PAGE} {{ nodes {{ {NODE} "
    + " ".join(ASKING["Conversation"])
    + " lastMessage { "
    + " ".join(ASKING["Message"])
    + " } } } }"
)


def left_out(document: str) -> dict[type, frozenset[str]]:
    parsed = parse(document)
    operations = [d for d in parsed.definitions if d.kind == "operation_definition"]
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}
    raw = SimpleNamespace(schema=schema._schema, operation=operations[0], fragments=fragments)
    return dict(unread_columns(SimpleNamespace(_raw_info=raw)))


APOLLO = """query Inbox($inbox: InboxSelector!) {
  conversations(inbox: $inbox, first: 25) { __typename edges { __typename cursor node {
    __typename ...Row } } pageInfo { __typename hasNextPage endCursor } } }
fragment Row on Conversation { __typename id status lastActivityAt
  contact { __typename id name assignee { __typename id name } }
  lastMessage { __typename id text direction createdAt } }"""
"""The list as Apollo Client sends it: ``__typename`` in every selection, a fragment per row."""


def test_a_list_asking_for_no_left_out_column_leaves_them_all_out():
    assert left_out(SHAPES[0]) == LEAN_TYPES
    assert left_out(BENCH_LIST) == LEAN_TYPES
    assert left_out(APOLLO) == LEAN_TYPES


def test_each_field_reading_a_left_out_column_keeps_its_type_whole():
    alone = SHAPES[-sum(map(len, ASKING.values())) :]
    kinds = [name for name, fields in ASKING.items() for _ in fields]
    for shape, name in zip(alone, kinds, strict=True):
        model = LEAN[name].model
        assert left_out(shape) == {k: v for k, v in LEAN_TYPES.items() if k is not model}


@pytest.mark.parametrize(
    ("shape", "kept"),
    [
        (SHAPES[1], {m.Contact}),  # a named fragment
        (SHAPES[2], {m.User}),  # an alias
        (SHAPES[3], {m.User}),  # another root field
        (SHAPES[4], {m.Contact}),  # under @include
        (SHAPES[5], {m.Contact}),  # inline fragments, on an interface
        (SHAPES[6], {m.Contact}),  # another root field, the same contacts
        (ALL_COLUMNS, {m.Conversation, m.Message}),
        # a field of an interface counts for every type implementing it, of a union for
        # every member (the timeline: messages and activities)
        (
            "query($id: ID!) { conversations(inbox: {standard: ALL}) { nodes { id } } "
            + "node(id: $id) { id } }",
            set(),
        ),
        (
            "{ conversations(inbox: {standard: ALL}) { nodes { id timeline { nodes { "
            + "... on Message { sentAt } } } } } }",
            {m.Conversation, m.Message},
        ),
    ],
)
def test_a_column_asked_for_anywhere_is_read(shape, kept):
    assert left_out(shape) == {model: c for model, c in LEAN_TYPES.items() if model not in kept}


def left_out_users(document: str) -> frozenset[type]:
    parsed = parse(document)
    operations = [d for d in parsed.definitions if d.kind == "operation_definition"]
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}
    raw = SimpleNamespace(schema=schema._schema, operation=operations[0], fragments=fragments)
    return unread_users(SimpleNamespace(_raw_info=raw))


USER_TYPES = {model for model, _ in USER_FIELDS.values()}


@pytest.mark.parametrize(
    ("shape", "kept"),
    [
        (BENCH_LIST, {m.Contact}),  # the contacts' assignees, no message's author
        (APOLLO, {m.Contact}),
        (SHAPES[0], {m.Contact, m.Message}),
        (NO_USER, set()),
        *((shape, {m.Message}) for shape in AUTHOR_ASKED),
        # an author asked for by a fragment of another root field, through an alias
        (
            "query($inbox: InboxSelector!, $id: ID!) { "
            + PAGE
            + " { nodes { id lastMessage { id } } } node(id: $id) { ...m } } "
            + "fragment m on Message { writer: author { id } }",
            {m.Message},
        ),
        # a field of a union counts for its member only: an activity's author, not a message's
        (
            "{ conversations(inbox: {standard: ALL}) { nodes { id timeline { nodes { "
            + "... on Activity { author { id } } } } } } }",
            {m.Activity},
        ),
        ("{ calls(first: 5) { nodes { id answeredBy { id } } } }", {m.Call}),
    ],
)
def test_users_shown_anywhere_are_read_with_the_rows_naming_them(shape, kept):
    assert left_out_users(shape) == USER_TYPES - kept

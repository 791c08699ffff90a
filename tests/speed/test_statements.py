"""A query's statement kept between requests (issue 23, ``db.queries.statement``): a list's
statement comes from the cache only for a query equal in every input, so it is always the
statement tortoise would have built for that query, parameters included. Checked on the
session's database (SQLite or PostgreSQL) for the inbox lists of every visibility scope
(the visibility function's own filters), keyset pages on both sides, per-parent windows,
and values that are equal in Python but not the same parameter (``1`` and ``True``, one
instant in two time zones, the two instants of an hour a time zone repeats, a member of an
enum and its value)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from tortoise.expressions import Q, RawSQL

from db.models import Contact, Conversation, ConversationStatus, Message
from db.queries import keyset_between, ordering, reverse, statement
from graph.permissions.visibility import EVERYTHING, NOTHING, Scope
from tests.support import models_on, receive

ORDER = [("last_activity_at", True), ("id", True)]
AT = datetime(2026, 12, 5, 10, 30, 15, 123456, tzinfo=UTC)
ELSEWHERE = AT.astimezone(timezone(timedelta(hours=2)))  # the same instant, another zone
# 01:30 in London on 25 October 2026 comes twice (BST, then GMT): equal in Python (a zone's own
# times compare without ``fold``), not the same instant
REPEATED = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))

SCOPES = [
    EVERYTHING,
    NOTHING,
    Scope(blocked=False),
    Scope(blocked=True),
    Scope(assignees=frozenset({None})),
    Scope(assignees=frozenset({3}), blocked=False),
    Scope(assignees=frozenset({3, 4, None}), blocked=False),
    Scope(assignees=frozenset({4, 3, None}), blocked=False),  # the same scope
    Scope(assignees=frozenset({3, 5}), blocked=None),
]


def queries():
    """Each query twice over: a list of queries whose statements may or may not be equal."""
    found = []
    for workspace in (1, 2):
        for scope in SCOPES:
            for status in (ConversationStatus.OPEN, ConversationStatus.CLOSED, None):
                query = Conversation.filter(workspace_id=workspace).filter(scope.q("contact_"))
                if status is not None:
                    query = query.filter(status=status)
                for after, before in ((None, None), ([AT, 7], None), (None, [ELSEWHERE, 7])):
                    condition = keyset_between(ORDER, after, before)
                    page = query.filter(condition) if condition is not None else query
                    for backward in (False, True):
                        reading = reverse(ORDER) if backward else ORDER
                        for size in (25, 100):
                            found.append(page.order_by(*ordering(reading)).limit(size + 1))
    # equal in Python, not the same parameter or statement
    found += [
        Contact.filter(workspace_id=1, blocked=True),
        Contact.filter(workspace_id=1, blocked=1),
        Contact.filter(workspace_id=True, blocked=False),
        Conversation.filter(workspace_id=1, last_activity_at__lt=AT),
        Conversation.filter(workspace_id=1, last_activity_at__lt=ELSEWHERE),
        Conversation.filter(workspace_id=1, last_activity_at__lt=REPEATED),
        Conversation.filter(workspace_id=1, last_activity_at__lt=REPEATED.replace(fold=1)),
        Conversation.filter(workspace_id=1, status=ConversationStatus.OPEN),
        Conversation.filter(workspace_id=1, status=ConversationStatus.OPEN.value),
        Conversation.filter(workspace_id=1, id__in=[1, 2]),
        Conversation.filter(workspace_id=1, id__in=[2, 1]),
        Conversation.filter(workspace_id=1, id__in=(1, 2)),
        Conversation.filter(Q(id=1) | Q(id=2), workspace_id=1),
        Conversation.filter(Q(id=1) & Q(id=2), workspace_id=1),
        Conversation.filter(~Q(id=1), workspace_id=1),
        Conversation.filter(workspace_id=1).exclude(id=1),
        Conversation.filter(workspace_id=1).limit(5).offset(10),
        Conversation.filter(workspace_id=1).distinct(),
        Conversation.filter(workspace_id=1).order_by("id"),
        Conversation.filter(workspace_id=1).order_by("-id"),
    ]
    # per-parent windows (db.queries.first_per_group's annotation)
    for group in ("conversation_id", "contact_id"):
        window = f"ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY id DESC)"
        found.append(
            Message.filter(workspace_id=1, **{f"{group}__in": [1, 2]}).annotate(
                group_rank=RawSQL(window)
            )
        )
    return found


def built_by_tortoise(query):
    fresh = query._clone()
    fresh._choose_db_if_not_chosen()
    fresh._make_query()
    sql, params = fresh.query.get_parameterized_sql()
    limit = f" LIMIT ${len(params)}"
    if fresh._db.capabilities.dialect == "postgres" and sql.endswith(limit):
        # a page's limit is written as a number on PostgreSQL (its generic plan is kept)
        assert params[-1] == fresh._limit
        return f"{sql[: -len(limit)]} LIMIT {fresh._limit}", list(params[:-1])
    return sql, list(params)


@pytest.fixture(scope="module")
async def connected(database_url: str):
    async with models_on(database_url):
        yield


async def test_every_statement_is_what_tortoise_builds_for_that_query(connected) -> None:
    """Every query's statement (first built, then from the cache, in two passes over the
    same queries in the same order) is tortoise's own for that query: text and parameters,
    with their types (``True`` is not ``1``, a timestamp keeps its zone)."""
    for _ in range(2):
        for query in queries():
            expected = built_by_tortoise(query)
            got = statement(query._clone())
            assert got == expected, query.sql()
            assert [type(p) for p in got[1]] == [type(p) for p in expected[1]]
            assert [(getattr(p, "tzinfo", None), _offset(p)) for p in got[1]] == [
                (getattr(p, "tzinfo", None), _offset(p)) for p in expected[1]
            ]


def _offset(value):
    """A timestamp parameter's offset from UTC (what its instant depends on beside its
    fields), else ``None``."""
    return value.utcoffset() if isinstance(value, datetime) else None


async def test_a_cached_statement_is_not_changed_by_its_caller(connected) -> None:
    """The parameters handed out are a new list each time: a caller appending to or changing
    them changes nothing the next request reads."""
    query = Conversation.filter(workspace_id=3, id__in=[1, 2]).limit(4)
    first = statement(query._clone())
    first[1].append(99)
    first[1][0] = 42
    assert statement(query._clone()) == built_by_tortoise(query)


async def test_a_page_reads_the_rows_tortoise_reads(world, connected) -> None:
    """Whatever form its limit takes, a page's statement reads the rows tortoise reads: the
    first rows in order, as many as the limit, the offset applied."""
    for query in (
        Conversation.all().order_by("-id").limit(3),
        Conversation.all().order_by("id").limit(2).offset(1),
        Conversation.filter(id__gte=0).order_by("-last_activity_at", "-id").limit(1),
    ):
        sql, params = statement(query._clone())
        _, rows = await Conversation._meta.db.execute_query(sql, params)
        expected = [row.id for row in await query._clone()]
        assert expected and [row["id"] for row in rows] == expected


async def test_a_combined_read_builds_the_rows_each_read_builds_alone(world, connected) -> None:
    """``db.combined.read_combined`` (on SQLite each part's columns by position, as many as
    its own model has) builds every part's rows as the part's statement alone reads them,
    in its order: parts of models of different widths, one naming another, ordered by a
    timestamp and by text, and plain values."""
    from db.combined import Part, combined_statement, query_part, read_combined
    from db.models import User
    from db.queries import columns, model_rows, plain_rows

    for number in range(5):  # conversations, each with its contact
        await receive(world, f"combined-{number}", f"hello {number}")
    conversations = Conversation.all().order_by("-last_activity_at", "-id").limit(4)
    users = User.all().order_by("name", "id").limit(5)
    contacts_sql = (
        f'SELECT {columns(Contact)} FROM "contact" WHERE id IN (SELECT contact_id FROM "convs")'
    )
    parts = [
        query_part("convs", conversations._clone(), [("last_activity_at", True), ("id", True)]),
        Part("contacts", Contact, contacts_sql),
        query_part("named", users._clone(), [("name", False), ("id", False)]),
        Part("counted", None, 'SELECT COUNT(*) AS n_ FROM "convs"', values={"n_": "BIGINT"}),
    ]
    found = await read_combined(parts)
    expected_conversations = await plain_rows(conversations._clone())
    ids = ", ".join(str(row.contact_id) for row in expected_conversations)
    _, contact_rows = await Contact._meta.db.execute_query(
        f'SELECT {columns(Contact)} FROM "contact" WHERE id IN ({ids})'
    )
    expected = [
        expected_conversations,
        model_rows(Contact, contact_rows),
        await plain_rows(users._clone()),
    ]
    assert len(expected[0]) == 4 and expected[1] and len(expected[2]) == 5
    assert [vars(row) for row in found[0]] == [vars(row) for row in expected[0]]
    assert sorted((vars(row) for row in found[1]), key=lambda v: v["id"]) == sorted(
        (vars(row) for row in expected[1]), key=lambda v: v["id"]
    )
    assert [vars(row) for row in found[2]] == [vars(row) for row in expected[2]]
    assert found[3] == [(4,)]
    # each row carries the part number, its rank and as many columns as the parts need in
    # all (the widest part's on SQLite), not one for every column name of every model
    db = Conversation._meta.db
    _, rows = await db.execute_query(*combined_statement(db, parts))
    models = (Conversation, Contact, User)
    widest = max(len(model._meta.db_fields) for model in models)
    every = len(
        {column for model in models for column in model._meta.fields_db_projection.values()}
    )
    assert 2 + widest <= len(rows[0]) < 2 + every, (len(rows[0]), widest, every)


async def test_a_value_of_another_type_than_declared_leaves_the_model_rows_as_they_are(
    world, connected
) -> None:
    """A part of plain values whose expression is of another type than it declares (a
    ``NUMERIC`` declared ``INT``) is read as declared, and the model columns sharing that type
    in the statement (on PostgreSQL, columns of one type are shared by the parts) come back as
    they are: integers, not decimals."""
    from db.combined import Part, query_part, read_combined
    from db.models import User
    from db.queries import plain_rows

    users = User.all().order_by("name", "id").limit(5)
    found = await read_combined(
        [
            query_part("named", users._clone(), [("name", False), ("id", False)]),
            Part("summed", None, 'SELECT SUM("id") * 1.0 AS s_ FROM "named"', values={"s_": "INT"}),
        ]
    )
    expected = await plain_rows(users._clone())
    assert len(expected) == 5
    assert [vars(row) for row in found[0]] == [vars(row) for row in expected]
    assert all(type(row.id) is int for row in found[0])
    assert found[1][0][0] == sum(row.id for row in expected)


async def test_sqlite_rows_are_read_by_position_as_by_name(world, connected) -> None:
    """A row read by its columns' positions (SQLite's rows, ``db.queries.model_rows``) is the
    row read by name, whatever the columns' order and whatever other columns come first."""
    from db.queries import columns, model_rows

    db = Contact._meta.db
    reordered = ", ".join(reversed(columns(Contact).split(", ")))
    _, plain = await db.execute_query(f'SELECT {columns(Contact)} FROM "contact" ORDER BY id')
    _, other = await db.execute_query(
        f'SELECT 0 AS part_, NULL AS row_, {reordered} FROM "contact" ORDER BY id'
    )
    assert plain
    by_name = [Contact._init_from_db(**dict(row)) for row in plain]
    assert [vars(row) for row in model_rows(Contact, other)] == [vars(row) for row in by_name]
    assert [vars(row) for row in model_rows(Contact, plain)] == [vars(row) for row in by_name]


async def test_rows_of_a_given_layout_lacking_a_column_are_refused(world, connected) -> None:
    """Rows whose columns' names are given (a combined or joined read's, named otherwise than
    the model's columns) without one of the model's columns raise, never become instances
    read by the rows' own names (another model's ``id`` taken for the contact's)."""
    from db.queries import columns, model_rows

    db = Contact._meta.db
    names = columns(Contact).split(", ")
    _, rows = await db.execute_query(f'SELECT {", ".join(names)} FROM "contact" ORDER BY id')
    assert rows
    stripped = tuple(name.strip('"') for name in names)
    with pytest.raises(KeyError):
        model_rows(Contact, rows, layout=stripped[:-1])
    assert [vars(r) for r in model_rows(Contact, rows, layout=stripped)] == [
        vars(r) for r in model_rows(Contact, rows)
    ]


async def test_a_joined_read_builds_the_rows_each_read_builds_alone(world, connected) -> None:
    """``db.combined.read_joined`` (a list's page with the rows it names) reads the
    page in its order both ways, and once each the contacts and last messages it names and
    the users those name (none for a contact without an assignee or an inbound message), as
    their own statements read them."""
    from db.combined import Join, read_joined
    from db.models import User, Workspace
    from db.queries import columns, model_rows, plain_rows

    for number in range(3):  # conversations of contacts without an assignee, besides the world's
        await receive(world, f"joined-{number}", f"hello {number}")

    async def by_id(model, ids):
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return {}
        _, rows = await model._meta.db.execute_query(
            f'SELECT {columns(model)} FROM "{model._meta.db_table}" '
            f"WHERE id IN ({', '.join(map(str, ids))})"
        )
        return {row.id: vars(row) for row in model_rows(model, rows)}

    for descending in (True, False):
        order = [("last_activity_at", descending), ("id", descending)]
        page = Conversation.all().order_by(*ordering(order)).limit(30)
        joins = [
            Join(0, "contact_id", Contact),
            Join(0, "last_message_id", Message),
            Join(1, "assignee_id", User),
            Join(2, "author_id", User),
            Join(0, "workspace_id", Workspace),  # one row named by every row of the page
        ]
        rows, contacts, messages, assignees, authors, workspaces = await read_joined(
            page._clone(), order, joins
        )
        expected = await plain_rows(page._clone())
        assert len(expected) >= 8
        assert [vars(row) for row in rows] == [vars(row) for row in expected]
        expected_contacts = await by_id(Contact, [row.contact_id for row in expected])
        assert {row.id: vars(row) for row in contacts} == expected_contacts
        assert len(contacts) == len(expected_contacts)
        expected_messages = await by_id(Message, [row.last_message_id for row in expected])
        assert {row.id: vars(row) for row in messages} == expected_messages
        assert len(messages) == len(expected_messages)
        expected_assignees = await by_id(
            User, [c["assignee_id"] for c in expected_contacts.values()]
        )
        assert expected_assignees and any(
            c["assignee_id"] is None for c in expected_contacts.values()
        )
        assert {row.id: vars(row) for row in assignees} == expected_assignees
        assert len(assignees) == len(expected_assignees)
        expected_authors = await by_id(User, [m["author_id"] for m in expected_messages.values()])
        assert {row.id: vars(row) for row in authors} == expected_authors
        expected_workspaces = await by_id(Workspace, [row.workspace_id for row in expected])
        assert {row.id: vars(row) for row in workspaces} == expected_workspaces
        assert len(workspaces) == len(expected_workspaces)


async def test_a_lean_joined_read_leaves_out_only_the_unread_columns(world, connected) -> None:
    """``read_joined`` with ``unread`` (graph.schema.lean): the same rows, every column but
    the unread ones as read whole, those ``None``, the instances partial; a read without an
    order, or leaving out a primary key, is refused before anything is read."""
    from db.combined import Join, read_joined
    from db.models import User
    from graph.schema.lean import LEAN

    unread = {lean.model: lean.columns for lean in LEAN.values()}
    order = [("last_activity_at", True), ("id", True)]
    page = Conversation.all().order_by(*ordering(order)).limit(20)
    joins = [
        Join(0, "contact_id", Contact),
        Join(0, "last_message_id", Message),
        Join(1, "assignee_id", User),
    ]
    whole = await read_joined(page._clone(), order, joins)
    lean = await read_joined(page._clone(), order, joins, unread)
    assert len(whole[0]) >= 8 and all(whole)
    for model, full_rows, lean_rows in zip(
        (Conversation, Contact, Message, User), whole, lean, strict=True
    ):
        left = unread[model]
        assert [row.id for row in lean_rows] == [row.id for row in full_rows]
        for full, part in zip(full_rows, lean_rows, strict=True):
            expected = {k: (None if k in left else v) for k, v in vars(full).items()}
            assert {**vars(part), "_partial": False} == expected
            assert part._partial and not full._partial
        assert any(getattr(row, column) is not None for row in full_rows for column in left), (
            model
        )  # the world holds values there: leaving them out is seen
    with pytest.raises(ValueError, match="ordered"):
        await read_joined(page._clone(), [], joins)
    with pytest.raises(ValueError, match="primary key"):
        await read_joined(page._clone(), order, joins, {Contact: frozenset({"id"})})


async def test_a_list_read_leaves_out_the_users_no_field_shows(
    world, connected, monkeypatch
) -> None:
    """``Loaders.read_with`` with ``unread_users`` (graph.schema.lean ``unread_users``): the
    users the left-out models' rows name (the last messages' authors) are not joined, nor
    put in the request's ``user`` loader; the others (the contacts' assignees) are, as they
    are without it."""
    from db.models import User
    from graph.loaders import Loaders
    from graph.relay import parse_global_id

    order = [("last_activity_at", True), ("id", True)]
    # the world's workspace alone (the loaders drop other workspaces' rows)
    workspace_id = (await User.get(id=parse_global_id(world.user_ids["owner"])[1])).workspace_id
    # the author-to-be of a last message, and a page of conversations of contacts it is not
    # the assignee of: only the messages' own join would bring it
    author = await User.filter(workspace_id=workspace_id).order_by("-id").first()
    theirs = await Contact.filter(assignee_id=author.id).values_list("id", flat=True)
    page = (
        Conversation.filter(workspace_id=workspace_id)
        .exclude(contact_id__in=[*theirs, 0])
        .order_by(*ordering(order))
        .limit(20)
    )
    rows = await page._clone()
    contacts = await Contact.filter(id__in=[r.contact_id for r in rows])
    assignees = {c.assignee_id for c in contacts} - {None}
    assert assignees and author.id not in assignees
    written = await Message.get(id=next(r.last_message_id for r in rows if r.last_message_id))
    await Message.filter(id=written.id).update(author_id=author.id)

    def users(loaders: Loaders) -> set[int]:
        return {key for key, found in loaders.user.cache_map.cache_map.items() if found.result()}

    db = Conversation._meta.db
    sent: list[str] = []
    execute = db.execute_query

    async def recorded(sql: str, values: list | None = None):
        sent.append(sql)
        return await execute(sql, values)

    relations = {"contact": "contact_id", "message": "last_message_id"}
    every, lean = Loaders(workspace_id), Loaders(workspace_id)
    try:
        monkeypatch.setattr(db, "execute_query", recorded)
        await every.read_with(page._clone(), order, **relations)
        await lean.read_with(page._clone(), order, None, frozenset({Message}), **relations)
        monkeypatch.undo()
    finally:  # the world as it was, for the tests after this one
        await Message.filter(id=written.id).update(author_id=written.author_id)
    assert len(sent) == 2, sent  # each in one statement
    assert 'ON s4."id" = s2."author_id"' in sent[0]
    assert '"author_id"' not in sent[1].split("FROM (", 1)[1].split(") s0", 1)[1]
    assert 'ON s3."id" = s1."assignee_id"' in sent[1]
    assert users(lean) == assignees
    assert users(every) >= assignees | {author.id}

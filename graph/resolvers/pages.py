"""A parent's pages of rows and the users they name, in one statement when one parent asks
(issue 23 item 1: the timeline's messages and activities, a contact panel's activities).

A screen showing one conversation's timeline read its page of messages and its page of
activities (two statements, side by side), then the users they name (a third, after them):
:func:`pages_of` reads the three in one statement (:func:`db.combined.read_combined`) when the
batch holds one parent, and puts the users in the request's ``user`` loader, so that
:meth:`graph.loaders.Loaders.preload_users` and every ``author`` field find them there. A
batch of several parents (every conversation of a list with its timeline) reads each page as
before, one statement per model for the whole batch (:meth:`graph.loaders.Loaders.rows_of`).
Either way the rows are those :meth:`~graph.loaders.Loaders.rows_of` reads: the same query
(``tests/speed/test_screens.py`` compares a parent read alone with the same parent read in a
batch).

A screen's root object (``node(id)``, ``contact(id)``) reads what its selection asks for next
with the object itself (:class:`Ahead`, :func:`read_ahead`): a conversation's timeline, a
contact panel's activities, channels and merge suggestions, put where these loaders find them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import cachetools
from strawberry.dataloader import DataLoader
from tortoise.expressions import Q, Subquery

from db import combined
from db.combined import Part, query_part, read_combined
from db.models import Activity, Channel, ChannelIdentity, Contact, User
from db.queries import columns, keyset_between, ordering
from graph.loaders import USER_COLUMNS, Loader, SharingKey, held_weakly

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tortoise.models import Model
    from tortoise.queryset import QuerySet

    from graph.loaders import Loaders
    from graph.permissions.visibility import Scope
    from graph.relay import PageRequest
    from graph.schema.row_json import NodeJson

PageSpec = tuple[type["Model"], str, tuple[tuple[str, bool], ...], "PageRequest"]
"""What :meth:`graph.loaders.Loaders.rows_of` takes: ``(model, parent column, order, request)``."""

PageJson = tuple["NodeJson", ...]
"""How the database writes the nodes of each of a parent's pages, in the order of their specs
(:func:`graph.schema.row_json.page_json`)."""


@dataclass(frozen=True)
class Ahead:
    """What a screen's object's selection reads after the object, to be read with it
    (:func:`read_ahead`; ``node(id)``'s and ``contact(id)``'s one statement).

    Attributes:
        pages: the object's pages (:func:`pages_of`'s specs: a conversation's timeline, a
            contact's activities).
        channels: a contact's channels and identities (:func:`channels_of`).
        sharing: a contact's merge suggestions, as :func:`sharing_of` takes them: ``(scope,
            limit)``.
        json: how the database writes the nodes of each of ``pages``
            (:func:`graph.schema.row_json.page_json`), or ``None``: they are read as rows.
    """

    pages: tuple[PageSpec, ...] = ()
    json: PageJson | None = None
    channels: bool = False
    sharing: tuple[Scope, int] | None = None

    def __bool__(self) -> bool:
        return bool(self.pages) or self.channels or self.sharing is not None


_LOADERS: WeakKeyDictionary[Loaders, dict[tuple[PageSpec, ...], DataLoader[int, Any]]] = (
    WeakKeyDictionary()
)
"""The loaders of :func:`pages_of` and :func:`channels_of` of each request's
:class:`~graph.loaders.Loaders`."""

_CHANNELS: Any = ("channels",)
_TOGETHER: Any = ("together",)

_ASSIGNEE = {
    # Activity.assignee_id: an assignment's new assignee, an integer of ``data``
    "postgres": (
        "CASE WHEN jsonb_typeof(\"data\"->'assignee_id') = 'number' "
        "AND (\"data\"->>'assignee_id') ~ '^[0-9]{{1,9}}$' "
        "THEN (\"data\"->>'assignee_id')::int END"
    ),
    "sqlite": (
        'CASE WHEN json_valid("data") THEN CASE '
        "WHEN json_type(\"data\", '$.assignee_id') = 'integer' "
        "THEN json_extract(\"data\", '$.assignee_id') END END"
    ),
}


def together(loaders: Loaders) -> DataLoader[tuple[Part, ...], list[Any]]:
    """The request's reads of :func:`db.combined.read_combined` asked for at the same moment
    (the fields of one object: a contact panel's channels, activities and merge suggestions),
    read in one statement: each caller's parts get a prefix of their batch position (and
    their hand-written references to each other with them), and each gets its own parts'
    rows back. Each loader of this module asks here as the first step of its batch, so the
    batches of one object's fields, dispatched together, land here together."""
    made = _LOADERS.setdefault(loaders, {})
    loader = made.get(_TOGETHER)
    if loader is None:

        async def load(asked: Sequence[tuple[Part, ...]]) -> list[list[Any]]:
            db = User._meta.db  # every model's (parts of JSON pages name none)
            if len(asked) == 1:
                return [await read_combined(asked[0], db)]
            renamed = [_prefixed(f"b{n}_", parts) for n, parts in enumerate(asked)]
            found = await read_combined([part for parts in renamed for part in parts], db)
            answers = []
            for parts in asked:
                answers.append(found[: len(parts)])
                found = found[len(parts) :]
            return answers

        loader = made[_TOGETHER] = DataLoader(load_fn=load, cache=False)
    return loader


_LITERAL = re.compile(r"('(?:[^']|'')*')")


def _prefixed(prefix: str, parts: Sequence[Part]) -> list[Part]:
    """``parts`` named with ``prefix``: hand-written ones (``{}`` marks) name earlier parts
    quoted (``FROM "page_0"``), and are renamed there too, outside their string literals (a
    node's JSON written by the database holds its response keys quoted, which a client
    names); tortoise's never name a part."""
    renamed = []
    for part in parts:
        sql = part.sql
        if part.marks == "{}":
            pieces = _LITERAL.split(sql)  # literals at odd positions
            for number in range(0, len(pieces), 2):
                for other in parts:
                    pieces[number] = pieces[number].replace(
                        f'"{other.name}"', f'"{prefix}{other.name}"'
                    )
            sql = "".join(pieces)
        renamed.append(replace(part, name=prefix + part.name, sql=sql))
    return renamed


def _user_ids(model: type[Model], part: str, dialect: str) -> list[str]:
    """``SELECT``s of the ids of the users the rows of ``part`` name (:data:`USER_COLUMNS`)."""
    own = set(model._meta.fields_db_projection.values())
    found = [f'SELECT "{column}" FROM "{part}"' for column in USER_COLUMNS if column in own]
    if model is Activity:
        found.append(f'SELECT {_ASSIGNEE[dialect]} FROM "{part}"')
    return found


def _query(workspace_id: int, spec: PageSpec, parent_id: int) -> Any:
    """The query :meth:`~graph.loaders.Loaders.rows_of` runs for a batch of one parent."""
    model, parent, order, request = spec
    query = model.filter(workspace_id=workspace_id, **{f"{parent}__in": [parent_id]})
    condition = keyset_between(order, request.after, request.before)
    if condition is not None:
        query = query.filter(condition)
    return query.order_by(*ordering(request.reading(order))).limit(request.size + 1)


PARTS_KEPT = 2048
"""Parts of :func:`_parts` kept per process (the least recently used dropped first)."""

_PARTS: cachetools.LRUCache[tuple[Any, ...], tuple[list[Part], bool]] = cachetools.LRUCache(
    PARTS_KEPT
)


def _parts(
    specs: Sequence[PageSpec],
    workspace_id: int,
    parent_id: int,
    json: PageJson | None = None,
) -> tuple[list[Part], bool]:
    """The parts reading one parent's pages of ``specs`` and (second: whether there is one)
    the users they name; kept by all their inputs, as :func:`db.queries.statement` keeps a
    query's statement by value (the query sets are not built again for a page read again).
    With ``json``, each page's rows are its nodes' JSON (:func:`db.combined.json_part`), and
    no user is read: their JSON holds what they select of them."""
    dialect = User._meta.db.capabilities.dialect
    # the cursors' values with their types and zones: equal values may make other parameters
    # (one instant in two zones is two texts on SQLite; 1 and True)
    shapes = tuple(
        (value.__class__, getattr(value, "tzinfo", None))
        for spec in specs
        for bound in (spec[3].after, spec[3].before)
        for value in bound or ()
    )
    key = (dialect, tuple(specs), shapes, workspace_id, parent_id, json)
    found = _PARTS.get(key)
    if found is not None:
        return found
    if json is not None:
        parts = [
            written.part(
                f"page_{i}", _query(workspace_id, spec, parent_id), spec[3].reading(spec[2])
            )
            for i, (spec, written) in enumerate(zip(specs, json, strict=True))
        ]
        found = _PARTS[key] = (parts, False)
        return found
    parts = [
        query_part(
            f"page_{i}",
            _query(workspace_id, spec, parent_id),
            spec[3].reading(spec[2]),
        )
        for i, spec in enumerate(specs)
    ]
    named = [
        select
        for i, spec in enumerate(specs)
        for select in _user_ids(spec[0], f"page_{i}", dialect)
    ]
    if named:
        parts.append(
            Part(
                "users",
                User,
                f'SELECT {columns(User)} FROM "user" WHERE workspace_id = {{}} '
                f"AND id IN ({' UNION '.join(named)})",
                (workspace_id,),
            )
        )
    found = _PARTS[key] = (parts, bool(named))
    return found


_KEPT: cachetools.LRUCache[tuple[Any, ...], tuple[Part, ...]] = cachetools.LRUCache(PARTS_KEPT)


def _kept(key: tuple[Any, ...], build: Callable[[], tuple[Part, ...]]) -> tuple[Part, ...]:
    """``build()``'s parts, kept by ``key`` (every input of the query sets it builds, with the
    dialect) as :func:`_parts` keeps a page's: a contact panel's channels, identities and merge
    suggestions were built through tortoise and pypika every request."""
    key = (User._meta.db.capabilities.dialect, *key)
    found = _KEPT.get(key)
    if found is None:
        found = _KEPT[key] = build()
    return found


async def _one_parent(
    loaders: Loaders, specs: Sequence[PageSpec], parent_id: int, json: PageJson | None = None
) -> tuple[list[Any], ...] | None:
    """One parent's pages (:func:`pages_of`); ``None`` when ``json`` is given and a node's
    JSON could not be written (:func:`_written`)."""
    parts, named = _parts(specs, loaders.workspace_id, parent_id, json)
    found = await together(loaders).load(tuple(parts))
    if json is not None and not _written(found):
        return None
    return _settled(loaders, named, found)


def _written(pages: Sequence[list[Any]]) -> bool:
    """Whether every row of pages read with their JSON has it (``NULL``: Python must build
    the page, :func:`db.combined.read_json`)."""
    return all(row.node is not None for rows in pages for row in rows)


def read_ahead(
    loaders: Loaders, ahead: Ahead, parent_id: int
) -> tuple[list[Part], Callable[[Sequence[list[Any]], Any], bool]]:
    """The parts reading what ``ahead`` names of the object ``parent_id`` (its pages and the
    users they name; a contact's channels and identities, its merge suggestions), to be read
    with other parts (``node(id)``'s object and its contact: one round trip), and what puts
    their rows where :func:`pages_of`, :func:`channels_of`, :func:`sharing_of` and the
    ``user`` loader find them, given those parts' rows (in order) and the object's row as the
    same statement read it (``None``: none): what those loaders' ``load`` of the one parent
    gives, read with the same statement parts. Merge suggestions compare the contact's phone
    and e-mail as the statement reads them (sub-selects of its row: :func:`_sharing_ahead`),
    and are put under the key of the row given, of the viewer's workspace only. The second
    returns ``False`` when a page read with its JSON (``ahead.json``) has a node whose JSON
    the database could not write: nothing is put then, and the caller reads ahead again
    without JSON (the rows that Python reports, as it did when nothing was JSON)."""
    workspace_id = loaders.workspace_id
    parts: list[Part] = []
    named = False
    if ahead.pages:
        page_parts, named = _parts(ahead.pages, workspace_id, parent_id, ahead.json)
        parts.extend(page_parts)
    pages_end = len(parts)
    if ahead.channels:
        parts.extend(_channel_parts(workspace_id, parent_id))
    channels_end = len(parts)
    if ahead.sharing is not None:
        parts.extend(_sharing_ahead(workspace_id, *ahead.sharing, parent_id))

    def settle(found: Sequence[list[Any]], row: Any) -> bool:
        if ahead.pages:
            pages = list(found[:pages_end])
            if ahead.json is not None and not _written(pages):
                return False
            loader = pages_of(loaders, *ahead.pages, json=ahead.json)
            if loader.cache_map.get(parent_id) is None:
                loader.prime(parent_id, _settled(loaders, named, pages))
        if ahead.channels:
            loader = channels_of(loaders)
            if loader.cache_map.get(parent_id) is None:
                channels, identities = found[pages_end:channels_end]
                loader.prime(parent_id, (channels, identities))
        if ahead.sharing is not None and row is not None and row.workspace_id == workspace_id:
            key = (row.id, row.phone, row.email_normalized)
            loader = sharing_of(loaders, *ahead.sharing)
            if loader.cache_map.get(key) is None:
                loader.prime(key, found[channels_end])
        return True

    return parts, settle


def _settled(loaders: Loaders, named: bool, found: list[Any]) -> tuple[list[Any], ...]:
    """The pages of :func:`_parts`' rows, its users (when it reads them) put in the request's
    ``user`` loader."""
    *pages, found_users = found
    if not named:
        pages.append(found_users)
        found_users = []
    user_loader = loaders.user
    for user in found_users:  # what the user loader reads: rows of the workspace by id
        if user_loader.cache_map.get(user.id) is None:
            user_loader.prime(user.id, user)
    return tuple(pages)


def pages_of(
    loaders: Loaders, *specs: PageSpec, json: PageJson | None = None
) -> DataLoader[int, tuple[list[Any], ...]]:
    """Per parent id, its page of each of ``specs`` (``(model, parent column, order,
    request)``, as :meth:`~graph.loaders.Loaders.rows_of` takes them): the rows each
    ``rows_of(*spec).load(parent_id)`` gives, in the same order.

    A batch of one parent reads every page and the users their rows name (authors, an
    assignment's assignee: :data:`graph.loaders.USER_COLUMNS`) in one statement, the users
    put in ``loaders.user``; a batch of several parents reads each spec's pages with
    ``rows_of``, one statement per spec.

    With ``json`` (:func:`graph.schema.row_json.page_json`, one per spec), a batch of one
    parent reads each page's nodes as JSON the database writes: rows of
    :func:`db.combined.json_part` (the order's values, ``node``, ``objects``), no users; when
    a node's JSON cannot be written, and for a batch of several parents, the rows are those
    read without it."""
    made = _LOADERS.setdefault(loaders, {})
    key: Any = specs if json is None else ("json", specs, json)
    loader = made.get(key)
    if loader is None:
        request = held_weakly(loaders)  # the table's value must not hold its key

        async def load(parent_ids: Sequence[int]) -> list[tuple[list[Any], ...]]:
            wanted = set(parent_ids)
            alive = request()
            if json is not None:
                if len(wanted) == 1 and combined.ENABLED:
                    written = await _one_parent(alive, specs, parent_ids[0], json)
                    if written is not None:
                        return [written for _ in parent_ids]
                return list(await pages_of(alive, *specs).load_many(list(parent_ids)))
            if len(wanted) == 1 and combined.ENABLED:
                pages = await _one_parent(alive, specs, parent_ids[0])
                return [pages for _ in parent_ids]
            found = await asyncio.gather(
                *(alive.rows_of(*spec).load_many(list(parent_ids)) for spec in specs)
            )
            return list(zip(*found, strict=True))

        loader = made[key] = Loader(load_fn=load)
    return loader


def channels_of(loaders: Loaders) -> DataLoader[int, tuple[list[Channel], list[ChannelIdentity]]]:
    """Per contact id, every channel of the workspace (oldest first) and the contact's channel
    identities (oldest first): what ``loaders.channels()`` and ``loaders.identities`` read. A
    batch of one contact (a contact panel) reads both in one statement, with the object's
    other reads (:func:`together`); a batch of several
    (a list with each contact's channels) reads them with those loaders (one statement each
    for the whole batch)."""
    made = _LOADERS.setdefault(loaders, {})
    loader = made.get(_CHANNELS)
    if loader is None:
        request = held_weakly(loaders)  # the table's value must not hold its key

        async def load(
            contact_ids: Sequence[int],
        ) -> list[tuple[list[Channel], list[ChannelIdentity]]]:
            wanted = set(contact_ids)
            alive = request()
            if len(wanted) == 1 and combined.ENABLED:
                parts = _channel_parts(alive.workspace_id, contact_ids[0])
                found = await together(alive).load(parts)
                return [(found[0], found[1]) for _ in contact_ids]
            channels, identities = await asyncio.gather(
                alive.channels(), alive.identities.load_many(list(contact_ids))
            )
            return [(channels, rows) for rows in identities]

        loader = made[_CHANNELS] = Loader(load_fn=load)
    return loader


def _channel_parts(workspace_id: int, contact_id: int) -> tuple[Part, ...]:
    """The parts reading the workspace's channels and ``contact_id``'s identities (each oldest
    first) for :func:`channels_of`."""

    def build() -> tuple[Part, ...]:
        return (
            query_part(
                "channels",
                Channel.filter(workspace_id=workspace_id).order_by("id"),
                (("id", False),),
            ),
            query_part(
                "identities",
                ChannelIdentity.filter(
                    workspace_id=workspace_id, contact_id__in=[contact_id]
                ).order_by("id"),
                (("id", False),),
            ),
        )

    return _kept(("channels", workspace_id, contact_id), build)


_SHARING_ORDER = (("created_at", False), ("id", False))


def _sharing_query(
    workspace_id: int, scope: Scope, limit: int, contact_id: int, phone: Any, email: Any
) -> QuerySet[Contact]:
    """The other contacts of the workspace in ``scope`` with the phone ``phone`` or the
    e-mail ``email`` (each a value, or a sub-select of one; one that is empty is not
    compared), oldest first, at most ``limit``: what :func:`sharing_of` reads for one
    contact."""
    shared = [Q(phone=phone)] if phone else []
    if email:
        shared.append(Q(email_normalized=email))
    return (
        Contact.filter(workspace_id=workspace_id)
        .filter(scope.q())
        .filter(Q(*shared, join_type="OR"))
        .filter(~Q(id=contact_id))
        .order_by("created_at", "id")
        .limit(limit)
    )


def _sharing_ahead(
    workspace_id: int, scope: Scope, limit: int, contact_id: int
) -> tuple[Part, ...]:
    """The part reading ``contact_id``'s merge suggestions before its row is known
    (:func:`read_ahead`): :func:`_sharing_query` with the contact's phone and e-mail as
    scalar sub-selects of its row in the workspace, empty ones left out (``NULL``: compared
    with nothing), as :func:`sharing_of` leaves out a contact's empty phone or e-mail; each
    sub-select is a value the indexes are searched for, as a parameter is."""

    def own(column: str) -> Subquery:
        row = Contact.filter(id=contact_id, workspace_id=workspace_id).exclude(**{column: ""})
        return Subquery(row.values(column))

    def build() -> tuple[Part, ...]:
        query = _sharing_query(
            workspace_id, scope, limit, contact_id, own("phone"), own("email_normalized")
        )
        return (query_part("sharing", query, _SHARING_ORDER),)

    return _kept(("sharing ahead", workspace_id, scope, limit, contact_id), build)


def sharing_of(loaders: Loaders, scope: Scope, limit: int) -> DataLoader[SharingKey, list[Contact]]:
    """Per ``(contact id, phone, email_normalized)``: the other contacts of the workspace in
    ``scope`` with that phone or that e-mail, oldest first (``created_at``, then ``id``), at
    most ``limit``: what :meth:`graph.loaders.Loaders.contacts_sharing` finds. A batch of one
    contact (a contact panel) reads them with one plain query (``phone = ? OR
    email_normalized = ?``, both indexes; tortoise's statement kept by value), read with the
    object's other reads (:func:`together`); a batch of several with that loader (a statement
    per column for the whole batch)."""
    made = _LOADERS.setdefault(loaders, {})
    cache_key = ("sharing", scope, limit)
    loader = made.get(cache_key)
    if loader is None:
        request = held_weakly(loaders)  # the table's value must not hold its key

        async def load(keys: Sequence[SharingKey]) -> list[list[Contact]]:
            alive = request()
            if len(set(keys)) == 1 and combined.ENABLED:
                contact_id, phone, email = keys[0]
                if not phone and not email:
                    return [[] for _ in keys]
                workspace_id = alive.workspace_id

                def build() -> tuple[Part, ...]:
                    query = _sharing_query(workspace_id, scope, limit, contact_id, phone, email)
                    return (query_part("sharing", query, _SHARING_ORDER),)

                parts = _kept(
                    ("sharing", workspace_id, scope, limit, contact_id, phone, email), build
                )
                (rows,) = await together(alive).load(parts)
                return [rows for _ in keys]
            return list(await alive.contacts_sharing(scope, limit).load_many(list(keys)))

        loader = made[cache_key] = Loader(load_fn=load)
    return loader


__all__ = ["Ahead", "PageJson", "PageSpec", "channels_of", "pages_of", "read_ahead", "sharing_of"]

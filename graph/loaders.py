"""DataLoaders, one set per request (per event for subscriptions, never per connection).

Every loader is scoped to the viewer's workspace: an id from another workspace loads ``None``.
Visibility is decided by the caller with the policy; loaders only batch.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import AbstractCache, DataLoader
from strawberry.types import Info
from tortoise.exceptions import DoesNotExist
from tortoise.functions import Count

from db import combined
from db.models import (
    CALL_ORDER,
    Activity,
    ActivityMention,
    Call,
    Channel,
    ChannelIdentity,
    Contact,
    Conversation,
    CustomInboxShare,
    Message,
    Team,
    User,
    Workspace,
)
from db.queries import (
    columns,
    first_per_group,
    is_plain,
    keyset_between,
    ordering,
    plain_rows,
    select_rows,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from tortoise.models import Model
    from tortoise.queryset import QuerySet

    from graph.permissions.visibility import Scope
    from graph.relay import PageRequest

R = TypeVar("R")
T = TypeVar("T")


NOT_LOADED: Any = object()
"""What :meth:`Loader.loaded` returns for a key whose row is not loaded yet (or failed)."""


class _Futures(AbstractCache[Any, Any]):
    """strawberry's default cache (a dict of futures by key, keys as they are: no
    ``cache_key_fn``) whose ``get`` and ``set`` are the dict's own methods: strawberry's are
    Python calls of a ``lambda`` key function each, about 1,400 calls a list of 100."""

    def __init__(self) -> None:
        self.cache_map: dict[Any, asyncio.Future[Any]] = {}
        self.get = self.cache_map.get  # type: ignore[method-assign]
        self.set = self.cache_map.__setitem__  # type: ignore[method-assign]

    def get(self, key: Any) -> asyncio.Future[Any] | None:  # shadowed per instance
        return self.cache_map.get(key)

    def set(self, key: Any, value: asyncio.Future[Any]) -> None:  # shadowed per instance
        self.cache_map[key] = value

    def delete(self, key: Any) -> None:
        del self.cache_map[key]

    def clear(self) -> None:
        self.cache_map.clear()


class Loader(DataLoader[Any, Any]):
    """strawberry's :class:`~strawberry.dataloader.DataLoader`, whose loads may be shared by
    tasks that are cancelled independently and retried (every subscriber of an event in the
    process uses the same loaders, :meth:`graph.live.EventBus.loaders_for`).

    - A task awaiting a future directly cancels that future when the task is cancelled, and
      so fails every other task awaiting it with ``CancelledError`` (a subscriber closing its
      socket mid-replay stalled the others: issue 16). :meth:`load` therefore hands out the
      shared future itself only once it is done, else a shield of it: cancelling a caller
      never cancels the load.
    - A batch that failed (the database went away) is not cached: its keys are loaded again
      by the next caller, instead of failing every retry of the event with the old error.

    Keys are cached as they are (no ``cache_key_fn``), in :class:`_Futures`.
    """

    def __init__(self, load_fn: Callable[[Sequence[Any]], Awaitable[Sequence[Any]]]) -> None:
        cache = _Futures()
        futures = cache.cache_map

        async def load_or_forget(keys: Sequence[Any]) -> Sequence[Any]:
            try:
                return await load_fn(keys)
            except BaseException:
                for key in keys:
                    futures.pop(key, None)
                raise

        # the batch function holds the loader's futures, not the loader: a loader in a
        # reference cycle kept a request's rows, futures and built objects (1,200 objects a
        # list of 100) for the cyclic garbage collector, freed only by its next collection
        super().__init__(load_fn=load_or_forget, cache_map=cache)
        self._futures = futures
        self._built: dict[Any, tuple[Any, Any, Any]] = {}

    def load(self, key: Any) -> Awaitable[Any]:
        future = super().load(key)
        if future.done():
            return future
        # every caller may have gone (cancelled: its request timed out, its socket closed)
        # by the time a load fails: its error is theirs to report, not the event loop's
        # ("Future exception was never retrieved", with a traceback, during database outages)
        future.add_done_callback(_seen)
        shielded = asyncio.shield(future)
        shielded.add_done_callback(_seen)  # a caller may drop it without awaiting it too
        return shielded

    def loaded(self, key: Any) -> Any:
        """The row of ``key`` when its load is already done and succeeded (every row a list
        resolver preloaded, :meth:`Loaders.preload`), else :data:`NOT_LOADED`: what
        :meth:`load` would hand out, without a future's round trip."""
        future = self._futures.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return NOT_LOADED
        return future.result()

    def fill(self, rows: Mapping[Any, Any]) -> None:
        """Cache ``rows`` (key -> row) as done loads, as strawberry's
        :meth:`~strawberry.dataloader.DataLoader.prime_many` does for keys not cached yet
        (a key cached meanwhile keeps its load), with one done future per key made directly
        (``prime_many`` costs a dozen Python calls per key: 200 a list of 100)."""
        futures = self._futures
        new_future = self.loop.create_future
        for key, row in rows.items():
            if futures.get(key) is None:
                future = new_future()
                future.set_result(row)
                futures[key] = future
        batch = self.batch
        if batch is not None and not batch.dispatched and batch.tasks:
            # keys waiting in a batch not sent yet: prime_many settles them from ``rows``
            self.prime_many({t.key: rows[t.key] for t in batch.tasks if t.key in rows})


def _seen(future: asyncio.Future[Any]) -> None:
    """Mark a finished load's error as retrieved (those awaiting it get it all the same)."""
    if not future.cancelled():
        future.exception()


def _reusable(future: asyncio.Future[Any] | None) -> bool:
    """Whether a cached future may be awaited again: not one that failed."""
    return future is not None and not (future.done() and (future.cancelled() or future.exception()))


def then(future: asyncio.Future[R], build: Callable[[R], T]) -> T | Awaitable[T]:
    """``build(result)`` of ``future`` (a loader's :meth:`~DataLoader.load`, or
    :meth:`Loaders.workspace_future`): at once when it is already done, as it is for every row a
    list resolver preloaded (:meth:`Loaders.preload`), else an awaitable of it.

    Relation fields are plain (not ``async``) resolvers returning this: graphql-core completes
    a plain value in place, whereas every awaitable costs it a coroutine and a task (75 of
    them for a page of 25 conversations with contact, assignee and last message). The future is
    shielded, so one cancelled field never cancels a load other fields share.
    """
    if future.done():
        return build(future.result())

    async def later() -> T:
        return build(await asyncio.shield(future))

    return later()


def related(
    loader: DataLoader[int, Any], key: int | None, build: Callable[[Any], T]
) -> T | None | Awaitable[T | None]:
    """The row ``key`` of ``loader`` passed to ``build`` (:func:`then`); ``None`` for no key
    or a row the loader does not find (another workspace's).

    A row already loaded (every row a list resolver preloaded) is built at once, once per
    (load, build) for the whole request (:meth:`Loader.built`): a list of 100 resolves 300
    relations this way, so the usual cases are written out here."""
    if key is None:
        return None
    if type(loader) is Loader:
        future = loader._futures.get(key)
        if future is not None:
            found = loader._built.get(key)
            if found is not None and found[0] is future and found[1] == build:
                return found[2]  # built from this very load already
            if future.done() and not future.cancelled() and future.exception() is None:
                row = future.result()
                if row is None:
                    return None
                made = build(row)
                loader._built[key] = (future, build, made)
                return made
    return then(loader.load(key), lambda row: build(row) if row is not None else None)


ROW_RELATION = "__row_relation__"
"""The attribute of a :func:`row_relation` resolver holding its :class:`RowRelation`."""


@dataclass(frozen=True, slots=True)
class RowRelation:
    """What a :func:`row_relation` field resolves: the row of its parent's ``row.<key>`` by
    the request's ``Loaders.<loader>``, built by ``build()``."""

    loader: str
    key: str
    build: Callable[[], Callable[[Any], Any]]


def row_relation(loader: str, key: str, build: Callable[[], Callable[[Any], Any]]) -> Any:
    """The resolver of a relation field: ``related(info.context.loaders.<loader>,
    self.row.<key>, build())`` (:func:`related`), declared so that a selection plan
    (``graph.schema.plan``) can resolve it without the resolver's calls (a list of 100 resolves
    300 relations: their resolvers, the context's ``loaders`` and a resolve info each).

    ``build`` returns the builder (``lambda: Contact.from_row``: the type may be defined
    below the field). Use it as the field's resolver, the field's type annotated on the class::

        contact: Contact = strawberry.field(
            description="...", resolver=row_relation("contact", "contact_id", lambda: Contact.from_row)
        )
    """
    relation = RowRelation(loader, key, build)

    def resolve(self: Any, info: Info) -> Any:
        return related(
            getattr(info.context.loaders, loader), getattr(self.row, key), relation.build()
        )

    setattr(resolve, ROW_RELATION, relation)
    return resolve


async def _workspace_row(workspace_id: int) -> Workspace:
    """``Workspace.get(id=workspace_id)``'s row by a hand-written statement (tortoise built
    ``get``'s through pypika every request: about 5 % of a contact panel).

    Raises:
        tortoise.exceptions.DoesNotExist: no such workspace (as ``get`` does).
    """
    rows = await select_rows(
        Workspace,
        f'SELECT {columns(Workspace)} FROM "{Workspace._meta.db_table}" WHERE id = {{}}',
        workspace_id,
    )
    if not rows:
        raise DoesNotExist(Workspace)
    return rows[0]


def _group(rows: Iterable[Any], attribute: str) -> dict[Any, list[Any]]:
    """``rows`` by the value of their ``attribute``, in their order."""
    found: dict[Any, list[Any]] = {}
    for row in rows:
        found.setdefault(getattr(row, attribute), []).append(row)
    return found


def _by_id(model: type[Model], workspace_id: int) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        # by primary key alone, so that no planner ever prefers a workspace index and scans
        # the workspace; rows of another workspace are dropped here. Every request runs a
        # few of these: hand-written, as building one through tortoise costs more than running it
        keys = sorted(set(ids))
        marks = ", ".join("{}" for _ in keys)
        rows = await select_rows(
            model,
            f'SELECT {columns(model)} FROM "{model._meta.db_table}" WHERE id IN ({marks})',
            *keys,
        )
        found = {row.id: row for row in rows if row.workspace_id == workspace_id}
        return [found.get(i) for i in ids]

    return Loader(load_fn=load)


def _mentions(workspace_id: int) -> DataLoader[int, list[int]]:
    """Activity id -> the ids of the users it mentions, in mention order."""

    async def load(ids: Sequence[int]) -> list[list[int]]:
        rows = (
            await ActivityMention.filter(
                activity_id__in=list(set(ids)), activity__workspace_id=workspace_id
            )
            .order_by("id")
            .values_list("activity_id", "user_id")
        )
        found: dict[int, list[int]] = {}
        for activity_id, user_id in rows:
            found.setdefault(activity_id, []).append(user_id)
        return [found.get(i, []) for i in ids]

    return Loader(load_fn=load)


def _identities(workspace_id: int) -> DataLoader[int, list[ChannelIdentity]]:
    """Contact id -> its channel identities, oldest first (a merged contact may have several
    on one channel)."""

    async def load(ids: Sequence[int]) -> list[list[ChannelIdentity]]:
        rows = await ChannelIdentity.filter(
            workspace_id=workspace_id, contact_id__in=sorted(set(ids))
        ).order_by("id")
        found = _group(rows, "contact_id")
        return [found.get(i, []) for i in ids]

    return Loader(load_fn=load)


def _shares(workspace_id: int) -> DataLoader[int, tuple[list[int], list[int]]]:
    """Custom inbox id -> the ids of the users and of the teams it is shared with, each sorted."""

    async def load(ids: Sequence[int]) -> list[tuple[list[int], list[int]]]:
        rows = await CustomInboxShare.filter(
            custom_inbox_id__in=sorted(set(ids)), custom_inbox__workspace_id=workspace_id
        ).values_list("custom_inbox_id", "user_id", "team_id")
        users: dict[int, list[int]] = {}
        teams: dict[int, list[int]] = {}
        for custom_id, user_id, team_id in rows:
            if user_id:
                users.setdefault(custom_id, []).append(user_id)
            if team_id:
                teams.setdefault(custom_id, []).append(team_id)
        return [(sorted(users.get(i, [])), sorted(teams.get(i, []))) for i in ids]

    return Loader(load_fn=load)


def _teams_by_id(workspace_id: int) -> Callable[[Sequence[int]], Awaitable[list[Team | None]]]:
    """The ``team`` loader's batches: a workspace has a handful of teams, read all at once
    (one statement per request, however many batches ask: a user's ``teams`` and a custom
    inbox's ``sharedWithTeams`` resolve at moments that depend on other statements, and
    read their teams in one batch or two depending on timing). Holds the workspace id and
    its read, not the :class:`Loaders` (no reference cycle: :class:`Loader`)."""
    read: list[asyncio.Future[list[Team]]] = []

    async def load(ids: Sequence[int]) -> list[Team | None]:
        if not read or not _reusable(read[0]):
            read[:] = [asyncio.ensure_future(Team.filter(workspace_id=workspace_id).order_by("id"))]
        found = {row.id: row for row in await asyncio.shield(read[0])}
        return [found.get(i) for i in ids]

    return load


_PER_PARENT = {"mentions": _mentions, "identities": _identities, "shares": _shares}
"""Loaders of the rows of a parent, by parent id, made by name like those by primary key."""

_SHARED = {"shared_users": (0, "user"), "shared_teams": (1, "team")}
"""Custom inbox id -> the user or team rows it is shared with (:meth:`Loaders._shared`)."""


SharingKey = tuple[int, str | None, str | None]
"""A contact as :meth:`Loaders.contacts_sharing` looks it up: ``(id, phone, email_normalized)``."""

_MODELS: dict[str, type[Model]] = {
    "call": Call,
    "user": User,
    "team": Team,
    "channel": Channel,
    "contact": Contact,
    "conversation": Conversation,
    "message": Message,
    "activity": Activity,
}


async def _fill(loader: DataLoader[int, Any], keys: Iterable[int | None]) -> list[Any]:
    """The rows of ``keys`` (``None`` skipped), read in one statement with ``loader``'s own
    batch function where its cache lacks them, and put in its cache as done futures: the
    cheapest way for a whole page, without a future, a callback and a gather per key. Only for
    what one caller reads for a whole response (a list's first level): concurrent callers
    would each run their own statement, where ``load_many`` batches them."""
    wanted = sorted({k for k in keys if k is not None})
    cached = loader.cache_map.cache_map
    missing = [k for k in wanted if k not in cached]
    if missing:
        _put(loader, dict(zip(missing, await loader.load_fn(missing), strict=True)))
    return [
        future.result() if future.done() else await asyncio.shield(future)
        for future in map(cached.get, wanted)
    ]


def _put(loader: DataLoader[int, Any], rows: Mapping[int, Any]) -> None:
    """Cache ``rows`` (key -> row, ``None``: no such row) in ``loader`` as done loads, for
    keys it does not hold yet."""
    if type(loader) is Loader:
        loader.fill(rows)
    else:
        loader.prime_many(rows)


USER_COLUMNS = ("assignee_id", "author_id", "answered_by_id")
"""The attributes by which a row names a user: a contact's assignee, a message's or an
activity's author, an assignment activity's new assignee, a call's answerer."""


@functools.cache
def _user_columns(kind: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The :data:`USER_COLUMNS` of rows of class ``kind``: those its instances keep as plain
    attributes (read from their ``__dict__``: a column the row lacks, a contact's author, is
    ``None`` there without a raised and caught ``AttributeError``), then those its class
    computes (an assignment activity's ``assignee_id`` property), read as attributes; none
    of a row read with its JSON."""
    if getattr(kind, "__row_json__", False):
        # a row read with its JSON (db.combined.read_json): its JSON holds what it shows
        return (), ()
    computed = tuple(column for column in USER_COLUMNS if hasattr(kind, column))
    if hasattr(kind, "__getattr__"):
        return (), USER_COLUMNS
    return tuple(column for column in USER_COLUMNS if column not in computed), computed


@functools.cache
def _stored_user_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns of ``model``'s table among the :data:`USER_COLUMNS` its rows keep."""
    stored = set(model._meta.fields_db_projection.values())
    return tuple(c for c in _user_columns(model)[0] if c in stored)


class Loaders:
    """Batching loaders by primary key for the workspace ``workspace_id``: ``user``, ``team``,
    ``channel``, ``contact``, ``conversation``, ``message``, ``activity``, ``call``; ``mentions`` maps an
    activity id to the ids of the users it mentions, ``identities`` a contact id to its channel
    identities, ``shares`` a custom inbox id to the user and team ids it is shared with and
    ``shared_users`` / ``shared_teams`` to those users' and teams' rows; pages
    of rows per parent (:meth:`rows_of`, :meth:`calls_of_contact`); the contacts a merge would join (:meth:`contacts_sharing`); and the workspace's row and
    channels (:meth:`workspace`, :meth:`channels`). Each is made on first use (an open
    subscription holds a set it may never use)."""

    user: DataLoader[int, Any]
    team: DataLoader[int, Any]
    channel: DataLoader[int, Any]
    contact: DataLoader[int, Any]
    conversation: DataLoader[int, Any]
    message: DataLoader[int, Any]
    activity: DataLoader[int, Any]
    call: DataLoader[int, Any]
    mentions: DataLoader[int, list[int]]
    identities: DataLoader[int, list[ChannelIdentity]]

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self._workspace: asyncio.Future[Workspace] | None = None
        self._channels: asyncio.Future[list[Channel]] | None = None
        self._rows_of: dict[tuple[Any, ...], DataLoader[int, list[Any]]] = {}
        self._contacts_sharing: dict[tuple[Scope, int], DataLoader[SharingKey, list[Contact]]] = {}

    def __getattr__(self, name: str) -> DataLoader[int, Any]:
        if name in _SHARED:
            loader = self._shared(*_SHARED[name])
        elif name in _PER_PARENT:
            loader = _PER_PARENT[name](self.workspace_id)
        elif name == "team":
            loader = Loader(load_fn=_teams_by_id(self.workspace_id))
        elif name in _MODELS:
            loader = _by_id(_MODELS[name], self.workspace_id)
        else:
            raise AttributeError(name)
        setattr(self, name, loader)
        return loader

    def _shared(self, position: int, target: str) -> DataLoader[int, list[Any]]:
        """Custom inbox id -> the rows of the users (``position`` 0, ``target`` ``"user"``) or
        teams (1, ``"team"``) it is shared with. One batch reads the shares of every inbox
        asked for, then all their users or teams at once: a field that read its inbox's shares
        and then its rows would batch the second read with its siblings' or not, depending on
        when each resumed (the statements of a request must not depend on timing)."""

        # the loaders it reads, not self: no reference cycle (Loader.__init__)
        shares_of, rows = self.shares, getattr(self, target)

        async def load(ids: Sequence[int]) -> list[list[Any]]:
            shares = await shares_of.load_many(list(ids))
            wanted = sorted({key for share in shares for key in share[position]})
            found = dict(zip(wanted, await rows.load_many(wanted), strict=True)) if wanted else {}
            return [
                [found[key] for key in share[position] if found.get(key) is not None]
                for share in shares
            ]

        return Loader(load_fn=load)

    async def preload(self, **ids: Iterable[int | None]) -> None:
        """Load a page's relations now, one batch per loader, all started together, and then
        the users those rows name (:meth:`preload_users`):
        ``await loaders.preload(contact=[...], message=[...])`` (``None`` ids are skipped).

        A list resolver calls it before returning its rows. Without it, sibling relations
        (a conversation's contact and last message) come back from the database at different
        moments, and what hangs off each of them (the contact's assignee, the message's author,
        both users) would be read in two batches or one depending on timing. Preloaded, every
        relation field of the page resolves at once (:func:`related`): the statements of a
        request depend on what it selects, never on the page size or on timing, and no field of
        the page costs an awaitable. The users are read even when the request shows none of
        them: one statement by primary key, which every inbox screen spends anyway.
        """
        found = await asyncio.gather(
            *(_fill(getattr(self, name), keys) for name, keys in ids.items())
        )
        await self.preload_users([row for rows in found for row in rows if row is not None])

    async def preload_users(self, rows: Iterable[Any]) -> None:
        """Load the users ``rows`` name (a contact's assignee, a message's or an activity's
        author, a call's answerer: :data:`USER_COLUMNS`) in one batch, so that those fields
        resolve at once."""
        # through the batch, not _fill: the pages of several parents (each conversation's
        # timeline in a list) call this at the same moment, and read their users together
        wanted = set()
        for row in rows:
            stored, computed = _user_columns(type(row))
            if not (stored or computed):
                continue
            values = getattr(row, "__dict__", None)
            if values is None:
                stored, computed = (), USER_COLUMNS
            elif stored:
                wanted.update(map(values.get, stored))
            for column in computed:
                wanted.add(getattr(row, column, None))
        wanted.discard(None)
        if wanted:
            loaded = self.user.cache_map.cache_map
            missing = [k for k in wanted if (f := loaded.get(k)) is None or not f.done()]
            if missing:  # a page read with its users (read_with) has none
                await self.user.load_many(sorted(missing))

    async def read_with(
        self,
        query: QuerySet[Model],
        order: Sequence[tuple[str, bool]],
        unread: Mapping[type[Model], frozenset[str]] | None = None,
        unread_users: frozenset[type[Model]] = frozenset(),
        **relations: str,
    ) -> list[Any]:
        """The rows of the plain ``query`` (read in ``order``: ``(field, descending)`` pairs,
        the last one unique), with the rows they name preloaded as :meth:`preload` preloads
        them: ``relations`` maps a loader of a model to the rows' column holding its key
        (``contact="contact_id", message="last_message_id"``); the users the rows and those
        rows name are preloaded too (:meth:`preload_users`: a call's answerer, a contact's
        assignee). In one statement (:func:`db.combined.read_joined`: the page joined to
        each relation's rows and the users the page's and those rows' user columns name,
        each row of another workspace dropped as the loaders drop it); without combined reads
        (``INBOX_GRAPH_COMBINED_READS=0``) or for a query that is not plain, the rows, then
        :meth:`preload`, then the rows' own users: the same rows, in more round trips.

        ``unread``: per model, columns none of the request's fields read
        (:func:`graph.schema.lean.unread_columns`), left out of the statement's rows (the
        instances, partial, hold ``None`` there); without combined reads, every column.
        ``unread_users``: models whose rows' users none of the request's fields read
        (:func:`graph.schema.lean.unread_users`), neither joined nor preloaded (a field reading
        one all the same loads it through the ``user`` loader); without combined reads, every
        user is preloaded."""
        model = query.model
        own_users = bool(_stored_user_columns(model) or _user_columns(model)[1])
        if not (combined.ENABLED and relations and is_plain(query)):
            rows = await plain_rows(query)
            await self.preload(
                **{name: [getattr(r, column) for r in rows] for name, column in relations.items()}
            )
            if own_users:
                await self.preload_users(rows)
            return rows
        projection = model._meta.fields_db_projection
        segments = [model, *(_MODELS[name] for name in relations)]
        joins = [
            combined.Join(0, projection[column], _MODELS[name])
            for name, column in relations.items()
        ]
        joins += [
            combined.Join(index, column, User)
            for index, segment in enumerate(segments)
            if segment not in unread_users
            for column in _stored_user_columns(segment)
        ]
        rows, *found = await combined.read_joined(query, order, joins, unread)
        workspace_id = self.workspace_id
        kept = self._put_relations(rows, relations, found)
        if len(joins) > len(relations):
            users = {
                row.id: row
                for named in found[len(relations) :]
                for row in named
                if row.workspace_id == workspace_id
            }
            _put(self.user, users)
        named = [*rows, *kept] if own_users else kept
        if unread_users:
            named = [row for row in named if type(row) not in unread_users]
        await self.preload_users(named)
        return rows

    def _put_relations(
        self, rows: list[Any], relations: dict[str, str], found: Sequence[list[Any]]
    ) -> list[Any]:
        """Cache in each relation's loader (``relations``: loader name -> the page's column)
        the rows ``found`` for it, by the keys the page's ``rows`` name (a key found in no
        row of the workspace cached as none); returns those rows.

        Rows of a lean read among them hold ``None`` in the columns of
        :data:`graph.schema.lean.LEAN`: what reads a loader's rows outside a field of their
        type reads none of those."""
        workspace_id = self.workspace_id
        kept: list[Any] = []
        for (name, column), got in zip(relations.items(), found, strict=False):
            by_id = {row.id: row for row in got if row.workspace_id == workspace_id}
            keys = {getattr(row, column) for row in rows}
            keys.discard(None)
            _put(getattr(self, name), {key: by_id.get(key) for key in keys})
            kept.extend(by_id.values())
        return kept

    def rows_of(
        self,
        model: type[Model],
        parent: str,
        order: Sequence[tuple[str, bool]],
        request: PageRequest,
    ) -> DataLoader[int, list[Any]]:
        """Per parent id, the page ``request`` asks for of its rows of ``model`` (a table with
        the column ``parent``, e.g. ``"contact_id"`` or ``"conversation_id"``, and
        ``workspace_id``) in ``order`` (``(field, descending)`` pairs, the last one unique):
        one query for every parent of a batch (e.g. the ``activities`` of each contact in a
        list, the ``messages`` of each conversation). The rows come in the request's reading
        order (reversed when it pages backwards), one more than its size when more follow:
        :meth:`graph.relay.Page.of` makes each page.

        A batch of several parents reads them with :func:`db.queries.first_per_group`; a batch
        of one (a contact panel, one conversation) with a plain ``ORDER BY ... LIMIT``, which
        stops at the page's rows of the index where a window would rank the parent's whole
        history: one statement either way, by keyset both ways.
        """
        if not parent.isidentifier():
            raise ValueError(f"not a column name: {parent!r}")
        key = (model, parent, tuple(order), request)
        loader = self._rows_of.get(key)
        if loader is None:
            reading = request.reading(order)
            condition = keyset_between(order, request.after, request.before)
            limit = request.size + 1
            workspace_id = self.workspace_id  # not self: no reference cycle (Loader.__init__)

            async def load(parent_ids: Sequence[int]) -> list[list[Any]]:
                wanted = sorted(set(parent_ids))
                query: QuerySet[Any] = model.filter(
                    workspace_id=workspace_id, **{f"{parent}__in": wanted}
                )
                if condition is not None:
                    query = query.filter(condition)
                if len(wanted) == 1:
                    rows = await plain_rows(query.order_by(*ordering(reading)).limit(limit))
                else:
                    rows = await first_per_group(query, parent, reading, limit)
                found = _group(rows, parent)
                return [found.get(i, []) for i in parent_ids]

            loader = self._rows_of[key] = Loader(load_fn=load)
        return loader

    def count_of(self, model: type[Model], parent: str) -> DataLoader[int, int]:
        """Per parent id, how many rows of ``model`` it has (``totalCount`` of a list per
        parent): one ``COUNT(*) ... GROUP BY parent`` for every parent of a batch, over the
        ``(parent, ...)`` index every such list pages by."""
        if not parent.isidentifier():
            raise ValueError(f"not a column name: {parent!r}")
        key = ("count", model, parent)
        loader = self._rows_of.get(key)
        if loader is None:
            workspace_id = self.workspace_id  # not self: no reference cycle (Loader.__init__)

            async def load(parent_ids: Sequence[int]) -> list[int]:
                rows = (
                    await model.filter(
                        workspace_id=workspace_id,
                        **{f"{parent}__in": sorted(set(parent_ids))},
                    )
                    .group_by(parent)
                    .annotate(rows=Count("id"))
                    .values(parent, "rows")
                )
                counts = {row[parent]: row["rows"] for row in rows}
                return [counts.get(i, 0) for i in parent_ids]

            loader = self._rows_of[key] = Loader(load_fn=load)
        return loader

    def calls_of_contact(self, request: PageRequest) -> DataLoader[int, list[Call]]:
        """Per contact id, the page ``request`` asks for of its calls, newest first
        (:data:`db.models.CALL_ORDER`, :meth:`rows_of`)."""
        return self.rows_of(Call, "contact_id", CALL_ORDER, request)

    def contacts_sharing(self, scope: Scope, limit: int) -> DataLoader[SharingKey, list[Contact]]:
        """Per ``(contact id, phone, email_normalized)``: the other contacts of the workspace in
        ``scope`` (the viewer's :func:`graph.permissions.visibility.contact_scope`) with that
        phone or that normalised e-mail, oldest first (``created_at``, then ``id``), at most
        ``limit`` (``domain.md`` section 6, merge suggestions).

        Two statements for a whole batch, one per column: the first ``limit + 1`` contacts in
        scope of each phone and of each e-mail of the batch (:func:`db.queries.first_per_group`,
        over the ``(workspace_id, phone)`` and ``(workspace_id, email_normalized)`` indexes).
        That is enough: each of a contact's first ``limit`` suggestions is among the first
        ``limit + 1`` of the phone or e-mail group it shares with it (the contact itself may be
        one of them). A batch without phones (or e-mails) skips that statement.

        Keyed by scope: one set of loaders may serve several viewers (a subscription event).
        """
        cache_key = (scope, limit)
        loader = self._contacts_sharing.get(cache_key)
        if loader is None:
            order = (("created_at", False), ("id", False))
            workspace_id = self.workspace_id  # not self: no reference cycle (Loader.__init__)

            async def group(column: str, values: set[str]) -> list[Contact]:
                if not values:
                    return []
                query = Contact.filter(
                    workspace_id=workspace_id, **{f"{column}__in": sorted(values)}
                )
                return await first_per_group(query.filter(scope.q()), column, order, limit + 1)

            async def load(keys: Sequence[SharingKey]) -> list[list[Contact]]:
                by_phone, by_email = await asyncio.gather(
                    group("phone", {phone for _, phone, _ in keys if phone}),
                    group("email_normalized", {email for _, _, email in keys if email}),
                )
                phones, emails = _group(by_phone, "phone"), _group(by_email, "email_normalized")
                found = []
                for contact_id, phone, email in keys:
                    rows = (phones.get(phone, []) if phone else []) + (
                        emails.get(email, []) if email else []
                    )
                    shared = {row.id: row for row in rows if row.id != contact_id}
                    found.append(
                        sorted(shared.values(), key=lambda row: (row.created_at, row.id))[:limit]
                    )
                return found

            loader = self._contacts_sharing[cache_key] = Loader(load_fn=load)
        return loader

    def workspace_future(self) -> asyncio.Future[Workspace]:
        """The viewer's workspace row (settings such as phone-number masking), read once
        however many fields ask for it at the same time (see :func:`then`)."""
        if not _reusable(self._workspace):
            self._workspace = asyncio.ensure_future(_workspace_row(self.workspace_id))
        return self._workspace

    @property
    def workspace_unread(self) -> bool:
        """Whether nothing has asked for the workspace row yet (:meth:`workspace_future`)."""
        return self._workspace is None

    def prime_workspace(self, row: Workspace) -> None:
        """Give :meth:`workspace_future` the workspace row read with other rows (a contact
        panel's contact: ``graph.resolvers.node``), unless it was asked for already."""
        if self._workspace is None and row.id == self.workspace_id:
            future = asyncio.get_running_loop().create_future()
            future.set_result(row)
            self._workspace = future

    async def workspace(self) -> Workspace:
        """:meth:`workspace_future`, awaited."""
        return await asyncio.shield(self.workspace_future())

    async def channels(self) -> list[Channel]:
        """Every channel of the workspace, oldest first, read once per request however many
        contacts list them (``Contact.channels``)."""
        if not _reusable(self._channels):
            self._channels = asyncio.ensure_future(
                Channel.filter(workspace_id=self.workspace_id).order_by("id")
            )
        return await asyncio.shield(self._channels)


def held_weakly(loaders: Loaders) -> Callable[[], Loaders]:
    """A function returning ``loaders`` without keeping it alive: for a batch function of a
    loader kept in a table keyed weakly by the request's :class:`Loaders` (``node(id)``'s
    readers, the pages, channels and merge suggestions of ``graph.resolvers.pages``).

    A ``WeakKeyDictionary`` entry goes when its key dies; a value holding its key (a batch
    function closing over ``loaders``) keeps it alive for good: every timeline and contact
    panel kept its request's loaders, futures and rows (about 130 objects a request) for the
    life of the process. A batch only runs while a resolver of the request awaits it, so
    ``loaders`` is alive then.

    Raises:
        ReferenceError: when called after the request's loaders are gone.
    """
    ref = weakref.ref(loaders)

    def alive() -> Loaders:
        found = ref()
        if found is None:
            raise ReferenceError("the request's loaders are gone")
        return found

    return alive


__all__ = [
    "ROW_RELATION",
    "USER_COLUMNS",
    "Loaders",
    "RowRelation",
    "held_weakly",
    "related",
    "row_relation",
    "then",
]

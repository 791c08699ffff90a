"""DataLoaders, one set per request (per event for subscriptions, never per connection).

Every loader is scoped to the viewer's workspace: an id from another workspace loads ``None``.
Visibility is decided by the caller with the policy; loaders only batch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from db.models import (
    CALL_ORDER,
    Activity,
    ActivityMention,
    Call,
    Channel,
    Contact,
    Conversation,
    Message,
    Team,
    User,
    Workspace,
)
from db.queries import first_per_group, keyset_after

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from tortoise.models import Model

R = TypeVar("R")
T = TypeVar("T")


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


def related(loader: DataLoader[int, Any], key: int | None, build: Callable[[Any], T]) -> T | None | Awaitable[T | None]:
    """The row ``key`` of ``loader`` passed to ``build`` (:func:`then`); ``None`` for no key
    or a row the loader does not find (another workspace's)."""
    if key is None:
        return None
    return then(loader.load(key), lambda row: build(row) if row is not None else None)


def _by_id(model: type[Model], workspace_id: int) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        # by primary key alone, so that no planner ever prefers a workspace index and scans
        # the workspace; rows of another workspace are dropped here
        rows = await model.filter(id__in=list(set(ids)))
        found = {row.pk: row for row in rows if row.workspace_id == workspace_id}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _mentions(workspace_id: int) -> DataLoader[int, list[int]]:
    """Activity id -> the ids of the users it mentions, in mention order."""

    async def load(ids: Sequence[int]) -> list[list[int]]:
        rows = await ActivityMention.filter(
            activity_id__in=list(set(ids)), activity__workspace_id=workspace_id
        ).order_by("id").values_list("activity_id", "user_id")
        found: dict[int, list[int]] = {}
        for activity_id, user_id in rows:
            found.setdefault(activity_id, []).append(user_id)
        return [found.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


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


class Loaders:
    """Batching loaders by primary key for the workspace ``workspace_id``: ``user``, ``team``,
    ``channel``, ``contact``, ``conversation``, ``message``, ``activity``, ``call``; ``mentions`` maps an
    activity id to the ids of the users it mentions; and pages of rows per parent
    (:meth:`calls_of_contact`). Each is made on first use (an open subscription holds a set it
    may never use)."""

    user: DataLoader[int, Any]
    team: DataLoader[int, Any]
    channel: DataLoader[int, Any]
    contact: DataLoader[int, Any]
    conversation: DataLoader[int, Any]
    message: DataLoader[int, Any]
    activity: DataLoader[int, Any]
    call: DataLoader[int, Any]

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self._workspace: asyncio.Future[Workspace] | None = None
        self._calls_of_contact: dict[tuple[int, tuple[Any, ...] | None], DataLoader[int, list[Call]]] = {}

    def __getattr__(self, name: str) -> DataLoader[int, Any]:
        if name == "mentions":
            loader = _mentions(self.workspace_id)
            setattr(self, name, loader)
            return loader
        model = _MODELS.get(name)
        if model is None:
            raise AttributeError(name)
        loader = _by_id(model, self.workspace_id)
        setattr(self, name, loader)
        return loader

    async def preload(self, **ids: Iterable[int | None]) -> None:
        """Load a page's relations now, one batch per loader, all started together:
        ``await loaders.preload(contact=[...], message=[...])`` (``None`` ids are skipped).

        A list resolver calls it before returning its rows. Without it, sibling relations
        (a conversation's contact and last message) come back from the database at different
        moments, and what hangs off each of them (the contact's assignee, the message's author,
        both users) would be read in two batches or one depending on timing. Preloaded, every
        field of the page finds its relation cached, and the next level forms one batch per
        loader: the statements of a request depend on what it selects, never on the page size
        or on timing.
        """
        loads = [
            getattr(self, name).load_many(list({i for i in keys if i is not None}))
            for name, keys in ids.items()
        ]
        await asyncio.gather(*loads)
    def calls_of_contact(self, limit: int, after: Sequence[Any] | None) -> DataLoader[int, list[Call]]:
        """Per contact id, its first ``limit`` calls newest first (:data:`db.models.CALL_ORDER`),
        after the keyset values ``after`` if given: one query for every contact of a batch
        (e.g. the ``callActivities`` of each contact in a list)."""
        key = (limit, tuple(after) if after is not None else None)
        loader = self._calls_of_contact.get(key)
        if loader is None:

            async def load(contact_ids: Sequence[int]) -> list[list[Call]]:
                query = Call.filter(workspace_id=self.workspace_id, contact_id__in=sorted(set(contact_ids)))
                if after is not None:
                    query = query.filter(keyset_after(CALL_ORDER, after))
                found: dict[int, list[Call]] = {}
                for row in await first_per_group(query, "contact_id", CALL_ORDER, limit):
                    found.setdefault(row.contact_id, []).append(row)
                return [found.get(i, []) for i in contact_ids]

            loader = self._calls_of_contact[key] = DataLoader(load_fn=load)
        return loader

    def workspace_future(self) -> asyncio.Future[Workspace]:
        """The viewer's workspace row (settings such as phone-number masking), read once
        however many fields ask for it at the same time (see :func:`then`)."""
        if self._workspace is None:
            self._workspace = asyncio.ensure_future(Workspace.get(id=self.workspace_id))
        return self._workspace

    async def workspace(self) -> Workspace:
        """:meth:`workspace_future`, awaited."""
        return await asyncio.shield(self.workspace_future())


__all__ = ["Loaders", "related", "then"]

"""``node(id)``: any object by global id, if the viewer may see it (``domain.md`` section 1).

Objects hanging off a contact (conversations, messages, activities) are visible exactly when
their contact is, calls also only to users with call access (section 5); users, teams and
channels when they belong to the viewer's workspace; custom inboxes when the viewer created
them or they are shared with the viewer (section 2); access tokens as section 8 says;
webhook endpoints to owners (issue 20). Each rule
is :mod:`graph.permissions.visibility`'s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from db import combined
from db.combined import Part, read_combined
from db.models import (
    Activity,
    Call,
    Contact,
    Conversation,
    CustomInbox,
    Message,
    User,
    WebhookEndpoint,
    Workspace,
)
from db.queries import columns
from graph.loaders import Loader, held_weakly
from graph.permissions.visibility import (
    custom_inbox_access,
    may_handle_calls,
    webhook_endpoint_access,
)
from graph.resolvers.access_token import tokens_visible_to
from graph.resolvers.contact import may_see
from graph.resolvers.pages import read_ahead

if TYPE_CHECKING:
    from collections.abc import Sequence

    from strawberry.dataloader import DataLoader
    from tortoise.models import Model

    from graph.context import Context
    from graph.loaders import Loaders
    from graph.permissions.visibility import Viewer
    from graph.resolvers.pages import Ahead


CONTACT_TYPES = ("Contact", "Conversation", "Message", "Activity", "Call")
"""The types whose objects belong to a contact, visible with it."""


def shows(viewer: Viewer, type_name: str, contact: Contact | None) -> bool:
    """Whether ``viewer`` may see an object of ``type_name`` (one of :data:`CONTACT_TYPES`)
    belonging to ``contact``: exactly when ``node(id)`` returns it. Mutations that return an
    object the caller may not see (ingestion: ``receiveMessage``, ``receiveCall``,
    ``reportCallEnded``) return its ids only (``domain.md`` section 1)."""
    if not may_see(viewer, contact):
        return False
    return type_name != "Call" or may_handle_calls(viewer)


async def _contact_visible(ctx: Context, contact_id: int, type_name: str) -> bool:
    return shows(ctx.viewer, type_name, await ctx.loaders.contact.load(contact_id))


_CONTACT_OWNED: dict[str, type[Model]] = {
    "Conversation": Conversation,
    "Message": Message,
    "Activity": Activity,
    "Call": Call,
}


_READERS: WeakKeyDictionary[Loaders, dict[str, DataLoader[int, None]]] = WeakKeyDictionary()


def _reader(loaders: Loaders, type_name: str) -> DataLoader[int, None]:
    """The request's batches of ``node`` ids of ``type_name``: a batch of one id (a screen's
    root) is read with its contact (:func:`_read_with_contact`); the ids of a batch of several
    (``node`` asked several times in one request) are left to the loaders, which read each
    kind of row of them in one statement."""
    made = _READERS.setdefault(loaders, {})
    reader = made.get(type_name)
    if reader is None:
        request = held_weakly(loaders)  # the table's value must not hold its key

        async def load(ids: Sequence[int]) -> list[None]:
            if len(set(ids)) == 1:
                alive = request()
                ahead = _AHEAD.get(alive, {}).pop((type_name, ids[0]), None)
                await _read_with_contact(alive, type_name, ids[0], ahead)
            return [None for _ in ids]

        reader = made[type_name] = Loader(load_fn=load)
    return reader


_AHEAD: WeakKeyDictionary[Loaders, dict[tuple[str, int], Ahead]] = WeakKeyDictionary()
"""What a request's ``node(id)`` (or ``contact(id)``) of one object asks for below it, by
type name and id (:func:`find_node`'s ``ahead``)."""


async def _read_with_contact(
    loaders: Loaders, type_name: str, pk: int, ahead: Ahead | None = None
) -> None:
    """Put the row ``pk`` of ``type_name`` (a contact's object, or a contact) in its loader
    with the rows its visibility and first fields read after it (its contact; a contact's
    assignee), read in one statement (:func:`db.combined.read_combined`) instead of one after
    the other: what the loaders would read, rows of another workspace left out as they leave
    them out; a contact's with the viewer's workspace row (phone masking:
    :meth:`graph.loaders.Loaders.workspace_future`) when nothing asked for it yet. With
    ``ahead``, what it names too (:func:`graph.resolvers.pages.read_ahead`: a conversation's
    timeline; a contact panel's channels, activities and merge suggestions), read whether or
    not the viewer may see the object: found for the fields' own resolvers, which run only
    when ``node`` returned the object."""
    model = Contact if type_name == "Contact" else _CONTACT_OWNED[type_name]
    loader = getattr(loaders, type_name.lower())
    if loader.cache_map.get(pk) is not None:
        return
    parts = [
        Part(
            "found",
            model,
            f'SELECT {columns(model)} FROM "{model._meta.db_table}" WHERE id = {{}}',
            (pk,),
        )
    ]
    targets = [loader]
    owner = "found"
    if model is not Contact:
        owner = "owner"
        parts.append(
            Part(
                owner,
                Contact,
                f'SELECT {columns(Contact)} FROM "contact" WHERE id IN '
                '(SELECT contact_id FROM "found")',
            )
        )
        targets.append(loaders.contact)
    parts.append(
        Part(
            "assignee",
            User,
            f'SELECT {columns(User)} FROM "user" WHERE id IN (SELECT assignee_id FROM "{owner}")',
        )
    )
    targets.append(loaders.user)
    workspace = model is Contact and loaders.workspace_unread
    if workspace:
        # a contact's phone (and its channels' handles) as the viewer may read them
        parts.append(
            Part(
                "viewer_workspace",  # not the table's name: SQLite reads that as recursion
                Workspace,
                f'SELECT {columns(Workspace)} FROM "{Workspace._meta.db_table}" WHERE id = {{}}',
                (loaders.workspace_id,),
            )
        )
    settle = None
    if ahead:
        more, settle = read_ahead(loaders, ahead, pk)
        parts.extend(more)
    found = await read_combined(parts)
    if workspace:
        for row in found.pop(len(targets)):
            loaders.prime_workspace(row)
    if settle is not None:
        row = found[0][0] if found[0] else None
        if not settle(found[len(targets) :], row):
            # a node's JSON the database could not write: what it names read again as rows
            # (which Python reports, as it did when nothing was JSON)
            assert ahead is not None
            more, settle = read_ahead(loaders, replace(ahead, json=None), pk)
            settle(await read_combined(more), row)
    workspace_id = loaders.workspace_id
    for rows, target in zip(found[: len(targets)], targets, strict=True):
        for row in rows:
            if target.cache_map.get(row.id) is None:
                target.prime(row.id, row if row.workspace_id == workspace_id else None)
    if loader.cache_map.get(pk) is None:
        loader.prime(pk, None)


async def find_node(
    ctx: Context, type_name: str, pk: int, ahead: Ahead | None = None, *, alone: bool = False
) -> tuple[str, Any] | None:
    """``(type name, row)`` of a visible object, else ``None`` (unknown, foreign or hidden).

    ``ahead``: what the object's selection reads next (:class:`graph.resolvers.pages.Ahead`:
    a conversation's timeline, a contact panel's channels, activities and merge suggestions),
    read with the object when it is the request's only ``node`` of its type; whether the
    object is returned does not change. ``alone``: the field asking is the operation's only
    root field (:func:`graph.schema.ahead.alone`): no other can join its batch, so the object
    is read at once, without waiting for the batch (a loop iteration and a task less)."""
    viewer = ctx.viewer
    loaders = ctx.loaders
    row: Any = None
    if combined.ENABLED and (type_name == "Contact" or type_name in _CONTACT_OWNED):
        if alone:
            await _read_with_contact(loaders, type_name, pk, ahead)
        else:
            if ahead:
                _AHEAD.setdefault(loaders, {})[(type_name, pk)] = ahead
            await _reader(loaders, type_name).load(pk)
    if type_name == "Contact":
        row = await loaders.contact.load(pk)
        visible = row is not None and shows(viewer, type_name, row)
    elif type_name in ("Conversation", "Message", "Call", "Activity"):
        row = await getattr(loaders, type_name.lower()).load(pk)
        visible = row is not None and await _contact_visible(ctx, row.contact_id, type_name)
    elif type_name in ("User", "Team", "Channel"):
        row = await getattr(loaders, type_name.lower()).load(pk)
        visible = row is not None
    elif type_name == "Workspace":
        row = await loaders.workspace() if pk == viewer.workspace_id else None
        visible = row is not None
    elif type_name == "AccessToken":
        row = await tokens_visible_to(viewer).filter(id=pk).first()
        visible = row is not None
    elif type_name == "CustomInbox":
        row = await CustomInbox.filter(custom_inbox_access(viewer), id=pk).first()
        visible = row is not None
    elif type_name == "WebhookEndpoint":
        access = webhook_endpoint_access(viewer)
        row = await WebhookEndpoint.filter(access, id=pk).first() if access is not None else None
        visible = row is not None
    else:
        return None
    return (type_name, row) if visible else None


__all__ = ["CONTACT_TYPES", "find_node", "shows"]

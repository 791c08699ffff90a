"""Custom inboxes: saved, shared, filtered views of conversations (``domain.md`` section 2).

The filter is structured data, validated here and stored as JSON, never SQL text. A filter
node is exactly one of: ``all`` / ``any`` (a non-empty list of nodes, nested at most
:data:`MAX_DEPTH` deep, :data:`MAX_NODES` nodes in all) or one condition of
:mod:`graph.resolvers.filter_conditions` (its stored name and value).

Results are always intersected with the viewer's visibility; blocked contacts are left out
unless the filter asks for ``blocked: true`` (they appear in no other inbox). Who may open,
edit, re-share or delete a custom inbox is :mod:`graph.permissions.visibility`'s rule: only
the creator edits, re-shares or deletes (others: ``FORBIDDEN``); users it is not shared with
get ``NOT_FOUND``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import cachetools
from tortoise.expressions import Q

from db.combined import Part
from db.models import CustomInbox, CustomInboxShare, CustomInboxSharing, Team, User
from db.queries import statement
from graph.errors import BadUserInput, FieldErrors, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import (
    Scope,
    Viewer,
    custom_inbox_access,
    may_edit_custom_inbox,
)
from graph.resolvers.filter_conditions import BY_STORED, asks_for_blocked, check_group
from graph.resolvers.lookup import ids_in_workspace

if TYPE_CHECKING:
    from tortoise.queryset import QuerySet

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction

MAX_DEPTH = 5
"""How deep ``all`` / ``any`` groups nest, the top node counting as 1."""
MAX_NODES = 50
"""The most nodes (groups and conditions) a filter has."""


class FilterSize:
    """The count of a filter's nodes as a walk meets them (the input's conversion,
    :func:`graph.schema.inbox.filter_spec`, then :func:`clean_filter`): past :data:`MAX_NODES`
    the walk ends at once and the whole filter is refused with one error, however many nodes
    follow. Each node's own errors are gathered (:class:`graph.errors.FieldErrors`), so a
    check raised per node would visit every node of a filter of 60,000 conditions and report
    each one (seconds of a worker's time, megabytes of errors).

    Usage: ``size = FilterSize()``; ``size.count()`` per node inside the walk; the walk run
    inside ``with size.refusing(path):``, which raises (or, given ``errors``, keeps)
    ``BadUserInput`` naming ``path``."""

    class _Over(Exception):
        """Ends a walk past the limit; not a coded error, so no node's ``collect`` keeps it."""

    def __init__(self) -> None:
        self.nodes = 0

    def count(self) -> None:
        """One node more. Raises the walk's end past :data:`MAX_NODES`."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterSize._Over

    @contextmanager
    def refusing(self, path: str, errors: FieldErrors | None = None) -> Iterator[None]:
        """Run a walk; if it went past the limit, ``BadUserInput`` for ``path``, raised, or
        kept in ``errors`` when given (the walk's result is then whatever it had: ``None``)."""
        try:
            yield
        except FilterSize._Over:
            error = BadUserInput(f"The filter has more than {MAX_NODES} conditions.", field=path)
            if errors is None:
                raise error from None
            with errors.collect():
                raise error from None


async def clean_filter(
    viewer: Viewer, node: dict[str, Any] | None, path: str = "filter"
) -> dict[str, Any] | None:
    """Validate a filter tree (already in storage shape, with integer ids), whose nodes the
    caller found malformed (and reported) stand as ``None``: the rest is checked, and the
    result is ``None`` when any was.

    Every invalid node is reported at once (:class:`graph.errors.FieldErrors`), each naming
    its path in the API's names (``filter.all[1].countryCodes``).

    Raises:
        BadUserInput: an empty, contradictory, too deep or too large filter, or a bad value,
            naming the path of the offending node.
        NotFound: a user, team or channel id not in the viewer's workspace.
    """
    size = FilterSize()
    errors = FieldErrors()

    async def visit(node: Any, path: str, depth: int) -> dict[str, Any] | None:
        if node is None:
            return None  # reported by the caller
        size.count()
        if depth > MAX_DEPTH:
            raise BadUserInput(f"Filter groups nest at most {MAX_DEPTH} deep.", field=path)
        if not isinstance(node, dict) or len(node) != 1:
            raise BadUserInput(
                "Each filter node sets exactly one of all, any or a condition.", field=path
            )
        ((key, value),) = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise BadUserInput(f"`{key}` needs at least one filter.", field=f"{path}.{key}")
            children = []
            for i, child in enumerate(value):
                with errors.collect():
                    children.append(await visit(child, f"{path}.{key}[{i}]", depth + 1))
            if len(children) < len(value) or None in children:
                return None  # reported
            if key == "all":
                check_group(children, f"{path}.all")
            return {key: children}
        condition = BY_STORED.get(key)
        if condition is None:
            raise BadUserInput(f"Unknown filter condition `{key}`.", field=path)
        return {key: await condition.clean(viewer, value, f"{path}.{condition.api_name}")}

    cleaned = None
    with size.refusing(path, errors), errors.collect():
        cleaned = await visit(node, path, 1)
    errors.raise_if_any()
    return cleaned


def filter_q(viewer: Viewer, node: dict[str, Any], now: datetime) -> Q:
    """A stored filter as a tortoise filter on conversations (evaluated for ``viewer``)."""
    ((key, value),) = node.items()
    if key in ("all", "any"):
        parts = [filter_q(viewer, child, now) for child in value]
        return Q(*parts, join_type="AND" if key == "all" else "OR")
    return BY_STORED[key].predicate(viewer, value, now)


def custom_scope(viewer: Viewer, base: Scope, custom: CustomInbox) -> Scope:
    """What a custom inbox may hold for ``viewer`` before its filter: their visibility, and no
    blocked contact unless the filter asks for them."""
    if asks_for_blocked(custom.filter_spec):
        return base
    return base & Scope(blocked=False)


def _shared_query(viewer: Viewer) -> QuerySet[CustomInbox]:
    return CustomInbox.filter(custom_inbox_access(viewer))


async def visible_custom_inbox(viewer: Viewer, custom_id: int, *, field: str = "id") -> CustomInbox:
    """A custom inbox the viewer created or that is shared with them
    (:func:`graph.permissions.visibility.custom_inbox_access`).

    Raises:
        NotFound: otherwise (it may exist, but not for this viewer).
    """
    row = await _shared_query(viewer).filter(id=custom_id).first()
    if row is None:
        raise NotFound("Custom inbox", field=field)
    return row


ACCESS_STATEMENTS_KEPT = 1024
"""Statements of :func:`custom_inboxes_part` kept per process (least recently used dropped)."""

_ACCESS_STATEMENTS: cachetools.LRUCache[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = (
    cachetools.LRUCache(ACCESS_STATEMENTS_KEPT)
)


def custom_inboxes_part(viewer: Viewer, name: str = "custom_inboxes") -> Part:
    """:func:`list_custom_inboxes` of ``ALL`` as a part of one statement
    (:func:`db.combined.read_combined`), in the same order (``name``, then ``id``, ranked by
    the database).

    Its statement is tortoise's own for that query, built once per viewer: tortoise builds a
    statement with a subquery (the shares of :func:`custom_inbox_access`) through pypika every
    time, which cost the sidebar more than running it. It is kept by what
    :func:`custom_inbox_access` reads of the viewer (workspace, user, teams) and the database's
    dialect (``tests/speed/test_screens.py`` compares it with tortoise's statement)."""
    query = _shared_query(viewer).order_by("name", "id")
    query._choose_db_if_not_chosen()
    key = (
        query._db.capabilities.dialect,
        viewer.workspace_id,
        viewer.user_id,
        tuple(sorted(viewer.team_ids)),
    )
    found = _ACCESS_STATEMENTS.get(key)
    if found is None:
        sql, params = statement(query)
        found = _ACCESS_STATEMENTS[key] = (sql, tuple(params))
    return Part(
        name,
        CustomInbox,
        found[0],
        found[1],
        order=(("name", False), ("id", False)),
        marks="native",
    )


async def list_custom_inboxes(viewer: Viewer, ownership: str) -> list[CustomInbox]:
    """``ALL`` (mine and shared with me), ``BY_ME`` or ``BY_OTHERS``, by name."""
    query = _shared_query(viewer)
    if ownership == "BY_ME":
        query = query.filter(creator_id=viewer.user_id)
    elif ownership == "BY_OTHERS":
        query = query.exclude(creator_id=viewer.user_id)
    return await query.order_by("name", "id")


async def _clean_sharing(
    viewer: Viewer,
    sharing: CustomInboxSharing,
    user_ids: list[int] | None,
    team_ids: list[int] | None,
) -> tuple[list[int], list[int]]:
    user_ids, team_ids = sorted(set(user_ids or [])), sorted(set(team_ids or []))
    if sharing is not CustomInboxSharing.CHOSEN:
        if user_ids or team_ids:
            raise BadUserInput(
                "Choose users or teams only with sharing CHOSEN.", field="sharedWithUserIds"
            )
        return [], []
    if not user_ids and not team_ids:
        raise BadUserInput(
            "Sharing CHOSEN needs at least one user or team.", field="sharedWithUserIds"
        )
    users = await ids_in_workspace(User, viewer.workspace_id, user_ids, field="sharedWithUserIds")
    teams = await ids_in_workspace(Team, viewer.workspace_id, team_ids, field="sharedWithTeamIds")
    return users, teams


async def save_custom_inbox(
    bus: EventBus,
    viewer: Viewer,
    custom_id: int | None,
    *,
    name: str,
    filter_spec: dict[str, Any] | None,
    sharing: CustomInboxSharing,
    user_ids: list[int] | None,
    team_ids: list[int] | None,
    once: Once | None = None,
    errors: FieldErrors | None = None,
) -> CustomInbox:
    """Create (``custom_id`` None) or replace a custom inbox. Validates everything first and
    reports every invalid field at once. ``once``: the idempotency key of a creation
    (:mod:`graph.idempotency`); ``errors``: those the caller found already (ids it could not
    decode; ``filter_spec`` is then ``None`` when the filter was one of them).

    Raises:
        NotFound: not visible to the viewer. Forbidden: not its creator.
        BadUserInput / NotFound: as :func:`clean_filter`, or a bad name or sharing.
    """
    existing = None
    if custom_id is not None:
        existing = await visible_custom_inbox(viewer, custom_id)
        if not may_edit_custom_inbox(viewer, existing):
            raise Forbidden("Only its creator may edit, re-share or delete a custom inbox.")
    errors = errors or FieldErrors()
    name = (name or "").strip()
    with errors.collect():
        if not name or len(name) > 120:
            raise BadUserInput("`name` must be 1 to 120 characters.", field="name")
    cleaned: dict[str, Any] | None = None
    with errors.collect():
        cleaned = await clean_filter(viewer, filter_spec)
    users: list[int] = []
    teams: list[int] = []
    with errors.collect():
        users, teams = await _clean_sharing(viewer, sharing, user_ids, team_ids)
    errors.raise_if_any()
    assert cleaned is not None  # None only for nodes reported above

    async def operation(tx: Transaction) -> CustomInbox:
        if existing is None:
            row = await CustomInbox.create(
                workspace_id=viewer.workspace_id,
                creator_id=viewer.user_id,
                name=name,
                filter_spec=cleaned,
                sharing=sharing,
                using_db=tx.connection,
            )
        else:
            row = existing
            row.name, row.filter_spec, row.sharing = name, cleaned, sharing
            await row.save(
                using_db=tx.connection,
                update_fields=["name", "filter_spec", "sharing", "updated_at"],
            )
            await CustomInboxShare.filter(custom_inbox_id=row.id).using_db(tx.connection).delete()
        shares = [CustomInboxShare(custom_inbox_id=row.id, user_id=u) for u in users]
        shares += [CustomInboxShare(custom_inbox_id=row.id, team_id=t) for t in teams]
        if shares:
            await CustomInboxShare.bulk_create(shares, using_db=tx.connection)
        tx.emit(EventType.CUSTOM_INBOX_CHANGED, custom_inbox_id=row.id)
        return row

    return await write(bus, viewer.workspace_id, operation, once=once)


async def delete_custom_inbox(bus: EventBus, viewer: Viewer, custom_id: int) -> int:
    """Delete a custom inbox (its creator only). Raises like :func:`save_custom_inbox`."""
    row = await visible_custom_inbox(viewer, custom_id)
    if not may_edit_custom_inbox(viewer, row):
        raise Forbidden("Only its creator may edit, re-share or delete a custom inbox.")

    async def operation(tx: Transaction) -> int:
        await CustomInbox.filter(id=row.id).using_db(tx.connection).delete()
        tx.emit(EventType.CUSTOM_INBOX_CHANGED, custom_inbox_id=row.id, deleted=True)
        return row.id

    return await write(bus, viewer.workspace_id, operation)


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "FilterSize",
    "clean_filter",
    "custom_inboxes_part",
    "custom_scope",
    "delete_custom_inbox",
    "filter_q",
    "list_custom_inboxes",
    "now_utc",
    "save_custom_inbox",
    "visible_custom_inbox",
]

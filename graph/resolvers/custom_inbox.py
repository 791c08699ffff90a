"""Custom inboxes: saved, shared, filtered views of conversations (``domain.md`` section 2).

The filter is structured data, validated here and stored as JSON, never SQL text. A filter
node is exactly one of: ``all`` / ``any`` (a non-empty list of nodes, nested at most
:data:`MAX_DEPTH` deep, :data:`MAX_NODES` nodes in all) or one condition:

| key | value | matches conversations whose |
| --- | --- | --- |
| ``assignee`` | ``{"user_ids": [..]}``, ``{"me": true}`` or ``{"none": true}`` | contact's assignee |
| ``status`` | ``["OPEN", "CLOSED"]`` | status |
| ``channel_ids`` | channel ids | contact has an identity on one of them |
| ``last_channel_ids`` | channel ids | last message was on one of them |
| ``country_codes`` | ISO 3166-1 alpha-2 | contact's country |
| ``languages`` | BCP 47 tags | contact's language |
| ``blocked`` | boolean | contact's blocked flag |
| ``last_incoming_older_than`` | seconds | last inbound message is at least that old |
| ``last_incoming_within`` | seconds | last inbound message is at most that old |

"me" means the viewer. Results are always intersected with the viewer's visibility; blocked
contacts are left out unless the filter asks for ``blocked: true`` (they appear in no other
inbox). Only the creator edits, re-shares or deletes (others: ``FORBIDDEN``); users it is not
shared with get ``NOT_FOUND``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import langcodes
import pycountry
from tortoise.expressions import Q, Subquery

from db.models import (
    Channel,
    ChannelIdentity,
    ConversationStatus,
    CustomInbox,
    CustomInboxShare,
    CustomInboxSharing,
    Team,
    User,
)
from graph.errors import BadUserInput, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import (
    Scope,
    Viewer,
    custom_inbox_access,
    may_edit_custom_inbox,
)
from graph.resolvers.lookup import ids_in_workspace

if TYPE_CHECKING:
    from tortoise.queryset import QuerySet

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction

MAX_DEPTH = 5
MAX_NODES = 50
MAX_VALUES = 100
MAX_SECONDS = 366 * 24 * 3600
CONDITIONS = (
    "assignee", "status", "channel_ids", "last_channel_ids", "country_codes", "languages",
    "blocked", "last_incoming_older_than", "last_incoming_within",
)


async def clean_filter(viewer: Viewer, node: dict[str, Any], path: str = "filter") -> dict[str, Any]:
    """Validate a filter tree (already in storage shape, with integer ids).

    Raises:
        BadUserInput: an empty, contradictory, too deep or too large filter, or a bad value,
            naming the path of the offending node.
        NotFound: a user, team or channel id not in the viewer's workspace.
    """
    count = 0

    async def visit(node: Any, path: str, depth: int) -> dict[str, Any]:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise BadUserInput(f"The filter has more than {MAX_NODES} conditions.", field=path)
        if depth > MAX_DEPTH:
            raise BadUserInput(f"Filter groups nest at most {MAX_DEPTH} deep.", field=path)
        if not isinstance(node, dict) or len(node) != 1:
            raise BadUserInput("Each filter node sets exactly one of all, any or a condition.", field=path)
        (key, value), = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise BadUserInput(f"`{key}` needs at least one filter.", field=f"{path}.{key}")
            children = [await visit(child, f"{path}.{key}[{i}]", depth + 1) for i, child in enumerate(value)]
            if key == "all":
                _check_consistent(children, f"{path}.all")
            return {key: children}
        if key not in CONDITIONS:
            raise BadUserInput(f"Unknown filter condition `{key}`.", field=path)
        return {key: await _clean_condition(viewer, key, value, f"{path}.{key}")}

    return await visit(node, path, 1)


def _values(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadUserInput("Give at least one value.", field=path)
    if len(value) > MAX_VALUES:
        raise BadUserInput(f"At most {MAX_VALUES} values.", field=path)
    return sorted(set(value), key=str)


async def _clean_condition(viewer: Viewer, key: str, value: Any, path: str) -> Any:
    ws = viewer.workspace_id
    if key == "assignee":
        if not isinstance(value, dict) or len(value) != 1:
            raise BadUserInput("`assignee` sets exactly one of userIds, me or none.", field=path)
        if value.get("me") is True or value.get("none") is True:
            return value
        ids = _values(value.get("user_ids"), f"{path}.userIds")
        return {"user_ids": await ids_in_workspace(User, ws, ids, field=f"{path}.userIds")}
    if key == "status":
        statuses = _values(value, path)
        if any(s not in ConversationStatus.__members__ for s in statuses):
            raise BadUserInput("Unknown conversation status.", field=path)
        return statuses
    if key in ("channel_ids", "last_channel_ids"):
        return await ids_in_workspace(Channel, ws, _values(value, path), field=path)
    if key == "country_codes":
        codes = [str(c).upper() for c in _values(value, path)]
        if any(len(c) != 2 or pycountry.countries.get(alpha_2=c) is None for c in codes):
            raise BadUserInput("Country codes are ISO 3166-1 alpha-2, like GB or FR.", field=path)
        return codes
    if key == "languages":
        tags = _values(value, path)
        if any(not isinstance(t, str) or not langcodes.tag_is_valid(t) for t in tags):
            raise BadUserInput("Languages are BCP 47 tags, like en, fr or pt-BR.", field=path)
        return [langcodes.standardize_tag(t) for t in tags]
    if key == "blocked":
        if not isinstance(value, bool):
            raise BadUserInput("`blocked` is true or false.", field=path)
        return value
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SECONDS:
        raise BadUserInput(f"Seconds between 1 and {MAX_SECONDS}.", field=path)
    return value


def _check_consistent(children: list[dict[str, Any]], path: str) -> None:
    """Refuse an ``all`` group that can match nothing (two different blocked values, disjoint
    statuses, an age window that is empty)."""
    conditions: dict[str, list[Any]] = {}
    for child in children:
        (key, value), = child.items()
        conditions.setdefault(key, []).append(value)
    if len(set(conditions.get("blocked", []))) > 1:
        raise BadUserInput("This group asks for blocked and unblocked contacts at once.", field=path)
    statuses = [set(v) for v in conditions.get("status", [])]
    if statuses and not set.intersection(*statuses):
        raise BadUserInput("This group asks for statuses that exclude each other.", field=path)
    older, within = conditions.get("last_incoming_older_than", []), conditions.get("last_incoming_within", [])
    if older and within and max(older) > min(within):
        raise BadUserInput("This group's time window since the last incoming message is empty.", field=path)


def _mentions_blocked(node: dict[str, Any]) -> bool:
    (key, value), = node.items()
    if key in ("all", "any"):
        return any(_mentions_blocked(child) for child in value)
    return key == "blocked" and value is True


def filter_q(viewer: Viewer, node: dict[str, Any], now: datetime) -> Q:
    """A stored filter as a tortoise filter on conversations (evaluated for ``viewer``)."""
    (key, value), = node.items()
    if key in ("all", "any"):
        parts = [filter_q(viewer, child, now) for child in value]
        return Q(*parts, join_type="AND" if key == "all" else "OR")
    if key == "assignee":
        if value.get("me"):
            return Q(contact__assignee_id=viewer.user_id)
        if value.get("none"):
            return Q(contact__assignee_id__isnull=True)
        return Q(contact__assignee_id__in=value["user_ids"])
    if key == "status":
        return Q(status__in=value)
    if key == "channel_ids":
        contacts = ChannelIdentity.filter(workspace_id=viewer.workspace_id, channel_id__in=value).values("contact_id")
        return Q(contact_id__in=Subquery(contacts))
    if key == "last_channel_ids":
        return Q(last_channel_id__in=value)
    if key == "country_codes":
        return Q(contact__country_code__in=value)
    if key == "languages":
        return Q(contact__language__in=value)
    if key == "blocked":
        return Q(contact__blocked=value)
    if key == "last_incoming_older_than":
        return Q(last_inbound_at__lte=now - timedelta(seconds=value))
    return Q(last_inbound_at__gte=now - timedelta(seconds=value))


def custom_scope(viewer: Viewer, base: Scope, custom: CustomInbox) -> Scope:
    """What a custom inbox may hold for ``viewer`` before its filter: their visibility, and no
    blocked contact unless the filter asks for them."""
    if _mentions_blocked(custom.filter_spec):
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


async def list_custom_inboxes(viewer: Viewer, ownership: str) -> list[CustomInbox]:
    """``ALL`` (mine and shared with me), ``BY_ME`` or ``BY_OTHERS``, by name."""
    query = _shared_query(viewer)
    if ownership == "BY_ME":
        query = query.filter(creator_id=viewer.user_id)
    elif ownership == "BY_OTHERS":
        query = query.exclude(creator_id=viewer.user_id)
    return await query.order_by("name", "id")


async def _clean_sharing(
    viewer: Viewer, sharing: CustomInboxSharing, user_ids: list[int] | None, team_ids: list[int] | None
) -> tuple[list[int], list[int]]:
    user_ids, team_ids = sorted(set(user_ids or [])), sorted(set(team_ids or []))
    if sharing is not CustomInboxSharing.CHOSEN:
        if user_ids or team_ids:
            raise BadUserInput("Choose users or teams only with sharing CHOSEN.", field="sharedWithUserIds")
        return [], []
    if not user_ids and not team_ids:
        raise BadUserInput("Sharing CHOSEN needs at least one user or team.", field="sharedWithUserIds")
    users = await ids_in_workspace(User, viewer.workspace_id, user_ids, field="sharedWithUserIds")
    teams = await ids_in_workspace(Team, viewer.workspace_id, team_ids, field="sharedWithTeamIds")
    return users, teams


async def save_custom_inbox(
    bus: EventBus,
    viewer: Viewer,
    custom_id: int | None,
    *,
    name: str,
    filter_spec: dict[str, Any],
    sharing: CustomInboxSharing,
    user_ids: list[int] | None,
    team_ids: list[int] | None,
    once: Once | None = None,
) -> CustomInbox:
    """Create (``custom_id`` None) or replace a custom inbox. Validates everything first.
    ``once``: the idempotency key of a creation (:mod:`graph.idempotency`).

    Raises:
        NotFound: not visible to the viewer. Forbidden: not its creator.
        BadUserInput / NotFound: as :func:`clean_filter`, or a bad name or sharing.
    """
    existing = None
    if custom_id is not None:
        existing = await visible_custom_inbox(viewer, custom_id)
        if not may_edit_custom_inbox(viewer, existing):
            raise Forbidden("Only its creator may edit, re-share or delete a custom inbox.")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise BadUserInput("`name` must be 1 to 120 characters.", field="name")
    cleaned = await clean_filter(viewer, filter_spec)
    users, teams = await _clean_sharing(viewer, sharing, user_ids, team_ids)

    async def operation(tx: Transaction) -> CustomInbox:
        if existing is None:
            row = await CustomInbox.create(
                workspace_id=viewer.workspace_id, creator_id=viewer.user_id, name=name,
                filter_spec=cleaned, sharing=sharing, using_db=tx.connection,
            )
        else:
            row = existing
            row.name, row.filter_spec, row.sharing = name, cleaned, sharing
            await row.save(using_db=tx.connection, update_fields=["name", "filter_spec", "sharing", "updated_at"])
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
    "clean_filter",
    "custom_scope",
    "delete_custom_inbox",
    "filter_q",
    "list_custom_inboxes",
    "now_utc",
    "save_custom_inbox",
    "visible_custom_inbox",
]

"""Inboxes: which the viewer sees, what each holds, and their conversation lists
(``domain.md`` sections 2 and 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry

from db import combined
from db.combined import query_part, read_combined
from db.models import Contact, Conversation, ConversationStatus, Team
from graph.errors import BadUserInput, Forbidden, NotFound
from graph.events import LIST_EVENTS, EventType
from graph.fanout import Candidate
from graph.live import write
from graph.permissions.visibility import (
    Scope,
    StandardInboxKind,
    Viewer,
    blocked_inbox_scope,
    contact_scope,
    may_see_standard_inbox,
    may_see_team_inbox,
    standard_inbox_scope,
    team_inbox_scope,
    visible_standard_inboxes,
    visible_team_ids,
)
from graph.relay import Page, PageRequest, decode_id
from graph.resolvers.custom_inbox import (
    custom_inboxes_part,
    custom_scope,
    filter_q,
    list_custom_inboxes,
    now_utc,
    visible_custom_inbox,
)
from graph.resolvers.indicators import (
    count_parts,
    counts_of,
    inbox_counts,
    mark_seen,
    unseen_filter,
)
from graph.subscriptions import STREAM_STARTED, LiveScope, LiveStream, if_still_visible

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tortoise.models import Model
    from tortoise.queryset import QuerySet

    from graph.context import Context
    from graph.live import EventBus, LiveEvent, Transaction
    from graph.loaders import Loaders
    from graph.schema.row_json import NodeJson

T = TypeVar("T")

CONVERSATION_ORDER = (("last_activity_at", True), ("id", True))


@dataclass(frozen=True)
class InboxRef:
    """A resolved inbox selector."""

    key: str  # ALL, MINE, UNASSIGNED, team:<id>, blocked, custom:<id>
    scope: Scope
    team_id: int | None = None
    custom_inbox_id: int | None = None
    filter: Any = None  # a custom inbox's filter, as a tortoise Q


def _selected(selector: Any) -> list[str]:
    names = ("standard", "team_id", "custom_inbox_id", "blocked")
    return [n for n in names if getattr(selector, n, None) not in (None, False, strawberry.UNSET)]


async def resolve_inbox(viewer: Viewer, selector: Any, *, field: str = "inbox") -> InboxRef:
    """The inbox a selector names, with what it holds for ``viewer``.

    Raises:
        BadUserInput: not exactly one member set, or a malformed id.
        Forbidden: a standard, team or blocked inbox the viewer's restriction hides.
        NotFound: a team or custom inbox that does not exist in the viewer's workspace.
    """
    chosen = _selected(selector)
    if len(chosen) != 1:
        raise BadUserInput(
            f"`{field}` must set exactly one of standard, teamId, customInboxId or blocked: true.",
            field=field,
        )
    member = chosen[0]
    if member == "standard":
        kind = StandardInboxKind(selector.standard.value)
        if not may_see_standard_inbox(viewer, kind):
            raise Forbidden(
                f"The {kind.value} inbox is not available with your contact visibility.",
                field=field,
            )
        return InboxRef(kind.value, standard_inbox_scope(viewer, kind))
    if member == "team_id":
        team_id = decode_id(selector.team_id, "Team", field=f"{field}.teamId")
        if team_id not in viewer.team_members:
            raise NotFound("Team", field=f"{field}.teamId")
        if not may_see_team_inbox(viewer, team_id):
            raise Forbidden("You may not see this team's inbox.", field=f"{field}.teamId")
        return InboxRef(f"team:{team_id}", team_inbox_scope(viewer, team_id), team_id=team_id)
    if member == "blocked":
        if not viewer.can_view_blocked_contacts:
            raise Forbidden("You may not view blocked contacts.", field=field)
        return InboxRef("blocked", blocked_inbox_scope(viewer))
    custom_id = decode_id(selector.custom_inbox_id, "CustomInbox", field=f"{field}.customInboxId")
    custom = await visible_custom_inbox(viewer, custom_id, field=f"{field}.customInboxId")
    return InboxRef(
        f"custom:{custom_id}",
        custom_scope(viewer, contact_scope(viewer), custom),
        custom_inbox_id=custom_id,
        filter=filter_q(viewer, custom.filter_spec, now_utc()),
    )


async def subscription_scope(viewer: Viewer, selector: Any | None) -> Scope:
    """What a live subscription on ``selector`` may deliver: the inbox's scope, or everything
    the viewer may see when no inbox is given.

    Raises:
        BadUserInput: a custom inbox: they do not update live (``domain.md`` section 2; their
            filters are evaluated by the database, not from an event's facts); a malformed
            selector.
        Forbidden, NotFound: as :func:`resolve_inbox`.
    """
    if selector is None:
        return contact_scope(viewer)
    if getattr(selector, "custom_inbox_id", None):
        raise BadUserInput(
            "Custom inboxes do not update live: refresh the list instead.", field="inbox"
        )
    return (await resolve_inbox(viewer, selector)).scope


def conversations_in(viewer: Viewer, scope: Scope, status: ConversationStatus | None):
    """The conversations of ``viewer``'s workspace whose contact is in ``scope`` (read from the
    copies of the contact's facts on the conversation: one index, no join)."""
    query = Conversation.filter(workspace_id=viewer.workspace_id).filter(scope.q("contact_"))
    if status is not None:
        query = query.filter(status=status)
    return query


async def list_conversations(
    viewer: Viewer,
    inbox: InboxRef,
    status: ConversationStatus | None,
    request: PageRequest,
    *,
    unseen: bool = False,
    loaders: Loaders | None = None,
    unread: Mapping[type[Model], frozenset[str]] | None = None,
    unread_users: frozenset[type[Model]] = frozenset(),
    node_json: NodeJson | None = None,
) -> Page[Conversation]:
    """The page ``request`` asks for of an inbox's conversations, newest activity first, by
    keyset both ways (backwards: the index read in reverse from ``before``); with
    ``unseen``, only those with inbound messages the viewer has not seen in it. Its
    ``totalCount`` is a count of the same rows (the inbox's index, as the sidebar's counts).
    With ``loaders``, each row's contact and last message, and the users they name, are read
    with the page (:meth:`graph.loaders.Loaders.read_with`), but for the ``unread`` columns
    of each model and the users of the ``unread_users`` models' rows (none of the request's
    fields read them: :mod:`graph.schema.lean`). With ``node_json``, the page's rows come
    with their nodes' JSON when the database writes it (:mod:`graph.schema.row_json`)."""
    query = conversations_in(viewer, inbox.scope, status)
    if inbox.filter is not None:
        query = query.filter(inbox.filter)
    if unseen:
        query = query.filter(**unseen_filter(viewer, inbox.key))
    rows = await request.read(
        query,
        CONVERSATION_ORDER,
        loaders,
        unread,
        unread_users,
        node_json,
        contact="contact_id",
        message="last_message_id",
    )
    return Page.of(rows, request, conversation_cursor_values, query.count)


def conversation_cursor_values(row: Conversation) -> list[Any]:
    return [row.last_activity_at, row.id]


@dataclass
class SidebarEntry:
    key: str
    scope: Scope
    kind: StandardInboxKind | None = None
    team_id: int | None = None
    counts: tuple[int, int] | None = None  # (new message, open conversation) once computed


@dataclass
class Sidebar:
    standard: list[SidebarEntry]
    teams: list[SidebarEntry]
    blocked: SidebarEntry | None
    custom: list[Any] = field(default_factory=list)


def _entries(viewer: Viewer) -> tuple[list[SidebarEntry], list[SidebarEntry]]:
    """The standard and team inboxes ``viewer`` may see, in the sidebar's order (``domain.md``
    section 2), each with its scope."""
    standard = [
        SidebarEntry(kind.value, standard_inbox_scope(viewer, kind), kind=kind)
        for kind in visible_standard_inboxes(viewer)
    ]
    teams = [
        SidebarEntry(f"team:{team_id}", team_inbox_scope(viewer, team_id), team_id=team_id)
        for team_id in visible_team_ids(viewer)
    ]
    return standard, teams


def _blocked_contacts(viewer: Viewer, scope: Scope) -> QuerySet[Contact]:
    """The contacts of the blocked inbox's ``scope`` that are not erased (``eraseContact``):
    the blocked inbox is listed while one exists."""
    return Contact.filter(workspace_id=viewer.workspace_id, erased_at__isnull=True).filter(
        scope.q()
    )


async def sidebar(viewer: Viewer) -> Sidebar:
    """The inboxes ``viewer`` may see (``domain.md`` section 2). The blocked inbox is listed
    only for users who may view blocked contacts, while at least one blocked contact exists
    (erased contacts aside: ``eraseContact``)."""
    standard, teams = _entries(viewer)
    blocked = None
    if viewer.can_view_blocked_contacts:
        scope = blocked_inbox_scope(viewer)
        exists = await _blocked_contacts(viewer, scope).exists()
        if exists:
            blocked = SidebarEntry("blocked", scope)
    return Sidebar(standard, teams, blocked, await list_custom_inboxes(viewer, "ALL"))


def _in_list(
    scope: Scope, status: str | None, assignee_id: Any, blocked: Any, row_status: Any
) -> bool:
    if row_status is None or (status is not None and row_status != status):
        return False
    return scope.allows(assignee_id, bool(blocked))


def list_change(
    scope: Scope, status: str | None, event_type: str, facts: dict[str, Any]
) -> str | None:
    """How an event changes a conversation list (``domain.md`` section 4, live lists): only
    the events of :data:`graph.events.LIST_EVENTS` do.

    Args:
        scope: what the list holds for its viewer (:func:`resolve_inbox`).
        status: the list's conversation status (``None``: any).
        event_type: the event's type; facts: its payload, with the ``previous_*`` values of
            what it changed.

    Returns:
        ``"ENTERED"``, ``"LEFT"``, ``"CHANGED"``, or ``None`` when the list is not concerned.
    """
    if event_type not in LIST_EVENTS or facts.get("conversation_id") is None:
        return None
    after = _in_list(
        scope, status, facts.get("assignee_id"), facts.get("blocked"), facts.get("status")
    )
    before = _in_list(
        scope,
        status,
        facts.get("previous_assignee_id", facts.get("assignee_id")),
        facts.get("previous_blocked", facts.get("blocked")),
        facts["previous_status"] if "previous_status" in facts else facts.get("status"),
    )
    if after and not before:
        return "ENTERED"
    if before and not after:
        return "LEFT"
    return "CHANGED" if after else None


async def sidebar_with_counts(viewer: Viewer, loaders: Loaders | None = None) -> Sidebar:
    """The sidebar (:func:`sidebar`) with every count computed now, in one statement
    (:func:`db.combined.read_combined`): the custom inboxes
    (:func:`graph.resolvers.custom_inbox.custom_inboxes_part`), the counts
    (:func:`graph.resolvers.indicators.count_parts`) and, for users who may view blocked
    contacts, whether a blocked contact exists (the blocked inbox's count is read with the
    others: no mark carries its key, it has no dot). With the request's ``loaders``, the
    workspace's teams are read with them and put in ``loaders.team`` (what it reads: every
    team of the workspace), for the team inboxes' ``team`` fields."""
    if not combined.ENABLED:  # the reference: each read a statement of its own
        result = await sidebar(viewer)
        entries = [*result.standard, *result.teams, *([result.blocked] if result.blocked else [])]
        for entry, counts in zip(entries, await inbox_counts(viewer, entries), strict=True):
            entry.counts = counts
        return result
    standard, teams = _entries(viewer)
    blocked = SidebarEntry("blocked", blocked_inbox_scope(viewer))
    may_block = viewer.can_view_blocked_contacts
    keys = [entry.key for entry in [*standard, *teams, *([blocked] if may_block else [])]]
    counted = count_parts(viewer, keys)
    parts = [custom_inboxes_part(viewer), *counted]
    if may_block:
        query = _blocked_contacts(viewer, blocked.scope).limit(1)
        parts.append(query_part("blocked_contact", query))
    team_loader = loaders.team if loaders is not None and teams else None
    if team_loader is not None:
        query = Team.filter(workspace_id=viewer.workspace_id).order_by("id")
        parts.append(query_part("teams", query, (("id", False),)))
    custom, *found = await read_combined(parts)
    if team_loader is not None:
        rows = {row.id: row for row in found.pop()}
        for team_id in sorted({*rows, *(entry.team_id for entry in teams)}):
            if team_loader.cache_map.get(team_id) is None:
                team_loader.prime(team_id, rows.get(team_id))
    open_rows = found[0]
    unseen_rows = found[1] if len(counted) > 1 else []
    exists = may_block and bool(found[-1])
    result = Sidebar(standard, teams, blocked if exists else None, custom)
    entries = [*standard, *teams, *([blocked] if exists else [])]
    for entry, counts in zip(entries, counts_of(entries, open_rows, unseen_rows), strict=True):
        entry.counts = counts
    return result


def sidebar_snapshot(result: Sidebar) -> tuple[Any, ...]:
    """What a sidebar shows, comparable between two computations: its inboxes and counts, and
    its custom inboxes as last saved."""
    entries = [*result.standard, *result.teams, *([result.blocked] if result.blocked else [])]
    return (
        tuple((entry.key, entry.counts) for entry in entries),
        tuple((custom.id, custom.updated_at) for custom in result.custom),
    )


def touches(result: Sidebar, event_type: str, facts: dict[str, Any]) -> bool:
    """Whether an event may change a count of this sidebar (pure: no query)."""
    entries = [*result.standard, *result.teams, *([result.blocked] if result.blocked else [])]
    return any(list_change(entry.scope, None, event_type, facts) for entry in entries)


async def mark_inbox_seen(bus: EventBus, viewer: Viewer, selector: Any) -> Sidebar:
    """Clear ``viewer``'s new-message dot of a standard or team inbox (``domain.md`` section 3:
    theirs alone) and return the sidebar.

    Raises:
        BadUserInput: a blocked or custom inbox (they have no dot), a malformed selector.
        Forbidden, NotFound: as :func:`resolve_inbox`.
    """
    ref = await resolve_inbox(viewer, selector)
    if ref.key == "blocked" or ref.custom_inbox_id is not None:
        raise BadUserInput("Only standard and team inboxes have a new-message dot.", field="inbox")

    async def operation(tx: Transaction) -> None:
        await mark_seen(tx, viewer, ref.key)

    await write(bus, viewer.workspace_id, operation)
    return await sidebar_with_counts(viewer)


def sidebar_changes(
    context: Context, after_sequence: int | None, present: Callable[[Sidebar], T]
) -> LiveStream:
    """The subscriber's sidebar (``inboxSidebarChanged``): sent once at the start, then
    whenever one of its counts changes or an inbox appears or disappears (a custom inbox
    shared with the subscriber or no longer, edited or deleted included), each presented by
    ``present``. Each sidebar is read for this subscriber alone, in order."""
    current: Sidebar | None = None
    shown: tuple[Any, ...] | None = None
    stale = False

    async def on_viewer(viewer: Viewer) -> None:
        nonlocal stale
        stale = True

    async def build() -> T | None:
        # the panel as it is now, when it differs from the last one sent
        nonlocal current, shown, stale
        stale = False
        current = await sidebar_with_counts(context.viewer)
        snapshot = sidebar_snapshot(current)
        if snapshot == shown:
            return None
        shown = snapshot
        return present(current)

    def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
        # the first panel is read once the stream's start is fixed: nothing falls between
        if event.type != STREAM_STARTED and not stale:
            mine = (
                event.type == EventType.INBOX_SEEN
                and event.payload.get("user_id") == context.viewer.user_id
            )
            # a custom inbox created, edited, re-shared or deleted: it may appear or leave
            custom = event.type == EventType.CUSTOM_INBOX_CHANGED
            if not (mine or custom or touches(current, event.type, event.payload)):
                return None
        return Candidate(event.sequence, build)

    # each panel is read for this subscriber alone, in order: no shared payloads
    return LiveStream(
        context,
        after_sequence=after_sequence,
        on_viewer=on_viewer,
        select=select,
        shared=False,
        announce_start=True,
    )


@dataclass(frozen=True, slots=True)
class ListChange:
    """How one event changed a conversation list, for ``conversationUpdated``."""

    sequence: int
    change: str  # ENTERED, LEFT or CHANGED
    reason: str  # a value of LIST_EVENTS
    conversation_id: int
    conversation: Conversation | None  # None when it LEFT


def conversation_list_changes(
    context: Context,
    selector: Any | None,
    status: ConversationStatus | None,
    after_sequence: int | None,
    present: Callable[[ListChange], T],
) -> LiveStream:
    """Conversations entering, leaving or changing in the list of a standard, team or blocked
    inbox (all the subscriber may see without ``selector``) of ``status`` (``None``: any),
    each presented by ``present`` (``domain.md`` section 4, live lists).

    Raises (when the subscription starts):
        BadUserInput: a custom inbox (they do not update live), a malformed selector.
        Forbidden, NotFound: as :func:`resolve_inbox`.
    """
    status_value = status.value if status is not None else None

    scope = LiveScope(partial(subscription_scope, selector=selector))

    async def build(event: LiveEvent, change: str) -> T | None:
        if change == "LEFT":
            return await presented(event, change)
        # entered or changed: unless its contact has left since (the later event says so)
        return await if_still_visible(context, event, scope.current, presented(event, change))

    async def presented(event: LiveEvent, change: str) -> T | None:
        row = None
        if change != "LEFT":
            loaders = context.loaders_for_event(event)
            row = await loaders.conversation.load(event.payload["conversation_id"])
            if row is None:
                return None
        return present(
            ListChange(
                sequence=event.sequence,
                change=change,
                reason=LIST_EVENTS[event.type],
                conversation_id=event.payload["conversation_id"],
                conversation=row,
            )
        )

    def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
        change = list_change(scope.current, status_value, event.type, event.payload)
        if change is None:
            return None
        visible = scope.current.allows(facts.get("assignee_id"), bool(facts.get("blocked")))
        if change != "LEFT" and not visible:
            return None  # it has left since: the later event says so
        # the build decides with this scope whether the conversation is still visible
        # (if_still_visible): its payload is shared only with subscribers of the same scope
        return Candidate(
            event.sequence, partial(build, event, change), variant=(change, scope.current)
        )

    return LiveStream(
        context,
        after_sequence=after_sequence,
        on_viewer=scope.refresh,
        select=select,
        selection=lambda: (status_value, scope.current),  # what ``select`` reads
    )


__all__ = [
    "CONVERSATION_ORDER",
    "LIST_EVENTS",
    "InboxRef",
    "ListChange",
    "Sidebar",
    "SidebarEntry",
    "conversation_cursor_values",
    "conversation_list_changes",
    "conversations_in",
    "list_change",
    "list_conversations",
    "mark_inbox_seen",
    "resolve_inbox",
    "sidebar",
    "sidebar_changes",
    "sidebar_snapshot",
    "sidebar_with_counts",
    "subscription_scope",
    "touches",
]

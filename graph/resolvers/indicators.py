"""Indicators of the left panel (``domain.md`` section 3), computed here and nowhere else.

**New-message dot.** Each inbound message marks, for each user, exactly one tier among the
inboxes that user can see that contain the conversation, by priority ``MINE`` > ``TEAM``
(every visible team inbox containing it) > ``UNASSIGNED`` > ``ALL``. A mark is a row
(:class:`db.models.UnseenMark`) for (user, inbox, conversation); ``markInboxSeen`` deletes
that user's marks of that inbox. An inbox's count is the number of its *open* conversations,
as the viewer's list shows them now, that carry a mark: the same filter as
``conversations(inbox, unseen: true)``, so the two always agree.

**Open-conversation count.** The open conversations of the inbox for the viewer: the list
query, counted.

**Without scans** (issue 7). Both counts of every inbox of a sidebar come from two queries,
whatever the number of inboxes and the size of the workspace: the workspace's counters of open
conversations per contact's assignee and blocked flag (:class:`db.models.OpenConversationCount`,
a few dozen rows kept by database triggers in the same transaction as every write:
``db/migrations/0004_query_indexes.py``), and the viewer's unseen marks on open conversations
grouped by inbox and the same two facts (copies kept on the conversation row). An inbox's count
is the sum of the groups its scope allows (:meth:`Scope.allows`, the very value its list
filters with), so counts and lists cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Subquery
from tortoise.functions import Count

from db.models import ConversationStatus, InboxSeenState, OpenConversationCount, UnseenMark
from graph.auth import viewers_of_workspace
from graph.events import EventType
from graph.permissions.visibility import (
    StandardInboxKind,
    Viewer,
    standard_inbox_scope,
    team_inbox_scope,
    visible_standard_inboxes,
    visible_team_ids,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from graph.live import Transaction
    from graph.permissions.visibility import Scope
    from graph.resolvers.inbox import InboxRef, SidebarEntry

MINE, UNASSIGNED, ALL = StandardInboxKind.MINE, StandardInboxKind.UNASSIGNED, StandardInboxKind.ALL


def team_key(team_id: int) -> str:
    return f"team:{team_id}"


def marked_tiers(viewer: Viewer, assignee_id: int | None, blocked: bool) -> list[str]:
    """The inbox keys an inbound message marks for ``viewer`` (one tier, by priority)."""
    standard = visible_standard_inboxes(viewer)
    if MINE in standard and standard_inbox_scope(viewer, MINE).allows(assignee_id, blocked):
        return [MINE.value]
    teams = [
        team_key(team_id)
        for team_id in visible_team_ids(viewer)
        if team_inbox_scope(viewer, team_id).allows(assignee_id, blocked)
    ]
    if teams:
        return teams
    for kind in (UNASSIGNED, ALL):
        if kind in standard and standard_inbox_scope(viewer, kind).allows(assignee_id, blocked):
            return [kind.value]
    return []


async def mark_inbound(
    tx: Transaction, conversation_id: int, assignee_id: int | None, blocked: bool, at: datetime
) -> None:
    """Mark an inbound message of ``conversation_id`` unseen for every user, in ``tx``."""
    marks = [
        UnseenMark(
            user_id=viewer.user_id, inbox_key=key, conversation_id=conversation_id, marked_at=at
        )
        for viewer in await viewers_of_workspace(tx.workspace_id, tx.connection)
        for key in marked_tiers(viewer, assignee_id, blocked)
    ]
    if marks:
        await UnseenMark.bulk_create(marks, ignore_conflicts=True, using_db=tx.connection)


async def forget_left_teams(tx: Transaction, left: Iterable[tuple[int, int]]) -> None:
    """Drop the team dots of members who left: ``left`` holds ``(user_id, team_id)`` pairs.

    A team inbox's dot counts what arrived while the user could see it (``domain.md``
    section 3), so a user who leaves a team and rejoins later starts from a clean dot, like
    any new member, instead of finding marks from before they left.
    """
    by_team: dict[int, list[int]] = {}
    for user_id, team_id in left:
        by_team.setdefault(team_id, []).append(user_id)
    for team_id, user_ids in by_team.items():
        await (
            UnseenMark.filter(inbox_key=team_key(team_id), user_id__in=user_ids)
            .using_db(tx.connection)
            .delete()
        )


def unseen_filter(viewer: Viewer, inbox_key: str) -> dict[str, Any]:
    """Filter keeping the conversations ``viewer`` has unseen inbound messages in, in that inbox."""
    marked = UnseenMark.filter(user_id=viewer.user_id, inbox_key=inbox_key).values(
        "conversation_id"
    )
    return {"id__in": Subquery(marked)}


def _allowed(groups: Iterable[tuple[Any, Any, int]], scope: Scope) -> int:
    return sum(n for assignee_id, blocked, n in groups if scope.allows(assignee_id, bool(blocked)))


async def inbox_counts(
    viewer: Viewer, inboxes: Sequence[InboxRef | SidebarEntry]
) -> list[tuple[int, int]]:
    """``(new-message count, open-conversation count)`` of each standard or team inbox for
    ``viewer`` (``domain.md`` section 3), in two statements however many inboxes there are.

    Args:
        inboxes: resolved inboxes (``key``: ``ALL``, ``MINE``, ``UNASSIGNED`` or
            ``team:<id>``; ``scope``: what the inbox holds for the viewer).
    """
    open_groups = [
        (assignee_key or None, blocked, n)
        for assignee_key, blocked, n in await OpenConversationCount.filter(
            workspace_id=viewer.workspace_id
        ).values_list("assignee_key", "blocked", "count")
    ]
    unseen: dict[str, list[tuple[Any, Any, int]]] = {}
    if inboxes:
        for key, assignee_id, blocked, n in await (
            UnseenMark.filter(
                user_id=viewer.user_id,
                inbox_key__in=sorted({inbox.key for inbox in inboxes}),
                conversation__workspace_id=viewer.workspace_id,
                conversation__status=ConversationStatus.OPEN,
            )
            .annotate(n=Count("id"))
            .group_by(
                "inbox_key", "conversation__contact_assignee_id", "conversation__contact_blocked"
            )
            .values_list(
                "inbox_key",
                "conversation__contact_assignee_id",
                "conversation__contact_blocked",
                "n",
            )
        ):
            unseen.setdefault(key, []).append((assignee_id, blocked, n))
    return [
        (_allowed(unseen.get(inbox.key, ()), inbox.scope), _allowed(open_groups, inbox.scope))
        for inbox in inboxes
    ]


async def new_message_count(viewer: Viewer, inbox: InboxRef | SidebarEntry) -> int:
    """The dot of an inbox: its open conversations with unseen inbound messages."""
    return (await inbox_counts(viewer, [inbox]))[0][0]


async def open_conversation_count(viewer: Viewer, inbox: InboxRef | SidebarEntry) -> int:
    """How many open conversations an inbox holds for ``viewer``: its list, counted."""
    return (await inbox_counts(viewer, [inbox]))[0][1]


async def mark_seen(tx: Transaction, viewer: Viewer, inbox_key: str) -> int:
    """Clear ``viewer``'s dot of one inbox (theirs alone); returns how many marks went."""
    removed = (
        await UnseenMark.filter(user_id=viewer.user_id, inbox_key=inbox_key)
        .using_db(tx.connection)
        .delete()
    )
    now = datetime.now(UTC)
    updated = (
        await InboxSeenState.filter(user_id=viewer.user_id, inbox_key=inbox_key)
        .using_db(tx.connection)
        .update(seen_at=now)
    )
    if not updated:
        await InboxSeenState.create(
            user_id=viewer.user_id, inbox_key=inbox_key, seen_at=now, using_db=tx.connection
        )
    tx.emit(EventType.INBOX_SEEN, user_id=viewer.user_id, inbox_key=inbox_key, removed=removed)
    return removed


__all__ = [
    "forget_left_teams",
    "inbox_counts",
    "mark_inbound",
    "mark_seen",
    "marked_tiers",
    "new_message_count",
    "open_conversation_count",
    "team_key",
    "unseen_filter",
]

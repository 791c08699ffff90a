"""Indicators of the left panel (``domain.md`` section 3), computed here and nowhere else.

**New-message dot.** Each inbound message marks, for each user, exactly one tier among the
inboxes that user can see that contain the conversation, by priority ``MINE`` > ``TEAM``
(every visible team inbox containing it) > ``UNASSIGNED`` > ``ALL`` (:func:`marked_tiers`).
A mark is a row (:class:`db.models.UnseenMark`) for (user, inbox, conversation);
``markInboxSeen`` deletes that user's marks of that inbox. An inbox's count is the number of
its *open* conversations, as the viewer's list shows them now, that carry a mark: the same
filter as ``conversations(inbox, unseen: true)``, so the two always agree.

**Unseen, out of view.** A user none of whose inboxes holds the conversation (a ``SELF``
agent and another agent's contact, say) gets a mark of key :data:`HIDDEN`: they have not
seen the message either, and no inbox shows or counts that key. Messages of blocked contacts
mark nobody.

**The dot follows the conversation** (issue 21, item 5). When a contact's assignee or
blocked flag changes, :func:`follow_facts` moves the marks of its open conversation, for
each user who has one (whatever its key: the conversation is unseen for them), to the tier
the new facts give that user (or :data:`HIDDEN`), in the same transaction. So the agent who
is given an unread conversation sees it on ``MINE``, the ``UNASSIGNED`` dot loses it, and a
blocked contact's marks come back when it is unblocked. Users who had seen it (no mark) get
none. Leaving a team drops that team's marks (:func:`forget_left_teams`); joining one moves
no mark.

**Open-conversation count.** The open conversations of the inbox for the viewer: the list
query (status ``OPEN``, its default), counted; the blocked inbox's count too.

**Without scans** (issue 7). Both counts of every inbox of a sidebar come from two reads
(:func:`count_parts`, one statement with the sidebar's other reads: issue 23), whatever the
number of inboxes and the size of the workspace: the workspace's counters of open
conversations per contact's assignee and blocked flag (:class:`db.models.OpenConversationCount`,
a few dozen rows kept by database triggers in the same transaction as every write:
``db/migrations/0004_query_indexes.py``), and the viewer's unseen marks on open conversations
grouped by inbox and the same two facts (copies kept on each mark by database triggers,
``db/migrations/0017_unseen_mark_facts.py``: a range of the marks' own index, without a read
of each mark's conversation). An inbox's count
is the sum of the groups its scope allows (:meth:`Scope.allows`, the very value its list
filters with), so counts and lists cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Subquery
from tortoise.functions import Count

from db import combined
from db.combined import Part, read_combined
from db.models import (
    Conversation,
    ConversationStatus,
    InboxSeenState,
    OpenConversationCount,
    UnseenMark,
)
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
HIDDEN = "hidden"
"""The key of a mark no inbox of its user holds now: unseen, but shown and counted nowhere."""


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


def mark_keys(viewer: Viewer, assignee_id: int | None, blocked: bool) -> list[str]:
    """The keys of ``viewer``'s marks of an unseen conversation with these facts: its tier
    (:func:`marked_tiers`), or :data:`HIDDEN` when no inbox of theirs holds it."""
    return marked_tiers(viewer, assignee_id, blocked) or [HIDDEN]


async def mark_inbound(
    tx: Transaction, conversation_id: int, assignee_id: int | None, blocked: bool, at: datetime
) -> None:
    """Mark an inbound message of ``conversation_id`` unseen for every user, in ``tx`` (a
    blocked contact's for nobody)."""
    if blocked:
        return
    marks = [
        UnseenMark(
            user_id=viewer.user_id, inbox_key=key, conversation_id=conversation_id, marked_at=at
        )
        for viewer in await viewers_of_workspace(tx.workspace_id, tx.connection)
        for key in mark_keys(viewer, assignee_id, blocked)
    ]
    if marks:
        await UnseenMark.bulk_create(marks, ignore_conflicts=True, using_db=tx.connection)


async def follow_facts(
    tx: Transaction, contact_id: int, assignee_id: int | None, blocked: bool
) -> int:
    """Move the unseen marks of the contact's open conversation to the tiers its new facts
    (``assignee_id``, ``blocked``) give each user who has one, in ``tx`` (``domain.md``
    section 3: a reassignment or a block moves an unseen conversation's mark).

    Called by every write that changes a contact's assignee or blocked flag, after it.

    Returns:
        How many users' marks moved.
    """
    conn = tx.connection
    conversation_id = await (
        Conversation.filter(open_contact_id=contact_id)
        .using_db(conn)
        .first()
        .values_list("id", flat=True)
    )
    if conversation_id is None:
        return 0
    held: dict[int, tuple[set[str], datetime]] = {}
    for user_id, key, at in await (
        UnseenMark.filter(conversation_id=conversation_id)
        .using_db(conn)
        .values_list("user_id", "inbox_key", "marked_at")
    ):
        keys, first = held.get(user_id, (set(), at))
        keys.add(key)
        held[user_id] = (keys, min(first, at))
    if not held:
        return 0
    viewers = {
        viewer.user_id: viewer for viewer in await viewers_of_workspace(tx.workspace_id, conn)
    }
    moved: list[int] = []
    marks: list[UnseenMark] = []
    for user_id, (keys, at) in held.items():
        viewer = viewers.get(user_id)
        wanted = set(mark_keys(viewer, assignee_id, blocked)) if viewer else set()
        if wanted == keys:
            continue
        moved.append(user_id)
        marks += [
            UnseenMark(
                user_id=user_id, inbox_key=key, conversation_id=conversation_id, marked_at=at
            )
            for key in sorted(wanted)
        ]
    if moved:
        await (
            UnseenMark.filter(conversation_id=conversation_id, user_id__in=moved)
            .using_db(conn)
            .delete()
        )
    if marks:
        await UnseenMark.bulk_create(marks, using_db=conn)
    return len(moved)


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


_OPEN_VALUES = {"open_assignee_": "INT", "open_blocked_": "BOOL", "open_n_": "INT"}
_UNSEEN_VALUES = {
    "unseen_key_": "VARCHAR(40)",
    "unseen_assignee_": "INT",
    "unseen_blocked_": "BOOL",
    "unseen_n_": "BIGINT",
}


def count_parts(viewer: Viewer, keys: Iterable[str]) -> list[Part]:
    """The two reads every count of the inboxes of ``keys`` comes from, as parts of one
    statement (:func:`db.combined.read_combined`; :func:`counts_of` reads their rows): the
    workspace's counters of open conversations per contact's assignee and blocked flag, and
    ``viewer``'s unseen marks on open conversations, grouped by inbox and the same two facts
    (each mark's copies of its conversation's status and facts, kept by the database:
    ``db/migrations/0017_unseen_mark_facts.py``; a user's marks are all of their own
    workspace's conversations, :func:`mark_inbound`)."""
    wanted = sorted(set(keys))
    parts = [
        Part(
            "open_counts",
            None,
            'SELECT assignee_key AS open_assignee_, blocked AS open_blocked_, "count" AS open_n_ '
            "FROM open_conversation_count WHERE workspace_id = {}",
            (viewer.workspace_id,),
            values=_OPEN_VALUES,
        )
    ]
    if wanted:
        parts.append(
            Part(
                "unseen_counts",
                None,
                "SELECT inbox_key AS unseen_key_, contact_assignee_id AS unseen_assignee_, "
                "contact_blocked AS unseen_blocked_, COUNT(id) AS unseen_n_ FROM unseen_mark "
                f"WHERE user_id = {{}} AND inbox_key IN ({', '.join('{}' for _ in wanted)}) "
                "AND conversation_status = {} "
                "GROUP BY inbox_key, contact_assignee_id, contact_blocked",
                (viewer.user_id, *wanted, ConversationStatus.OPEN.value),
                values=_UNSEEN_VALUES,
            )
        )
    return parts


def counts_of(
    inboxes: Sequence[InboxRef | SidebarEntry],
    open_rows: Sequence[tuple[Any, ...]],
    unseen_rows: Sequence[tuple[Any, ...]] = (),
) -> list[tuple[int, int]]:
    """``(new-message count, open-conversation count)`` of each of ``inboxes`` from the rows
    of :func:`count_parts`: an inbox's count is the sum of the groups its scope allows."""
    open_groups = [(assignee_key or None, blocked, n) for assignee_key, blocked, n in open_rows]
    unseen: dict[str, list[tuple[Any, Any, int]]] = {}
    for key, assignee_id, blocked, n in unseen_rows:
        unseen.setdefault(key, []).append((assignee_id, blocked, n))
    return [
        (_allowed(unseen.get(inbox.key, ()), inbox.scope), _allowed(open_groups, inbox.scope))
        for inbox in inboxes
    ]


async def inbox_counts(
    viewer: Viewer, inboxes: Sequence[InboxRef | SidebarEntry]
) -> list[tuple[int, int]]:
    """``(new-message count, open-conversation count)`` of each standard or team inbox for
    ``viewer`` (``domain.md`` section 3), in one statement however many inboxes there are
    (:func:`count_parts`).

    Args:
        inboxes: resolved inboxes (``key``: ``ALL``, ``MINE``, ``UNASSIGNED`` or
            ``team:<id>``; ``scope``: what the inbox holds for the viewer).
    """
    if not combined.ENABLED:
        return counts_of(inboxes, *await _counted_apart(viewer, inboxes))
    found = await read_combined(
        count_parts(viewer, [inbox.key for inbox in inboxes]), db=UnseenMark._meta.db
    )
    return counts_of(inboxes, *found)


async def _counted_apart(
    viewer: Viewer, inboxes: Sequence[InboxRef | SidebarEntry]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of :func:`count_parts` read by tortoise, one statement each
    (``INBOX_GRAPH_COMBINED_READS=0``: the reference the combined read is compared with)."""
    open_rows = await OpenConversationCount.filter(workspace_id=viewer.workspace_id).values_list(
        "assignee_key", "blocked", "count"
    )
    unseen_rows = []
    if inboxes:
        unseen_rows = await (
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
        )
    return list(open_rows), list(unseen_rows)


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
    "HIDDEN",
    "count_parts",
    "counts_of",
    "follow_facts",
    "forget_left_teams",
    "inbox_counts",
    "mark_inbound",
    "mark_keys",
    "mark_seen",
    "marked_tiers",
    "new_message_count",
    "open_conversation_count",
    "team_key",
    "unseen_filter",
]

"""The event stream every subscription is built on (``architecture.md``, live path).

:func:`workspace_events` yields the viewer's workspace events in sequence order, exactly once:

- from ``afterSequence`` on, replayed from the outbox, then live with no gap and no duplicate
  at the seam; without it, from the workspace's current sequence on;
- after the broadcast connection (Redis) was lost and re-established, the events committed
  meanwhile are read from the outbox;
- a live event whose sequence jumps ahead (publication order differs from commit order
  across writers) first brings the missing events from the outbox, so none is lost;
- each yielded event comes with the *current* facts of its contact: the latest facts among
  the events of the same batch, so a replayed message of a contact reassigned since is
  authorised against its new assignee (``domain.md`` section 7), without a query;
- user, team and token events reload the viewer (role, visibility, teams); a revoked or
  expired token, or a deactivated user, closes the WebSocket with 4403;
- a subscriber more than the queue size behind is closed with 4413 (it resumes with
  ``afterSequence``); a resume point older than the outbox keeps is ``HISTORY_PRUNED``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from db.models import Event, Workspace
from graph.auth import refresh_viewer
from graph.errors import BadUserInput, CodedError, HistoryPruned, SlowConsumerError, Unauthenticated
from graph.fanout import Candidate, FastPath, current_operation, fan_out
from graph.live import RESYNC_MARKER, LiveEvent, SlowConsumer
from graph.websocket import CLOSE_FORBIDDEN

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from graph.context import Context
    from graph.permissions.visibility import Scope, Viewer

STREAM_STARTED = "stream.started"
"""The type of the delivery ``workspace_events(announce_start=True)`` yields first."""
VIEWER_EVENTS = frozenset({"user.changed", "team.changed", "access_token.revoked"})
MAX_REPLAY = 10_000
CLOSE_SLOW_CONSUMER = 4413
"""Close code for a subscriber that fell more than ``INBOX_GRAPH_SUBSCRIBER_QUEUE`` events
behind: reconnect and resubscribe with ``afterSequence`` to receive the rest."""


@dataclass
class LiveScope:
    """The scope a subscription filters events with, recomputed whenever the viewer changes.

    Pass :meth:`refresh` as ``on_viewer_change`` to :func:`workspace_events`; a coded error it
    raises (a FORBIDDEN inbox) ends the subscription.
    """

    compute: Callable[[Viewer], Awaitable[Scope]]
    current: Scope | None = None

    async def refresh(self, viewer: Viewer) -> None:
        self.current = await self.compute(viewer)


@dataclass(frozen=True)
class Delivery:
    """An event to consider for delivery, with its contact's current facts."""

    event: LiveEvent
    facts: dict[str, Any]


def _rows_to_events(rows: list[Event]) -> list[LiveEvent]:
    return [LiveEvent(r.workspace_id, r.sequence, r.type, r.payload) for r in rows]


def _with_current_facts(batch: list[LiveEvent]) -> list[Delivery]:
    """Pair each event with the latest facts of its contact within ``batch``."""
    latest: dict[int, dict[str, Any]] = {}
    for event in batch:
        contact_id = event.payload.get("contact_id")
        if contact_id is not None and "assignee_id" in event.payload:
            latest[contact_id] = event.payload
    return [
        Delivery(event, latest.get(event.payload.get("contact_id"), event.payload))
        for event in batch
    ]


async def _outbox(workspace_id: int, after: int, up_to: int | None = None) -> list[LiveEvent]:
    query = Event.filter(workspace_id=workspace_id, sequence__gt=after)
    if up_to is not None:
        query = query.filter(sequence__lt=up_to)
    rows = await query.order_by("sequence").limit(MAX_REPLAY + 1)
    if len(rows) > MAX_REPLAY:
        raise BadUserInput(
            "Too many events to replay: reload the data instead of resuming.", field="afterSequence"
        )
    return _rows_to_events(rows)


async def end_connection(
    context: Context,
    reason: str,
    *,
    code: int = CLOSE_FORBIDDEN,
    error: type[CodedError] = Unauthenticated,
) -> None:
    """Close the subscriber's WebSocket with ``code`` (default 4403); elsewhere raise ``error``."""
    socket = context.request
    if socket is not None and getattr(socket, "scope", {}).get("type") == "websocket":
        try:
            await socket.close(code=code, reason=reason[:120])
        except RuntimeError:
            pass  # already closed
        return
    raise error(reason)


def _expired(viewer: Viewer) -> bool:
    return viewer.token_expires_at is not None and viewer.token_expires_at <= datetime.now(UTC)


async def workspace_events(
    context: Context,
    *,
    after_sequence: int | None,
    on_viewer_change: Callable[[Viewer], Awaitable[None]],
    fast_path: FastPath | None = None,
    announce_start: bool = False,
) -> AsyncIterator[Delivery]:
    """The viewer's workspace events, in order and exactly once (see the module docstring).

    Args:
        context: the subscription's context; its viewer is refreshed in place.
        after_sequence: the last sequence the client saw, or ``None`` for "from now on".
        on_viewer_change: awaited after the viewer was reloaded (recompute scopes there; raise
            a coded error to end the subscription).
        fast_path: handed to the bus whenever this subscriber is idle and in step, so that
            the bus delivers the next events without waking this task (:func:`deliver`).
        announce_start: first yield a :data:`STREAM_STARTED` delivery once the stream's
            starting point is fixed: a snapshot read then misses no later event.

    Raises:
        BadUserInput: a negative or future ``afterSequence``, or too much to replay.
        SlowConsumerError: the subscriber fell too far behind (resume with afterSequence).
    """
    viewer = context.viewer
    if after_sequence is not None and after_sequence < 0:
        raise BadUserInput("`afterSequence` must not be negative.", field="afterSequence")
    async with context.bus.subscribe(viewer.workspace_id) as live:
        current = await Workspace.filter(id=viewer.workspace_id).first().values_list(
            "event_sequence", flat=True
        )
        current = int(current or 0)
        if after_sequence is not None and after_sequence > current:
            raise BadUserInput(
                f"`afterSequence` {after_sequence} is ahead of the latest event ({current}).",
                field="afterSequence",
            )
        last = current if after_sequence is None else after_sequence
        pending: list[Delivery] = []
        if after_sequence is not None and after_sequence < current:
            backlog = await _outbox(viewer.workspace_id, last)
            if not backlog or backlog[0].sequence != after_sequence + 1:
                raise HistoryPruned(
                    f"Events after {after_sequence} are no longer kept: reload, then subscribe "
                    "without afterSequence (or with the sequence the reload returned).",
                    field="afterSequence",
                )
            pending = _with_current_facts(backlog)
        if announce_start:
            yield Delivery(LiveEvent(viewer.workspace_id, last, STREAM_STARTED, {}), {})
        try:
            while True:
                if not pending:
                    if fast_path is not None and live.idle():
                        live.last = last
                        live.fast_path = fast_path.ready(viewer)
                    event = await live.get()
                    last = max(last, live.last)  # what the bus delivered meanwhile
                    if event.type == RESYNC_MARKER:
                        # the broadcast connection came back: read whatever was missed
                        pending = _with_current_facts(await _outbox(viewer.workspace_id, last))
                        continue
                    if event.sequence <= last:
                        continue
                    batch = [event]
                    if event.sequence > last + 1:
                        batch = await _outbox(viewer.workspace_id, last, event.sequence) + batch
                    pending = _with_current_facts(batch)
                delivery = pending.pop(0)
                if delivery.event.sequence <= last:
                    continue
                last = delivery.event.sequence
                if _expired(viewer):
                    await end_connection(context, "The session expired.")
                    return
                if delivery.event.type in VIEWER_EVENTS:
                    refreshed = await refresh_viewer(viewer)
                    if refreshed is None:
                        await end_connection(context, "The access token was revoked or the user deactivated.")
                        return
                    viewer = context.current_viewer = refreshed
                    await on_viewer_change(viewer)
                    continue
                yield delivery
        except SlowConsumer as exc:
            await end_connection(context, str(exc), code=CLOSE_SLOW_CONSUMER, error=SlowConsumerError)


def _fast_accepts(event: LiveEvent, viewer: Viewer) -> bool:
    """Whether the bus may deliver ``event`` without the subscriber's task: not when the
    viewer must be reloaded, nor once the session has expired (the task closes it)."""
    return event.type not in VIEWER_EVENTS and not _expired(viewer)


def deliver(
    context: Context,
    *,
    after_sequence: int | None,
    on_viewer_change: Callable[[Viewer], Awaitable[None]],
    select: Callable[[LiveEvent, dict[str, Any]], Candidate | None],
) -> AsyncIterator[Any]:
    """A subscription's events, delivered (see :func:`workspace_events` for the guarantees).

    ``select(event, facts)`` authorises an event by pure computation, from the event and its
    contact's current facts, and returns its :class:`~graph.fanout.Candidate` or ``None``.
    Over graphql-transport-ws the frames are written directly and nothing is yielded: while
    the subscriber is in step, the bus delivers for it (one execution per selection and
    view, :func:`graph.fanout.dispatch`); otherwise its own task does. Elsewhere the payloads
    are yielded for strawberry to send. Payloads are executed with this operation's viewer:
    several operations share the connection's context, and one may reload the viewer before
    another has reached the same event.
    """
    operation = current_operation()
    own_viewer = [context.viewer]

    async def viewer_changed(viewer: Viewer) -> None:
        own_viewer[0] = viewer
        await on_viewer_change(viewer)

    fast_path = None
    if operation is not None and context.bus.shared_fanout:
        fast_path = FastPath(context, operation, accepts=_fast_accepts, select=select)

    async def candidates() -> AsyncIterator[Candidate]:
        async for delivery in workspace_events(
            context, after_sequence=after_sequence, on_viewer_change=viewer_changed, fast_path=fast_path
        ):
            candidate = select(delivery.event, delivery.facts)
            if candidate is not None:
                yield candidate

    # the stream itself, not a generator re-yielding it: an open subscription holds one frame less
    return fan_out(lambda: replace(context, current_viewer=own_viewer[0]), candidates())


async def contact_events(
    context: Context,
    *,
    event_type: str,
    compute_scope: Callable[[Viewer], Awaitable[Scope]],
    build: Callable[[LiveEvent], Awaitable[Any]],
    after_sequence: int | None = None,
    addressee: str | None = None,
) -> AsyncIterator[Any]:
    """The events of ``event_type`` whose contact the subscriber's scope allows (from the
    event's current facts, ``domain.md`` section 7), each built by ``build(event)`` and
    delivered by :func:`deliver`. ``compute_scope`` is recomputed whenever the viewer changes.

    With ``addressee``, only events whose payload names the subscriber under that key (e.g.
    ``"user_id"`` of a mention) are delivered: events meant for one user.
    """
    scope = LiveScope(compute_scope)
    await scope.refresh(context.viewer)

    def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
        if event.type != event_type:
            return None
        if addressee is not None and event.payload.get(addressee) != context.viewer.user_id:
            return None
        if not scope.current.allows(facts.get("assignee_id"), bool(facts.get("blocked"))):
            return None
        return Candidate(event.sequence, partial(build, event))

    async for payload in deliver(
        context, after_sequence=after_sequence, on_viewer_change=scope.refresh, select=select
    ):
        yield payload


__all__ = [
    "CLOSE_SLOW_CONSUMER",
    "contact_events",
    "STREAM_STARTED",
    "Delivery",
    "LiveScope",
    "deliver",
    "end_connection",
    "workspace_events",
]

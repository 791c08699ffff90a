"""The event stream every subscription is built on (``architecture.md``, live path).

A :class:`LiveStream` delivers the viewer's workspace events in sequence order, exactly once:

- from ``afterSequence`` on, replayed from the outbox, then live with no gap and no duplicate
  at the seam; without it, from the workspace's sequence read just before its viewer (when
  the ``subscribe`` frame arrived), so a change of the viewer committed since is applied;
- after the broadcast connection (Redis) was lost and re-established, the events committed
  meanwhile are read from the outbox;
- a live event whose sequence jumps ahead (publication order differs from commit order
  across writers) first brings the missing events from the outbox, so none is lost;
- each event is selected with the *current* facts of its contact: the latest facts among
  the events of the same batch, so a replayed message of a contact reassigned since is
  authorised against its new assignee (``domain.md`` section 7), without a query, and
  presented with rows read no earlier than that batch (``LiveEvent.as_of``): never older
  than the facts that let it through;
- user, team and token events reload the viewer (role, visibility, teams); a revoked or
  expired token, or a deactivated user, closes the WebSocket with 4403 (at once when such an
  event arrives while older ones are replayed: :meth:`LiveStream._check_access`);
- a subscriber more than the queue size behind is closed with 4413 (it resumes with
  ``afterSequence``); a resume point older than the outbox keeps is ``HISTORY_PRUNED``;
- while the database cannot be reached (or when a step it shares with other subscribers is
  cancelled under it), a subscription keeps its place and retries with backoff, then delivers
  from the outbox what it had not delivered: an event's position advances only once the event
  is delivered, and a payload resolved without the database is never sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from db.availability import report_unavailable
from db.models import Workspace
from graph.auth import refresh_viewer
from graph.context import start_operation_loaders
from graph.errors import BadUserInput, HistoryPruned
from graph.events import VIEWER_EVENTS, EventType
from graph.extensions import as_graphql_error, coded_errors, means_unavailable
from graph.fanout import (
    NOT_COMPUTED,
    PREFETCH_AHEAD,
    Candidate,
    FastPath,
    computed_payload,
    current_operation,
    execute_payload,
    payload_for,
    prefetch,
    with_as_of,
)
from graph.live import (
    RESYNC_MARKER,
    Delivery,
    LiveEvent,
    OutboxRead,
    SlowConsumer,
    read_outbox_shared_batch,
    with_current_facts,
)
from graph.websocket import CLOSE_FORBIDDEN, SOCKET_GONE, recheck_viewer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from graph.context import Context
    from graph.fanout import LiveOperation, _Shared
    from graph.live import Subscriber
    from graph.permissions.visibility import Scope, Viewer

log = logging.getLogger(__name__)
T = TypeVar("T")

_NOTHING = ()
"""What a delivery comes to for a selection group that is sent nothing (not selected, or an
empty payload): :meth:`LiveStream._deliver_computed`."""


STREAM_STARTED = "stream.started"
"""The type of the event a ``LiveStream(announce_start=True)`` selects first."""
MAX_REPLAY = 10_000
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 0.2, 5.0
"""Backoff of a subscription waiting for the database to come back (doubling, jittered)."""
PRUNED = (
    "Events after {} are no longer kept: reload, then subscribe without afterSequence (or with "
    "the sequence the reload returned)."
)
CLOSE_SLOW_CONSUMER = 4413
"""Close code for a subscriber that fell more than ``INBOX_GRAPH_SUBSCRIBER_QUEUE`` events
behind: reconnect and resubscribe with ``afterSequence`` to receive the rest."""


@dataclass(slots=True)
class LiveScope:
    """The scope a subscription filters events with, recomputed whenever the viewer changes.

    Pass :meth:`refresh` as ``on_viewer`` to :class:`LiveStream`; a coded error it raises
    (a FORBIDDEN inbox) ends the subscription.
    """

    compute: Callable[[Viewer], Awaitable[Scope]]
    current: Scope | None = None

    async def refresh(self, viewer: Viewer) -> None:
        self.current = await self.compute(viewer)


def _replayable(read: OutboxRead) -> OutboxRead:
    """``read`` (at most ``MAX_REPLAY + 1`` events), if a subscription may replay it.

    Raises:
        BadUserInput: more than :data:`MAX_REPLAY` events (reload instead of resuming).
    """
    if len(read.events) > MAX_REPLAY:
        raise BadUserInput(
            "Too many events to replay: reload the data instead of resuming.", field="afterSequence"
        )
    return read


async def _outbox_batch(workspace_id: int, after: int, up_to: int | None = None) -> OutboxRead:
    """The events after ``after`` (and before ``up_to``) for one subscription to replay, as
    read for every subscription asking at the same time (:class:`graph.live.OutboxRead`).

    Raises:
        BadUserInput: more than :data:`MAX_REPLAY` of them (reload instead of resuming).
    """
    return _replayable(
        await read_outbox_shared_batch(workspace_id, after, up_to, limit=MAX_REPLAY + 1)
    )


async def _outbox(workspace_id: int, after: int, up_to: int | None = None) -> list[LiveEvent]:
    """:func:`_outbox_batch`'s events (a list of this subscription's own)."""
    return list((await _outbox_batch(workspace_id, after, up_to)).events)


async def _latest_sequence(workspace_id: int) -> int:
    """The sequence of the workspace's latest event (0: none yet)."""
    current = (
        await Workspace.filter(id=workspace_id).first().values_list("event_sequence", flat=True)
    )
    return int(current or 0)


def _expired(viewer: Viewer) -> bool:
    return viewer.token_expires_at is not None and viewer.token_expires_at <= datetime.now(UTC)


def _fast_accepts(event: LiveEvent, viewer: Viewer) -> bool:
    """Whether the bus may deliver ``event`` without the subscriber's task: not when the
    viewer must be reloaded (an expired session never gets here: ``FastPath.expires``)."""
    return event.type not in VIEWER_EVENTS


class _Gone(Exception):
    """The subscription ended while delivering (its socket closed, or it closed it)."""


class LiveStream:
    """One subscription's events, delivered to its graphql-transport-ws operation, in order
    and exactly once (``architecture.md``, live path; guarantees in the module docstring).

    A subscription field returns it. strawberry iterates it once: that first step checks the
    arguments, computes the scope, registers with the bus and reads the replay (errors raised
    there end the operation as any resolver error does), then ends the iteration: from then on
    the subscription lives here, detached from strawberry's and graphql-core's execution
    (:meth:`graph.fanout.LiveOperation.detach`). An idle subscription in step is a registration
    with the bus (a fast path), with no task: the bus delivers for it. Whatever the fast path
    cannot handle (a replay, a gap, a viewer reload, a send the socket could not take at once,
    an event without a fast path) wakes a task that catches up and ends once in step again.

    ``select(event, facts)`` authorises an event by pure computation, from the event and its
    contact's current facts, and returns its :class:`~graph.fanout.Candidate` or ``None``.
    ``on_viewer(viewer)`` is awaited at the start and after every viewer reload (recompute
    scopes there; a coded error it raises ends the subscription with that error).
    ``shared=False`` executes every payload for this subscriber alone and never hands the bus
    a fast path (payloads that read per-user state as they are built). ``announce_start``
    first selects a :data:`STREAM_STARTED` event once the stream's starting point is fixed:
    a snapshot read then misses no later event. ``selection()`` returns a hashable key of
    what ``select`` decides from (its scope ...): subscriptions of the same document, view
    and key are selected once per event (:class:`graph.fanout.FastPath`).

    Raises (on strawberry's first iteration): ``BadUserInput`` for a negative or future
    ``afterSequence`` or too much to replay, ``HistoryPruned`` when the outbox no longer holds
    the events after it, and whatever ``on_viewer`` raises. Later, a coded error ends the
    operation with a ``next`` carrying it, then ``complete``; a revoked token or expired
    session closes the socket with 4403, a subscriber too far behind with 4413.
    """

    __slots__ = (
        "after_sequence",
        "announce_start",
        "computed",
        "context",
        "ended",
        "fast",
        "last",
        "on_viewer",
        "operation",
        "pending",
        "prefetched",
        "resync",
        "select",
        "selection",
        "shared",
        "started",
        "subscriber",
        "task",
        "viewer",
        "viewer_checked",
    )

    def __init__(
        self,
        context: Context,
        *,
        after_sequence: int | None,
        on_viewer: Callable[[Viewer], Awaitable[None]],
        select: Callable[[LiveEvent, dict[str, Any]], Candidate | None],
        shared: bool = True,
        announce_start: bool = False,
        selection: Callable[[], Any] | None = None,
    ) -> None:
        self.context = context
        self.viewer: Viewer | None = None
        self.after_sequence = after_sequence
        self.on_viewer = on_viewer
        self.select = select
        self.selection = selection
        self.shared = shared
        self.announce_start = announce_start
        self.operation: LiveOperation | None = None
        self.subscriber: Subscriber | None = None
        self.fast: FastPath | None = None
        self.last = 0
        self.pending: deque[Delivery] = deque()
        self.prefetched = 0
        """The last sequence of ``pending`` whose payload :meth:`_prefetch` considered."""
        self.computed: list[_Shared] = []
        """The payloads :meth:`_prefetch` started (or found started) still computed."""
        self.task: asyncio.Task[None] | None = None
        self.ended = False
        self.started = False
        self.resync = False
        """Read the outbox after ``last`` before taking from the queue (after a failure)."""
        self.viewer_checked = 0
        """The latest viewer event (:attr:`graph.live.Subscriber.viewer_changed`) whose
        arrival :meth:`_check_access` answered."""

    def __aiter__(self) -> LiveStream:
        return self

    async def __anext__(self) -> Any:
        if not self.started:
            self.started = True
            operation = current_operation()
            if operation is None:
                raise RuntimeError("Subscriptions run over graphql-transport-ws only.")
            await self._start(operation)
        raise StopAsyncIteration

    async def _start(self, operation: LiveOperation) -> None:
        context = self.context
        viewer = self.viewer = context.viewer
        after_sequence = self.after_sequence
        if after_sequence is not None and after_sequence < 0:
            raise BadUserInput("`afterSequence` must not be negative.", field="afterSequence")
        await self.on_viewer(viewer)
        bus = context.bus
        subscriber = await bus.add(viewer.workspace_id)
        subscriber.user_id = viewer.user_id  # whose changes and revocations it checks early
        try:
            # ``known``: the workspace's sequence read just before the viewer (recheck of the
            # ``subscribe`` frame, or a reload), so after the client saw any sequence it may
            # resume from; the viewer reflects every event up to it
            known = viewer.sequence
            if after_sequence is None or known is None or after_sequence > known:
                # read now, with the subscriber registered: the bus hands it every event
                # published from now on (``known`` may be behind: another operation of the
                # socket reloaded the connection's viewer meanwhile, from an older read)
                current = await _latest_sequence(viewer.workspace_id)
            else:
                current = known
            if after_sequence is not None and after_sequence > current:
                raise BadUserInput(
                    f"`afterSequence` {after_sequence} is ahead of the latest event ({current}).",
                    field="afterSequence",
                )
            read = None
            if after_sequence is not None:
                # every event up to ``current`` (and what the bus handed out before this
                # subscriber registered): an empty backlog before ``current`` means pruned,
                # never that an event committed meanwhile; the bus delivers the rest. Kept
                # for the next subscriptions resuming there (a reconnect storm)
                read = _replayable(
                    await bus.replays.read(
                        viewer.workspace_id, after_sequence, current, limit=MAX_REPLAY + 1
                    )
                )
            if read is not None and read.events:
                last = after_sequence
                if read.events[0].sequence != after_sequence + 1:
                    raise HistoryPruned(PRUNED.format(after_sequence), field="afterSequence")
                # the batch's deliveries, shared with the subscriptions that read it too
                self.pending = deque(read.deliveries())
            elif after_sequence is not None and after_sequence < current:
                raise HistoryPruned(PRUNED.format(after_sequence), field="afterSequence")
            elif after_sequence is not None:
                last = after_sequence
            else:
                # from the viewer's sequence on: what was committed since, before the bus knew
                # this subscriber, is read from the outbox (a change of the viewer among it)
                last = current if known is None else min(known, current)
                self.resync = last < current
        except BaseException:
            bus.remove(subscriber)
            raise
        if self.announce_start:
            self.pending.appendleft(
                Delivery(LiveEvent(viewer.workspace_id, last, STREAM_STARTED, {}), {})
            )
        self.last = last
        self.subscriber = subscriber
        self.operation = operation
        if self.shared and bus.shared_fanout:
            self.fast = FastPath(
                context,
                operation,
                accepts=_fast_accepts,
                select=self.select,
                selection=self.selection,
            )
        if not operation.detach(self):  # completed by the client meanwhile
            self.ended = True
            bus.remove(subscriber)
            return
        subscriber.wake = self._wake
        self._wake()

    def stop(self) -> None:
        """End the subscription: it leaves the bus and writes nothing more (idempotent). Its
        task, if one runs elsewhere, is cancelled, even while it ends on its own (``_fail``)."""
        if not self.ended:
            self.ended = True
            if self.subscriber is not None:
                self.context.bus.remove(self.subscriber)
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _wake(self) -> None:
        """Catch up in a task, unless one runs or there is nothing to catch up with."""
        if self.task is not None or self.ended:
            return
        subscriber = self.subscriber
        if not self.pending and not self.resync and subscriber.idle():
            self._hand_over()
            return
        # a fresh context: the task must not keep the variables of whoever queued the event
        self.task = asyncio.create_task(self._run(), context=contextvars.Context())

    def _hand_over(self) -> None:
        """In step and idle: the bus delivers the next events (through the fast path, if any)."""
        subscriber = self.subscriber
        subscriber.last = self.last
        self.computed = []  # done by now: held by the payload cache, if at all, not by us
        if self.fast is not None:
            subscriber.fast_path = self.fast.ready(self.viewer)

    async def _run(self) -> None:
        """Catch up, then hand over to the bus. Every way out of here delivers, resumes from
        the outbox, or ends the subscription visibly (a close code, or an error and
        ``complete``): an unreachable database, or a shared step cancelled by another task
        (a load shared with a subscriber that left), is waited out and the events since the
        last delivered one are read again from the outbox (:meth:`_pause`)."""
        delay = RETRY_MIN_SECONDS
        # the frames of a catch-up (a replay: ten, a thousand) leave in one write, not one each
        writer = self.operation.writer
        if writer is not None:
            writer.cork()
        try:
            try:
                start_operation_loaders(self.viewer.workspace_id)
                while True:
                    try:
                        if not await self._step():
                            self._hand_over()
                            return
                        delay = RETRY_MIN_SECONDS
                    except asyncio.CancelledError:
                        if self.ended or asyncio.current_task().cancelling():
                            raise  # stopped: the client completed it, or the socket closed
                        log.warning(
                            "a shared step of event delivery was cancelled; resuming from the "
                            "outbox"
                        )
                        delay = await self._pause(delay)
                    except Exception as exc:
                        if not means_unavailable(exc):  # as _fail would code it
                            raise
                        report_unavailable(exc)
                        delay = await self._pause(delay)
            finally:
                if writer is not None:
                    writer.uncork()  # before a close or error frame below, and the bus's frames
        except _Gone:
            pass
        except SlowConsumer as exc:
            await self._close(str(exc), CLOSE_SLOW_CONSUMER)
        except Exception as exc:  # noqa: BLE001 - coded errors end the operation; others are masked
            await self._fail(exc)
        finally:
            self.task = None

    async def _pause(self, delay: float) -> float:
        """Wait before retrying (``delay`` seconds with jitter), then resume from the outbox
        after the last event delivered; returns the next delay (doubling, capped)."""
        # what was in hand is read again; only the snapshot announcement is not in the outbox
        self.pending = deque(d for d in self.pending if d.event.type == STREAM_STARTED)
        self.prefetched = 0
        self.computed = []
        self.resync = True
        if self.operation.writer is not None:
            self.operation.writer.flush()  # what was delivered so far need not wait
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        return min(delay * 2, RETRY_MAX_SECONDS)

    async def _step(self) -> bool:
        """Handle the next pending event (taking more from the queue first if none is
        pending); ``False`` when there is nothing left to catch up with."""
        changed = self.subscriber.viewer_changed
        if (
            changed > self.viewer_checked
            and self.pending
            and self.pending[0].event.sequence < changed
        ):
            await self._check_access(changed)  # older events first: a replay under way
        if self.pending and self.fast is not None:
            send = self._deliver_computed()
            if send is not None:
                try:
                    await send
                except SOCKET_GONE as exc:
                    raise _Gone from exc
                self.last = self.pending.popleft().event.sequence
                return True
        if not self.pending and not await self._take():
            return False
        if self.pending:
            await self._handle(self.pending[0])
            # handled: ``last`` has moved past it (a failure above leaves it pending)
            self.pending.popleft()  # a replay holds up to MAX_REPLAY: not a list
        return True

    async def _check_access(self, changed: int) -> None:
        """A change of its user or a revocation of their tokens (sequence ``changed``,
        :attr:`graph.live.Subscriber.viewer_changed`) arrived while this subscription still
        catches up with older events (a replay): its token and user are checked now, as
        the database has them, not once the replay reaches the event (a revoked token's replay
        went on for as long as its client read it: a helper's review; README, "a socket with a
        subscription open is closed as soon as its token is revoked"). Closes with 4403 if
        they lost access; otherwise the viewer stays as it is until the event's turn, when it
        is reloaded in order (:meth:`_handle`).

        Raises:
            _Gone: the socket was closed.
        """
        if await recheck_viewer(self.viewer) is None:
            await self._close("The access token was revoked or the user deactivated.")
            raise _Gone
        self.viewer_checked = changed

    def _deliver_computed(self) -> Awaitable[None] | None:
        """Deliver at once, in order, the pending events :meth:`_handle` would deliver with a
        payload computed already (a replay's batch, computed once for every subscriber
        replaying it), or skip without a payload; stop at the first one it would not (a
        viewer reload, an expired session, a payload not computed yet: :meth:`_handle`'s
        to do). Returns the send of a frame that must go through uvicorn (compressed, or the
        socket backed up), to await before the event counts as delivered; raises
        :class:`_Gone` when the socket is. A replay of thirty events is a loop here, not
        thirty passes through ``_handle``, ``_send`` and the payload's awaits (issue 23).

        What a delivery comes to for a selection group (:attr:`graph.fanout.FastPath.group`:
        subscribers who select alike and share payloads) is kept on the delivery
        (:attr:`graph.live.Delivery.shared`), which a replay's readers share
        (:meth:`graph.live.OutboxRead.deliveries`): the next subscribers of the group write
        its frame without selecting or looking the payload up again."""
        pending = self.pending
        operation = self.operation
        viewer = self.viewer
        if _expired(viewer):
            return None
        select = self.select
        group = self.fast.ready(viewer).group
        while pending and not self.ended:
            delivery = pending[0]
            event = delivery.event
            sequence = event.sequence
            if event.type == STREAM_STARTED or event.type in VIEWER_EVENTS:
                return None
            if sequence > self.last:
                found = delivery.shared.get(group) if group is not None else None
                if found is None:
                    try:
                        candidate = with_as_of(select(event, delivery.facts), event)
                    except Exception:  # noqa: BLE001 - raised again in _handle, which reports it
                        return None
                    if candidate is None:
                        found = _NOTHING
                    else:
                        computed = computed_payload(operation, viewer, candidate)
                        if computed is NOT_COMPUTED:
                            return None
                        payload, personal = computed
                        found = _NOTHING if payload is None else (payload, (payload + "}").encode())
                        if personal:
                            group = None  # this user's own: neither kept nor taken from others
                    if group is not None:
                        delivery.shared[group] = found
                if found is not _NOTHING:
                    try:
                        send = operation.send_next(*found)
                    except SOCKET_GONE as exc:
                        raise _Gone from exc
                    if send is not None:
                        return send
                self.last = sequence
            pending.popleft()
        return None

    async def _take(self) -> bool:
        """Queue the next events to handle; ``False`` when nothing is queued."""
        subscriber = self.subscriber
        workspace_id = subscriber.workspace_id
        if self.resync:
            await subscriber.settle()  # a frame the bus began must end before any other
            self.last = max(self.last, subscriber.last)
            self.pending += with_current_facts(await _outbox(workspace_id, self.last))
            self.resync = False
            return True
        event = await subscriber.take()
        # what the bus delivered meanwhile: a send it began and ``take`` just finished too;
        # handed over below ``subscriber.last``, the bus would see a gap at its next event and
        # the task would send those events again
        last = self.last = max(self.last, subscriber.last)
        if event is None:
            return False
        if event.type == RESYNC_MARKER:
            self.resync = True  # the broadcast connection came back: read whatever was missed
        elif event.sequence > last:
            batch = [event]
            if event.sequence > last + 1:
                batch = await _outbox(workspace_id, last, event.sequence) + batch
            self.pending = deque(with_current_facts(batch))
        return True

    async def _handle(self, delivery: Delivery) -> None:
        """Deliver one event (or reload the viewer); ``last`` moves past it only once done."""
        event = delivery.event
        if event.type != STREAM_STARTED:
            if event.sequence <= self.last:
                return
            if _expired(self.viewer):
                await self._close("The session expired.")
                raise _Gone
            if event.type in VIEWER_EVENTS:
                refreshed = await refresh_viewer(self.viewer, event.sequence)
                if refreshed is None:
                    await self._close("The access token was revoked or the user deactivated.")
                    raise _Gone
                await self.on_viewer(refreshed)
                self.viewer = self.context.current_viewer = refreshed
                self.last = event.sequence
                return
        candidate = with_as_of(self.select(event, delivery.facts), event)
        if candidate is not None:
            await self._send(candidate)
        if event.type != STREAM_STARTED:
            self.last = event.sequence

    async def _send(self, candidate: Candidate) -> None:
        operation = self.operation
        # the operation's own viewer: another operation of the socket may have reloaded the
        # connection's viewer before this one reached the same event
        context = self.context.with_viewer(self.viewer)
        if self.fast is not None:
            payload = await payload_for(operation, context, candidate, self._prefetch)
        else:
            payload = await execute_payload(operation, context, candidate)
        if payload is None or self.ended:
            return
        try:
            send = operation.send_next(payload)
            if send is not None:
                await send
        except SOCKET_GONE as exc:
            raise _Gone from exc  # the connection is gone: its handler ends the operation

    def _prefetch(self) -> list[_Shared]:
        """Start computing the shared payloads of the next pending events (up to
        :data:`graph.fanout.PREFETCH_AHEAD`, before any viewer reload), and return those
        still computed: called when the payload in hand is not ready, so that a subscriber
        catching up with a batch others replay too waits once for the batch, not once per
        event (:func:`graph.fanout.prefetch`)."""
        viewer = self.viewer
        candidates = []
        if not _expired(viewer):
            for delivery in itertools.islice(self.pending, 1, PREFETCH_AHEAD + 1):
                event = delivery.event
                if event.type in VIEWER_EVENTS:
                    break  # what follows is selected for the reloaded viewer
                if event.type == STREAM_STARTED or event.sequence <= self.prefetched:
                    continue  # considered already
                if event.sequence <= self.last:
                    continue  # handled already: _handle skips it
                self.prefetched = event.sequence
                try:
                    candidate = with_as_of(self.select(event, delivery.facts), event)
                except Exception:  # noqa: BLE001 - raised again when its turn comes (_handle)
                    break
                if candidate is not None:
                    candidates.append(candidate)
        computed = [entry for entry in self.computed if not entry.future.done()]
        if candidates:
            context = self.context.with_viewer(viewer)
            computed += prefetch(self.operation, context, candidates)
        self.computed = computed
        return computed

    async def _close(self, reason: str, code: int = CLOSE_FORBIDDEN) -> None:
        """End here and close the subscriber's WebSocket with ``code`` and ``reason``."""
        self.stop()
        if self.operation.writer is not None:
            self.operation.writer.flush()  # the frames delivered before it precede the close
        try:
            await self.context.request.close(code=code, reason=reason[:120])
        except SOCKET_GONE:
            pass  # already closed

    async def _fail(self, error: Exception) -> None:
        """End the operation with ``error`` in a ``next`` (coded; anything else masked), then
        ``complete``, as strawberry ends an operation whose stream raised."""
        operation = self.operation
        self.stop()
        errors = [e.formatted for e in coded_errors([as_graphql_error(error)])]
        frames = (
            operation.frame_prefix + json.dumps({"data": None, "errors": errors}) + "}",
            json.dumps({"id": operation.id, "type": "complete"}),
        )
        try:
            for frame in frames:
                if operation.completed:
                    return  # the client completed it meanwhile (and may reuse its id)
                await operation.send_text(frame)
        except SOCKET_GONE:
            pass
        operation.finish()


async def if_still_visible(
    context: Context,
    event: LiveEvent,
    scope: Scope,
    presented: Awaitable[T],
    contact_id: int | None = None,
) -> T | None:
    """What ``presented`` returns, or ``None`` when the event's contact, as read to present it
    (the event's shared rows), is outside ``scope``.

    The facts that let an event through are those of its batch; the contact may have moved on
    since (a reassignment or a block committed after they were read, whose own event comes
    later): what is presented must be visible too (``domain.md`` sections 1 and 7). Events
    without a contact are returned as they are. The answer depends on ``scope``: a candidate
    whose build calls this carries the scope in its ``variant``, so that its payload is shared
    only by subscribers of that scope (:class:`graph.fanout.Candidate`).

    ``contact_id``: the contact the event's current facts name, when it is not the event's
    own (one merged since, :func:`graph.live.with_current_facts`: its rows now belong to the
    contact it was merged into)."""
    contact_id = contact_id or event.payload.get("contact_id")
    if contact_id is None:
        return await presented
    contact = context.loaders_for_event(event).contact.load(contact_id)  # with the others
    value = await presented
    row = await contact
    if row is None or not scope.allows(row.assignee_id, row.blocked):
        return None
    return value


def contact_events(
    context: Context,
    *,
    event_type: EventType,
    compute_scope: Callable[[Viewer], Awaitable[Scope]],
    build: Callable[[LiveEvent], Awaitable[Any]],
    after_sequence: int | None = None,
    addressee: str | None = None,
) -> LiveStream:
    """The events of ``event_type`` whose contact the subscriber's scope allows (from the
    event's current facts, ``domain.md`` section 7), each built by ``build(event)`` and
    delivered by a :class:`LiveStream`, unless the contact as read to present it is outside
    the scope by then (moved on after the facts were read). ``compute_scope`` is recomputed
    whenever the viewer changes.

    With ``addressee``, only events whose payload names the subscriber under that key (e.g.
    ``"user_id"`` of a mention) are delivered: events meant for one user.
    """
    scope = LiveScope(compute_scope)
    user_id = context.viewer.user_id

    async def build_visible(event: LiveEvent, contact_id: int | None) -> Any:
        return await if_still_visible(context, event, scope.current, build(event), contact_id)

    def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
        if event.type != event_type:
            return None
        if addressee is not None and event.payload.get(addressee) != user_id:
            return None
        if not scope.current.allows(facts.get("assignee_id"), bool(facts.get("blocked"))):
            return None
        # the build decides with this scope whether the contact is still visible: its payload
        # is shared only with subscribers of the same scope (two TEAM agents of different
        # teams have the same view)
        return Candidate(
            event.sequence,
            partial(build_visible, event, facts.get("contact_id")),
            variant=scope.current,
        )

    def selection() -> tuple[Any, ...]:
        # what ``select`` reads besides the event: equal keys select alike
        return (event_type, addressee, user_id if addressee is not None else None, scope.current)

    return LiveStream(
        context,
        after_sequence=after_sequence,
        on_viewer=scope.refresh,
        select=select,
        selection=selection,
    )


__all__ = [
    "CLOSE_SLOW_CONSUMER",
    "STREAM_STARTED",
    "LiveScope",
    "LiveStream",
    "contact_events",
    "if_still_visible",
]

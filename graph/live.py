"""The live path: transactional outbox, publication and per-process fan-out.

``architecture.md`` (live path):

1. :func:`write` runs a domain operation in one database transaction and, just before the
   commit, appends the events it emitted to the outbox (:class:`db.models.Event`) with the
   workspace's next sequence numbers. The workspace row is updated to draw them, so
   sequences are gapless and in commit order per workspace.
2. After the commit each event is published as JSON on the workspace's broadcaster channel.
3. :class:`EventBus` listens once per workspace and process, decodes each event once, and
   hands it to every local :class:`Subscriber`: subscribers in step are served by one
   dispatch per event (:func:`graph.fanout.dispatch`: one execution and one JSON text per
   selection and view, written to each socket); the others get it through their bounded
   queue, and a subscriber whose queue is full is cut off (:class:`SlowConsumer`) instead of
   growing memory. The rows an event's subscribers resolve are loaded once per process
   (:meth:`EventBus.loaders_for`).

Subscriptions authorise each event themselves, with the visibility policy, from the facts in
the event's payload (:mod:`graph.permissions.visibility`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import cachetools
from broadcaster import Broadcast
from broadcaster._base import Unsubscribed
from redis import asyncio as redis
from redis.exceptions import RedisError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from db.availability import is_unavailable, report_unavailable
from db.models import Event, Workspace
from graph.auth import VIEWER_CACHE_SECONDS, ViewerCache
from graph.errors import SaveUncertain
from graph.events import VIEWER_EVENTS, EventType
from graph.fanout import dispatch
from graph.loaders import Loaders
from graph.redis_backend import LOST, RESYNC, ResilientRedisBackend
from graph.request_scope import note_commit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.idempotency import Once

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_ANNOUNCING_SECONDS = 2.0
"""How long :meth:`EventBus.stop` waits for committed events still being published."""

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


@dataclass(frozen=True)
class LiveEvent:
    """One committed event: its workspace, sequence, type and the facts to authorise it."""

    workspace_id: int
    sequence: int
    type: str
    payload: dict[str, Any]
    as_of: int = field(default=0, compare=False)
    """For an event read late (a replay, a catch-up): the last sequence of the batch it was
    read in, whose facts authorise it (:func:`with_current_facts`). The rows that present it
    are read no earlier than that batch (:meth:`EventBus.loaders_for`), so they are never
    older than the facts that let it through. 0: a live event, presented as of itself."""

    def to_json(self) -> str:
        return json.dumps(
            {"w": self.workspace_id, "s": self.sequence, "t": self.type, "p": self.payload},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> LiveEvent:
        data = json.loads(text)
        return cls(workspace_id=data["w"], sequence=data["s"], type=data["t"], payload=data["p"])


@dataclass
class Transaction:
    """A write in progress: its connection, and the events it will commit."""

    connection: BaseDBAsyncClient
    workspace_id: int
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, type: EventType, **facts: Any) -> None:
        """Record an event to commit with this transaction (JSON-serialisable facts).

        Raises:
            ValueError: ``type`` is not in the event catalogue (:class:`graph.events.EventType`).
        """
        self.pending.append((EventType(type).value, facts))

    async def _append_to_outbox(self) -> list[LiveEvent]:
        if not self.pending:
            return []
        count = len(self.pending)
        await (
            Workspace.filter(id=self.workspace_id)
            .using_db(self.connection)
            .update(event_sequence=F("event_sequence") + count)
        )
        last = await (
            Workspace.filter(id=self.workspace_id)
            .using_db(self.connection)
            .first()
            .values_list("event_sequence", flat=True)
        )
        first = int(last) - count + 1
        now = datetime.now(UTC)
        events = [
            LiveEvent(self.workspace_id, first + i, type, facts)
            for i, (type, facts) in enumerate(self.pending)
        ]
        await Event.bulk_create(
            [
                Event(
                    workspace_id=e.workspace_id,
                    sequence=e.sequence,
                    type=e.type,
                    payload=e.payload,
                    created_at=now,
                )
                for e in events
            ],
            using_db=self.connection,
        )
        return events


def _is_retryable(exc: BaseException) -> bool:
    """A unique-constraint violation, or a deadlock or serialization failure: tortoise wraps
    some of the driver's errors and lets others through (asyncpg's ``DeadlockDetectedError``
    reaches us as itself), so the SQLSTATE is looked for on the error and on its cause."""
    if isinstance(exc, IntegrityError):
        return True
    cause = exc.__cause__ or exc.__context__
    sqlstate = getattr(exc, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return sqlstate in RETRYABLE_SQLSTATES


async def write(
    bus: EventBus | None,
    workspace_id: int,
    operation: Callable[[Transaction], Awaitable[T]],
    *,
    attempts: int = 6,
    once: Once | None = None,
) -> T:
    """Run ``operation`` in one transaction, commit its events with it, then publish them.

    A unique-constraint violation, deadlock or serialization failure (a concurrent writer won
    a race) rolls the whole transaction back and runs ``operation`` again, so it sees the
    winner's rows: operations must read before they write.

    Args:
        bus: where to publish after the commit (``None``: commit to the outbox only).
        workspace_id: the workspace whose sequence numbers the events take.
        operation: the domain operation; it receives the :class:`Transaction`.
        attempts: how many times to try before giving up.
        once: the idempotency key of a creating mutation (:mod:`graph.idempotency`): claimed
            in the transaction before ``operation`` runs, and its result recorded with it.

    Returns:
        What ``operation`` returned on the attempt that committed.

    Raises:
        graph.idempotency.Recorded: ``once``'s key is recorded already; nothing was written.
        graph.errors.SaveUncertain: the database went away during the COMMIT (the write may
            or may not have been saved).
    """
    for attempt in range(1, attempts + 1):
        committing = False
        try:
            async with in_transaction() as connection:
                tx = Transaction(connection, workspace_id)
                claimed = await once.claim(connection) if once is not None else None
                result = await operation(tx)
                if claimed is not None:
                    await once.remember(connection, claimed, result)
                events = await tx._append_to_outbox()
                # what fails from here on is the block's exit: the COMMIT (tortoise's, which
                # also rolls back what fails before it), then the connection given back
                committing = True
                note_commit(None)
            note_commit(True)
            break
        except Exception as exc:
            if committing and _is_retryable(exc):
                note_commit(False)  # refused: nothing of it was saved
            elif committing and is_unavailable(exc):
                # the COMMIT may have reached the database before the connection went
                report_unavailable(exc)
                raise SaveUncertain() from exc
            if attempt == attempts or not _is_retryable(exc):
                raise
            log.debug("retrying write after %r (attempt %s)", exc, attempt)
            await asyncio.sleep(random.uniform(0.005, 0.03) * attempt)
    if bus is not None and events:
        # committed: announcing it must run to its end even if the caller is cancelled now (a
        # request's time limit): else caches would serve the old viewer and subscribers would
        # wait for a next event to learn of these
        await asyncio.shield(bus.after_commit(workspace_id, events))
    return result


@dataclass(frozen=True)
class Delivery:
    """An event to consider for delivery, with its contact's current facts. ``shared``: what
    it comes to for each selection group of subscribers delivering it (filled by
    ``LiveStream._deliver_computed``; a replay's deliveries are shared by its readers)."""

    event: LiveEvent
    facts: dict[str, Any]
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def with_current_facts(batch: list[LiveEvent]) -> list[Delivery]:
    """Pair each event with the latest facts of its contact within ``batch``: an event read
    late (a replay, a catch-up) is authorised against its contact as it is now, e.g. its new
    assignee (``domain.md`` section 7), without a query.

    A contact merged into another within the batch (a ``contact.merged`` event naming it
    ``merged_contact_id``) is the contact it was merged into from then on: its messages, calls
    and comments now belong to that one, and are authorised with that one's facts (``domain.md``
    section 6)."""
    latest: dict[int, dict[str, Any]] = {}
    merged_into: dict[int, int] = {}
    for event in batch:
        contact_id = event.payload.get("contact_id")
        if contact_id is not None and "assignee_id" in event.payload:
            latest[contact_id] = event.payload
        gone = event.payload.get("merged_contact_id")
        if gone is not None and contact_id is not None and gone != contact_id:
            merged_into[gone] = contact_id

    def current(event: LiveEvent) -> dict[str, Any]:
        contact_id = event.payload.get("contact_id")
        followed = 0
        while contact_id in merged_into and followed <= len(merged_into):  # no cycle, but bounded
            contact_id = merged_into[contact_id]
            followed += 1
        return latest.get(contact_id, event.payload)

    as_of = batch[-1].sequence if batch else 0
    return [
        Delivery(replace(event, as_of=as_of) if as_of > event.sequence else event, current(event))
        for event in batch
    ]


async def read_outbox(
    workspace_id: int, after: int, up_to: int | None = None, *, limit: int
) -> list[LiveEvent]:
    """The committed events of a workspace after ``after`` (and before ``up_to``), in sequence
    order, at most ``limit``."""
    query = Event.filter(workspace_id=workspace_id, sequence__gt=after)
    if up_to is not None:
        query = query.filter(sequence__lt=up_to)
    rows = await query.order_by("sequence").limit(limit)
    return [LiveEvent(r.workspace_id, r.sequence, r.type, r.payload) for r in rows]


class SharedReads:
    """Equal reads asked for at the same time, read once (a reconnect storm: thousands of
    dashboards resume after the same sequence, check the same tokens and teams).

    ``read(key)`` awaits ``load(*key)``. A load serves only the callers that asked before it
    started (before its task first ran, so before its statement was sent), so each caller
    sees every row committed before it asked, as with a read of its own: while a load of a
    key runs, callers of the same key wait for the next one, which starts when it ends (at
    most two per key: the one running and the one gathering). What a load returns is shared
    by its callers: it must not be changed. A caller cancelled while it waits (its socket
    vanished) leaves the load to the others; a load nobody waits for any more still ends.
    """

    def __init__(self, load: Callable[..., Awaitable[Any]]) -> None:
        self._load = load
        self._running: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._gathering: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        # the event loop keeps only weak references to tasks: a load nobody holds could be
        # collected mid-read, leaving its key's callers waiting for ever
        self._loads: set[asyncio.Task[Any]] = set()

    async def read(self, key: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        future = self._gathering.get(key)
        if future is None:
            future = self._gathering[key] = loop.create_future()
            if key not in self._running:
                self._start(key, future)  # else it starts once the running one ends
        # shared: one caller's cancellation must not cancel the load of the others. Each
        # caller waits on a future of its own, settled from the load's (what asyncio.shield
        # does, with one callback instead of two and no outer future to unlink: a reconnect
        # storm makes three reads a subscription)
        waiter = loop.create_future()
        future.add_done_callback(partial(_pass_on, waiter))
        return await waiter

    def _start(self, key: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        # a fresh context: the load must not carry one caller's variables
        task = asyncio.create_task(self._run(key, future), context=contextvars.Context())
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)
        task.add_done_callback(partial(self._ended, key, future))

    async def _run(self, key: tuple[Any, ...], future: asyncio.Future[Any]) -> Any:
        # started: callers from now on wait for the next load
        del self._gathering[key]
        self._running[key] = future
        return await self._load(*key)

    def _ended(
        self, key: tuple[Any, ...], future: asyncio.Future[Any], task: asyncio.Task[Any]
    ) -> None:
        if self._running.get(key) is future:
            del self._running[key]
        elif self._gathering.get(key) is future:  # cancelled before it ever ran
            del self._gathering[key]
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())
            future.exception()  # retrieved: a caller that left must not log it
        else:
            future.set_result(task.result())
        gathering = self._gathering.get(key)
        if gathering is not None and key not in self._running:
            self._start(key, gathering)


def _pass_on(waiter: asyncio.Future[Any], future: asyncio.Future[Any]) -> None:
    """Settle a caller's ``waiter`` as the shared ``future`` ended (:meth:`SharedReads.read`);
    nothing if the caller has gone (its waiter was cancelled)."""
    if waiter.done():
        return
    if future.cancelled():
        waiter.cancel()
    elif future.exception() is not None:
        waiter.set_exception(future.exception())  # type: ignore[arg-type]
    else:
        waiter.set_result(future.result())


class OutboxRead:
    """What one shared outbox load returned (:func:`read_outbox_shared_batch`), for all its
    callers: ``events`` in sequence order, and :meth:`deliveries`. Compared by identity: a
    load extending one (``base``) is keyed by it."""

    __slots__ = ("_deliveries", "_earlier", "covers", "events")

    def __init__(
        self, events: tuple[LiveEvent, ...], after: int, extends: OutboxRead | None = None
    ) -> None:
        self.events = events
        self.covers = events[-1].sequence if events else after
        """The sequence up to which it holds every event from ``after`` on (read without
        ``up_to``; an empty read holds every event up to ``after``: none)."""
        self._deliveries: tuple[Delivery, ...] | None = None
        # ``extends``: a read whose events begin these; its deliveries, if computed
        self._earlier = None if extends is None else extends._deliveries

    def deliveries(self) -> list[Delivery]:
        """:func:`with_current_facts` of ``events``, computed by the first caller that asks
        and shared by the others (frozen events and deliveries; each caller gets its own
        list): thousands of subscriptions resuming after the same sequence replay one batch.

        A read extending another keeps that one's delivery of each event whose facts the
        events after it left alone, with the payloads computed for it (``Delivery.shared``):
        its rows were read after that read, so never older than its facts either."""
        if self._deliveries is None:
            deliveries = with_current_facts(list(self.events))
            earlier = self._earlier
            if earlier:
                for index, delivery in enumerate(earlier):
                    if deliveries[index].facts is delivery.facts:
                        deliveries[index] = delivery
                self._earlier = None
            self._deliveries = tuple(deliveries)
        return list(self._deliveries)


async def _read_outbox_batch(
    workspace_id: int, after: int, up_to: int | None, limit: int, base: OutboxRead | None
) -> OutboxRead:
    if base is None:
        return OutboxRead(tuple(await read_outbox(workspace_id, after, up_to, limit=limit)), after)
    # ``base`` holds every event from ``after`` on up to ``covers``, committed for good
    # (sequences are gapless and in commit order): only what follows is read
    held = base.events
    tail = await read_outbox(workspace_id, base.covers, up_to, limit=limit - len(held))
    return OutboxRead(held + tuple(tail), after, extends=base) if tail else base


_outbox_reads = SharedReads(_read_outbox_batch)


async def read_outbox_shared_batch(
    workspace_id: int,
    after: int,
    up_to: int | None = None,
    *,
    limit: int,
    base: OutboxRead | None = None,
) -> OutboxRead:
    """:func:`read_outbox`, one statement for equal reads asked for at the same time in this
    process (:class:`SharedReads`), as the :class:`OutboxRead` all its callers share.

    ``base``: an earlier read of the same ``after`` (its events from ``after + 1`` on, fewer
    than ``limit``): only the events after :attr:`OutboxRead.covers` are read, and appended to
    its own (``base`` itself if there are none)."""
    return await _outbox_reads.read((workspace_id, after, up_to, limit, base))


KEPT_REPLAY_EVENTS = 500
"""The longest replay :class:`KeptReplays` keeps (events)."""
KEPT_EVENTS = 2_000
"""The events :class:`KeptReplays` keeps in all, its replays of every workspace together (each
with the payloads computed for it, one per selection group that replayed it)."""
KEPT_REPLAY_SECONDS = 10.0
"""How long :class:`KeptReplays` keeps a replay after reading it (seconds)."""


class KeptReplays:
    """The replays a process's subscriptions read lately, kept for the next ones resuming
    after the same sequence (a reconnect storm: thousands of dashboards resume there over
    several seconds while events keep arriving; issue 23).

    A subscription registers with the bus, then reads its replay: it must hold every event
    up to the sequence the subscription read from the database before asking (``known``: its
    ``subscribe`` frame's recheck) and every event the bus dispatched before it registered;
    the bus hands it every later one (and a gap is read from the outbox when the event after
    it arrives: ``LiveStream._take``). A kept replay holds every event committed before its
    read; each event committed after it was published after that, hence heard by the
    workspace's listener if it listened since before the read. So a replay read while the
    listener listens serves a later subscription without a statement as long as it reaches
    both ``known`` and the latest event the bus dispatched; otherwise only the events after
    its last are read, and appended.

    A workspace's replays are kept only while its listener listens without a break: they are
    forgotten when it stops, starts again or loses its broadcast connection (:meth:`forget`),
    and a read started while it does not listen (it is subscribing, or waiting to resubscribe)
    is not kept. An event the listener never hears although it listened (its writer died
    between the commit and the publication) reaches a subscription served from a kept replay
    with the next event, as it reaches every subscription already open.

    At most :data:`KEPT_EVENTS` events are kept in all, each replay for
    :data:`KEPT_REPLAY_SECONDS` at most, with what was computed for them
    (:meth:`OutboxRead.deliveries`).
    """

    def __init__(self) -> None:
        self._kept: cachetools.TTLCache[tuple[int, int, int], tuple[object, OutboxRead]] = (
            cachetools.TTLCache(
                KEPT_EVENTS, KEPT_REPLAY_SECONDS, getsizeof=lambda kept: len(kept[1].events) + 1
            )
        )
        self._listening: dict[int, object] = {}
        """Per workspace whose listener listens, a token of this stretch of listening."""
        self._dispatched: dict[int, int] = {}

    def listening(self, workspace_id: int) -> None:
        """The workspace's listener has just (re)subscribed: it hears every event published
        from now on (until :meth:`forget`)."""
        self._listening[workspace_id] = object()

    def dispatching(self, event: LiveEvent) -> None:
        """Note that the bus hands ``event`` to the subscribers registered now."""
        workspace_id = event.workspace_id
        if event.sequence > self._dispatched.get(workspace_id, 0):
            self._dispatched[workspace_id] = event.sequence

    def forget(self, workspace_id: int) -> None:
        """The workspace's listener stopped listening, or may have missed events: nothing
        kept for it serves any more, and nothing read from now on is kept, until
        :meth:`listening`."""
        self._listening.pop(workspace_id, None)
        # a replay read once it listens again holds every event dispatched before
        self._dispatched.pop(workspace_id, None)

    async def read(self, workspace_id: int, after: int, known: int, *, limit: int) -> OutboxRead:
        """The events after ``after`` that a subscription registered with the bus replays, in
        sequence order, at most ``limit``: every one up to ``known`` (a sequence it read from
        the database before asking) and every one the bus dispatched before it asked. Shared
        with every caller (:func:`read_outbox_shared_batch`): do not change it."""
        kept = self._kept
        kept.expire()
        listening = self._listening.get(workspace_id)
        if listening is None:
            return await read_outbox_shared_batch(workspace_id, after, limit=limit)
        needed = max(known, self._dispatched.get(workspace_id, 0))
        key = (workspace_id, after, limit)
        found = kept.get(key)
        base = found[1] if found is not None and found[0] is listening else None
        if base is not None and base.covers >= needed:
            return base
        read = await read_outbox_shared_batch(workspace_id, after, limit=limit, base=base)
        events = read.events
        if (
            (not events or events[0].sequence == after + 1)  # from after on (not pruned)
            and len(events) <= KEPT_REPLAY_EVENTS
            and len(events) < limit
            and len(events) < kept.maxsize  # its size: len(events) + 1
            and self._listening.get(workspace_id) is listening  # listened all along
        ):
            found = kept.get(key)
            if found is None or found[0] is not listening or found[1].covers < read.covers:
                kept[key] = (listening, read)
        return read


GENERATION_TIMEOUT_SECONDS = 0.5
"""How long one Redis call of :class:`ViewerGenerations` may take (seconds)."""
GENERATION_RETRY_SECONDS = 1.0
"""While Redis cannot be reached, how often a request tries it again (seconds); meanwhile
every request reads its viewer from the database."""
GENERATION_BUMP_RETRY_SECONDS = (0.2, 5.0)
"""Backoff of an announcement (:meth:`ViewerGenerations.bump`) that failed (doubling)."""


class ViewerGenerations:
    """A generation per workspace that changes whenever a viewer of the workspace may have
    (issue 23, the viewer cache): shared by every worker and host through Redis
    (``BROADCAST_URL=redis://…``), or kept in the process with ``memory://`` (one process:
    with ``memory://`` neither events nor these generations cross processes).

    :func:`write` calls :meth:`bump` after committing an event whose type reloads
    a subscriber's viewer (``EventType.reloads_viewer``, :mod:`graph.events`: user and team
    changes, token revocations, which password changes and deactivations emit too), before it
    returns, hence before the mutation's response. :meth:`current` reads a workspace's
    generation (one Redis ``GET``; equal reads asked for at the same time are one:
    :class:`SharedReads`), ``None`` when it cannot be known (Redis unreachable):
    then nothing may be served from a cache. Every generation is a random number (62 bits),
    set anew by each :meth:`bump` and by a read that finds it missing (a flushed or restarted
    Redis), never one a worker may still hold.
    """

    def __init__(self, url: str = "memory://", namespace: str = "") -> None:
        self.namespace = namespace
        self._local: dict[int, int] = {}
        self._redis: Any = None
        if url.startswith(("redis://", "rediss://")):
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=GENERATION_TIMEOUT_SECONDS,
                socket_connect_timeout=GENERATION_TIMEOUT_SECONDS,
            )
        self._reads = SharedReads(self._get)
        self._down = False
        self._retry_at = 0.0
        self._unannounced: set[int] = set()
        self._announcer: asyncio.Task[None] | None = None
        self.lost: Callable[[], None] | None = None
        """Called whenever Redis failed: the caller forgets what it cached."""

    @property
    def shared(self) -> bool:
        """Whether the generations live in Redis (shared by every worker)."""
        return self._redis is not None

    def key(self, workspace_id: int) -> str:
        return f"inbox-graph:{self.namespace}:viewers:{workspace_id}"

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + GENERATION_RETRY_SECONDS
        if not self._down:
            self._down = True
            log.warning(
                "viewer generations unreachable in Redis (%s: %s); viewers are read for every "
                "request meanwhile",
                type(exc).__name__,
                exc,
            )
        if self.lost is not None:
            self.lost()

    def _answered(self) -> None:
        if self._down:
            self._down = False
            log.warning("viewer generations reachable again")

    async def _get(self, workspace_id: int) -> bytes | None:
        key = self.key(workspace_id)
        try:
            value = await self._redis.get(key)
            if value is None:
                await self._redis.set(key, secrets.randbelow(1 << 62), nx=True)
                value = await self._redis.get(key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._answered()
        return value

    async def current(self, workspace_id: int) -> object | None:
        """The workspace's generation now, or ``None`` when it cannot be known."""
        if self._redis is None:
            return self._local.get(workspace_id, 0)
        if self._down and time.monotonic() < self._retry_at:
            return None
        return await self._reads.read((workspace_id,))

    async def bump(self, workspace_id: int) -> None:
        """Announce that viewers of the workspace may have changed (after the commit). Never
        raises: while Redis is unreachable, the announcement is retried in the background and
        this worker forgets its cache (:attr:`lost`); other workers read their viewers for
        every request while they cannot reach Redis either, and keep one at most
        :data:`graph.auth.VIEWER_CACHE_SECONDS` otherwise."""
        self._local[workspace_id] = self._local.get(workspace_id, 0) + 1
        if self._redis is None:
            return
        if not await self._renew(workspace_id):
            self._unannounced.add(workspace_id)
            if self._announcer is None or self._announcer.done():
                self._announcer = asyncio.get_running_loop().create_task(
                    self._announce(), context=contextvars.Context()
                )

    async def _renew(self, workspace_id: int) -> bool:
        # a new random generation, not INCR: after a flush or a restart, INCR of the missing
        # key would count 1, 2, … again, the very values a worker may have cached under
        try:
            await self._redis.set(self.key(workspace_id), secrets.randbelow(1 << 62))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return False
        self._answered()
        return True

    async def _announce(self) -> None:
        delay, longest = GENERATION_BUMP_RETRY_SECONDS
        while self._unannounced:
            await asyncio.sleep(delay)
            for workspace_id in sorted(self._unannounced):
                if not await self._renew(workspace_id):
                    break
                self._unannounced.discard(workspace_id)
            delay = min(delay * 2, longest)

    async def close(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


class SlowConsumer(Exception):
    """The subscriber fell too far behind and was cut off; it resumes from its last sequence."""


_OVERFLOW = object()


class Subscriber:
    """One local consumer of a workspace's events: a registration with the bus, not a task.

    While its subscription is idle and in step with the stream, it hands the bus a
    :attr:`fast_path`: the bus then delivers the next events itself
    (:func:`graph.fanout.dispatch`) and no task of the subscription exists. Anything the fast
    path cannot handle goes to the bounded queue and calls :attr:`wake`, which starts the
    subscription's task until it has caught up again (:class:`graph.subscriptions.LiveStream`).
    """

    __slots__ = (
        "_items",
        "_maxsize",
        "closed",
        "fast_path",
        "last",
        "overflowed",
        "user_id",
        "viewer_changed",
        "wake",
        "workspace_id",
    )

    def __init__(self, workspace_id: int, maxsize: int) -> None:
        self.workspace_id = workspace_id
        self._items: list[Any] = []
        self._maxsize = maxsize
        self.overflowed = False
        self.closed = False
        self.last = 0
        """The last sequence handled, by the task or the fast path."""
        self.fast_path: Any = None
        """Set while the subscription is idle and in step (``last`` current); cleared as soon
        as something is queued."""
        self.wake: Callable[[], None] | None = None
        """Called whenever something is queued."""
        self.user_id: int | None = None
        """The subscribing user (set by :class:`graph.subscriptions.LiveStream`)."""
        self.viewer_changed = 0
        """The latest sequence of an event offered, queued or not, that reloads viewers
        (:data:`graph.events.VIEWER_EVENTS`) and names :attr:`user_id` (a change of the user,
        a revocation of their tokens): a subscription still catching up with older events
        checks its access at once (:meth:`graph.subscriptions.LiveStream._step`)."""

    def _offer(self, item: Any) -> None:
        self.fast_path = None
        if (
            isinstance(item, LiveEvent)
            and item.type in VIEWER_EVENTS
            and item.payload.get("user_id") == self.user_id
        ):
            self.viewer_changed = max(self.viewer_changed, item.sequence)
        if self.overflowed:
            return
        if len(self._items) >= self._maxsize:
            self.overflowed = True
            self._items = [_OVERFLOW]  # what was queued is dropped: the subscriber resumes
        else:
            self._items.append(item)
        if self.wake is not None:
            self.wake()

    def idle(self) -> bool:
        """Whether nothing is queued (the subscription may hand over a fast path)."""
        return not self._items

    async def settle(self) -> None:
        """Finish the sends the fast path left to the subscription's task: a frame the bus
        began writing must end before any other is written (they precede anything queued).
        A send that fails puts its event back in front of the queue, with ``last`` before it:
        the task sends it again, or ends with the socket."""
        items = self._items
        while items and items[0] is not _OVERFLOW and not isinstance(items[0], LiveEvent):
            unfinished = items.pop(0)  # a send the socket could not take at once
            try:
                await unfinished
            except BaseException as exc:
                # also a cancellation that is not the task's own (the task resumes from the
                # outbox after ``last``) or the task's (stopped: nothing more is sent)
                event = unfinished.event
                log.debug("writing event %s failed", event.sequence, exc_info=True)
                self.last = min(self.last, event.sequence - 1)
                if not self.overflowed:  # else the subscriber resumes from ``last`` anyway
                    self._items.insert(0, event)
                if not isinstance(exc, Exception):
                    raise
                return

    async def take(self) -> LiveEvent | None:
        """The next queued event, or ``None`` once the queue is empty, after finishing the
        sends the fast path left to the subscription's task (:meth:`settle`).

        Raises :class:`SlowConsumer` once the queue has overflowed.
        """
        await self.settle()
        if not self._items:
            return None
        item = self._items.pop(0)
        if item is _OVERFLOW:
            raise SlowConsumer("Too many undelivered events: resubscribe with afterSequence.")
        return item


class Doorbell(Subscriber):
    """A subscriber that keeps nothing: every event (or resync marker) is shown to
    :attr:`heard`, if set, then calls :attr:`wake`. For consumers that read the outbox
    themselves and need only to know when something was committed (the webhook deliverer,
    :mod:`graph.webhooks`)."""

    __slots__ = ("heard",)

    def __init__(self, workspace_id: int, maxsize: int) -> None:
        super().__init__(workspace_id, maxsize)
        self.heard: Callable[[Any], None] | None = None
        """Called with each event (:class:`LiveEvent`) or marker before :attr:`wake`."""

    def _offer(self, item: Any) -> None:
        if self.heard is not None:
            self.heard(item)
        if self.wake is not None:
            self.wake()


def _backend(url: str) -> Any:
    """broadcaster's backend for ``url``; Redis gets the reconnecting backend."""
    if url.startswith(("redis://", "rediss://")):
        return ResilientRedisBackend(url)
    return None


RESYNC_MARKER = "resync"
"""The type of the marker :class:`Subscriber` receives after the broadcast connection was
re-established: events may have been missed, read them from the outbox."""


EVENT_LOADER_CACHE = 256
PUBLISH_RETRY_MIN_SECONDS, PUBLISH_RETRY_MAX_SECONDS = 0.5, 5.0
"""Backoff of the publication of events that failed to publish (doubling)."""
LISTENER_RESTART_SECONDS = 0.5
"""Pause before a failed workspace listener subscribes again."""
POLL_SECONDS = 1.0
"""How often the outbox is read while the broadcast connection (Redis) is lost."""
CATCH_UP_PAGE = 1000
"""Events read from the outbox at a time when the bus catches up."""


class EventBus:
    """Publishes committed events and fans them out to this process's subscribers.

    One broadcaster subscription per workspace with local subscribers; each event is decoded
    once per process, whatever the number of subscribers.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        queue_size: int = 1000,
        shared_fanout: bool = True,
        namespace: str = "",
        viewer_cache_seconds: float = VIEWER_CACHE_SECONDS,
    ) -> None:
        self.url = url
        self.namespace = namespace
        """Part of every channel name: buses of different databases sharing one Redis never
        hear each other."""
        self.queue_size = queue_size
        self.shared_fanout = shared_fanout
        """``False``: no fast path, no shared execution or loaders: every subscription resolves
        each event on its own (the naive baseline of ``bench/fanout``)."""
        self._event_loaders: OrderedDict[tuple[int, int, int], Loaders] = OrderedDict()
        backend = _backend(url)
        self._broadcast = Broadcast(backend=backend) if backend is not None else Broadcast(url)
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._listeners: dict[int, asyncio.Task[None]] = {}
        self._ready: dict[int, asyncio.Event] = {}
        self._unpublished: dict[int, LiveEvent] = {}
        """Per workspace, the latest event whose publication failed (:meth:`publish`)."""
        self._publish_failing = False
        self._announcing: set[asyncio.Task[None]] = set()
        """The tasks of :meth:`after_commit` still running (kept: the loop holds tasks weakly)."""
        self._republisher: asyncio.Task[None] | None = None
        self._stopping = False
        self.viewer_generations = ViewerGenerations(url, namespace)
        """Bumped by :func:`write` when viewers of a workspace may have changed."""
        self.viewers = ViewerCache(self.viewer_generations, seconds=viewer_cache_seconds)
        """This process's viewers of HTTP requests' tokens (:class:`graph.auth.ViewerCache`)."""
        self.replays = KeptReplays()
        """The replays this process's subscriptions read lately (:class:`KeptReplays`), kept
        while each workspace's listener hears every event."""

    def loaders_for(self, event: LiveEvent) -> Loaders:
        """The DataLoaders every subscriber of this process uses to resolve ``event``.

        Rows are loaded once per event, not once per subscriber: loaders only batch and cache
        rows of the workspace; what each subscriber may see is decided by the policy before
        and by the field rules during resolution. ``shared_fanout=False`` gives every
        subscriber its own (the naive baseline of ``bench/fanout``).
        """
        if not self.shared_fanout:
            return Loaders(event.workspace_id)
        key = (event.workspace_id, event.sequence, event.as_of)
        loaders = self._event_loaders.get(key)
        if loaders is None:
            loaders = self._event_loaders[key] = Loaders(event.workspace_id)
            while len(self._event_loaders) > EVENT_LOADER_CACHE:
                self._event_loaders.popitem(last=False)
        return loaders

    def _hears(self, channel: str) -> bool:
        """Whether every message published on ``channel`` from now on reaches this process
        (Redis: subscribed on the live connection, :meth:`ResilientRedisBackend.hears`;
        ``memory://``: always)."""
        hears = getattr(self._broadcast._backend, "hears", None)
        return hears is None or hears(channel)

    def channel(self, workspace_id: int) -> str:
        """The broadcaster channel of a workspace's events."""
        return f"inbox-graph:{self.namespace}:workspace:{workspace_id}"

    async def start(self) -> None:
        await self._broadcast.connect()

    async def stop(self) -> None:
        if self._announcing:  # committed events still being published: let them go first
            await asyncio.wait(set(self._announcing), timeout=STOP_ANNOUNCING_SECONDS)
        self._stopping = True
        if self._republisher is not None:
            self._republisher.cancel()
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                # nothing is handed to them any more, nor back to their tasks by an event's
                # fan-out the listeners' cancellation interrupts (``fanout.dispatch``)
                subscriber.closed = True
        for task in list(self._listeners.values()):
            task.cancel()
        for task in list(self._listeners.values()):
            with contextlib.suppress(BaseException):
                await task
        self._listeners.clear()
        await self.viewer_generations.close()
        with contextlib.suppress(Exception):
            await self._broadcast.disconnect()

    def after_commit(self, workspace_id: int, events: list[LiveEvent]) -> asyncio.Future[None]:
        """Announce events just committed by :func:`write`: bump the workspace's viewer
        generation if one of them changes viewers, then publish them in order. Runs in a task
        of its own, kept until it ends, so cancelling its caller does not stop it halfway."""
        task = asyncio.get_running_loop().create_task(
            self._announce_committed(workspace_id, events)
        )
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)
        return task

    async def _announce_committed(self, workspace_id: int, events: list[LiveEvent]) -> None:
        if any(event.type in VIEWER_EVENTS for event in events):
            await self.viewer_generations.bump(workspace_id)
        for event in events:
            await self.publish(event)

    async def publish(self, event: LiveEvent) -> None:
        """Publish a committed event; a failure is never raised (the write stands and the
        outbox keeps the event). While publishing fails (Redis away), one line is logged when
        it starts and one when it ends, and the latest event of each workspace is published
        again in the background until it goes through: subscribers elsewhere then read what
        they missed from the outbox (a sequence that jumps ahead brings the events before it),
        even if nothing else is written meanwhile."""
        if self._unpublished:  # not in order before the ones still waiting
            self._unpublished[event.workspace_id] = event
            return
        if not await self._try_publish(event):
            self._unpublished[event.workspace_id] = event
            if self._republisher is None or self._republisher.done():
                self._republisher = asyncio.create_task(
                    self._republish(), context=contextvars.Context()
                )

    async def _try_publish(self, event: LiveEvent) -> bool:
        try:
            await self._broadcast.publish(
                channel=self.channel(event.workspace_id), message=event.to_json()
            )
        except Exception as exc:  # noqa: BLE001 - the write has committed; resume covers the gap
            if not self._publish_failing:
                self._publish_failing = True
                log.warning(
                    "publishing events failed (%s: %s); retrying in the background",
                    type(exc).__name__,
                    exc,
                )
            return False
        if self._publish_failing:
            self._publish_failing = False
            log.warning("publishing events works again")
        return True

    async def _republish(self) -> None:
        delay = PUBLISH_RETRY_MIN_SECONDS
        while self._unpublished:
            await asyncio.sleep(delay)
            for workspace_id, event in list(self._unpublished.items()):
                if not await self._try_publish(event):
                    break
                if self._unpublished.get(workspace_id) is event:
                    del self._unpublished[workspace_id]
            delay = min(delay * 2, PUBLISH_RETRY_MAX_SECONDS)

    async def _listen(self, workspace_id: int, restarted: bool = False) -> None:
        """Dispatch the workspace's published events to its subscribers, in the order they
        arrive. While the broadcast connection is lost (:data:`LOST`), read the outbox every
        :data:`POLL_SECONDS` instead; once it is back (:data:`RESYNC`), read what was missed
        (:meth:`_catch_up`)."""
        ready = self._ready[workspace_id]
        if restarted:
            await asyncio.sleep(LISTENER_RESTART_SECONDS)
        channel = self.channel(workspace_id)
        async with self._broadcast.subscribe(channel=channel) as messages:
            if self._hears(channel):  # else it hears from the (re)connection's RESYNC on
                self.replays.listening(workspace_id)
            ready.set()
            if not self._subscribers.get(workspace_id):
                # every subscriber left while this was subscribing (see ``remove``): end here
                if self._listeners.get(workspace_id) is asyncio.current_task():
                    del self._listeners[workspace_id]
                    del self._ready[workspace_id]
                    self.replays.forget(workspace_id)
                return
            if restarted:
                await self._catch_up(workspace_id)  # what was published while nobody listened
            # not heard: the outbox is read until the (re)connection's RESYNC, whether or not
            # a LOST reaches this listener (one started while the previous listener of the
            # workspace was still unwinding shares its subscription, and none is sent)
            lost = not self._hears(channel)
            while True:
                try:
                    if lost:
                        # not ``wait_for``: on Python 3.11 it returns a message that arrived as
                        # the listener was cancelled, and the cancelled listener listened on
                        # beside the one started after it
                        async with asyncio.timeout(POLL_SECONDS):
                            message = await messages.get()
                    else:
                        message = await messages.get()
                except TimeoutError:
                    await self._catch_up(workspace_id)
                    continue
                except Unsubscribed:
                    return
                if message.message == LOST:
                    lost = True
                    self.replays.forget(workspace_id)
                    continue
                if message.message == RESYNC:
                    lost = False
                    self.replays.listening(workspace_id)  # resubscribed: heard from now on
                    await self._catch_up(workspace_id)
                    continue
                try:
                    event = LiveEvent.from_json(message.message)
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring malformed event on %s", message.channel)
                    continue
                self.replays.dispatching(event)
                try:
                    await dispatch(event, tuple(self._subscribers.get(workspace_id, ())))
                except Exception:
                    log.exception("dispatching event %s/%s failed", workspace_id, event.sequence)

    async def _catch_up(self, workspace_id: int) -> None:
        """Dispatch the committed events the workspace's subscribers have not been handed
        (the broadcast connection was lost, or the listener restarted).

        Subscribers idle and in step rely on the bus alone: for them the outbox is read once,
        after the earliest of their positions, in pages of :data:`CATCH_UP_PAGE`, each event
        with its contact's current facts (:func:`with_current_facts`), and dispatched as a live
        event is (shared payloads; each subscriber takes only what is past its position).
        Subscribers catching up on their own task are told to read the outbox themselves
        (:data:`RESYNC_MARKER`). If the outbox cannot be read, everyone is told so.
        """
        subscribers = tuple(self._subscribers.get(workspace_id, ()))
        marker = LiveEvent(workspace_id, 0, RESYNC_MARKER, {})
        positions = [s.last for s in subscribers if s.fast_path is not None]
        for subscriber in subscribers:
            if subscriber.fast_path is None:
                subscriber._offer(marker)
        if not positions:
            return
        after = min(positions)
        try:
            while True:
                events = await read_outbox(workspace_id, after, limit=CATCH_UP_PAGE)
                for delivery in with_current_facts(events):
                    self.replays.dispatching(delivery.event)
                    await dispatch(
                        delivery.event,
                        tuple(self._subscribers.get(workspace_id, ())),
                        delivery.facts,
                    )
                if len(events) < CATCH_UP_PAGE:
                    return
                after = events[-1].sequence
        except Exception as exc:
            if is_unavailable(exc):
                report_unavailable(exc)
            else:
                log.exception("catching up workspace %s from the outbox failed", workspace_id)
            self._resync(workspace_id)

    async def add(self, workspace_id: int, kind: type[Subscriber] = Subscriber) -> Subscriber:
        """Register a subscriber (a ``kind``: :class:`Subscriber` or :class:`Doorbell`) of
        every event of ``workspace_id`` published from now on; :meth:`remove` it when done."""
        subscriber = kind(workspace_id, self.queue_size)
        self._subscribers.setdefault(workspace_id, set()).add(subscriber)
        listener = self._listeners.get(workspace_id)
        if listener is None or listener.done():  # none yet, or it died: (re)start it
            self._start_listener(workspace_id)
        try:
            await self._ready[workspace_id].wait()
        except BaseException:
            self.remove(subscriber)
            raise
        return subscriber

    def _start_listener(self, workspace_id: int, restarted: bool = False) -> None:
        self.replays.forget(workspace_id)  # read while nobody listened: events may be unheard
        self._ready[workspace_id] = asyncio.Event()
        # the listener outlives this subscriber: it must not keep its context variables
        task = self._listeners[workspace_id] = asyncio.create_task(
            self._listen(workspace_id, restarted), context=contextvars.Context()
        )
        task.add_done_callback(partial(self._listener_ended, workspace_id))

    def _listener_ended(self, workspace_id: int, task: asyncio.Task[None]) -> None:
        """A workspace's listener must not end while it has subscribers: they would wait in
        silence. One that failed (or whose stream ended) is started again; its subscribers
        then read from the outbox whatever was published meanwhile."""
        error = None if task.cancelled() else task.exception()
        if self._stopping or self._listeners.get(workspace_id) is not task:
            return
        self.replays.forget(workspace_id)
        del self._listeners[workspace_id]
        self._ready.pop(workspace_id, None)
        if self._subscribers.get(workspace_id):
            log.error(
                "the event listener of workspace %s ended (%r); restarting it", workspace_id, error
            )
            self._start_listener(workspace_id, restarted=True)

    def _resync(self, workspace_id: int) -> None:
        """Tell the workspace's subscribers to read what they may have missed from the outbox."""
        marker = LiveEvent(workspace_id, 0, RESYNC_MARKER, {})
        for subscriber in tuple(self._subscribers.get(workspace_id, ())):
            subscriber._offer(marker)

    def remove(self, subscriber: Subscriber) -> None:
        """End a subscriber: nothing is offered to it any more (idempotent)."""
        subscriber.closed = True
        subscriber.fast_path = None
        subscriber.wake = None
        workspace_id = subscriber.workspace_id
        subscribers = self._subscribers.get(workspace_id)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._subscribers[workspace_id]
            self.replays.forget(workspace_id)
            ready = self._ready.get(workspace_id)
            if ready is not None and not ready.is_set():
                # still subscribing: cancelled now, broadcaster's bookkeeping of the channel
                # would break; it ends by itself once subscribed (``_listen``)
                return
            task = self._listeners.pop(workspace_id, None)
            self._ready.pop(workspace_id, None)
            if task is not None:
                task.cancel()


__all__ = [
    "RESYNC_MARKER",
    "Delivery",
    "Doorbell",
    "EventBus",
    "KeptReplays",
    "LiveEvent",
    "OutboxRead",
    "SharedReads",
    "SlowConsumer",
    "Subscriber",
    "Transaction",
    "ViewerGenerations",
    "read_outbox",
    "read_outbox_shared_batch",
    "with_current_facts",
    "write",
]

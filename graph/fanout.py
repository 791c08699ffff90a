"""Shared execution and serialisation of subscription events (``architecture.md``, live path,
step 3).

Thousands of dashboards often subscribe with the same document. For one event, subscribers
whose document, variables and *view* are the same would compute the same ``next`` payload, so
the process executes the selection once, serialises it to JSON once, and writes the same text
to each of their WebSockets (only the operation id in front differs).

A subscription selects its authorised events as :class:`Candidate` s
(:class:`graph.subscriptions.LiveStream`); :func:`dispatch` and :func:`payload_for` execute
them once per (event, variant, view, document, variables). The view key is the viewer facts
any resolver may read (workspace, role, visibility, permissions). A resolver whose answer depends on *who* the viewer is
(``User`` administration fields for a non-administrator, ``canEdit`` ...) calls
:func:`depends_on_identity`; such a payload is shared only with the same user.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import sys
import time
import weakref
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from db.availability import is_unavailable, report_unavailable
from graph.errors import ErrorCode, ServiceUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable

    from graph.context import Context
    from graph.permissions.visibility import Viewer
    from graph.ws_compression import FrameWriter

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
"""Payloads kept per process: enough for every (event, view, document) of a burst..."""
CACHE_CHARS = 32_000_000
"""... within about 32 MB of JSON text."""


def view_key(viewer: Viewer) -> tuple[Any, ...]:
    """The viewer facts resolvers read, except the user's identity."""
    return (
        viewer.workspace_id,
        viewer.role,
        viewer.effective_visibility,
        viewer.can_view_blocked_contacts,
        viewer.has_call_access,
    )


class LiveOperation:
    """The graphql-transport-ws operation a subscription runs in: what it asked for, and the
    WebSocket its ``next`` frames are written to.

    ``completed`` is set, synchronously, when the client sends ``complete`` (no ``next`` may
    follow it): :meth:`complete`. ``owner`` is the connection's handler: :meth:`detach` tells
    it that the subscription now runs on its own (``stream``), :meth:`finish` that it has
    ended by itself.

    Its stream refers back to it (and so does the stream's :class:`FastPath`): once it ends,
    either way, the operation lets go of its stream, so that neither waits for the cyclic
    garbage collector (a reconnect storm ends thousands; issue 23).

    ``extensions`` are the ``subscribe`` payload's (``None`` when it had none): the operation
    runs with them (:meth:`graph.schema.InboxSchema.stream`), so that it may name its document
    by hash (``extensions.persistedQuery``) as over HTTP; :meth:`named` then gives it the text.
    """

    __slots__ = (
        "completed",
        "document_key",
        "extensions",
        "frame_head",
        "frame_prefix",
        "id",
        "operation_name",
        "owner",
        "query",
        "send_text",
        "stream",
        "variables",
        "writer",
    )

    def __init__(
        self,
        id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        send_text: Callable[[str], Awaitable[None]],
        owner: Any = None,
        writer: FrameWriter | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.query = query
        self.variables = variables
        self.operation_name = operation_name
        self.extensions = extensions
        self.send_text = send_text
        # equal documents of many subscribers share one key (and one copy of their text)
        self.document_key = (
            sys.intern(query),
            operation_name,
            sys.intern(_variables_key(variables)),
        )
        self.frame_prefix = '{"id":' + json.dumps(id) + ',"type":"next","payload":'
        self.frame_head = self.frame_prefix.encode()
        self.completed = False
        self.stream: Any = None
        self.owner = owner
        self.writer = writer

    def named(self, query: str) -> None:
        """The operation's document is ``query``: it was named by hash, not sent
        (:class:`graph.persisted.PersistedQueries`); its events run this text."""
        self.query = sys.intern(query)
        self.document_key = (self.query, *self.document_key[1:])

    def send_next(self, payload: str, body: bytes | None = None) -> Awaitable[None] | None:
        """Send a ``next`` frame carrying ``payload`` (JSON text). ``body``: ``payload`` and
        the frame's closing ``}``, UTF-8 (the bus encodes it once for every socket).

        Written at once, pre-framed, when the socket's :class:`~graph.ws_compression.FrameWriter`
        can (``None`` is returned); otherwise the send through ASGI is returned, to await (it
        waits for the socket to drain, compresses, or raises once the socket is closed).
        """
        writer = self.writer
        if writer is not None and writer.write(
            self.frame_head, (payload + "}").encode() if body is None else body
        ):
            return None
        return self.send_text(self.frame_prefix + payload + "}")

    def detach(self, stream: Any) -> bool:
        """``stream`` delivers this operation's events from now on, without its task;
        ``False`` when the operation is over already (``stream`` must not start)."""
        if self.completed or (self.owner is not None and not self.owner.detached(self)):
            return False
        self.stream = stream
        return True

    def complete(self) -> None:
        """The client completed the operation, or its socket closed: no ``next`` may follow,
        and its stream, if it started, stops (``LiveStream.stop``: idempotent)."""
        self.completed = True
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.stop()

    def finish(self) -> None:
        """The subscription ended by itself (its last frames are sent)."""
        self.completed = True
        self.stream = None
        if self.owner is not None:
            self.owner.finished(self)


_operation: ContextVar[LiveOperation | None] = ContextVar("live_operation", default=None)


def start_live_operation(operation: LiveOperation) -> None:
    """Record the operation about to start in this task (its task copies the context)."""
    _operation.set(operation)


class Candidate(NamedTuple):
    """An event a subscription may deliver: ``build`` makes its payload (the subscription
    field's value) or returns ``None`` to skip it. ``variant`` is whatever else distinguishes
    this payload from another subscriber's for the same event (ENTERED for one list, LEFT for
    another; the scope ``build`` checks the rows it presents against, which differs between
    viewers of the same view, e.g. ``TEAM`` agents of different teams). A tuple: the bus
    makes one per subscriber and event."""

    sequence: int
    build: Callable[[], Awaitable[Any]]
    variant: Any = None
    as_of: int = 0
    """The event's ``LiveEvent.as_of``: payloads are shared only among deliveries whose rows
    are read as of the same batch (set by :func:`with_as_of`)."""


def with_as_of(candidate: Candidate | None, event: Any) -> Candidate | None:
    """``candidate`` marked with ``event.as_of`` (a ``select`` makes it from the event alone)."""
    if candidate is None or not event.as_of:
        return candidate
    sequence, build, variant, _ = candidate  # one per delivery: not NamedTuple._replace's map
    return Candidate(sequence, build, variant, event.as_of)


_identity_read: ContextVar[list[bool] | None] = ContextVar("identity_read", default=None)


def depends_on_identity() -> None:
    """Record that the field being resolved depends on the viewer's identity."""
    marker = _identity_read.get()
    if marker is not None:
        marker[0] = True


class _LeaderGone(Exception):
    """The subscriber computing a shared payload failed or was cancelled: execute on your own."""


@dataclass(slots=True)
class _Shared:
    """A payload being computed by its leader (``future`` not done), or computed.

    Followers arriving while it is computed wait on futures of their own (``waiters``), which
    the leader settles with its own: a follower cancelled (its socket gone) cancels only its
    own waiter, never the leader's future. In a reconnect storm thousands of subscribers
    replay the same events at once: one future each, where ``asyncio.shield`` made two, with
    two callbacks and a loop iteration more."""

    future: asyncio.Future[tuple[str | None, bool]]
    user_id: int
    waiters: list[asyncio.Future[tuple[str | None, bool]]] = field(default_factory=list)

    def settle(self) -> None:
        """Hand the leader's outcome (its result, or :class:`_LeaderGone`) to each follower
        still waiting."""
        future, waiters = self.future, self.waiters
        self.waiters = []
        failed = future.exception()
        for waiter in waiters:
            if waiter.done():  # cancelled: its follower is gone
                continue
            if failed is None:
                waiter.set_result(future.result())
            else:
                waiter.set_exception(_LeaderGone())


_payloads: OrderedDict[tuple[Any, ...], _Shared] = OrderedDict()
_sizes: dict[tuple[Any, ...], int] = {}
_cached_chars = [0]


def _remember(key: tuple[Any, ...], entry: _Shared, payload: str | None) -> None:
    """Account for a computed payload; the oldest go once over the count or size budget.
    A payload pushed out of the cache while it was computed (``entry`` is no longer the one
    held under ``key``) is not cached: its size must not be counted."""
    if _payloads.get(key) is not entry:
        return
    size = len(payload or "")
    _sizes[key] = size
    _cached_chars[0] += size
    while len(_payloads) > CACHE_SIZE or _cached_chars[0] > CACHE_CHARS:
        oldest = next(iter(_payloads))
        if oldest == key:
            break
        _forget(oldest)


def _forget(key: tuple[Any, ...]) -> None:
    _payloads.pop(key, None)
    _cached_chars[0] -= _sizes.pop(key, 0)


def _variables_key(values: Any) -> str:
    try:
        return json.dumps(values, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(values)


async def execute_payload(
    operation: LiveOperation, context: Context, candidate: Candidate
) -> str | None:
    """The ``next`` payload of ``candidate`` for this document and viewer, as JSON text.

    Raises:
        ServiceUnavailable: the database could not be reached while resolving it (such a
            payload is never delivered: the subscription retries the event).
    """
    root = await candidate.build()
    if root is None:
        return None
    result = await context.schema.execute(
        operation.query,
        variable_values=operation.variables,
        context_value=context,
        root_value=root,
        operation_name=operation.operation_name,
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        for error in result.errors:
            if (error.extensions or {}).get("code") == ErrorCode.SERVICE_UNAVAILABLE:
                # not an answer to deliver: the subscriber retries the event once it is back
                raise ServiceUnavailable()
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload)


def _payload_key(operation: LiveOperation, viewer: Viewer, candidate: Candidate) -> tuple[Any, ...]:
    """What a shared payload is shared by: the event (as read: ``as_of``), its variant, the
    view and the document with its variables."""
    return (
        candidate.sequence,
        candidate.as_of,
        candidate.variant,
        view_key(viewer),
        operation.document_key,
    )


async def _shared_payload(
    operation: LiveOperation,
    context: Context,
    candidate: Candidate,
    ahead: Callable[[], list[_Shared]] | None = None,
) -> tuple[str | None, bool, int]:
    """``(payload, personal, user_id)``: the JSON text of the ``next`` payload, computed by the
    first subscriber of its key and shared with the others; ``personal`` if it depends on the
    identity of ``user_id``, the user it was computed for.

    ``ahead`` is called first when the payload is not ready (this subscriber computes it, or
    waits for it): a catch-up starts its next payloads there (:func:`prefetch`) and returns
    those still computed; a follower waits for all of them at once: woken once for the
    batch, not once for each of its payloads as they come."""
    viewer = context.viewer
    key = _payload_key(operation, viewer, candidate)
    found = _payloads.get(key)
    if found is not None:
        future = found.future
        if not future.done() and ahead is not None:
            computed = ahead()
            if computed:  # woken once, when this one and the next ones are all done
                await _all_settled([found, *computed])
        if not future.done():  # a follower waits on a future of its own (_Shared)
            future = asyncio.get_running_loop().create_future()
            found.waiters.append(future)
        try:
            payload, personal = await future
        except Exception:  # noqa: BLE001 - the leader failed: execute on our own
            return await execute_payload(operation, context, candidate), False, viewer.user_id
        return payload, personal, found.user_id
    if ahead is not None:
        ahead()  # before this entry: nothing may come between making it and settling it
    entry = _payloads[key] = _Shared(asyncio.get_running_loop().create_future(), viewer.user_id)
    return await _lead(key, entry, operation, context, candidate)


async def _lead(
    key: tuple[Any, ...],
    entry: _Shared,
    operation: LiveOperation,
    context: Context,
    candidate: Candidate,
) -> tuple[str | None, bool, int]:
    """Compute the payload of ``entry`` (just put in the cache under ``key``) as its leader,
    and hand it to its followers."""
    future = entry.future
    marker = [False]
    token = _identity_read.set(marker)
    try:
        payload = await execute_payload(operation, context, candidate)
    except BaseException:
        _give_up(key, entry)
        raise
    finally:
        _identity_read.reset(token)
    future.set_result((payload, marker[0]))
    entry.settle()
    _remember(key, entry, payload)
    return payload, marker[0], entry.user_id


NOT_COMPUTED = object()
"""What :func:`computed_payload` returns for a payload it does not hold."""


def computed_payload(operation: LiveOperation, viewer: Viewer, candidate: Candidate) -> Any:
    """``(payload, personal)``: the shared payload of ``candidate`` for ``viewer`` if it is
    computed already (its JSON text, or ``None``: nothing to send; ``personal`` if it depends
    on the identity of this viewer's user); :data:`NOT_COMPUTED` when it is being computed,
    its computation failed, it is not held, or it depends on the identity of another user
    (what :func:`payload_for` would then compute)."""
    found = _payloads.get(_payload_key(operation, viewer, candidate))
    if found is None:
        return NOT_COMPUTED
    future = found.future
    if not future.done() or future.cancelled() or future.exception() is not None:
        return NOT_COMPUTED
    computed = future.result()
    if computed[1] and found.user_id != viewer.user_id:
        return NOT_COMPUTED
    return computed


PREFETCH_AHEAD = 64
"""How many of a catch-up's next events :func:`prefetch` starts computing at once."""

_prefetches: set[asyncio.Task[Any]] = set()


def prefetch(
    operation: LiveOperation, context: Context, candidates: Iterable[Candidate]
) -> list[_Shared]:
    """Start computing, each in a task of its own, the shared payloads of ``candidates`` (the
    next events of one subscriber's catch-up, in order) that nobody computes or holds yet.

    A catch-up (a replay after ``afterSequence``, a gap read from the outbox) delivers its
    events one after the other; in a reconnect storm thousands replay the same batch at once,
    and each payload was computed only once a subscriber reached it: every other subscriber
    waited for each event in turn, one suspension and wake-up per event (260,000 of the
    300,000 deliveries of a storm of 10,000 replaying 30 events, issue 23). Started together,
    a subscriber waits at most for the first payloads and finds the next ones done. The
    payloads are the ones the subscriber would compute on reaching them (its view, document
    and candidates); a failure here is its followers' to redo, as a failed leader's is.

    Returns the candidates' payloads still computed (:class:`_Shared`, started here or
    before): the subscriber waits for them at once (:func:`_shared_payload`)."""
    viewer = context.viewer
    loop = asyncio.get_running_loop()
    computed = []
    for candidate in candidates:
        key = _payload_key(operation, viewer, candidate)
        entry = _payloads.get(key)
        if entry is None:
            entry = _payloads[key] = _Shared(loop.create_future(), viewer.user_id)
            task = loop.create_task(_lead(key, entry, operation, context, candidate))
            _prefetches.add(task)
            task.add_done_callback(functools.partial(_prefetched, key, entry))
        if not entry.future.done():
            computed.append(entry)
    return computed


class _Countdown:
    """A waiter of several payloads (:attr:`_Shared.waiters`): its future is done once each of
    them is settled, whichever way."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future[None], left: int) -> None:
        self.future = future
        self.left = left

    def done(self) -> bool:
        return self.future.done()

    def set_result(self, _: object) -> None:
        self.left -= 1
        if not self.left:
            self.future.set_result(None)

    set_exception = set_result


async def _all_settled(entries: list[_Shared]) -> None:
    """Wait until every one of ``entries`` (none done yet) is settled."""
    countdown = _Countdown(asyncio.get_running_loop().create_future(), len(entries))
    for entry in entries:
        entry.waiters.append(countdown)  # type: ignore[arg-type] - settled as a future is
    await countdown.future


def _give_up(key: tuple[Any, ...], entry: _Shared) -> None:
    """``entry``'s leader failed or never ran: it leaves the cache and its followers are told
    to execute on their own."""
    if _payloads.get(key) is entry:  # not another leader's, after this one was pushed out
        _forget(key)
    entry.future.set_exception(_LeaderGone())  # never the leader's CancelledError
    entry.settle()  # retrieved: followers execute on their own


def _prefetched(key: tuple[Any, ...], entry: _Shared, task: asyncio.Task[Any]) -> None:
    """A prefetch ended. One cancelled before it started (the loop closing) never ran
    :func:`_lead`: its followers are told to compute on their own, as a failed leader's."""
    _prefetches.discard(task)
    if not entry.future.done():
        _give_up(key, entry)
    elif not task.cancelled() and task.exception() is not None:
        log.debug("prefetching a payload failed", exc_info=task.exception())


async def payload_for(
    operation: LiveOperation,
    context: Context,
    candidate: Candidate,
    ahead: Callable[[], list[_Shared]] | None = None,
) -> str | None:
    """The JSON text of ``candidate``'s ``next`` payload for this subscriber (``ahead``: as
    :func:`_shared_payload` takes it)."""
    payload, personal, user_id = await _shared_payload(operation, context, candidate, ahead)
    if personal and user_id != context.viewer.user_id:
        return await execute_payload(
            operation, context, candidate
        )  # the leader's answer was personal
    return payload


def current_operation() -> LiveOperation | None:
    """The graphql-transport-ws operation running in this task, if any."""
    return _operation.get()


class _SelectionGroup:
    """The subscriptions of one (selection key, view, document): a token hashed by identity,
    so that grouping thousands of subscribers per event hashes no tuples."""

    __slots__ = ("__weakref__",)


_groups: weakref.WeakValueDictionary[tuple[Any, ...], _SelectionGroup] = (
    weakref.WeakValueDictionary()
)
"""Each (selection key, view, document) in use, to its token (gone with its last fast path)."""


@dataclass(eq=False, slots=True)
class FastPath:
    """What the bus needs to deliver a subscription's next events without waking its task.

    ``accepts(event, viewer)`` says whether the event may be handled here at all (anything
    that needs the database or the connection, such as reloading the viewer, goes to the task);
    nothing is, once the viewer's token has expired (``expires``, a POSIX timestamp, seconds):
    the task closes the socket;
    ``select(event, facts)`` authorises it and makes its :class:`Candidate`, or ``None``. The
    payload is executed with the operation's own viewer, never the connection's latest (another
    operation on the socket may have reloaded it first).

    ``selection()``, if given, returns a hashable key of what ``select`` decides from: two
    subscriptions whose keys are equal select alike for every event and facts (the event
    type, the scope ...). :func:`dispatch` then calls ``select`` once per event for each
    ``group`` (that key, the view and the document: subscribers who would share a payload
    anyway) instead of once per subscriber. Without it every subscriber selects on its own.
    """

    context: Context
    operation: LiveOperation
    accepts: Callable[[Any, Viewer], bool]
    select: Callable[[Any, dict[str, Any]], Candidate | None]
    selection: Callable[[], Any] | None = None
    viewer: Viewer | None = None
    view: tuple[Any, ...] = ()
    expires: float = math.inf
    group: _SelectionGroup | None = None

    def ready(self, viewer: Viewer) -> FastPath:
        """Take the operation's current viewer (and selection); call before each hand-over to
        the bus."""
        if viewer is not self.viewer:
            self.viewer = viewer
            self.view = view_key(viewer)
            expires_at = viewer.token_expires_at
            self.expires = math.inf if expires_at is None else expires_at.timestamp()
        if self.selection is not None:
            key = (self.selection(), self.view, self.operation.document_key)
            group = _groups.get(key)
            if group is None:
                group = _groups[key] = _SelectionGroup()
            self.group = group
        return self

    def execution_context(self) -> Context:
        """The connection's context with the operation's viewer, to execute a payload with."""
        return self.context.with_viewer(self.viewer)


class _Unfinished:
    """A send that had to wait for the socket to drain, finished later by the subscriber's own
    task: awaiting it resumes the suspended coroutine where it stopped. ``event``: what it
    delivers, handed back to the task if the send fails (``Subscriber.settle``)."""

    __slots__ = ("coroutine", "event", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any, event: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on
        self.event = event

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_on = self.coroutine, self.waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as exc:  # noqa: BLE001 - cancellation: let the send clean up
                try:
                    waiting_on = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                waiting_on = coroutine.send(sent)
            except StopIteration as stop:
                return stop.value


def _send_now(subscriber: Any, send: Coroutine[Any, Any, Any], event: Any) -> None:
    """Run ``send`` (``event``'s frame) as far as it goes without waiting; if the socket cannot
    take the frame now, the subscriber's task finishes it, and the subscriber leaves the fast
    path until then. A send that raises leaves ``event`` to the task, which sends it again or
    ends with the socket."""
    try:
        waiting_on = send.send(None)
    except StopIteration:
        return
    except Exception:
        log.debug("writing event %s failed", event.sequence, exc_info=True)
        _requeue(subscriber, event)
        return
    subscriber._offer(_Unfinished(send, waiting_on, event))


async def dispatch(
    event: Any,
    subscribers: tuple[Any, ...],
    facts: dict[str, Any] | None = None,
) -> None:
    """Hand ``event`` to this process's subscribers of its workspace (``architecture.md``, live
    path, step 3).

    Subscribers with a fast path that accepts the event are authorised by pure computation
    (their ``select``, with ``facts``: the contact's current facts when the event is read late,
    else its own payload; once per :attr:`FastPath.group` when the subscription declares its
    selection), grouped by (event, variant, view, document, variables), executed once per group
    and serialised once, and the same JSON text is written to each socket. Every other
    subscriber gets the event through its queue (``Subscriber._offer``), but one that has
    handled it already (a catch-up reads events some subscribers have), or whose socket's write
    raised (its task sends the event or ends; the others get it regardless).
    """
    # per group: its first subscriber's candidate, then the subscribers (kept as plain lists:
    # thousands of short-lived tuples per event would survive the await below and fill the
    # garbage collector's oldest generation, whose full collections stall the process)
    groups: dict[tuple[Any, ...], tuple[Candidate, FastPath, list[Any]]] = {}
    # per selection group (FastPath.group): its candidate (or None) and its subscribers' list
    selected: dict[_SelectionGroup, tuple[Candidate | None, list[Any] | None]] = {}
    sequence = event.sequence
    previous = sequence - 1
    now = time.time()
    for subscriber in subscribers:
        last = subscriber.last
        if sequence <= last:
            continue  # handled already (``last`` never runs ahead of what was handled)
        fast = subscriber.fast_path
        try:
            if fast is not None and fast.operation.completed:
                continue  # the client completed it: its task is being cancelled
            if (
                fast is None
                or last != previous
                or fast.expires <= now
                or not fast.accepts(event, fast.viewer)
            ):
                subscriber._offer(event)
                continue
            token = fast.group
            decided = None if token is None else selected.get(token)
            if decided is None:
                candidate = with_as_of(
                    fast.select(event, event.payload if facts is None else facts), event
                )
                members = None
                if candidate is not None:
                    key = (candidate.variant, fast.view, fast.operation.document_key)
                    found = groups.get(key)
                    if found is None:
                        found = groups[key] = (candidate, fast, [])
                    members = found[2]
                if token is not None:
                    selected[token] = (candidate, members)
            else:
                members = decided[1]
        except Exception:
            log.exception("selecting event %s failed", sequence)
            subscriber._offer(event)  # its task selects again, and fails on its own
            continue
        subscriber.last = sequence
        if members is not None:
            members.append(subscriber)
    if not groups:
        return
    planned = list(groups.values())
    # each group's payload at once (they are independent), within a time budget: a slow
    # selection must not hold up the workspace's stream; its subscribers catch up on their own
    delivered = 0
    try:
        outcomes = await asyncio.gather(
            *(_payload_within_budget(fast, candidate) for candidate, fast, _ in planned)
        )
        for (_, _, members), outcome in zip(planned, outcomes, strict=True):
            _deliver(event, members, outcome)
            delivered += 1
    except BaseException:
        # their ``last`` has moved past the event: were it dropped here, neither the bus nor
        # their tasks would ever send it (closed subscribers are left: the workspace's last
        # one left, or the bus stops)
        for _, _, members in planned[delivered:]:
            _requeue_members(event, members)
        raise


def _requeue_members(event: Any, members: list[Any]) -> None:
    """Leave ``event`` to the tasks of ``members`` still open that the bus had taken it for."""
    for subscriber in members:
        if not subscriber.closed and subscriber.last == event.sequence:
            _requeue(subscriber, event)


def _deliver(event: Any, members: list[Any], outcome: tuple[str | None, bool, int] | None) -> None:
    """Write one group's payload to each of its subscribers; one whose socket fails is left
    to its own task (never the others: each is guarded on its own).

    The loop runs once per subscriber and event (10,000 sockets: 10,000 times an event): it
    reads no more of each subscriber than it must (its fast path, operation and writer)."""
    if outcome is None:  # failed or too slow: every subscriber's task executes it itself
        payload, personal, owner = None, False, 0
    else:
        payload, personal, owner = outcome
        if payload is None and not personal:
            return  # nothing to send to anyone
    # once per group, for every socket: the payload and the frame's closing brace, UTF-8
    body = None if payload is None else (payload + "}").encode()
    for subscriber in members:
        fast = subscriber.fast_path
        if fast is None:
            if not subscriber.closed:  # it left the bus's path meanwhile: its task delivers
                _requeue(subscriber, event)
            continue
        operation = fast.operation
        if subscriber.closed or operation.completed:
            continue
        if outcome is None or (personal and fast.viewer.user_id != owner):
            # failed or too slow, or personal to another user: the task executes it itself
            _requeue(subscriber, event)
            continue
        if body is None:
            continue
        try:
            send = operation.send_next(payload, body)  # type: ignore[arg-type]
        except Exception:  # this socket only: its task resends the event or closes it
            log.debug("writing event %s failed", event.sequence, exc_info=True)
            _requeue(subscriber, event)
            continue
        if send is not None:
            _send_now(subscriber, send, event)


def _requeue(subscriber: Any, event: Any) -> None:
    """Leave ``event`` to the subscriber's own task (it is no longer handled here)."""
    subscriber.last = event.sequence - 1
    subscriber._offer(event)


DISPATCH_BUDGET_SECONDS = 5.0
"""How long the bus waits for one event's shared payloads before leaving them to the
subscribers' own tasks."""


async def _payload_within_budget(
    fast: FastPath, candidate: Candidate
) -> tuple[str | None, bool, int] | None:
    """A group's shared payload, or ``None`` when it failed or took too long."""
    try:
        return await asyncio.wait_for(
            _shared_payload(fast.operation, fast.execution_context(), candidate),
            DISPATCH_BUDGET_SECONDS,
        )
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise  # the bus itself is stopped
        # a step shared with a task that was cancelled (its subscriber left) ended under this
        # one: as a subscriber's own task does (``LiveStream._run``), leave the event to them
        log.warning(
            "a shared step of event %s was cancelled; delivering it again", candidate.sequence
        )
        return None
    except Exception as exc:  # the subscribers' own tasks deliver it
        if isinstance(exc, ServiceUnavailable):
            return None  # the database went away while resolving it: reported where it was seen
        if is_unavailable(exc):
            report_unavailable(exc)  # one line per outage, not a traceback per event
        else:
            log.warning("shared execution of event %s failed", candidate.sequence, exc_info=True)
        return None


__all__ = [
    "Candidate",
    "FastPath",
    "LiveOperation",
    "current_operation",
    "depends_on_identity",
    "dispatch",
    "execute_payload",
    "payload_for",
    "start_live_operation",
    "view_key",
    "with_as_of",
]

"""Shared execution and serialisation of subscription events (``architecture.md``, live path,
step 3).

Thousands of dashboards often subscribe with the same document. For one event, subscribers
whose document, variables and *view* are the same would compute the same ``next`` payload, so
the process executes the selection once, serialises it to JSON once, and writes the same text
to each of their WebSockets (only the operation id in front differs).

A subscription resolver turns its authorised events into :class:`Candidate` s and passes them
through :func:`fan_out`. The view key is the viewer facts any resolver may read (workspace,
role, visibility, permissions). A resolver whose answer depends on *who* the viewer is
(``User`` administration fields for a non-administrator, ``canEdit`` ...) calls
:func:`depends_on_identity`; such a payload is shared only with the same user.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocketDisconnect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator

    from graph.context import Context
    from graph.permissions.visibility import Viewer

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
"""Payloads kept per process: enough for every (event, view, document) of a burst."""


def view_key(viewer: Viewer) -> tuple[Any, ...]:
    """The viewer facts resolvers read, except the user's identity."""
    return (
        viewer.workspace_id,
        viewer.role,
        viewer.effective_visibility,
        viewer.can_view_blocked_contacts,
        viewer.has_call_access,
    )


@dataclass(frozen=True)
class LiveOperation:
    """The graphql-transport-ws operation a subscription runs in: what it asked for, and the
    WebSocket its ``next`` frames are written to."""

    id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    send_text: Callable[[str], Awaitable[None]]
    document_key: tuple[str, str | None, str] = field(init=False)
    frame_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "document_key", (self.query, self.operation_name, _variables_key(self.variables))
        )
        object.__setattr__(self, "frame_prefix", '{"id":' + json.dumps(self.id) + ',"type":"next","payload":')


_operation: ContextVar[LiveOperation | None] = ContextVar("live_operation", default=None)


def start_live_operation(operation: LiveOperation) -> None:
    """Record the operation about to start in this task (its task copies the context)."""
    _operation.set(operation)


@dataclass(frozen=True)
class Candidate:
    """An event a subscription may deliver: ``build`` makes its payload (the subscription
    field's value) or returns ``None`` to skip it. ``variant`` is whatever else distinguishes
    this payload from another subscriber's for the same event (ENTERED for one list, LEFT for
    another)."""

    sequence: int
    build: Callable[[], Awaitable[Any]]
    variant: Any = None


_identity_read: ContextVar[list[bool] | None] = ContextVar("identity_read", default=None)


def depends_on_identity() -> None:
    """Record that the field being resolved depends on the viewer's identity."""
    marker = _identity_read.get()
    if marker is not None:
        marker[0] = True


@dataclass
class _Shared:
    future: asyncio.Future[tuple[str | None, bool]]
    user_id: int


_payloads: OrderedDict[tuple[Any, ...], _Shared] = OrderedDict()


def _variables_key(values: Any) -> str:
    try:
        return json.dumps(values, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(values)


async def _execute(operation: LiveOperation, context: Context, candidate: Candidate) -> str | None:
    """The ``next`` payload of ``candidate`` for this document and viewer, as JSON text."""
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
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload)


async def _shared_payload(
    operation: LiveOperation, context: Context, candidate: Candidate
) -> tuple[str | None, bool, int]:
    """``(payload, personal, user_id)``: the JSON text of the ``next`` payload, computed by the
    first subscriber of its key and shared with the others; ``personal`` if it depends on the
    identity of ``user_id``, the user it was computed for."""
    viewer = context.viewer
    key = (candidate.sequence, candidate.variant, view_key(viewer), operation.document_key)
    found = _payloads.get(key)
    if found is not None:
        future = found.future
        if not future.done():
            future = asyncio.shield(future)  # a cancelled follower must not cancel the others
        try:
            payload, personal = await future
        except Exception:  # noqa: BLE001 - the leader failed: execute on our own
            return await _execute(operation, context, candidate), False, viewer.user_id
        return payload, personal, found.user_id
    future: asyncio.Future[tuple[str | None, bool]] = asyncio.get_running_loop().create_future()
    _payloads[key] = _Shared(future, viewer.user_id)
    while len(_payloads) > CACHE_SIZE:
        _payloads.popitem(last=False)
    marker = [False]
    token = _identity_read.set(marker)
    try:
        payload = await _execute(operation, context, candidate)
    except BaseException as exc:
        _payloads.pop(key, None)
        future.set_exception(exc)
        future.exception()  # retrieved: followers execute on their own
        raise
    finally:
        _identity_read.reset(token)
    future.set_result((payload, marker[0]))
    return payload, marker[0], viewer.user_id


async def payload_for(operation: LiveOperation, context: Context, candidate: Candidate) -> str | None:
    """The JSON text of ``candidate``'s ``next`` payload for this subscriber."""
    payload, personal, user_id = await _shared_payload(operation, context, candidate)
    if personal and user_id != context.viewer.user_id:
        return await _execute(operation, context, candidate)  # the leader's answer was personal
    return payload


async def fan_out(context: Context, candidates: AsyncIterator[Candidate]) -> AsyncIterator[Any]:
    """Deliver ``candidates`` to the subscription's WebSocket, each executed and serialised
    once per (event, variant, view, document, variables) in the process.

    Frames are written directly; outside a graphql-transport-ws operation (no
    :class:`LiveOperation` started) the payloads are yielded for strawberry to send.
    """
    operation = _operation.get()
    async for candidate in candidates:
        if operation is None:
            root = await candidate.build()
            if root is not None:
                yield root
            continue
        payload = await payload_for(operation, context, candidate)
        if payload is None:
            continue
        try:
            await operation.send_text(operation.frame_prefix + payload + "}")
        except (WebSocketDisconnect, RuntimeError):
            return  # the connection is gone: its handler cleans up


def current_operation() -> LiveOperation | None:
    """The graphql-transport-ws operation running in this task, if any."""
    return _operation.get()


@dataclass(eq=False)
class FastPath:
    """What the bus needs to deliver a subscription's next events without waking its task.

    ``accepts(event)`` says whether the event may be handled here at all (anything that needs
    the database or the connection, such as reloading the viewer, goes to the task);
    ``select(event, facts)`` authorises it and makes its :class:`Candidate`, or ``None``.
    """

    context: Context
    operation: LiveOperation
    accepts: Callable[[Any], bool]
    select: Callable[[Any, dict[str, Any]], Candidate | None]
    view: tuple[Any, ...] = ()
    user_id: int = 0

    def ready(self) -> FastPath:
        """Take the viewer's current view; call before each hand-over to the bus."""
        viewer = self.context.viewer
        self.view = view_key(viewer)
        self.user_id = viewer.user_id
        return self


class _Unfinished:
    """A send that had to wait for the socket to drain, finished later by the subscriber's own
    task: awaiting it resumes the suspended coroutine where it stopped."""

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

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


def _send_now(subscriber: Any, send: Coroutine[Any, Any, Any]) -> None:
    """Run ``send`` as far as it goes without waiting; if the socket cannot take the frame now,
    the subscriber's task finishes it, and the subscriber leaves the fast path until then."""
    try:
        waiting_on = send.send(None)
    except StopIteration:
        return
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the connection is gone: its handler cleans up
    subscriber._offer(_Unfinished(send, waiting_on))


async def dispatch(event: Any, subscribers: tuple[Any, ...]) -> None:
    """Hand ``event`` to this process's subscribers of its workspace (``architecture.md``, live
    path, step 3).

    Subscribers with a fast path that accepts the event are authorised by pure computation
    (their ``select``), grouped by (event, variant, view, document, variables), executed once
    per group and serialised once, and the same JSON text is written to each socket. Every
    other subscriber gets the event through its queue (``Subscriber._offer``).
    """
    groups: dict[tuple[Any, ...], list[tuple[Any, FastPath, Candidate]]] = {}
    for subscriber in subscribers:
        fast = subscriber.fast_path
        if fast is None or event.sequence != subscriber.last + 1 or not fast.accepts(event):
            subscriber._offer(event)
            continue
        subscriber.last = event.sequence
        candidate = fast.select(event, event.payload)
        if candidate is None:
            continue
        key = (candidate.variant, fast.view, fast.operation.document_key)
        groups.setdefault(key, []).append((subscriber, fast, candidate))
    for members in groups.values():
        subscriber, fast, candidate = members[0]
        try:
            payload, personal, user_id = await _shared_payload(fast.operation, fast.context, candidate)
        except Exception:  # noqa: BLE001 - let each subscriber's task try, and report, on its own
            log.warning("shared execution of event %s failed", event.sequence, exc_info=True)
            for subscriber, _, _ in members:
                subscriber.last = event.sequence - 1
                subscriber._offer(event)
            continue
        for subscriber, fast, candidate in members:
            if subscriber.closed:
                continue
            text = payload
            if personal and fast.user_id != user_id:
                subscriber.last = event.sequence - 1  # the task executes it for its own user
                subscriber._offer(event)
                continue
            if text is not None:
                _send_now(subscriber, fast.operation.send_text(fast.operation.frame_prefix + text + "}"))


__all__ = [
    "Candidate",
    "FastPath",
    "LiveOperation",
    "current_operation",
    "dispatch",
    "depends_on_identity",
    "fan_out",
    "start_live_operation",
    "view_key",
]

"""The graphql-transport-ws handler: frame validation and per-operation authentication.

strawberry's handler trusts frame shapes and authenticates once, at ``connection_init``. Here,
every rule of the protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):

- a frame that is not a JSON object of the protocol's shape closes the socket with 4400
  (the protocol's "invalid message"), never a crash; ``connection_init`` with
  ``"payload": null`` (or none) is well-formed, and authenticated like an empty payload
  (no token: 4403);
- a ``subscribe`` whose operation never runs (a document that does not parse or is over the
  token limit, over a field limit, invalid, several operations and none named, an unknown
  ``operationName``, variables that cannot be coerced, a spent budget) is answered with an
  ``error`` frame for its id carrying the coded errors HTTP gives the same request
  (:func:`graph.extensions.is_request_error`); the socket stays open and nothing is logged.
  A subscription whose stream refuses to start (a negative ``afterSequence``, a custom inbox)
  ran: it ends with a ``next`` carrying the error, then ``complete``, as before;
- every ``subscribe`` frame (queries and mutations over the socket included) re-checks the
  token and the user: a revoked or expired token, or a deactivated user, closes the socket
  with 4403; a changed role, visibility or team is used from then on. Sockets checking the
  same token (or user) at the same time share one check that started after each asked
  (:func:`check_token`, :func:`recheck_viewer`: a reconnect storm);
- while the database cannot be reached, ``connection_init`` closes the socket with 1013 (try
  again later) and a ``subscribe`` gets an ``error`` coded ``SERVICE_UNAVAILABLE`` (the socket
  and its other operations stay open);
- a user has at most ``INBOX_GRAPH_MAX_SOCKETS_PER_USER`` sockets past ``connection_init`` on
  this worker (:func:`admit_socket`): the ``connection_init`` of one more closes its socket
  with 1013 (try again later, once another socket of the user has closed; graphql-ws clients
  retry it with backoff), before any ``connection_ack``. Without it one agent's token could
  hold every connection the worker takes (``INBOX_GRAPH_MAX_CONNECTIONS``), and everyone
  else would be refused;
- ``logout`` over the socket closes it with 4403 once the operation has answered;
- a ``subscribe`` payload's ``extensions`` are its operation's (strawberry's handler dropped
  them): a document named by hash (``extensions.persistedQuery``, with ``"query": ""`` or no
  ``query``) runs, or is refused, by the rules HTTP follows (:mod:`graph.persisted`), a
  refusal answered with an ``error`` frame;
- every operation gets fresh DataLoaders, so nothing is served from a connection-wide cache;
- a ``subscribe`` over ``INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_SOCKET`` operations open on the
  socket, or ``INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER`` open over all the user's sockets on this
  worker (subscriptions, and queries or mutations still running), gets an ``error`` coded
  ``RATE_LIMITED`` with ``extensions.limit`` (``subscriptionsPerSocket`` or
  ``subscriptionsPerUser``) and ``extensions.maximum``, and no ``retryAfter``: complete one
  first. Each ``subscribe`` is charged its cost (:class:`graph.extensions.CostBudget`);
- every operation knows its id and socket, so subscription events are written to it directly
  (:class:`graph.fanout.LiveOperation`), and an open subscription outlives its operation task
  (:meth:`InboxTransportWSHandler.detached`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from starlette.websockets import WebSocketDisconnected as SocketClosedError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.execution import ExecutionResult

from db.availability import is_unavailable, report_unavailable
from graph.auth import reload_viewer, viewer_for_token
from graph.context import start_operation_loaders
from graph.errors import RateLimited, RefusalWarning
from graph.extensions import MASKED_MESSAGE, as_graphql_error, coded_errors, unavailable_error
from graph.fanout import LiveOperation, current_operation, start_live_operation
from graph.live import SharedReads
from graph.ws_compression import FrameWriter, frame_writer

if TYPE_CHECKING:
    from graph.permissions.visibility import Viewer

log = logging.getLogger(__name__)

MAX_OPERATION_ID_LENGTH = 128
CLOSE_FORBIDDEN = 4403
"""Close code when the token or user no longer authorises the connection."""
SOCKET_GONE = (WebSocketDisconnect, WebSocketDisconnected, RuntimeError, OSError)
"""What a send (or a close) raises once the socket is closed or lost (strawberry's
``WebSocketDisconnected`` from its own sends)."""
_SEND_TO_GONE = (WebSocketDisconnect, SocketClosedError, WebSocketDisconnected)
"""What a send to a socket that has gone raises (starlette's ``WebSocketDisconnect`` for a lost
peer and its ``WebSocketDisconnected``, a ``RuntimeError``, once a close was sent; strawberry's
``WebSocketDisconnected``): the only failures of an operation's task not logged
(:meth:`InboxTransportWSHandler.handle_task_exception`); ``SOCKET_GONE``'s ``RuntimeError``
and ``OSError`` would hide a real failure (a timeout, a recursion) of an operation whose
socket the server closed."""
CLOSE_TRY_AGAIN_LATER = 1013
"""Close code (RFC 6455's "Try Again Later") when ``connection_init`` cannot be checked because
the database is unreachable, or its user has all the sockets they may open
(:func:`admit_socket`): reconnect with backoff (graphql-ws clients retry it)."""


def frame_problem(message: Any) -> str | None:
    """Why a decoded frame is not a valid graphql-transport-ws message, or ``None``.

    The protocol's shapes: ``connection_init``, ``ping`` and ``pong`` may carry a ``payload``
    that is an object or null; ``subscribe`` and ``complete`` an ``id`` (here 1 to
    :data:`MAX_OPERATION_ID_LENGTH` characters); ``subscribe`` a ``payload`` with a string
    ``query`` and optional ``operationName`` (string or null), ``variables`` and
    ``extensions`` (objects or null); ``query`` may be left out (or null) when
    ``extensions.persistedQuery`` names the document by hash, as over HTTP. Unknown types are
    refused by strawberry (4400 too).
    """
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Messages must be JSON objects with a string `type`."
    kind = message["type"]
    payload = message.get("payload")
    if (
        kind in ("connection_init", "ping", "pong")
        and payload is not None
        and not isinstance(payload, dict)
    ):
        return f"`{kind}` payload must be an object or null."
    if kind in ("subscribe", "complete"):
        operation_id = message.get("id")
        if (
            not isinstance(operation_id, str)
            or not 0 < len(operation_id) <= MAX_OPERATION_ID_LENGTH
        ):
            return f"`{kind}` needs a string `id` of 1 to {MAX_OPERATION_ID_LENGTH} characters."
    if kind == "subscribe":
        if not isinstance(payload, dict):
            return "`subscribe` payload must be an object with a string `query`."
        extensions = payload.get("extensions")
        if extensions is not None and not isinstance(extensions, dict):
            return "`extensions` must be an object."
        query = payload.get("query")
        if not isinstance(query, str) and not (
            query is None and extensions is not None and "persistedQuery" in extensions
        ):
            return "`subscribe` payload must be an object with a string `query`."
        if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
            return "`variables` must be an object."
        if payload.get("operationName") is not None and not isinstance(
            payload["operationName"], str
        ):
            return "`operationName` must be a string."
    return None


_UNSET = object()

_token_checks = SharedReads(viewer_for_token)
_viewer_checks = SharedReads(reload_viewer)


async def check_token(token: str | None) -> Viewer | None:
    """:func:`graph.auth.viewer_for_token` for ``connection_init``; sockets that present the
    same token at the same time share one check that started after each asked
    (:class:`graph.live.SharedReads`: a reconnect storm)."""
    return await _token_checks.read((token,)) if token else None


async def recheck_viewer(viewer: Viewer) -> Viewer | None:
    """:func:`graph.auth.refresh_viewer` for a ``subscribe`` frame, shared as
    :func:`check_token` is: the token and user as the database has them once the frame
    arrived, with the workspace's event sequence read in the same statement
    (``Viewer.sequence``: a subscription starts there); ``None`` if the socket must close
    with 4403."""
    return await _viewer_checks.read((viewer.token_id, viewer.user_id, viewer.workspace_id))


_admitted: dict[int, dict[int, Any]] = {}
"""The contexts of the sockets past ``connection_init`` in this worker, per user id, by
``id()`` (:func:`admit_socket`)."""


class TooManySockets(Exception):
    """``connection_init`` of a user who has ``maximum`` sockets open on this worker already."""

    def __init__(self, maximum: int) -> None:
        super().__init__(f"Too many connections for this user (at most {maximum}).")
        self.maximum = maximum


RECHECK_SECONDS = 5.0
"""How long after re-checking a user's sockets at the maximum (:func:`_close_unauthorised`) a
``connection_init`` over it is refused without re-checking them again, in seconds."""

_rechecked: dict[int, float] = {}
"""When :func:`_close_unauthorised` last started for a user (event loop time), while the user
has sockets admitted."""

_closing: set[asyncio.Task[Any]] = set()
"""Closes of sockets :func:`_close_unauthorised` gave the places of, held until done."""


async def admit_socket(context: Any, viewer: Viewer) -> None:
    """Count the socket of ``context`` among its viewer's open sockets on this worker, up to
    ``INBOX_GRAPH_MAX_SOCKETS_PER_USER``; the handler gives the place back when the socket
    ends (:meth:`InboxTransportWSHandler.shutdown`). At the maximum, the user's sockets whose
    token no longer authorises them are closed first (:func:`_close_unauthorised`, at most
    once per :data:`RECHECK_SECONDS` and user).

    Raises:
        TooManySockets: the user has that many open still (nothing counted; the handler
            closes the socket with 1013).
        Exception: what :func:`recheck_viewer` raises (an unreachable database: 1013 too).
    """
    maximum = context.settings.max_sockets_per_user
    user_id = viewer.user_id
    if len(_admitted.get(user_id, ())) >= maximum:
        now = asyncio.get_running_loop().time()
        if now - _rechecked.get(user_id, -math.inf) >= RECHECK_SECONDS:
            _rechecked[user_id] = now
            await _close_unauthorised(user_id)
        if len(_admitted.get(user_id, ())) >= maximum:
            raise TooManySockets(maximum)
    _admitted.setdefault(user_id, {})[id(context)] = context
    context.admitted_user = user_id


async def _close_unauthorised(user_id: int) -> None:
    """Give back the places of the admitted sockets of ``user_id`` whose token is revoked or
    expired, or whose user is deactivated (each token checked once, :func:`recheck_viewer`),
    and close them with 4403 (in tasks of their own: a socket that does not read would hold
    the caller until its keep-alive gives up). A subscription's socket is closed so as soon as
    the change's event arrives; one without any learns of it only at its next ``subscribe``,
    and would keep its place meanwhile: a stolen token, revoked, could keep its user's places
    for ever."""
    admitted = list(_admitted.get(user_id, {}).values())
    viewers = {c.current_viewer.token_id: c.current_viewer for c in admitted}
    checked = await asyncio.gather(*(recheck_viewer(v) for v in viewers.values()))
    valid = {token_id for token_id, found in zip(viewers, checked, strict=True) if found}
    for context in admitted:
        if context.current_viewer.token_id in valid or context.admitted_user is None:
            continue
        _release_socket(context)
        task = asyncio.create_task(_close_quietly(context.request, CLOSE_FORBIDDEN, "Forbidden"))
        _closing.add(task)
        task.add_done_callback(_closing.discard)


async def _close_quietly(websocket: Any, code: int, reason: str) -> None:
    """Close ``websocket`` with ``code`` and ``reason``; nothing if it is closed or gone."""
    with contextlib.suppress(*SOCKET_GONE):
        await websocket.close(code=code, reason=reason)


def _release_socket(context: Any) -> None:
    """Give back the place :func:`admit_socket` counted for ``context`` (once)."""
    user_id = context.admitted_user
    if user_id is None:
        return
    context.admitted_user = None
    admitted = _admitted[user_id]
    del admitted[id(context)]
    if not admitted:
        del _admitted[user_id]
        _rechecked.pop(user_id, None)


_too_many_sockets = RefusalWarning(
    log,
    "at the maximum of %d WebSockets per user on this worker (INBOX_GRAPH_MAX_SOCKETS_PER_USER), "
    "connection_init is refused with 1013 (%d since the previous warning)",
)


_finishing: set[asyncio.Task[Any]] = set()
"""Operation tasks of detached subscriptions, held until they have unwound."""

_open_per_user: Counter[int] = Counter()
"""Operations open over WebSockets in this worker, per user id."""


class InboxTransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with validated frames and per-operation authentication.

    A subscription runs in strawberry's operation task only until its stream is set up; then
    it detaches (:meth:`detached`): the task ends without a ``complete`` and the subscription
    stays registered here under its id, delivered by its :class:`~graph.subscriptions.LiveStream`
    (an open subscription holds no task, no execution context, no extension hooks). A
    ``complete`` from the client, or the socket closing, stops it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live: dict[str, LiveOperation] = {}
        self._user_id: int | None = None  # whose operations ``_live`` holds
        self._frame_writer: Any = _UNSET
        self._init_deadline: asyncio.TimerHandle | None = None

    def on_request_accepted(self) -> None:
        """Start the ``connection_init`` deadline (4408 once it passes without one): a timer
        of the event loop, where strawberry started a task sleeping until it for every
        socket, then cancelled (two task steps and a cancellation per socket in a storm)."""
        delay = self.connection_init_wait_timeout.total_seconds()
        self._init_deadline = asyncio.get_running_loop().call_later(delay, self._init_overdue)

    def _init_overdue(self) -> None:
        self._init_deadline = None
        if not self.connection_init_received:
            # strawberry's timeout task, from its deadline on (shutdown waits for it)
            task = asyncio.create_task(self._close_init_overdue())
            task.add_done_callback(self._task_done)
            self.connection_init_timeout_task = task

    async def _close_init_overdue(self) -> None:
        try:
            if self.connection_init_received:
                return
            self.connection_timed_out = True
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")
        except Exception as error:  # noqa: BLE001 - logged, as strawberry does
            await self.handle_task_exception(error)

    def _stop_init_deadline(self) -> None:
        if self._init_deadline is not None:
            self._init_deadline.cancel()
            self._init_deadline = None

    async def handle_task_exception(self, error: Exception) -> None:
        """strawberry's log of an operation task's failure ("Exception in worker task"), but
        not of a send to a socket that has gone: a client that left while its operation was
        answered (a subscription refused at its start, a tab closed during a reconnect storm)
        has nobody to answer and nothing to report (a helper's review: a traceback per
        operation)."""
        if isinstance(error, _SEND_TO_GONE) and self._gone():
            return
        await super().handle_task_exception(error)

    def _gone(self) -> bool:
        """Whether the socket is closed or lost (what a failed send leaves it as)."""
        socket = self.websocket.ws
        return WebSocketState.DISCONNECTED in (socket.client_state, socket.application_state)

    async def shutdown(self) -> None:
        self._stop_init_deadline()
        _release_socket(self.context)
        await super().shutdown()

    def _too_many(self, user_id: int) -> RateLimited | None:
        """The error for a new operation over this socket's or its user's bound, else ``None``."""
        settings = self.view.settings
        if len(self.operations) >= settings.max_subscriptions_per_socket:
            limit, maximum, where = (
                "subscriptionsPerSocket",
                settings.max_subscriptions_per_socket,
                "socket",
            )
        elif _open_per_user[user_id] >= settings.max_subscriptions_per_user:
            limit, maximum, where = (
                "subscriptionsPerUser",
                settings.max_subscriptions_per_user,
                "user",
            )
        else:
            return None
        return RateLimited(
            f"Too many operations open on this {where} (at most {maximum}): complete one first.",
            limit=limit,
            maximum=maximum,
        )

    def _writer(self) -> FrameWriter | None:
        """The socket's pre-framed writer (:class:`graph.ws_compression.FrameWriter`), made
        once, shared by its operations."""
        if self._frame_writer is _UNSET:
            self._frame_writer = frame_writer(self.websocket.ws)
        return self._frame_writer

    async def send_message(self, message: Any) -> None:
        """Send a protocol message (``connection_ack``, ``pong``, ``error``, ``complete``,
        a query's ``next``): pre-framed by the socket's :class:`FrameWriter` when it can (a
        storm's acknowledgements without starlette's, uvicorn's and wsproto's per-message
        path), else through uvicorn as strawberry does."""
        writer = self._writer()
        if writer is not None and writer.plain is not False:  # not a compressed socket
            encoded = self.view.encode_json(message)
            if isinstance(encoded, str) and writer.write_text(encoded.encode()):
                return
        await super().send_message(message)

    def _flush(self) -> None:
        """Write what a catch-up holds (:meth:`FrameWriter.cork`) before a close or the end of
        an operation: it was sent before them."""
        if self._frame_writer is not _UNSET and self._frame_writer is not None:
            self._frame_writer.flush()

    def _register(self, live: LiveOperation, user_id: int) -> None:
        self._live[live.id] = live
        self._user_id = user_id
        _open_per_user[user_id] += 1

    def _unregister(self, operation_id: str) -> LiveOperation | None:
        live = self._live.pop(operation_id, None)
        if live is not None and self._user_id is not None:
            _open_per_user[self._user_id] -= 1
            if _open_per_user[self._user_id] <= 0:
                del _open_per_user[self._user_id]
        return live

    async def handle_connection_init(self, message: Any) -> None:
        self._stop_init_deadline()
        if message.get("payload") is None:
            # the protocol allows a null (or no) payload: strawberry closed the socket with 4400
            message = {**message, "payload": {}}
        try:
            await super().handle_connection_init(message)
        except TooManySockets as refused:
            _too_many_sockets.refused_one(refused.maximum)
            await _close_quietly(self.websocket, CLOSE_TRY_AGAIN_LATER, str(refused))
            return
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            report_unavailable(exc)
            self._flush()
            await _close_quietly(
                self.websocket, CLOSE_TRY_AGAIN_LATER, "Service unavailable: retry shortly"
            )
            return
        if self.connection_init_received:
            # cancelled by now: the socket need not keep the timer's task for as long as it is open
            self.connection_init_timeout_task = None

    async def handle_message(self, message: Any) -> None:
        problem = frame_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        operation_id = message["id"]
        live = None
        if self.connection_acknowledged and operation_id not in self.operations:
            context = self.context
            try:
                viewer = (
                    await recheck_viewer(context.current_viewer) if context.current_viewer else None
                )
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # the operation never started: a coded ``error`` for it, the socket stays open
                report_unavailable(exc)
                error = {
                    "id": operation_id,
                    "type": "error",
                    "payload": [unavailable_error().formatted],
                }
                await self.send_message(error)
                return
            if viewer is None:
                self._flush()
                await _close_quietly(self.websocket, CLOSE_FORBIDDEN, "Forbidden")
                return
            refused = self._too_many(viewer.user_id)
            if refused is not None:
                await self.send_message(
                    {"id": operation_id, "type": "error", "payload": [refused.formatted]}
                )
                return
            context.current_viewer = viewer
            # the operation task copies these context variables when it is created
            start_operation_loaders(viewer.workspace_id)
            payload = message["payload"]
            extensions = payload.get("extensions")
            if extensions is not None and payload.get("query") is None:
                payload["query"] = ""  # named by hash only (frame_problem)
            # thousands of dashboards send the same document: keep one copy of its text
            payload["query"] = sys.intern(payload["query"])
            live = LiveOperation(
                id=operation_id,
                query=payload["query"],
                variables=payload.get("variables"),
                operation_name=payload.get("operationName"),
                send_text=self.websocket.ws.send_text,
                owner=self,
                writer=self._writer(),
                extensions=extensions,
            )
            start_live_operation(live)
        await super().handle_subscribe(message)
        if live is not None and operation_id in self.operations:  # not refused (limit)
            self._register(live, context.current_viewer.user_id)

    async def _handle_pre_execution_error(self, operation: Any, result: Any) -> None:
        """An operation that never ran gets an ``error`` frame with its coded errors, whatever
        the reason: strawberry closed the socket with 4400 for a syntax error (the token limit
        included) or an unknown operation name. A query's or mutation's variables that cannot
        be coerced arrive here too (:meth:`graph.schema.InboxSchema._stream_non_subscription`)."""
        await operation.send_initial_errors(result.errors)

    async def run_operation(self, operation: Any) -> None:
        if not await self._run_cached_subscription(operation):
            await super().run_operation(operation)
        if self.context.session_ended:  # ``logout`` ran over this socket and has answered
            self._flush()
            with contextlib.suppress(RuntimeError, OSError):  # closed already
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Logged out")

    async def _run_cached_subscription(self, operation: Any) -> bool:
        """Run a subscription whose document this schema has validated already without
        strawberry's per-operation stages (:meth:`graph.schema.InboxSchema.start_cached_subscription`:
        a reconnect storm's thousands of ``subscribe`` frames of a few documents), answering
        as strawberry's :meth:`run_operation` does: an ``error`` frame when its budget refuses
        it; a stream that refuses to start (its first iteration raised) ends with a ``next``
        carrying the coded error, then ``complete``. ``False``: not such a subscription,
        nothing done (strawberry's path runs it: a document named by hash, too)."""
        schema = self.schema
        start = getattr(schema, "start_cached_subscription", None)
        if start is None or self.root_value is not None:
            return False
        live = current_operation()  # this operation's (its task copied the context)
        try:
            started = await start(
                operation.query,
                operation.variables,
                operation.operation_name,
                self.context,
                live.extensions if live is not None else None,
            )
            if started is None:
                return False
            stream, refused = started
            if refused is not None:
                await operation.send_initial_errors(coded_errors([refused]))
                return True
            try:
                await anext(stream)
            except StopAsyncIteration:
                pass  # started: it lives on its own now (or was completed meanwhile)
            except Exception as exc:  # noqa: BLE001 - answered as strawberry answers it
                error = as_graphql_error(exc)
                schema.process_errors([error])
                root = schema._schema.subscription_type
                await operation.send_next(
                    ExecutionResult(data=None, errors=coded_errors([error], MASKED_MESSAGE, root))
                )
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except Exception as error:
            # as strawberry's ``run_operation``
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        return True

    def detached(self, live: LiveOperation) -> bool:
        """The subscription of ``live`` now runs on its own: its strawberry operation stays
        registered (its id is taken until ``complete``) but ends without a ``complete``.
        ``False`` when the operation is over already (the subscription must not start)."""
        operation = self.operations.get(live.id)
        if operation is None or self._live.get(live.id) is not live:
            return False
        operation.completed = True  # strawberry sends nothing more for it
        task, operation.task = operation.task, None
        if task is not None and not task.done():
            _finishing.add(task)  # held until it has unwound
            task.add_done_callback(_finishing.discard)
        return True

    def finished(self, live: LiveOperation) -> None:
        """The subscription of ``live`` ended by itself (it sent its last frames)."""
        if self._live.get(live.id) is live:  # not a later operation the client gave the same id
            self._unregister(live.id)
            self.operations.pop(live.id, None)

    def forget_id(self, id: str) -> None:
        # strawberry's ``del self.operations[id]`` raised KeyError (a traceback in the log) when
        # the client's ``complete`` or the socket's close had cleaned the operation up while its
        # task was sending its last frame
        self.operations.pop(id, None)
        self._unregister(id)

    async def cleanup_operation(self, operation_id: str) -> None:
        # from ``complete`` on, no ``next`` of this operation may be written, even by the bus;
        # those a catch-up holds (``FrameWriter.cork``) were written before it arrived
        self._flush()
        live = self._unregister(operation_id)
        if live is not None:
            live.complete()
        operation = self.operations.pop(operation_id, None)
        if operation is not None and operation.task is not None:
            operation.task.cancel()


__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_TRY_AGAIN_LATER",
    "InboxTransportWSHandler",
    "check_token",
    "frame_problem",
    "recheck_viewer",
]

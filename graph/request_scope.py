"""What a request carries down to the code it runs: an HTTP request (``graph.app``
``InboxGraphQL._limited``) or one query or mutation over a WebSocket
(``graph.schema.InboxSchema._stream_non_subscription``), each in a task of its own.

- Its deadline (``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` from its start, event loop time):
  what calls other services (a CRM: :func:`graph.crm.base.CrmHttpClient.request`) ends
  before it, so that their failure is a field's error, not the whole answer's ``TIMEOUT``.
- Whether it saved a write (:func:`graph.live.write` notes it): ``False`` until a commit is
  under way, ``None`` while one is (the request stopped then cannot tell), ``True`` once one
  committed. A request stopped by its time limit cannot roll back what was saved, and its
  ``TIMEOUT`` says so (``extensions.saved``, :class:`graph.errors.TimedOut`).

Tasks a request starts share its scope (they copy its context); code outside any request (the
webhook deliverer, the demo traffic) has none.
"""

from __future__ import annotations

import asyncio
import contextvars


class RequestScope:
    """One request's deadline (event loop time; ``None``: none) and what it saved."""

    __slots__ = ("deadline", "saved", "started")

    def __init__(self, seconds: float | None) -> None:
        self.started = asyncio.get_running_loop().time()
        self.deadline = None if seconds is None else self.started + seconds
        self.saved: bool | None = False

    def until(self, share: float) -> float | None:
        """The event loop time ``share`` of the request's time from its start (``None``:
        no deadline)."""
        if self.deadline is None:
            return None
        return self.started + share * (self.deadline - self.started)


_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "request_scope", default=None
)


def start_request(seconds: float | None) -> RequestScope:
    """The scope of the request starting in the current task, ``seconds`` from now its time
    limit."""
    scope = RequestScope(seconds)
    _scope.set(scope)
    return scope


def current_request() -> RequestScope | None:
    """The scope of the request the current task runs for, if any."""
    return _scope.get()


def note_commit(saved: bool | None) -> None:
    """Note that a write's commit is under way (``None``), done (``True``) or refused
    (``False``) for the current request, if any; nothing undoes a done one."""
    scope = _scope.get()
    if scope is not None and scope.saved is not True:
        scope.saved = saved


__all__ = ["RequestScope", "current_request", "note_commit", "start_request"]

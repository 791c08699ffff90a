"""A test hook: how many SQL statements each HTTP request ran.

Off unless ``INBOX_GRAPH_COUNT_SQL_STATEMENTS=1`` (only the query-count tests and
``bench/queries`` set it). When on, :func:`graph.app.create_app` adds the :class:`StatementCounter` middleware,
which answers every HTTP response with an ``X-SQL-Statements`` header: the statements the
request sent to the database (reads, writes, transaction scripts), counted through tortoise's
own hook, the ``tortoise.db_client`` logger that every client method of every backend writes
each statement to before running it. Production never attaches the handler nor the middleware.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-sql-statements"

_counter: ContextVar[list[int] | None] = ContextVar("sql_statement_counter", default=None)


class _CountingHandler(logging.Handler):
    """Counts the statements logged in the current request's context."""

    def emit(self, record: logging.LogRecord) -> None:
        counter = _counter.get()
        if counter is not None:
            counter[0] += 1


class StatementCounter:
    """ASGI middleware: one counter per HTTP request, reported in the ``X-SQL-Statements``
    response header (the count when the response starts, i.e. after the GraphQL execution)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        token = _counter.set(counter)

        async def send_with_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.encode(), str(counter[0]).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_count)
        finally:
            _counter.reset(token)


def stop_counting() -> None:
    """Count none of the statements run from here on in the current context: for a task a
    request starts but does not wait for (it copied the request's context, counter included),
    whose statements would land in the count or not depending on timing."""
    _counter.set(None)


def attach_handler() -> None:
    """Count the statements of requests wrapped in :class:`StatementCounter` from now on."""
    db_log = logging.getLogger("tortoise.db_client")
    if not any(isinstance(h, _CountingHandler) for h in db_log.handlers):
        db_log.addHandler(_CountingHandler(level=logging.DEBUG))
        db_log.setLevel(logging.DEBUG)
        db_log.propagate = False  # the statements themselves stay out of the server log


__all__ = ["HEADER", "StatementCounter", "attach_handler", "stop_counting"]

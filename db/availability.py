"""Whether a failure means "the database cannot be reached right now", and one log line per
change of that state.

A database that restarts, fails over or refuses connections for a while is an outage, not a
bug: HTTP answers 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After`` (:mod:`graph.app`), a
WebSocket ``subscribe`` gets a coded ``error`` (:mod:`graph.websocket`), open subscriptions keep
their place and catch up from the outbox once it is back (:mod:`graph.subscriptions`). The
classification lives here, in one place; so does the log: the first failure logs one warning,
the failures after it nothing, the first success after them one line again (issue 16: a log
that repeats a traceback per request hides what happened).
"""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
from tortoise.exceptions import DBConnectionError

log = logging.getLogger("db.availability")

RETRY_AFTER_SECONDS = 2
"""What ``Retry-After`` advises while the database is unreachable (seconds)."""

_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
"""PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many connections (a
server restarting or failing over)."""

_SQLITE_TRANSIENT = ("database is locked", "disk i/o error", "unable to open database file")

_ASYNCPG_CONNECTION_ERRORS = (
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08: the connection broke
    asyncpg.exceptions.InterfaceError,  # "connection is closed", "pool is closing"
    asyncpg.exceptions.InternalClientError,
)


def _causes(error: BaseException):
    """``error`` and what caused it: its ``__cause__`` and ``__context__`` chains and a GraphQL
    error's ``original_error`` (graphql-core's located errors wrap a resolver's exception
    without chaining it); 16 at most."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack and len(seen) < 16:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        original = getattr(error, "original_error", None)
        if isinstance(original, BaseException):
            stack.append(original)
        stack += (error.__context__, error.__cause__)


def is_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) says the database could not be reached or went
    away: refused or reset connections, timeouts, PostgreSQL restarting, SQLite locked."""
    if error is None:
        return False
    for cause in _causes(error):
        if isinstance(cause, (ConnectionError, TimeoutError, DBConnectionError)):
            return True
        if isinstance(cause, _ASYNCPG_CONNECTION_ERRORS):
            return True
        if getattr(cause, "sqlstate", None) in _UNAVAILABLE_SQLSTATES:
            return True
        if isinstance(cause, sqlite3.OperationalError) and str(cause).lower().startswith(
            _SQLITE_TRANSIENT
        ):
            return True
    return False


class _State:
    down = False


def report_unavailable(error: BaseException) -> None:
    """Record a failure to reach the database; logs one line when it was reachable before."""
    if not _State.down:
        _State.down = True
        log.warning("database unavailable (%s: %s); retrying", type(error).__name__, error)


def report_available() -> None:
    """Record a successful round trip; logs one line when the database was unreachable."""
    if _State.down:
        _State.down = False
        log.warning("database available again")


class QuietConnectionErrors(logging.Filter):
    """Drops the traceback of a log record about an unreachable database (asyncpg's pool logs
    one per reconnection attempt), keeping its one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and is_unavailable(record.exc_info[1]):
            record.msg = f"{record.getMessage()} ({record.exc_info[1]!r})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


__all__ = [
    "RETRY_AFTER_SECONDS",
    "QuietConnectionErrors",
    "is_unavailable",
    "report_available",
    "report_unavailable",
]

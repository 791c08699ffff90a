"""Tortoise's SQLite engine, with transactions that take the write lock when they begin.

Tortoise opens every transaction with a deferred ``BEGIN``: SQLite takes the write lock at
the transaction's first write. A transaction that read first (every write here reads before
it writes: ``graph.live.write``) and finds that another process committed since its read
cannot take the lock any more: SQLite answers "database is locked" at once, whatever the busy
timeout, because waiting could not make its snapshot current. With two processes writing one
file (``inbox-graph serve --workers 2`` with Redis, a command run beside a server) such
writes were refused as ``SERVICE_UNAVAILABLE``. ``BEGIN IMMEDIATE`` takes the write lock
first, waiting up to the busy timeout (5 seconds, Python's ``sqlite3`` default) for another
process's transaction to end; readers are not blocked (WAL). Within one process, tortoise
already runs one transaction at a time on its single connection, so taking the lock early costs
nothing there.

Selected by :func:`db.config.tortoise_config` for ``sqlite://`` URLs (``engine``: this module).
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction begun with ``BEGIN IMMEDIATE`` (the module docstring)."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateTransactionContext(SqliteTransactionContext):
    """Tortoise's transaction context, but one whose ``BEGIN`` fails (the lock not had within
    the busy timeout) gives the connection back: tortoise's keeps its lock, and every later
    statement of the process would wait for it forever."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class ImmediateSqliteClient(SqliteClient):
    """Tortoise's SQLite client whose transactions begin with ``BEGIN IMMEDIATE``."""

    def _in_transaction(self) -> TransactionContext:
        return ImmediateTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
"""What tortoise builds for a connection whose ``engine`` is this module."""

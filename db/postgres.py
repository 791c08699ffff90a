"""Tortoise's PostgreSQL engine (asyncpg) with a pool that hands connections back at once,
and transactions that give their connection back when they cannot begin
(:class:`ReleasingTransactionContext`).

Tortoise takes a connection from asyncpg's pool for every statement outside a transaction
and gives it back when the statement is read. asyncpg's :meth:`asyncpg.pool.Pool.release`
runs the release in a task of its own (:func:`asyncio.shield`, so that a cancelled caller
still returns the connection): a task to create, schedule and wait for, two turns of the
event loop, for every statement of every request (about 5 % of a timeline request's CPU,
issue 23).

A release has nothing to wait for when the connection is open and idle, in no transaction,
not being cancelled, not due to be closed (its query count, the pool's generation) and its
reset runs no statement (:class:`db.config.PooledConnection`): then no await in it suspends,
nothing can cancel it half-way, and :class:`InlineReleasePool` runs it in the caller's task,
when another connection is idle in the pool too. Any other release goes through asyncpg's own
path, shielded as before.

The pool must stay fair when it is exhausted: tasks waiting for a connection get one in the
order they asked. asyncpg's shielded release lets the waiter it wakes run before the releasing
task goes on; released inline, a task running statements back to back took its connection
back at once, every time, and the woken waiter queued again behind the others (a helper's
review, 2026-12-07). So a release into an empty pool, where tasks may be waiting, is asyncpg's.
"""

from __future__ import annotations

import inspect
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionContext, TransactionContextPooled
from tortoise.backends.base_postgres.client import translate_exceptions
from tortoise.connection import get_connections


class InlineReleasePool(asyncpg.Pool):
    """asyncpg's pool whose :meth:`release` of an idle connection runs in the caller's task
    (the module's docstring); any other release is asyncpg's."""

    __slots__ = ()

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        holder = getattr(connection, "_holder", None)
        if (
            type(connection) is asyncpg.pool.PoolConnectionProxy
            and holder is not None
            and holder._pool is self
            and connection._con is not None
            and self._releases_at_once(holder)
        ):
            connection._con._on_release()
            await holder.release(timeout if timeout is not None else holder._timeout)
            return
        await super().release(connection, timeout=timeout)

    def _releases_at_once(self, holder: Any) -> bool:
        """Whether ``holder.release`` can return without suspending (asyncpg's
        ``PoolConnectionHolder.release`` and ``Connection.reset``, 0.30 to 0.32), and no task
        can be waiting for a connection (another one is idle in the pool's queue: a task
        waits only while it is empty)."""
        con = holder._con
        if con is None or con.is_closed() or self._reset is not None or self._queue.empty():
            return False
        protocol = con._protocol
        return (
            protocol.queries_count < holder._max_queries
            and holder._generation == self._generation
            and not protocol._is_cancelling()
            and not protocol.is_in_transaction()
            and con._top_xact is None
            and not con.get_reset_query()
        )


class ReleasingTransactionContext(TransactionContextPooled):
    """Tortoise's transaction on a connection of the pool, which gives the connection back
    when the transaction cannot begin: ``BEGIN`` failed (the database went away) or the task
    was cancelled while it ran (a request past its time limit). Tortoise's kept the
    connection in use for ever, and its task's later statements on the transaction that never
    began: a few such requests and the pool had nothing left to give (a helper's review,
    2026-12-07)."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        try:
            return await super().__aenter__()
        except BaseException:
            token = getattr(self, "token", None)  # set once the connection is acquired
            if token is not None:
                get_connections().reset(token)
                await self.client._parent._pool.release(self.client._connection)
            raise


class InboxAsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client on an :class:`InlineReleasePool`, whose transactions give
    their connection back when they cannot begin (:class:`ReleasingTransactionContext`)."""

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await InlineReleasePool(None, **{**_POOL_DEFAULTS, **kwargs})

    def _in_transaction(self) -> TransactionContext:
        return ReleasingTransactionContext(TransactionWrapper(self), self._pool_init_lock)

    @translate_exceptions
    async def execute_query(self, query: str, values: list | None = None) -> tuple[int, list]:
        """Tortoise's ``execute_query`` (1.1: ``(rows affected, [])`` of an ``UPDATE`` or a
        ``DELETE``, ``(0, [])`` of an ``INSERT`` (the second word of PostgreSQL's ``INSERT 0
        n``), else ``(row count, rows)``; the statement logged first, its errors translated),
        telling the kinds apart by the statement's first word: tortoise upper-cased the whole
        text to read it, 8 KB for a timeline's combined read (``db.combined``), about 1.5 % of
        that request's instructions (issue 23). Statements in a transaction go through
        tortoise's own ``TransactionWrapper`` (a mutation's, short ones), unchanged."""
        async with self.acquire_connection() as connection:
            self.log.debug("%s: %s", query, values)
            params = [query, *values] if values else [query]
            if query.lstrip()[:6].upper() in _WRITES:
                result = await connection.execute(*params)
                try:
                    rows_affected = int(result.split(" ")[1])
                except (AttributeError, IndexError, ValueError):
                    rows_affected = 0
                return rows_affected, []
            rows = await connection.fetch(*params)
            return len(rows), rows


_WRITES = frozenset({"UPDATE", "DELETE", "INSERT"})
"""The first words of the statements :meth:`InboxAsyncpgClient.execute_query` executes
without reading rows (tortoise's ``startswith`` of the same three)."""


_POOL_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(asyncpg.create_pool).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
}
"""What :func:`asyncpg.create_pool` passes to its pool for an option not given."""


client_class = InboxAsyncpgClient
"""What tortoise builds for a connection whose ``engine`` is this module."""

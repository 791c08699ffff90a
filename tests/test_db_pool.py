"""The PostgreSQL pool (``db.config.PooledConnection``): a connection going back to the pool
runs no reset statement of asyncpg's (issue 23: it doubled a request's round trips), and a
transaction left open on it is still rolled back. Read from PostgreSQL itself
(``pg_stat_activity``: each backend's last statement and state). SQLite has no pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from db.config import tortoise_config
from db.migrate import apply_migrations
from db.postgres import InboxAsyncpgClient
from tests.support import models_on

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="runs in the PostgreSQL run of the suite (SQLite has no connection pool)",
)


@contextlib.asynccontextmanager
async def pool_of(database_url: str, **credentials: object):
    """The ORM on the migrated ``database_url``, its pool opened with ``credentials``
    (asyncpg's ``minsize``, ``maxsize``, ``max_queries``, ``application_name``...); yields its
    connection."""
    await apply_migrations(database_url)
    config = tortoise_config(database_url)
    config["connections"]["default"]["credentials"].update(credentials)
    async with models_on(config):
        yield Tortoise.get_connection("default")


@pytest.fixture
async def client(database_url: str):
    name = f"inbox-graph-pool-{uuid.uuid4().hex[:8]}"
    async with pool_of(database_url, application_name=name) as connection:
        observer = await asyncpg.connect(database_url)
        try:
            yield connection, observer, name
        finally:
            await observer.close()


@pytest.fixture
def shielded_releases(monkeypatch) -> list[object]:
    """The releases that went through asyncpg's own (shielded) ``Pool.release``, not
    ``db.postgres.InlineReleasePool``'s inline path."""
    seen: list[object] = []
    original = asyncpg.Pool.release

    async def release(self, connection, *, timeout=None):
        seen.append(connection)
        return await original(self, connection, timeout=timeout)

    monkeypatch.setattr(asyncpg.Pool, "release", release)
    return seen


async def backends(observer: asyncpg.Connection, name: str) -> list[asyncpg.Record]:
    return await observer.fetch(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = $1", name
    )


async def test_a_statement_leaves_its_connection_without_a_reset(client) -> None:
    connection, observer, name = client
    for _ in range(3):
        await connection.execute_query("SELECT 1 AS pooled_probe")
    found = await backends(observer, name)
    assert found, "the pool's connections are not in pg_stat_activity"
    assert all("pooled_probe" in row["query"] for row in found), [r["query"] for r in found]
    assert not any("RESET ALL" in row["query"] for row in found)


async def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(
    client, shielded_releases
) -> None:
    connection, observer, name = client
    table = f"pool_probe_{uuid.uuid4().hex[:8]}"
    await observer.execute(f"CREATE TABLE {table} (id INT)")
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        async with connection.acquire_connection() as raw:
            await raw.execute("BEGIN")
            await raw.execute(f"INSERT INTO {table} VALUES (1)")
        assert len(shielded_releases) == 1  # asyncpg's release rolled it back
        assert await observer.fetchval(f"SELECT count(*) FROM {table}") == 0
        states = {row["state"] for row in await backends(observer, name)}
        assert "idle in transaction" not in states, states
        _, rows = await connection.execute_query(f"SELECT count(*) AS n FROM {table}")
        assert rows[0]["n"] == 0
    finally:
        loop.set_exception_handler(previous)
        await observer.execute(f"DROP TABLE {table}")
    assert any("active transaction" in message for message in reported), reported


async def test_a_statement_returns_its_connection_without_a_task_of_its_own(client) -> None:
    """``db.postgres.InlineReleasePool``: an idle connection goes back to the pool in the
    caller's task (asyncpg's release made a task for it, two turns of the event loop)."""
    connection, _, _ = client
    await connection.execute_query("SELECT 1")  # the pool is open
    loop = asyncio.get_running_loop()
    created: list[object] = []
    previous = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        for _ in range(3):
            _, rows = await connection.execute_query("SELECT 2 AS n")
            assert rows[0]["n"] == 2
    finally:
        loop.set_task_factory(previous)
    assert created == [], created


async def test_a_connection_past_its_query_limit_is_replaced(database_url: str) -> None:
    """A connection due to be closed (asyncpg's ``max_queries``) goes through asyncpg's own
    release, which closes it; the next statement runs on a new one."""
    async with pool_of(database_url, max_queries=2, minsize=1, maxsize=1) as connection:
        pids = set()
        for _ in range(6):
            _, rows = await connection.execute_query("SELECT pg_backend_pid() AS pid")
            pids.add(rows[0]["pid"])
    assert len(pids) >= 2, pids


async def test_a_statement_cancelled_while_running_leaves_a_usable_connection(
    client, shielded_releases
) -> None:
    """A caller cancelled in the middle of a statement (a request past its time limit): its
    connection goes back through asyncpg's shielded release, which waits for PostgreSQL to
    cancel the statement; the pool's next statement answers."""
    connection, observer, name = client
    await connection.execute_query("SELECT 1")
    assert shielded_releases == []
    running = asyncio.create_task(connection.execute_query("SELECT pg_sleep(30)"))
    for _ in range(100):
        if any(
            "pg_sleep" in (row["query"] or "") and row["state"] == "active"
            for row in await backends(observer, name)
        ):
            break
        await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(shielded_releases) == 1
    for _ in range(3):
        _, rows = await asyncio.wait_for(connection.execute_query("SELECT 3 AS n"), 5)
        assert rows[0]["n"] == 3
    for _ in range(100):
        states = [r for r in await backends(observer, name) if "pg_sleep" in (r["query"] or "")]
        if all(r["state"] != "active" for r in states):
            break
        await asyncio.sleep(0.05)
    assert all(r["state"] != "active" for r in states), states


async def test_tasks_waiting_for_a_connection_get_one_in_the_order_they_asked(
    database_url: str,
) -> None:
    """An exhausted pool stays fair: a task running statements back to back gives its
    connection to the task that waited longest, as asyncpg's own release does (released in the
    caller's task, the connection went straight back to it, every time: a helper's review)."""
    async with pool_of(database_url, minsize=1, maxsize=1) as connection:
        await connection.execute_query("SELECT 1")
        done: list[str] = []

        async def statements(name: str, count: int) -> None:
            for number in range(count):
                await connection.execute_query("SELECT 1")
                done.append(f"{name}{number}")

        busy = asyncio.create_task(statements("A", 20))
        await asyncio.sleep(0)  # A takes the pool's one connection
        waiting = [asyncio.create_task(statements(name, 1)) for name in ("B", "C")]
        await asyncio.gather(busy, *waiting)
    assert done.index("B0") < done.index("C0") <= 3, done


async def test_a_transaction_that_cannot_begin_gives_its_connection_back(
    database_url: str, monkeypatch
) -> None:
    """``BEGIN`` fails (the database went away for a moment): the connection goes back to the
    pool (``db.postgres.ReleasingTransactionContext``), and the next statement and transaction
    of the same task run (tortoise kept it in use, and its task on the failed transaction)."""
    began = TransactionWrapper.begin

    async def failing(self) -> None:
        await asyncio.sleep(0)
        raise ConnectionResetError("the database went away")

    async with pool_of(database_url, minsize=1, maxsize=1) as connection:
        monkeypatch.setattr(TransactionWrapper, "begin", failing)
        for _ in range(2):
            with pytest.raises(ConnectionResetError):
                async with in_transaction("default"):
                    pass
        monkeypatch.setattr(TransactionWrapper, "begin", began)
        assert Tortoise.get_connection("default") is connection
        _, rows = await asyncio.wait_for(connection.execute_query("SELECT 4 AS n"), 5)
        assert rows[0]["n"] == 4
        async with in_transaction("default") as transaction:
            _, rows = await transaction.execute_query("SELECT txid_current_if_assigned() AS t")
        assert rows[0]["t"] is None  # a transaction of its own, nothing written


async def test_tasks_cancelled_as_their_transactions_begin_leave_the_pool_usable(
    database_url: str,
) -> None:
    """A request past its time limit, cancelled at any point of ``async with
    in_transaction()``: cancelled at each of the first 30 turns of the event loop, none keeps
    a connection (with tortoise's own context some did, and the pool of two ran dry)."""
    async with pool_of(database_url, minsize=1, maxsize=2) as connection:
        await connection.execute_query("SELECT 1")

        async def transaction() -> None:
            async with in_transaction("default") as inside:
                await inside.execute_query("SELECT 1")

        for turns in range(30):
            task = asyncio.create_task(transaction())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _ in range(3):
            _, rows = await asyncio.wait_for(connection.execute_query("SELECT 5 AS n"), 5)
            assert rows[0]["n"] == 5
        await asyncio.wait_for(transaction(), 5)


async def test_writes_answer_their_count_and_reads_their_rows(client) -> None:
    """``db.postgres.InboxAsyncpgClient.execute_query`` tells a write from a read by the
    statement's first word, in any case and after any blank, as tortoise's did by upper-casing
    the whole text: an update or a delete gives the rows it changed and no rows, an insert
    ``(0, [])`` (tortoise's reading of PostgreSQL's ``INSERT 0 n``), a read its rows; errors
    come back as tortoise's."""
    connection, observer, _ = client
    assert type(connection).execute_query is InboxAsyncpgClient.execute_query
    table = f"kinds_probe_{uuid.uuid4().hex[:8]}"
    await observer.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    try:
        assert await connection.execute_query(
            f"  insert INTO {table} SELECT generate_series(1, $1) RETURNING id", [3]
        ) == (0, [])  # a write: no rows read, though it returns some
        assert await observer.fetchval(f"SELECT count(*) FROM {table}") == 3
        assert await connection.execute_query(f"\nUpdate {table} SET id = id + 10") == (3, [])
        assert await connection.execute_query(f"DELETE FROM {table} WHERE id > $1", [12]) == (1, [])
        count, rows = await connection.execute_query(
            f"WITH kept AS (SELECT id FROM {table}) SELECT id FROM kept ORDER BY id"
        )
        assert (count, [row["id"] for row in rows]) == (2, [11, 12])
        # a read whose text holds a write's word further on is still a read
        count, rows = await connection.execute_query(f"SELECT 'UPDATE' AS word FROM {table}")
        assert (count, [row["word"] for row in rows]) == (2, ["UPDATE", "UPDATE"])
        with pytest.raises(IntegrityError):
            await connection.execute_query(f"INSERT INTO {table} VALUES (11)")
        with pytest.raises(OperationalError):
            await connection.execute_query(f"SELEC id FROM {table}")
    finally:
        await observer.execute(f"DROP TABLE {table}")

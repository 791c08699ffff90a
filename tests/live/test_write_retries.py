"""``graph.live.write`` runs a transaction again when the database resolves a race against it
(deadlock, serialization failure), whatever error type the driver raises it as.

Two writers lock the same two rows in opposite orders, so PostgreSQL detects a deadlock and
aborts one of them (asyncpg's ``DeadlockDetectedError``, which tortoise does not wrap). Both
writes must still commit: the loser's whole operation runs again. SQLite takes one writer at a
time and cannot deadlock, so this runs in the PostgreSQL run of the suite.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from graph.live import Transaction, write
from tests.live.helpers import scratch_table

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="runs in the PostgreSQL run of the suite (SQLite cannot deadlock)",
)


@pytest.fixture
async def probe_rows(database_url: str):
    columns, rows = "id INT PRIMARY KEY, hits INT NOT NULL", "(1, 0), (2, 0)"
    async with scratch_table(database_url, "deadlock_probe", columns, rows) as connection:
        yield connection


async def test_a_deadlocked_write_runs_again_and_both_writes_commit(probe_rows) -> None:
    both_hold_one = asyncio.Barrier(2)
    runs = {"first": 0, "second": 0}

    def locking(name: str, first_row: int, second_row: int):
        async def operation(tx: Transaction) -> str:
            runs[name] += 1
            lock = "UPDATE deadlock_probe SET hits = hits + 1 WHERE id = $1"
            await tx.connection.execute_query(lock, [first_row])
            if runs[name] == 1:
                await both_hold_one.wait()
            await tx.connection.execute_query(lock, [second_row])
            return name

        return operation

    results = await asyncio.wait_for(
        asyncio.gather(
            write(None, 1, locking("first", 1, 2)),
            write(None, 1, locking("second", 2, 1)),
        ),
        timeout=30,
    )

    assert results == ["first", "second"]
    assert sorted(runs.values()) == [1, 2], "exactly one writer lost the deadlock and ran again"
    rows = await probe_rows.execute_query_dict("SELECT id, hits FROM deadlock_probe ORDER BY id")
    assert rows == [{"id": 1, "hits": 2}, {"id": 2, "hits": 2}], "each write counted once"

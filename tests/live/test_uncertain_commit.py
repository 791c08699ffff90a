"""``graph.live.write`` when the connection goes while its COMMIT is under way: the database
may have saved the write, so the error a client gets says so (``SaveUncertain``:
``SERVICE_UNAVAILABLE``, ``extensions.saved`` null) instead of the usual "nothing was
changed", which told a client to send it again without its ``idempotencyKey`` (a helper's
review). A connection that goes before the COMMIT is the usual outage."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from graph.errors import SaveUncertain, timed_out_message
from graph.live import Transaction, write
from graph.request_scope import start_request
from tests.live.helpers import scratch_table

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def probe_table(database_url: str):
    async with scratch_table(database_url, "commit_probe", "id INT PRIMARY KEY") as connection:
        yield connection


async def _transaction_class() -> type:
    async with in_transaction() as connection:
        return type(connection)


def _insert(row: int):
    async def operation(tx: Transaction) -> int:
        await tx.connection.execute_query(f"INSERT INTO commit_probe (id) VALUES ({row})")
        return row

    return operation


async def _rows(connection) -> list[int]:
    return [r["id"] for r in await connection.execute_query_dict("SELECT id FROM commit_probe")]


async def test_a_connection_lost_during_the_commit_may_have_saved_the_write(
    probe_table, monkeypatch
) -> None:
    wrapper = await _transaction_class()
    committed = wrapper.commit

    async def committed_then_lost(self) -> None:
        await committed(self)
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(wrapper, "commit", committed_then_lost)
    with pytest.raises(SaveUncertain) as uncertain:
        await write(None, 1, _insert(1))
    assert uncertain.value.extensions["code"] == "SERVICE_UNAVAILABLE"
    assert uncertain.value.extensions["saved"] is None
    assert "may have been saved" in uncertain.value.message
    assert await _rows(probe_table) == [1]  # it was


async def test_a_connection_lost_before_the_commit_is_the_usual_outage(probe_table) -> None:
    async def operation(tx: Transaction) -> None:
        await _insert(2)(tx)
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(ConnectionResetError):  # answered SERVICE_UNAVAILABLE: nothing saved
        await write(None, 1, operation)
    assert await _rows(probe_table) == []


async def test_the_request_knows_whether_its_write_was_saved(probe_table, monkeypatch) -> None:
    """What a request stopped by its time limit says (``extensions.saved``,
    :mod:`graph.request_scope`): ``false`` before a commit, ``null`` while one is under way
    (the commit may be done), ``true`` once one is."""
    running = start_request(None)
    assert running.saved is False
    await write(None, 1, _insert(3))
    assert running.saved is True

    running = start_request(None)
    wrapper = await _transaction_class()
    committed = wrapper.commit

    async def slow(self) -> None:
        await asyncio.sleep(10)
        await committed(self)

    monkeypatch.setattr(wrapper, "commit", slow)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await write(None, 1, _insert(4))
    # (whether it was depends on the driver: SQLite's commit runs on in its thread, a
    # PostgreSQL connection given back mid-commit is reset)
    assert running.saved is None
    assert "may have been saved" in timed_out_message("request", 30, running.saved)

"""SQLite's engine (``db.sqlite``): a transaction takes the write lock when it begins, and one
that cannot have it within the busy timeout fails as "the database is unavailable" and gives
the process's connection back (tortoise's own context kept it: every later statement waited
forever). Another process holds the lock here: Python's ``sqlite3`` in the test."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from db.availability import is_unavailable
from db.config import tortoise_config
from tests.conftest import fresh_database
from tests.support import models_on


@pytest.fixture
def sqlite_file(tmp_path: Path):
    """A migrated SQLite file, whatever database the suite runs on."""
    with fresh_database(tmp_path) as url:
        if not url.startswith("sqlite://"):
            pytest.skip("runs in the SQLite run of the suite")
        yield url


async def test_a_transaction_holds_the_write_lock_from_its_begin(sqlite_file: str) -> None:
    path = sqlite_file.removeprefix("sqlite://")
    async with models_on(sqlite_file), in_transaction() as connection:
        await connection.execute_query("SELECT count(*) FROM workspace")  # a read only
        with (
            closing(sqlite3.connect(path, timeout=0)) as other,
            pytest.raises(sqlite3.OperationalError, match="database is locked"),
        ):
            other.execute("BEGIN IMMEDIATE")


async def test_a_begin_refused_for_the_lock_gives_the_connection_back(sqlite_file: str) -> None:
    config = tortoise_config(sqlite_file)
    config["connections"]["default"]["credentials"]["busy_timeout"] = 200  # milliseconds
    async with models_on(config):
        path = sqlite_file.removeprefix("sqlite://")
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(Exception) as refused:
                async with in_transaction():
                    pass
            assert is_unavailable(refused.value), repr(refused.value)
            other.execute("ROLLBACK")
        connection = Tortoise.get_connection("default")
        rows = await asyncio.wait_for(
            connection.execute_query_dict("SELECT count(*) AS n FROM workspace"), 5
        )
        assert rows == [{"n": 0}]
        async with asyncio.timeout(5), in_transaction() as transaction:
            await transaction.execute_query("SELECT 1")

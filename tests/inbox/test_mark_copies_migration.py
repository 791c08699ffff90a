"""Migration 0017 (unseen marks' copies of their conversation's status and facts) on a
PostgreSQL database that is being written while it runs, as in a rolling deploy where old
instances keep serving: a conversation closed by an old instance during the migration is closed
on its marks too, whenever its change commits."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from db.config import tortoise_config
from tests.conftest import _postgres_admin_url, _psql
from tests.inbox.test_indicators import DRIFTED_MARKS
from tests.support import models_on

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONFIGURED = os.environ.get("DATABASE_URL", "")


@pytest.mark.skipif(
    not CONFIGURED.startswith(("postgres://", "postgresql://")),
    reason="PostgreSQL only: SQLite has one writer, which the migration holds off",
)
async def test_a_conversation_closed_while_the_copies_are_made_is_closed_on_its_marks():
    name, url = _postgres_admin_url(CONFIGURED)
    _psql(CONFIGURED, f'CREATE DATABASE "{name}"')
    raw = None
    try:
        config = tortoise_config(url)
        await migrate(config=config, target="models.0016_webhook_history_start")
        await Tortoise.close_connections()
        from db.seed import seed_demo

        async with models_on(config):
            await seed_demo(300)
        raw = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        conversation = await raw.fetchval(
            "SELECT m.conversation_id FROM unseen_mark m JOIN conversation c "
            "ON c.id = m.conversation_id WHERE c.status = 'OPEN' LIMIT 1"
        )
        # an instance still on the old code closes it, and commits while the migration runs
        closing = raw.transaction()
        await closing.start()
        await raw.execute(
            "UPDATE conversation SET status = 'CLOSED', open_contact_id = NULL WHERE id = $1",
            conversation,
        )
        migrating = asyncio.create_task(migrate(config=config))
        await asyncio.sleep(2)
        await closing.commit()
        await asyncio.wait_for(migrating, 120)
        assert await raw.fetchval(DRIFTED_MARKS) == 0
        statuses = await raw.fetch(
            "SELECT conversation_status FROM unseen_mark WHERE conversation_id = $1", conversation
        )
        assert statuses and {row[0] for row in statuses} == {"CLOSED"}
    finally:
        if raw is not None:
            await raw.close()
        await Tortoise.close_connections()
        _psql(CONFIGURED, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)

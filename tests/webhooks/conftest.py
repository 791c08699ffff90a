"""Webhook tests: the API on a database of their own (no other test server's deliverer claims
their endpoints), with short delivery timeouts and retry waits, and a local receiver
(:class:`tests.webhooks.receiver.Receiver`)."""

from __future__ import annotations

import contextlib

import pytest

from tests.conftest import fresh_database as root_fresh_database
from tests.support import serve
from tests.webhooks.receiver import Receiver

FAST_WEBHOOKS = {
    "INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS": "2",
    "INBOX_GRAPH_WEBHOOK_RETRY_MIN_SECONDS": "0.2",
    "INBOX_GRAPH_WEBHOOK_RETRY_MAX_SECONDS": "2",
    "INBOX_GRAPH_WEBHOOK_POLL_SECONDS": "0.1",
}


@contextlib.contextmanager
def fresh_database(tmp_path_factory: pytest.TempPathFactory):
    """A new database with no rows (SQLite file, or a PostgreSQL database dropped afterwards):
    :func:`tests.conftest.fresh_database` in a folder of its own."""
    with root_fresh_database(tmp_path_factory.mktemp("webhooks-db")) as url:
        yield url


@pytest.fixture(scope="package")
def webhook_database_url(tmp_path_factory: pytest.TempPathFactory):
    """A fresh, empty database for the webhook tests."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="package")
def server_env(server_env: dict[str, str], webhook_database_url: str) -> dict[str, str]:
    return {**server_env, "DATABASE_URL": webhook_database_url, **FAST_WEBHOOKS}


@pytest.fixture(scope="package")
def served(server_env: dict[str, str]):
    """The API, as in the root conftest, on the webhook tests' database and settings (the
    ``world`` fixture builds its workspace on this server)."""
    server = serve(server_env)
    yield server
    server.stop()


@pytest.fixture
async def receiver():
    """A local HTTP receiver, started; stopped after the test."""
    receiving = Receiver()
    await receiving.start()
    yield receiving
    await receiving.stop()

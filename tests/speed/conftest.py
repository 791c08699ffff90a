"""The query-count tests run against their own server with the statement-count hook on
(``INBOX_GRAPH_COUNT_SQL_STATEMENTS=1``); the rest of the suite serves the production path."""

from __future__ import annotations

import pytest

from tests.support import serve


@pytest.fixture(scope="session")
def served(server_env: dict[str, str]):
    server = serve({**server_env, "INBOX_GRAPH_COUNT_SQL_STATEMENTS": "1"})
    yield server
    server.stop()

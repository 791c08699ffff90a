"""The query-count tests run against their own server with the statement-count hook on
(``INBOX_GRAPH_COUNT_SQL_STATEMENTS=1``); the rest of the suite serves the production path.

That server keeps a cached viewer for an hour (``INBOX_GRAPH_VIEWER_CACHE_SECONDS``, 10 s by
default): a count is the operation's own once its token was used twice before it
(``test_statement_counts.statements``), but a cached viewer reaching its 10 s between those
uses and the counted request was read again: one statement more (10 against
9 on a backward page, on a loaded machine). The cache's other rules (generations, a token's
own expiry) still apply there."""

from __future__ import annotations

import pytest

from tests.support import serve


@pytest.fixture(scope="session")
def served(server_env: dict[str, str]):
    server = serve(
        {
            **server_env,
            "INBOX_GRAPH_COUNT_SQL_STATEMENTS": "1",
            "INBOX_GRAPH_VIEWER_CACHE_SECONDS": "3600",
        }
    )
    yield server
    server.stop()

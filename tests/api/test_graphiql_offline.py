"""GraphiQL works offline (issue 19, part 7): its assets are served by the API itself
(``graph/ide.py``, installed from ``graph/ide/package-lock.json``), so headless Chromium with
every host but the served app cut off loads the IDE and runs a query in it.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it): where it is missing the
browser test skips, except under CI (``CI`` set), where it fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from graph.ide import MODULES
from tests.clients import npm_ci, run_node
from tests.support import serve

CHROMIUM = Path("/usr/bin/chromium")
IDE = MODULES.parent
IDE_ASSETS = ["react", "react-dom", "js-cookie", "graphiql", "@graphiql/plugin-explorer"]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is needed by this test and missing on a CI machine")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def ide(server_env):
    """A server started once the assets are installed (it finds them when it starts)."""
    npm_ci(IDE)  # the server finds the assets when it starts
    server = serve(server_env)
    yield server
    server.stop()


async def test_the_page_names_only_assets_of_this_server(ide):
    async with httpx.AsyncClient() as http:
        page = await http.get(ide.http_url, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "unpkg.com" not in page.text and "https://" not in page.text.split("<script>")[0]
        base = ide.http_url.removesuffix("/graphql")
        for package in IDE_ASSETS:
            assert f'"graphiql/{package}/' in page.text, package
        licence = await http.get(f"{base}/graphiql/react/LICENSE")
        assert licence.status_code == 200 and "MIT License" in licence.text
        script = await http.get(f"{base}/graphiql/graphiql/graphiql.min.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        for other in ("graphiql/package.json", "react/index.js", "..%2F..%2Fapp.py", "nope"):
            refused = await http.get(f"{base}/graphiql/{other}")
            assert refused.status_code == 404, other
            assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_chromium_runs_a_query_in_graphiql_with_the_network_cut(ide):
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM))
    outcome = run_node("graphiql.mjs", ide.http_url, "{ __typename }", timeout=180)
    assert "error" not in outcome, outcome
    assert outcome["refused"] == [], outcome  # it asked for nothing outside the served app
    assert json.loads(outcome["result"])["data"] == {"__typename": "Query"}, outcome
    assert any(r.startswith("/graphiql/graphiql/graphiql.min.js") for r in outcome["requests"])
    assert outcome["consoleErrors"] == [], outcome

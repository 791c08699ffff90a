"""``/graphql`` goes to the view through the application's own middleware only
(``graph.app.InboxApp``), not through Starlette's error, exception and routing layers.

A failure nothing expected, outside execution (``graph.app.InboxGraphQL.__call__``): the client
gets a masked 500 ``INTERNAL_SERVER_ERROR`` in GraphQL's shape, with the headers every answer
carries (the version, CORS for an allowed origin), and the log gets the traceback (Starlette's
error middleware answered a plain-text page without those headers). And that middleware is
fixed once the application has answered, ``/graphql`` included, as Starlette fixes its own."""

from __future__ import annotations

import logging
from importlib.metadata import version

import httpx
import pytest

import graph.app
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import ALLOWED_ORIGIN


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_failure_outside_execution_is_a_masked_500_with_the_usual_headers(
    monkeypatch, caplog, method
):
    monkeypatch.setenv("INBOX_GRAPH_ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    app = create_app(Settings.from_env())

    def broken(accept: str | None) -> str:
        raise RuntimeError("a detail the client must not see")

    monkeypatch.setattr(graph.app, "response_media_type", broken)
    transport = httpx.ASGITransport(app=app)  # an exception escaping the app is raised here
    query = {"query": "{ __typename }"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        with caplog.at_level(logging.ERROR, logger="graph.app"):
            answer = await http.request(
                method,
                "/graphql",
                headers={"Origin": ALLOWED_ORIGIN},
                **({"params": query} if method == "GET" else {"json": query}),
            )
    assert answer.status_code == 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "detail" not in answer.text
    assert answer.headers["x-inbox-graph-version"] == version("inbox-graph")
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "a detail the client must not see" in caplog.text


async def test_no_middleware_is_added_once_graphql_has_answered():
    app = create_app(Settings.from_env())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        answer = await http.post("/graphql", json={"query": "{ __typename }"})
    assert answer.status_code == 200, answer.text
    with pytest.raises(RuntimeError, match="after an application has started"):
        app.add_middleware(graph.app.VersionHeader)

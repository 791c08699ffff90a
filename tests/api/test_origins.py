"""Which browser origins may call the API (``graph.origins``): the configured ones, and in
development every loopback origin on any port; a refused origin is told to add itself to
``INBOX_GRAPH_ALLOWED_ORIGINS``, over CORS and in the log of a refused WebSocket handshake."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import ALLOWED_ORIGIN
from tests.support import connect_ws, serve

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}
LOOPBACK = [
    "http://localhost:5173",
    "http://127.0.0.1:3000",
    "http://[::1]:8080",
    "http://localhost",
]


@pytest.fixture(scope="module")
def production(server_env):
    server = serve({**server_env, "INBOX_GRAPH_ENV": "production"})
    yield server
    server.stop()


async def _preflight(url: str, origin: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.options(url, headers={"Origin": origin, **PREFLIGHT})


@pytest.mark.parametrize("origin", LOOPBACK)
async def test_development_allows_every_loopback_origin(served, origin):
    answer = await _preflight(served.http_url, origin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    async with httpx.AsyncClient() as http:
        simple = await http.post(
            served.http_url, json={"query": "{ __typename }"}, headers={"Origin": origin}
        )
    assert simple.headers["access-control-allow-origin"] == origin


async def test_a_refused_origin_is_told_which_setting_to_change(served):
    for origin in ("http://evil.test", "https://localhost:5173", "http://localhost.evil.test"):
        answer = await _preflight(served.http_url, origin)
        assert answer.status_code == 400
        assert "access-control-allow-origin" not in answer.headers
        assert "INBOX_GRAPH_ALLOWED_ORIGINS" in answer.text, answer.text
        assert origin in answer.text
    configured = await _preflight(served.http_url, ALLOWED_ORIGIN)
    assert configured.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_websocket_handshakes_from_loopback_origins_in_development(served, world):
    socket = await connect_ws(served, world.tokens["owner"], origin="http://localhost:5173")
    assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "connection_ack"
    await socket.close()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect_ws(served, world.tokens["owner"], origin="http://elsewhere.test:5173")
    assert refused.value.response.status_code == 403
    log = Path(served.log_path).read_text(encoding="utf-8")
    refusals = [line for line in log.splitlines() if "elsewhere.test" in line]
    assert refusals, log[-2000:]
    assert all("INBOX_GRAPH_ALLOWED_ORIGINS" in line for line in refusals), refusals
    assert "`allowed_origins`" not in log  # strawberry's own parameter name
    assert "Traceback" not in log


async def test_production_allows_only_the_configured_origins(production):
    answer = await _preflight(production.http_url, "http://localhost:5173")
    assert answer.status_code == 400
    assert "INBOX_GRAPH_ALLOWED_ORIGINS" in answer.text
    assert "development only" in answer.text
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect_ws(production, None, origin="http://127.0.0.1:3000")
    assert refused.value.response.status_code == 403
    configured = await _preflight(production.http_url, ALLOWED_ORIGIN)
    assert configured.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_browser_apps_send_their_clients_headers_and_read_the_budget(served, world):
    """What Apollo Client, Apollo's CSRF advice and tracing libraries add to every request is
    allowed by the preflight (it used to be refused, so the browser sent nothing), and a
    browser app may read when to retry, its budget and the API's version."""
    added = (
        "authorization, content-type, apollographql-client-name, apollographql-client-version, "
        "apollo-require-preflight, x-apollo-operation-name, traceparent, sentry-trace, baggage"
    )
    async with httpx.AsyncClient() as http:
        answer = await http.options(
            served.http_url,
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": added,
            },
        )
        assert answer.status_code == 200, answer.text
        allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
        assert {h.strip() for h in added.split(",")} <= {h.lower() for h in allowed}
        simple = await http.post(
            served.http_url,
            json={"query": "{ me { id } }"},
            headers={"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {world.tokens['owner']}"},
        )
    assert simple.status_code == 200
    exposed = {
        h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")
    }
    for header in (
        "retry-after",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-inbox-graph-version",
    ):
        assert header in exposed
        if header != "retry-after":
            assert header in simple.headers  # each one the app may read is really sent

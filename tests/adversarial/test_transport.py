"""Hostile transport input (issue 16, part 4): JSON nested deeper than the limit
(``graph.app.MAX_JSON_DEPTH``) is refused on every transport with a code (400 over HTTP,
4400 over WebSocket), and nothing reaches the server log as a traceback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from tests.adversarial.common import open_socket
from tests.support import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 64  # graph.app.MAX_JSON_DEPTH
TYPENAME = "{ __typename }"


@pytest.fixture(scope="module")
def guarded(server_env):
    """A server of its own, so that its log holds only what this module did."""
    server = serve(server_env)
    yield server
    server.stop()


def nested(levels: int) -> str:
    """A JSON array nested ``levels`` deep."""
    return "[" * levels + "]" * levels


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def post(served, content: str, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(served.http_url, content=content.encode(), headers=headers)


def assert_refused_as_too_deep(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert f"deeper than {LIMIT} levels" in body["errors"][0]["message"], body


@pytest.mark.parametrize("levels", [LIMIT - 1, 1000, 100_000])
async def test_nested_json_in_a_post_body_is_a_coded_400(guarded, levels):
    """About 1,000 levels made the standard library's decoder raise RecursionError: 500
    text/plain and a traceback."""
    # the body object and `variables` are two levels
    body = f'{{"query": "{TYPENAME}", "variables": {{"a": {nested(levels)}}}}}'
    assert_refused_as_too_deep(await post(guarded, body))
    assert_refused_as_too_deep(await post(guarded, nested(levels + 2)))


async def test_json_as_deep_as_the_limit_is_served(guarded):
    body = f'{{"query": "{TYPENAME}", "variables": {{"a": {nested(LIMIT - 2)}}}}}'
    response = await post(guarded, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("parameter", ["variables", "extensions"])
async def test_nested_json_in_a_get_is_a_coded_400(guarded, parameter):
    query = urlencode({"query": TYPENAME, parameter: f'{{"a": {nested(1000)}}}'})
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{guarded.http_url}?{query}")
    assert_refused_as_too_deep(response)


@pytest.mark.parametrize("levels", [1000, 100_000])
async def test_a_nested_json_frame_closes_the_websocket_with_4400(guarded, world, levels):
    """About 1,000 levels dropped the socket without a close frame (1006)."""
    socket = await open_socket(guarded, world.tokens["owner"])
    try:
        await socket.send(f'{{"type": "ping", "payload": {{"a": {nested(levels)}}}}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    finally:
        await socket.close()
    # a frame as deep as the limit is answered
    socket = await open_socket(guarded, world.tokens["owner"])
    try:
        await socket.send(f'{{"type": "ping", "payload": {{"a": {nested(LIMIT - 2)}}}}}')
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong"}
    finally:
        await socket.close()


async def test_the_server_log_has_no_traceback(guarded):
    """Last in this module: nothing above was logged as a crash."""
    await asyncio.sleep(0.5)
    text = await asyncio.to_thread(Path(guarded.log_path).read_text)
    assert "Traceback" not in text and "Exception in" not in text, text[-5000:]

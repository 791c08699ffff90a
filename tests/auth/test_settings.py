"""Production defaults: introspection and the IDE follow their settings."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Client, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_production_mode_turns_introspection_and_the_ide_off(server_env, served, world):
    production = serve({**server_env, "INBOX_GRAPH_ENV": "production"})
    try:
        owner = Client(production, world.tokens["owner"])
        codes = await owner.error_codes("{ __schema { queryType { name } } }")
        assert set(codes) == {"GRAPHQL_VALIDATION_FAILED"}
        assert (await owner("{ me { id } }"))["me"]["id"] == world.user_ids["owner"]
        async with httpx.AsyncClient() as http:
            page = await http.get(production.http_url, headers={"Accept": "text/html"})
            assert "graphiql" not in page.text.lower()
        await owner.aclose()
    finally:
        production.stop()
    development = Client(served, world.tokens["owner"])
    data = await development("{ __schema { queryType { name } } }")
    assert data["__schema"]["queryType"]["name"] == "Query"
    async with httpx.AsyncClient() as http:
        page = await http.get(served.http_url, headers={"Accept": "text/html"})
        assert "graphiql" in page.text.lower()
    await development.aclose()

"""The version is visible (issue 19, part 5): ``inbox-graph --version`` and the
``X-Inbox-Graph-Version`` header of every HTTP response, both from the package metadata."""

from __future__ import annotations

from importlib.metadata import version

import httpx

from tests.support import cli


def test_the_cli_prints_the_packages_version(server_env):
    done = cli(server_env, "--version")
    assert done.stdout.strip() == f"inbox-graph {version('inbox-graph')}"


async def test_every_http_response_carries_the_version(served):
    expected = version("inbox-graph")
    base = served.http_url.removesuffix("/graphql")
    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(served.http_url, json={"query": "{ __typename }"}),
            await http.post(served.http_url, json={"query": "{ nope }"}),  # invalid
            await http.post(served.http_url, content=b"{not json"),  # 400
            await http.get(f"{base}/healthz"),
            await http.get(f"{base}/elsewhere"),  # 404
        ]
    for answer in answers:
        assert answer.headers["x-inbox-graph-version"] == expected, (
            answer.status_code,
            answer.headers,
        )

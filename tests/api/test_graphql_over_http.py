"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/, issue 19 part 1): the
media type the ``Accept`` header asks for, the status the spec gives each answer, no ``data``
when the operation never ran, and the audits of the ``graphql-http`` package (written by the
spec's editors, run by Node from ``tests/clients``) all passing."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.clients import run_node

pytestmark = pytest.mark.asyncio(loop_scope="session")

GQL = "application/graphql-response+json"
JSON = "application/json"


def no_traceback_since(served, offset: int) -> None:
    with open(served.log_path) as log:
        log.seek(offset)
        written = log.read()
    assert "Traceback" not in written and "Exception in" not in written, written


def log_size(served) -> int:
    with open(served.log_path) as log:
        return log.seek(0, 2)


async def test_every_graphql_http_audit_passes(served):
    """``serverAudits`` of graphql-http 1.23.1: every MUST and SHOULD passes (and every MAY)."""
    offset = log_size(served)
    results = await asyncio.to_thread(run_node, "http-audits.mjs", served.http_url)
    assert len(results) > 50, results
    failing = [r for r in results if r["status"] != "ok"]
    assert not [r for r in failing if r["name"].startswith(("MUST", "SHOULD"))], failing
    assert not failing, failing
    no_traceback_since(served, offset)


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


REQUEST_ERRORS = {
    "parse": ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    "validation": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "several operations, none named": (
        {"query": "query A { __typename } query B { __typename }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "unknown operation": (
        {"query": "query A { __typename }", "operationName": "B"},
        "BAD_USER_INPUT",
    ),
    "variable coercion": (
        {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": 5.5}},
        "BAD_USER_INPUT",
    ),
    "too many tokens": (
        {"query": "query(" + " ".join(f"$v{i}: Int" for i in range(1500)) + ") { __typename }"},
        "GRAPHQL_PARSE_FAILED",
    ),
    "too many fields": ({"query": "{ " + "me { id } " * 1100 + "}"}, "GRAPHQL_VALIDATION_FAILED"),
}


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
@pytest.mark.parametrize(
    ("accept", "media_type", "status"), [(GQL, GQL, 400), (JSON, JSON, 200), (None, JSON, 200)]
)
async def test_a_request_error_has_no_data_and_the_status_of_its_media_type(
    world, case, accept, media_type, status
):
    """A request that fails before execution: no ``data`` entry, its code kept; 400 under
    ``application/graphql-response+json``, 200 under ``application/json`` (also the answer to a
    request without ``Accept``)."""
    offset = log_size(world.served)
    body, code = REQUEST_ERRORS[case]
    headers = {"Authorization": f"Bearer {world.tokens['owner']}"}
    if accept:
        headers["Accept"] = accept
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(world.served.http_url, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert "Accept" in response.headers["vary"]
    answer = response.json()
    assert "data" not in answer, answer
    assert codes(answer) == [code], answer
    no_traceback_since(world.served, offset)


@pytest.mark.parametrize("accept", [GQL, JSON])
async def test_an_operation_that_ran_is_200_with_its_data_even_with_field_errors(world, accept):
    async with httpx.AsyncClient(timeout=30) as http:
        ran = await http.post(
            world.served.http_url,
            json={"query": "{ me { id } }"},  # anonymous: a field error, data null
            headers={"Accept": accept},
        )
        partial = await http.post(
            world.served.http_url,
            json={"query": '{ __typename node(id: "nope") { id } }'},
            headers={"Accept": accept, "Authorization": f"Bearer {world.tokens['owner']}"},
        )
    assert ran.status_code == 200 and ran.headers["content-type"].startswith(accept)
    body = ran.json()
    assert "data" in body and body["data"] is None and codes(body) == ["UNAUTHENTICATED"], body
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert body["data"]["__typename"] == "Query" and body["errors"], body


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (GQL, GQL),
        (JSON, JSON),
        (f"{GQL}, {JSON}", GQL),  # equal quality: the one named first
        (f"{JSON}, {GQL}", JSON),
        (f"{GQL}, {JSON};q=0.9", GQL),  # Apollo Client's
        (f"{GQL};q=0.5, {JSON}", JSON),
        ("*/*", JSON),  # a wildcard: the legacy type
        ("application/*", JSON),
        (f"text/html, {GQL};q=0.2", GQL),
        (f"{JSON}; charset=utf-8", JSON),
        (f"{GQL}; charset=utf-8, {JSON}; charset=utf-8", GQL),  # the spec's recommended header
        # media types are case-insensitive (RFC 9110, section 8.3.1): these were 406
        ("APPLICATION/JSON", JSON),
        ("Application/GraphQL-Response+JSON", GQL),
    ],
)
async def test_the_accept_header_picks_the_media_type(served, accept, media_type):
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            served.http_url, json={"query": "{ __typename }"}, headers={"Accept": accept}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/xml", "nonsense", "text/plain," * 5000 + JSON],
    ids=["html", "xml", "nonsense", "5000-ranges"],
)
async def test_an_accept_header_without_a_graphql_media_type_is_406(served, accept):
    """Only an ``Accept`` header's first 32 media ranges are read (parsing them all cost the
    event loop 44 ms for 52 KB of them)."""
    offset = log_size(served)
    async with httpx.AsyncClient(timeout=30) as http:
        posted = await http.post(
            served.http_url, json={"query": "{ __typename }"}, headers={"Accept": accept}
        )
        got = await http.get(
            served.http_url, params={"query": "{ __typename }"}, headers={"Accept": accept}
        )
    for response in (posted, got):
        assert response.status_code == 406, response.text
        assert codes(response.json()) == ["BAD_USER_INPUT"]
    no_traceback_since(served, offset)


@pytest.mark.parametrize("accept", [GQL, JSON])
async def test_a_mutation_over_get_is_405_and_runs_nothing(world, accept):
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            world.served.http_url,
            params={"query": 'mutation { createTeam(name: "via GET") { id } }'},
            headers={"Accept": accept, "Authorization": f"Bearer {world.tokens['owner']}"},
        )
        teams = await http.post(
            world.served.http_url,
            json={"query": "{ teams { name } }"},
            headers={"Authorization": f"Bearer {world.tokens['owner']}"},
        )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith(accept)
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "via GET" not in [team["name"] for team in teams.json()["data"]["teams"]]


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_with_the_methods_allowed(served, method):
    """One answer for every method but GET and POST, which names only those two (the router
    used to offer HEAD to a PUT, and HEAD was then refused)."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.request(method, served.http_url, params={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "x-inbox-graph-version" in response.headers
    if method != "HEAD":
        assert codes(response.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
async def test_a_json_content_type_is_read_in_any_case(served, content_type):
    """Media types are case-insensitive (RFC 9110, section 8.3.1): these were 415."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            served.http_url,
            content=b'{"query": "{ __typename }"}',
            headers={"Content-Type": content_type, "Accept": GQL},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_post_body_that_is_not_json_is_415(served, content_type):
    headers = {"Accept": GQL}
    if content_type:
        headers["Content-Type"] = content_type
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            served.http_url, content=b'{"query": "{ __typename }"}', headers=headers
        )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == f"{GQL}; charset=utf-8"
    assert codes(response.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "JSON"),
        (b"42", "JSON object"),
        (b'{"query": "{ __typename \xff }"}', "not UTF-8"),
        ("{}".encode("utf-16"), "not UTF-8"),
        (b"null", "JSON object"),
        (b'"{ __typename }"', "JSON object"),
        (b'{"variables": {}}', "query"),
        (b'{"query": "{ __typename }", "operationName": 7}', "operationName"),
        (b'{"query": "{ __typename }", "variables": [7]}', "variables"),
    ],
)
async def test_a_request_that_is_not_well_formed_is_400_under_both_media_types(
    served, body, fragment
):
    offset = log_size(served)
    async with httpx.AsyncClient(timeout=30) as http:
        for accept in (GQL, JSON):
            response = await http.post(
                served.http_url,
                content=body,
                headers={"Content-Type": "application/json", "Accept": accept},
            )
            assert response.status_code == 400, response.text
            assert response.headers["content-type"].startswith(accept)
            answer = response.json()
            assert "data" not in answer and codes(answer) == ["BAD_USER_INPUT"], answer
            assert fragment in answer["errors"][0]["message"]
    no_traceback_since(served, offset)


async def test_the_http_layers_refusals_keep_their_status_and_code_in_the_asked_media_type(
    served,
):
    """413 (``bodyBytes``, refused on its ``Content-Length`` before the body is read) is
    answered in the media type asked for, with its code."""
    limit = 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Accept: {GQL}\r\nContent-Length: {limit + 1}\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    assert f"content-type: {GQL}; charset=utf-8".encode() in head.lower(), head
    error = json.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["limit"] == "bodyBytes"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_empty_operation_name_is_no_operation_name(served, method):
    """GraphQL over HTTP: "Setting the value of the {operationName} parameter to the empty
    string is equivalent to omitting the {operationName} parameter"."""
    parameters = {"query": "query Only { __typename }", "operationName": ""}
    async with httpx.AsyncClient(timeout=30) as http:
        if method == "GET":
            response = await http.get(served.http_url, params=parameters, headers={"Accept": GQL})
        else:
            response = await http.post(served.http_url, json=parameters, headers={"Accept": GQL})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}

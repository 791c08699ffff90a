"""Persisted documents (issue 19, part 4; ``graph.persisted``): Apollo's automatic persisted
queries over POST and GET, the store's bound and time to live, shared through Redis by two
servers, and trusted documents registered by ``inbox-graph register-documents``. Apollo
Client's own persisted-query link runs against the served app too."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.clients import run_node
from tests.live.helpers import NEW_MESSAGE
from tests.support import (
    RECEIVE,
    Client,
    GraphQLError,
    Served,
    cli,
    open_socket,
    receive,
    serve,
    subscribe,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

REDIS = os.environ.get("BROADCAST_URL", "").startswith("redis")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unique_query(selection: str = "me { id }") -> str:
    """A document no other test (or earlier run against the same Redis) sent."""
    return f"query Q{uuid.uuid4().hex} {{ {selection} }}"


def persisted(text_or_hash: str, *, is_hash: bool = False) -> dict[str, Any]:
    return {
        "persistedQuery": {
            "version": 1,
            "sha256Hash": text_or_hash if is_hash else sha256(text_or_hash),
        }
    }


async def post(url: str, token: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


async def get(url: str, token: str | None, params: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"} if token else {}
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, params=encoded, headers=headers)


def codes(response: httpx.Response) -> list[str | None]:
    assert response.status_code < 500, response.text
    return [(e.get("extensions") or {}).get("code") for e in response.json().get("errors") or []]


def no_tracebacks(served) -> None:
    with open(served.log_path) as log:
        text = log.read()
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]


async def test_apq_over_post_falls_back_then_runs_by_hash(world, served):
    token = world.tokens["owner"]
    query = unique_query()
    first = await post(served.http_url, token, {"extensions": persisted(query)})
    assert codes(first) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert not first.json().get("data")

    registered = await post(
        served.http_url, token, {"query": query, "extensions": persisted(query)}
    )
    assert registered.status_code == 200 and not codes(registered), registered.text
    me = registered.json()["data"]["me"]

    by_hash = await post(
        served.http_url,
        token,
        {"extensions": persisted(query), "operationName": query.split()[1], "variables": {}},
    )
    assert by_hash.status_code == 200 and not codes(by_hash), by_hash.text
    assert by_hash.json()["data"]["me"] == me
    # the cost is charged as for the text (graph.throttle): the same requested cost
    cost = by_hash.json()["extensions"]["cost"]
    assert (
        cost["requestedQueryCost"] == registered.json()["extensions"]["cost"]["requestedQueryCost"]
    )
    assert cost["requestedQueryCost"] >= 1


async def test_apq_over_get(world, served):
    token = world.tokens["owner"]
    query = unique_query("me { name }")
    first = await get(served.http_url, token, {"extensions": persisted(query)})
    assert codes(first) == ["PERSISTED_QUERY_NOT_FOUND"]
    registered = await get(served.http_url, token, {"query": query, "extensions": persisted(query)})
    assert not codes(registered), registered.text
    by_hash = await get(served.http_url, token, {"extensions": persisted(query)})
    assert not codes(by_hash), by_hash.text
    assert by_hash.json()["data"] == registered.json()["data"]


async def test_a_get_by_hash_runs_whatever_the_client_accepts(world, served):
    """curl's and python-requests' ``*/*``, axios's ``application/json, text/plain, */*``: a
    GET naming a persisted query by its hash alone is an operation, not a request for the
    GraphiQL page (which a GET without a document and accepting ``*/*`` gets)."""
    token = world.tokens["owner"]
    query = unique_query("me { name }")
    await get(served.http_url, token, {"query": query, "extensions": persisted(query)})
    for accept in ("*/*", "application/json, text/plain, */*", "text/html, */*"):
        async with httpx.AsyncClient(timeout=30) as http:
            by_hash = await http.get(
                served.http_url,
                params={"extensions": json.dumps(persisted(query))},
                headers={"Authorization": f"Bearer {token}", "Accept": accept},
            )
        assert by_hash.headers["content-type"].startswith("application/"), (accept, by_hash.text)
        assert by_hash.json()["data"]["me"]["name"], by_hash.text


async def test_a_mutation_named_by_hash_does_not_run_over_get(world, served):
    token = world.tokens["owner"]
    name = f"team {uuid.uuid4().hex[:8]}"
    mutation = f'mutation {{ createTeam(name: "{name}") {{ id }} }}'
    # stored over POST (it runs there once)
    stored = await post(
        served.http_url, token, {"query": mutation, "extensions": persisted(mutation)}
    )
    assert not codes(stored), stored.text
    over_get = await get(served.http_url, token, {"extensions": persisted(mutation)})
    assert over_get.status_code in (400, 405), over_get.text
    assert codes(over_get) and None not in codes(over_get)
    teams = await post(served.http_url, token, {"query": "{ teams { name } }"})
    assert [t["name"] for t in teams.json()["data"]["teams"]].count(name) == 1


async def test_a_hash_that_is_not_the_documents_is_refused_and_nothing_is_stored(world, served):
    token = world.tokens["owner"]
    query, other = unique_query(), unique_query()
    mismatch = await post(served.http_url, token, {"query": query, "extensions": persisted(other)})
    assert codes(mismatch) == ["BAD_USER_INPUT"]
    error = mismatch.json()["errors"][0]
    assert error["extensions"]["field"] == "extensions.persistedQuery.sha256Hash"
    assert not mismatch.json().get("data")
    for text in (query, other):  # neither stored under the hash
        again = await post(served.http_url, token, {"extensions": persisted(text)})
        assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_an_invalid_document_is_not_stored(world, served):
    token = world.tokens["owner"]
    for query in (unique_query("me { nope }"), unique_query("me { id ")):
        sent = await post(served.http_url, token, {"query": query, "extensions": persisted(query)})
        assert codes(sent)[0] in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")
        again = await post(served.http_url, token, {"extensions": persisted(query)})
        assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    ("extensions", "field"),
    [
        ({"persistedQuery": "abc"}, "extensions.persistedQuery"),
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
            "extensions.persistedQuery.version",
        ),
        (
            {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}},
            "extensions.persistedQuery.sha256Hash",
        ),
        ({"persistedQuery": {"version": 1}}, "extensions.persistedQuery.sha256Hash"),
        (
            {"persistedQuery": {"version": True, "sha256Hash": "0" * 64}},
            "extensions.persistedQuery.version",
        ),
        (
            {"persistedQuery": {"version": 1, "sha256Hash": 7}},
            "extensions.persistedQuery.sha256Hash",
        ),
    ],
)
async def test_a_malformed_persisted_query_is_a_coded_error(world, served, extensions, field):
    for send in (post, get):
        response = await send(served.http_url, world.tokens["owner"], {"extensions": extensions})
        assert codes(response) == ["BAD_USER_INPUT"], response.text
        assert response.json()["errors"][0]["extensions"]["field"] == field


async def test_apollo_clients_persisted_query_link(world, served):
    """Apollo Client 4 with ``createPersistedQueryLink`` (sha256 from node:crypto): the first
    run sends the hash alone, falls back to the text with the hash; the second run, on a new
    client, sends the hash alone and gets its data. Over POST, and with
    ``useGETForHashedQueries`` (the fallback is a POST, as the link does)."""
    for method in ("POST", "GET"):
        name = f"Me{uuid.uuid4().hex}"
        result = await asyncio.to_thread(
            run_node,
            "apollo-persisted-queries.mjs",
            served.http_url,
            world.tokens["owner"],
            name,
            method,
        )
        first, second = result["runs"]
        assert first["errors"] is None and second["errors"] is None, result
        assert first["data"]["me"]["id"] == world.user_ids["owner"]
        assert second["data"] == first["data"]
        expected_hash = first["requests"][0]["hash"]
        assert [(r["method"], r["query"] is None, r["hash"]) for r in first["requests"]] == [
            (method, True, expected_hash),
            ("POST", False, expected_hash),
        ]
        assert expected_hash == sha256(first["requests"][1]["query"])
        assert [(r["method"], r["query"], r["hash"]) for r in second["requests"]] == [
            (method, None, expected_hash)
        ]


def _small_store(server_env: dict[str, str], ttl: int) -> Served:
    """A server with an APQ store of about three short documents, a time to live of ``ttl``
    seconds and a small anonymous budget (same database and Redis as ``served``)."""
    env = {
        **server_env,
        "INBOX_GRAPH_APQ_STORE_BYTES": str(3 * (200 + 60)),
        "INBOX_GRAPH_APQ_TTL_SECONDS": str(ttl),
        "INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS": "20",
        # its own Redis keys: the bound is the whole store's
        "INBOX_GRAPH_CHANNEL_NAMESPACE": f"apq-small-{uuid.uuid4().hex[:8]}",
    }
    return serve(env)


@pytest.fixture(scope="module")
def small_store(server_env):
    """:func:`_small_store` whose documents expire 4 seconds after their last use."""
    server = _small_store(server_env, 4)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bounded_store(server_env):
    """:func:`_small_store` whose documents are kept for a day: only its size makes room (with
    4 seconds, a loaded machine taking that long over the LRU test's nine requests could see a
    document expire instead)."""
    server = _small_store(server_env, 86400)
    yield server
    server.stop()


async def test_the_store_is_bounded_least_recently_used_first(world, bounded_store):
    token = world.tokens["owner"]
    queries = [f"query Q{uuid.uuid4().hex[:20]} {{ me {{ id }} }}" for _ in range(4)]
    assert all(len(q) < 60 for q in queries)
    for query in queries[:3]:
        stored = await post(
            bounded_store.http_url, token, {"query": query, "extensions": persisted(query)}
        )
        assert not codes(stored), stored.text
    # the first is used again: the second is now the least recently used
    assert not codes(
        await post(bounded_store.http_url, token, {"extensions": persisted(queries[0])})
    )
    await post(
        bounded_store.http_url, token, {"query": queries[3], "extensions": persisted(queries[3])}
    )
    found = {
        i: codes(await post(bounded_store.http_url, token, {"extensions": persisted(q)}))
        for i, q in enumerate(queries)
    }
    assert found == {0: [], 1: ["PERSISTED_QUERY_NOT_FOUND"], 2: [], 3: []}


async def test_stored_documents_expire(world, small_store):
    token = world.tokens["owner"]
    query = unique_query()
    await post(small_store.http_url, token, {"query": query, "extensions": persisted(query)})
    assert not codes(await post(small_store.http_url, token, {"extensions": persisted(query)}))
    await asyncio.sleep(4.5)
    expired = await post(small_store.http_url, token, {"extensions": persisted(query)})
    assert codes(expired) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_flood_of_unknown_hashes_is_rate_limited(small_store):
    """Each unknown hash spends a point of the anonymous budget (20): the flood ends in
    ``RATE_LIMITED`` refusals (429), and nothing is stored."""
    seen: list[str | None] = []
    started = time.monotonic()
    for _ in range(30):
        response = await post(
            small_store.http_url,
            None,
            {"extensions": persisted(uuid.uuid4().hex * 2, is_hash=True)},
        )
        seen.extend(codes(response))
        if "RATE_LIMITED" in seen:
            assert response.status_code == 429
            break
    assert "RATE_LIMITED" in seen, seen
    assert set(seen) == {"PERSISTED_QUERY_NOT_FOUND", "RATE_LIMITED"}
    assert time.monotonic() - started < 20
    no_tracebacks(small_store)


@pytest.mark.skipif(not REDIS, reason="the APQ store is shared through Redis only")
async def test_two_servers_share_the_store_through_redis(world, served, server_env):
    other = serve(server_env)
    try:
        token = world.tokens["owner"]
        query = unique_query()
        stored = await post(
            served.http_url, token, {"query": query, "extensions": persisted(query)}
        )
        assert not codes(stored)
        elsewhere = await post(other.http_url, token, {"extensions": persisted(query)})
        assert not codes(elsewhere), elsewhere.text
        assert elsewhere.json()["data"] == stored.json()["data"]
    finally:
        other.stop()


@pytest.mark.skipif(REDIS, reason="with Redis the servers share the store")
async def test_without_redis_each_server_keeps_its_own_store(world, served, server_env):
    other = serve(server_env)
    try:
        token = world.tokens["owner"]
        query = unique_query()
        assert not codes(
            await post(served.http_url, token, {"query": query, "extensions": persisted(query)})
        )
        elsewhere = await post(other.http_url, token, {"extensions": persisted(query)})
        assert codes(elsewhere) == ["PERSISTED_QUERY_NOT_FOUND"]
    finally:
        other.stop()


# over graphql-transport-ws: the ``subscribe`` payload's ``extensions``, as a request's over HTTP

NO_QUERY = object()
"""For :func:`over_ws`: a ``subscribe`` payload without a ``query`` at all."""


async def over_ws(
    served: Served, token: str, *operations: tuple[Any, dict[str, Any] | None]
) -> list[list[dict[str, Any]]]:
    """Run ``(query, extensions)`` operations one after the other on one socket: the frames
    each got (``next`` frames, then its ``complete``; or its ``error``). The socket must stay
    open throughout (a ping is answered after each)."""
    socket = await open_socket(served, token)
    answers = []
    try:
        for number, (query, extensions) in enumerate(operations):
            payload: dict[str, Any] = {} if query is NO_QUERY else {"query": query}
            if extensions is not None:
                payload["extensions"] = extensions
            operation_id = f"op{number}"
            await socket.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
            )
            frames = []
            while not frames or frames[-1]["type"] == "next":
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if message.get("id") == operation_id:
                    frames.append(message)
            await socket.send(json.dumps({"type": "ping"}))
            while json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] != "pong":
                pass
            answers.append(frames)
    finally:
        await socket.close()
    return answers


def error_frame(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The one error of an operation answered with an ``error`` frame alone."""
    assert [f["type"] for f in frames] == ["error"], frames
    [error] = frames[0]["payload"]
    return error


def ran(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of a query answered with a ``next`` frame, then ``complete``."""
    assert [f["type"] for f in frames] == ["next", "complete"], frames
    assert not frames[0]["payload"].get("errors"), frames
    return frames[0]["payload"]["data"]


def unique_subscription() -> str:
    return (
        f"subscription S{uuid.uuid4().hex} {{ newMessage(inbox: {{standard: ALL}}) "
        "{ sequence message { text } } }"
    )


async def test_a_query_stored_over_http_runs_by_hash_over_websocket(world, served):
    """Hash only (``"query": ""`` as graphql-ws clients send it, or no ``query``): the stored
    document runs, as over HTTP (the socket dropped ``extensions``: "No GraphQL query
    found")."""
    token = world.tokens["owner"]
    query = unique_query()
    stored = await post(served.http_url, token, {"query": query, "extensions": persisted(query)})
    assert not codes(stored), stored.text
    empty, absent = await over_ws(
        served, token, ("", persisted(query)), (NO_QUERY, persisted(query))
    )
    assert ran(empty)["me"]["id"] == world.user_ids["owner"]
    assert ran(absent) == ran(empty)


async def delivers_by_hash(world, served, token: str, document: str, text: str) -> None:
    """A subscription named by ``document``'s hash alone over the socket gets the next
    message, ``text``."""
    subscription = await subscribe(served, token, "", payload_extensions=persisted(document))
    try:
        await receive(world, "c_all", text)
        event = await subscription.next(timeout=10)
        assert event["data"]["newMessage"]["message"]["text"] == text
    finally:
        await subscription.close()


async def test_a_subscription_registered_runs_by_hash_over_websocket(world, served, tmp_path):
    """A subscription named by hash alone starts and delivers its events (the document is
    registered: over HTTP a subscription is refused before it could be stored)."""
    document = unique_subscription()
    manifest = tmp_path / "subscription.json"
    manifest.write_text(json.dumps({sha256(document): document}))
    assert (
        "Registered 1 new documents" in cli(served.env, "register-documents", str(manifest)).stdout
    )
    await delivers_by_hash(world, served, world.tokens["owner"], document, "by hash")


async def test_apq_over_websocket_stores_the_text_sent_with_its_hash(world, served):
    """Text and its hash over the socket run and store the document, as over HTTP: a query
    then runs by hash over HTTP, a subscription by hash on another socket."""
    token = world.tokens["owner"]
    query, document = unique_query(), unique_subscription()
    [unknown] = await over_ws(served, token, ("", persisted(query)))
    assert error_frame(unknown)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    [sent] = await over_ws(served, token, (query, persisted(query)))
    assert ran(sent)["me"]["id"] == world.user_ids["owner"]
    by_hash = await post(served.http_url, token, {"extensions": persisted(query)})
    assert not codes(by_hash) and by_hash.json()["data"] == ran(sent), by_hash.text
    first = await subscribe(served, token, document, payload_extensions=persisted(document))
    await first.close()
    await delivers_by_hash(world, served, token, document, "stored over the socket")


async def test_an_unknown_hash_over_websocket_is_an_error_frame(world, served):
    """``PERSISTED_QUERY_NOT_FOUND`` as over HTTP, in an ``error`` frame; the socket stays
    open and runs the next operation."""
    hash_only = persisted(uuid.uuid4().hex * 2, is_hash=True)
    unknown, after = await over_ws(
        served, world.tokens["owner"], ("", hash_only), ("{ __typename }", None)
    )
    error = error_frame(unknown)
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert error["message"] == "PersistedQueryNotFound"
    assert ran(after) == {"__typename": "Query"}


async def test_a_wrong_hash_over_websocket_is_refused_and_nothing_runs(world, served):
    """Text with a hash that is not its SHA-256: ``BAD_USER_INPUT`` naming the hash, as over
    HTTP; the mutation does not run, and a subscription the server had validated before (its
    fast path) does not start."""
    token = world.tokens["owner"]
    name = f"team {uuid.uuid4().hex[:8]}"
    mutation = f'mutation {{ createTeam(name: "{name}") {{ id }} }}'
    wrong = persisted(unique_query())
    # NEW_MESSAGE runs first, as is: validated, a later one takes the fast path
    validated = await subscribe(served, token, NEW_MESSAGE)
    await validated.close()
    answers = await over_ws(served, token, (mutation, wrong), (NEW_MESSAGE, wrong))
    for frames in answers:
        error = error_frame(frames)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["field"] == "extensions.persistedQuery.sha256Hash", error
    teams = await post(served.http_url, token, {"query": "{ teams { name } }"})
    assert name not in [t["name"] for t in teams.json()["data"]["teams"]]
    [stored] = await over_ws(served, token, ("", persisted(mutation)))
    assert error_frame(stored)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_another_persisted_query_version_over_websocket_is_refused(world, served):
    """Version 2 is refused over the socket as over HTTP (``BAD_USER_INPUT``, field
    ``extensions.persistedQuery.version``), with or without the text."""
    token = world.tokens["owner"]
    query = unique_query()
    version_2 = {"persistedQuery": {"version": 2, "sha256Hash": sha256(query)}}
    over_http = await post(served.http_url, token, {"query": query, "extensions": version_2})
    assert codes(over_http) == ["BAD_USER_INPUT"]
    answers = await over_ws(served, token, (query, version_2), ("", version_2))
    for frames in answers:
        error = error_frame(frames)
        assert error["extensions"] == over_http.json()["errors"][0]["extensions"], error
        assert error["extensions"]["field"] == "extensions.persistedQuery.version"


# trusted documents

REGISTERED = "query RegisteredMe { me { id name } }"


@pytest.fixture(scope="module")
def trusted(server_env, tmp_path_factory):
    """A server that runs only registered documents, and a manifest registered on its
    database before it started (``REGISTERED`` and the live tests' subscription)."""
    manifest = tmp_path_factory.mktemp("manifests") / "persisted-documents.json"
    manifest.write_text(
        json.dumps({sha256(REGISTERED): REGISTERED, f"sha256:{sha256(NEW_MESSAGE)}": NEW_MESSAGE})
    )
    done = cli(server_env, "register-documents", str(manifest))
    assert "Registered" in done.stdout
    server = serve({**server_env, "INBOX_GRAPH_TRUSTED_DOCUMENTS": "1"})
    yield server
    server.stop()


async def test_trusted_documents_run_by_hash_or_exact_text(world, trusted):
    token = world.tokens["owner"]
    by_hash = await post(trusted.http_url, token, {"extensions": persisted(REGISTERED)})
    assert not codes(by_hash), by_hash.text
    assert by_hash.json()["data"]["me"]["id"] == world.user_ids["owner"]
    by_get = await get(trusted.http_url, token, {"extensions": persisted(REGISTERED)})
    assert by_get.json()["data"] == by_hash.json()["data"]
    by_text = await post(trusted.http_url, token, {"query": REGISTERED})
    assert by_text.json()["data"] == by_hash.json()["data"]


async def test_trusted_documents_refuse_everything_else(world, trusted):
    token = world.tokens["owner"]
    query = unique_query()
    free_text = await post(
        trusted.http_url, token, {"query": query, "operationName": query.split()[1]}
    )
    assert codes(free_text) == ["PERSISTED_QUERY_ONLY"]
    assert not free_text.json().get("data")
    registering = await post(
        trusted.http_url, token, {"query": query, "extensions": persisted(query)}
    )
    assert codes(registering) == ["PERSISTED_QUERY_ONLY"]
    unknown = await post(trusted.http_url, token, {"extensions": persisted(query)})
    assert codes(unknown) == ["PERSISTED_QUERY_NOT_FOUND"]
    # a text with whitespace changed is another document
    changed = await post(trusted.http_url, token, {"query": REGISTERED + " "})
    assert codes(changed) == ["PERSISTED_QUERY_ONLY"]
    no_tracebacks(trusted)


async def test_trusted_documents_over_websocket(world, trusted):
    """Subscriptions send their text (graphql-transport-ws has no hash): a registered one
    runs, any other is answered with an ``error`` frame."""
    token = world.tokens["owner"]
    # the second time, the server has the document validated already and starts it without
    # strawberry's stages (graph.schema.InboxSchema.start_cached_subscription)
    for _ in range(2):
        subscription = await subscribe(trusted, token, NEW_MESSAGE)
        await subscription.close()
    with pytest.raises((GraphQLError, AssertionError)) as refused:
        # the refusal may come after the ping that ``subscribe`` waits for
        unregistered = await subscribe(trusted, token, "subscription { newMessage { sequence } }")
        try:
            await unregistered.next()
        finally:
            await unregistered.close()
    assert "PERSISTED_QUERY_ONLY" in str(refused.value), refused.value
    # an ``error`` frame: before the ping's pong (GraphQLError) or after it
    assert isinstance(refused.value, GraphQLError) or "'type': 'error'" in str(refused.value)
    no_tracebacks(trusted)


async def test_trusted_documents_run_by_hash_over_websocket(world, trusted, tmp_path):
    """With trusted documents on, a registered query and subscription named by hash alone run
    over the socket (the subscription delivers its event), as the refusal of any other
    document tells clients to send them; an unknown hash is ``PERSISTED_QUERY_NOT_FOUND``."""
    token = world.tokens["owner"]
    by_hash, unknown = await over_ws(
        trusted, token, ("", persisted(REGISTERED)), ("", persisted(unique_query()))
    )
    assert ran(by_hash)["me"]["id"] == world.user_ids["owner"]
    assert error_frame(unknown)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # events reach the subscribers of the server they are sent to (``memory://``): the
    # integration's ``receiveMessage`` must be registered to run there
    manifest = tmp_path / "receive.json"
    manifest.write_text(json.dumps({sha256(RECEIVE): RECEIVE}))
    cli(trusted.env, "register-documents", str(manifest))
    subscription = await subscribe(trusted, token, "", payload_extensions=persisted(NEW_MESSAGE))
    integration = Client(trusted, world.tokens["integration"])
    try:
        await receive(world, "c_all", "by hash on a trusted server", integration)
        event = await subscription.next(timeout=10)
        assert event["data"]["newMessage"]["message"]["text"] == "by hash on a trusted server"
    finally:
        await subscription.close()
        await integration.aclose()
    no_tracebacks(trusted)


async def test_documents_registered_while_serving_run_at_once(world, trusted, tmp_path):
    token = world.tokens["owner"]
    query = unique_query("me { email }")
    assert codes(await post(trusted.http_url, token, {"extensions": persisted(query)})) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    manifest = tmp_path / "more.json"
    manifest.write_text(json.dumps({sha256(query): query}))
    done = cli(trusted.env, "register-documents", str(manifest))
    assert "Registered 1 new documents" in done.stdout
    again = cli(trusted.env, "register-documents", str(manifest))
    assert "Registered 0 new documents (1 already registered" in again.stdout
    by_hash = await post(trusted.http_url, token, {"extensions": persisted(query)})
    assert not codes(by_hash), by_hash.text


async def test_a_bad_manifest_registers_nothing(world, trusted, tmp_path):
    good = unique_query()
    bad_hash = unique_query()
    invalid = unique_query("me { nope }")
    too_long = "#" + "x" * 100_000 + "\n" + unique_query()  # valid, but never run
    manifest = tmp_path / "bad.json"
    manifest.write_text(
        json.dumps(
            {
                sha256(good): good,
                "0" * 64: bad_hash,
                sha256(invalid): invalid,
                sha256(too_long): too_long,
            }
        )
    )
    done = cli(trusted.env, "register-documents", str(manifest), check=False)
    assert done.returncode == 2
    assert "not the SHA-256 of its document" in done.stderr
    assert "Cannot query field 'nope'" in done.stderr
    assert "longer than 100000 characters" in done.stderr
    assert "Nothing was registered." in done.stderr
    for path, content in (("notjson.json", "{"), ("list.json", "[]")):
        (tmp_path / path).write_text(content)
        done = cli(trusted.env, "register-documents", str(tmp_path / path), check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    missing = cli(trusted.env, "register-documents", str(tmp_path / "missing.json"), check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    response = await post(trusted.http_url, world.tokens["owner"], {"extensions": persisted(good)})
    assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]

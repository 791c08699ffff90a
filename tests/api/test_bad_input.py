"""Bad input must get a coded client error, never INTERNAL_SERVER_ERROR (``contract.graphql``:
errors a client branches on carry ``extensions.code``; ``graph/extensions.py``: only the
unexpected is masked as INTERNAL_SERVER_ERROR)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import ASSIGN, RECEIVE
from tests.support import Client, cursor, global_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = (
    "query($inbox: InboxSelector!, $first: Int, $after: String, $status: ConversationStatus) { "
    "conversations(inbox: $inbox, first: $first, after: $after, status: $status) { edges { cursor } } }"
)


def codes_of(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def test_subscription_sent_over_http_is_a_client_error(world):
    """A subscription over plain HTTP (POST or GET) is answered INTERNAL_SERVER_ERROR
    ("Cannot return null for non-nullable field Subscription.newMessage")."""
    owner = world.client("owner")
    try:
        response = await owner.raw("subscription { newMessage { sequence } }")
        if response.status_code < 400:
            body = response.json()
            assert body.get("errors") and "INTERNAL_SERVER_ERROR" not in codes_of(body), body
        assert response.status_code < 500
    finally:
        await owner.aclose()


@pytest.mark.parametrize("pk", [2**31, 2**40, 2**62])
async def test_well_formed_ids_beyond_the_key_range_are_not_found(world, pk):
    """parse_global_id accepts keys up to 2**62 but the tables use 32-bit INTEGER keys: on
    PostgreSQL every lookup with such an id fails with "value out of int32 range" and the
    client gets INTERNAL_SERVER_ERROR instead of null / NOT_FOUND. (Passes on SQLite.)"""
    owner = world.client("owner")
    try:
        body = await owner.execute(
            "query($id: ID!) { node(id: $id) { id } }", {"id": global_id("Contact", pk)}
        )
        assert "errors" not in body and body["data"] == {"node": None}, body
        body = await owner.execute(
            "query($id: ID!) { contact(id: $id) { id } }", {"id": global_id("Contact", pk)}
        )
        assert "errors" not in body and body["data"] == {"contact": None}, body
        body = await owner.execute(ASSIGN, {"c": global_id("Contact", pk), "a": None})
        assert codes_of(body) == ["NOT_FOUND"], body
        body = await owner.execute(
            ASSIGN, {"c": world.contact_ids["c_none"], "a": global_id("User", pk)}
        )
        assert codes_of(body) == ["NOT_FOUND"], body
        body = await owner.execute(
            "mutation($id: ID!) { revokeAccessToken(id: $id) }",
            {"id": global_id("AccessToken", pk)},
        )
        assert codes_of(body) == ["NOT_FOUND"], body
        body = await owner.execute(
            RECEIVE,
            {"i": {"channelId": global_id("Channel", pk), "from": "x", "externalMessageId": "y"}},
        )
        assert codes_of(body) == ["NOT_FOUND"], body
    finally:
        await owner.aclose()


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-01T00:00:00+00:00", 10**30],  # SQLite: OverflowError
        ["2024-01-01T00:00:00+00:00", 2**63],  # SQLite: OverflowError
        ["2024-01-01T00:00:00+00:00", 2**31],  # PostgreSQL: int4 out of range
        ["9999-12-31T23:59:59-23:59", 1],  # PostgreSQL: year 10000 once converted to UTC
        ["0001-01-01T00:00:00+14:00", 1],  # PostgreSQL: year 0 once converted to UTC
    ],
    ids=["id-1e30", "id-2^63", "id-2^31", "datetime-overflow", "datetime-underflow"],
)
async def test_forged_cursors_are_bad_user_input(world, values):
    """decode_cursor checks only the JSON types of a cursor; out-of-range values reach the
    database and come back as INTERNAL_SERVER_ERROR (conversations, messages and timeline)."""
    owner = world.client("owner")
    try:
        body = await owner.execute(LIST, {"inbox": {"standard": "ALL"}, "after": cursor(values)})
        assert "INTERNAL_SERVER_ERROR" not in codes_of(body), body
        first = (
            await owner(
                LIST.replace("edges { cursor }", "edges { node { id } }"),
                {"inbox": {"standard": "ALL"}},
            )
        )["conversations"]["edges"][0]["node"]["id"]
        body = await owner.execute(
            "query($id: ID!, $a: String) { node(id: $id) { ... on Conversation { messages(after: $a) { edges { cursor } } } } }",
            {"id": first, "a": cursor(values)},
        )
        assert "INTERNAL_SERVER_ERROR" not in codes_of(body), body
        body = await owner.execute(
            "query($id: ID!, $a: String) { node(id: $id) { ... on Conversation { timeline(after: $a) { edges { cursor } } } } }",
            {"id": first, "a": cursor([values[0], 0, values[1]])},
        )
        assert "INTERNAL_SERVER_ERROR" not in codes_of(body), body
    finally:
        await owner.aclose()


async def _post_raw_json(client: Client, query: str, variables: dict) -> dict:
    """POST a body whose JSON may carry escapes httpx refuses to encode (lone surrogates)."""
    body = json.dumps(
        {"query": query, "variables": variables}
    )  # ensure_ascii keeps \\ud83d escaped
    response = await client.http.post(
        client.served.http_url,
        content=body.encode(),
        headers={**client.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    return response.json()


@pytest.mark.parametrize(
    "bad", ["nul\u0000byte", "lone \ud83d surrogate"], ids=["nul", "lone-surrogate"]
)
async def test_unstorable_characters_are_bad_user_input(world, bad):
    """NUL characters (PostgreSQL text cannot hold them) and lone UTF-16 surrogates (not
    encodable as UTF-8, both databases) reach the database: login, createTeam,
    createAccessToken and receiveMessage answer INTERNAL_SERVER_ERROR."""
    owner = world.client("owner")
    anonymous = Client(world.served)
    try:
        body = await _post_raw_json(
            anonymous,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            {"e": f"{bad}@{world.domain}", "p": "whatever"},
        )
        assert codes_of(body) in (["UNAUTHENTICATED"], ["BAD_USER_INPUT"]), body
        for query, variables in [
            (
                "mutation($n: String!) { createTeam(name: $n) { id } }",
                {"n": f"team {bad} {uuid.uuid4().hex[:4]}"},
            ),
            ("mutation($n: String!) { createAccessToken(name: $n) { token } }", {"n": bad}),
            (
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WEBCHAT"],
                        "from": f"v-{uuid.uuid4().hex}",
                        "externalMessageId": uuid.uuid4().hex,
                        "text": bad,
                    }
                },
            ),
            (
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WEBCHAT"],
                        "from": f"v-{bad}-{uuid.uuid4().hex}",
                        "externalMessageId": uuid.uuid4().hex,
                        "text": "hello",
                    }
                },
            ),
        ]:
            body = await _post_raw_json(owner, query, variables)
            assert "INTERNAL_SERVER_ERROR" not in codes_of(body), (query[:60], body)
    finally:
        await owner.aclose()
        await anonymous.aclose()


async def test_a_lone_surrogate_an_answer_repeats_is_a_client_error(world):
    """An ``operationName`` or an input field's name holding a lone surrogate (``\\ud800`` in
    the request's JSON) is repeated in the error's message, which orjson refused to encode:
    INTERNAL_SERVER_ERROR (a 500) and a traceback in the log."""
    owner = world.client("owner")
    try:
        for request in (
            {"query": "query Q { __typename }", "operationName": "\ud800"},
            {
                "query": "mutation($i: CustomInboxInput!) { createCustomInbox(input: $i) { id } }",
                "variables": {"i": {"name": "x", "filter": {}, "\ud800": 1}},
            },
        ):
            response = await owner.http.post(
                owner.served.http_url,
                content=json.dumps(request).encode(),  # ensure_ascii keeps \ud800 escaped
                headers={**owner.headers(), "Content-Type": "application/json"},
            )
            assert response.status_code < 500, response.text
            body = response.json()
            assert codes_of(body) == ["BAD_USER_INPUT"], body
            assert "\ud800" in body["errors"][0]["message"], body
    finally:
        await owner.aclose()


async def test_empty_string_assignee_id_is_rejected_not_an_unassignment(world):
    """``assigneeId: ""`` is not a User id; the resolver tests the id for truthiness
    (``... if assignee_id else None``) and silently unassigns the contact instead."""
    owner = world.client("owner")
    contact = world.contact_ids["c_all"]
    try:
        body = await owner.execute(ASSIGN, {"c": contact, "a": ""})
        assert codes_of(body) == ["BAD_USER_INPUT"], body
        node = await owner(
            "query($id: ID!) { node(id: $id) { ... on Contact { assignee { id } } } }",
            {"id": contact},
        )
        assert node["node"]["assignee"] == {"id": world.user_ids["agent_all"]}
    finally:
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_all"]})
        await owner.aclose()

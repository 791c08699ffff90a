"""Relay connections both ways (issue 19, part 3): every list pages forwards with
``first``/``after`` and backwards with ``last``/``before`` by keyset, each page equal to its
slice of the whole list, ``pageInfo`` true to the data, stable cursors, ``nodes`` and
``totalCount``; the query cost counts ``last`` like ``first``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.calls.common import grant_call_access, ring
from tests.clients import run_node
from tests.conftest import RECEIVE
from tests.support import Client, new_number

PAGE = """
  totalCount
  nodes { ... on Node { id } }
  edges { cursor node { ... on Node { id } } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
"""
ARGS = "first: $first, after: $after, last: $last, before: $before"
VARS = "$first: Int, $after: String, $last: Int, $before: String"

INBOX = f"""query({VARS}) {{
  conversations(inbox: {{standard: UNASSIGNED}}, {ARGS}) {{ {PAGE} }} }}"""
CALLS = f"query({VARS}) {{ calls({ARGS}) {{ {PAGE} }} }}"
TOKENS = f"query({VARS}) {{ accessTokens(active: null, {ARGS}) {{ {PAGE} }} }}"
MESSAGES = f"""query($id: ID!, {VARS}) {{ node(id: $id) {{ ... on Conversation {{
  messages({ARGS}) {{ {PAGE} }} }} }} }}"""
TIMELINE = f"""query($id: ID!, {VARS}) {{ node(id: $id) {{ ... on Conversation {{
  timeline({ARGS}) {{ {PAGE} }} }} }} }}"""
ACTIVITIES = f"""query($id: ID!, {VARS}) {{ node(id: $id) {{ ... on Contact {{
  activities({ARGS}) {{ {PAGE} }} }} }} }}"""
CONTACT_CALLS = f"""query($id: ID!, {VARS}) {{ node(id: $id) {{ ... on Contact {{
  callActivities({ARGS}) {{ {PAGE} }} }} }} }}"""
CONTACT_CONVERSATIONS = f"""query($id: ID!, {VARS}) {{ node(id: $id) {{ ... on Contact {{
  conversations({ARGS}) {{ {PAGE} }} }} }} }}"""


async def connection(client: Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    data = await client(query, variables)
    value = next(iter(data.values()))
    if "node" in data:
        value = next(iter(value.values()))
    return value


def ids(page: dict[str, Any]) -> list[str]:
    found = [edge["node"]["id"] for edge in page["edges"]]
    assert [node["id"] for node in page["nodes"]] == found
    info = page["pageInfo"]
    cursors = [edge["cursor"] for edge in page["edges"]]
    assert (info["startCursor"], info["endCursor"]) == (
        (cursors[0], cursors[-1]) if cursors else (None, None)
    )
    return found


async def check_both_ways(
    client: Client, query: str, variables: dict[str, Any], size: int, at_least: int
) -> list[str]:
    """Page the whole list forwards, then backwards, ``size`` at a time; every page must be
    its slice of the whole list (read in one page of 100), with true ``pageInfo``."""
    whole = await connection(client, query, {**variables, "first": 100})
    everything = ids(whole)
    assert len(everything) >= at_least
    assert whole["totalCount"] == len(everything)
    assert not whole["pageInfo"]["hasNextPage"] and not whole["pageInfo"]["hasPreviousPage"]
    cursor_of = {edge["node"]["id"]: edge["cursor"] for edge in whole["edges"]}

    seen: list[str] = []
    after = None
    while True:
        page = await connection(client, query, {**variables, "first": size, "after": after})
        found = ids(page)
        assert found == everything[len(seen) : len(seen) + size]
        assert page["totalCount"] == len(everything)
        assert page["pageInfo"]["hasPreviousPage"] is bool(seen)
        assert page["pageInfo"]["hasNextPage"] is (len(seen) + len(found) < len(everything))
        assert all(cursor_of[e["node"]["id"]] == e["cursor"] for e in page["edges"])  # stable
        seen += found
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == everything

    seen = []
    before = None
    while True:
        page = await connection(client, query, {**variables, "last": size, "before": before})
        found = ids(page)
        end = len(everything) - len(seen)
        assert found == everything[max(0, end - size) : end]
        assert page["pageInfo"]["hasNextPage"] is bool(seen)
        assert page["pageInfo"]["hasPreviousPage"] is (end - len(found) > 0)
        assert all(cursor_of[e["node"]["id"]] == e["cursor"] for e in page["edges"])
        seen = found + seen
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == everything

    # both cursors: the rows between them, from either end
    first, last = cursor_of[everything[0]], cursor_of[everything[-1]]
    inner = everything[1:-1]
    between = {"after": first, "before": last}
    forwards = await connection(client, query, {**variables, **between, "first": 100})
    assert ids(forwards) == inner
    assert forwards["pageInfo"]["hasNextPage"] is False
    backwards = await connection(client, query, {**variables, **between, "last": 2})
    assert ids(backwards) == inner[-2:]
    assert backwards["pageInfo"]["hasPreviousPage"] is (len(inner) > 2)
    return everything


@pytest.fixture(scope="module")
async def lists(world):
    """A workspace whose lists are longer than a page: unassigned conversations, messages,
    comments, access tokens and calls."""
    owner = world.client("owner")
    integration = world.client("integration")
    visitor = f"visitor-{uuid.uuid4().hex[:8]}"
    received = []
    for n in range(13):
        received.append(
            await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WEBCHAT"],
                        "from": visitor if n < 5 else f"{visitor}-{n}",
                        "externalMessageId": uuid.uuid4().hex,
                        "text": f"message {n}",
                    }
                },
            )
        )
    busy = received[0]["receiveMessage"]["conversation"]
    busy["contact"] = received[0]["receiveMessage"]["contact"]
    for n in range(6):
        await owner(
            "mutation($c: ID!, $t: String!) { addComment(contactId: $c, text: $t) { id } }",
            {"c": busy["contact"]["id"], "t": f"note {n}"},
        )
    for n in range(5):
        await owner(f'mutation {{ createAccessToken(name: "bot {n}") {{ token }} }}')
    await grant_call_access(world)
    number = new_number()
    calls = [await ring(world, number=number) for _ in range(4)]
    for _ in range(3):
        await ring(world)
    await owner.aclose()
    await integration.aclose()
    return {
        "conversation": busy["id"],
        "contact": busy["contact"]["id"],
        "caller": calls[0]["contact"]["id"],
    }


async def test_every_connection_pages_forwards_and_backwards(world, lists) -> None:
    owner = world.client("owner")
    manager = world.client("manager")
    try:
        await check_both_ways(owner, INBOX, {}, 3, 10)
        await check_both_ways(owner, TOKENS, {}, 2, 6)
        await check_both_ways(manager, CALLS, {}, 2, 7)
        await check_both_ways(owner, MESSAGES, {"id": lists["conversation"]}, 2, 5)
        await check_both_ways(owner, TIMELINE, {"id": lists["conversation"]}, 3, 11)
        await check_both_ways(owner, ACTIVITIES, {"id": lists["contact"]}, 4, 6)
        await check_both_ways(manager, CONTACT_CALLS, {"id": lists["caller"]}, 3, 4)
        await check_both_ways(owner, CONTACT_CONVERSATIONS, {"id": lists["contact"]}, 1, 1)
    finally:
        await owner.aclose()
        await manager.aclose()


async def test_a_page_of_a_list_per_parent_is_the_same_in_a_batch(world, lists) -> None:
    """Backwards pages of each conversation of a list (one statement for the batch) equal
    each conversation's own."""
    owner = world.client("owner")
    try:
        data = await owner(
            """{ conversations(inbox: {standard: UNASSIGNED}, first: 100) { nodes {
              id messages(last: 2) { nodes { id } pageInfo { hasPreviousPage hasNextPage } }
              timeline(last: 3) { nodes { ... on Node { id } } } } } }"""
        )
        for node in data["conversations"]["nodes"]:
            alone = await connection(owner, MESSAGES, {"id": node["id"], "last": 2})
            assert [n["id"] for n in node["messages"]["nodes"]] == ids(alone)
            assert node["messages"]["pageInfo"] == {
                "hasPreviousPage": alone["pageInfo"]["hasPreviousPage"],
                "hasNextPage": False,
            }
            timeline = await connection(owner, TIMELINE, {"id": node["id"], "last": 3})
            assert [n["id"] for n in node["timeline"]["nodes"]] == ids(timeline)
    finally:
        await owner.aclose()


async def test_bad_page_arguments_are_refused_each_by_name(world, lists) -> None:
    owner = world.client("owner")
    try:
        cases = [
            ({"first": 2, "last": 2}, ["last"]),
            ({"last": 0}, ["last"]),
            ({"last": 101}, ["last"]),
            ({"before": "nope"}, ["before"]),
            ({"first": 0, "after": "nope", "before": "nope"}, ["first", "after", "before"]),
        ]
        for variables, fields in cases:
            body = await owner.execute(INBOX, variables)
            assert body["data"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"] * len(
                fields
            )
            assert [e["extensions"]["field"] for e in body["errors"]] == fields
            assert all(e["path"] == ["conversations"] for e in body["errors"])
    finally:
        await owner.aclose()


async def test_last_costs_what_first_costs(world) -> None:
    owner = world.client("owner")
    try:
        costs = {}
        for name in ("first", "last"):
            body = await owner.execute(
                f"{{ conversations(inbox: {{standard: ALL}}, {name}: 40) {{ nodes {{ id }} }} }}"
            )
            costs[name] = body["extensions"]["cost"]["requestedQueryCost"]
        assert costs["first"] == costs["last"] == 1 + 40
        body = await owner.execute(
            "query($id: ID!) { node(id: $id) { ... on Conversation { timeline { nodes {"
            " ... on Node { id } } } } } }",
            {"id": "Q29udmVyc2F0aW9uOjE"},
        )
        assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 1 + 50
    finally:
        await owner.aclose()


async def test_apollo_client_relay_style_pagination_merges_the_whole_list(world, lists) -> None:
    """Apollo Client (``relayStylePagination``), paging forwards with ``fetchMore({after})``
    and backwards with ``fetchMore({before, last})``, merges in its cache the list the server
    holds (``tests/clients/relay-pagination.mjs``)."""
    owner = world.client("owner")
    try:
        whole = await owner(
            "{ conversations(inbox: {standard: ALL}, first: 100) { nodes { id } } }"
        )
    finally:
        await owner.aclose()
    everything = [node["id"] for node in whole["conversations"]["nodes"]]
    assert len(everything) > 9
    merged = run_node(
        "relay-pagination.mjs",
        json.dumps({"url": world.served.http_url, "token": world.tokens["owner"], "size": 4}),
    )
    pages = -(-len(everything) // 4)
    for direction in ("forward", "backward"):
        result = merged[direction]
        assert result["ids"] == everything, direction
        assert result["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}
        assert result["totalCount"] == len(everything)
        assert result["pages"] == pages

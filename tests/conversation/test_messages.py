"""Messaging rules (``domain.md`` section 4): ingestion idempotency, one contact and one open
conversation under concurrency, first reply assigns, timeline order."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.conftest import RECEIVE

pytestmark = pytest.mark.asyncio(loop_scope="session")

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


async def test_receive_message_is_idempotent_and_validates(world):
    integration = world.client("integration")
    variables = {
        "i": {
            "channelId": world.channel_ids["WHATSAPP"],
            "from": "+44 7911 123456",
            "externalMessageId": "wamid.same",
            "text": "Hi",
        }
    }
    first = (await integration(RECEIVE, variables))["receiveMessage"]
    again = (await integration(RECEIVE, variables))["receiveMessage"]
    assert not first["duplicate"] and again["duplicate"]
    assert again["message"]["id"] == first["message"]["id"]
    for bad, field in (
        ({"from": "12"}, "from"),
        ({"externalMessageId": ""}, "externalMessageId"),
        ({"text": "x" * 10_001}, "text"),
    ):
        body = await integration.execute(
            RECEIVE, {"i": {**variables["i"], "externalMessageId": uuid.uuid4().hex, **bad}}
        )
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": field,
            "inputPath": ["input", field],
        }
    agent = world.client("agent_all")
    assert await agent.error_codes(
        RECEIVE, {"i": {**variables["i"], "externalMessageId": "x1"}}
    ) == ["FORBIDDEN"]
    await agent.aclose()
    await integration.aclose()


async def test_concurrent_messages_from_a_new_contact_make_one_contact_and_one_conversation(world):
    sender = f"+4479111{uuid.uuid4().int % 100000:05d}"
    integration = world.client("integration")

    async def deliver(index: int):
        return (
            await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WHATSAPP"],
                        "from": sender,
                        "externalMessageId": f"burst-{sender}-{index % 15}",
                        "text": f"burst {index}",
                    }
                },
            )
        )["receiveMessage"]

    results = await asyncio.gather(*(deliver(i) for i in range(20)))
    assert len({r["contact"]["id"] for r in results}) == 1
    assert len({r["conversation"]["id"] for r in results}) == 1
    assert len({r["message"]["id"] for r in results}) == 15
    assert sum(not r["duplicate"] for r in results) == 15
    owner = world.client("owner")
    data = await owner(
        "query($id: ID!) { node(id: $id) { ... on Conversation { status messages(first: 100) { edges { node { id } } } } } }",
        {"id": results[0]["conversation"]["id"]},
    )
    assert data["node"]["status"] == "OPEN"
    assert len(data["node"]["messages"]["edges"]) == 15
    await owner.aclose()
    await integration.aclose()


SEND = """mutation($i: SendMessageInput!) { sendMessage(input: $i) {
  message { direction author { id } } contact { assignee { id } } } }"""


async def test_first_reply_assigns_and_only_once(world):
    integration = world.client("integration")
    handle = f"first-reply-{uuid.uuid4().hex[:8]}"
    received = (
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": handle,
                    "externalMessageId": handle,
                    "text": "anyone?",
                }
            },
        )
    )["receiveMessage"]
    contact_id = received["contact"]["id"]
    agents = [world.client("agent_all"), world.client("agent_free"), world.client("manager")]
    replies = await asyncio.gather(
        *(a(SEND, {"i": {"contactId": contact_id, "text": "Hello!"}}) for a in agents)
    )
    assignees = {r["sendMessage"]["contact"]["assignee"]["id"] for r in replies}
    owner = world.client("owner")
    final = await owner(
        "query($id: ID!) { contact(id: $id) { assignee { id } } }", {"id": contact_id}
    )
    winner = final["contact"]["assignee"]["id"]
    assert winner in {world.user_ids[n] for n in ("agent_all", "agent_free", "manager")}
    timeline = await owner(
        """query($id: ID!) { node(id: $id) { ... on Conversation { timeline(first: 100) { edges { cursor node {
             __typename ... on Message { createdAt text } ... on Activity { kind createdAt assignee { id } } } } } } } }""",
        {"id": received["conversation"]["id"]},
    )
    items = [e["node"] for e in timeline["node"]["timeline"]["edges"]]
    assigned = [
        i for i in items if i["__typename"] == "Activity" and i["kind"] == "CONTACT_ASSIGNED"
    ]
    assert len(assigned) == 1 and assigned[0]["assignee"]["id"] == winner
    if ON_POSTGRES or len(assignees) == 1:
        assert assignees == {winner}
    stamps = [i["createdAt"] for i in items]
    assert stamps == sorted(stamps)
    assert sum(i["__typename"] == "Message" for i in items) == 4
    # paging the timeline two by two gives the same sequence
    paged, after = [], None
    while True:
        page = await owner(
            """query($id: ID!, $after: String) { node(id: $id) { ... on Conversation { timeline(first: 2, after: $after) {
                 edges { node { __typename ... on Message { id } ... on Activity { id } } } pageInfo { hasNextPage endCursor } } } } }""",
            {"id": received["conversation"]["id"], "after": after},
        )
        connection = page["node"]["timeline"]
        paged += [e["node"]["id"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(paged) == len(items) == len(set(paged))
    for client in (*agents, owner, integration):
        await client.aclose()

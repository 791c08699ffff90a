"""Delivery status of outbound messages (issue 21, item 3; ``graph/resolvers/delivery.py``):
a connector reports SENT / DELIVERED / READ / FAILED by the message's external id,
idempotently, in any order, never backwards; the status and its times are on ``Message``;
subscribers of the conversation are told live."""

from __future__ import annotations

import itertools
import uuid

import pytest

from tests.conftest import RECEIVE
from tests.support import receive, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEND = """mutation($i: SendMessageInput!) { sendMessage(input: $i) {
  message { id deliveryStatus sentAt } conversation { id } } }"""
REPORT = """mutation($i: ReportMessageStatusInput!) { reportMessageStatus(input: $i) {
  messageId changed
  message { id deliveryStatus sentAt deliveredAt readAt failedAt failureReason } } }"""
MESSAGE = """query($id: ID!) { node(id: $id) { ... on Message {
  deliveryStatus sentAt deliveredAt readAt failedAt failureReason } } }"""
STATUS_CHANGED = """subscription($c: ID, $after: Int) {
  messageStatusChanged(conversationId: $c, afterSequence: $after) {
    sequence previousStatus message { id deliveryStatus readAt } } }"""
TIMES = {
    "SENT": "2026-03-01T10:00:01+00:00",
    "FAILED": "2026-03-01T10:00:02+00:00",
    "DELIVERED": "2026-03-01T10:00:03+00:00",
    "READ": "2026-03-01T10:00:04+00:00",
}


async def send(world, contact: str = "c_all", who: str = "agent_all") -> tuple[str, str]:
    """An outbound reply to ``contact`` on the web chat: ``(message id, conversation id)``."""
    client = world.client(who)
    data = (
        await client(
            SEND,
            {
                "i": {
                    "contactId": world.contact_ids[contact],
                    "text": "on it",
                    "channelId": world.channel_ids["WEBCHAT"],
                }
            },
        )
    )["sendMessage"]
    await client.aclose()
    assert data["message"]["deliveryStatus"] == "QUEUED" and data["message"]["sentAt"] is None
    return data["message"]["id"], data["conversation"]["id"]


def report(world, external: str, status: str, **extra) -> dict:
    return {
        "i": {
            "channelId": world.channel_ids["WEBCHAT"],
            "externalMessageId": external,
            "status": status,
            "occurredAt": TIMES[status],
            **({"reason": "number unreachable"} if status == "FAILED" else {}),
            **extra,
        }
    }


async def test_reports_move_a_message_forward_and_its_times_are_on_message(world):
    integration, agent = world.client("integration"), world.client("agent_all")
    message_id, _ = await send(world)
    external = f"wamid.{uuid.uuid4().hex}"
    first = (await integration(REPORT, report(world, external, "SENT", messageId=message_id)))[
        "reportMessageStatus"
    ]
    assert first["changed"] and first["messageId"] == message_id
    assert first["message"]["deliveryStatus"] == "SENT"
    assert first["message"]["sentAt"] == TIMES["SENT"]
    # later reports name the message by the channel's id alone; READ may overtake DELIVERED
    read = (await integration(REPORT, report(world, external, "READ")))["reportMessageStatus"]
    assert read["message"]["deliveryStatus"] == "READ" and read["changed"]
    late = (await integration(REPORT, report(world, external, "DELIVERED")))["reportMessageStatus"]
    assert late["changed"] and late["message"]["deliveryStatus"] == "READ"  # never backwards
    assert late["message"]["deliveredAt"] == TIMES["DELIVERED"]
    again = (await integration(REPORT, report(world, external, "READ")))["reportMessageStatus"]
    assert not again["changed"]  # idempotent
    shown = (await agent(MESSAGE, {"id": message_id}))["node"]
    assert shown == {
        "deliveryStatus": "READ",
        "sentAt": TIMES["SENT"],
        "deliveredAt": TIMES["DELIVERED"],
        "readAt": TIMES["READ"],
        "failedAt": None,
        "failureReason": None,
    }
    await integration.aclose()
    await agent.aclose()


async def test_any_order_of_reports_ends_in_the_same_state(world):
    integration, owner = world.client("integration"), world.client("owner")
    finals = set()
    for order in itertools.permutations(["SENT", "FAILED", "DELIVERED", "READ"]):
        message_id, _ = await send(world)
        external = f"wamid.{uuid.uuid4().hex}"
        for index, status in enumerate(order):
            extra = {"messageId": message_id} if index == 0 else {}
            await integration(REPORT, report(world, external, status, **extra))
        finals.add(tuple((await owner(MESSAGE, {"id": message_id}))["node"].items()))
    assert finals == {
        (
            ("deliveryStatus", "READ"),
            ("sentAt", TIMES["SENT"]),
            ("deliveredAt", TIMES["DELIVERED"]),
            ("readAt", TIMES["READ"]),
            ("failedAt", TIMES["FAILED"]),
            ("failureReason", "number unreachable"),
        )
    }
    # FAILED overrides SENT whatever the order, and nothing before delivery overrides FAILED
    for order in (["SENT", "FAILED"], ["FAILED", "SENT"]):
        message_id, _ = await send(world)
        external = f"wamid.{uuid.uuid4().hex}"
        for index, status in enumerate(order):
            extra = {"messageId": message_id} if index == 0 else {}
            await integration(REPORT, report(world, external, status, **extra))
        shown = (await owner(MESSAGE, {"id": message_id}))["node"]
        assert shown["deliveryStatus"] == "FAILED"
        assert shown["failureReason"] == "number unreachable"
    await integration.aclose()
    await owner.aclose()


async def test_bad_reports_are_coded_errors_and_change_nothing(world):
    integration, agent = world.client("integration"), world.client("agent_all")
    message_id, _ = await send(world)
    external = f"wamid.{uuid.uuid4().hex}"
    await integration(REPORT, report(world, external, "SENT", messageId=message_id))
    other_id, _ = await send(world)

    async def error(variables: dict, client=integration) -> dict:
        body = await client.execute(REPORT, variables)
        assert not body.get("data")
        return body["errors"][0]["extensions"]

    unknown = await error(report(world, "wamid.nobody", "DELIVERED"))
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "externalMessageId")
    # the external id belongs to one message only
    taken = await error(report(world, external, "SENT", messageId=other_id))
    assert (taken["code"], taken["field"]) == ("CONFLICT", "externalMessageId")
    # an inbound message has no delivery status to report
    inbound = await error(report(world, "seed-c_all", "READ"))
    assert (inbound["code"], inbound["field"]) == ("BAD_USER_INPUT", "externalMessageId")
    received = (await receive(world, "c_all", "thanks"))["message"]["id"]
    inbound = await error(report(world, "wamid.new", "SENT", messageId=received))
    assert (inbound["code"], inbound["field"]) == ("BAD_USER_INPUT", "messageId")
    reason = await error(report(world, external, "DELIVERED", reason="why"))
    assert (reason["code"], reason["field"]) == ("BAD_USER_INPUT", "reason")
    future = await error(
        {"i": {**report(world, external, "READ")["i"], "occurredAt": "2999-01-01T00:00:00Z"}}
    )
    assert (future["code"], future["field"]) == ("BAD_USER_INPUT", "occurredAt")
    wrong_channel = await error(
        {"i": {**report(world, external, "READ")["i"], "channelId": world.channel_ids["EMAIL"]}}
    )
    assert (wrong_channel["code"], wrong_channel["field"]) == ("NOT_FOUND", "externalMessageId")
    assert (await error(report(world, external, "READ"), client=agent))["code"] == "FORBIDDEN"
    shown = (await agent(MESSAGE, {"id": message_id}))["node"]
    assert shown["deliveryStatus"] == "SENT" and shown["readAt"] is None
    assert (await agent(MESSAGE, {"id": other_id}))["node"]["deliveryStatus"] == "QUEUED"
    await integration.aclose()
    await agent.aclose()


async def test_subscribers_of_the_conversation_are_told_and_may_resume(world):
    integration = world.client("integration")
    message_id, conversation_id = await send(world)
    elsewhere, _ = await send(world, contact="c_free", who="agent_free")
    told = await subscribe(
        world.served, world.tokens["agent_all"], STATUS_CHANGED, {"c": conversation_id}
    )
    hidden = await subscribe(world.served, world.tokens["agent_self"], STATUS_CHANGED)
    external = f"wamid.{uuid.uuid4().hex}"
    await integration(REPORT, report(world, external, "SENT", messageId=message_id))
    first = (await told.next())["data"]["messageStatusChanged"]
    assert first["previousStatus"] == "QUEUED"
    assert first["message"] == {"id": message_id, "deliveryStatus": "SENT", "readAt": None}
    await integration(REPORT, report(world, external, "SENT"))  # a repeat: no event
    # another conversation's message: not this subscription's
    await integration(
        REPORT, report(world, f"wamid.{uuid.uuid4().hex}", "SENT", messageId=elsewhere)
    )
    await told.nothing()
    await hidden.nothing()  # agent.self may not see c_all
    await integration(REPORT, report(world, external, "READ"))
    second = (await told.next())["data"]["messageStatusChanged"]
    assert second["previousStatus"] == "SENT"
    assert second["message"]["deliveryStatus"] == "READ"
    await told.close()
    await hidden.close()
    replayed = await subscribe(
        world.served,
        world.tokens["agent_all"],
        STATUS_CHANGED,
        {"c": conversation_id, "after": first["sequence"]},
    )
    again = (await replayed.next())["data"]["messageStatusChanged"]
    assert again["sequence"] == second["sequence"]
    await replayed.close()
    await integration.aclose()


async def test_an_inbound_message_with_an_outbound_messages_id_conflicts(world):
    """``receiveMessage`` took an id the channel had given an outbound message for a repeat
    delivery: it answered ``duplicate`` with the outbound message, and the inbound text was
    lost (a helper's review). ``reportMessageStatus`` already refuses the reverse."""
    integration = world.client("integration")
    message_id, conversation_id = await send(world)
    external = f"wamid.{uuid.uuid4().hex}"
    await integration(REPORT, report(world, external, "SENT", messageId=message_id))
    count = "query($id: ID!) { node(id: $id) { ... on Conversation { messages { totalCount } } } }"
    before = (await integration(count, {"id": conversation_id}))["node"]["messages"]["totalCount"]
    answer = await integration.execute(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": "visitor-c_all",
                "externalMessageId": external,
                "text": "a reply the connector gave the same id",
            }
        },
    )
    assert answer.get("data") is None, answer
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["CONFLICT"]
    assert answer["errors"][0]["extensions"]["field"] == "externalMessageId"
    after = (await integration(count, {"id": conversation_id}))["node"]["messages"]["totalCount"]
    assert after == before
    await integration.aclose()

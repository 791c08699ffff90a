"""Webhook delivery (issue 20, parts 2 and 3): from the outbox to a real local receiver that
verifies every request with the Standard Webhooks library; at least once, in sequence order,
retried with one ``webhook-id``, resumed after an outage, with the data its creator may see.
Black-box: the server delivers, the receiver is an HTTP server of the test."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import PASSWORD, login
from tests.support import Client, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { secret webhookEndpoint { id } } }"""
DELETE = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }"
ENDPOINT = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
  lastDeliveredSequence enabled } } }"""


async def endpoint_for(client: Client, receiver, types=("MESSAGE_CREATED",)) -> str:
    """A new endpoint delivering ``types`` to ``receiver`` (which learns its secret); its id."""
    created = (await client(CREATE, {"i": {"url": receiver.url, "eventTypes": list(types)}}))[
        "createWebhookEndpoint"
    ]
    receiver.secret = created["secret"]
    return created["webhookEndpoint"]["id"]


def texts(requests) -> list[str]:
    return [r.payload["data"]["message"]["text"] for r in requests]


async def test_an_ingested_message_arrives_signed_and_once(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    text = f"hello {uuid.uuid4().hex[:6]}"
    ingested = await receive(world, "c_all", text)
    await receiver.wait_for(lambda: receiver.accepted())
    await asyncio.sleep(1.0)  # nothing more comes
    [request] = receiver.requests
    assert request.verified
    assert request.headers["content-type"] == "application/json"
    assert request.webhook_id.startswith("msg_")
    assert int(request.headers["webhook-timestamp"]) > 0
    payload = request.payload
    assert payload["type"] == "message.created"
    assert payload["timestamp"].endswith("Z")
    assert isinstance(payload["sequence"], int)
    data = payload["data"]
    assert data["message"]["id"] == ingested["message"]["id"]
    assert data["message"]["text"] == text
    assert data["conversation"]["id"] == ingested["conversation"]["id"]
    assert data["contact"]["id"] == ingested["contact"]["id"]
    assert data["contact"]["assigneeId"] == world.user_ids["agent_all"]
    state = (await owner(ENDPOINT, {"id": endpoint}))["node"]
    assert state["lastDeliveredSequence"] == payload["sequence"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_retried_after_two_500s_with_one_webhook_id(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [500, 500]
    await receive(world, "c_all", "retry me")
    await receiver.wait_for(lambda: receiver.accepted())
    await asyncio.sleep(1.0)
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert all(r.verified for r in receiver.requests)
    assert len({r.webhook_id for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert texts(receiver.requests) == ["retry me"] * 3
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_receiver_down_for_a_while_gets_everything_in_order(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receiver.stop()
    sent = [f"while down {i}" for i in range(5)]
    for text in sent:
        await receive(world, "c_all" if len(text) % 2 else "c_team", text)
    await asyncio.sleep(2.0)  # the deliverer meets a closed port, and retries
    await receiver.start()
    await receiver.wait_for(lambda: len(receiver.accepted()) >= len(sent))
    await asyncio.sleep(1.0)
    accepted = receiver.accepted()
    assert texts(accepted) == sent
    sequences = [r.payload["sequence"] for r in accepted]
    assert sequences == sorted(sequences)
    assert len({r.webhook_id for r in accepted}) == len(sent)
    assert all(r.verified for r in accepted)
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_failing_endpoint_holds_only_its_own_queue(world, receiver):
    from tests.webhooks.receiver import Receiver

    owner = world.client("owner")
    failing = Receiver()
    await failing.start()
    failing.script = [503] * 1000
    broken = await endpoint_for(owner, failing)
    healthy = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "one")
    await receive(world, "c_all", "two")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2, timeout=5)
    assert texts(receiver.accepted()) == ["one", "two"]
    assert failing.requests and not failing.accepted()
    assert {texts([r])[0] for r in failing.requests} == {"one"}  # its queue waits on "one"
    await owner(DELETE, {"id": broken})
    await owner(DELETE, {"id": healthy})
    await failing.stop()
    await owner.aclose()


async def test_a_visibility_limited_creator_never_receives_a_contact_it_may_not_see(
    world, receiver
):
    owner = world.client("owner")
    email = f"owner2-{uuid.uuid4().hex[:6]}@{world.domain}"
    made = await owner(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {"i": {"email": email, "name": "Second Owner", "password": PASSWORD, "role": "OWNER"}},
    )
    creator_id = made["createUser"]["id"]
    creator = Client(world.served, await login(world.served, email, PASSWORD))
    endpoint = await endpoint_for(creator, receiver, ("MESSAGE_CREATED", "CONTACT_ASSIGNED"))
    # the creator becomes an agent who sees only their own contacts
    await owner(
        "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }",
        {"id": creator_id, "i": {"role": "AGENT", "contactVisibility": "SELF"}},
    )
    await receive(world, "c_all", "not for the creator")
    await receive(world, "c_none", "not for the creator either")
    contact = world.contact_ids["c_free"]
    await owner(
        "mutation($c: ID!, $u: ID) { assignContact(contactId: $c, assigneeId: $u) { id } }",
        {"c": contact, "u": creator_id},
    )
    await receive(world, "c_free", "for the creator")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    await asyncio.sleep(1.5)
    accepted = receiver.accepted()
    assert [r.payload["type"] for r in accepted] == ["contact.assigned", "message.created"]
    assert {r.payload["data"]["contact"]["id"] for r in accepted} == {contact}
    assert texts(accepted[1:]) == ["for the creator"]
    assert "not for the creator" not in str([r.body for r in receiver.requests])
    # the cursor passed the hidden events
    state = (await owner(ENDPOINT, {"id": endpoint}))["node"]
    assert state["lastDeliveredSequence"] == accepted[-1].payload["sequence"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()
    await creator.aclose()


async def test_events_of_other_types_are_passed_not_delivered(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver, ("CALL_RECEIVED",))
    before = (await owner(ENDPOINT, {"id": endpoint}))["node"]["lastDeliveredSequence"]
    await receive(world, "c_all", "not a call")
    deadline = asyncio.get_running_loop().time() + 10
    while (await owner(ENDPOINT, {"id": endpoint}))["node"]["lastDeliveredSequence"] <= before:
        assert asyncio.get_running_loop().time() < deadline, "the cursor stayed behind"
        await asyncio.sleep(0.1)
    assert receiver.requests == []
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_delivery_status_report_arrives_as_message_status_changed(world, receiver):
    """Issue 21, item 3: the event catalogue feeds webhooks the delivery status."""
    owner, agent, integration = (
        world.client("owner"),
        world.client("agent_all"),
        world.client("integration"),
    )
    endpoint = await endpoint_for(owner, receiver, types=("MESSAGE_STATUS_CHANGED",))
    sent = await agent(
        """mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } } }""",
        {"i": {"contactId": world.contact_ids["c_all"], "text": "your parcel left"}},
    )
    message_id = sent["sendMessage"]["message"]["id"]
    await integration(
        """mutation($i: ReportMessageStatusInput!) { reportMessageStatus(input: $i) { changed } }""",
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "externalMessageId": f"ext-{uuid.uuid4().hex}",
                "messageId": message_id,
                "status": "DELIVERED",
                "occurredAt": "2026-03-01T10:00:03Z",
            }
        },
    )
    await receiver.wait_for(lambda: receiver.accepted())
    await asyncio.sleep(1.0)  # nothing more comes: the reply's message.created is not asked for
    [request] = receiver.requests
    assert request.verified and request.payload["type"] == "message.status_changed"
    message = request.payload["data"]["message"]
    assert message["id"] == message_id
    assert message["deliveryStatus"] == "DELIVERED"
    assert message["deliveredAt"] == "2026-03-01T10:00:03Z"
    assert message["sentAt"] is None
    await owner(DELETE, {"id": endpoint})
    for client in (owner, agent, integration):
        await client.aclose()

"""Webhooks after ``eraseContact`` (issue 21, item 4): partners are told with a
``contact.erased`` event naming no one, and no delivery made afterwards (a replay of older
events included) carries the erased contact's data."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.contact.common import inbound
from tests.support import new_number
from tests.webhooks.test_control import REPLAY
from tests.webhooks.test_delivery import DELETE, endpoint_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECEIVE = """mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) {
  contact { id } message { id } } }"""
ERASE = "mutation($c: ID!) { eraseContact(contactId: $c) { id erasedAt } }"


async def test_no_delivery_after_an_erasure_carries_the_contacts_data(world, receiver):
    owner = world.client("owner")
    integration = world.client("integration")
    endpoint = await endpoint_for(owner, receiver, ("MESSAGE_CREATED", "CONTACT_ERASED"))
    number = new_number()
    secret = f"my card ends {uuid.uuid4().hex[:6]}"
    received = (
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": number,
                    "externalMessageId": uuid.uuid4().hex,
                    "text": secret,
                    "firstName": "Zoé",
                }
            },
        )
    )["receiveMessage"]
    await receiver.wait_for(lambda: len(receiver.accepted()) == 1)
    [before] = receiver.requests
    assert before.payload["data"]["message"]["text"] == secret  # what an erasure must not leave
    contact = received["contact"]["id"]
    await owner(ERASE, {"c": contact})
    # one for the contact (its activity), one for its deleted conversation
    await receiver.wait_for(lambda: len(receiver.accepted()) == 3)
    erased, dropped = (r.payload for r in receiver.requests[1:])
    assert erased["type"] == dropped["type"] == "contact.erased"
    assert dropped["data"]["conversation"] is None
    data = erased["data"]
    assert data["contact"]["id"] == contact and data["contact"]["erasedAt"]
    assert data["contact"]["name"] == "Erased contact" and data["contact"]["phone"] is None
    assert data["activity"]["kind"] == "CONTACT_ERASED" and data["activity"]["text"] is None
    # a replay from the message: its event is skipped or empty, never the erased data
    await owner(REPLAY, {"id": endpoint, "s": before.payload["sequence"]})
    await asyncio.sleep(1.5)
    for request in receiver.requests[1:]:
        body = json.dumps(request.payload, ensure_ascii=False)
        for personal in (secret, "Zoé", number, number[-6:]):
            assert personal not in body, (personal, body)
        if request.payload["type"] == "message.created":
            assert request.payload["data"]["message"] is None
    await owner(DELETE, {"id": endpoint})
    await integration.aclose()
    await owner.aclose()


async def test_a_retry_after_an_erasure_no_longer_carries_the_data(world, receiver):
    owner = world.client("owner")
    integration = world.client("integration")
    endpoint = await endpoint_for(owner, receiver, ("MESSAGE_CREATED",))
    receiver.script = [503, 503, 503, 503]  # down for a few seconds (retries from 0.2 s)
    secret = f"my pin is {uuid.uuid4().hex[:6]}"
    received = (
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": new_number(),
                    "externalMessageId": uuid.uuid4().hex,
                    "text": secret,
                    "firstName": "Zoé",
                }
            },
        )
    )["receiveMessage"]
    await receiver.wait_for(lambda: len(receiver.requests) >= 1)
    assert secret in receiver.requests[0].body.decode()  # the first attempt, refused
    await owner(ERASE, {"c": received["contact"]["id"]})
    await receiver.wait_for(lambda: len(receiver.accepted()) == 1)
    [accepted] = receiver.accepted()
    assert accepted.webhook_id == receiver.requests[0].webhook_id  # the same event
    assert secret not in accepted.body.decode() and "Zoé" not in accepted.body.decode()
    assert accepted.payload["data"]["message"] is None
    await owner(DELETE, {"id": endpoint})
    await integration.aclose()
    await owner.aclose()


async def test_a_body_built_just_before_an_erasure_is_not_sent_after_it(world, receiver):
    """Two messages of a contact read in one page: their bodies are built together. The
    receiver holds the first for 0.9 s, during which the contact is erased; the second's first
    try, under a second after its body was built, sent the erased data (the body was checked
    again only after a second; a helper's review). The deliverer hears the erasure on the bus
    and checks it again: nothing sent after the erasure carries the data."""
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver, ("MESSAGE_CREATED",))
    # the deliverer is busy with another contact's message while the contact writes twice,
    # then reads both in one page and sends the first, which the receiver holds
    receiver.script = [(200, {}, 1.0), (200, {}, 0.9)]
    number, secret = new_number(), f"my iban ends {uuid.uuid4().hex[:6]}"
    await inbound(world, text="someone else")
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    received = await inbound(world, sender=number, text=f"{secret} (1)", first_name="Zoé")
    await inbound(world, sender=number, text=f"{secret} (2)")
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    await owner(ERASE, {"c": received["contact"]["id"]})
    erased = time.monotonic()
    await asyncio.sleep(2.0)
    for request in receiver.requests:
        if request.at > erased:
            body = request.body.decode()
            assert secret not in body and "Zoé" not in body, body
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

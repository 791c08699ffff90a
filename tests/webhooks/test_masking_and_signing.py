"""What a webhook carries for its creator (issue 20, part 2): phone numbers masked as for the
creator; after a secret rotation both secrets verify during the grace period; a 429's
``Retry-After`` is honoured; a receiver slower than the timeout gets the event again. Against the verifying local receiver."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from standardwebhooks import Webhook

from tests.conftest import PASSWORD, login
from tests.contact.common import inbound
from tests.support import Client
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROTATE = "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }"
SETTINGS = """mutation($m: Boolean) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) {
  phoneNumberMasking } }"""
UPDATE_USER = """mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) {
  id } }"""


async def second_owner(world) -> tuple[str, Client]:
    owner = world.client("owner")
    email = f"owner2-{uuid.uuid4().hex[:6]}@{world.domain}"
    made = await owner(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {"i": {"email": email, "name": "Second Owner", "password": PASSWORD, "role": "OWNER"}},
    )
    await owner.aclose()
    return made["createUser"]["id"], Client(
        world.served, await login(world.served, email, PASSWORD)
    )


async def test_phone_numbers_are_masked_as_for_the_creator(world, receiver):
    owner = world.client("owner")
    creator_id, creator = await second_owner(world)
    endpoint = await endpoint_for(creator, receiver)
    await owner(SETTINGS, {"m": True})
    try:
        first = await inbound(world, text="owner sees it")
        await receiver.wait_for(lambda: receiver.accepted())
        number = receiver.accepted()[0].payload["data"]["contact"]["phone"]
        assert number.startswith("+447400") and "•" not in number  # owners see numbers
        # the creator is now an unrestricted agent: numbers masked for them
        await owner(UPDATE_USER, {"id": creator_id, "i": {"role": "AGENT"}})
        await inbound(world, text="agent sees it masked")
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
        second = receiver.accepted()[1]
        masked = second.payload["data"]["contact"]["phone"]
        assert "•" in masked and masked.endswith(masked.replace(" ", "")[-3:])
        assert number not in second.body.decode()
        assert first["contact"]["id"] != second.payload["data"]["contact"]["id"]
    finally:
        await owner(SETTINGS, {"m": False})
        await owner(DELETE, {"id": endpoint})
        await owner.aclose()
        await creator.aclose()


async def test_after_a_rotation_old_and_new_secrets_both_verify(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    old_secret = receiver.secret
    new_secret = (await owner(ROTATE, {"id": endpoint}))["rotateWebhookEndpointSecret"]["secret"]
    await inbound(world, channel="WEBCHAT", text="signed twice")
    await receiver.wait_for(lambda: receiver.accepted())  # verified with the old secret
    [request] = receiver.accepted()
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(request.body, request.headers)
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_retry_after_is_honoured(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [(429, {"Retry-After": "1"})]
    await inbound(world, channel="WEBCHAT", text="slow down")
    await receiver.wait_for(lambda: receiver.accepted())
    await asyncio.sleep(0.5)
    first, second = receiver.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # the backoff alone would wait 0.1 to 0.2 s
    assert texts([second]) == ["slow down"] and first.webhook_id == second.webhook_id
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_an_unreadable_retry_after_is_ignored_and_the_attempt_logged(world, receiver):
    """A ``Retry-After`` date past what Python holds raised out of the delivery loop: no
    attempt logged, no backoff, the endpoint never disabled (a helper's review). It is read
    as no ``Retry-After``: the 503 is logged and the event sent again."""
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [(503, {"Retry-After": "1 Jan 2020 1:1:1 +99999999999999999999"})]
    await inbound(world, channel="WEBCHAT", text="odd date")
    await receiver.wait_for(lambda: receiver.accepted())
    log = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { nodes { attempt statusCode succeeded } } }"
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # the accepted attempt is logged with the cursor, just after the answer
        attempts = (await owner(log, {"id": endpoint}))["webhookDeliveries"]["nodes"]
        if len(attempts) >= 2 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    attempts.sort(key=lambda a: a["attempt"])
    assert [(a["statusCode"], a["succeeded"]) for a in attempts] == [(503, False), (200, True)]
    assert texts(receiver.accepted()) == ["odd date"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_receiver_slower_than_the_timeout_gets_the_event_again(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [(200, {}, 4.0)]  # answers after the 2-second timeout of these servers
    await inbound(world, channel="WEBCHAT", text="too slow")
    await receiver.wait_for(lambda: len(receiver.requests) >= 2, timeout=10)
    first, second = receiver.requests[:2]
    assert second.at - first.at >= 2.0  # the first attempt was given up after the timeout
    assert first.webhook_id == second.webhook_id
    assert texts([second]) == ["too slow"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

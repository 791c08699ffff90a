"""Webhook control (issue 20, part 4): ``redeliverWebhookEvent``, ``replayWebhookEndpoint``
and ``sendTestWebhook`` against a real local receiver that verifies every request with the
Standard Webhooks library; owners only. Black-box over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import global_id, receive, server_logs
from tests.webhooks.test_deliveries_log import logged
from tests.webhooks.test_delivery import DELETE, ENDPOINT, endpoint_for, texts

pytestmark = pytest.mark.asyncio(loop_scope="session")

ATTEMPT = "statusCode error succeeded attempt webhookId sequence eventType nextRetryAt"
REDELIVER = f"""mutation($id: ID!, $s: Int!) {{
  redeliverWebhookEvent(endpointId: $id, sequence: $s) {{ {ATTEMPT} }} }}"""
REPLAY = """mutation($id: ID!, $s: Int!) {
  replayWebhookEndpoint(endpointId: $id, fromSequence: $s) { lastDeliveredSequence } }"""
TEST = f"mutation($id: ID!) {{ sendTestWebhook(endpointId: $id) {{ {ATTEMPT} }} }}"
LOG = """query($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount
  nodes { webhookId attempt statusCode } } }"""


async def test_redeliver_sends_the_event_again_with_its_webhook_id(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "again please")
    await receiver.wait_for(lambda: receiver.accepted())
    [first] = receiver.requests
    sequence = first.payload["sequence"]
    # as an owner would: the first attempt is in the log (recorded just after the answer)
    log = await logged(owner, endpoint, 1)
    assert [n["attempt"] for n in log["nodes"]] == [1], server_logs(world.served.env)
    sent = (await owner(REDELIVER, {"id": endpoint, "s": sequence}))["redeliverWebhookEvent"]
    assert sent["statusCode"] == 200 and sent["succeeded"] and sent["error"] is None
    assert sent["webhookId"] == first.webhook_id and sent["sequence"] == sequence
    assert sent["attempt"] == 2 and sent["nextRetryAt"] is None
    assert len(receiver.requests) == 2
    again = receiver.requests[1]
    assert again.verified and again.webhook_id == first.webhook_id
    assert again.payload["sequence"] == sequence and texts([again]) == ["again please"]
    # two redeliveries at once: numbered one after the other, never twice the same
    both = await asyncio.gather(
        *(owner(REDELIVER, {"id": endpoint, "s": sequence}) for _ in range(2))
    )
    assert sorted(b["redeliverWebhookEvent"]["attempt"] for b in both) == [3, 4]
    log = (await owner(LOG, {"id": endpoint}))["webhookDeliveries"]
    assert sorted(n["attempt"] for n in log["nodes"]) == [1, 2, 3, 4]
    state = (await owner(ENDPOINT, {"id": endpoint}))["node"]
    assert state["lastDeliveredSequence"] == sequence  # the queue did not move
    # an event the outbox does not hold: coded, nothing sent
    codes = await owner.error_codes(REDELIVER, {"id": endpoint, "s": 10**9})
    assert codes == ["BAD_USER_INPUT"]
    assert len(receiver.requests) == 4
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_replay_resends_from_the_sequence_in_order(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    sent = [f"replay {i}" for i in range(3)]
    for text in sent:
        await receive(world, "c_all", text)
    await receiver.wait_for(lambda: len(receiver.accepted()) == 3)
    sequences = [r.payload["sequence"] for r in receiver.requests]
    ids = [r.webhook_id for r in receiver.requests]
    moved = (await owner(REPLAY, {"id": endpoint, "s": sequences[1]}))["replayWebhookEndpoint"]
    assert moved["lastDeliveredSequence"] == sequences[1] - 1
    await receiver.wait_for(lambda: len(receiver.accepted()) == 5)
    await asyncio.sleep(0.5)  # nothing more comes
    replayed = receiver.requests[3:]
    assert [r.payload["sequence"] for r in replayed] == sequences[1:]
    assert [r.webhook_id for r in replayed] == ids[1:]
    assert texts(replayed) == sent[1:] and all(r.verified for r in replayed)
    # before the oldest event kept (sequence 0 never exists): refused, naming the oldest
    body = await owner.execute(REPLAY, {"id": endpoint, "s": 0})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "fromSequence"
    oldest = error["extensions"]["oldestSequence"]
    assert 1 <= oldest <= sequences[0] and str(oldest) in error["message"]
    state = (await owner(ENDPOINT, {"id": endpoint}))["node"]
    assert state["lastDeliveredSequence"] == sequences[-1]  # unchanged by the refusal
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_test_webhook_arrives_signed_and_reports_its_outcome(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    sent = (await owner(TEST, {"id": endpoint}))["sendTestWebhook"]
    assert sent["statusCode"] == 200 and sent["succeeded"]
    assert sent["eventType"] == "webhook.test" and sent["sequence"] == 0
    [request] = receiver.requests
    assert request.verified and request.webhook_id == sent["webhookId"]
    assert request.webhook_id.startswith("msg_test_")
    assert request.payload["type"] == "webhook.test"
    assert request.payload["data"] == {"webhookEndpointId": endpoint}
    receiver.script = [500]
    failed = (await owner(TEST, {"id": endpoint}))["sendTestWebhook"]
    assert failed["statusCode"] == 500 and failed["error"] == "HTTP 500"
    assert not failed["succeeded"] and failed["nextRetryAt"] is None  # not retried
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 2
    log = (await owner(LOG, {"id": endpoint}))["webhookDeliveries"]
    assert [n["statusCode"] for n in log["nodes"]] == [500, 200]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_only_owners_control_endpoints(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    for who in ("manager", "agent_all", "integration"):
        client = world.client(who)
        assert await client.error_codes(TEST, {"id": endpoint}) == ["FORBIDDEN"]
        assert await client.error_codes(REDELIVER, {"id": endpoint, "s": 1}) == ["FORBIDDEN"]
        assert await client.error_codes(REPLAY, {"id": endpoint, "s": 1}) == ["FORBIDDEN"]
        await client.aclose()
    missing = global_id("WebhookEndpoint", 10**9)
    assert await owner.error_codes(TEST, {"id": missing}) == ["NOT_FOUND"]
    assert await owner.error_codes(REDELIVER, {"id": missing, "s": 1}) == ["NOT_FOUND"]
    assert await owner.error_codes(REPLAY, {"id": missing, "s": 1}) == ["NOT_FOUND"]
    assert await owner.error_codes(TEST, {"id": global_id("Contact", 1)}) == ["BAD_USER_INPUT"]
    assert receiver.requests == []
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_redelivery_while_the_first_attempt_is_in_flight_is_numbered_apart(world, receiver):
    """A redelivery sent while the queue's first attempt of the event is still awaiting its
    answer: the log numbers the two attempts 1 and 2, never both 1."""
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [(200, {}, 1.5)]  # the queue's first attempt is answered late
    await receive(world, "c_all", "slow first")
    await receiver.wait_for(lambda: receiver.requests)
    sequence = receiver.requests[0].payload["sequence"]
    sent = (await owner(REDELIVER, {"id": endpoint, "s": sequence}))["redeliverWebhookEvent"]
    assert sent["succeeded"]
    # the queue's attempt is committed once answered (1.5 s), under load later
    log = await logged(owner, endpoint, 2)
    assert sorted(n["attempt"] for n in log["nodes"]) == [1, 2], (
        log["nodes"],
        sent,
        len(receiver.requests),
        server_logs(world.served.env),
    )
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_a_redelivery_between_retries_is_numbered_apart(world, receiver):
    """A redelivery sent while the queue's second try of the event (a retry) awaits its
    answer, which fails too: every attempt of the log has a number of its own."""
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [500, (500, {}, 1.0)]  # a failure, then a late one
    await receive(world, "c_all", "failing")
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    sequence = receiver.requests[0].payload["sequence"]
    sent = (await owner(REDELIVER, {"id": endpoint, "s": sequence}))["redeliverWebhookEvent"]
    assert sent["succeeded"]
    await receiver.wait_for(lambda: len(receiver.accepted()) == 2)  # the redelivery, a retry
    log = await logged(owner, endpoint, 4)
    assert sorted(n["attempt"] for n in log["nodes"]) == [1, 2, 3, 4]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

"""Webhook delivery attempts (issue 20, part 4): the deliverer records every try, and
``webhookDeliveries`` lists them newest first, owners only. Black-box: a real local receiver
answers 500 then 200, and the log is read over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from tests.support import Client, global_id, receive
from tests.webhooks.test_delivery import DELETE, endpoint_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

DELIVERIES = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  webhookDeliveries(endpointId: $id, first: $first, after: $after, last: $last,
                    before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { sequence eventType webhookId attempt statusCode error succeeded durationMs
            attemptedAt nextRetryAt } } }"""


async def logged(owner: Client, endpoint: str, count: int, timeout: float = 15.0) -> dict:
    """The endpoint's delivery log once it lists ``count`` attempts: the deliverer records
    a success after the receiver answered it (a group commit), so a client that saw the
    answer may read the log before it (fails after ``timeout`` seconds). Both the page and
    ``totalCount`` must hold them: they are read by two statements, and a commit between the
    two showed a count of 1 beside an empty page (a CI run)."""
    deadline = time.monotonic() + timeout
    while True:
        log = (await owner(DELIVERIES, {"id": endpoint}))["webhookDeliveries"]
        if log["totalCount"] >= count and len(log["nodes"]) >= count:
            return log
        assert time.monotonic() < deadline, f"{log['totalCount']} attempts logged, not {count}"
        await asyncio.sleep(0.05)


async def test_attempts_are_listed_with_status_codes_newest_first(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [500]
    await receive(world, "c_all", "log me")
    await receiver.wait_for(lambda: receiver.accepted())
    log = await logged(owner, endpoint, 2)  # the success is recorded after the answer
    assert log["totalCount"] == 2
    retried, failed = log["nodes"]  # newest first
    assert [failed["statusCode"], retried["statusCode"]] == [500, 200]
    assert [failed["attempt"], retried["attempt"]] == [1, 2]
    assert failed["error"] == "HTTP 500" and not failed["succeeded"]
    assert retried["error"] is None and retried["succeeded"]
    assert failed["webhookId"] == retried["webhookId"] == receiver.requests[0].webhook_id
    assert failed["sequence"] == retried["sequence"] == receiver.requests[0].payload["sequence"]
    assert failed["eventType"] == "message.created"
    assert failed["durationMs"] >= 0 and retried["durationMs"] >= 0
    tried_at = datetime.fromisoformat(failed["attemptedAt"])
    due = datetime.fromisoformat(failed["nextRetryAt"])
    assert tried_at.utcoffset().total_seconds() == 0  # UTC
    assert due > tried_at
    assert retried["nextRetryAt"] is None

    # keyset pages both ways give the same order
    first = (await owner(DELIVERIES, {"id": endpoint, "first": 1}))["webhookDeliveries"]
    assert first["nodes"] == [retried] and first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    second = (await owner(DELIVERIES, {"id": endpoint, "first": 1, "after": after}))[
        "webhookDeliveries"
    ]
    assert second["nodes"] == [failed] and not second["pageInfo"]["hasNextPage"]
    last = (await owner(DELIVERIES, {"id": endpoint, "last": 1}))["webhookDeliveries"]
    assert last["nodes"] == [failed] and last["pageInfo"]["hasPreviousPage"]
    before = last["pageInfo"]["startCursor"]
    back = (await owner(DELIVERIES, {"id": endpoint, "last": 1, "before": before}))[
        "webhookDeliveries"
    ]
    assert back["nodes"] == [retried]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_only_owners_read_the_log_and_bad_input_is_coded(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    for who in ("manager", "agent_all"):
        client = world.client(who)
        assert await client.error_codes(DELIVERIES, {"id": endpoint}) == ["FORBIDDEN"]
        await client.aclose()
    integration = world.client("integration")  # no ADMIN scope
    assert await integration.error_codes(DELIVERIES, {"id": endpoint}) == ["FORBIDDEN"]
    await integration.aclose()
    missing = global_id("WebhookEndpoint", 10**9)
    assert await owner.error_codes(DELIVERIES, {"id": missing}) == ["NOT_FOUND"]
    assert await owner.error_codes(DELIVERIES, {"id": global_id("Contact", 1)}) == [
        "BAD_USER_INPUT"
    ]
    assert await owner.error_codes(DELIVERIES, {"id": endpoint, "first": 0}) == ["BAD_USER_INPUT"]
    assert await owner.error_codes(DELIVERIES, {"id": endpoint, "after": "nope"}) == [
        "BAD_USER_INPUT"
    ]
    minted = await owner('mutation { createAccessToken(name: "log", scopes: [ADMIN]) { token } }')
    admin = Client(world.served, minted["createAccessToken"]["token"])
    empty = (await admin(DELIVERIES, {"id": endpoint}))["webhookDeliveries"]
    assert empty["totalCount"] == 0 and empty["nodes"] == []
    await admin.aclose()
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


SWITCH = """mutation($id: ID!, $on: Boolean!) {
  updateWebhookEndpoint(id: $id, input: {enabled: $on}) { enabled lastDeliveredSequence } }"""


async def test_a_success_answered_after_its_endpoint_was_disabled_is_logged_not_passed(
    world, receiver
):
    """The group commit moves only the cursors of endpoints the worker still holds: a 2xx
    answered after its endpoint was disabled is in the log, but the event is sent again (same
    ``webhook-id``) once the endpoint is enabled."""
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [(200, {}, 1.0)]  # answered once the endpoint is disabled
    await receive(world, "c_all", "answered late")
    await receiver.wait_for(lambda: receiver.requests)
    disabled = (await owner(SWITCH, {"id": endpoint, "on": False}))["updateWebhookEndpoint"]
    assert disabled["enabled"] is False
    sequence = receiver.requests[0].payload["sequence"]
    log = await logged(owner, endpoint, 1)  # the answer came, the deliverer committed it
    assert [(n["sequence"], n["statusCode"], n["succeeded"]) for n in log["nodes"]] == [
        (sequence, 200, True)
    ]
    enabled = (await owner(SWITCH, {"id": endpoint, "on": True}))["updateWebhookEndpoint"]
    assert enabled["lastDeliveredSequence"] < sequence  # the cursor did not pass it
    await receiver.wait_for(lambda: len(receiver.accepted()) == 2)
    first, again = receiver.accepted()
    assert again.webhook_id == first.webhook_id and again.payload["sequence"] == sequence
    log = await logged(owner, endpoint, 2)  # the second success is recorded after the answer
    assert log["totalCount"] == 2
    assert all(n["succeeded"] and n["sequence"] == sequence for n in log["nodes"])
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

"""An endpoint left disabled past the outbox's retention is told, when enabled again, where its
history starts (issue 20, part 2: ``historyStartsAtSequence``); one disabled briefly loses
nothing. On a server with a retention of 2 seconds, pruning every second."""

from __future__ import annotations

import asyncio
import base64
import os

import asyncpg
import pytest

from tests.support import receive, serve
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPDATE = """mutation($id: ID!, $on: Boolean!) {
  updateWebhookEndpoint(id: $id, input: {enabled: $on}) {
    enabled lastDeliveredSequence historyStartsAtSequence } }"""


@pytest.fixture(scope="module")
def served(server_env):
    server = serve(
        {
            **server_env,
            "INBOX_GRAPH_EVENT_RETENTION_SECONDS": "2",
            "INBOX_GRAPH_PRUNE_INTERVAL_SECONDS": "1",
        }
    )
    yield server
    server.stop()


async def test_enabled_after_the_retention_it_is_told_where_its_history_starts(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "before the pause")
    await receiver.wait_for(lambda: receiver.accepted())
    delivered = receiver.accepted()[0].payload["sequence"]
    paused = (await owner(UPDATE, {"id": endpoint, "on": False}))["updateWebhookEndpoint"]
    assert paused["enabled"] is False
    assert paused["historyStartsAtSequence"] is None
    await receive(world, "c_all", "pruned while disabled 1")
    missed = await receive(world, "c_all", "pruned while disabled 2")
    await asyncio.sleep(5)  # past the retention: pruning ran several times
    resumed = (await owner(UPDATE, {"id": endpoint, "on": True}))["updateWebhookEndpoint"]
    assert resumed["enabled"] is True
    starts = resumed["historyStartsAtSequence"]
    assert starts is not None and starts > delivered + 2  # both messages' events are gone
    assert resumed["lastDeliveredSequence"] == starts - 1
    assert missed["message"]["id"]  # (ingested, then pruned)
    await receive(world, "c_all", "after the pause")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    await asyncio.sleep(1.0)
    accepted = receiver.accepted()
    assert texts(accepted) == ["before the pause", "after the pause"]
    assert accepted[1].payload["sequence"] >= starts
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


async def test_enabled_again_soon_it_loses_nothing(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await owner(UPDATE, {"id": endpoint, "on": False})
    await receive(world, "c_all", "kept while disabled")
    resumed = (await owner(UPDATE, {"id": endpoint, "on": True}))["updateWebhookEndpoint"]
    assert resumed["historyStartsAtSequence"] is None
    await receiver.wait_for(lambda: receiver.accepted())
    assert texts(receiver.accepted()) == ["kept while disabled"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the row lock between pruning and enabling is PostgreSQL's (SQLite: one writer)",
)
async def test_pruning_while_an_endpoint_is_being_enabled_drops_nothing_it_is_owed(
    world, receiver, server_env
):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "before the pause")
    await receiver.wait_for(lambda: receiver.accepted())
    await owner(UPDATE, {"id": endpoint, "on": False})
    await receive(world, "c_all", "committed while disabled")
    # an enabling under way while pruning runs: its transaction holds the endpoint's row (as
    # updateWebhookEndpoint's does) past the retention, over several pruning rounds
    pk = int(base64.urlsafe_b64decode(endpoint + "=" * (-len(endpoint) % 4)).decode().split(":")[1])
    connection = await asyncpg.connect(server_env["DATABASE_URL"])
    try:
        async with connection.transaction():
            await connection.execute("SELECT id FROM webhook_endpoint WHERE id = $1 FOR UPDATE", pk)
            await connection.execute(
                "UPDATE webhook_endpoint SET enabled = true, disabled_reason = NULL WHERE id = $1",
                pk,
            )
            await asyncio.sleep(4)
    finally:
        await connection.close()
    # enabled with the event after its cursor: it must get it (or be told its history starts
    # after it, which a pruning that waited for the enabling has no reason to do)
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    assert texts(receiver.accepted()) == ["before the pause", "committed while disabled"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

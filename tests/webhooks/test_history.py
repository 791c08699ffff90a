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
from tests.webhooks.test_control import REPLAY
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts
from tests.webhooks.test_workers_and_pruning import pruned, workspace_pk

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
    # past the retention, pruning deleted both (the event of ``missed`` is the latest)
    workspace = workspace_pk(receiver.accepted()[0].payload)
    await pruned(world.served.env["DATABASE_URL"], workspace, f"sequence > {delivered}")
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


ON_POSTGRES = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the row locks between pruning and enabling or replaying are PostgreSQL's "
    "(SQLite: one writer)",
)


def _pk(endpoint: str) -> int:
    return int(
        base64.urlsafe_b64decode(endpoint + "=" * (-len(endpoint) % 4)).decode().split(":")[1]
    )


@ON_POSTGRES
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
    pk = _pk(endpoint)
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


@ON_POSTGRES
async def test_pruning_while_a_replay_moves_the_cursor_back_keeps_the_replayed_events(
    world, receiver, server_env
):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "replayed 1")
    await receive(world, "c_all", "replayed 2")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    first = receiver.accepted()[0].payload["sequence"]
    # a replay under way while pruning runs: its transaction holds the endpoint's row (as
    # replayWebhookEndpoint's does) with the cursor moved back, past the retention, over several
    # pruning rounds; pruning must wait for it and keep the events after the new cursor
    connection = await asyncpg.connect(server_env["DATABASE_URL"])
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT id FROM webhook_endpoint WHERE id = $1 FOR UPDATE", _pk(endpoint)
            )
            await connection.execute(
                "UPDATE webhook_endpoint SET cursor = $2, lease_owner = NULL, lease_until = NULL "
                "WHERE id = $1",
                _pk(endpoint),
                first - 1,
            )
            await asyncio.sleep(4)
    finally:
        await connection.close()
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 4)
    assert texts(receiver.accepted()) == ["replayed 1", "replayed 2"] * 2
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


@ON_POSTGRES
async def test_a_replay_while_pruning_deletes_its_events_is_refused(world, receiver, server_env):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "pruned under a replay 1")
    await receive(world, "c_all", "pruned under a replay 2")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    first, last = (r.payload["sequence"] for r in receiver.accepted())
    # a pruning under way: its transaction holds the endpoint's row (as prune_events' does) and
    # has deleted the events up to the cursor; a replay from the first of them asked meanwhile
    # must wait for it, then find them gone (not move the cursor back over a gap)
    connection = await asyncpg.connect(server_env["DATABASE_URL"])
    try:
        async with connection.transaction():
            workspace = await connection.fetchval(
                "SELECT workspace_id FROM webhook_endpoint WHERE id = $1 FOR UPDATE",
                _pk(endpoint),
            )
            await connection.execute(
                "DELETE FROM event WHERE workspace_id = $1 AND sequence <= $2", workspace, last
            )
            replaying = asyncio.ensure_future(owner.execute(REPLAY, {"id": endpoint, "s": first}))
            await asyncio.sleep(1.5)
            assert not replaying.done()  # it waits for the pruning's row lock
    finally:
        await connection.close()
    body = await replaying
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["oldestSequence"] > last
    await asyncio.sleep(1.0)
    assert len(receiver.accepted()) == 2  # nothing sent again
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

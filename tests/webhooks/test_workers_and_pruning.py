"""Webhooks with several workers and with outbox pruning (issue 20, part 2): each endpoint is
delivered by one worker at a time (a lease), a killed worker's endpoint is taken over from its
cursor, and pruning never drops an event an enabled endpoint has not received."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time

import pytest

from tests.support import receive, serve, sql
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def served(server_env):
    """The API with a short outbox retention and webhook lease (the package's server may run
    beside it on the same database: one more worker)."""
    server = serve(
        {
            **server_env,
            "INBOX_GRAPH_EVENT_RETENTION_SECONDS": "2",
            "INBOX_GRAPH_PRUNE_INTERVAL_SECONDS": "1",
            "INBOX_GRAPH_WEBHOOK_LEASE_SECONDS": "2",
        }
    )
    yield server
    server.stop()


def workspace_pk(payload: dict) -> int:
    encoded = payload["workspaceId"]
    return int(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode().split(":")[1])


async def pruned(database: str, workspace: int, condition: str, timeout: float = 30.0) -> None:
    """Wait until the workspace's outbox holds no event whose ``sequence`` meets ``condition``
    (SQL): these servers prune every second what is past a retention of 2 s, later than that
    on a loaded machine (fails after ``timeout`` seconds)."""
    query = f"SELECT count(*) FROM event WHERE workspace_id = {workspace} AND {condition}"
    deadline = time.monotonic() + timeout
    while sql(database, query):
        assert time.monotonic() < deadline, f"events with {condition} were not pruned"
        await asyncio.sleep(0.2)


async def test_pruning_keeps_what_an_enabled_endpoint_has_not_received(
    world, served, receiver, server_env
):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    await receive(world, "c_all", "before the outage")
    await receiver.wait_for(lambda: receiver.accepted())
    first = receiver.accepted()[0].payload
    await receiver.stop()
    await receive(world, "c_all", "kept while down")
    await asyncio.sleep(5)  # past the retention: pruning ran several times
    database = server_env["DATABASE_URL"]
    workspace = workspace_pk(first)
    # what the endpoint received went, what it has not is still there
    await pruned(database, workspace, f"sequence <= {first['sequence']}")
    assert (
        sql(
            database,
            f"SELECT count(*) FROM event WHERE workspace_id = {workspace} "
            f"AND sequence > {first['sequence']}",
        )
        >= 1
    )
    await receiver.start()
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    assert texts(receiver.accepted()) == ["before the outage", "kept while down"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="several workers share PostgreSQL (SQLite serves one worker)",
)
async def test_two_workers_deliver_each_event_once_and_resume_after_a_kill(
    world, served, receiver, server_env
):
    second = serve({**served.env})
    owner = world.client("owner")
    try:
        endpoint = await endpoint_for(owner, receiver)
        sent = [f"worker test {i}" for i in range(30)]
        for text in sent[:15]:
            await receive(world, "c_all", text)
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 15)
        await asyncio.sleep(1.0)
        accepted = receiver.accepted()
        assert texts(accepted) == sent[:15]  # every event once, in order, across workers
        assert len({r.webhook_id for r in accepted}) == 15
        # a worker dies without a word (maybe the lease holder): the rest still arrives
        second.process.send_signal(signal.SIGKILL)
        second.process.wait(10)
        for text in sent[15:]:
            await receive(world, "c_all", text)
        await receiver.wait_for(lambda: set(texts(receiver.accepted())) >= set(sent), timeout=30)
        accepted = receiver.accepted()
        seen: dict[str, str] = {}
        for request in accepted:  # a repeat (across the kill) has the same webhook-id
            text = texts([request])[0]
            assert seen.setdefault(text, request.webhook_id) == request.webhook_id
        first_arrivals = list(dict.fromkeys(texts(accepted)))
        assert first_arrivals == sent
        assert len(accepted) <= len(sent) + 1  # at most the event in flight at the kill
        await owner(DELETE, {"id": endpoint})
    finally:
        second.stop()
        await owner.aclose()


async def test_delivery_attempts_are_pruned_with_the_outbox(world, served, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [500]
    await receive(world, "c_all", "logged, then pruned")
    await receiver.wait_for(lambda: receiver.accepted())
    assert len(receiver.requests) == 2  # two attempts were recorded
    # pruned past the retention (2 s), by a pruning every second (later on a loaded machine)
    deadline = time.monotonic() + 30
    while (
        await owner(
            "query($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount } }",
            {"id": endpoint},
        )
    )["webhookDeliveries"]["totalCount"]:
        assert time.monotonic() < deadline, "the delivery attempts were not pruned"
        await asyncio.sleep(0.2)
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

"""A worker killed while a delivery is in flight (issue 20, part 2): the worker that takes the
endpoint over sends that event again with the same ``webhook-id``, then the rest, in order,
nothing lost. Two servers of the test on PostgreSQL (+ Redis when configured), on a database
of their own, with a 2-second lease."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.support import Client, receive, serve, sql
from tests.webhooks.conftest import fresh_database
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="several workers share PostgreSQL (SQLite serves one worker)",
    ),
]


@pytest.fixture(scope="module")
def served(server_env, tmp_path_factory):
    with fresh_database(tmp_path_factory) as url:
        server = serve(
            {**server_env, "DATABASE_URL": url, "INBOX_GRAPH_WEBHOOK_LEASE_SECONDS": "2"}
        )
        yield server
        server.stop()


async def test_the_event_in_flight_at_a_kill_comes_again_with_its_webhook_id(
    world, served, receiver
):
    second = serve(served.env)
    servers = {served.process.pid: served, second.process.pid: second}
    owner = world.client("owner")
    try:
        endpoint = await endpoint_for(owner, receiver)
        receiver.script = [(200, {}, 4.0)]  # the first request is answered after 4 s
        await receive(world, "c_all", "in flight at the kill")
        await receiver.wait_for(lambda: receiver.requests)
        # kill the worker holding the endpoint's lease while it waits for the answer
        row = int(sql(served.env["DATABASE_URL"], "SELECT max(id) FROM webhook_endpoint"))
        holder = sql(
            served.env["DATABASE_URL"], f"SELECT lease_owner FROM webhook_endpoint WHERE id = {row}"
        )
        killed = servers.pop(int(holder.split(":")[1]))
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(10)
        [survivor] = servers.values()
        integration = Client(survivor, world.tokens["integration"])
        for text in ("after the kill 1", "after the kill 2"):
            await receive(world, "c_all", text, client=integration)
        await receiver.wait_for(lambda: len(receiver.requests) >= 4, timeout=30)
        await asyncio.sleep(1.0)
        requests = receiver.requests
        assert texts(requests) == [
            "in flight at the kill",
            "in flight at the kill",  # sent again by the survivor
            "after the kill 1",
            "after the kill 2",
        ]
        assert requests[0].webhook_id == requests[1].webhook_id
        assert len({r.webhook_id for r in requests}) == 3
        assert all(r.verified for r in requests)
        await Client(survivor, world.tokens["owner"])(DELETE, {"id": endpoint})
        await integration.aclose()
    finally:
        second.stop()
        await owner.aclose()

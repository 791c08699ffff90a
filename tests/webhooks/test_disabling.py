"""An endpoint whose deliveries keep failing for the retry window is disabled, visibly, and
resumes from its cursor once enabled again (issue 20, part 2). On a server and database of
its own, with a retry window of 1.5 seconds."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import receive, serve
from tests.webhooks.conftest import fresh_database
from tests.webhooks.test_delivery import DELETE, endpoint_for, texts

pytestmark = pytest.mark.asyncio(loop_scope="session")

STATE = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
  enabled disabledReason lastDeliveredSequence } } }"""
ENABLE = """mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) {
  enabled disabledReason } }"""


@pytest.fixture(scope="module")
def served(server_env, tmp_path_factory):
    with fresh_database(tmp_path_factory) as url:
        server = serve(
            {
                **server_env,
                "DATABASE_URL": url,
                "INBOX_GRAPH_WEBHOOK_RETRY_WINDOW_SECONDS": "1.5",
                "INBOX_GRAPH_WEBHOOK_RETRY_MAX_SECONDS": "0.3",
            }
        )
        yield server
        server.stop()


async def test_failing_past_the_window_disables_the_endpoint_until_enabled(world, receiver):
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver)
    receiver.script = [500] * 1000
    await receive(world, "c_all", "never accepted in time")
    deadline = asyncio.get_running_loop().time() + 15
    while (state := (await owner(STATE, {"id": endpoint}))["node"])["enabled"]:
        assert asyncio.get_running_loop().time() < deadline, "the endpoint stayed enabled"
        await asyncio.sleep(0.2)
    assert "HTTP 500" in state["disabledReason"]
    tries = len(receiver.requests)
    assert tries >= 2
    await asyncio.sleep(1.0)
    assert len(receiver.requests) == tries  # disabled: nothing more is sent
    receiver.script = []
    enabled = (await owner(ENABLE, {"id": endpoint}))["updateWebhookEndpoint"]
    assert enabled == {"enabled": True, "disabledReason": None}
    await receiver.wait_for(lambda: receiver.accepted())
    assert texts(receiver.accepted()) == ["never accepted in time"]
    await owner(DELETE, {"id": endpoint})
    await owner.aclose()

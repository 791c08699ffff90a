"""The outbox is pruned by age; resuming from pruned history is refused with
``HISTORY_PRUNED`` so the client reloads instead of believing it is complete."""

from __future__ import annotations

import asyncio

import pytest

from tests.live.helpers import NEW_MESSAGE
from tests.support import GraphQLError, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def served(server_env):
    server = serve(
        {
            **server_env,
            "INBOX_GRAPH_EVENT_RETENTION_SECONDS": "3",
            "INBOX_GRAPH_PRUNE_INTERVAL_SECONDS": "1",
        }
    )
    yield server
    server.stop()


async def test_resuming_from_pruned_history_is_refused(world, served):
    live = await subscribe(served, world.tokens["owner"], NEW_MESSAGE)
    await receive(world, "c_all", "old news")
    old = (await live.next())["data"]["newMessage"]["sequence"]
    await live.close()
    # recent history resumes fine
    resumed = await subscribe(served, world.tokens["owner"], NEW_MESSAGE, {"after": old - 1})
    assert (await resumed.next())["data"]["newMessage"]["message"]["text"] == "old news"
    await resumed.close()
    await asyncio.sleep(5)
    await receive(world, "c_all", "new news")
    with pytest.raises(GraphQLError) as refused:
        stale = await subscribe(served, world.tokens["owner"], NEW_MESSAGE, {"after": old - 1})
        await stale.next()
    assert refused.value.codes == ["HISTORY_PRUNED"]

"""A session token's expiry (``INBOX_GRAPH_SESSION_TTL_SECONDS``) must end what it opened:
an expired session gets no more live events (``graph/auth.py``: expired tokens resolve to no
viewer). This module serves its own app with a short session lifetime."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import websockets

from tests.conftest import PASSWORD, RECEIVE, login
from tests.support import NEW_MESSAGE, Client, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

TTL = 15  # seconds; the world fixture logs everyone in first, which takes a while on a busy machine


@pytest.fixture(scope="module")
def served(server_env):
    server = serve({**server_env, "INBOX_GRAPH_SESSION_TTL_SECONDS": str(TTL)})
    yield server
    server.stop()


async def test_expired_session_stops_receiving_live_events(world, served):
    email = f"agent_all@{world.domain}"
    token = await login(served, email, PASSWORD)
    subscription = await subscribe(served, token, NEW_MESSAGE)
    integration = Client(served, world.integration_token)  # integration tokens do not expire
    try:
        await asyncio.sleep(TTL + 1)
        assert await Client(served, token).error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": "visitor-c_all",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": "after the session expired",
                }
            },
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            payload = await subscription.next(timeout=3)
            raise AssertionError(f"an expired session still receives live events: {payload}")
        assert closed.value.rcvd.code == 4403
    finally:
        await subscription.close()
        await integration.aclose()

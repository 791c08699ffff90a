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

TTL = 15  # seconds: the test logs in, then subscribes, within it


@pytest.fixture(scope="module")
def short_sessions(server_env):
    """A server on the suite's database whose logins last ``TTL`` seconds. The ``world`` is
    built on the suite's server, with the usual lifetime: built here, its owner's session
    expired before the fixture had created every user on a loaded machine (UNAUTHENTICATED)."""
    server = serve({**server_env, "INBOX_GRAPH_SESSION_TTL_SECONDS": str(TTL)})
    yield server
    server.stop()


async def test_expired_session_stops_receiving_live_events(world, short_sessions):
    email = f"agent_all@{world.domain}"
    token = await login(short_sessions, email, PASSWORD)
    subscription = await subscribe(short_sessions, token, NEW_MESSAGE)
    # integration tokens do not expire
    integration = Client(short_sessions, world.integration_token)
    try:
        await asyncio.sleep(TTL + 1)
        assert await Client(short_sessions, token).error_codes("{ me { id } }") == [
            "UNAUTHENTICATED"
        ]
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
            payload = await subscription.next(timeout=10)
            raise AssertionError(f"an expired session still receives live events: {payload}")
        assert closed.value.rcvd.code == 4403
    finally:
        await subscription.close()
        await integration.aclose()

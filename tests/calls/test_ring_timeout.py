"""The ring timeout (``domain.md`` section 5): a call nobody answers within the workspace's
``callRingTimeoutSeconds`` becomes MISSED exactly once, with two server processes sweeping."""

from __future__ import annotations

import asyncio

import pytest

from tests.calls.common import ANSWER, END, activity_kinds, as_user, call_as_owner, ring_with_conversation
from tests.support import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

SETTINGS = "mutation($s: Int!) { updateWorkspaceSettings(input: {callRingTimeoutSeconds: $s}) { callRingTimeoutSeconds } }"
TIMEOUT = 5  # the shortest a workspace may set


async def test_an_unanswered_call_is_missed_once_with_two_sweeping_servers(call_world):
    second = serve(call_world.served.env)  # another process on the same database
    await as_user(call_world, "owner", SETTINGS, {"s": TIMEOUT})
    try:
        unanswered, conversation_id = await ring_with_conversation(call_world)
        answered, _ = await ring_with_conversation(call_world)
        await as_user(call_world, "agent_all", ANSWER, {"c": answered["id"]})
        await asyncio.sleep(TIMEOUT - 1.5)
        assert (await call_as_owner(call_world, unanswered["id"]))["status"] == "RINGING"
        for _ in range(40):
            await asyncio.sleep(0.25)
            now = await call_as_owner(call_world, unanswered["id"])
            if now["status"] != "RINGING":
                break
        assert now["status"] == "MISSED" and now["endedAt"] and now["answeredAt"] is None
        await asyncio.sleep(2.5)  # both servers have swept again since
        assert [k for k, _ in await activity_kinds(call_world, conversation_id)].count("CALL_MISSED") == 1
        assert await call_as_owner(call_world, unanswered["id"]) == now
        # an answered call is left alone
        assert (await call_as_owner(call_world, answered["id"]))["status"] == "ONGOING"
        await as_user(call_world, "agent_all", END, {"c": answered["id"]})
    finally:
        await as_user(call_world, "owner", SETTINGS, {"s": 45})
        second.stop()

"""The ring timeout (``domain.md`` section 5): a call nobody answers within the workspace's
``callRingTimeoutSeconds`` becomes MISSED exactly once, with two server processes sweeping.

The test deployment allows a 1-second timeout (``INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS=1``,
``tests/conftest.py``); by default the shortest is 5 seconds."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

import pytest

from tests.calls.common import (
    ANSWER,
    DECLINE,
    END,
    PLACE,
    activity_kinds,
    as_user,
    call_as_owner,
    errors_of,
    ring_with_conversation,
)
from tests.support import Client, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

SETTINGS = "mutation($s: Int!) { updateWorkspaceSettings(input: {callRingTimeoutSeconds: $s}) { callRingTimeoutSeconds } }"
TIMEOUT = 1
SWEEP_INTERVAL = 1  # INBOX_GRAPH_RING_SWEEP_INTERVAL_SECONDS, the default


async def test_an_unanswered_call_is_missed_once_with_two_sweeping_servers(call_world):
    second = serve(call_world.served.env)  # another process on the same database, sweeping too
    try:
        # a call answered at once is never missed, however long it lasts
        answered, _ = await ring_with_conversation(call_world)
        await as_user(call_world, "agent_all", ANSWER, {"c": answered["id"]})
        await as_user(call_world, "owner", SETTINGS, {"s": TIMEOUT})
        unanswered, conversation_id = await ring_with_conversation(call_world)
        for _ in range(100):
            now = await call_as_owner(call_world, unanswered["id"])
            if now["status"] != "RINGING":
                break
            await asyncio.sleep(0.1)
        assert now["status"] == "MISSED" and now["endedAt"] and now["answeredAt"] is None
        rang_for = (
            datetime.fromisoformat(now["endedAt"]) - datetime.fromisoformat(now["ringingAt"])
        ).total_seconds()
        assert (
            TIMEOUT <= rang_for < TIMEOUT + SWEEP_INTERVAL + 4
        )  # not before its time, nor long after
        await asyncio.sleep(2.5 * SWEEP_INTERVAL)  # both servers have swept again since
        assert [k for k, _ in await activity_kinds(call_world, conversation_id)].count(
            "CALL_MISSED"
        ) == 1
        assert await call_as_owner(call_world, unanswered["id"]) == now
        assert (await call_as_owner(call_world, answered["id"]))["status"] == "ONGOING"
        await as_user(call_world, "agent_all", END, {"c": answered["id"]})
    finally:
        await as_user(call_world, "owner", SETTINGS, {"s": 45})
        second.stop()


async def test_an_outbound_call_nobody_picks_up_is_missed_and_frees_its_caller(call_world):
    inbound, conversation_id = await ring_with_conversation(call_world, assignee="agent_team")
    await as_user(call_world, "owner", DECLINE, {"c": inbound["id"]})
    await as_user(call_world, "owner", SETTINGS, {"s": TIMEOUT})
    try:
        placed = (
            await as_user(
                call_world,
                "agent_team",
                PLACE,
                {"c": inbound["contact"]["id"], "ch": call_world.channel_ids["VOIP"]},
            )
        )["placeCall"]
        for _ in range(100):
            now = await call_as_owner(call_world, placed["id"])
            if now["status"] != "RINGING":
                break
            await asyncio.sleep(0.1)
        assert (now["status"], now["direction"], now["answeredAt"]) == ("MISSED", "OUTBOUND", None)
        rang_for = (
            datetime.fromisoformat(now["endedAt"]) - datetime.fromisoformat(now["ringingAt"])
        ).total_seconds()
        assert TIMEOUT <= rang_for < TIMEOUT + SWEEP_INTERVAL + 4
        # its caller is free: no active call, and may call again
        assert (await as_user(call_world, "agent_team", "{ activeCall { id } }"))[
            "activeCall"
        ] is None
        kinds = [k for k, _ in await activity_kinds(call_world, conversation_id)]
        assert kinds.count("CALL_MISSED") == 1
    finally:
        await as_user(call_world, "owner", SETTINGS, {"s": 45})
    again = (
        await as_user(
            call_world,
            "agent_team",
            PLACE,
            {"c": inbound["contact"]["id"], "ch": call_world.channel_ids["VOIP"]},
        )
    )["placeCall"]
    assert again["status"] == "RINGING"
    await as_user(call_world, "agent_team", END, {"c": again["id"]})


async def test_the_ring_timeout_stays_within_its_bounds(call_world):
    for seconds in (0, -3, 601):
        errors = await errors_of(call_world, "owner", SETTINGS, {"s": seconds})
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "callRingTimeoutSeconds",
            "inputPath": ["input", "callRingTimeoutSeconds"],
        }
    # a deployment without the setting keeps 5 seconds as the shortest
    env = {
        k: v
        for k, v in call_world.served.env.items()
        if k != "INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS"
    }
    assert "INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS" not in os.environ
    default = serve(env)
    owner = Client(default, call_world.tokens["owner"])
    try:
        body = await owner.execute(SETTINGS, {"s": 4})
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "callRingTimeoutSeconds",
            "inputPath": ["input", "callRingTimeoutSeconds"],
        }
        assert "between 5 and 600" in body["errors"][0]["message"]
        assert (await owner(SETTINGS, {"s": 5}))["updateWorkspaceSettings"][
            "callRingTimeoutSeconds"
        ] == 5
    finally:
        await owner(SETTINGS, {"s": 45})
        await owner.aclose()
        default.stop()
    assert (await as_user(call_world, "owner", "{ workspace { callRingTimeoutSeconds } }"))[
        "workspace"
    ] == {"callRingTimeoutSeconds": 45}

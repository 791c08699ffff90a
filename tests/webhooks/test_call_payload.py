"""What a call event's webhook carries (issue 20, part 2: the data a partner needs without a
second call): the call with its numbers and, once the connector reported it, the recording's
id and URL (issue 21, part 2), as the endpoint's creator may see the call."""

from __future__ import annotations

import uuid

import pytest

from tests.calls.common import (
    ANSWER,
    END,
    RECORD,
    REPORT_RECORDING,
    as_user,
    grant_call_access,
    ring,
)
from tests.webhooks.test_delivery import DELETE, endpoint_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = "https://media.example.test/recordings/RE-webhook.mp3"


def calls_of(receiver, call_id: str) -> list[dict]:
    return [
        r.payload["data"]["call"]
        for r in receiver.accepted()
        if (r.payload["data"].get("call") or {}).get("id") == call_id
    ]


async def test_a_reported_recording_reaches_the_webhook_with_its_url(world, receiver):
    await grant_call_access(world)
    owner = world.client("owner")
    endpoint = await endpoint_for(owner, receiver, types=("CALL_RECEIVED", "CALL_UPDATED"))
    external = f"rec-{uuid.uuid4().hex}"
    try:
        call = await ring(world, assignee="agent_self", external_id=external)
        await as_user(world, "agent_self", ANSWER, {"c": call["id"]})
        await as_user(world, "agent_self", RECORD, {"c": call["id"]})
        ended = (await as_user(world, "agent_self", END, {"c": call["id"]}))["endCall"]
        await as_user(
            world,
            "integration",
            REPORT_RECORDING,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "externalCallId": external,
                    "url": URL,
                }
            },
        )
        await receiver.wait_for(
            lambda: any(c.get("recordingUrl") == URL for c in calls_of(receiver, call["id"]))
        )
        delivered = calls_of(receiver, call["id"])
        assert delivered[0]["status"] == "RINGING"
        assert delivered[0]["recordingUrl"] is None and delivered[0]["recordingId"] is None
        last = delivered[-1]
        assert (last["recordingState"], last["recordingId"], last["recordingUrl"]) == (
            "READY",
            ended["recording"]["id"],
            URL,
        )
        assert last["fromNumber"] == call["fromNumber"]
    finally:
        await owner(DELETE, {"id": endpoint})
        await owner.aclose()

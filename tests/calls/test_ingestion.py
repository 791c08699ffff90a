"""Call ingestion by a channel connector (``domain.md`` section 5): ``receiveCall`` is
idempotent, creates the caller, refuses channels without calls; ``reportCallEnded`` turns a
ringing call MISSED or FAILED and ends an ongoing one."""

from __future__ import annotations

import asyncio

import pytest

from tests.calls.common import (
    ANSWER,
    END,
    RECEIVE_CALL,
    REPORT_ENDED,
    as_user,
    call_as_owner,
    errors_of,
    new_number,
    ring,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_receive_call_creates_a_ringing_call_from_a_new_contact(call_world):
    number = new_number()
    call = await ring(
        call_world, number=number.replace("+44", "+44 "), firstName="Rita", to="+44 20 7123 4567"
    )
    assert call["status"] == "RINGING" and call["direction"] == "INBOUND"
    assert call["fromNumber"] == number and call["toNumber"] == "+442071234567"
    assert (
        call["answeredAt"] is None and call["endedAt"] is None and call["durationSeconds"] is None
    )
    assert call["recording"] is None and call["answeredBy"] is None
    assert call["channel"]["type"] == "WHATSAPP"
    assert call["contact"]["name"] == "Rita" and call["contact"]["phone"] == number
    assert call["contact"]["assignee"] is None
    # a second call from the same number is the same contact
    again = await ring(call_world, number=number)
    assert again["contact"]["id"] == call["contact"]["id"] and again["id"] != call["id"]


async def test_receive_call_is_idempotent_even_when_delivered_at_once(call_world):
    number = new_number()
    variables = {
        "i": {
            "channelId": call_world.channel_ids["VOIP"],
            "from": number,
            "externalCallId": f"CA{number}",
        }
    }
    integration = call_world.client("integration")
    results = await asyncio.gather(*(integration(RECEIVE_CALL, variables) for _ in range(6)))
    await integration.aclose()
    calls = [r["receiveCall"] for r in results]
    assert len({c["id"] for c in calls}) == 1
    assert len({c["contact"]["id"] for c in calls}) == 1
    assert calls[0]["channel"]["type"] == "VOIP"
    # a repeat after the call was answered returns it as it is now, unchanged
    await as_user(call_world, "agent_all", ANSWER, {"c": calls[0]["id"]})
    repeat = (await as_user(call_world, "integration", RECEIVE_CALL, variables))["receiveCall"]
    assert repeat["id"] == calls[0]["id"] and repeat["status"] == "ONGOING"
    await as_user(call_world, "agent_all", END, {"c": calls[0]["id"]})


async def test_receive_call_refuses_channels_without_calls_and_bad_input(call_world):
    base = {
        "channelId": call_world.channel_ids["WHATSAPP"],
        "from": new_number(),
        "externalCallId": "x-1",
    }
    for channel in ("EMAIL", "WEBCHAT"):
        errors = await errors_of(
            call_world,
            "integration",
            RECEIVE_CALL,
            {"i": {**base, "channelId": call_world.channel_ids[channel]}},
        )
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "channelId",
            "inputPath": ["input", "channelId"],
        }
        assert channel in errors[0]["message"]
    for bad, field in (
        ({"from": "12"}, "from"),
        ({"from": "visitor-42"}, "from"),
        ({"externalCallId": " "}, "externalCallId"),
        ({"to": "not a number"}, "to"),
    ):
        errors = await errors_of(call_world, "integration", RECEIVE_CALL, {"i": {**base, **bad}})
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": field,
            "inputPath": ["input", field],
        }, bad
    # only owners, managers and their tokens ingest
    errors = await errors_of(call_world, "agent_all", RECEIVE_CALL, {"i": base})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # nothing was created by any of these
    incoming = await as_user(call_world, "owner", "{ incomingCalls { fromNumber } }")
    assert base["from"] not in [c["fromNumber"] for c in incoming["incomingCalls"]]


async def test_connector_reports_hang_up_and_failure(call_world):
    channel = call_world.channel_ids["WHATSAPP"]
    missed = await ring(call_world, external_id="wacid.missed")
    report = {"i": {"channelId": channel, "externalCallId": "wacid.missed"}}
    data = (await as_user(call_world, "integration", REPORT_ENDED, report))["reportCallEnded"]
    assert data["id"] == missed["id"] and data["status"] == "MISSED" and data["endedAt"]
    assert data["answeredAt"] is None and data["durationSeconds"] is None
    # a retried webhook changes nothing
    again = (await as_user(call_world, "integration", REPORT_ENDED, report))["reportCallEnded"]
    assert again == data
    # a failure
    await ring(call_world, external_id="wacid.failed")
    failed = {"i": {"channelId": channel, "externalCallId": "wacid.failed", "failed": True}}
    assert (await as_user(call_world, "integration", REPORT_ENDED, failed))["reportCallEnded"][
        "status"
    ] == "FAILED"
    # the caller hangs up during the call: ENDED, and the agent is free again
    ongoing = await ring(call_world, external_id="wacid.hangup")
    await as_user(call_world, "manager", ANSWER, {"c": ongoing["id"]})
    ended = (
        await as_user(
            call_world,
            "integration",
            REPORT_ENDED,
            {"i": {"channelId": channel, "externalCallId": "wacid.hangup"}},
        )
    )["reportCallEnded"]
    assert ended["status"] == "ENDED" and ended["durationSeconds"] is not None
    assert ended["answeredBy"]["id"] == call_world.user_ids["manager"]
    next_call = await ring(call_world)
    assert (await as_user(call_world, "manager", ANSWER, {"c": next_call["id"]}))["answerCall"][
        "status"
    ] == "ONGOING"
    await as_user(call_world, "manager", END, {"c": next_call["id"]})
    # unknown call
    errors = await errors_of(
        call_world,
        "integration",
        REPORT_ENDED,
        {"i": {"channelId": channel, "externalCallId": "wacid.never"}},
    )
    assert errors[0]["extensions"] == {
        "code": "NOT_FOUND",
        "field": "externalCallId",
        "inputPath": ["input", "externalCallId"],
    }
    assert (await call_as_owner(call_world, missed["id"]))["status"] == "MISSED"

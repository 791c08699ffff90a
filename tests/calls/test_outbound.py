"""Outbound calls ring until the far end answers, declines, fails or hangs up, or the ring
timeout passes; the active call card; the numbers a channel fills in (``domain.md`` section 5,
call lifecycle; issue 21, part 2)."""

from __future__ import annotations

import pytest

from tests.calls.common import (
    ACTIVE,
    ANSWER,
    DECLINE,
    END,
    NODE_CALL,
    PLACE,
    RECEIVE_CALL,
    REPORT_ANSWERED,
    REPORT_DECLINED,
    REPORT_ENDED,
    TIMELINE,
    VOIP_E164,
    as_user,
    call_as_owner,
    errors_of,
    far_end,
    ring,
    ring_with_conversation,
)
from tests.support import new_number, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALL_UPDATED = "subscription { callUpdated { id status answeredAt answeredBy { id } } }"


async def _contact_with_conversation(world, assignee: str) -> tuple[str, str]:
    """A contact assigned to ``assignee`` with an open conversation (whose timeline shows
    call activities) and no call in progress: its id and the conversation's."""
    call, conversation_id = await ring_with_conversation(world, assignee=assignee)
    await as_user(world, "owner", DECLINE, {"c": call["id"]})
    return call["contact"]["id"], conversation_id


async def _place(world, who: str, contact_id: str) -> dict:
    return (await as_user(world, who, PLACE, {"c": contact_id, "ch": world.channel_ids["VOIP"]}))[
        "placeCall"
    ]


async def _call_activities(world, conversation_id: str) -> list[tuple[str, str | None]]:
    """``(kind, author id)`` of the call activities on a conversation's timeline."""
    data = await as_user(world, "owner", TIMELINE, {"id": conversation_id})
    return [
        (edge["node"]["kind"], (edge["node"].get("author") or {}).get("id"))
        for edge in data["node"]["timeline"]["edges"]
        if edge["node"] and edge["node"]["kind"].startswith("CALL_")
    ]


async def _active(world, who: str) -> dict | None:
    return (await as_user(world, who, ACTIVE))["activeCall"]


async def test_an_outbound_call_rings_until_the_contact_picks_up(call_world):
    me = call_world.user_ids["agent_self"]
    contact_id, conversation_id = await _contact_with_conversation(call_world, "agent_self")
    assert await _active(call_world, "agent_self") is None
    mine = await subscribe(call_world.served, call_world.tokens["agent_self"], CALL_UPDATED)
    other_team = await subscribe(call_world.served, call_world.tokens["agent_beta"], CALL_UPDATED)
    try:
        placed = await _place(call_world, "agent_self", contact_id)
        assert (placed["status"], placed["direction"], placed["answeredAt"]) == (
            "RINGING",
            "OUTBOUND",
            None,
        )
        assert placed["answeredBy"]["id"] == me and placed["fromNumber"] == VOIP_E164
        # the active call card, after a reload: the ringing call the viewer placed
        assert await _active(call_world, "agent_self") == placed
        assert await _active(call_world, "agent_all") is None  # not theirs
        # an outbound call rings in nobody's incoming-calls list
        incoming = await as_user(call_world, "owner", "{ incomingCalls { id } }")
        assert placed["id"] not in [c["id"] for c in incoming["incomingCalls"]]
        # the caller is on the line: no second call meanwhile
        errors = await errors_of(
            call_world, "agent_self", PLACE, {"c": contact_id, "ch": call_world.channel_ids["VOIP"]}
        )
        assert errors[0]["extensions"]["code"] == "CONFLICT"
        assert errors[0]["extensions"]["callId"] == placed["id"]
        # nobody but the contact answers it
        errors = await errors_of(call_world, "agent_all", ANSWER, {"c": placed["id"]})
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"

        answered = await far_end(call_world, REPORT_ANSWERED, placed)
        assert answered["status"] == "ONGOING" and answered["answeredAt"] >= placed["ringingAt"]
        assert answered["answeredBy"]["id"] == me
        pushed = (await mine.next())["data"]["callUpdated"]
        assert (pushed["id"], pushed["status"], pushed["answeredAt"]) == (
            placed["id"],
            "ONGOING",
            answered["answeredAt"],
        )
        await other_team.nothing(within=0.5)  # agent_beta may not see agent_self's contact
        # the connector retries its webhook: nothing changes
        assert await far_end(call_world, REPORT_ANSWERED, placed) == answered
        await mine.nothing(within=0.5)
        assert await _active(call_world, "agent_self") == answered

        ended = (await as_user(call_world, "agent_self", END, {"c": placed["id"]}))["endCall"]
        assert ended["status"] == "ENDED" and ended["durationSeconds"] is not None
        assert (await mine.next())["data"]["callUpdated"]["status"] == "ENDED"
        assert await _active(call_world, "agent_self") is None
        # a late "answered" about an ended call changes nothing
        assert await far_end(call_world, REPORT_ANSWERED, placed) == ended
    finally:
        await mine.close()
        await other_team.close()
    assert await _call_activities(call_world, conversation_id) == [
        ("CALL_DECLINED", call_world.user_ids["owner"]),  # the inbound call that made the contact
        ("CALL_ANSWERED", me),
        ("CALL_ENDED", me),
    ]


@pytest.mark.parametrize(
    ("outcome", "status", "activity"),
    [
        ("declined", "DECLINED", "CALL_DECLINED"),
        ("failed", "FAILED", "CALL_FAILED"),
        ("not picked up", "MISSED", "CALL_MISSED"),
        ("hung up by its caller", "MISSED", "CALL_MISSED"),
    ],
)
async def test_an_outbound_call_nobody_picks_up_ends_and_frees_its_caller(
    call_world, outcome, status, activity
):
    contact_id, conversation_id = await _contact_with_conversation(call_world, "agent_all")
    placed = await _place(call_world, "agent_all", contact_id)
    watcher = await subscribe(call_world.served, call_world.tokens["manager"], CALL_UPDATED)
    try:

        async def report() -> dict:
            if outcome == "declined":
                return await far_end(call_world, REPORT_DECLINED, placed)
            if outcome == "failed":
                return await far_end(call_world, REPORT_ENDED, placed, failed=True)
            if outcome == "not picked up":
                return await far_end(call_world, REPORT_ENDED, placed)
            return (await as_user(call_world, "agent_all", END, {"c": placed["id"]}))["endCall"]

        done = await report()
        assert (done["status"], done["answeredAt"], done["durationSeconds"]) == (status, None, None)
        assert done["endedAt"] >= placed["ringingAt"]
        pushed = (await watcher.next())["data"]["callUpdated"]
        assert (pushed["id"], pushed["status"]) == (placed["id"], status)
        # its caller is free again
        assert await _active(call_world, "agent_all") is None
        if outcome != "hung up by its caller":  # a retried webhook changes nothing
            assert await report() == done
            await watcher.nothing(within=0.5)
    finally:
        await watcher.close()
    # a late contradictory report is refused and changes nothing
    errors = await errors_of(
        call_world,
        "integration",
        REPORT_ANSWERED,
        {"i": {"channelId": call_world.channel_ids["VOIP"], "callId": placed["id"]}},
    )
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["status"] == status
    assert await call_as_owner(call_world, placed["id"]) == done
    author = call_world.user_ids["agent_all"] if outcome == "hung up by its caller" else None
    assert (await _call_activities(call_world, conversation_id))[1:] == [(activity, author)]
    again = await _place(call_world, "agent_all", contact_id)
    await as_user(call_world, "agent_all", END, {"c": again["id"]})


async def test_a_connector_may_name_an_outbound_call_by_the_id_it_reported(call_world):
    contact_id, _ = await _contact_with_conversation(call_world, "manager")
    placed = await _place(call_world, "manager", contact_id)
    external = f"CA{new_number()[1:]}"
    await far_end(call_world, REPORT_ANSWERED, placed, newExternalCallId=external)
    ended = (
        await as_user(
            call_world,
            "integration",
            REPORT_ENDED,
            {"i": {"channelId": call_world.channel_ids["VOIP"], "externalCallId": external}},
        )
    )["reportCallEnded"]
    assert (ended["id"], ended["status"]) == (placed["id"], "ENDED")
    assert await _active(call_world, "manager") is None


async def test_bad_reports_give_a_coded_error_and_change_nothing(call_world):
    contact_id, _ = await _contact_with_conversation(call_world, "agent_all")
    placed = await _place(call_world, "agent_all", contact_id)
    inbound = await ring(call_world, channel="VOIP", external_id="CA-taken")
    voip = call_world.channel_ids["VOIP"]
    cases = [
        # neither, or both, references to the call
        (REPORT_ANSWERED, {"channelId": voip}, "BAD_USER_INPUT", "externalCallId"),
        (
            REPORT_DECLINED,
            {"channelId": voip, "callId": placed["id"], "externalCallId": "x"},
            "BAD_USER_INPUT",
            "externalCallId",
        ),
        (REPORT_ENDED, {"channelId": voip}, "BAD_USER_INPUT", "externalCallId"),
        # users answer and decline inbound calls
        (REPORT_ANSWERED, {"channelId": voip, "callId": inbound["id"]}, "BAD_USER_INPUT", "callId"),
        (REPORT_DECLINED, {"channelId": voip, "callId": inbound["id"]}, "BAD_USER_INPUT", "callId"),
        # the call is on another channel, or unknown
        (
            REPORT_DECLINED,
            {"channelId": call_world.channel_ids["WHATSAPP"], "callId": placed["id"]},
            "NOT_FOUND",
            "callId",
        ),
        (
            REPORT_ANSWERED,
            {"channelId": voip, "externalCallId": "no-such-call"},
            "NOT_FOUND",
            "externalCallId",
        ),
        (
            REPORT_ANSWERED,
            {"channelId": voip, "callId": placed["id"], "newExternalCallId": ""},
            "BAD_USER_INPUT",
            "newExternalCallId",
        ),
        # the provider's id of another call
        (
            REPORT_ANSWERED,
            {"channelId": voip, "callId": placed["id"], "newExternalCallId": "CA-taken"},
            "BAD_USER_INPUT",
            "newExternalCallId",
        ),
    ]
    for mutation, arguments, code, field in cases:
        errors = await errors_of(call_world, "integration", mutation, {"i": arguments})
        assert errors[0]["extensions"]["code"] == code, (arguments, errors)
        assert errors[0]["extensions"]["field"] == field, (arguments, errors)
    # an agent is no connector
    errors = await errors_of(
        call_world, "agent_all", REPORT_ANSWERED, {"i": {"channelId": voip, "callId": placed["id"]}}
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # a user declines inbound calls only: an outbound one is hung up
    errors = await errors_of(call_world, "agent_all", DECLINE, {"c": placed["id"]})
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "callId",
        "inputPath": ["callId"],
    }
    assert await call_as_owner(call_world, placed["id"]) == placed
    assert (await call_as_owner(call_world, inbound["id"]))["status"] == "RINGING"
    await as_user(call_world, "agent_all", END, {"c": placed["id"]})
    await as_user(call_world, "owner", DECLINE, {"c": inbound["id"]})


async def test_the_channel_fills_in_its_own_number(call_world):
    channels = (await as_user(call_world, "owner", "{ channels { id type phoneNumber } }"))[
        "channels"
    ]
    numbers = {c["id"]: c["phoneNumber"] for c in channels}
    assert numbers[call_world.channel_ids["VOIP"]] == VOIP_E164
    assert numbers[call_world.channel_ids["WHATSAPP"]] is None
    # a call reported without `to` was made to the channel's number
    plain = await ring(call_world, channel="VOIP")
    assert plain["toNumber"] == VOIP_E164
    stated = await ring(call_world, channel="VOIP", to="+44 20 7946 0999")
    assert stated["toNumber"] == "+442079460999"
    unknown = await ring(call_world)  # the WhatsApp channel has no number
    assert unknown["toNumber"] is None
    for call in (plain, stated, unknown):
        await as_user(call_world, "owner", DECLINE, {"c": call["id"]})
        assert (await as_user(call_world, "owner", NODE_CALL, {"id": call["id"]}))["node"][
            "toNumber"
        ] == call["toNumber"]


async def test_a_channel_number_must_be_a_callable_number(call_world):
    connect = """mutation($t: ChannelType!, $n: String) {
      connectChannel(type: $t, name: "Line two", phoneNumber: $n) { id phoneNumber } }"""
    before = await as_user(call_world, "owner", "{ channels { id } }")
    for kind, number in (("VOIP", "not a number"), ("WHATSAPP", "12"), ("EMAIL", "+442079460001")):
        errors = await errors_of(call_world, "owner", connect, {"t": kind, "n": number})
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "phoneNumber",
            "inputPath": ["phoneNumber"],
        }
    assert await as_user(call_world, "owner", "{ channels { id } }") == before
    made = (
        await as_user(call_world, "owner", connect, {"t": "WHATSAPP", "n": "+44 20 7946 0123"})
    )["connectChannel"]
    assert made["phoneNumber"] == "+442079460123"
    # the ingestion of a call by its number on that channel
    call = (
        await as_user(
            call_world,
            "integration",
            RECEIVE_CALL,
            {"i": {"channelId": made["id"], "from": new_number(), "externalCallId": "line-two"}},
        )
    )["receiveCall"]
    assert call["toNumber"] == "+442079460123"
    await as_user(call_world, "owner", DECLINE, {"c": call["id"]})


async def test_active_call_needs_call_access(call_world):
    errors = await errors_of(call_world, "agent_free", ACTIVE)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"

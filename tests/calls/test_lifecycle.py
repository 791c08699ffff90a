"""The call lifecycle (``domain.md`` section 5): RINGING → ONGOING → ENDED, RINGING →
DECLINED; recording; server times; illegal moves and bad input get a coded error and change
nothing; only users with call access handle calls, only calls they may see."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from tests.calls.common import (
    ANSWER,
    DECLINE,
    END,
    NODE_CALL,
    PLACE,
    RECORD,
    REPORT_ANSWERED,
    VOIP_E164,
    as_user,
    call_as_owner,
    errors_of,
    far_end,
    ring,
)
from tests.conftest import ASSIGN, PASSWORD, login
from tests.support import Client, cli

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_answer_record_end(call_world):
    call = await ring(call_world, assignee="agent_team")
    before = datetime.now(UTC)
    answered = (await as_user(call_world, "agent_team", ANSWER, {"c": call["id"]}))["answerCall"]
    assert answered["status"] == "ONGOING"
    assert answered["answeredBy"]["id"] == call_world.user_ids["agent_team"]
    assert _at(answered["answeredAt"]).utcoffset().total_seconds() == 0  # UTC
    assert _at(call["ringingAt"]) <= _at(answered["answeredAt"])
    assert abs((_at(answered["answeredAt"]) - before).total_seconds()) < 30
    assert answered["endedAt"] is None and answered["durationSeconds"] is None

    recorded = (await as_user(call_world, "agent_team", RECORD, {"c": call["id"]}))[
        "startCallRecording"
    ]
    assert recorded["recording"]["state"] == "RECORDING" and recorded["recording"]["id"]
    assert recorded["status"] == "ONGOING"
    # recording twice is a conflict
    errors = await errors_of(call_world, "agent_team", RECORD, {"c": call["id"]})
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    # someone else cannot end it
    errors = await errors_of(call_world, "agent_all", END, {"c": call["id"]})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN" and "Agent Team" in errors[0]["message"]

    ended = (await as_user(call_world, "agent_team", END, {"c": call["id"]}))["endCall"]
    assert ended["status"] == "ENDED"
    assert _at(ended["endedAt"]) >= _at(ended["answeredAt"])
    expected = round((_at(ended["endedAt"]) - _at(ended["answeredAt"])).total_seconds())
    assert ended["durationSeconds"] == expected
    assert ended["recording"] == {"state": "READY", "id": recorded["recording"]["id"], "url": None}
    assert await call_as_owner(call_world, call["id"]) == ended


async def test_decline(call_world):
    call = await ring(call_world)
    declined = (await as_user(call_world, "agent_all", DECLINE, {"c": call["id"]}))["declineCall"]
    assert (
        declined["status"] == "DECLINED" and declined["endedAt"] and declined["answeredBy"] is None
    )
    assert declined["contact"]["assignee"] is None  # declining assigns nobody


@pytest.mark.parametrize(
    ("setup", "mutation", "status"),
    [
        ("ended", ANSWER, "ENDED"),
        ("ended", DECLINE, "ENDED"),
        ("ended", END, "ENDED"),
        ("ended", RECORD, "ENDED"),
        ("ringing", END, "RINGING"),
        ("ringing", RECORD, "RINGING"),
        ("declined", ANSWER, "DECLINED"),
        ("ongoing", DECLINE, "ONGOING"),
        ("ongoing", ANSWER, "ONGOING"),
    ],
)
async def test_illegal_transitions_conflict_and_change_nothing(call_world, setup, mutation, status):
    call = await ring(call_world)
    if setup in ("ongoing", "ended"):
        await as_user(call_world, "manager", ANSWER, {"c": call["id"]})
    if setup == "ended":
        await as_user(call_world, "manager", END, {"c": call["id"]})
    if setup == "declined":
        await as_user(call_world, "manager", DECLINE, {"c": call["id"]})
    before = await call_as_owner(call_world, call["id"])
    assert before["status"] == status
    errors = await errors_of(call_world, "manager", mutation, {"c": call["id"]})
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["status"] == status and status in errors[0]["message"]
    if setup in ("ongoing", "ended") and mutation in (ANSWER, DECLINE):
        assert "Manager" in errors[0]["message"]  # who took it
    assert await call_as_owner(call_world, call["id"]) == before
    if setup == "ongoing":
        await as_user(call_world, "manager", END, {"c": call["id"]})


async def test_a_user_on_a_call_cannot_take_another(call_world):
    first, second = await ring(call_world), await ring(call_world)
    await as_user(call_world, "agent_all", ANSWER, {"c": first["id"]})
    errors = await errors_of(call_world, "agent_all", ANSWER, {"c": second["id"]})
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["callId"] == first["id"]
    contact_id = (await call_as_owner(call_world, second["id"]))["contact"]["id"]
    errors = await errors_of(
        call_world, "agent_all", PLACE, {"c": contact_id, "ch": call_world.channel_ids["VOIP"]}
    )
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert (await call_as_owner(call_world, second["id"]))["status"] == "RINGING"
    await as_user(call_world, "agent_all", END, {"c": first["id"]})
    assert (await as_user(call_world, "agent_all", ANSWER, {"c": second["id"]}))["answerCall"][
        "status"
    ] == "ONGOING"
    await as_user(call_world, "agent_all", END, {"c": second["id"]})


async def test_place_call(call_world):
    incoming = await ring(call_world, assignee="agent_beta")
    await as_user(call_world, "owner", DECLINE, {"c": incoming["id"]})
    contact_id = incoming["contact"]["id"]
    placed = (
        await as_user(
            call_world, "agent_beta", PLACE, {"c": contact_id, "ch": call_world.channel_ids["VOIP"]}
        )
    )["placeCall"]
    assert placed["direction"] == "OUTBOUND" and placed["status"] == "RINGING"
    assert placed["answeredBy"]["id"] == call_world.user_ids["agent_beta"]
    assert placed["toNumber"] == incoming["fromNumber"] and placed["answeredAt"] is None
    assert placed["fromNumber"] == VOIP_E164  # the channel's own number
    assert placed["channel"]["type"] == "VOIP"
    answered = await far_end(call_world, REPORT_ANSWERED, placed)
    assert answered["status"] == "ONGOING" and answered["answeredAt"] >= placed["ringingAt"]
    ended = (await as_user(call_world, "agent_beta", END, {"c": placed["id"]}))["endCall"]
    assert ended["status"] == "ENDED" and ended["durationSeconds"] is not None


async def test_bad_input_gives_a_coded_error_and_changes_nothing(call_world):
    call = await ring(call_world, assignee="agent_all")
    contact_id = call["contact"]["id"]
    before = await call_as_owner(call_world, call["id"])
    calls_of_contact = """query($id: ID!) { contact(id: $id) { callActivities { edges { node { id status } } } } }"""
    calls_before = await as_user(call_world, "owner", calls_of_contact, {"id": contact_id})
    # placing on a messaging-only channel
    for channel in ("EMAIL", "WEBCHAT"):
        errors = await errors_of(
            call_world, "agent_all", PLACE, {"c": contact_id, "ch": call_world.channel_ids[channel]}
        )
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "channelId",
            "inputPath": ["channelId"],
        }
    # placing to a contact without a number (the world's webchat visitors)
    errors = await errors_of(
        call_world,
        "agent_all",
        PLACE,
        {"c": call_world.contact_ids["c_all"], "ch": call_world.channel_ids["VOIP"]},
    )
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "contactId",
        "inputPath": ["contactId"],
    }
    # malformed ids, and ids of another type
    for bad in ("nonsense", "", contact_id, base64.urlsafe_b64encode(b"Call:abc").decode()):
        errors = await errors_of(call_world, "agent_all", ANSWER, {"c": bad})
        assert errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "callId",
            "inputPath": ["callId"],
        }, bad
    unknown = base64.urlsafe_b64encode(b"Call:999999").decode().rstrip("=")
    errors = await errors_of(call_world, "agent_all", ANSWER, {"c": unknown})
    assert errors[0]["extensions"] == {
        "code": "NOT_FOUND",
        "field": "callId",
        "inputPath": ["callId"],
    }
    # placing a call to a blocked contact (as an owner, who may see blocked contacts)
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { blockContact(contactId: $c) { id } }",
        {"c": contact_id},
    )
    errors = await errors_of(
        call_world, "owner", PLACE, {"c": contact_id, "ch": call_world.channel_ids["VOIP"]}
    )
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "contactId",
        "inputPath": ["contactId"],
    }
    errors = await errors_of(call_world, "owner", ANSWER, {"c": call["id"]})
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "callId",
        "inputPath": ["callId"],
    }
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { unblockContact(contactId: $c) { id } }",
        {"c": contact_id},
    )
    after = await call_as_owner(call_world, call["id"])
    assert after == before
    assert (
        await as_user(call_world, "owner", calls_of_contact, {"id": contact_id}) == calls_before
    )  # no call placed
    owner_view = await as_user(
        call_world,
        "owner",
        "query($id: ID!) { node(id: $id) { ... on Contact { assignee { id } } } }",
        {"id": contact_id},
    )
    assert owner_view["node"]["assignee"]["id"] == call_world.user_ids["agent_all"]


async def test_call_access_and_visibility(call_world):
    hidden = await ring(call_world, assignee="agent_beta")  # not agent_team's team
    unassigned = await ring(call_world)
    before = await call_as_owner(call_world, hidden["id"])
    # without call access: FORBIDDEN for everything, and node() shows nothing
    for mutation in (ANSWER, DECLINE, END, RECORD):
        errors = await errors_of(call_world, "agent_free", mutation, {"c": hidden["id"]})
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    errors = await errors_of(
        call_world,
        "agent_free",
        PLACE,
        {"c": hidden["contact"]["id"], "ch": call_world.channel_ids["VOIP"]},
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await as_user(call_world, "agent_free", NODE_CALL, {"id": hidden["id"]}))[
        "node"
    ] is None
    errors = await errors_of(call_world, "agent_free", "{ incomingCalls { id } }")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # with call access, a call of a contact one may not see does not exist
    for who, call in (("agent_team", hidden), ("agent_self", hidden), ("agent_team", unassigned)):
        for mutation in (ANSWER, DECLINE, END, RECORD):
            errors = await errors_of(call_world, who, mutation, {"c": call["id"]})
            assert errors[0]["extensions"] == {
                "code": "NOT_FOUND",
                "field": "callId",
                "inputPath": ["callId"],
            }, (
                who,
                mutation,
            )
        assert (await as_user(call_world, who, NODE_CALL, {"id": call["id"]}))["node"] is None
    # another workspace's users never reach it
    boss = f"boss@calls.{call_world.domain}"
    cli(
        call_world.served.env,
        "create-workspace",
        "--name",
        "Other",
        "--owner-email",
        boss,
        "--owner-password",
        PASSWORD,
    )
    other = Client(call_world.served, await login(call_world.served, boss, PASSWORD))
    for mutation in (ANSWER, DECLINE):
        body = await other.execute(mutation, {"c": hidden["id"]})
        assert body["errors"][0]["extensions"] == {
            "code": "NOT_FOUND",
            "field": "callId",
            "inputPath": ["callId"],
        }
    assert (await other(NODE_CALL, {"id": hidden["id"]}))["node"] is None
    await other.aclose()
    assert await call_as_owner(call_world, hidden["id"]) == before
    # the teammate who may see it does
    assert (await as_user(call_world, "agent_beta", NODE_CALL, {"id": hidden["id"]}))["node"][
        "id"
    ] == hidden["id"]


async def test_every_outcome_leaves_one_activity_on_the_timeline(call_world):
    from tests.calls.common import REPORT_ENDED, activity_kinds, ring_with_conversation

    declined, declined_conversation = await ring_with_conversation(call_world, assignee="agent_all")
    await as_user(call_world, "agent_all", DECLINE, {"c": declined["id"]})
    _failed, failed_conversation = await ring_with_conversation(
        call_world, external_id="failing-call"
    )
    report = {
        "i": {
            "channelId": call_world.channel_ids["WHATSAPP"],
            "externalCallId": "failing-call",
            "failed": True,
        }
    }
    assert (await as_user(call_world, "integration", REPORT_ENDED, report))["reportCallEnded"][
        "status"
    ] == "FAILED"
    assert (await as_user(call_world, "integration", REPORT_ENDED, report))["reportCallEnded"][
        "status"
    ] == "FAILED"
    call_kinds = [
        k
        for k, _ in await activity_kinds(call_world, declined_conversation)
        if k.startswith("CALL_")
    ]
    assert call_kinds == ["CALL_DECLINED"]
    call_kinds = [
        k for k, _ in await activity_kinds(call_world, failed_conversation) if k.startswith("CALL_")
    ]
    assert call_kinds == ["CALL_FAILED"]
    timeline = await as_user(
        call_world,
        "owner",
        """query($id: ID!) { node(id: $id) { ... on Conversation {
        timeline(first: 100) { edges { node { ... on Activity { kind author { id } } } } } } } }""",
        {"id": declined_conversation},
    )
    authors = [
        e["node"]["author"]
        for e in timeline["node"]["timeline"]["edges"]
        if e["node"] and e["node"].get("kind") == "CALL_DECLINED"
    ]
    assert authors == [{"id": call_world.user_ids["agent_all"]}]


async def test_ids_of_another_workspace_are_not_found_and_nothing_changes(call_world):
    from tests.calls.common import RECEIVE_CALL, REPORT_ENDED
    from tests.support import new_number

    boss = f"boss@foreign.{call_world.domain}"
    cli(
        call_world.served.env,
        "create-workspace",
        "--name",
        "Foreign",
        "--owner-email",
        boss,
        "--owner-password",
        PASSWORD,
    )
    other = Client(call_world.served, await login(call_world.served, boss, PASSWORD))
    try:
        channel = (
            await other('mutation { connectChannel(type: VOIP, name: "Their line") { id } }')
        )["connectChannel"]["id"]
        theirs = (
            await other(
                RECEIVE_CALL,
                {"i": {"channelId": channel, "from": new_number(), "externalCallId": "theirs-1"}},
            )
        )["receiveCall"]
        before = (await other(NODE_CALL, {"id": theirs["id"]}))["node"]
        ours = await ring(call_world, assignee="agent_all")
        activities = """query($id: ID!) { contact(id: $id) { callActivities { edges { node { id status } } } } }"""
        our_calls = await as_user(
            call_world, "agent_all", activities, {"id": ours["contact"]["id"]}
        )
        for mutation in (ANSWER, DECLINE, END, RECORD):
            errors = await errors_of(call_world, "agent_all", mutation, {"c": theirs["id"]})
            assert errors[0]["extensions"] == {
                "code": "NOT_FOUND",
                "field": "callId",
                "inputPath": ["callId"],
            }
        errors = await errors_of(
            call_world, "agent_all", PLACE, {"c": ours["contact"]["id"], "ch": channel}
        )
        assert errors[0]["extensions"] == {
            "code": "NOT_FOUND",
            "field": "channelId",
            "inputPath": ["channelId"],
        }
        errors = await errors_of(
            call_world,
            "agent_all",
            PLACE,
            {"c": theirs["contact"]["id"], "ch": call_world.channel_ids["VOIP"]},
        )
        assert errors[0]["extensions"] == {
            "code": "NOT_FOUND",
            "field": "contactId",
            "inputPath": ["contactId"],
        }
        errors = await errors_of(
            call_world,
            "integration",
            RECEIVE_CALL,
            {"i": {"channelId": channel, "from": new_number(), "externalCallId": "ours-on-theirs"}},
        )
        assert errors[0]["extensions"] == {
            "code": "NOT_FOUND",
            "field": "channelId",
            "inputPath": ["input", "channelId"],
        }
        errors = await errors_of(
            call_world,
            "integration",
            REPORT_ENDED,
            {"i": {"channelId": channel, "externalCallId": "theirs-1"}},
        )
        assert errors[0]["extensions"] == {
            "code": "NOT_FOUND",
            "field": "channelId",
            "inputPath": ["input", "channelId"],
        }
        # nothing changed on either side
        assert (await other(NODE_CALL, {"id": theirs["id"]}))["node"] == before
        assert (
            await as_user(call_world, "agent_all", activities, {"id": ours["contact"]["id"]})
            == our_calls
        )
        assert (await call_as_owner(call_world, ours["id"]))["status"] == "RINGING"
        assert (await other("{ calls { edges { node { id } } } }"))["calls"]["edges"] == [
            {"node": {"id": theirs["id"]}}
        ]
    finally:
        await other.aclose()
    await as_user(call_world, "owner", DECLINE, {"c": ours["id"]})


LINE_FIELDS = "id status contactId fromNumber toNumber recording { state } endedAt"
ACTIVE_LINE = f"{{ activeCall {{ {LINE_FIELDS} }} }}"
END_LINE = f"mutation($c: ID!) {{ endCall(callId: $c) {{ {LINE_FIELDS} }} }}"


async def test_the_user_on_the_line_hangs_up_a_call_whose_contact_was_reassigned_away(
    call_world,
):
    """A SELF agent on a call whose contact a manager reassigns to someone else may no longer
    see the contact, but is still on the line: their call card stays (its contact NOT_FOUND,
    its numbers and recording null) and they may hang up. Before, ``activeCall`` was null,
    ``endCall`` NOT_FOUND, and every other call a CONFLICT for ever (a helper's review)."""
    call = await ring(call_world, assignee="agent_self")
    await as_user(call_world, "agent_self", ANSWER, {"c": call["id"]})
    await as_user(
        call_world,
        "owner",
        ASSIGN,
        {"c": call["contact"]["id"], "a": call_world.user_ids["agent_all"]},
    )
    assert (await as_user(call_world, "agent_self", NODE_CALL, {"id": call["id"]}))["node"] is None

    card = (await as_user(call_world, "agent_self", ACTIVE_LINE))["activeCall"]
    assert card["id"] == call["id"] and card["status"] == "ONGOING"
    assert card["contactId"] == call["contact"]["id"]
    assert card["fromNumber"] is None and card["toNumber"] is None and card["recording"] is None
    errors = await errors_of(call_world, "agent_self", "{ activeCall { contact { name } } }")
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"

    # recording a contact they may not see, or anyone else hanging up, is NOT_FOUND
    errors = await errors_of(call_world, "agent_self", RECORD, {"c": call["id"]})
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    errors = await errors_of(call_world, "agent_beta", END, {"c": call["id"]})
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    # another call waits for this one, which the conflict names: it is their own
    other = await ring(call_world, assignee="agent_self")
    errors = await errors_of(call_world, "agent_self", ANSWER, {"c": other["id"]})
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["callId"] == call["id"]
    assert (await call_as_owner(call_world, call["id"]))["status"] == "ONGOING"

    ended = (await as_user(call_world, "agent_self", END_LINE, {"c": call["id"]}))["endCall"]
    assert ended["status"] == "ENDED" and ended["endedAt"] and ended["fromNumber"] is None
    assert (await as_user(call_world, "agent_self", ACTIVE_LINE))["activeCall"] is None
    seen = await call_as_owner(call_world, call["id"])
    assert (
        seen["status"] == "ENDED"
        and seen["contact"]["assignee"]["id"] == (call_world.user_ids["agent_all"])
    )
    answered = (await as_user(call_world, "agent_self", ANSWER, {"c": other["id"]}))["answerCall"]
    assert answered["status"] == "ONGOING"
    await as_user(call_world, "agent_self", END, {"c": other["id"]})

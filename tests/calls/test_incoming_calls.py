"""``incomingCalls`` (``domain.md`` section 5): ringing calls by the visibility policy, the
tabs each restriction allows, the entry's fields, and phone numbers masked for everyone but
owners when the workspace masks numbers."""

from __future__ import annotations

import pytest

from tests.calls.common import INCOMING, as_user, errors_of, ring

pytestmark = pytest.mark.asyncio(loop_scope="session")

ASSIGNEES = (
    "owner",
    "manager",
    "agent_all",
    "agent_team",
    "agent_self",
    "agent_beta",
    "agent_free",
    None,
)
EVERY = set(ASSIGNEES)
ALPHA = {"manager", "agent_all", "agent_team", "agent_self"}  # agent_team's teammates
FORBIDDEN = "FORBIDDEN"

# viewer: {tab: assignees of the callers listed, or FORBIDDEN}
MATRIX = {
    "owner": {"ALL": EVERY, "ASSIGNED_TO_ME": {"owner"}, "UNASSIGNED": {None}},
    "manager": {"ALL": EVERY, "ASSIGNED_TO_ME": {"manager"}, "UNASSIGNED": {None}},
    "agent_all": {"ALL": EVERY, "ASSIGNED_TO_ME": {"agent_all"}, "UNASSIGNED": {None}},
    "agent_team": {"ALL": ALPHA, "ASSIGNED_TO_ME": {"agent_team"}, "UNASSIGNED": FORBIDDEN},
    "agent_self": {"ALL": FORBIDDEN, "ASSIGNED_TO_ME": {"agent_self"}, "UNASSIGNED": FORBIDDEN},
    "agent_beta": {
        "ALL": {"agent_beta"},
        "ASSIGNED_TO_ME": {"agent_beta"},
        "UNASSIGNED": FORBIDDEN,
    },
    "agent_free": {
        "ALL": FORBIDDEN,
        "ASSIGNED_TO_ME": FORBIDDEN,
        "UNASSIGNED": FORBIDDEN,
    },  # no call access
}


@pytest.fixture(scope="module")
async def ringing(call_world) -> dict:
    """One ringing call per assignee, and one from a blocked contact."""
    calls = {assignee: await ring(call_world, assignee=assignee) for assignee in ASSIGNEES}
    blocked = await ring(call_world, assignee="agent_all")
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { blockContact(contactId: $c) { id } }",
        {"c": blocked["contact"]["id"]},
    )
    return {"calls": calls, "blocked": blocked}


@pytest.mark.parametrize("viewer", sorted(MATRIX))
async def test_tabs_follow_the_visibility_policy(call_world, ringing, viewer):
    by_id = {call["id"]: assignee for assignee, call in ringing["calls"].items()}
    for tab, expected in MATRIX[viewer].items():
        if expected == FORBIDDEN:
            errors = await errors_of(call_world, viewer, INCOMING, {"t": tab})
            assert errors[0]["extensions"]["code"] == "FORBIDDEN", (viewer, tab)
            continue
        listed = (await as_user(call_world, viewer, INCOMING, {"t": tab}))["incomingCalls"]
        assert ringing["blocked"]["id"] not in {c["id"] for c in listed}
        assert {by_id[c["id"]] for c in listed if c["id"] in by_id} == expected, (viewer, tab)
        assert all(c["status"] == "RINGING" and c["direction"] == "INBOUND" for c in listed)


async def test_default_tab_is_all_and_entries_carry_what_the_card_shows(call_world, ringing):
    listed = (
        await as_user(
            call_world,
            "agent_all",
            "{ incomingCalls { id ringingAt contact { name assignee { id name } } "
            "channel { type name } fromNumber } }",
        )
    )["incomingCalls"]
    entry = next(c for c in listed if c["id"] == ringing["calls"]["agent_team"]["id"])
    assert entry["contact"]["assignee"] == {
        "id": call_world.user_ids["agent_team"],
        "name": "Agent Team",
    }
    assert entry["channel"] == {"type": "WHATSAPP", "name": "WhatsApp UK"}
    assert entry["contact"]["name"] == "Unknown contact"
    assert entry["fromNumber"] == ringing["calls"]["agent_team"]["fromNumber"]
    unassigned = next(c for c in listed if c["id"] == ringing["calls"][None]["id"])
    assert unassigned["contact"]["assignee"] is None
    times = [c["ringingAt"] for c in listed]
    assert times == sorted(times)  # longest ringing first


async def test_a_call_leaves_the_list_once_answered(call_world, ringing):
    call = await ring(call_world)
    ids = lambda data: {c["id"] for c in data["incomingCalls"]}
    assert call["id"] in ids(await as_user(call_world, "manager", INCOMING, {"t": "UNASSIGNED"}))
    await as_user(
        call_world,
        "agent_all",
        "mutation($c: ID!) { answerCall(callId: $c) { id } }",
        {"c": call["id"]},
    )
    assert call["id"] not in ids(await as_user(call_world, "manager", INCOMING, {"t": "ALL"}))
    assert call["id"] not in ids(
        await as_user(call_world, "manager", INCOMING, {"t": "UNASSIGNED"})
    )
    await as_user(
        call_world,
        "agent_all",
        "mutation($c: ID!) { endCall(callId: $c) { id } }",
        {"c": call["id"]},
    )


async def test_numbers_are_masked_except_for_owners(call_world, ringing):
    whatsapp = await ring(call_world, number="+447911123456", assignee="agent_all")
    voip = await ring(call_world, channel="VOIP", number="+447911123457", assignee="agent_all")
    settings = "mutation($m: Boolean!) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) { phoneNumberMasking } }"
    query = "{ incomingCalls { id fromNumber contact { phone } } }"
    await as_user(call_world, "owner", settings, {"m": True})
    try:
        for viewer, numbers in (
            ("owner", ("+447911123456", "+447911123457")),
            ("manager", ("+44 79•• •••456", "+44 79•• •••457")),
            ("agent_all", ("+44 79•• •••456", "+44 79•• •••457")),
        ):
            listed = {
                c["id"]: c for c in (await as_user(call_world, viewer, query))["incomingCalls"]
            }
            for call, number in zip((whatsapp, voip), numbers, strict=True):
                assert listed[call["id"]]["fromNumber"] == number, viewer
                assert listed[call["id"]]["contact"]["phone"] == number, viewer
    finally:
        await as_user(call_world, "owner", settings, {"m": False})
    listed = {c["id"]: c for c in (await as_user(call_world, "agent_all", query))["incomingCalls"]}
    assert listed[whatsapp["id"]]["fromNumber"] == "+447911123456"

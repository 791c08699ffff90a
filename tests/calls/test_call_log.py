"""The call log of the CALLS view and a contact's call activities (``domain.md`` sections 4 and
5): every call, newest first, paginated by cursor, within the selected inbox's visibility, only
for users with call access."""

from __future__ import annotations

import pytest

from tests.calls.common import (
    ANSWER,
    DECLINE,
    END,
    REPORT_ENDED,
    as_user,
    errors_of,
    place_answered,
    ring,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALLS = """query($inbox: InboxSelector, $first: Int, $after: String) {
  calls(inbox: $inbox, first: $first, after: $after) {
    edges { cursor node { id status direction durationSeconds contact { id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""

CALL_ACTIVITIES = """query($id: ID!, $first: Int, $after: String) { contact(id: $id) {
  callActivities(first: $first, after: $after) {
    edges { cursor node { id status direction ringingAt answeredAt endedAt durationSeconds
                          answeredBy { id } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } } }"""

LIST_WITH_CALLS = """query($first: Int) { conversations(inbox: {standard: ALL}, first: 100) { edges { node {
  contact { id callActivities(first: $first) { edges { node { id contact { id } } } pageInfo { hasNextPage } } } } } } }"""


async def _all_pages(world, who: str, inbox: dict | None, first: int) -> list[dict]:
    """Every call of the log as ``who``, page by page; checks the page info on the way."""
    seen, after = [], None
    while True:
        data = (await as_user(world, who, CALLS, {"inbox": inbox, "first": first, "after": after}))[
            "calls"
        ]
        page = data["pageInfo"]
        assert len(data["edges"]) <= first
        assert page["hasPreviousPage"] is (after is not None)
        if data["edges"]:
            assert page["startCursor"] == data["edges"][0]["cursor"]
            assert page["endCursor"] == data["edges"][-1]["cursor"]
        seen += [edge["node"] for edge in data["edges"]]
        if not page["hasNextPage"]:
            return seen
        after = page["endCursor"]


@pytest.fixture(scope="module")
async def log(call_world) -> dict[str, dict]:
    """Calls of every outcome and both directions, oldest first, named by what happened."""
    calls: dict[str, dict] = {}
    calls["missed_unassigned"] = await ring(call_world, external_id="log-missed")
    await as_user(
        call_world,
        "integration",
        REPORT_ENDED,
        {"i": {"channelId": call_world.channel_ids["WHATSAPP"], "externalCallId": "log-missed"}},
    )
    calls["declined_team"] = await ring(call_world, assignee="agent_team")
    await as_user(call_world, "agent_team", DECLINE, {"c": calls["declined_team"]["id"]})
    calls["ended_self"] = await ring(call_world, assignee="agent_self")
    await as_user(call_world, "agent_self", ANSWER, {"c": calls["ended_self"]["id"]})
    await as_user(call_world, "agent_self", END, {"c": calls["ended_self"]["id"]})
    calls["ringing_beta"] = await ring(call_world, assignee="agent_beta", channel="VOIP")
    calls["placed_self"] = await place_answered(
        call_world, "agent_self", calls["ended_self"]["contact"]["id"]
    )
    await as_user(call_world, "agent_self", END, {"c": calls["placed_self"]["id"]})
    calls["ongoing_all"] = await ring(call_world, assignee="agent_all")
    await as_user(call_world, "agent_all", ANSWER, {"c": calls["ongoing_all"]["id"]})
    calls["blocked"] = await ring(call_world)
    await as_user(call_world, "owner", DECLINE, {"c": calls["blocked"]["id"]})
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { blockContact(contactId: $c) { id } }",
        {"c": calls["blocked"]["contact"]["id"]},
    )
    return calls


def _ids(calls: list[dict]) -> list[str]:
    return [c["id"] for c in calls]


def _named(log: dict[str, dict], *names: str) -> list[str]:
    """The ids of the named calls, newest first (the fixture made them oldest first)."""
    order = list(log)
    return [log[n]["id"] for n in sorted(names, key=order.index, reverse=True)]


async def test_the_log_lists_every_call_newest_first_page_by_page(call_world, log):
    everything = _named(log, *(n for n in log if n != "blocked"))
    assert _ids(await _all_pages(call_world, "owner", {"standard": "ALL"}, first=2)) == everything
    assert _ids(await _all_pages(call_world, "manager", None, first=100)) == everything
    whole = await _all_pages(call_world, "owner", None, first=3)  # owners see blocked contacts
    assert _ids(whole) == _named(log, *log)
    outcomes = {c["id"]: (c["status"], c["direction"]) for c in whole}
    assert outcomes[log["missed_unassigned"]["id"]] == ("MISSED", "INBOUND")
    assert outcomes[log["declined_team"]["id"]] == ("DECLINED", "INBOUND")
    assert outcomes[log["ended_self"]["id"]] == ("ENDED", "INBOUND")
    assert outcomes[log["placed_self"]["id"]] == ("ENDED", "OUTBOUND")
    assert outcomes[log["ongoing_all"]["id"]] == ("ONGOING", "INBOUND")


@pytest.mark.parametrize(
    ("who", "inbox", "names"),
    [
        ("owner", {"standard": "MINE"}, ()),
        ("owner", {"standard": "UNASSIGNED"}, ("missed_unassigned",)),
        ("owner", {"blocked": True}, ("blocked",)),
        (
            "manager",
            {"teamId": "Alpha"},
            ("declined_team", "ended_self", "placed_self", "ongoing_all"),
        ),
        ("manager", {"teamId": "Beta"}, ("ringing_beta",)),
        ("agent_all", {"standard": "MINE"}, ("ongoing_all",)),
        (
            "agent_all",
            None,
            (
                "missed_unassigned",
                "declined_team",
                "ended_self",
                "ringing_beta",
                "placed_self",
                "ongoing_all",
            ),
        ),
        ("agent_team", None, ("declined_team", "ended_self", "placed_self", "ongoing_all")),
        ("agent_team", {"standard": "MINE"}, ("declined_team",)),
        ("agent_self", None, ("ended_self", "placed_self")),
        ("agent_self", {"standard": "MINE"}, ("ended_self", "placed_self")),
        ("agent_beta", {"teamId": "Beta"}, ("ringing_beta",)),
    ],
)
async def test_the_log_keeps_to_the_inbox_and_the_viewers_visibility(
    call_world, log, who, inbox, names
):
    if inbox and "teamId" in inbox:
        inbox = {"teamId": call_world.team_ids[inbox["teamId"]]}
    assert _ids(await _all_pages(call_world, who, inbox, first=2)) == _named(log, *names)


async def test_the_log_of_a_custom_inbox_holds_the_calls_of_its_contacts(call_world, log):
    created = await as_user(
        call_world,
        "owner",
        """mutation($i: CustomInboxInput!) {
        createCustomInbox(input: $i) { id } }""",
        {
            "i": {
                "name": "Alpha calls",
                "filter": {
                    "assignee": {
                        "userIds": [
                            call_world.user_ids["agent_all"],
                            call_world.user_ids["agent_self"],
                        ]
                    }
                },
            }
        },
    )
    custom = {"customInboxId": created["createCustomInbox"]["id"]}
    # a custom inbox is a view of conversations: callers who also wrote are in it
    assert _ids(await _all_pages(call_world, "owner", custom, first=5)) == []
    for name in ("ongoing_all", "placed_self"):
        await as_user(
            call_world,
            "owner",
            "mutation($c: ID!) { openConversation(contactId: $c) { id } }",
            {"c": log[name]["contact"]["id"]},
        )
    assert _ids(await _all_pages(call_world, "owner", custom, first=1)) == _named(
        log, "ongoing_all", "placed_self", "ended_self"
    )


@pytest.mark.parametrize(
    ("who", "variables", "code", "field"),
    [
        ("agent_free", {}, "FORBIDDEN", None),
        ("agent_self", {"inbox": {"standard": "ALL"}}, "FORBIDDEN", "inbox"),
        ("agent_team", {"inbox": {"standard": "UNASSIGNED"}}, "FORBIDDEN", "inbox"),
        ("agent_all", {"inbox": {"blocked": True}}, "FORBIDDEN", "inbox"),
        ("owner", {"inbox": {"teamId": "VGVhbTo5OTk5OTk"}}, "NOT_FOUND", "inbox.teamId"),
        ("owner", {"first": 0}, "BAD_USER_INPUT", "first"),
        ("owner", {"first": 101}, "BAD_USER_INPUT", "first"),
        ("owner", {"after": "not-a-cursor"}, "BAD_USER_INPUT", "after"),
        ("owner", {"after": "WyJ4IiwxXQ"}, "BAD_USER_INPUT", "after"),
    ],
)
async def test_the_log_refuses_bad_input_and_users_without_call_access(
    call_world, log, who, variables, code, field
):
    errors = await errors_of(call_world, who, CALLS, variables)
    assert errors[0]["extensions"]["code"] == code
    assert errors[0]["extensions"].get("field") == field


async def test_call_activities_of_a_contact_newest_first_with_outcome_and_duration(call_world, log):
    contact_id = log["ended_self"]["contact"]["id"]
    pages, after = [], None
    while True:
        data = (
            await as_user(
                call_world,
                "agent_self",
                CALL_ACTIVITIES,
                {"id": contact_id, "first": 1, "after": after},
            )
        )["contact"]["callActivities"]
        pages.append(data["edges"])
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert [len(p) for p in pages] == [1, 1]
    placed, answered = (p[0]["node"] for p in pages)
    assert [placed["id"], answered["id"]] == _named(log, "ended_self", "placed_self")
    me = call_world.user_ids["agent_self"]
    assert (placed["status"], placed["direction"], placed["answeredBy"]) == (
        "ENDED",
        "OUTBOUND",
        {"id": me},
    )
    assert (answered["status"], answered["direction"], answered["answeredBy"]) == (
        "ENDED",
        "INBOUND",
        {"id": me},
    )
    for call in (placed, answered):
        assert call["ringingAt"] <= call["answeredAt"] <= call["endedAt"]
        assert isinstance(call["durationSeconds"], int) and call["durationSeconds"] >= 0
    declined = (
        await as_user(
            call_world, "agent_team", CALL_ACTIVITIES, {"id": log["declined_team"]["contact"]["id"]}
        )
    )["contact"]["callActivities"]["edges"]
    assert [
        (e["node"]["status"], e["node"]["durationSeconds"], e["node"]["answeredBy"])
        for e in declined
    ] == [("DECLINED", None, None)]
    # no call access: no calls shown, the rest of the contact resolves
    hidden = await as_user(call_world, "agent_free", CALL_ACTIVITIES, {"id": contact_id})
    assert hidden["contact"]["callActivities"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "endCursor": None},
    }
    errors = await errors_of(
        call_world, "agent_self", CALL_ACTIVITIES, {"id": contact_id, "after": "nope"}
    )
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "after",
        "inputPath": ["after"],
    }


async def test_call_activities_of_every_contact_in_a_list_are_each_their_own(call_world, log):
    for name in (
        "ongoing_all",
        "placed_self",
    ):  # the contacts with a conversation (its open one, if any)
        await as_user(
            call_world,
            "owner",
            "mutation($c: ID!) { openConversation(contactId: $c) { id } }",
            {"c": log[name]["contact"]["id"]},
        )
    extra = await ring(call_world, number=log["ongoing_all"]["fromNumber"])  # a second call, newest
    await as_user(call_world, "owner", DECLINE, {"c": extra["id"]})
    for first in (1, 5):
        data = await as_user(call_world, "owner", LIST_WITH_CALLS, {"first": first})
        by_contact = {
            e["node"]["contact"]["id"]: e["node"]["contact"]["callActivities"]
            for e in data["conversations"]["edges"]
        }
        for name in ("ongoing_all", "placed_self"):
            contact_id = log[name]["contact"]["id"]
            calls = by_contact[contact_id]
            assert all(e["node"]["contact"]["id"] == contact_id for e in calls["edges"])
            expected = {
                "ongoing_all": [extra["id"], log["ongoing_all"]["id"]],
                "placed_self": _named(log, "ended_self", "placed_self"),
            }[name]
            assert [e["node"]["id"] for e in calls["edges"]] == expected[:first]
            assert calls["pageInfo"]["hasNextPage"] is (first < len(expected))
    await as_user(call_world, "agent_all", END, {"c": log["ongoing_all"]["id"]})

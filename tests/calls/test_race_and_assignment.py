"""Answering is a race with one winner, and calls assign unassigned contacts exactly once
(``domain.md`` section 5, call lifecycle and automatic assignment)."""

from __future__ import annotations

import asyncio

import pytest

from tests.calls.common import (
    ANSWER,
    DECLINE,
    END,
    PLACE,
    REPORT_ANSWERED,
    REPORT_DECLINED,
    activity_kinds,
    as_user,
    call_as_owner,
    ring,
    ring_with_conversation,
)
from tests.conftest import PASSWORD, login
from tests.support import Client, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

RACERS = 10


@pytest.fixture(scope="module")
async def racers(call_world) -> list[str]:
    """Ten unrestricted agents with call access, made through the API; their token names."""
    owner = call_world.client("owner")
    names = [f"racer_{i}" for i in range(RACERS)]

    async def make(name: str) -> None:
        data = await owner(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {
                "i": {
                    "email": f"{name}@{call_world.domain}",
                    "name": name.replace("_", " ").title(),
                    "password": PASSWORD,
                    "role": "AGENT",
                    "contactVisibility": "ALL",
                    "hasCallAccess": True,
                }
            },
        )
        call_world.user_ids[name] = data["createUser"]["id"]
        call_world.tokens[name] = await login(
            call_world.served, f"{name}@{call_world.domain}", PASSWORD
        )

    await asyncio.gather(*(make(n) for n in names))
    await owner.aclose()
    return names


UPDATED = """subscription { conversationUpdated { change reason conversationId } }"""


async def _events(subscription, within: float = 1.0, first: float = 15.0) -> list[dict]:
    """Every event the subscription receives until it stays quiet for ``within`` seconds
    after the first (awaited up to ``first`` seconds: the writes that emit it have answered,
    but on a busy machine its delivery may take more than ``within``)."""
    events = [(await subscription.next(timeout=first))["data"]["conversationUpdated"]]
    while True:
        try:
            events.append((await subscription.next(timeout=within))["data"]["conversationUpdated"])
        except TimeoutError:
            return events


async def test_ten_simultaneous_answers_have_one_winner(call_world, racers):
    call, conversation_id = await ring_with_conversation(call_world)
    live = await subscribe(call_world.served, call_world.tokens["owner"], UPDATED)
    clients = [Client(call_world.served, call_world.tokens[name]) for name in racers]
    try:
        bodies = await asyncio.gather(*(c.execute(ANSWER, {"c": call["id"]}) for c in clients))
        updates = await _events(live)
    finally:
        for client in clients:
            await client.aclose()
        await live.close()
    # one live update: the assignment, seen by the live lists
    assert [(u["reason"], u["conversationId"]) for u in updates] == [("ASSIGNED", conversation_id)]
    winners = [b["data"]["answerCall"] for b in bodies if not b.get("errors")]
    losers = [b["errors"][0] for b in bodies if b.get("errors")]
    assert len(winners) == 1 and len(losers) == RACERS - 1, bodies
    winner = winners[0]["answeredBy"]
    assert winners[0]["status"] == "ONGOING"
    for error in losers:
        assert error["extensions"]["code"] == "CONFLICT"
        assert error["extensions"]["answeredBy"] == winner["id"]
        assert winner["name"] in error["message"]
    now = await call_as_owner(call_world, call["id"])
    assert now["status"] == "ONGOING" and now["answeredBy"]["id"] == winner["id"]
    assert now["contact"]["assignee"]["id"] == winner["id"]
    kinds = await activity_kinds(call_world, conversation_id)
    assert [k for k in kinds if k[0] == "CONTACT_ASSIGNED"] == [("CONTACT_ASSIGNED", winner["id"])]
    assert [k for k, _ in kinds].count("CALL_ANSWERED") == 1
    winner_name = next(n for n in racers if call_world.user_ids[n] == winner["id"])
    await as_user(call_world, winner_name, END, {"c": call["id"]})


async def test_answering_assigns_an_unassigned_contact_once(call_world):
    call, conversation_id = await ring_with_conversation(call_world)
    await as_user(call_world, "agent_all", ANSWER, {"c": call["id"]})
    await as_user(call_world, "agent_all", END, {"c": call["id"]})
    # a second call from the same contact, answered by someone else: no reassignment
    second = await ring(call_world, number=call["fromNumber"])
    answered = (await as_user(call_world, "manager", ANSWER, {"c": second["id"]}))["answerCall"]
    assert answered["answeredBy"]["id"] == call_world.user_ids["manager"]
    assert answered["contact"]["assignee"]["id"] == call_world.user_ids["agent_all"]
    await as_user(call_world, "manager", END, {"c": second["id"]})
    kinds = await activity_kinds(call_world, conversation_id)
    assert [k for k in kinds if k[0] == "CONTACT_ASSIGNED"] == [
        ("CONTACT_ASSIGNED", call_world.user_ids["agent_all"])
    ]
    assert [k for k, _ in kinds].count("CALL_ANSWERED") == 2
    assert [k for k, _ in kinds].count("CALL_ENDED") == 2


async def test_answering_never_reassigns_an_assigned_contact(call_world):
    call, conversation_id = await ring_with_conversation(call_world, assignee="agent_team")
    before = await activity_kinds(call_world, conversation_id)
    answered = (await as_user(call_world, "agent_all", ANSWER, {"c": call["id"]}))["answerCall"]
    assert answered["contact"]["assignee"]["id"] == call_world.user_ids["agent_team"]
    await as_user(call_world, "agent_all", END, {"c": call["id"]})
    after = await activity_kinds(call_world, conversation_id)
    assert [k for k in after if k[0] == "CONTACT_ASSIGNED"] == [
        k for k in before if k[0] == "CONTACT_ASSIGNED"
    ]


async def test_placing_a_call_assigns_an_unassigned_contact_once(call_world):
    call, conversation_id = await ring_with_conversation(call_world)
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { declineCall(callId: $c) { id } }",
        {"c": call["id"]},
    )
    contact_id = call["contact"]["id"]
    for who in ("agent_all", "manager"):
        placed = (
            await as_user(
                call_world, who, PLACE, {"c": contact_id, "ch": call_world.channel_ids["WHATSAPP"]}
            )
        )["placeCall"]
        assert placed["contact"]["assignee"]["id"] == call_world.user_ids["agent_all"]
        await as_user(call_world, who, END, {"c": placed["id"]})
    kinds = await activity_kinds(call_world, conversation_id)
    assert [k for k in kinds if k[0] == "CONTACT_ASSIGNED"] == [
        ("CONTACT_ASSIGNED", call_world.user_ids["agent_all"])
    ]


REPORTS = 5  # duplicated webhooks of each kind


async def test_contradictory_far_end_reports_have_one_outcome(call_world):
    """The connector says both "answered" and "declined", each several times, at once: the
    database lets exactly one of the two happen, once (row lock, conditional UPDATE)."""
    inbound, conversation_id = await ring_with_conversation(call_world)
    await as_user(call_world, "owner", DECLINE, {"c": inbound["id"]})
    contact_id = inbound["contact"]["id"]
    placed = (
        await as_user(
            call_world, "agent_all", PLACE, {"c": contact_id, "ch": call_world.channel_ids["VOIP"]}
        )
    )["placeCall"]
    before = [k for k, _ in await activity_kinds(call_world, conversation_id)]
    report = {"i": {"channelId": call_world.channel_ids["VOIP"], "callId": placed["id"]}}
    clients = [
        Client(call_world.served, call_world.tokens["integration"]) for _ in range(2 * REPORTS)
    ]
    try:
        bodies = await asyncio.gather(
            *(c.execute(REPORT_ANSWERED, report) for c in clients[:REPORTS]),
            *(c.execute(REPORT_DECLINED, report) for c in clients[REPORTS:]),
        )
    finally:
        for client in clients:
            await client.aclose()
    now = await call_as_owner(call_world, placed["id"])
    assert now["status"] in ("ONGOING", "DECLINED")
    won, lost = (bodies[:REPORTS], bodies[REPORTS:])
    if now["status"] == "DECLINED":
        won, lost = lost, won
    for body in won:  # the winning report, and its retries, return the call as it is now
        assert not body.get("errors"), body
        assert next(iter(body["data"].values())) == now
    for body in lost:
        assert body["errors"][0]["extensions"]["code"] == "CONFLICT", body
        assert body["errors"][0]["extensions"]["status"] == now["status"]
    after = [k for k, _ in await activity_kinds(call_world, conversation_id)]
    added = after[len(before) :]
    assert added == (["CALL_ANSWERED"] if now["status"] == "ONGOING" else ["CALL_DECLINED"])
    if now["status"] == "ONGOING":
        await as_user(call_world, "agent_all", END, {"c": placed["id"]})


async def test_hanging_up_races_the_contacts_answer(call_world):
    """The caller gives up just as the contact picks up: one of the two happens."""
    call = await ring(call_world, assignee="agent_team")
    await as_user(call_world, "owner", DECLINE, {"c": call["id"]})
    for _ in range(3):
        placed = (
            await as_user(
                call_world,
                "agent_team",
                PLACE,
                {"c": call["contact"]["id"], "ch": call_world.channel_ids["VOIP"]},
            )
        )["placeCall"]
        caller = Client(call_world.served, call_world.tokens["agent_team"])
        connector = Client(call_world.served, call_world.tokens["integration"])
        try:
            hung_up, answered = await asyncio.gather(
                caller.execute(END, {"c": placed["id"]}),
                connector.execute(
                    REPORT_ANSWERED,
                    {"i": {"channelId": call_world.channel_ids["VOIP"], "callId": placed["id"]}},
                ),
            )
        finally:
            await caller.aclose()
            await connector.aclose()
        now = await call_as_owner(call_world, placed["id"])
        if now["status"] == "MISSED":  # the hang-up won
            assert hung_up["data"]["endCall"] == now
            extensions = answered["errors"][0]["extensions"]
            assert (extensions["code"], extensions.get("status")) == ("CONFLICT", "MISSED"), (
                answered
            )
        else:  # the answer won: the hang-up found an ongoing call, which it ended
            assert answered.get("errors") is None
            assert now["status"] == "ENDED" and now["answeredAt"] is not None, (hung_up, answered)
            assert hung_up["data"]["endCall"] == now
        assert (await as_user(call_world, "agent_team", "{ activeCall { id } }"))[
            "activeCall"
        ] is None


async def test_one_caller_placing_calls_at_once_is_on_one(call_world):
    contacts = []
    for _ in range(RACERS):
        call = await ring(call_world, assignee="manager")
        await as_user(call_world, "owner", DECLINE, {"c": call["id"]})
        contacts.append(call["contact"]["id"])
    clients = [Client(call_world.served, call_world.tokens["manager"]) for _ in contacts]
    try:
        bodies = await asyncio.gather(
            *(
                c.execute(PLACE, {"c": contact, "ch": call_world.channel_ids["VOIP"]})
                for c, contact in zip(clients, contacts, strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    placed = [b["data"]["placeCall"] for b in bodies if not b.get("errors")]
    assert len(placed) == 1, bodies
    for body in bodies:
        if body.get("errors"):
            assert body["errors"][0]["extensions"]["code"] == "CONFLICT", body
            assert body["errors"][0]["extensions"]["callId"] == placed[0]["id"]
    active = (await as_user(call_world, "manager", "{ activeCall { id status } }"))["activeCall"]
    assert active == {"id": placed[0]["id"], "status": "RINGING"}
    log = await as_user(
        call_world,
        "owner",
        "{ calls(first: 100) { edges { node { id direction contact { id } } } } }",
    )
    outbound = [e["node"] for e in log["calls"]["edges"] if e["node"]["direction"] == "OUTBOUND"]
    assert [c["id"] for c in outbound if c["contact"]["id"] in contacts] == [placed[0]["id"]]
    await as_user(call_world, "manager", END, {"c": placed[0]["id"]})

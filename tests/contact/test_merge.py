"""Merging contacts (``domain.md`` section 6): nothing is lost, two open conversations become
one, one "merged" activity records it; refusals change nothing; concurrent merges touching
the same contact have one winner."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.calls.common import RECEIVE_CALL, as_user, errors_of
from tests.contact.common import (
    ACTIVITIES,
    COMMENT,
    MERGE,
    SUGGESTIONS,
    TIMELINE,
    UPDATE,
    contact_as,
    inbound,
    new_number,
)
from tests.support import Client, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

PANEL = """query($id: ID!) { contact(id: $id) {
  id name
  channels { handles }
  conversations(first: 100) { edges { node { id status messages(first: 100) { edges { node { id } } } } } }
  activities(first: 100) { edges { node { id kind } } } } }"""
CLOSE = "mutation($c: ID!) { closeConversation(contactId: $c) { id status } }"


async def panel(world, contact_id: str) -> dict:
    """What the owner's panel shows of a contact, reduced to what a merge must keep."""
    data = (await as_user(world, "owner", PANEL, {"id": contact_id}))["contact"]
    conversations = [edge["node"] for edge in data["conversations"]["edges"]]
    return {
        "identities": sum(len(c["handles"]) for c in data["channels"]),
        "conversations": {c["id"]: c["status"] for c in conversations},
        "messages": {m["node"]["id"] for c in conversations for m in c["messages"]["edges"]},
        "activities": [(a["node"]["id"], a["node"]["kind"]) for a in data["activities"]["edges"]],
    }


async def test_a_merge_keeps_everything_and_folds_two_open_conversations_into_one(world):
    # the primary wrote by e-mail; the secondary wrote on WhatsApp before (a closed
    # conversation), writes again (open), called, and has a comment
    number = new_number()
    address = f"pat.{uuid.uuid4().hex[:6]}@example.org"
    primary = await inbound(
        world, channel="EMAIL", sender=address, first_name="Pat", text="First mail"
    )
    p_id = primary["contact"]["id"]
    secondary = await inbound(world, channel="WHATSAPP", sender=number, text="Old question")
    s_id = secondary["contact"]["id"]
    closed_id = secondary["conversation"]["id"]
    await as_user(world, "owner", CLOSE, {"c": s_id})
    await as_user(
        world,
        "owner",
        UPDATE,
        {
            "i": {
                "contactId": s_id,
                "firstName": "Patricia",
                "lastName": "Jones",
                "language": "en-GB",
                "email": address.upper(),
            }
        },
    )
    await inbound(world, channel="EMAIL", sender=address, text="Second mail")
    again = await inbound(world, channel="WHATSAPP", sender=number, text="New question")
    folded_id = again["conversation"]["id"]
    call = (
        await as_user(
            world,
            "integration",
            RECEIVE_CALL,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": number,
                    "externalCallId": f"wacid.{uuid.uuid4().hex}",
                }
            },
        )
    )["receiveCall"]
    await as_user(world, "agent_all", COMMENT, {"c": s_id, "t": "Same person as the e-mail one?"})
    await inbound(world, channel="EMAIL", sender=address, text="Third mail")
    assert [
        c["id"]
        for c in (await as_user(world, "owner", SUGGESTIONS, {"id": p_id}))["contact"][
            "mergeSuggestions"
        ]
    ] == [s_id]

    before_p, before_s = await panel(world, p_id), await panel(world, s_id)
    assert (len(before_p["messages"]), len(before_s["messages"])) == (3, 2)

    merged = (await as_user(world, "agent_all", MERGE, {"p": p_id, "s": s_id}))["mergeContacts"]

    # the primary keeps its values and takes the secondary's where it had none
    assert (merged["id"], merged["firstName"], merged["lastName"]) == (p_id, "Pat", "Jones")
    assert merged["email"] == address and merged["language"] == "en-GB"
    assert merged["phone"] == number and merged["countryCode"] is not None
    assert await contact_as(world, "owner", s_id) is None

    after = await panel(world, p_id)
    assert after["identities"] == before_p["identities"] + before_s["identities"] == 2
    assert after["messages"] == before_p["messages"] | before_s["messages"]
    kept = set(before_p["activities"]) | set(before_s["activities"])
    assert set(after["activities"]) - kept == {(after["activities"][0][0], "CONTACTS_MERGED")}
    assert kept <= set(after["activities"]) and len(after["activities"]) == len(kept) + 1
    # the closed conversation moved; the two open ones are one now
    open_id = primary["conversation"]["id"]
    assert after["conversations"] == {open_id: "OPEN", closed_id: "CLOSED"}
    assert (
        await as_user(world, "owner", "query($id: ID!) { node(id: $id) { id } }", {"id": folded_id})
    )["node"] is None
    call_now = await as_user(
        world,
        "owner",
        "query($id: ID!) { node(id: $id) { ... on Call { contact { id } } } }",
        {"id": call["id"]},
    )
    assert call_now["node"]["contact"]["id"] == p_id

    # the merged conversation's timeline is in order, messages of both, one merged activity
    timeline = (await as_user(world, "owner", TIMELINE, {"id": open_id, "first": 100}))["node"][
        "timeline"
    ]["edges"]
    items = [edge["node"] for edge in timeline]
    assert [i["createdAt"] for i in items] == sorted(i["createdAt"] for i in items)
    assert [i["text"] for i in items if i["__typename"] == "Message"] == [
        "First mail",
        "Second mail",
        "New question",
        "Third mail",
    ]
    merged_items = [i for i in items if i.get("kind") == "CONTACTS_MERGED"]
    assert (
        len(merged_items) == 1
        and "Patricia Jones" in merged_items[0]["text"]
        and "Pat" in merged_items[0]["text"]
    )
    assert [i.get("kind") for i in items].count("COMMENT") == 1
    activities = (await as_user(world, "owner", ACTIVITIES, {"id": p_id, "first": 100}))["contact"][
        "activities"
    ]
    assert activities["edges"][0]["node"]["mergedContactName"] == "Patricia Jones"
    assert (await as_user(world, "owner", SUGGESTIONS, {"id": p_id}))["contact"][
        "mergeSuggestions"
    ] == []

    # new messages from either handle reach the merged contact's one open conversation
    later = await inbound(world, channel="WHATSAPP", sender=number, text="Any news?")
    assert (later["contact"]["id"], later["conversation"]["id"]) == (p_id, open_id)


async def test_refusals_change_nothing(world):
    first = (await inbound(world, channel="WEBCHAT", first_name="One"))["contact"]["id"]
    second = (await inbound(world, channel="WEBCHAT", first_name="Two"))["contact"]["id"]
    blocked = (await inbound(world, channel="WEBCHAT", first_name="Blocked"))["contact"]["id"]
    await as_user(
        world, "owner", "mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": blocked}
    )
    theirs = (await inbound(world, channel="WEBCHAT", first_name="Theirs", assignee="agent_all"))[
        "contact"
    ]["id"]
    before = {c: await panel(world, c) for c in (first, second, blocked, theirs)}

    async def refused(who: str, variables: dict) -> tuple[str, str | None]:
        errors = await errors_of(world, who, MERGE, variables)
        return errors[0]["extensions"]["code"], errors[0]["extensions"].get("field")

    assert await refused("owner", {"p": first, "s": first}) == ("BAD_USER_INPUT", "secondaryId")
    assert await refused("owner", {"p": first, "s": blocked}) == ("BAD_USER_INPUT", "blocked")
    assert await refused("owner", {"p": first, "s": second, "b": True}) == (
        "BAD_USER_INPUT",
        "blocked",
    )
    assert await refused("agent_self", {"p": theirs, "s": first}) == ("NOT_FOUND", "primaryId")
    assert await refused("agent_all", {"p": first, "s": blocked}) == (
        "NOT_FOUND",
        "secondaryId",
    )  # may not view blocked
    assert await refused("owner", {"p": first, "s": "Q29udGFjdDo5OTk5OTk5"}) == (
        "NOT_FOUND",
        "secondaryId",
    )
    await as_user(
        world,
        "owner",
        "mutation($u: ID!) { updateUser(id: $u, input: {canEditContacts: false}) { id } }",
        {"u": world.user_ids["agent_free"]},
    )
    try:
        assert await refused("agent_free", {"p": first, "s": second}) == ("FORBIDDEN", None)
    finally:
        await as_user(
            world,
            "owner",
            "mutation($u: ID!) { updateUser(id: $u, input: {canEditContacts: true}) { id } }",
            {"u": world.user_ids["agent_free"]},
        )
    assert {c: await panel(world, c) for c in before} == before

    # saying which wins: the merged contact is unblocked
    merged = (await as_user(world, "owner", MERGE, {"p": blocked, "s": first, "b": False}))[
        "mergeContacts"
    ]
    assert merged["blocked"] is False and merged["firstName"] == "Blocked"


async def test_concurrent_merges_of_one_contact_have_one_winner(world):
    """Two merges touching the same contact at once — folding the same secondary into two
    primaries, or two contacts into each other: one succeeds, the other is NOT_FOUND, and
    every message and identity ends up on exactly one surviving contact (row locks taken in
    one order on PostgreSQL)."""
    for round_ in range(6):
        a, b, c = [
            await inbound(world, channel="WHATSAPP", text=f"{round_}-{who}") for who in "abc"
        ]
        ids = {k: v["contact"]["id"] for k, v in zip("abc", (a, b, c), strict=True)}
        before = [await panel(world, contact_id) for contact_id in ids.values()]
        pairs = [("a", "b"), ("c", "b")] if round_ % 2 == 0 else [("a", "b"), ("b", "a")]
        clients = [Client(world.served, world.tokens[who]) for who in ("owner", "manager")]
        try:
            results = await asyncio.gather(
                *(
                    client.execute(MERGE, {"p": ids[p], "s": ids[s]})
                    for client, (p, s) in zip(clients, pairs, strict=True)
                )
            )
        finally:
            for client in clients:
                await client.aclose()
        outcomes = sorted(
            "ok" if not r.get("errors") else r["errors"][0]["extensions"]["code"] for r in results
        )
        assert outcomes == ["NOT_FOUND", "ok"], results
        winner = (
            results[0]["data"]["mergeContacts"]
            if not results[0].get("errors")
            else results[1]["data"]["mergeContacts"]
        )
        survivors = {k: await contact_as(world, "owner", v) for k, v in ids.items()}
        assert [k for k, v in survivors.items() if v is None] == [
            s for (p, s), r in zip(pairs, results, strict=True) if not r.get("errors")
        ]
        after = [await panel(world, ids[k]) for k, v in survivors.items() if v is not None]
        assert winner["id"] in {ids[k] for k, v in survivors.items() if v is not None}
        messages = [m for p in after for m in p["messages"]]
        assert sorted(messages) == sorted(
            m for p in before for m in p["messages"]
        )  # none lost, none twice
        assert sum(p["identities"] for p in after) == 3
        merged = [k for p in after for _, k in p["activities"] if k == "CONTACTS_MERGED"]
        assert len(merged) == 1


async def test_merge_is_live_for_conversation_lists(world):
    primary = await inbound(world, channel="WEBCHAT", text="p")
    secondary = await inbound(world, channel="WEBCHAT", text="s")
    subscription = await subscribe(
        world.served,
        world.tokens["manager"],
        "subscription { conversationUpdated(inbox: {standard: ALL}) { change reason conversationId } }",
    )
    try:
        await as_user(
            world, "owner", MERGE, {"p": primary["contact"]["id"], "s": secondary["contact"]["id"]}
        )
        seen = []
        for _ in range(2):
            seen.append((await subscription.next())["data"]["conversationUpdated"])
        assert {(e["change"], e["reason"], e["conversationId"]) for e in seen} == {
            ("CHANGED", "MERGED", primary["conversation"]["id"]),
            ("LEFT", "MERGED", secondary["conversation"]["id"]),
        }
    finally:
        await subscription.close()

"""``eraseContact`` (issue 21, item 4: the right to erasure) through HTTP and
graphql-transport-ws: owners erase a contact's personal data, messages' text and identities;
anonymised counts and one activity stay; live lists drop it; nothing replays its data."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.calls.common import as_user
from tests.contact.common import COMMENT, inbound
from tests.support import new_number, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

ERASE = """mutation($c: ID!) { eraseContact(contactId: $c) {
  id name firstName lastName phone email countryCode language erasedAt
  erasedCounts { conversations messages calls }
  channels { hasIdentity }
  conversations(first: 10) { totalCount }
  activities(first: 10) { edges { node { kind text author { id } } } } } }"""
SEND = """mutation($c: ID!, $t: String!) { sendMessage(input: {contactId: $c, text: $t}) {
  message { id } } }"""
CLOSE = "mutation($c: ID!) { closeConversation(contactId: $c) { id } }"
LIST = "query($f: ContactFilter) { contacts(filter: $f, first: 100) { edges { node { id } } } }"
UPDATED = """subscription($inbox: InboxSelector) { conversationUpdated(inbox: $inbox) {
  change reason conversationId conversation { id } } }"""
NEW_MESSAGE = """subscription($after: Int) { newMessage(afterSequence: $after) {
  sequence message { id text } conversation { contact { name } } } }"""
SIDEBAR = "{ inboxSidebar { standard { kind openConversationCount newMessageCount } } }"


async def a_contact_with_history(world) -> tuple[dict, str]:
    """A WhatsApp contact with a closed and an open conversation, a reply and a comment, all
    naming personal data; ``(receiveMessage's payload of the last message, its number)``."""
    number = new_number()
    secret = f"my passport is {uuid.uuid4().hex[:8]}"
    first = await inbound(world, sender=number, text=secret, first_name="Amélie")
    contact = first["contact"]["id"]
    await as_user(world, "owner", SEND, {"c": contact, "t": "Bonjour Amélie"})
    await as_user(world, "owner", COMMENT, {"c": contact, "t": "Amélie called about her visa"})
    await as_user(world, "owner", CLOSE, {"c": contact})
    last = await inbound(world, sender=number, text=f"again {secret}")
    return last, number


async def test_erasing_removes_personal_data_and_keeps_counts(world):
    last, number = await a_contact_with_history(world)
    contact = last["contact"]["id"]
    owner = world.client("owner")
    erased = (await owner(ERASE, {"c": contact}))["eraseContact"]
    assert erased["id"] == contact and erased["erasedAt"]
    assert erased["name"] == "Erased contact"
    for field in ("firstName", "lastName", "phone", "email", "countryCode", "language"):
        assert erased[field] is None, field
    assert erased["erasedCounts"] == {"conversations": 2, "messages": 3, "calls": 0}
    assert not any(c["hasIdentity"] for c in erased["channels"])
    assert erased["conversations"]["totalCount"] == 0
    [activity] = [e["node"] for e in erased["activities"]["edges"]]
    assert activity == {
        "kind": "CONTACT_ERASED",
        "text": None,
        "author": {"id": world.user_ids["owner"]},
    }
    assert "Amélie" not in str(erased) and number not in str(erased)

    # its messages and conversations are gone; lists and filters never find it
    for object_id in (last["message"]["id"], last["conversation"]["id"]):
        found = await owner("query($id: ID!) { node(id: $id) { id } }", {"id": object_id})
        assert found["node"] is None
    listed = [e["node"]["id"] for e in (await owner(LIST))["contacts"]["edges"]]
    assert contact not in listed
    assert (await owner(LIST, {"f": {"phone": number}}))["contacts"]["edges"] == []
    conversations = await owner(
        "{ conversations(inbox: {standard: ALL}, status: null, first: 100) { edges { node { id } } } }"
    )
    assert last["conversation"]["id"] not in str(conversations)

    # erasing again changes nothing; nothing else can be done to it
    again = (await owner(ERASE, {"c": contact}))["eraseContact"]
    assert again["erasedAt"] == erased["erasedAt"]
    assert len(again["activities"]["edges"]) == 1
    for document, variables in (
        ("mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": contact}),
        (SEND, {"c": contact, "t": "hello?"}),
        (
            "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }",
            {"i": {"contactId": contact, "firstName": "Back"}},
        ),
    ):
        assert await owner.error_codes(document, variables) == ["NOT_FOUND"], document
    # the same number writing again is a new contact
    back = await inbound(world, sender=number, text="it's me again")
    assert back["contact"]["id"] != contact
    await owner.aclose()


async def test_only_owners_erase_and_only_what_they_see(world):
    received = await inbound(world, assignee="agent_all")
    contact = received["contact"]["id"]
    for who, code in (
        ("manager", "FORBIDDEN"),
        ("agent_all", "FORBIDDEN"),
        ("agent_self", "NOT_FOUND"),
    ):
        client = world.client(who)
        assert await client.error_codes(ERASE, {"c": contact}) == [code], who
        await client.aclose()
    owner = world.client("owner")
    kept = await owner("query($id: ID!) { contact(id: $id) { erasedAt } }", {"id": contact})
    assert kept["contact"]["erasedAt"] is None
    assert await owner.error_codes(ERASE, {"c": "Q29udGFjdDo5OTk5OTk5"}) == ["NOT_FOUND"]
    await owner.aclose()


async def test_live_lists_drop_an_erased_contact_and_nothing_replays_its_data(world):
    last, _ = await a_contact_with_history(world)
    contact = last["contact"]["id"]
    owner = world.client("owner")
    before = {s["kind"]: s for s in (await owner(SIDEBAR))["inboxSidebar"]["standard"]}
    listing = await subscribe(
        world.served, world.tokens["owner"], UPDATED, {"inbox": {"standard": "ALL"}}
    )
    messages = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    try:
        await inbound(world, sender=None, text="someone else")  # a sequence to resume from
        resume_from = (await messages.next())["data"]["newMessage"]["sequence"]
        await owner(ERASE, {"c": contact})
        left = (await listing.next())["data"]["conversationUpdated"]
        while left["reason"] != "ERASED":  # the other contact's conversation opening
            left = (await listing.next())["data"]["conversationUpdated"]
        assert left == {
            "change": "LEFT",
            "reason": "ERASED",
            "conversationId": last["conversation"]["id"],
            "conversation": None,
        }
        await listing.nothing(within=0.5)  # the closed conversation was in no OPEN list
    finally:
        await listing.close()
        await messages.close()
    after = {s["kind"]: s for s in (await owner(SIDEBAR))["inboxSidebar"]["standard"]}
    assert after["ALL"]["openConversationCount"] == before["ALL"]["openConversationCount"]
    # the owner's first reply assigned the contact to them: its unseen conversation leaves MINE
    for count in ("openConversationCount", "newMessageCount"):
        assert after["MINE"][count] == before["MINE"][count] - 1, count
    # a subscriber resuming from before the contact's messages gets none of them
    replay = await subscribe(
        world.served, world.tokens["owner"], NEW_MESSAGE, {"after": max(0, resume_from - 40)}
    )
    try:
        while True:
            try:
                event = (await replay.next(timeout=1.0))["data"]["newMessage"]
            except TimeoutError:
                break
            assert "passport" not in str(event) and "Amélie" not in str(event)
            assert event["conversation"]["contact"]["name"] != "Erased contact"
    finally:
        await replay.close()
    await owner.aclose()


async def test_an_erased_blocked_contact_no_longer_lists_the_blocked_inbox(world):
    received = await inbound(world, text="spam spam")
    contact = received["contact"]["id"]
    owner = world.client("owner")
    query = "{ inboxSidebar { blocked { conversationCount } } }"
    assert (await owner(query))["inboxSidebar"]["blocked"] is None  # this module blocks no other
    await owner("mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": contact})
    assert (await owner(query))["inboxSidebar"]["blocked"] == {"conversationCount": 1}
    await owner(ERASE, {"c": contact})
    assert (await owner(query))["inboxSidebar"]["blocked"] is None
    await owner.aclose()


async def test_a_message_racing_an_erasure_never_lands_on_the_erased_contact(world):
    """Run together, the erasure and a message from the same number serialise on the
    contact's row: either the message came first and is erased with it, or it makes a new
    contact. The erased contact never holds a conversation."""
    owner = world.client("owner")
    for _ in range(6):
        number = new_number()
        contact = (await inbound(world, sender=number, text="first"))["contact"]["id"]
        _, received = await asyncio.gather(
            owner(ERASE, {"c": contact}), inbound(world, sender=number, text="racing you")
        )
        after = await owner(
            "query($id: ID!) { contact(id: $id) { erasedAt conversations { totalCount } } }",
            {"id": contact},
        )
        assert after["contact"]["erasedAt"] and after["contact"]["conversations"]["totalCount"] == 0
        message = await owner(
            "query($id: ID!) { node(id: $id) { ... on Message { text } } }",
            {"id": received["message"]["id"]},
        )
        if received["contact"]["id"] == contact:  # it came first: erased with the contact
            assert message["node"] is None
        else:
            assert message["node"] == {"text": "racing you"}
    await owner.aclose()

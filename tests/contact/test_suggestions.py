"""Merge suggestions (``domain.md`` sections 1 and 6): contacts sharing the normalised phone
number or e-mail address, within what the viewer may see."""

from __future__ import annotations

import uuid

import pytest

from tests.calls.common import as_user
from tests.contact.common import SUGGESTIONS, UPDATE, inbound
from tests.support import new_number

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def suggested(world, who: str, contact_id: str) -> list[str]:
    data = await as_user(world, who, SUGGESTIONS, {"id": contact_id})
    return [c["id"] for c in data["contact"]["mergeSuggestions"]]


async def test_a_shared_phone_in_another_format_is_suggested(world):
    stored = (await inbound(world, channel="WHATSAPP", sender="447911123456"))["contact"]["id"]
    typed = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
    unrelated = (await inbound(world, channel="WHATSAPP"))["contact"]["id"]
    assert await suggested(world, "owner", typed) == []
    await as_user(world, "owner", UPDATE, {"i": {"contactId": typed, "phone": "+44 7911 123456"}})
    assert await suggested(world, "owner", typed) == [stored]
    assert await suggested(world, "owner", stored) == [typed]
    assert unrelated not in await suggested(world, "owner", stored)


async def test_an_email_differing_only_in_case_is_suggested(world):
    local = f"sam.{uuid.uuid4().hex[:6]}"
    by_mail = (await inbound(world, channel="EMAIL", sender=f"{local}@Example.com"))["contact"][
        "id"
    ]
    typed = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
    await as_user(
        world, "owner", UPDATE, {"i": {"contactId": typed, "email": f"{local.upper()}@EXAMPLE.COM"}}
    )
    assert await suggested(world, "agent_all", typed) == [by_mail]
    assert await suggested(world, "agent_all", by_mail) == [typed]


async def test_contacts_the_viewer_may_not_see_are_not_offered(world):
    number = new_number()
    own = (await inbound(world, channel="WHATSAPP", sender=number, assignee="agent_self"))[
        "contact"
    ]["id"]
    others = (await inbound(world, channel="WEBCHAT", assignee="agent_beta"))["contact"]["id"]
    blocked = (await inbound(world, channel="WEBCHAT", assignee="agent_self"))["contact"]["id"]
    for contact in (others, blocked):
        await as_user(world, "owner", UPDATE, {"i": {"contactId": contact, "phone": number}})
    await as_user(
        world, "owner", "mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": blocked}
    )
    assert sorted(await suggested(world, "owner", own)) == sorted([others, blocked])
    assert await suggested(world, "manager", own) == [others]  # may not view blocked contacts
    assert await suggested(world, "agent_self", own) == []  # neither is theirs to see


async def test_at_most_twenty_oldest_first_alone_or_batched_with_others(world):
    """A contact sharing its phone with some contacts and its e-mail with others (one shares
    both, and is named once): the 20 oldest of them, whether its panel is read alone or
    together with other contacts (one batch for every contact of a response)."""
    number, address = new_number(), f"many.{uuid.uuid4().hex[:6]}@example.com"
    centre = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
    await as_user(
        world, "owner", UPDATE, {"i": {"contactId": centre, "phone": number, "email": address}}
    )
    sharing = []  # oldest first
    for i in range(24):
        contact = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
        given = {"phone": number} if i % 2 else {"email": address.upper()}
        if i == 5:
            given = {"phone": number, "email": address}
        await as_user(world, "owner", UPDATE, {"i": {"contactId": contact, **given}})
        sharing.append(contact)
    by_phone = [c for i, c in enumerate(sharing) if i % 2 or i == 5]
    by_email = [c for i, c in enumerate(sharing) if i % 2 == 0 or i == 5]
    assert await suggested(world, "owner", centre) == sharing[:20]
    assert await suggested(world, "owner", by_phone[0]) == [centre, *by_phone[1:]][:20]

    together = await as_user(
        world,
        "owner",
        """query($a: ID!, $b: ID!, $c: ID!) {
      a: contact(id: $a) { mergeSuggestions { id } }
      b: contact(id: $b) { mergeSuggestions { id } }
      c: contact(id: $c) { mergeSuggestions { id } } }""",
        {"a": centre, "b": by_phone[0], "c": sharing[0]},
    )
    found = {k: [s["id"] for s in v["mergeSuggestions"]] for k, v in together.items()}
    assert found["a"] == sharing[:20]
    assert found["b"] == [centre, *by_phone[1:]][:20]
    assert found["c"] == [centre, *by_email[1:]]

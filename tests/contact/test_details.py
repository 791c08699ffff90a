"""Contact details (``domain.md`` section 6): edited, validated, stored in canonical forms; a
bad value is refused naming its field and changes nothing; the connected channels."""

from __future__ import annotations

import pytest

from tests.calls.common import as_user, errors_of
from tests.contact.common import UPDATE, contact_as, inbound

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_details_are_stored_in_canonical_forms(world):
    contact = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
    data = await as_user(
        world,
        "agent_all",
        UPDATE,
        {
            "i": {
                "contactId": contact,
                "firstName": "  Ada ",
                "lastName": "Lovelace",
                "countryCode": "gb",
                "phone": "07911 123456",
                "email": "Ada.Lovelace@Example.COM",
                "language": "EN-gb",
            }
        },
    )
    updated = data["updateContact"]
    assert updated["name"] == "Ada Lovelace"
    assert updated["phone"] == "+447911123456"  # a national number, read in the contact's country
    assert updated["countryCode"] == "GB"
    assert updated["language"] == "en-GB"
    assert updated["email"] == "Ada.Lovelace@Example.COM"
    assert await contact_as(world, "owner", contact) == updated

    # only the fields given change; null clears one
    data = await as_user(
        world,
        "agent_all",
        UPDATE,
        {"i": {"contactId": contact, "lastName": None, "phone": "+33 6 12 34 56 78"}},
    )
    after = data["updateContact"]
    assert (after["firstName"], after["lastName"], after["phone"], after["countryCode"]) == (
        "Ada",
        None,
        "+33612345678",
        "GB",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "07911 12"}, "phone"),
        ({"phone": "0612345678"}, "phone"),  # a French national number, but the contact is British
        ({"countryCode": "XX"}, "countryCode"),
        ({"countryCode": "GBR"}, "countryCode"),
        ({"language": "xx-notalanguage"}, "language"),
        ({"language": "english"}, "language"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@" + "b" * 250 + ".com"}, "email"),
        ({"firstName": "A" * 121}, "firstName"),
        ({"lastName": "B" * 121}, "lastName"),
    ],
)
async def test_a_bad_value_names_its_field_and_changes_nothing(world, change, field):
    contact = (await inbound(world, channel="WEBCHAT"))["contact"]["id"]
    await as_user(
        world,
        "owner",
        UPDATE,
        {
            "i": {
                "contactId": contact,
                "firstName": "Grace",
                "countryCode": "GB",
                "phone": "+447911123456",
            }
        },
    )
    before = await contact_as(world, "owner", contact)
    # a valid change sent along with the bad one is not applied either
    errors = await errors_of(
        world, "agent_all", UPDATE, {"i": {"contactId": contact, "lastName": "Hopper", **change}}
    )
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors] == [
        ("BAD_USER_INPUT", field)
    ]
    assert await contact_as(world, "owner", contact) == before


async def test_invisible_contacts_and_agents_without_the_right_are_refused(world):
    visible_to_all = (await inbound(world, channel="WEBCHAT", assignee="agent_all"))["contact"][
        "id"
    ]
    errors = await errors_of(
        world, "agent_self", UPDATE, {"i": {"contactId": visible_to_all, "firstName": "X"}}
    )
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"

    await as_user(
        world,
        "owner",
        "mutation($u: ID!) { updateUser(id: $u, input: {canEditContacts: false}) { id } }",
        {"u": world.user_ids["agent_free"]},
    )
    try:
        errors = await errors_of(
            world, "agent_free", UPDATE, {"i": {"contactId": visible_to_all, "firstName": "X"}}
        )
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert (await contact_as(world, "owner", visible_to_all))["firstName"] is None
    finally:
        await as_user(
            world,
            "owner",
            "mutation($u: ID!) { updateUser(id: $u, input: {canEditContacts: true}) { id } }",
            {"u": world.user_ids["agent_free"]},
        )


CHANNELS = (
    "query($id: ID!) { contact(id: $id) { channels { channel { id type } hasIdentity handle } } }"
)


async def test_connected_channels_list_every_channel_with_the_contacts_handles(world):
    message = await inbound(world, channel="WHATSAPP")
    contact = message["contact"]["id"]
    number = (await contact_as(world, "owner", contact))["phone"]
    data = await as_user(world, "agent_all", CHANNELS, {"id": contact})
    channels = {
        c["channel"]["type"]: (c["hasIdentity"], c["handle"]) for c in data["contact"]["channels"]
    }
    assert channels == {
        "WHATSAPP": (True, number),
        "EMAIL": (False, None),
        "WEBCHAT": (False, None),
        **({"VOIP": (False, None)} if "VOIP" in world.channel_ids else {}),
    }

    # numbers are masked like Contact.phone when the workspace masks them (owners see them)
    masking = (
        "mutation($m: Boolean!) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) { id } }"
    )
    await as_user(world, "owner", masking, {"m": True})
    try:
        data = await as_user(world, "agent_all", CHANNELS, {"id": contact})
        handle = next(
            c["handle"] for c in data["contact"]["channels"] if c["channel"]["type"] == "WHATSAPP"
        )
        assert handle != number and "\u2022" in handle and handle.endswith(number[-3:])
        data = await as_user(world, "owner", CHANNELS, {"id": contact})
        assert number in [c["handle"] for c in data["contact"]["channels"]]
    finally:
        await as_user(world, "owner", masking, {"m": False})


async def test_an_edit_shows_live_in_conversation_lists(world):
    from tests.support import subscribe

    message = await inbound(world, channel="WEBCHAT", assignee="agent_team")
    contact, conversation = message["contact"]["id"], message["conversation"]["id"]
    query = (
        "subscription { conversationUpdated(inbox: {standard: MINE}) "
        "{ change reason conversationId conversation { contact { name } } } }"
    )
    mine, other = [
        await subscribe(world.served, world.tokens[who], query)
        for who in ("agent_team", "agent_self")
    ]
    try:
        await as_user(
            world, "agent_team", UPDATE, {"i": {"contactId": contact, "firstName": "Renamed"}}
        )
        event = (await mine.next())["data"]["conversationUpdated"]
        assert event == {
            "change": "CHANGED",
            "reason": "CONTACT_UPDATED",
            "conversationId": conversation,
            "conversation": {"contact": {"name": "Renamed"}},
        }
        await other.nothing(within=0.5)  # not in agent_self's list
        # a no-op edit is no event
        await as_user(
            world, "agent_team", UPDATE, {"i": {"contactId": contact, "firstName": "Renamed"}}
        )
        await mine.nothing(within=0.5)
    finally:
        await mine.close()
        await other.close()

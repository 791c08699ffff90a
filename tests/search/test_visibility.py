"""The visibility matrix of ``domain.md`` section 1 extended to search (issue 21, item 1):
every viewer finds exactly the contacts and messages they may see, by any query text (a word
shared by every contact, each contact's name, e-mail, phone number and message), and a
hidden or blocked contact is never found."""

from __future__ import annotations

import pytest

from tests.conftest import ASSIGN, CONTACTS
from tests.inbox.test_visibility import VIEWERS, expected_visible
from tests.support import RECEIVE, new_number, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTACTS_QUERY = """query($q: String!, $after: String) {
  searchContacts(query: $q, first: 3, after: $after) {
    edges { cursor node { id firstName } highlights { field text matches { start length } } }
    pageInfo { hasNextPage endCursor } totalCount } }"""

MESSAGES_QUERY = """query($q: String!, $after: String) {
  searchMessages(query: $q, first: 3, after: $after) {
    edges { node { id text conversation { contact { firstName } } } }
    pageInfo { hasNextPage endCursor } } }"""

BLOCKED = "c_blocked"
"""A blocked, unassigned contact: only viewers who may view blocked contacts find it (the
owner; nobody else of the world has the permission)."""


def expected_found(user: str) -> set[str]:
    visible = expected_visible(user)
    return visible | {BLOCKED} if user == "owner" else visible


async def search_all(client, query: str, text: str) -> list[str]:
    """Every contact first name of every page of a search."""
    names, after = [], None
    field = "searchContacts" if query is CONTACTS_QUERY else "searchMessages"
    while True:
        page = (await client(query, {"q": text, "after": after}))[field]
        for edge in page["edges"]:
            node = edge["node"]
            names.append(
                node["firstName"]
                if "firstName" in node
                else node["conversation"]["contact"]["firstName"]
            )
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


@pytest.fixture(scope="module")
async def searchable(world):
    """Every contact of the world with a shared last name (accented), an e-mail, a phone number
    and a message with a shared word; plus a blocked contact."""
    owner = world.client("owner")
    integration = world.client("integration")
    data = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": f"visitor-{BLOCKED}",
                "externalMessageId": f"seed-{BLOCKED}",
                "text": f"Hello from {BLOCKED}",
                "firstName": BLOCKED,
            }
        },
    )
    world.contact_ids[BLOCKED] = data["receiveMessage"]["contact"]["id"]
    phones = {}
    for contact, contact_id in world.contact_ids.items():
        phones[contact] = new_number()
        await owner(
            "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }",
            {
                "i": {
                    "contactId": contact_id,
                    "lastName": "Zéphyrin",
                    "email": f"{contact.replace('_', '.')}@mail.example.test",
                    "phone": phones[contact],
                }
            },
        )
        await receive(world, contact, f"Mon parapluie est cassé ({contact})", integration)
    await owner(
        "mutation($c: ID!) { blockContact(contactId: $c) { id } }",
        {"c": world.contact_ids[BLOCKED]},
    )
    await owner.aclose()
    await integration.aclose()
    return phones


@pytest.mark.parametrize("user", VIEWERS)
async def test_a_shared_word_finds_exactly_the_visible_contacts_and_messages(
    world, searchable, user
):
    client = world.client(user)
    expected = expected_found(user)
    for text in ("zephyrin", "ZÉPH", "example.test"):
        names = await search_all(client, CONTACTS_QUERY, text)
        assert sorted(names) == sorted(expected), text
    first = (await client(CONTACTS_QUERY, {"q": "zephyrin"}))["searchContacts"]
    assert first["totalCount"] == len(expected)
    for text in ("parapluie", "Parapluie cassé", "casse"):
        names = await search_all(client, MESSAGES_QUERY, text)
        assert sorted(names) == sorted(expected), text
    await client.aclose()


@pytest.mark.parametrize("user", VIEWERS)
async def test_a_hidden_contact_is_never_found_by_any_query_text(world, searchable, user):
    client = world.client(user)
    expected = expected_found(user)
    for contact in [*CONTACTS, BLOCKED]:
        phone = searchable[contact]
        queries = [
            contact,
            f"{contact} zéphyrin",
            f"{contact.replace('_', '.')}@mail.example.test",
            phone,
            f"{phone[:3]} {phone[3:7]} {phone[7:]}",
            "0" + phone[3:],
            phone[-7:],
        ]
        for text in queries:
            names = await search_all(client, CONTACTS_QUERY, text)
            assert (contact in names) == (contact in expected), (user, contact, text, names)
            assert set(names) <= expected, (user, text, names)
        messages = await search_all(client, MESSAGES_QUERY, f"parapluie {contact}")
        assert messages == ([contact] if contact in expected else []), (user, contact)
    await client.aclose()


async def test_reassignment_changes_what_a_restricted_agent_finds(world, searchable):
    """The index holds no visibility: a contact assigned to a SELF agent is found by them at
    once, and no longer once assigned away."""
    owner = world.client("owner")
    agent = world.client("agent_self")
    contact_id = world.contact_ids["c_none"]
    try:
        assert "c_none" not in await search_all(agent, CONTACTS_QUERY, "c_none")
        await owner(ASSIGN, {"c": contact_id, "a": world.user_ids["agent_self"]})
        assert await search_all(agent, CONTACTS_QUERY, "c_none") == ["c_none"]
        assert await search_all(agent, MESSAGES_QUERY, "parapluie c_none") == ["c_none"]
    finally:
        await owner(ASSIGN, {"c": contact_id, "a": None})
    assert "c_none" not in await search_all(agent, CONTACTS_QUERY, "c_none")
    await owner.aclose()
    await agent.aclose()

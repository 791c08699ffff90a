"""Contacts for partners (issue 21, item 4): the ``contacts`` list, ``createContact`` and
``upsertContact`` through HTTP, as a partner's integration and the inbox's users would call
them; concurrent upserts of one identity make one contact."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.calls.common import as_user
from tests.contact.common import inbound
from tests.support import new_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIELDS = "id name firstName lastName phone email countryCode language blocked assignee { id }"
CREATE = f"""mutation($i: CreateContactInput!, $k: String) {{
  createContact(input: $i, idempotencyKey: $k) {{ {FIELDS} channels {{ channel {{ id }} handle }} }} }}"""
UPSERT = f"""mutation($i: UpsertContactInput!) {{
  upsertContact(input: $i) {{ created contact {{ {FIELDS} }} }} }}"""
LIST = """query($f: ContactFilter, $first: Int, $after: String) {
  contacts(filter: $f, first: $first, after: $after) {
    totalCount edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }"""


def unique_email() -> str:
    return f"Client.{uuid.uuid4().hex[:8]}@Example.test"


async def listed(world, who: str, where: dict, first: int = 100) -> list[str]:
    """The ids of every contact ``who`` lists with filter ``where``, page by page."""
    ids, after = [], None
    while True:
        page = (await as_user(world, who, LIST, {"f": where, "first": first, "after": after}))[
            "contacts"
        ]
        ids += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


async def test_a_created_contact_is_listed_and_found_by_each_identity(world):
    national = new_number()  # +447700900123 style
    email = unique_email()
    handle = f"visitor-{uuid.uuid4().hex[:8]}"
    created = (
        await as_user(
            world,
            "owner",
            CREATE,
            {
                "i": {
                    "firstName": "Élodie",
                    "lastName": "Martin",
                    "phone": "0" + national[3:],  # a national number, read in countryCode
                    "countryCode": "gb",
                    "email": email,
                    "language": "fr-fr",
                    "identities": [{"channelId": world.channel_ids["WEBCHAT"], "handle": handle}],
                }
            },
        )
    )["createContact"]
    assert created["name"] == "Élodie Martin"
    assert created["phone"] == national and created["countryCode"] == "GB"
    assert created["email"] == email and created["language"] == "fr-FR"
    assert created["assignee"] is None
    webchat = [c for c in created["channels"] if c["channel"]["id"] == world.channel_ids["WEBCHAT"]]
    assert webchat[0]["handle"] == handle
    # newest first: it heads the list
    first = (await as_user(world, "owner", LIST, {"first": 1}))["contacts"]
    assert first["edges"][0]["node"]["id"] == created["id"]
    spaced = f"{national[:3]} {national[3:7]} {national[7:]}"
    for where in (
        {"phone": spaced},
        {"phone": national[1:]},
        {"email": email.upper()},
        {"channelId": world.channel_ids["WEBCHAT"], "handle": f"  {handle} "},
        {"unassigned": True, "email": email},
        {"blocked": False, "phone": national},
    ):
        assert await listed(world, "owner", where) == [created["id"]], where
    assert await listed(world, "owner", {"unassigned": False, "email": email}) == []
    assert await listed(world, "owner", {"assigneeId": world.user_ids["manager"]}) == [
        world.contact_ids["c_manager"]
    ]


async def test_the_list_pages_both_ways_and_counts(world):
    for _ in range(3):
        await as_user(world, "owner", CREATE, {"i": {"firstName": "Paged"}})
    everything = await listed(world, "owner", {})
    assert await listed(world, "owner", {}, first=2) == everything
    assert len(everything) == len(set(everything))
    total = (await as_user(world, "owner", LIST, {"first": 1}))["contacts"]["totalCount"]
    assert total == len(everything)
    back = await as_user(
        world,
        "owner",
        "query($b: String) { contacts(last: 2, before: $b) { edges { node { id } } } }",
        {"b": None},
    )
    assert [e["node"]["id"] for e in back["contacts"]["edges"]] == everything[-2:]


async def test_bad_input_is_reported_per_field_and_creates_nothing(world):
    owner = world.client("owner")
    before = (await owner(LIST, {"first": 1}))["contacts"]["totalCount"]
    body = await owner.execute(
        CREATE,
        {
            "i": {
                "phone": "12",
                "email": "not an address",
                "countryCode": "XX",
                "identities": [{"channelId": world.channel_ids["WHATSAPP"], "handle": "nope"}],
            }
        },
    )
    assert body["data"] is None
    paths = sorted(e["extensions"]["inputPath"] for e in body["errors"])
    assert paths == [
        ["input", "countryCode"],
        ["input", "email"],
        ["input", "identities", 0, "handle"],
        ["input", "phone"],
    ]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    for where, path in (
        ({"phone": "12"}, ["filter", "phone"]),
        ({"email": "@"}, ["filter", "email"]),
        ({"handle": "x"}, ["filter", "handle"]),
    ):
        bad = await owner.execute(LIST, {"f": where})
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert bad["errors"][0]["extensions"]["inputPath"] == path
    unknown = await owner.execute(LIST, {"f": {"channelId": "Q2hhbm5lbDo5OTk5OTk5", "handle": "x"}})
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # a handle another contact holds: CONFLICT, naming it
    taken = await owner.execute(
        CREATE,
        {
            "i": {
                "firstName": "Copy",
                "identities": [
                    {"channelId": world.channel_ids["WEBCHAT"], "handle": "visitor-c_all"}
                ],
            }
        },
    )
    assert taken["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert taken["errors"][0]["extensions"]["inputPath"] == ["input", "identities", 0, "handle"]
    assert (await owner(LIST, {"first": 1}))["contacts"]["totalCount"] == before
    await owner.aclose()


async def test_more_identities_than_allowed_are_refused_with_one_error(world):
    """At most 20 handles per createContact, refused before any is read (20,000 invalid ones
    took 22 s and answered 20,000 errors: a helper's review); 20 are allowed."""
    owner = world.client("owner")
    try:
        before = (await owner(LIST, {"first": 1}))["contacts"]["totalCount"]
        channel = world.channel_ids["WEBCHAT"]
        many = [{"channelId": "bad", "handle": f"h-{i}"} for i in range(500)]
        body = await owner.execute(CREATE, {"i": {"firstName": "Many", "identities": many}})
        assert [
            (e["extensions"]["code"], e["extensions"]["inputPath"]) for e in body["errors"]
        ] == [("BAD_USER_INPUT", ["input", "identities"])], body["errors"][:3]
        assert "at most 20 identities" in body["errors"][0]["message"]
        assert (await owner(LIST, {"first": 1}))["contacts"]["totalCount"] == before
        twenty = [{"channelId": channel, "handle": f"many-visitor-{i}"} for i in range(20)]
        created = await owner(CREATE, {"i": {"firstName": "Twenty", "identities": twenty}})
        assert created["createContact"]["name"] == "Twenty"
        # without the permission to edit contacts: FORBIDDEN first, whatever the input
        await owner(NO_EDITING, {"u": world.user_ids["agent_free"], "e": False})
        try:
            agent = world.client("agent_free")
            try:
                assert await agent.error_codes(
                    CREATE, {"i": {"firstName": "Many", "identities": many}}
                ) == ["FORBIDDEN"]
            finally:
                await agent.aclose()
        finally:
            await owner(NO_EDITING, {"u": world.user_ids["agent_free"], "e": True})
    finally:
        await owner.aclose()


NO_EDITING = (
    "mutation($u: ID!, $e: Boolean!) { updateUser(id: $u, input: {canEditContacts: $e}) { id } }"
)


async def test_create_with_an_idempotency_key_creates_once(world):
    owner = world.client("owner")
    before = (await owner(LIST, {"first": 1}))["contacts"]["totalCount"]
    variables = {"i": {"firstName": "Once", "email": unique_email()}, "k": uuid.uuid4().hex}
    first = (await owner(CREATE, variables))["createContact"]
    again = (await owner(CREATE, variables))["createContact"]
    assert again["id"] == first["id"]
    assert (await owner(LIST, {"first": 1}))["contacts"]["totalCount"] == before + 1
    other = await owner.error_codes(CREATE, {**variables, "i": {"firstName": "Other"}})
    assert other == ["CONFLICT"]
    await owner.aclose()


async def test_restricted_agents_create_contacts_they_can_see(world):
    mine = (await as_user(world, "agent_self", CREATE, {"i": {"firstName": "Mine"}}))[
        "createContact"
    ]
    assert mine["assignee"] == {"id": world.user_ids["agent_self"]}
    assert mine["id"] in await listed(world, "agent_self", {})
    team = (
        await as_user(
            world,
            "agent_team",
            CREATE,
            {"i": {"firstName": "Teammate's", "assigneeId": world.user_ids["agent_all"]}},
        )
    )["createContact"]
    assert team["assignee"] == {"id": world.user_ids["agent_all"]}
    agent = world.client("agent_self")
    body = await agent.execute(
        CREATE, {"i": {"firstName": "Hidden", "assigneeId": world.user_ids["agent_beta"]}}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["inputPath"] == ["input", "assigneeId"]
    await agent.aclose()


async def test_upsert_finds_by_phone_email_or_handle_and_sets_details(world):
    number = new_number()
    first = (
        await as_user(
            world, "integration", UPSERT, {"i": {"identity": {"phone": number}, "firstName": "Ana"}}
        )
    )["upsertContact"]
    assert first["created"] is True
    assert first["contact"]["phone"] == number and first["contact"]["firstName"] == "Ana"
    spaced = f"{number[:3]} ({number[3:7]}) {number[7:]}"
    again = (
        await as_user(
            world,
            "integration",
            UPSERT,
            {"i": {"identity": {"phone": spaced}, "lastName": "Silva", "language": "pt-BR"}},
        )
    )["upsertContact"]
    assert again["created"] is False and again["contact"]["id"] == first["contact"]["id"]
    assert again["contact"]["name"] == "Ana Silva" and again["contact"]["language"] == "pt-BR"

    email = unique_email()
    by_email = (await as_user(world, "integration", UPSERT, {"i": {"identity": {"email": email}}}))[
        "upsertContact"
    ]
    assert by_email["created"] and by_email["contact"]["email"] == email
    same = (
        await as_user(world, "integration", UPSERT, {"i": {"identity": {"email": email.lower()}}})
    )["upsertContact"]
    assert not same["created"] and same["contact"]["id"] == by_email["contact"]["id"]

    # a contact that wrote on WhatsApp is found by its number and by its handle
    phone = new_number()
    received = await inbound(world, channel="WHATSAPP", sender=phone)
    contact_id = received["contact"]["id"]
    for identity in (
        {"phone": phone},
        {"channelId": world.channel_ids["WHATSAPP"], "handle": phone},
    ):
        found = (await as_user(world, "integration", UPSERT, {"i": {"identity": identity}}))[
            "upsertContact"
        ]
        assert not found["created"] and found["contact"]["id"] == contact_id, identity
    # a new handle on a phone channel creates the contact with its number
    fresh = new_number()
    made = (
        await as_user(
            world,
            "integration",
            UPSERT,
            {"i": {"identity": {"channelId": world.channel_ids["WHATSAPP"], "handle": fresh}}},
        )
    )["upsertContact"]
    assert made["created"] and made["contact"]["phone"] == fresh


async def test_upsert_refuses_bad_identities_and_hidden_matches(world):
    owner = world.client("owner")
    for identity, path in (
        ({}, ["input", "identity"]),
        ({"phone": new_number(), "email": unique_email()}, ["input", "identity"]),
        ({"handle": "x"}, ["input", "identity"]),
        ({"phone": "+1"}, ["input", "identity", "phone"]),
        ({"email": "nobody"}, ["input", "identity", "email"]),
    ):
        body = await owner.execute(UPSERT, {"i": {"identity": identity}})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], identity
        assert body["errors"][0]["extensions"]["inputPath"] == path, identity
    # agent_self may not see c_all: its handle is neither shown nor duplicated
    agent = world.client("agent_self")
    identity = {"channelId": world.channel_ids["WEBCHAT"], "handle": "visitor-c_all"}
    body = await agent.execute(UPSERT, {"i": {"identity": identity, "firstName": "Mallory"}})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "c_all" not in str(body)
    assert await listed(world, "owner", identity) == [world.contact_ids["c_all"]]
    found = await owner(
        "query($id: ID!) { contact(id: $id) { firstName } }", {"id": world.contact_ids["c_all"]}
    )
    assert found["contact"]["firstName"] == "c_all"
    await agent.aclose()
    await owner.aclose()


@pytest.mark.parametrize("kind", ["phone", "email", "handle"])
async def test_concurrent_upserts_of_one_identity_create_one_contact(world, kind):
    number, email, handle = new_number(), unique_email(), f"visitor-{uuid.uuid4().hex[:8]}"
    spellings = {
        "phone": [
            {"phone": number},
            {"phone": number[1:]},
            {"phone": f"{number[:3]} {number[3:]}"},
        ],
        "email": [{"email": email}, {"email": email.lower()}, {"email": email.upper()}],
        "handle": [{"channelId": world.channel_ids["WEBCHAT"], "handle": handle}],
    }[kind]
    clients = [world.client("integration") for _ in range(8)]
    results = await asyncio.gather(
        *(
            client(UPSERT, {"i": {"identity": spellings[i % len(spellings)]}})
            for i, client in enumerate(clients)
        )
    )
    for client in clients:
        await client.aclose()
    payloads = [r["upsertContact"] for r in results]
    assert len({p["contact"]["id"] for p in payloads}) == 1
    assert sum(p["created"] for p in payloads) == 1
    where = {
        "phone": {"phone": number},
        "email": {"email": email},
        "handle": {"channelId": world.channel_ids["WEBCHAT"], "handle": handle},
    }[kind]
    assert await listed(world, "owner", where) == [payloads[0]["contact"]["id"]]


async def test_concurrent_creations_with_one_handle_create_one_contact(world):
    handle = f"visitor-{uuid.uuid4().hex[:8]}"
    identities = [{"channelId": world.channel_ids["WEBCHAT"], "handle": handle}]
    clients = [world.client("integration") for _ in range(6)]
    bodies = await asyncio.gather(
        *(
            c.execute(CREATE, {"i": {"firstName": f"Twin {i}", "identities": identities}})
            for i, c in enumerate(clients)
        )
    )
    for client in clients:
        await client.aclose()
    created = [b["data"]["createContact"]["id"] for b in bodies if b.get("data")]
    refused = [e["extensions"]["code"] for b in bodies for e in b.get("errors") or []]
    assert len(created) == 1 and refused == ["CONFLICT"] * 5
    where = {"channelId": world.channel_ids["WEBCHAT"], "handle": handle}
    assert await listed(world, "owner", where) == created

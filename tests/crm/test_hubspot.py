"""The HubSpot tab: matching by e-mail then phone, fields as HubSpot describes them, edits
written with PATCH, retries on 429, and a HubSpot that is down or slow failing the `crm`
field alone (``domain.md`` section 6, CRM tabs)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import World
from tests.crm.common import (
    CONTACT_CRM,
    HUBSPOT_TOKEN,
    UPDATE,
    connect_hubspot,
    contact_from,
    fields_of,
    values_of,
)
from tests.crm.fake_crm import FakeCrm
from tests.support import Client, serve

TIMELINE = """
query($id: ID!) { node(id: $id) { ... on Conversation {
  timeline(first: 50) { edges { node { __typename ... on Activity { kind text author { id } } } } }
} } }"""


@pytest.fixture(scope="module")
async def hubspot_world(world: World, fake_crm_server) -> World:
    fake_crm_server.fake.hubspot_tokens.add(HUBSPOT_TOKEN)
    owner = world.client("owner")
    await connect_hubspot(owner)
    await owner.aclose()
    return world


def unique_email() -> str:
    return f"pat.{uuid.uuid4().hex[:8]}@example.com"


async def test_contact_with_matching_email_shows_its_record_and_edits_go_back(
    hubspot_world: World, fake: FakeCrm
) -> None:
    w = hubspot_world
    email = unique_email()
    record_id = fake.add_hubspot_contact(
        firstname="Pat",
        lastname="Lee",
        email=email,
        jobtitle="Engineer",
        lifecyclestage="lead",
        company="Initech",
    )
    contact_id = await contact_from(w, "EMAIL", email)
    agent = w.client("agent_all")

    data = await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    record = data["contact"]["crm"]
    assert record["provider"] == "HUBSPOT"
    assert record["recordId"] == record_id
    assert record["objectType"] == "contacts"
    assert record["url"] == f"https://app-eu1.hubspot.com/contacts/4242/record/0-1/{record_id}"
    assert [f["name"] for f in record["fields"]] == [
        "firstname",
        "lastname",
        "email",
        "phone",
        "company",
        "jobtitle",
        "lifecyclestage",
        "hs_lead_status",
    ]
    fields = fields_of(record)
    assert fields["jobtitle"] == {
        "name": "jobtitle",
        "label": "Job Title",
        "type": "TEXT",
        "value": "Engineer",
        "editable": True,
        "maxLength": 65536,
        "options": None,
    }
    assert fields["email"]["type"] == "EMAIL" and fields["email"]["value"] == email
    assert fields["phone"]["type"] == "PHONE" and fields["phone"]["value"] is None
    stage = fields["lifecyclestage"]
    assert (
        stage["type"] == "ENUMERATION"
        and stage["value"] == "lead"
        and stage["label"] == "Lifecycle Stage"
    )
    assert stage["options"] == [  # the hidden option is not offered
        {"value": "subscriber", "label": "Subscriber"},
        {"value": "lead", "label": "Lead"},
        {"value": "customer", "label": "Customer"},
    ]
    search = fake.seen("POST /crm/v3/objects/contacts/search")[0].body
    assert search["filterGroups"] == [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
    ]

    fake.reset()
    data = await agent(
        UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "CTO"}]}
    )
    assert values_of(data["updateCrmRecord"])["jobtitle"] == "CTO"
    patches = fake.writes("PATCH")
    assert [(p.path, p.body) for p in patches] == [
        (f"/crm/v3/objects/contacts/{record_id}", {"properties": {"jobtitle": "CTO"}})
    ]
    assert fake.hubspot_contacts[record_id]["properties"]["jobtitle"] == "CTO"

    # the panel shows the new value; the link is remembered (no new search)
    fake.reset()
    data = await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert values_of(data["contact"]["crm"])["jobtitle"] == "CTO"
    assert fake.seen("/search") == []
    assert fake.seen("/crm/v3/properties") == []  # labels and options are cached
    await agent.aclose()


async def test_each_edit_writes_an_activity_on_the_contact(
    hubspot_world: World, fake: FakeCrm
) -> None:
    w = hubspot_world
    email = unique_email()
    fake.add_hubspot_contact(email=email, lifecyclestage="lead")
    integration = w.client("integration")
    from tests.conftest import RECEIVE

    received = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": w.channel_ids["EMAIL"],
                "from": email,
                "externalMessageId": uuid.uuid4().hex,
                "text": "Hi",
            }
        },
    )
    await integration.aclose()
    contact_id = received["receiveMessage"]["contact"]["id"]
    conversation_id = received["receiveMessage"]["conversation"]["id"]
    agent = w.client("agent_all")
    await agent(
        UPDATE,
        {
            "c": contact_id,
            "p": "HUBSPOT",
            "f": [
                {"name": "lifecyclestage", "value": "customer"},
                {"name": "hs_lead_status", "value": "CONNECTED"},
            ],
        },
    )
    data = await agent(TIMELINE, {"id": conversation_id})
    activities = [
        e["node"]
        for e in data["node"]["timeline"]["edges"]
        if e["node"]["__typename"] == "Activity"
    ]
    crm = [a for a in activities if a["kind"] == "CRM_RECORD_UPDATED"]
    assert len(crm) == 1
    assert crm[0]["author"]["id"] == w.user_ids["agent_all"]
    assert (
        "HubSpot" in crm[0]["text"]
        and "Lifecycle Stage" in crm[0]["text"]
        and "Lead Status" in crm[0]["text"]
    )

    # repeating the current values sends nothing and records nothing
    fake.reset()
    await agent(
        UPDATE,
        {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "lifecyclestage", "value": "customer"}]},
    )
    assert fake.writes("PATCH") == []
    data = await agent(TIMELINE, {"id": conversation_id})
    assert (
        sum(
            1
            for e in data["node"]["timeline"]["edges"]
            if e["node"].get("kind") == "CRM_RECORD_UPDATED"
        )
        == 1
    )
    await agent.aclose()


async def test_a_contact_is_matched_by_phone_across_search_pages(
    hubspot_world: World, fake: FakeCrm
) -> None:
    w = hubspot_world
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    phone = f"+447400{tail}"
    # numbers typed in other formats and other numbers ending alike come first (oldest)
    fake.add_hubspot_contact(firstname="Wrong", phone=f"+1 202 55{tail[:1]} {tail[1:]}")
    fake.add_hubspot_contact(firstname="Wrong too", mobilephone=f"+33 6 12{tail}")
    right = fake.add_hubspot_contact(firstname="Right", phone=f"07400 {tail}")
    contact_id = await contact_from(w, "WHATSAPP", phone)
    agent = w.client("agent_all")
    data = await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert data["contact"]["crm"]["recordId"] == right
    assert values_of(data["contact"]["crm"])["firstname"] == "Right"
    searches = [r.body for r in fake.seen("/search")]
    assert len(searches) == 2 and "after" not in searches[0] and searches[1]["after"] == "2"
    assert searches[0]["filterGroups"][0] == {
        "filters": [
            {
                "propertyName": "phone",
                "operator": "IN",
                "values": [phone, f"+44 7400 {tail}", f"07400 {tail}"],
            }
        ]
    }
    await agent.aclose()


async def test_no_match_gives_no_record(hubspot_world: World, fake: FakeCrm) -> None:
    contact_id = await contact_from(hubspot_world, "EMAIL", unique_email())
    agent = hubspot_world.client("agent_all")
    data = await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert data["contact"]["crm"] is None
    codes = await agent.error_codes(
        UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "x"}]}
    )
    assert codes == ["NOT_FOUND"]
    assert fake.writes("PATCH") == []
    await agent.aclose()


async def test_rate_limited_twice_then_the_edit_succeeds_after_the_waits(
    hubspot_world: World, fake: FakeCrm
) -> None:
    email = unique_email()
    record_id = fake.add_hubspot_contact(email=email, jobtitle="Engineer")
    contact_id = await contact_from(hubspot_world, "EMAIL", email)
    agent = hubspot_world.client("agent_all")
    await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    fake.reset()
    fake.fail(
        "PATCH /crm/v3/objects/contacts",
        429,
        times=2,
        retry_after="1",
        body={
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "SECONDLY",
            "category": "RATE_LIMITS",
        },
    )
    data = await agent(
        UPDATE,
        {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "Head of Ops"}]},
    )
    assert values_of(data["updateCrmRecord"])["jobtitle"] == "Head of Ops"
    patches = fake.writes("PATCH")
    assert len(patches) == 3
    assert all(p.body == {"properties": {"jobtitle": "Head of Ops"}} for p in patches)
    assert patches[1].at - patches[0].at >= 0.95 and patches[2].at - patches[1].at >= 0.95
    assert fake.hubspot_contacts[record_id]["properties"]["jobtitle"] == "Head of Ops"
    await agent.aclose()


async def test_a_hubspot_that_keeps_failing_fails_the_crm_field_alone(
    hubspot_world: World, fake: FakeCrm
) -> None:
    email = unique_email()
    fake.add_hubspot_contact(email=email)
    contact_id = await contact_from(hubspot_world, "EMAIL", email, first_name="Robin")
    fake.fail(
        "/crm/v3/objects/contacts",
        500,
        body={"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"},
    )
    agent = hubspot_world.client("agent_all")
    body = await agent.execute(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert body["data"]["contact"]["name"] == "Robin"
    assert body["data"]["contact"]["email"] == email
    assert body["data"]["contact"]["crm"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "CRM_UNAVAILABLE" and error["path"] == ["contact", "crm"]
    assert "HubSpot" in error["message"]
    assert len(fake.seen("/search")) == 3  # tried three times in all
    codes = await agent.error_codes(
        UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "x"}]}
    )
    assert codes == ["CRM_UNAVAILABLE"]
    assert fake.writes("PATCH") == []
    await agent.aclose()


async def test_a_slow_hubspot_fails_the_crm_field_alone(
    hubspot_world: World, fake: FakeCrm
) -> None:
    email = unique_email()
    fake.add_hubspot_contact(email=email)
    contact_id = await contact_from(hubspot_world, "EMAIL", email, first_name="Sam")
    fake.fail("/search", 200, delay=3.5)  # the server waits 2 s (INBOX_GRAPH_CRM_TIMEOUT_SECONDS)
    agent = hubspot_world.client("agent_all")
    body = await agent.execute(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert body["data"]["contact"]["name"] == "Sam"
    assert body["data"]["contact"]["crm"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CRM_UNAVAILABLE"]
    assert len(fake.seen("/search")) == 1  # a timeout is not tried again
    await agent.aclose()


async def test_an_edit_hubspot_took_is_recorded_even_when_reading_it_back_fails(
    hubspot_world: World, fake: FakeCrm
) -> None:
    """The PATCH succeeds, then reading the record back fails: the edit was answered
    ``CRM_UNAVAILABLE`` with no activity, and sent again it changed nothing, so it was never
    recorded (a helper's review). It is recorded once HubSpot took it, and the answer is the
    record with the edit."""
    email = unique_email()
    fake.add_hubspot_contact(email=email, jobtitle="Engineer")
    contact_id = await contact_from(hubspot_world, "EMAIL", email)
    agent = hubspot_world.client("agent_all")
    await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    fake.fail("GET /crm/v3/objects/contacts/", 503, skip=1)  # the read before the edit passes
    data = await agent(
        UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "CTO"}]}
    )
    assert values_of(data["updateCrmRecord"])["jobtitle"] == "CTO"
    assert len(fake.writes("PATCH")) == 1
    activities = await agent(
        "query($id: ID!) { contact(id: $id) { activities(first: 20) { nodes { kind text } } } }",
        {"id": contact_id},
    )
    recorded = [
        a for a in activities["contact"]["activities"]["nodes"] if a["kind"] == "CRM_RECORD_UPDATED"
    ]
    assert len(recorded) == 1 and "Job Title" in recorded[0]["text"], recorded
    fake.reset()
    await agent.aclose()


@pytest.fixture(scope="module")
def hurried(crm_env: dict[str, str]):
    """A second server on the same database whose requests have 6 seconds."""
    server = serve({**crm_env, "INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS": "6"})
    yield server
    server.stop()


async def test_the_crm_calls_of_a_request_end_before_its_time_limit(
    hubspot_world: World, fake: FakeCrm, hurried
) -> None:
    """HubSpot calls of 1.9 s each (the search, then the field definitions), each within the
    CRM's 2 s: together they outlasted the request's 6 s, and the whole answer was a
    ``TIMEOUT`` (a helper's review). A request's CRM calls end by three quarters of its time
    (4.5 s): the ``crm`` field alone is ``CRM_UNAVAILABLE``."""
    email = unique_email()
    fake.add_hubspot_contact(email=email)
    contact_id = await contact_from(hubspot_world, "EMAIL", email, first_name="Lee")
    fake.fail("/crm/v3/", 200, delay=1.9)
    agent = Client(hurried, hubspot_world.tokens["agent_all"])
    try:
        started = time.monotonic()
        response = await agent.raw(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
        assert time.monotonic() - started < 6
    finally:
        await agent.aclose()
        fake.reset()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["contact"]["name"] == "Lee" and body["data"]["contact"]["crm"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CRM_UNAVAILABLE"]


async def test_a_hubspot_trickling_its_answer_fails_the_crm_field_alone_in_time(
    hubspot_world: World, fake: FakeCrm
) -> None:
    """An answer sent a byte every half second never trips httpx's read timeout (2 s between
    bytes): it kept the request going for the whole minute (a helper's review). The try's
    whole answer has the CRM's time (2 s here)."""
    email = unique_email()
    fake.add_hubspot_contact(email=email)
    contact_id = await contact_from(hubspot_world, "EMAIL", email, first_name="Kim")
    fake.fail("/search", 200, trickle=0.5)
    agent = hubspot_world.client("agent_all")
    started = time.monotonic()
    body = await agent.execute(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})
    assert time.monotonic() - started < 10
    assert body["data"]["contact"]["name"] == "Kim"
    assert body["data"]["contact"]["crm"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CRM_UNAVAILABLE"]
    await agent.aclose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lifecyclestage", "evangelist"),  # outside the options
        ("lifecyclestage", "legacy"),  # a hidden option
        ("favourite_colour", "blue"),  # not a supported field
        ("jobtitle", "x" * 65_537),  # over HubSpot's 65,536 characters
        ("email", "not an address"),
    ],
)
async def test_bad_input_names_the_field_and_sends_nothing(
    hubspot_world: World, fake: FakeCrm, name: str, value: str
) -> None:
    email = unique_email()
    record_id = fake.add_hubspot_contact(email=email, jobtitle="Engineer", lifecyclestage="lead")
    contact_id = await contact_from(hubspot_world, "EMAIL", email)
    agent = hubspot_world.client("agent_all")
    body = await agent.execute(
        UPDATE,
        {
            "c": contact_id,
            "p": "HUBSPOT",
            "f": [
                {"name": "jobtitle", "value": "Boss"},
                {"name": name, "value": value},
            ],
        },
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == name and name in error["message"]
    assert fake.writes("PATCH") == []
    assert fake.hubspot_contacts[record_id]["properties"]["jobtitle"] == "Engineer"
    await agent.aclose()


async def test_a_contact_the_viewer_may_not_see_is_not_found_and_nothing_is_sent(
    hubspot_world: World, fake: FakeCrm
) -> None:
    w = hubspot_world
    email = unique_email()
    fake.add_hubspot_contact(email=email)
    contact_id = await contact_from(w, "EMAIL", email)  # unassigned: a SELF agent may not see it
    agent = w.client("agent_self")
    assert (await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"}))["contact"] is None
    codes = await agent.error_codes(
        UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "x"}]}
    )
    assert codes == ["NOT_FOUND"]
    assert fake.requests == []
    await agent.aclose()


MERGE = "mutation($p: ID!, $s: ID!) { mergeContacts(primaryId: $p, secondaryId: $s) { id } }"


async def test_a_merge_keeps_one_crm_link_per_crm(hubspot_world: World, fake: FakeCrm) -> None:
    """domain.md section 6: a merge moves the secondary's CRM links to the primary; where both
    are linked to the same CRM, the primary's record stays the one its tab shows."""
    w = hubspot_world
    owner = w.client("owner")
    emails = [unique_email() for _ in range(4)]
    linked_primary, linked_secondary, _, lone_secondary = (
        fake.add_hubspot_contact(firstname="Pat", email=e) if i != 2 else None
        for i, e in enumerate(emails)
    )
    ids = [await contact_from(w, "EMAIL", e) for e in emails]
    for contact_id in ids:  # each contact's tab is opened once: the links are remembered
        await owner(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"})

    await owner(MERGE, {"p": ids[0], "s": ids[1]})  # both linked: the primary's link stands
    await owner(MERGE, {"p": ids[2], "s": ids[3]})  # only the secondary linked: its link moves

    fake.reset()
    first = (await owner(CONTACT_CRM, {"id": ids[0], "p": "HUBSPOT"}))["contact"]["crm"]
    second = (await owner(CONTACT_CRM, {"id": ids[2], "p": "HUBSPOT"}))["contact"]["crm"]
    assert first["recordId"] == linked_primary and first["recordId"] != linked_secondary
    assert second["recordId"] == lone_secondary
    assert fake.seen("POST /crm/v3/objects/contacts/search") == []  # read through the links
    await owner.aclose()

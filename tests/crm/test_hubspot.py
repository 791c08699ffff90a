"""The HubSpot tab: matching by e-mail then phone, fields as HubSpot describes them, edits
written with PATCH, retries on 429, and a HubSpot that is down or slow failing the `crm`
field alone (``domain.md`` section 6, CRM tabs)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import World
from tests.crm.common import (
    CONTACT_CRM,
    UPDATE,
    connect_hubspot,
    contact_from,
    fields_of,
    values_of,
)
from tests.crm.fake_crm import FakeCrm
from tests.crm.common import HUBSPOT_TOKEN

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


async def test_contact_with_matching_email_shows_its_record_and_edits_go_back(hubspot_world: World, fake: FakeCrm) -> None:
    w = hubspot_world
    email = unique_email()
    record_id = fake.add_hubspot_contact(
        firstname="Pat", lastname="Lee", email=email, jobtitle="Engineer", lifecyclestage="lead",
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
        "firstname", "lastname", "email", "phone", "company", "jobtitle", "lifecyclestage", "hs_lead_status",
    ]
    fields = fields_of(record)
    assert fields["jobtitle"] == {
        "name": "jobtitle", "label": "Job Title", "type": "TEXT", "value": "Engineer", "editable": True,
        "maxLength": 65536, "options": None,
    }
    assert fields["email"]["type"] == "EMAIL" and fields["email"]["value"] == email
    assert fields["phone"]["type"] == "PHONE" and fields["phone"]["value"] is None
    stage = fields["lifecyclestage"]
    assert stage["type"] == "ENUMERATION" and stage["value"] == "lead" and stage["label"] == "Lifecycle Stage"
    assert stage["options"] == [  # the hidden option is not offered
        {"value": "subscriber", "label": "Subscriber"},
        {"value": "lead", "label": "Lead"},
        {"value": "customer", "label": "Customer"},
    ]
    search = fake.seen("POST /crm/v3/objects/contacts/search")[0].body
    assert search["filterGroups"] == [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]

    fake.reset()
    data = await agent(UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "jobtitle", "value": "CTO"}]})
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
    await agent.aclose()


async def test_each_edit_writes_an_activity_on_the_contact(hubspot_world: World, fake: FakeCrm) -> None:
    w = hubspot_world
    email = unique_email()
    fake.add_hubspot_contact(email=email, lifecyclestage="lead")
    integration = w.client("integration")
    from tests.conftest import RECEIVE

    received = await integration(RECEIVE, {"i": {"channelId": w.channel_ids["EMAIL"], "from": email,
                                                 "externalMessageId": uuid.uuid4().hex, "text": "Hi"}})
    await integration.aclose()
    contact_id = received["receiveMessage"]["contact"]["id"]
    conversation_id = received["receiveMessage"]["conversation"]["id"]
    agent = w.client("agent_all")
    await agent(UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [
        {"name": "lifecyclestage", "value": "customer"}, {"name": "hs_lead_status", "value": "CONNECTED"},
    ]})
    data = await agent(TIMELINE, {"id": conversation_id})
    activities = [e["node"] for e in data["node"]["timeline"]["edges"] if e["node"]["__typename"] == "Activity"]
    crm = [a for a in activities if a["kind"] == "CRM_RECORD_UPDATED"]
    assert len(crm) == 1
    assert crm[0]["author"]["id"] == w.user_ids["agent_all"]
    assert "HubSpot" in crm[0]["text"] and "Lifecycle Stage" in crm[0]["text"] and "Lead Status" in crm[0]["text"]

    # repeating the current values sends nothing and records nothing
    fake.reset()
    await agent(UPDATE, {"c": contact_id, "p": "HUBSPOT", "f": [{"name": "lifecyclestage", "value": "customer"}]})
    assert fake.writes("PATCH") == []
    data = await agent(TIMELINE, {"id": conversation_id})
    assert sum(
        1 for e in data["node"]["timeline"]["edges"] if e["node"].get("kind") == "CRM_RECORD_UPDATED"
    ) == 1
    await agent.aclose()

"""The Salesforce tab: SOQL over Contact then Lead, by e-mail then phone (following
``nextRecordsUrl``), describe-driven fields, PATCH edits and Salesforce's error payloads
(``domain.md`` section 6, CRM tabs)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import World
from tests.crm.common import (
    CONTACT_CRM,
    SALESFORCE_TOKEN,
    UPDATE,
    connect_salesforce,
    contact_from,
    contact_pk,
    fields_of,
    sql,
    values_of,
)
from tests.crm.fake_crm import SF, FakeCrm


@pytest.fixture(scope="module")
async def sf_world(world: World, fake_crm_server) -> World:
    fake_crm_server.fake.salesforce_tokens.add(SALESFORCE_TOKEN)
    owner = world.client("owner")
    connected = await connect_salesforce(owner, fake_crm_server.fake.url)
    assert connected["instanceUrl"] == fake_crm_server.fake.url
    await owner.aclose()
    return world


def new_phone() -> tuple[str, str]:
    """A fresh UK mobile number in E.164 and its last six digits."""
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    return f"+447400{tail}", tail


async def test_a_salesforce_contact_found_by_phone_when_the_email_differs(
    sf_world: World, fake: FakeCrm, database_url: str
) -> None:
    w = sf_world
    phone, tail = new_phone()
    contact_id = await contact_from(w, "WHATSAPP", phone, first_name="Alex")
    inbox_email = f"alex.{uuid.uuid4().hex[:6]}@inbox.example"
    sql(
        database_url,
        "UPDATE contact SET email = ?, email_normalized = ? WHERE id = ?",
        (inbox_email, inbox_email, contact_pk(contact_id)),
    )
    # numbers ending alike come first, on the first page of two records
    fake.add_salesforce("Contact", LastName="Noise", Phone=f"+1 (202) 55{tail[:2]}-{tail[2:]}")
    fake.add_salesforce("Contact", LastName="Noise", MobilePhone=f"+33 6 12 {tail}")
    record_id = fake.add_salesforce(
        "Contact",
        account="Acme Ltd",
        FirstName="Alex",
        LastName="Smith",
        Email="a.smith@acme.example",
        Phone=f"+44 7400 {tail}",
        Title="Buyer",
        LeadSource="Web",
    )
    agent = w.client("agent_all")
    data = await agent(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"})
    record = data["contact"]["crm"]
    assert record["recordId"] == record_id and record["objectType"] == "Contact"
    assert record["url"] == f"{fake.url}/lightning/r/Contact/{record_id}/view"
    assert values_of(record) == {
        "FirstName": "Alex",
        "LastName": "Smith",
        "Email": "a.smith@acme.example",
        "Phone": f"+44 7400 {tail}",
        "Title": "Buyer",
        "Account.Name": "Acme Ltd",
        "LeadSource": "Web",
    }
    fields = fields_of(record)
    assert (
        fields["Account.Name"]["editable"] is False
        and fields["Account.Name"]["label"] == "Account Name"
    )
    assert fields["FirstName"]["maxLength"] == 40 and fields["Title"]["label"] == "Title"
    assert fields["Phone"]["type"] == "PHONE" and fields["Email"]["type"] == "EMAIL"
    assert fields["LeadSource"]["type"] == "ENUMERATION"
    assert [o["value"] for o in fields["LeadSource"]["options"]] == [
        "Web",
        "Phone Inquiry",
        "Partner Referral",
    ]

    queries = [r.query.get("q", "") for r in fake.seen(f"GET {SF}/query")]
    assert any(f"Email = '{inbox_email}'" in q and "FROM Contact" in q for q in queries)
    assert any(f"Email = '{inbox_email}'" in q and "FROM Lead" in q for q in queries)
    assert fake.seen(f"GET {SF}/query/"), "the second batch is read through nextRecordsUrl"

    fake.reset()
    data = await agent(
        UPDATE,
        {"c": contact_id, "p": "SALESFORCE", "f": [{"name": "Title", "value": "Head of Buying"}]},
    )
    assert values_of(data["updateCrmRecord"])["Title"] == "Head of Buying"
    assert [(p.path, p.body) for p in fake.writes("PATCH")] == [
        (f"{SF}/sobjects/Contact/{record_id}", {"Title": "Head of Buying"})
    ]
    assert fake.sf_records["Contact"][record_id]["Title"] == "Head of Buying"
    await agent.aclose()


async def test_a_lead_is_found_when_no_contact_matches(sf_world: World, fake: FakeCrm) -> None:
    email = f"lead.{uuid.uuid4().hex[:8]}@prospect.example"
    fake.add_salesforce("Lead", LastName="Converted", Email=email, Company="Old", IsConverted=True)
    lead_id = fake.add_salesforce(
        "Lead", FirstName="Lou", LastName="Reed", Email=email, Company="Velvet Ltd"
    )
    contact_id = await contact_from(sf_world, "EMAIL", email)
    agent = sf_world.client("agent_all")
    record = (await agent(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"}))["contact"]["crm"]
    assert record["objectType"] == "Lead" and record["recordId"] == lead_id
    assert [f["name"] for f in record["fields"]] == [
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "Company",
        "LeadSource",
    ]
    assert values_of(record)["Company"] == "Velvet Ltd"
    data = await agent(
        UPDATE,
        {
            "c": contact_id,
            "p": "SALESFORCE",
            "f": [
                {"name": "LeadSource", "value": "Partner Referral"},
                {"name": "Title", "value": None},
            ],
        },
    )
    assert values_of(data["updateCrmRecord"])["LeadSource"] == "Partner Referral"
    assert fake.writes("PATCH")[0].body == {
        "LeadSource": "Partner Referral"
    }  # Title was empty already
    await agent.aclose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LeadSource", "Carrier Pigeon"),  # outside the picklist
        ("LeadSource", "Fax"),  # an inactive picklist value
        ("Account.Name", "Other Ltd"),  # read-only
        ("FirstName", "A" * 41),  # over the 40 characters Salesforce describes
        ("Birthdate", "2000-01-01"),  # not a supported field
    ],
)
async def test_bad_input_names_the_field_and_sends_nothing(
    sf_world: World, fake: FakeCrm, name: str, value: str
) -> None:
    email = f"bad.{uuid.uuid4().hex[:8]}@acme.example"
    record_id = fake.add_salesforce(
        "Contact", account="Acme", LastName="Kay", Email=email, Title="Buyer"
    )
    contact_id = await contact_from(sf_world, "EMAIL", email)
    agent = sf_world.client("agent_all")
    body = await agent.execute(
        UPDATE,
        {
            "c": contact_id,
            "p": "SALESFORCE",
            "f": [
                {"name": "Title", "value": "Boss"},
                {"name": name, "value": value},
            ],
        },
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == name and name in error["message"]
    assert fake.writes("PATCH") == []
    assert fake.sf_records["Contact"][record_id]["Title"] == "Buyer"
    await agent.aclose()


async def test_a_value_salesforce_refuses_is_bad_input_naming_its_field(
    sf_world: World, fake: FakeCrm
) -> None:
    email = f"refused.{uuid.uuid4().hex[:8]}@acme.example"
    fake.add_salesforce("Contact", LastName="Kay", Email=email)
    contact_id = await contact_from(sf_world, "EMAIL", email)
    agent = sf_world.client("agent_all")
    await agent(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"})
    fake.fail(
        "PATCH",
        400,
        times=1,
        body=[
            {
                "message": "Title: a validation rule refused it",
                "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "fields": ["Title"],
            }
        ],
    )
    body = await agent.execute(
        UPDATE, {"c": contact_id, "p": "SALESFORCE", "f": [{"name": "Title", "value": "Boss"}]}
    )
    [error] = body["errors"]
    assert (
        error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "Title"
    )
    assert "validation rule" in error["message"]
    await agent.aclose()


async def test_an_expired_token_is_crm_auth_failed_on_the_field_alone(
    sf_world: World, fake: FakeCrm
) -> None:
    email = f"expired.{uuid.uuid4().hex[:8]}@acme.example"
    fake.add_salesforce("Contact", LastName="Kay", Email=email)
    contact_id = await contact_from(sf_world, "EMAIL", email, first_name="Kim")
    fake.salesforce_tokens.discard(SALESFORCE_TOKEN)
    try:
        agent = sf_world.client("agent_all")
        body = await agent.execute(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"})
        assert body["data"]["contact"]["name"] == "Kim" and body["data"]["contact"]["crm"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "CRM_AUTH_FAILED" and error["path"] == [
            "contact",
            "crm",
        ]
        assert "Session expired or invalid" in error["message"]
        assert SALESFORCE_TOKEN not in str(body)
        await agent.aclose()
    finally:
        fake.salesforce_tokens.add(SALESFORCE_TOKEN)


async def test_salesforce_rate_limited_then_available(sf_world: World, fake: FakeCrm) -> None:
    email = f"busy.{uuid.uuid4().hex[:8]}@acme.example"
    record_id = fake.add_salesforce("Contact", LastName="Kay", Email=email)
    contact_id = await contact_from(sf_world, "EMAIL", email)
    fake.fail(
        f"GET {SF}/query",
        503,
        times=1,
        body=[{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}],
    )
    agent = sf_world.client("agent_all")
    record = (await agent(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"}))["contact"]["crm"]
    assert record["recordId"] == record_id
    await agent.aclose()


async def test_masked_numbers_are_masked_and_read_only_in_the_crm_tab(
    sf_world: World, fake: FakeCrm
) -> None:
    w = sf_world
    email = f"masked.{uuid.uuid4().hex[:8]}@acme.example"
    phone, tail = new_phone()
    fake.add_salesforce("Contact", LastName="Kay", Email=email, Phone=phone)
    contact_id = await contact_from(w, "EMAIL", email)
    owner, agent = w.client("owner"), w.client("agent_all")
    settings = "mutation($m: Boolean) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) { phoneNumberMasking } }"
    await owner(settings, {"m": True})
    try:
        seen = fields_of(
            (await agent(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"}))["contact"]["crm"]
        )["Phone"]
        assert seen["value"] == f"+44 74•• •••{tail[-3:]}" and seen["editable"] is False
        body = await agent.execute(
            UPDATE, {"c": contact_id, "p": "SALESFORCE", "f": [{"name": "Phone", "value": "+44 1"}]}
        )
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "Phone",
            "inputPath": ["fields", 0, "name"],
        }
        assert fake.writes("PATCH") == []
        data = await agent(
            UPDATE, {"c": contact_id, "p": "SALESFORCE", "f": [{"name": "Title", "value": "Chief"}]}
        )
        assert fields_of(data["updateCrmRecord"])["Phone"]["value"] == seen["value"]
        by_owner = fields_of(
            (await owner(CONTACT_CRM, {"id": contact_id, "p": "SALESFORCE"}))["contact"]["crm"]
        )
        assert by_owner["Phone"] | {"value": phone, "editable": True} == by_owner["Phone"]
    finally:
        await owner(settings, {"m": False})
        await owner.aclose()
        await agent.aclose()

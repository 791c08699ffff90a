"""Connecting and disconnecting CRMs: owners only, tokens checked against the CRM and stored
encrypted, never returned; tabs shown to everyone only while connected (``domain.md``
section 6, CRM tabs)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import World
from tests.crm.common import (
    CONNECT,
    CONTACT_CRM,
    DISCONNECT,
    HUBSPOT_TOKEN,
    SALESFORCE_TOKEN,
    UPDATE,
    connect_hubspot,
    connect_salesforce,
    contact_from,
    sql,
)
from tests.crm.fake_crm import FakeCrm
from tests.support import Client, serve

TABS = "{ crmIntegrations { provider instanceUrl accountId connectedAt connectedBy { id } } }"


class RecordingClient(Client):
    """A client keeping every response body it received."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[str] = []

    async def raw(self, query, variables=None):
        response = await super().raw(query, variables)
        self.bodies.append(response.text)
        return response


async def test_agents_see_the_tabs_only_while_connected_and_no_response_holds_a_secret(
    world: World, fake: FakeCrm, database_url: str
) -> None:
    fake.hubspot_tokens.add(HUBSPOT_TOKEN)
    fake.salesforce_tokens.add(SALESFORCE_TOKEN)
    owner = RecordingClient(world.served, world.tokens["owner"])
    agent = RecordingClient(world.served, world.tokens["agent_all"])
    email = f"tab.{uuid.uuid4().hex[:8]}@example.com"
    fake.add_hubspot_contact(email=email, firstname="Tab")
    fake.add_salesforce("Contact", LastName="Tab", Email=email)
    contact_id = await contact_from(world, "EMAIL", email)

    assert (await agent(TABS))["crmIntegrations"] == []
    for provider in ("HUBSPOT", "SALESFORCE"):
        assert (await agent(CONTACT_CRM, {"id": contact_id, "p": provider}))["contact"][
            "crm"
        ] is None
        assert await agent.error_codes(
            UPDATE, {"c": contact_id, "p": provider, "f": [{"name": "jobtitle", "value": "x"}]}
        ) == ["BAD_USER_INPUT"]
    assert fake.requests == []  # nothing asked of a CRM that is not connected

    hubspot = await connect_hubspot(owner)
    assert hubspot["accountId"] == "4242" and hubspot["instanceUrl"] is None
    assert hubspot["connectedBy"]["id"] == world.user_ids["owner"]
    salesforce = await connect_salesforce(owner, fake.url + "/")
    assert salesforce["instanceUrl"] == fake.url

    tabs = (await agent(TABS))["crmIntegrations"]
    assert [t["provider"] for t in tabs] == ["HUBSPOT", "SALESFORCE"]
    for provider in ("HUBSPOT", "SALESFORCE"):
        assert (await agent(CONTACT_CRM, {"id": contact_id, "p": provider}))["contact"][
            "crm"
        ] is not None

    # reconnecting (a rotated token) keeps the one connection
    await connect_hubspot(owner)
    assert len((await agent(TABS))["crmIntegrations"]) == 2

    # at rest: Fernet tokens, not the secrets
    stored = sql(database_url, "SELECT provider, encrypted_token FROM crm_connection")
    assert stored and all(row[1].startswith("gAAAA") for row in stored)
    assert not any(HUBSPOT_TOKEN in row[1] or SALESFORCE_TOKEN in row[1] for row in stored)

    # no field reads a token back
    introspected = await owner('{ __type(name: "CrmIntegration") { fields { name } } }')
    names = {f["name"] for f in introspected["__type"]["fields"]}
    assert names == {"provider", "instanceUrl", "accountId", "connectedAt", "connectedBy"}

    assert (await owner(DISCONNECT, {"p": "HUBSPOT"}))["disconnectCrm"] is True
    assert (await owner(DISCONNECT, {"p": "HUBSPOT"}))["disconnectCrm"] is False
    assert [t["provider"] for t in (await agent(TABS))["crmIntegrations"]] == ["SALESFORCE"]
    fake.reset()
    assert (await agent(CONTACT_CRM, {"id": contact_id, "p": "HUBSPOT"}))["contact"]["crm"] is None
    assert fake.requests == []
    assert (await owner(DISCONNECT, {"p": "SALESFORCE"}))["disconnectCrm"] is True
    assert sql(
        database_url, "SELECT count(*) FROM crm_link WHERE contact_id IN (SELECT id FROM contact)"
    ) in ([(0,)], [("0",)])

    for body in owner.bodies + agent.bodies:
        assert HUBSPOT_TOKEN not in body and SALESFORCE_TOKEN not in body
    await owner.aclose()
    await agent.aclose()


@pytest.mark.parametrize("who", ["manager", "agent_all"])
async def test_only_owners_connect_and_disconnect(world: World, fake: FakeCrm, who: str) -> None:
    fake.hubspot_tokens.add(HUBSPOT_TOKEN)
    client = world.client(who)
    codes = await client.error_codes(
        CONNECT, {"i": {"provider": "HUBSPOT", "accessToken": HUBSPOT_TOKEN}}
    )
    assert codes == ["FORBIDDEN"]
    assert await client.error_codes(DISCONNECT, {"p": "HUBSPOT"}) == ["FORBIDDEN"]
    assert fake.requests == []
    assert (await client(TABS))["crmIntegrations"] == []
    await client.aclose()


async def test_a_token_the_crm_refuses_is_crm_auth_failed_and_nothing_is_stored(
    world: World, fake: FakeCrm
) -> None:
    owner = world.client("owner")
    bad = "pat-eu1-" + uuid.uuid4().hex
    body = await owner.execute(CONNECT, {"i": {"provider": "HUBSPOT", "accessToken": bad}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "CRM_AUTH_FAILED" and "HubSpot" in error["message"]
    assert bad not in str(body)
    body = await owner.execute(
        CONNECT, {"i": {"provider": "SALESFORCE", "accessToken": bad, "instanceUrl": fake.url}}
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CRM_AUTH_FAILED"]
    assert fake.seen("/account-info/v3/details") and fake.seen("/sobjects/Contact/describe")
    assert (await owner(TABS))["crmIntegrations"] == []
    await owner.aclose()


async def test_a_crm_down_when_connecting_is_crm_unavailable(world: World, fake: FakeCrm) -> None:
    fake.hubspot_tokens.add(HUBSPOT_TOKEN)
    fake.fail("/account-info", 502)
    owner = world.client("owner")
    codes = await owner.error_codes(
        CONNECT, {"i": {"provider": "HUBSPOT", "accessToken": HUBSPOT_TOKEN}}
    )
    assert codes == ["CRM_UNAVAILABLE"]
    assert (await owner(TABS))["crmIntegrations"] == []
    await owner.aclose()


@pytest.mark.parametrize(
    ("provider", "token", "instance_url", "field"),
    [
        ("SALESFORCE", SALESFORCE_TOKEN, None, "instanceUrl"),
        ("SALESFORCE", SALESFORCE_TOKEN, "https://evil.example.com", "instanceUrl"),
        ("SALESFORCE", SALESFORCE_TOKEN, "http://acme.my.salesforce.com", "instanceUrl"),
        ("SALESFORCE", SALESFORCE_TOKEN, "http://10.0.0.7", "instanceUrl"),
        (
            "SALESFORCE",
            SALESFORCE_TOKEN,
            "https://acme.my.salesforce.com/services/data",
            "instanceUrl",
        ),
        ("SALESFORCE", SALESFORCE_TOKEN, "https://user:pw@acme.my.salesforce.com", "instanceUrl"),
        ("SALESFORCE", SALESFORCE_TOKEN, "not a url", "instanceUrl"),
        ("HUBSPOT", HUBSPOT_TOKEN, "https://acme.my.salesforce.com", "instanceUrl"),
        ("HUBSPOT", "", None, "accessToken"),
        ("HUBSPOT", "two words", None, "accessToken"),
        ("HUBSPOT", "x" * 5000, None, "accessToken"),
    ],
    # the same test ids in every process of a run (pytest-xdist compares them): not the random token
    ids=lambda value: "token" if value in (SALESFORCE_TOKEN, HUBSPOT_TOKEN) else None,
)
async def test_bad_connection_input_is_refused_before_calling_the_crm(
    world: World, fake: FakeCrm, provider: str, token: str, instance_url: str | None, field: str
) -> None:
    owner = world.client("owner")
    body = await owner.execute(
        CONNECT, {"i": {"provider": provider, "accessToken": token, "instanceUrl": instance_url}}
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == field
    assert fake.requests == []
    await owner.aclose()


async def test_without_a_secret_key_connecting_is_refused_and_nothing_is_sent(
    world: World, fake: FakeCrm, crm_env: dict[str, str]
) -> None:
    env = {k: v for k, v in crm_env.items() if k != "INBOX_GRAPH_SECRET_KEY"}
    env["INBOX_GRAPH_SECRET_KEY"] = ""
    server = serve(env)
    try:
        fake.hubspot_tokens.add(HUBSPOT_TOKEN)
        owner = Client(server, world.tokens["owner"])
        body = await owner.execute(
            CONNECT, {"i": {"provider": "HUBSPOT", "accessToken": HUBSPOT_TOKEN}}
        )
        [error] = body["errors"]
        assert (
            error["extensions"]["code"] == "NOT_CONFIGURED"
            and "INBOX_GRAPH_SECRET_KEY" in error["message"]
        )
        assert fake.requests == []
        assert (await owner(TABS))["crmIntegrations"] == []
        await owner.aclose()
    finally:
        server.stop()


async def test_in_production_only_https_salesforce_domains_are_called(
    world: World, fake: FakeCrm, crm_env: dict[str, str]
) -> None:
    server = serve({**crm_env, "INBOX_GRAPH_ENV": "production"})
    try:
        fake.salesforce_tokens.add(SALESFORCE_TOKEN)
        owner = Client(server, world.tokens["owner"])
        body = await owner.execute(
            CONNECT,
            {
                "i": {
                    "provider": "SALESFORCE",
                    "accessToken": SALESFORCE_TOKEN,
                    "instanceUrl": fake.url,
                }
            },
        )
        [error] = body["errors"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "instanceUrl",
            "inputPath": ["input", "instanceUrl"],
        }
        assert fake.requests == []
        await owner.aclose()
    finally:
        server.stop()

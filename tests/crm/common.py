"""Helpers of the CRM tests: operations, contacts with an e-mail or a phone, and connecting."""

from __future__ import annotations

import base64
import subprocess
import uuid
from urllib.parse import urlparse

from tests.conftest import RECEIVE, World
from tests.support import Client

CONNECT = """
mutation($i: ConnectCrmInput!) {
  connectCrm(input: $i) { provider instanceUrl accountId connectedAt connectedBy { id } }
}"""

DISCONNECT = "mutation($p: CrmProvider!) { disconnectCrm(provider: $p) }"

RECORD_FIELDS = """
  provider recordId objectType url
  fields { name label type value editable maxLength options { value label } }
"""

CONTACT_CRM = f"""
query($id: ID!, $p: CrmProvider!) {{
  contact(id: $id) {{ id name email crm(provider: $p) {{ {RECORD_FIELDS} }} }}
}}"""

UPDATE = f"""
mutation($c: ID!, $p: CrmProvider!, $f: [CrmFieldInput!]!) {{
  updateCrmRecord(contactId: $c, provider: $p, fields: $f) {{ {RECORD_FIELDS} }}
}}"""

HUBSPOT_TOKEN = "pat-eu1-" + uuid.uuid4().hex
SALESFORCE_TOKEN = "00D5g000004XXXX!" + uuid.uuid4().hex


def fields_of(record: dict) -> dict[str, dict]:
    return {f["name"]: f for f in record["fields"]}


def values_of(record: dict) -> dict[str, str | None]:
    return {f["name"]: f["value"] for f in record["fields"]}


async def connect_hubspot(owner: Client, token: str = HUBSPOT_TOKEN) -> dict:
    data = await owner(CONNECT, {"i": {"provider": "HUBSPOT", "accessToken": token}})
    return data["connectCrm"]


async def connect_salesforce(
    owner: Client, instance_url: str, token: str = SALESFORCE_TOKEN
) -> dict:
    data = await owner(
        CONNECT,
        {"i": {"provider": "SALESFORCE", "accessToken": token, "instanceUrl": instance_url}},
    )
    return data["connectCrm"]


async def contact_from(w: World, channel: str, handle: str, first_name: str = "Pat") -> str:
    """A contact created by an inbound message from ``handle`` on the ``channel`` (EMAIL gives
    it an e-mail address, WHATSAPP a phone number); returns its id."""
    integration = w.client("integration")
    data = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": w.channel_ids[channel],
                "from": handle,
                "externalMessageId": uuid.uuid4().hex,
                "text": "Hello",
                "firstName": first_name,
            }
        },
    )
    await integration.aclose()
    return data["receiveMessage"]["contact"]["id"]


def contact_pk(contact_id: str) -> int:
    text = base64.urlsafe_b64decode(contact_id + "=" * (-len(contact_id) % 4)).decode()
    return int(text.split(":")[1])


def sql(database_url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one SQL statement on the server's database (arranging state no API sets yet, and
    checking what is stored at rest)."""
    if database_url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite://")) as db:
            return list(db.execute(statement, params))
    parsed = urlparse(database_url)
    for value in params:
        literal = (
            "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)
        )
        statement = statement.replace("?", literal, 1)
    out = subprocess.run(
        [
            "psql",
            "-h",
            parsed.hostname or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            "-d",
            parsed.path.lstrip("/"),
            "-qAt",
            "-F",
            "\t",
            "-c",
            statement,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]

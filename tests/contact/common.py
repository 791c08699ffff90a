"""Helpers of the contact-panel tests (``domain.md`` section 6): contacts made through
ingestion, and the panel's operations as a user would send them."""

from __future__ import annotations

import uuid

from tests.calls.common import as_user
from tests.conftest import ASSIGN, RECEIVE
from tests.support import new_number

CONTACT_FIELDS = (
    "id firstName lastName name phone email countryCode language blocked assignee { id }"
)
UPDATE = f"mutation($i: UpdateContactInput!) {{ updateContact(input: $i) {{ {CONTACT_FIELDS} }} }}"
CONTACT = f"query($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}"
SUGGESTIONS = "query($id: ID!) { contact(id: $id) { mergeSuggestions { id name } } }"
MERGE = f"""mutation($p: ID!, $s: ID!, $b: Boolean, $t: [ContactField!]) {{
  mergeContacts(primaryId: $p, secondaryId: $s, blocked: $b, takeFromSecondary: $t) {{ {CONTACT_FIELDS} }} }}"""
COMMENT = "mutation($c: ID!, $t: String!) { addComment(contactId: $c, text: $t) { id kind text author { id } mentions { id } } }"
ACTIVITIES = """query($id: ID!, $first: Int, $after: String) { contact(id: $id) {
  activities(first: $first, after: $after) {
    edges { cursor node { id kind text createdAt author { id } mentions { id } mergedContactName } }
    pageInfo { hasNextPage endCursor } } } }"""
TIMELINE = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Conversation {
  timeline(first: $first, after: $after) {
    edges { cursor node {
      __typename
      ... on Message { id text createdAt }
      ... on Activity { id kind text createdAt } } }
    pageInfo { hasNextPage endCursor } } } } }"""


async def inbound(
    world,
    *,
    channel: str = "WHATSAPP",
    sender: str | None = None,
    text: str = "Hello",
    first_name: str | None = None,
    assignee: str | None = None,
) -> dict:
    """An inbound message from ``sender`` (a new contact unless known); ``receiveMessage``'s
    payload. The contact is then assigned to ``assignee`` when given."""
    if sender is None:
        sender = (
            new_number()
            if channel in ("WHATSAPP", "SMS", "VOIP")
            else f"visitor-{uuid.uuid4().hex[:10]}"
        )
    data = await as_user(
        world,
        "integration",
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids[channel],
                "from": sender,
                "text": text,
                "externalMessageId": f"ext.{uuid.uuid4().hex}",
                "firstName": first_name,
            }
        },
    )
    result = data["receiveMessage"]
    if assignee is not None:
        await as_user(
            world, "owner", ASSIGN, {"c": result["contact"]["id"], "a": world.user_ids[assignee]}
        )
    return result


async def contact_as(world, who: str, contact_id: str) -> dict | None:
    return (await as_user(world, who, CONTACT, {"id": contact_id}))["contact"]

"""Shared bits of the live-path tests."""

from __future__ import annotations

import uuid

from tests.conftest import RECEIVE

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""


async def receive(world, contact: str, text: str, client=None) -> dict:
    """Ingest ``text`` from the contact's webchat handle with the integration token."""
    own = client is None
    client = client or world.client("integration")
    data = await client(
        RECEIVE,
        {"i": {"channelId": world.channel_ids["WEBCHAT"], "from": f"visitor-{contact}",
               "externalMessageId": uuid.uuid4().hex, "text": text}},
    )
    if own:
        await client.aclose()
    return data["receiveMessage"]

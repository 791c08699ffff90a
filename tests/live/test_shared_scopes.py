"""Payloads shared by subscribers whose selections differ (``graph.fanout``): two ``TEAM``
agents of different teams have the same view (role, visibility, permissions) and subscribe
with the same document, so the process computes an event's payload once for both. Whether the
event's contact is still visible to each (``graph.subscriptions.if_still_visible``) depends on
each one's teams: it must be decided for each (``domain.md`` sections 1 and 7)."""

from __future__ import annotations

import pytest

from db.models import Contact, Conversation, Message
from graph.events import EventType
from graph.live import Transaction
from graph.relay import decode_id
from graph.resolvers.contact import contact_facts, conversation_facts
from tests.live.helpers import commit_events, served_database
from tests.support import subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUERY = """subscription($after: Int) { newMessage(afterSequence: $after) {
    sequence conversation { contact { name } } } }"""


async def _message_with_late_facts(world, contact_name: str, read_as: str) -> int:
    """A message event of ``contact_name``'s conversation whose facts were read while the
    contact was assigned to ``read_as`` (it is not: the race the API cannot time), committed
    unpublished; returns the sequence before it."""
    async with served_database(world.served):
        contact = await Contact.get(id=decode_id(world.contact_ids[contact_name], "Contact"))
        assignee = decode_id(world.user_ids[read_as], "User")

        async def late_facts(tx: Transaction) -> None:
            conversation = await Conversation.filter(contact_id=contact.id).first()
            message = await Message.filter(conversation_id=conversation.id).first()
            tx.emit(
                EventType.MESSAGE_CREATED,
                **{**contact_facts(contact), "assignee_id": assignee},
                **conversation_facts(conversation),
                message_id=message.id,
                direction=message.direction.value,
            )

        return await commit_events(contact.workspace_id, late_facts)


async def test_a_shared_payload_is_still_visible_to_each_subscriber_by_their_own_teams(world):
    """agent_team (Alpha) and agent_beta (Beta, and Gamma with agent_all) both see agent_all's
    contacts. A message whose facts say its contact was agent_all's, though it is agent_team's
    by the time it is presented, reaches agent_team, never agent_beta; and in the other order,
    agent_beta's missing it must not hide it from agent_team."""
    owner = world.client("owner")
    gamma = (
        await owner(
            'mutation($m: [ID!]) { createTeam(name: "Gamma", memberIds: $m) { id } }',
            {"m": [world.user_ids["agent_beta"], world.user_ids["agent_all"]]},
        )
    )["createTeam"]["id"]
    try:
        # agent_team first: its answer (visible) must not be agent_beta's
        after = await _message_with_late_facts(world, "c_team", read_as="agent_all")
        team = await subscribe(world.served, world.tokens["agent_team"], QUERY, {"after": after})
        try:
            got = (await team.next())["data"]["newMessage"]
            assert got["conversation"]["contact"]["name"] == "c_team"
        finally:
            await team.close()
        beta = await subscribe(world.served, world.tokens["agent_beta"], QUERY, {"after": after})
        try:
            await beta.nothing(within=1.0)
        finally:
            await beta.close()

        # agent_beta first: its answer (nothing) must not be agent_team's
        after = await _message_with_late_facts(world, "c_team", read_as="agent_all")
        beta = await subscribe(world.served, world.tokens["agent_beta"], QUERY, {"after": after})
        try:
            await beta.nothing(within=1.0)
        finally:
            await beta.close()
        team = await subscribe(world.served, world.tokens["agent_team"], QUERY, {"after": after})
        try:
            got = (await team.next())["data"]["newMessage"]
            assert got["conversation"]["contact"]["name"] == "c_team"
        finally:
            await team.close()
    finally:
        await owner("mutation($t: ID!) { updateTeam(id: $t, memberIds: []) { id } }", {"t": gamma})
        await owner.aclose()

"""Payloads shared by subscribers whose selections differ (``graph.fanout``): two ``TEAM``
agents of different teams have the same view (role, visibility, permissions) and subscribe
with the same document, so the process computes an event's payload once for both. Whether the
event's contact is still visible to each (``graph.subscriptions.if_still_visible``) depends on
each one's teams: it must be decided for each (``domain.md`` sections 1 and 7)."""

from __future__ import annotations

import pytest

from tests.live.helpers import messages_with_late_facts
from tests.support import subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUERY = """subscription($after: Int) { newMessage(afterSequence: $after) {
    sequence conversation { contact { name } } } }"""


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
        after = await messages_with_late_facts(world, ("c_team",), read_as="agent_all")
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
        after = await messages_with_late_facts(world, ("c_team",), read_as="agent_all")
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

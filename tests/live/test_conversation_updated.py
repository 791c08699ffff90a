"""``conversationUpdated``: live lists see conversations enter, leave and change
(``domain.md`` section 4), each event authorised for each subscriber."""

from __future__ import annotations

import pytest

from tests.conftest import ASSIGN
from tests.live.helpers import messages_with_late_facts
from tests.support import GraphQLError, receive, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPDATED = """subscription($inbox: InboxSelector, $status: ConversationStatus) {
  conversationUpdated(inbox: $inbox, status: $status) {
    sequence change reason conversationId conversation { id status contact { name } } } }"""


async def event(subscription) -> dict:
    return (await subscription.next())["data"]["conversationUpdated"]


async def test_mine_sees_conversations_enter_change_and_leave(world):
    owner = world.client("owner")
    contact = world.contact_ids["c_none"]
    mine = {
        who: await subscribe(
            world.served, world.tokens[who], UPDATED, {"inbox": {"standard": "MINE"}}
        )
        for who in ("agent_all", "agent_free")
    }
    unassigned = await subscribe(
        world.served, world.tokens["manager"], UPDATED, {"inbox": {"standard": "UNASSIGNED"}}
    )
    try:
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_all"]})
        entered = await event(mine["agent_all"])
        assert (entered["change"], entered["reason"]) == ("ENTERED", "ASSIGNED")
        assert entered["conversation"]["contact"]["name"] == "c_none"
        left_unassigned = await event(unassigned)
        assert (left_unassigned["change"], left_unassigned["conversation"]) == ("LEFT", None)
        await mine["agent_free"].nothing(within=0.4)

        await receive(world, "c_none", "news")
        changed = await event(mine["agent_all"])
        assert (changed["change"], changed["reason"]) == ("CHANGED", "NEW_MESSAGE")

        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_free"]})
        left = await event(mine["agent_all"])
        assert (left["change"], left["conversation"], left["conversationId"]) == (
            "LEFT",
            None,
            entered["conversationId"],
        )
        entered_other = await event(mine["agent_free"])
        assert (
            entered_other["change"] == "ENTERED"
            and entered_other["conversation"]["id"] == entered["conversationId"]
        )

        await owner("mutation($c: ID!) { closeConversation(contactId: $c) { id } }", {"c": contact})
        closed = await event(mine["agent_free"])
        assert (closed["change"], closed["reason"]) == ("LEFT", "CLOSED")
        await owner("mutation($c: ID!) { openConversation(contactId: $c) { id } }", {"c": contact})
        reopened = await event(mine["agent_free"])
        assert (reopened["change"], reopened["reason"]) == ("ENTERED", "OPENED")
        await mine["agent_all"].nothing(within=0.3)
    finally:
        await owner(ASSIGN, {"c": contact, "a": None})
        for subscription in (*mine.values(), unassigned):
            await subscription.close()
        await owner.aclose()


async def test_blocking_removes_from_lists_and_custom_inboxes_are_not_live(world):
    owner = world.client("owner")
    contact = world.contact_ids["c_team"]
    team = await subscribe(
        world.served,
        world.tokens["agent_team"],
        UPDATED,
        {"inbox": {"teamId": world.team_ids["Alpha"]}},
    )
    blocked = await subscribe(
        world.served, world.tokens["owner"], UPDATED, {"inbox": {"blocked": True}}
    )
    try:
        await owner("mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": contact})
        left = await event(team)
        assert (left["change"], left["reason"], left["conversation"]) == ("LEFT", "BLOCKED", None)
        entered = await event(blocked)
        assert (entered["change"], entered["reason"]) == ("ENTERED", "BLOCKED")
        await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
        back = await event(team)
        assert (back["change"], back["reason"]) == ("ENTERED", "UNBLOCKED")
    finally:
        await team.close()
        await blocked.close()
        await owner.aclose()
    with pytest.raises(GraphQLError) as refused:
        custom = await subscribe(
            world.served,
            world.tokens["owner"],
            UPDATED,
            {"inbox": {"customInboxId": "Q3VzdG9tSW5ib3g6MQ"}},
        )
        await custom.next()
    assert refused.value.codes == ["BAD_USER_INPUT"]


async def test_a_list_change_whose_contact_left_the_scope_since_its_facts_is_not_delivered(world):
    """A list event is authorised with the facts its batch carries; the contact, as read to
    present the conversation, may have moved on since (its reassignment's own event comes
    later). A ``TEAM`` agent's list never shows a conversation whose contact is assigned
    outside their teams by then, while one still their team's arrives (``domain.md`` sections
    1, 4 and 7). The late facts are written into the outbox: the API cannot time that race."""
    # Beta's (not agent_team's Alpha), Alpha's; both read as agent_all's (Alpha)
    after = await messages_with_late_facts(world, ("c_beta", "c_all"), read_as="agent_all")
    query = """subscription($after: Int) { conversationUpdated(afterSequence: $after) {
        change conversation { contact { name } } } }"""
    team = await subscribe(world.served, world.tokens["agent_team"], query, {"after": after})
    try:
        changed = await event(team)
        assert (changed["change"], changed["conversation"]["contact"]["name"]) == (
            "CHANGED",
            "c_all",
        )
        await team.nothing(within=0.4)
    finally:
        await team.close()

"""``newMessage`` over graphql-transport-ws: each event reaches exactly the subscribers allowed
to see its conversation, authorised at delivery time, and resumes after a sequence."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.conftest import ASSIGN, RECEIVE
from tests.inbox.test_visibility import VIEWERS, expected_visible
from tests.support import receive, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_MESSAGE = """subscription($inbox: InboxSelector, $after: Int) {
  newMessage(inbox: $inbox, afterSequence: $after) {
    sequence
    message { id text direction }
    conversation { contact { name } }
  } }"""


async def test_new_message_reaches_exactly_the_allowed_subscribers(world):
    subscriptions = {
        user: await subscribe(world.served, world.tokens[user], NEW_MESSAGE) for user in VIEWERS
    }
    try:
        for contact in ("c_team", "c_self", "c_none", "c_beta"):
            text = f"live {contact} {uuid.uuid4().hex[:6]}"
            await receive(world, contact, text)
            for user, subscription in subscriptions.items():
                if contact in expected_visible(user):
                    payload = await subscription.next(timeout=5)
                    event = payload["data"]["newMessage"]
                    assert event["message"]["text"] == text, (user, event)
                    assert event["conversation"]["contact"]["name"] == contact
                else:
                    await subscription.nothing(within=0.3)
    finally:
        for subscription in subscriptions.values():
            await subscription.close()


async def test_reassignment_takes_effect_on_open_subscriptions(world):
    owner = world.client("owner")
    contact_id = world.contact_ids["c_free"]
    subscription = await subscribe(world.served, world.tokens["agent_self"], NEW_MESSAGE)
    try:
        await receive(world, "c_free", "not for agent self")
        await subscription.nothing(within=0.5)
        await owner(ASSIGN, {"c": contact_id, "a": world.user_ids["agent_self"]})
        await receive(world, "c_free", "now visible")
        event = (await subscription.next())["data"]["newMessage"]
        assert event["message"]["text"] == "now visible"
        await owner(ASSIGN, {"c": contact_id, "a": world.user_ids["agent_free"]})
        await receive(world, "c_free", "hidden again")
        await subscription.nothing(within=0.5)
    finally:
        await owner(ASSIGN, {"c": contact_id, "a": world.user_ids["agent_free"]})
        await owner.aclose()
        await subscription.close()


async def test_inbox_filter_and_resume_after_sequence(world):
    mine = await subscribe(
        world.served, world.tokens["agent_all"], NEW_MESSAGE, {"inbox": {"standard": "MINE"}}
    )
    try:
        await receive(world, "c_none", "unassigned, not mine")
        await receive(world, "c_all", "mine one")
        first = (await mine.next())["data"]["newMessage"]
        assert first["message"]["text"] == "mine one"
        await mine.close()
        # missed while disconnected
        await receive(world, "c_all", "mine two")
        await receive(world, "c_team", "team, not mine")
        await receive(world, "c_all", "mine three")
        resumed = await subscribe(
            world.served,
            world.tokens["agent_all"],
            NEW_MESSAGE,
            {"inbox": {"standard": "MINE"}, "after": first["sequence"]},
        )
        texts = [(await resumed.next())["data"]["newMessage"]["message"]["text"] for _ in range(2)]
        assert texts == ["mine two", "mine three"]
        await receive(world, "c_all", "mine live")
        live = (await resumed.next())["data"]["newMessage"]
        assert live["message"]["text"] == "mine live" and live["sequence"] > first["sequence"]
        await resumed.nothing(within=0.3)
        await resumed.close()
    finally:
        await mine.close()


async def test_restricted_agent_cannot_subscribe_to_a_hidden_inbox(world):
    from tests.support import GraphQLError

    with pytest.raises((GraphQLError, AssertionError)) as raised:
        subscription = await subscribe(
            world.served, world.tokens["agent_self"], NEW_MESSAGE, {"inbox": {"standard": "ALL"}}
        )
        await subscription.next(timeout=3)
    assert "FORBIDDEN" in str(raised.value)


async def test_integration_message_reaches_its_assignees_subscription(world):
    """An integration's inbound message is pushed to its assignee's MINE subscription.
    How soon is bench/fanout's figure (commit-to-delivery p50/p99), not a timed test's: the
    10 s only guards against a hang on a loaded machine."""
    subscription = await subscribe(
        world.served, world.tokens["agent_all"], NEW_MESSAGE, {"inbox": {"standard": "MINE"}}
    )
    try:
        await receive(world, "c_all", "quick")
        event = (await subscription.next(timeout=10))["data"]["newMessage"]
        assert event["message"]["text"] == "quick"
    finally:
        await subscription.close()


PERSONAL = """subscription { newMessage { message { text } conversation { contact {
  phone assignee { name contactVisibility } } } } }"""


async def test_shared_event_results_never_cross_views_or_identities(world):
    """Subscribers with the same document share one execution per event, but only with the
    same view: the owner reads numbers in full, a manager masked; an agent reads their own
    administration fields, another agent with the same view does not."""
    owner = world.client("owner")
    await owner(
        "mutation { updateWorkspaceSettings(input: {phoneNumberMasking: true}) { phoneNumberMasking } }"
    )
    try:
        integration = world.client("integration")
        phone = "+447911123999"
        received = (
            await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WHATSAPP"],
                        "from": phone,
                        "externalMessageId": uuid.uuid4().hex,
                        "text": "first",
                    }
                },
            )
        )["receiveMessage"]
        await owner(ASSIGN, {"c": received["contact"]["id"], "a": world.user_ids["agent_all"]})
        subscribers = {
            who: await subscribe(world.served, world.tokens[who], PERSONAL)
            for who in ("owner", "manager", "agent_all", "agent_free")
        }
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": phone,
                    "externalMessageId": uuid.uuid4().hex,
                    "text": "shared",
                }
            },
        )
        seen = {}
        for who, subscription in subscribers.items():
            message = json.loads(await asyncio.wait_for(subscription.socket.recv(), 5))
            while message.get("type") != "next":
                message = json.loads(await asyncio.wait_for(subscription.socket.recv(), 5))
            seen[who] = message["payload"]
            await subscription.close()
        contact = {
            who: p["data"]["newMessage"]["conversation"]["contact"] for who, p in seen.items()
        }
        assert contact["owner"]["phone"] == phone
        assert contact["manager"]["phone"] != phone and "\u2022" in contact["manager"]["phone"]
        assert contact["agent_all"]["assignee"]["contactVisibility"] == "ALL"
        assert contact["agent_free"]["assignee"]["contactVisibility"] is None
        assert seen["agent_free"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "errors" not in seen["agent_all"] or not seen["agent_all"]["errors"]
        await integration.aclose()
    finally:
        await owner(
            "mutation { updateWorkspaceSettings(input: {phoneNumberMasking: false}) { phoneNumberMasking } }"
        )
        await owner.aclose()


SUGGESTED = """subscription { newMessage { message { text } conversation { contact {
  name mergeSuggestions { name } } } } }"""


async def test_merge_suggestions_of_a_shared_event_follow_each_subscribers_teams(world):
    """Two TEAM agents of different teams both see a contact assigned to someone in both
    teams, with the same view: its merge suggestions still differ (a contact of one team only
    shares its number) and neither receives the other's."""
    owner, integration = world.client("owner"), world.client("integration")
    beta = world.team_ids["Beta"]
    beta_members = [world.user_ids["agent_beta"]]
    number = f"+447402{uuid.uuid4().int % 1_000_000:06d}"
    subscribers = {}
    try:
        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": beta, "m": [*beta_members, world.user_ids["manager"]]},
        )
        shared = (
            await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WHATSAPP"],
                        "from": number,
                        "externalMessageId": uuid.uuid4().hex,
                        "text": "first",
                        "firstName": "Both teams",
                    }
                },
            )
        )["receiveMessage"]["contact"]["id"]
        alpha_only = (
            await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WEBCHAT"],
                        "from": f"visitor-{uuid.uuid4().hex[:8]}",
                        "externalMessageId": uuid.uuid4().hex,
                        "text": "hi",
                        "firstName": "Alpha only",
                    }
                },
            )
        )["receiveMessage"]["contact"]["id"]
        await owner(ASSIGN, {"c": shared, "a": world.user_ids["manager"]})
        await owner(ASSIGN, {"c": alpha_only, "a": world.user_ids["agent_all"]})
        await owner(
            "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }",
            {"i": {"contactId": alpha_only, "phone": number}},
        )
        for who in ("agent_team", "agent_beta"):
            subscribers[who] = await subscribe(world.served, world.tokens[who], SUGGESTED)
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": number,
                    "externalMessageId": uuid.uuid4().hex,
                    "text": "to both",
                }
            },
        )
        contact = {}
        for who, subscription in subscribers.items():
            data = (await subscription.next())["data"]["newMessage"]
            assert data["message"]["text"] == "to both", who
            contact[who] = data["conversation"]["contact"]
        assert contact["agent_team"] == {
            "name": "Both teams",
            "mergeSuggestions": [{"name": "Alpha only"}],
        }
        assert contact["agent_beta"] == {"name": "Both teams", "mergeSuggestions": []}
    finally:
        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": beta, "m": beta_members},
        )
        for subscription in subscribers.values():
            await subscription.close()
        await owner.aclose()
        await integration.aclose()


async def test_team_and_visibility_changes_apply_to_open_subscriptions(world):
    owner = world.client("owner")
    alpha = world.team_ids["Alpha"]
    alpha_members = [
        world.user_ids[n] for n in ("manager", "agent_all", "agent_team", "agent_self")
    ]
    beta_agent = await subscribe(world.served, world.tokens["agent_beta"], NEW_MESSAGE)
    free_agent = await subscribe(world.served, world.tokens["agent_free"], NEW_MESSAGE)
    try:
        await receive(world, "c_all", "alpha only")
        await beta_agent.nothing(within=0.5)
        assert (await free_agent.next())["data"]["newMessage"]["message"]["text"] == "alpha only"

        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": alpha, "m": [*alpha_members, world.user_ids["agent_beta"]]},
        )
        await owner(
            "mutation($u: ID!) { updateUser(id: $u, input: {contactVisibility: SELF}) { id } }",
            {"u": world.user_ids["agent_free"]},
        )
        await receive(world, "c_all", "now in alpha")
        assert (await beta_agent.next())["data"]["newMessage"]["message"]["text"] == "now in alpha"
        await free_agent.nothing(within=0.5)
    finally:
        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": alpha, "m": alpha_members},
        )
        await owner(
            "mutation($u: ID!) { updateUser(id: $u, input: {contactVisibility: ALL}) { id } }",
            {"u": world.user_ids["agent_free"]},
        )
        await beta_agent.close()
        await free_agent.close()
        await owner.aclose()


async def test_leaving_the_team_ends_a_team_inbox_subscription_with_forbidden(world):
    """A subscription to a team's inbox ends once the subscriber leaves the team: a ``next``
    carrying FORBIDDEN, then ``complete``. The socket stays open and the id may be used again."""
    from tests.support import GraphQLError

    owner = world.client("owner")
    alpha = world.team_ids["Alpha"]
    alpha_members = [
        world.user_ids[n] for n in ("manager", "agent_all", "agent_team", "agent_self")
    ]
    team_inbox = await subscribe(
        world.served, world.tokens["agent_team"], NEW_MESSAGE, {"inbox": {"teamId": alpha}}
    )
    try:
        await receive(world, "c_all", "to alpha's inbox")
        assert (await team_inbox.next())["data"]["newMessage"]["message"][
            "text"
        ] == "to alpha's inbox"
        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": alpha, "m": [m for m in alpha_members if m != world.user_ids["agent_team"]]},
        )
        with pytest.raises(GraphQLError) as ended:
            await team_inbox.next()
        assert ended.value.codes == ["FORBIDDEN"]
        assert json.loads(await asyncio.wait_for(team_inbox.socket.recv(), 5)) == {
            "id": team_inbox.operation_id,
            "type": "complete",
        }
        await team_inbox.socket.send(
            json.dumps(
                {
                    "id": team_inbox.operation_id,
                    "type": "subscribe",
                    "payload": {"query": NEW_MESSAGE},
                }
            )
        )
        await asyncio.sleep(0.3)
        await receive(world, "c_team", "after leaving")
        assert (await team_inbox.next())["data"]["newMessage"]["message"]["text"] == "after leaving"
    finally:
        await owner(
            "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
            {"t": alpha, "m": alpha_members},
        )
        await team_inbox.close()
        await owner.aclose()


async def test_a_custom_inbox_is_refused_for_new_messages_as_for_live_lists(world):
    """Custom inboxes do not update live (``domain.md`` section 2): ``newMessage`` on one is
    refused, as ``conversationUpdated`` is; it accepted it and delivered every message the
    subscriber may see, whatever the inbox's filter (here: its own contact only)."""
    from tests.support import GraphQLError

    owner = world.client("owner")
    try:
        custom = (
            await owner(
                "mutation($i: CustomInboxInput!) { createCustomInbox(input: $i) { id } }",
                {"i": {"name": "Only mine", "filter": {"assignee": {"me": True}}}},
            )
        )["createCustomInbox"]["id"]
    finally:
        await owner.aclose()
    with pytest.raises(GraphQLError) as refused:
        live = await subscribe(
            world.served, world.tokens["owner"], NEW_MESSAGE, {"inbox": {"customInboxId": custom}}
        )
        try:
            await receive(world, "c_all", "agent_all's contact: not in the owner's own inbox")
            await live.next(timeout=3)
        finally:
            await live.close()
    assert refused.value.codes == ["BAD_USER_INPUT"]

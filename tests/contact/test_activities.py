"""Activities (``domain.md`` section 6): internal comments with @-mentions, the contact's
activities newest first, the conversation timeline oldest first with stable cursors, the live
``mentioned`` event; comments never reach a contact- or channel-facing path."""

from __future__ import annotations

import uuid

import pytest

from tests.calls.common import as_user, errors_of
from tests.conftest import PASSWORD, login
from tests.contact.common import ACTIVITIES, COMMENT, TIMELINE, inbound
from tests.support import cli, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

MENTIONED = "subscription { mentioned { sequence activity { id text mentions { id } author { id } } contact { id } } }"
NEW_MESSAGE = "subscription { newMessage { message { id text } } }"


def mention(world, who: str) -> str:
    return f"@[{who}]({world.user_ids[who]})"


async def all_activities(world, contact_id: str, page: int = 2) -> list[dict]:
    """Every activity of a contact, walked ``page`` at a time."""
    found, after = [], None
    while True:
        data = await as_user(
            world, "owner", ACTIVITIES, {"id": contact_id, "first": page, "after": after}
        )
        connection = data["contact"]["activities"]
        found += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return found
        after = connection["pageInfo"]["endCursor"]


async def test_comments_with_mentions_are_listed_newest_first(world):
    contact = (await inbound(world, channel="WEBCHAT", assignee="agent_team"))["contact"]["id"]
    written = []
    for i in range(5):
        text = (
            f"Note {i} for {mention(world, 'agent_all')} and {mention(world, 'manager')}"
            if i == 3
            else f"Note {i}"
        )
        written.append(
            (await as_user(world, "agent_team", COMMENT, {"c": contact, "t": text}))["addComment"]
        )
    noted = written[3]
    assert noted["kind"] == "COMMENT" and noted["author"]["id"] == world.user_ids["agent_team"]
    assert [u["id"] for u in noted["mentions"]] == [
        world.user_ids["agent_all"],
        world.user_ids["manager"],
    ]

    activities = await all_activities(world, contact)
    assert [a["createdAt"] for a in activities] == sorted(
        (a["createdAt"] for a in activities), reverse=True
    )
    comments = [a for a in activities if a["kind"] == "COMMENT"]
    assert [c["id"] for c in comments] == [c["id"] for c in reversed(written)]
    assert len({a["id"] for a in activities}) == len(activities)
    assert (
        activities[-1]["kind"] == "CONVERSATION_OPENED"
    )  # the oldest: the first message opened it


async def test_bad_comments_change_nothing(world):
    contact = (await inbound(world, channel="WEBCHAT", assignee="agent_all"))["contact"]["id"]
    other_domain = f"{uuid.uuid4().hex[:8]}.other.test"
    cli(
        world.served.env,
        "create-workspace",
        "--name",
        "Other",
        "--owner-email",
        f"owner@{other_domain}",
        "--owner-password",
        PASSWORD,
    )
    stranger_token = await login(world.served, f"owner@{other_domain}", PASSWORD)
    world.tokens["stranger"] = stranger_token
    stranger = (await as_user(world, "stranger", "{ me { id } }"))["me"]["id"]
    before = await all_activities(world, contact)

    async def refused(who: str, text: str, contact_id: str = contact) -> tuple[str, str | None]:
        errors = await errors_of(world, who, COMMENT, {"c": contact_id, "t": text})
        return errors[0]["extensions"]["code"], errors[0]["extensions"].get("field")

    assert await refused("agent_all", f"Ask @[Stranger]({stranger})") == ("BAD_USER_INPUT", "text")
    assert await refused("agent_all", f"Ask @[Team]({world.team_ids['Alpha']})") == (
        "BAD_USER_INPUT",
        "text",
    )
    assert await refused("agent_all", "Ask @[Nobody](not-an-id)") == ("BAD_USER_INPUT", "text")
    assert await refused("agent_all", "   ") == ("BAD_USER_INPUT", "text")
    assert await refused("agent_all", "x" * 10_001) == ("BAD_USER_INPUT", "text")
    assert await refused("agent_self", "Not theirs") == ("NOT_FOUND", "contactId")
    assert await refused("stranger", "Not in their workspace") == ("NOT_FOUND", "contactId")
    assert await all_activities(world, contact) == before


async def test_a_mention_reaches_the_mentioned_user_alone(world):
    contact = (await inbound(world, channel="WEBCHAT", assignee="agent_team"))["contact"]["id"]
    subscriptions = {
        who: await subscribe(world.served, world.tokens[who], MENTIONED)
        for who in ("agent_all", "manager", "agent_self")
    }
    try:
        text = (
            f"{mention(world, 'agent_all')} can you call back? {mention(world, 'agent_self')} FYI"
        )
        comment = (await as_user(world, "agent_team", COMMENT, {"c": contact, "t": text}))[
            "addComment"
        ]
        event = (await subscriptions["agent_all"].next())["data"]["mentioned"]
        assert event["activity"]["id"] == comment["id"] and event["contact"]["id"] == contact
        assert event["activity"]["author"]["id"] == world.user_ids["agent_team"]
        await subscriptions["manager"].nothing(within=0.5)  # not mentioned
        await subscriptions["agent_self"].nothing(
            within=0.1
        )  # mentioned, but may not see the contact
    finally:
        for subscription in subscriptions.values():
            await subscription.close()


async def test_comments_never_reach_contact_facing_paths_and_the_timeline_interleaves(world):
    message = await inbound(world, channel="WEBCHAT", text="Where is my order?")
    contact, conversation = message["contact"]["id"], message["conversation"]["id"]
    watcher = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    try:
        await as_user(
            world, "agent_all", COMMENT, {"c": contact, "t": "Internal: check the warehouse"}
        )
        await watcher.nothing(within=0.5)  # a comment is no message
    finally:
        await watcher.close()
    await as_user(
        world,
        "agent_all",
        'mutation($c: ID!) { sendMessage(input: {contactId: $c, text: "On its way"}) { message { id } } }',
        {"c": contact},
    )
    data = await as_user(
        world,
        "owner",
        """query($id: ID!) { node(id: $id) { ... on Conversation {
        lastMessage { text } messages(first: 100) { edges { node { text } } } } } }""",
        {"id": conversation},
    )
    texts = [edge["node"]["text"] for edge in data["node"]["messages"]["edges"]]
    assert (
        "Internal: check the warehouse" not in texts
        and data["node"]["lastMessage"]["text"] == "On its way"
    )

    # oldest first, messages and activities interleaved; a page's cursor stays valid when
    # rows are added after it
    first_page = (await as_user(world, "owner", TIMELINE, {"id": conversation, "first": 2}))[
        "node"
    ]["timeline"]
    await inbound(world, channel="WEBCHAT", sender=None, text="unrelated contact")
    await as_user(world, "agent_all", COMMENT, {"c": contact, "t": "Later note"})
    rest = (
        await as_user(
            world,
            "owner",
            TIMELINE,
            {"id": conversation, "first": 100, "after": first_page["pageInfo"]["endCursor"]},
        )
    )["node"]["timeline"]
    items = [edge["node"] for edge in first_page["edges"] + rest["edges"]]
    summary = [(i["__typename"], i.get("kind"), i["text"]) for i in items]
    assert summary == [
        ("Message", None, "Where is my order?"),
        ("Activity", "CONVERSATION_OPENED", None),
        ("Activity", "COMMENT", "Internal: check the warehouse"),
        ("Message", None, "On its way"),  # at the same instant, messages come first
        ("Activity", "CONTACT_ASSIGNED", None),  # the first reply assigned the contact
        ("Activity", "COMMENT", "Later note"),
    ]
    assert [i["createdAt"] for i in items] == sorted(i["createdAt"] for i in items)

"""Conversation lifecycle and blocked contacts (``domain.md`` sections 2 and 4): each real
change writes exactly one activity, a no-op writes none, blocked contacts leave every inbox
but the blocked one and cannot be opened or closed."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from db.models import Contact, Message, User
from graph.auth import viewer_for_token
from graph.errors import BadUserInput, NotFound
from graph.relay import decode_id
from graph.resolvers import contact as contact_resolvers
from graph.resolvers import conversation as conversation_resolvers
from tests.live.helpers import served_database
from tests.support import receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACTIVITIES = (
    """query($id: ID!) { contact(id: $id) { blocked } conversations: node(id: $id) { id } }"""
)
TIMELINE = """query($inbox: InboxSelector!) { conversations(inbox: $inbox, status: null, first: 100) {
  edges { node { id status closingCategory closingSummary contact { id }
    timeline(first: 100) { edges { node { __typename ... on Activity { kind } } } } } } } }"""
CLOSE = """mutation($c: ID!, $cat: String, $sum: String) {
  closeConversation(contactId: $c, category: $cat, summary: $sum) { id status closingCategory closingSummary } }"""
OPEN = "mutation($c: ID!) { openConversation(contactId: $c) { id status } }"
BLOCK = "mutation($c: ID!) { blockContact(contactId: $c) { id blocked } }"
UNBLOCK = "mutation($c: ID!) { unblockContact(contactId: $c) { id blocked } }"
SETTINGS = "mutation($m: ClosingNotesMode!) { updateWorkspaceSettings(input: {closingNotesMode: $m}) { closingNotesMode } }"


async def kinds_of(owner, contact_id: str) -> list[str]:
    data = await owner(TIMELINE, {"inbox": {"standard": "ALL"}})
    kinds = []
    for edge in data["conversations"]["edges"]:
        if edge["node"]["contact"]["id"] == contact_id:
            kinds += [
                e["node"]["kind"]
                for e in edge["node"]["timeline"]["edges"]
                if e["node"]["__typename"] == "Activity"
            ]
    return kinds


async def test_close_and_open_write_one_activity_per_real_change(world):
    owner = world.client("owner")
    contact = world.contact_ids["c_none"]
    before = await kinds_of(owner, contact)
    closed = (
        await owner(CLOSE, {"c": contact, "cat": "Resolved", "sum": "Answered the question"})
    )["closeConversation"]
    assert closed["status"] == "CLOSED" and closed["closingCategory"] == "Resolved"
    again = (await owner(CLOSE, {"c": contact}))["closeConversation"]
    assert again["id"] == closed["id"]  # a no-op
    assert (await kinds_of(owner, contact)).count("CONVERSATION_CLOSED") == before.count(
        "CONVERSATION_CLOSED"
    ) + 1
    opened = (await owner(OPEN, {"c": contact}))["openConversation"]
    same = (await owner(OPEN, {"c": contact}))["openConversation"]
    assert (
        opened["status"] == "OPEN" and same["id"] == opened["id"] and opened["id"] != closed["id"]
    )
    await owner.aclose()


@pytest.mark.parametrize(
    ("mode", "category", "summary", "error_field"),
    [
        ("OFF", "Resolved", None, "category"),
        ("CATEGORY_REQUIRED", None, "text", "category"),
        ("CATEGORY_AND_SUMMARY_REQUIRED", "Resolved", None, "summary"),
        ("OPTIONAL", "x" * 121, None, "category"),
    ],
)
async def test_closing_notes_follow_the_workspace_setting(
    world, mode, category, summary, error_field
):
    owner = world.client("owner")
    contact = world.contact_ids["c_manager"]
    await owner(SETTINGS, {"m": mode})
    try:
        body = await owner.execute(CLOSE, {"c": contact, "cat": category, "sum": summary})
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": error_field,
            "inputPath": [error_field],
        }
        status = await owner(
            "query($id: ID!) { contact(id: $id) { id } conversations(inbox: {standard: ALL}, first: 100) { edges { node { contact { id } status } } } }",
            {"id": contact},
        )
        assert any(
            e["node"]["contact"]["id"] == contact for e in status["conversations"]["edges"]
        )  # still open
    finally:
        await owner(SETTINGS, {"m": "OPTIONAL"})
        await owner.aclose()


async def test_blocked_contacts_leave_every_inbox_but_the_blocked_one(world):
    owner, agent = world.client("owner"), world.client("agent_all")
    contact = world.contact_ids["c_all"]
    sidebar = "{ inboxSidebar { blocked { conversationCount } } }"
    assert (await owner(sidebar))["inboxSidebar"]["blocked"] is None
    assert (await owner(BLOCK, {"c": contact}))["blockContact"]["blocked"] is True
    await owner(BLOCK, {"c": contact})  # a no-op
    try:
        assert (await owner(sidebar))["inboxSidebar"]["blocked"] == {"conversationCount": 1}
        assert (await agent(sidebar))["inboxSidebar"][
            "blocked"
        ] is None  # may not view blocked contacts
        for inbox in (
            {"standard": "ALL"},
            {"standard": "MINE"},
            {"teamId": world.team_ids["Alpha"]},
        ):
            data = await agent(
                "query($i: InboxSelector!) { conversations(inbox: $i) { edges { node { contact { id } } } } }",
                {"i": inbox},
            )
            assert contact not in [
                e["node"]["contact"]["id"] for e in data["conversations"]["edges"]
            ]
        listed = await owner(
            "{ conversations(inbox: {blocked: true}) { edges { node { contact { id } } } } }"
        )
        assert [e["node"]["contact"]["id"] for e in listed["conversations"]["edges"]] == [contact]
        assert (await agent("query($id: ID!) { contact(id: $id) { id } }", {"id": contact}))[
            "contact"
        ] is None
        for mutation in (OPEN, CLOSE):
            body = await owner.execute(mutation, {"c": contact})
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "blocked" in body["errors"][0]["message"]
        assert await agent.error_codes(UNBLOCK, {"c": contact}) == ["NOT_FOUND"]
        codes = await agent.error_codes(
            "{ conversations(inbox: {blocked: true}) { edges { cursor } } }"
        )
        assert codes == ["FORBIDDEN"]
    finally:
        assert (await owner(UNBLOCK, {"c": contact}))["unblockContact"]["blocked"] is False
    kinds = await kinds_of(owner, contact)
    assert kinds.count("CONTACT_BLOCKED") == 1 and kinds.count("CONTACT_UNBLOCKED") == 1
    assert (await owner(sidebar))["inboxSidebar"]["blocked"] is None
    await owner.aclose()
    await agent.aclose()


async def test_the_blocked_inbox_counts_what_it_lists(world):
    """Its openConversationCount (and the deprecated conversationCount) is its list, counted:
    open conversations, as every inbox's count (issue 21, item 5)."""

    owner = world.client("owner")
    contact = world.contact_ids["c_beta"]
    counts = "{ inboxSidebar { blocked { openConversationCount conversationCount } } }"
    status = "query($s: ConversationStatus) { conversations(inbox: {blocked: true}, status: $s, first: 100) { edges { node { id } } } }"
    await owner(CLOSE, {"c": contact})
    await owner(BLOCK, {"c": contact})
    try:
        shown = (await owner(counts))["inboxSidebar"]["blocked"]
        open_list = (await owner(status, {"s": "OPEN"}))["conversations"]["edges"]
        closed_list = (await owner(status, {"s": "CLOSED"}))["conversations"]["edges"]
        assert len(closed_list) == 1  # the closed conversation is in the inbox's history
        assert shown == {"openConversationCount": 0, "conversationCount": 0} and open_list == []
        default_list = (await owner(status))["conversations"]["edges"]
        assert default_list == open_list  # the list shows OPEN by default
        await receive(world, "c_beta", "still there?")  # opens a conversation, blocked
        shown = (await owner(counts))["inboxSidebar"]["blocked"]
        default_list = (await owner(status))["conversations"]["edges"]
        assert shown == {"openConversationCount": 1, "conversationCount": 1}
        assert len(default_list) == 1
    finally:
        await owner(UNBLOCK, {"c": contact})
        await owner.aclose()


async def test_simultaneous_assignments_end_with_one_assignee_and_one_activity_per_change(world):
    import asyncio

    owner = world.client("owner")
    contact = world.contact_ids["c_free"]
    assign = "mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) { assignee { id } } }"
    before = (await kinds_of(owner, contact)).count("CONTACT_ASSIGNED")
    targets = [world.user_ids["agent_all"], world.user_ids["manager"]]
    clients = [world.client("manager"), world.client("owner")]
    await asyncio.gather(
        *(c(assign, {"c": contact, "a": t}) for c, t in zip(clients, targets, strict=True))
    )
    final = (
        await owner("query($id: ID!) { contact(id: $id) { assignee { id } } }", {"id": contact})
    )["contact"]["assignee"]["id"]
    assert final in targets
    data = await owner(
        TIMELINE.replace("... on Activity { kind }", "... on Activity { kind assignee { id } }"),
        {"inbox": {"standard": "ALL"}},
    )
    activities = [
        e["node"]
        for edge in data["conversations"]["edges"]
        if edge["node"]["contact"]["id"] == contact
        for e in edge["node"]["timeline"]["edges"]
        if e["node"]["__typename"] == "Activity" and e["node"]["kind"] == "CONTACT_ASSIGNED"
    ]
    assert len(activities) == before + 2  # both were real changes, applied one after the other
    assert activities[-1]["assignee"]["id"] == final
    await owner(assign, {"c": contact, "a": world.user_ids["agent_free"]})
    for client in (*clients, owner):
        await client.aclose()


async def new_contact_id(world) -> int:
    """The primary key of a new, unassigned webchat contact with an open conversation."""
    received = await receive(world, f"race-{uuid.uuid4().hex[:8]}", "Hello?")
    return decode_id(received["contact"]["id"], "Contact")


@contextlib.asynccontextmanager
async def owner_racing(world, monkeypatch, resolvers, meanwhile):
    """The owner's viewer, in process on the served database, while ``resolvers.write`` runs
    ``meanwhile()`` before its transaction: what another user commits between a resolver's
    first checks and its write (the API cannot time it)."""
    async with served_database(world.served):
        written = resolvers.write

        async def racing(bus, workspace_id, operation, **options):
            await meanwhile()
            return await written(bus, workspace_id, operation, **options)

        monkeypatch.setattr(resolvers, "write", racing)
        yield await viewer_for_token(world.tokens["owner"])


async def test_a_reply_to_a_contact_blocked_while_it_was_written_is_refused(world, monkeypatch):
    """``sendMessage`` checked the block only before its transaction: a contact blocked by
    someone else between that check and the reply's commit got the reply and, unassigned, its
    first-reply assignment (a helper's review). Only a viewer who may see blocked contacts gets
    that far: the owner."""
    contact_id = await new_contact_id(world)

    async def blocked() -> None:
        await Contact.filter(id=contact_id).update(blocked=True)

    async with owner_racing(world, monkeypatch, conversation_resolvers, blocked) as owner:
        with pytest.raises(BadUserInput) as refused:
            await conversation_resolvers.send_message(
                None, owner, contact_id=contact_id, text="Too late", channel_id=None
            )
        assert refused.value.extensions["field"] == "contactId"
        assert await Message.filter(contact_id=contact_id).count() == 1
        assert (await Contact.get(id=contact_id)).assignee_id is None


async def test_an_assignment_to_a_user_deactivated_while_it_was_written_is_refused(
    world, monkeypatch
):
    """``assignContact`` checked that the assignee is active only before its transaction: a
    user deactivated between that check and the commit got the contact (a helper's review)."""
    owner_client = world.client("owner")
    created = await owner_client(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {
            "i": {
                "email": f"leaving-{uuid.uuid4().hex[:8]}@{world.domain}",
                "name": "Leaving Soon",
                "password": "correct horse battery",
                "role": "AGENT",
                "contactVisibility": "ALL",
            }
        },
    )
    await owner_client.aclose()
    leaving = decode_id(created["createUser"]["id"], "User")
    contact_id = await new_contact_id(world)

    async def deactivated() -> None:
        await User.filter(id=leaving).update(is_active=False)

    async with owner_racing(world, monkeypatch, contact_resolvers, deactivated) as owner:
        with pytest.raises(NotFound) as refused:
            await contact_resolvers.assign_contact(None, owner, contact_id, leaving)
        assert refused.value.extensions["field"] == "assigneeId"
        assert (await Contact.get(id=contact_id)).assignee_id is None

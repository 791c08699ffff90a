"""Indicators (``domain.md`` section 3) against a reference model written here from the spec.

A property-based test (hypothesis) runs random sequences of inbound and outbound messages,
assignments (by hand and by a first reply), closes, blocks, team changes and ``markInboxSeen``
calls through the served API and checks, after every step and for every user: each count
equals the length of the matching list query, and the dots match the model's tiers. In the
model, a conversation is unseen by a user while they hold a mark on it (in an inbox, or
``HIDDEN`` when none of theirs holds it); a reassignment or a block moves each such user's
marks to the tier the new facts give them (issue 21, item 5).
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ASSIGN, CONTACTS, PEOPLE, RECEIVE
from tests.inbox.test_visibility import expected_standard, expected_teams, visibility_of
from tests.support import sql

pytestmark = pytest.mark.asyncio(loop_scope="session")

USERS = ["owner", *PEOPLE]
HIDDEN = "hidden"
ASSIGNEES = [None, "agent_all", "agent_team", "agent_self", "agent_beta", "manager"]
SIDEBAR = """{ inboxSidebar { standard { kind newMessageCount openConversationCount }
  teams { team { name } newMessageCount openConversationCount } } }"""
LIST = """query($inbox: InboxSelector!, $unseen: Boolean!) {
  conversations(inbox: $inbox, first: 100, unseen: $unseen) { edges { node { id } } } }"""


DRIFTED_MARKS = """SELECT COUNT(*) FROM unseen_mark m JOIN conversation c ON c.id = m.conversation_id
WHERE m.conversation_status <> c.status OR m.contact_blocked <> c.contact_blocked
   OR COALESCE(m.contact_assignee_id, 0) <> COALESCE(c.contact_assignee_id, 0)"""


def assert_marks_follow_their_conversations(world) -> None:
    """Every unseen mark's copies of its conversation's status and contact facts (which the
    sidebar counts by, ``db/migrations/0017_unseen_mark_facts.py``) are its conversation's."""
    assert sql(world.served.env["DATABASE_URL"], DRIFTED_MARKS) == 0


class Model:
    """The reference model: assignees, blocked flags, open conversations and unseen marks."""

    def __init__(self, world) -> None:
        self.world = world
        self.assignee = dict(CONTACTS)
        self.blocked = dict.fromkeys(CONTACTS, False)
        self.open_conversation: dict[str, str | None] = {}
        self.marks: dict[str, dict[str, set[str]]] = {u: {} for u in USERS}
        self.teams = {u: set(PEOPLE[u][2]) if u in PEOPLE else set() for u in USERS}

    def members(self, team: str) -> set[str]:
        return {u for u, teams in self.teams.items() if team in teams}

    def visible_teams(self, user: str) -> set[str]:
        if user in ("owner", "manager"):
            return {"Alpha", "Beta"}
        return set() if visibility_of(user) == "SELF" else set(self.teams[user])

    def visible(self, user: str, contact: str) -> bool:
        if self.blocked[contact]:
            return False  # no test user may view blocked contacts except the owner, never in these inboxes
        assignee, visibility = self.assignee[contact], visibility_of(user)
        if visibility == "ALL":
            return True
        if visibility == "SELF":
            return assignee == user
        return assignee == user or any(assignee in self.members(t) for t in self.teams[user])

    def inboxes_containing(self, user: str, contact: str) -> dict[str, bool]:
        assignee = self.assignee[contact]
        shown = self.visible(user, contact)
        result = {}
        for kind in expected_standard(user):
            result[kind] = shown and (
                kind == "ALL"
                or (kind == "MINE" and assignee == user)
                or (kind == "UNASSIGNED" and assignee is None)
            )
        for team in self.visible_teams(user):
            result[team] = shown and assignee in self.members(team)
        return result

    def tier(self, user: str, contact: str) -> list[str]:
        inside = self.inboxes_containing(user, contact)
        if inside.get("MINE"):
            return ["MINE"]
        teams = [k for k, v in inside.items() if v and k not in ("ALL", "MINE", "UNASSIGNED")]
        if teams:
            return teams
        for kind in ("UNASSIGNED", "ALL"):
            if inside.get(kind):
                return [kind]
        return []

    def inbound(self, contact: str, conversation_id: str) -> None:
        self.open_conversation[contact] = conversation_id
        for user in USERS:
            for key in self.tier(user, contact) or [HIDDEN]:
                self.marks[user].setdefault(key, set()).add(conversation_id)

    def follow(self, contact: str) -> None:
        """The contact's facts changed: each user's marks of its open conversation move to
        the tier the new facts give them (or out of view)."""
        conversation_id = self.open_conversation.get(contact)
        if conversation_id is None:
            return
        for user in USERS:
            held = [k for k, marked in self.marks[user].items() if conversation_id in marked]
            if not held:
                continue  # seen: nothing to move
            for key in held:
                self.marks[user][key].discard(conversation_id)
            for key in self.tier(user, contact) or [HIDDEN]:
                self.marks[user].setdefault(key, set()).add(conversation_id)

    def expected_dot(self, user: str, key: str) -> int:
        count = 0
        for contact, conversation_id in self.open_conversation.items():
            if conversation_id and conversation_id in self.marks[user].get(key, set()):
                count += self.inboxes_containing(user, contact).get(key, False)
        return count


async def check(world, model: Model) -> None:
    for user in USERS:
        client = world.client(user)
        sidebar = (await client(SIDEBAR))["inboxSidebar"]
        inboxes = [(s["kind"], {"standard": s["kind"]}, s) for s in sidebar["standard"]]
        inboxes += [
            (t["team"]["name"], {"teamId": world.team_ids[t["team"]["name"]]}, t)
            for t in sidebar["teams"]
        ]
        for key, selector, shown in inboxes:
            unseen = await client(LIST, {"inbox": selector, "unseen": True})
            listed = await client(LIST, {"inbox": selector, "unseen": False})
            assert shown["newMessageCount"] == len(unseen["conversations"]["edges"]), (user, key)
            assert shown["openConversationCount"] == len(listed["conversations"]["edges"]), (
                user,
                key,
            )
            assert shown["newMessageCount"] == model.expected_dot(user, key), (
                user,
                key,
                model.marks[user],
            )
        await client.aclose()
    assert_marks_follow_their_conversations(world)


step = st.one_of(
    st.tuples(st.just("inbound"), st.sampled_from(sorted(CONTACTS))),
    st.tuples(
        st.just("reply"),
        st.sampled_from(sorted(CONTACTS)),
        st.sampled_from(["agent_all", "manager"]),
    ),
    st.tuples(st.just("assign"), st.sampled_from(sorted(CONTACTS)), st.sampled_from(ASSIGNEES)),
    st.tuples(st.just("close"), st.sampled_from(sorted(CONTACTS))),
    st.tuples(st.just("block"), st.sampled_from(sorted(CONTACTS))),
    st.tuples(st.just("unblock"), st.sampled_from(sorted(CONTACTS))),
    st.tuples(
        st.just("seen"),
        st.sampled_from(USERS),
        st.sampled_from(["ALL", "MINE", "UNASSIGNED", "Alpha", "Beta"]),
    ),
    st.tuples(st.just("open"), st.sampled_from(sorted(CONTACTS))),
    st.tuples(st.just("team"), st.booleans()),
)
ALPHA = ["manager", "agent_all", "agent_team", "agent_self"]


async def set_alpha(world, owner, with_beta_agent: bool) -> None:
    ids = [world.user_ids[u] for u in (*ALPHA, *(["agent_beta"] if with_beta_agent else []))]
    await owner(
        "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }",
        {"t": world.team_ids["Alpha"], "m": ids},
    )


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=3, max_size=7))
async def test_counts_equal_lists_and_dots_follow_the_tiers(world, steps):
    owner, integration = world.client("owner"), world.client("integration")
    model = Model(world)
    await set_alpha(world, owner, False)
    # a clean slate: everything unblocked, assignees as the world made them, every dot seen
    for contact, assignee in CONTACTS.items():
        await owner(
            "mutation($c: ID!) { unblockContact(contactId: $c) { id } }",
            {"c": world.contact_ids[contact]},
        )
        await owner(
            ASSIGN,
            {"c": world.contact_ids[contact], "a": world.user_ids[assignee] if assignee else None},
        )
        # a fresh conversation: no mark of an earlier example (seen or out of view) is on it
        await owner.execute(
            "mutation($c: ID!) { closeConversation(contactId: $c) { id } }",
            {"c": world.contact_ids[contact]},
        )
        data = await owner(
            "mutation($c: ID!) { openConversation(contactId: $c) { id } }",
            {"c": world.contact_ids[contact]},
        )
        model.open_conversation[contact] = data["openConversation"]["id"]
    for user in USERS:
        client = world.client(user)
        for kind in expected_standard(user):
            await client(
                "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }",
                {"i": {"standard": kind}},
            )
        for team in expected_teams(user):
            await client(
                "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }",
                {"i": {"teamId": world.team_ids[team]}},
            )
        await client.aclose()
    for action, *args in steps:
        if action == "inbound":
            (contact,) = args
            data = await integration(
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channel_ids["WEBCHAT"],
                        "from": f"visitor-{contact}",
                        "externalMessageId": uuid.uuid4().hex,
                        "text": "hello",
                    }
                },
            )
            if not model.blocked[contact]:
                model.inbound(contact, data["receiveMessage"]["conversation"]["id"])
            else:
                model.open_conversation[contact] = data["receiveMessage"]["conversation"]["id"]
        elif action == "reply":
            contact, user = args
            if model.blocked[contact]:
                continue
            data = await world.client(user)(
                "mutation($i: SendMessageInput!) { sendMessage(input: $i) { conversation { id } } }",
                {"i": {"contactId": world.contact_ids[contact], "text": "on it"}},
            )
            model.open_conversation[contact] = data["sendMessage"]["conversation"]["id"]
            if model.assignee[contact] is None:
                model.assignee[contact] = user  # first reply wins
                model.follow(contact)
        elif action == "assign":
            contact, assignee = args
            await owner(
                ASSIGN,
                {
                    "c": world.contact_ids[contact],
                    "a": world.user_ids[assignee] if assignee else None,
                },
            )
            if model.assignee[contact] != assignee:  # a no-op changes nothing
                model.assignee[contact] = assignee
                model.follow(contact)
        elif action == "close":
            (contact,) = args
            if model.blocked[contact]:
                continue
            await owner(
                "mutation($c: ID!) { closeConversation(contactId: $c) { id } }",
                {"c": world.contact_ids[contact]},
            )
            model.open_conversation[contact] = None
        elif action == "open":
            (contact,) = args
            if model.blocked[contact]:
                continue
            data = await owner(
                "mutation($c: ID!) { openConversation(contactId: $c) { id } }",
                {"c": world.contact_ids[contact]},
            )
            model.open_conversation[contact] = data["openConversation"]["id"]
        elif action == "team":
            (with_beta_agent,) = args
            await set_alpha(world, owner, with_beta_agent)
            if with_beta_agent:
                model.teams["agent_beta"].add("Alpha")
            elif "Alpha" in model.teams["agent_beta"]:
                model.teams["agent_beta"].discard("Alpha")
                model.marks["agent_beta"].pop("Alpha", None)  # leaving drops the team's dot
        elif action == "block":
            (contact,) = args
            await owner(
                "mutation($c: ID!) { blockContact(contactId: $c) { id } }",
                {"c": world.contact_ids[contact]},
            )
            if not model.blocked[contact]:
                model.blocked[contact] = True
                model.follow(contact)
        elif action == "unblock":
            (contact,) = args
            await owner(
                "mutation($c: ID!) { unblockContact(contactId: $c) { id } }",
                {"c": world.contact_ids[contact]},
            )
            if model.blocked[contact]:
                model.blocked[contact] = False
                model.follow(contact)
        elif action == "seen":
            user, key = args
            if key in ("Alpha", "Beta"):
                if key not in model.visible_teams(user):
                    continue
                selector = {"teamId": world.team_ids[key]}
            else:
                if key not in expected_standard(user):
                    continue
                selector = {"standard": key}
            client = world.client(user)
            await client(
                "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }",
                {"i": selector},
            )
            await client.aclose()
            model.marks[user].pop(key, None)
        await check(world, model)
    await set_alpha(world, owner, False)
    await owner.aclose()
    await integration.aclose()


async def test_a_member_who_leaves_a_team_and_rejoins_starts_from_a_clean_dot(world):
    owner, beta, integration = (
        world.client("owner"),
        world.client("agent_beta"),
        world.client("integration"),
    )

    async def alpha_dot() -> int:
        teams = (await beta(SIDEBAR))["inboxSidebar"]["teams"]
        return next(t["newMessageCount"] for t in teams if t["team"]["name"] == "Alpha")

    await owner(
        "mutation($c: ID!) { unblockContact(contactId: $c) { id } }",
        {"c": world.contact_ids["c_team"]},
    )
    await owner(ASSIGN, {"c": world.contact_ids["c_team"], "a": world.user_ids["agent_team"]})
    await set_alpha(world, owner, True)
    await beta(
        "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }",
        {"i": {"teamId": world.team_ids["Alpha"]}},
    )
    assert await alpha_dot() == 0
    await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": "visitor-c_team",
                "externalMessageId": uuid.uuid4().hex,
                "text": "anyone?",
            }
        },
    )
    assert await alpha_dot() == 1
    await set_alpha(world, owner, False)
    await set_alpha(world, owner, True)
    assert await alpha_dot() == 0  # what arrived before they left is not theirs to see as new
    await set_alpha(world, owner, False)
    for client in (owner, beta, integration):
        await client.aclose()


async def test_mark_seen_clears_one_inbox_for_one_user_and_the_sidebar_is_pushed(world):
    from tests.support import subscribe

    # the property-based test leaves the world in a random state: start from a known one, c_all
    # unblocked, open and assigned as the world made it, and every dot of agent.all seen, so
    # that the inbound message below changes agent.all's sidebar
    owner, seer = world.client("owner"), world.client("agent_all")
    contact = world.contact_ids["c_all"]
    await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
    await owner(
        ASSIGN,
        {"c": contact, "a": world.user_ids[CONTACTS["c_all"]] if CONTACTS["c_all"] else None},
    )
    await owner("mutation($c: ID!) { openConversation(contactId: $c) { id } }", {"c": contact})
    seen = "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }"
    for kind in expected_standard("agent_all"):
        await seer(seen, {"i": {"standard": kind}})
    for team in expected_teams("agent_all"):
        await seer(seen, {"i": {"teamId": world.team_ids[team]}})
    await owner.aclose()
    await seer.aclose()

    pushed = await subscribe(
        world.served,
        world.tokens["agent_all"],
        """subscription { inboxSidebarChanged {
        standard { kind newMessageCount openConversationCount } teams { team { name } newMessageCount openConversationCount } } }""",
    )
    first = (await pushed.next())["data"]["inboxSidebarChanged"]
    integration = world.client("integration")
    await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": "visitor-c_all",
                "externalMessageId": uuid.uuid4().hex,
                "text": "ping",
            }
        },
    )
    second = (await pushed.next())["data"]["inboxSidebarChanged"]
    assert second != first
    agent, manager = world.client("agent_all"), world.client("manager")
    fresh = (await agent(SIDEBAR))["inboxSidebar"]
    assert second == fresh
    mine = next(s for s in fresh["standard"] if s["kind"] == "MINE")
    assert mine["newMessageCount"] >= 1
    manager_before = (await manager(SIDEBAR))["inboxSidebar"]
    await agent(
        "mutation { markInboxSeen(inbox: {standard: MINE}) { standard { kind newMessageCount } } }"
    )
    third = (await pushed.next())["data"]["inboxSidebarChanged"]
    assert next(s for s in third["standard"] if s["kind"] == "MINE")["newMessageCount"] == 0
    assert third == (await agent(SIDEBAR))["inboxSidebar"]
    assert (await manager(SIDEBAR))[
        "inboxSidebar"
    ] == manager_before  # the manager's dots are theirs
    await pushed.close()
    for client in (integration, agent, manager):
        await client.aclose()


async def test_the_dot_follows_a_reassigned_conversation(world):
    """Issue 21, item 5: an unread conversation of an unassigned contact, assigned to an agent,
    leaves the UNASSIGNED dot and lights the new owner's MINE (even an agent who could not see
    it before); each other user's mark moves to their new tier; a block hides it, an unblock
    brings it back; dots equal the ``unseen`` lists throughout and are pushed live."""
    from tests.support import receive, subscribe

    owner = world.client("owner")
    contact = world.contact_ids["c_none"]
    await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
    await owner(ASSIGN, {"c": contact, "a": None})
    await owner.execute(
        "mutation($c: ID!) { closeConversation(contactId: $c) { id } }", {"c": contact}
    )
    seen = "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { teams { newMessageCount } } }"
    for user in ("owner", "agent_all", "agent_self"):
        client = world.client(user)
        for kind in expected_standard(user):
            await client(seen, {"i": {"standard": kind}})
        for team in expected_teams(user):
            await client(seen, {"i": {"teamId": world.team_ids[team]}})
        await client.aclose()

    async def dots(user: str) -> dict[str, list[str]]:
        """Each inbox's unseen conversations, after checking that the dot counts them."""
        client = world.client(user)
        sidebar = (await client(SIDEBAR))["inboxSidebar"]
        found = {}
        for key, selector, shown in [
            (s["kind"], {"standard": s["kind"]}, s) for s in sidebar["standard"]
        ] + [
            (t["team"]["name"], {"teamId": world.team_ids[t["team"]["name"]]}, t)
            for t in sidebar["teams"]
        ]:
            unseen = await client(LIST, {"inbox": selector, "unseen": True})
            ids = [e["node"]["id"] for e in unseen["conversations"]["edges"]]
            assert shown["newMessageCount"] == len(ids), (user, key)
            if ids:
                found[key] = ids
        await client.aclose()
        return found

    pushed = await subscribe(
        world.served,
        world.tokens["agent_self"],
        "subscription { inboxSidebarChanged { standard { kind newMessageCount } } }",
    )
    await pushed.next()  # the sidebar as it is
    conversation = (await receive(world, "c_none", "is anyone there?"))["conversation"]["id"]
    assert await dots("agent_all") == {"UNASSIGNED": [conversation]}
    assert await dots("agent_self") == {}  # a SELF agent does not see unassigned contacts
    await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_self"]})
    assert await dots("agent_self") == {"MINE": [conversation]}
    assert await dots("agent_all") == {"Alpha": [conversation]}  # agent.self is in Alpha
    assert await dots("owner") == {"Alpha": [conversation]}
    while True:  # the new owner's sidebar is pushed with the dot
        standard = (await pushed.next())["data"]["inboxSidebarChanged"]["standard"]
        if standard == [{"kind": "MINE", "newMessageCount": 1}]:
            break
    await pushed.close()
    agent_self = world.client("agent_self")
    await agent_self(seen, {"i": {"standard": "MINE"}})
    await agent_self.aclose()
    await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_all"]})
    assert await dots("agent_all") == {"MINE": [conversation]}
    assert await dots("agent_self") == {}
    await owner("mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": contact})
    assert await dots("agent_all") == {} and await dots("owner") == {}
    await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
    assert await dots("agent_all") == {"MINE": [conversation]}
    assert await dots("owner") == {"Alpha": [conversation]}
    await owner(ASSIGN, {"c": contact, "a": None})
    assert await dots("agent_all") == {"UNASSIGNED": [conversation]}
    assert await dots("agent_self") == {}
    assert_marks_follow_their_conversations(world)
    await owner.aclose()


async def test_marks_end_in_the_final_tier_when_messages_and_reassignments_race(world):
    """Inbound messages and reassignments of one contact at the same time (the contact's row
    lock orders them, on PostgreSQL too): every user's mark ends in the tier of the final
    assignee, whichever write came last."""
    import asyncio

    from tests.support import receive

    owner = world.client("owner")
    contact = world.contact_ids["c_none"]
    await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
    await owner(ASSIGN, {"c": contact, "a": None})
    await owner.execute(
        "mutation($c: ID!) { closeConversation(contactId: $c) { id } }", {"c": contact}
    )
    conversation = (await receive(world, "c_none", "first"))["conversation"]["id"]
    assignees = ["agent_self", "agent_free", "agent_team"]
    await asyncio.gather(
        *(receive(world, "c_none", f"message {i}") for i in range(6)),
        *(owner(ASSIGN, {"c": contact, "a": world.user_ids[a]}) for a in assignees),
    )
    final = (
        await owner("query($id: ID!) { contact(id: $id) { assignee { id } } }", {"id": contact})
    )["contact"]["assignee"]["id"]
    name = next(a for a in assignees if world.user_ids[a] == final)
    in_alpha = name in ("agent_self", "agent_team")
    expected = {
        name: "MINE",
        "agent_all": "Alpha" if in_alpha else "ALL",
        "owner": "Alpha" if in_alpha else "ALL",
        "manager": "Alpha" if in_alpha else "ALL",
    }
    for user, key in expected.items():
        client = world.client(user)
        sidebar = (await client(SIDEBAR))["inboxSidebar"]
        dots = {s["kind"]: s["newMessageCount"] for s in sidebar["standard"]}
        dots |= {t["team"]["name"]: t["newMessageCount"] for t in sidebar["teams"]}
        selector = {"teamId": world.team_ids[key]} if key in world.team_ids else {"standard": key}
        unseen = await client(LIST, {"inbox": selector, "unseen": True})
        assert conversation in [e["node"]["id"] for e in unseen["conversations"]["edges"]], (
            user,
            key,
        )
        if "UNASSIGNED" in dots:  # nothing is left behind
            left = await client(LIST, {"inbox": {"standard": "UNASSIGNED"}, "unseen": True})
            assert conversation not in [e["node"]["id"] for e in left["conversations"]["edges"]]
        await client.aclose()
    await owner.aclose()


async def test_marks_keep_their_conversations_facts_when_writes_race(world):
    """Inbound messages, closes, reassignments and blocks of one contact at the same time: each
    unseen mark ends with its conversation's status and facts (the copies the sidebar counts
    by, kept by triggers; the contact's row lock orders these writes), and every user's dots
    equal their ``unseen`` lists."""
    import asyncio

    from tests.support import receive

    owner = world.client("owner")
    contact = world.contact_ids["c_none"]
    await owner("mutation($c: ID!) { unblockContact(contactId: $c) { id } }", {"c": contact})
    await owner(ASSIGN, {"c": contact, "a": None})
    close = "mutation($c: ID!) { closeConversation(contactId: $c) { id } }"
    block = "mutation($c: ID!) { %s(contactId: $c) { id } }"
    for round_ in range(3):
        await receive(world, "c_none", f"round {round_}")
        await asyncio.gather(
            *(receive(world, "c_none", f"round {round_} message {i}") for i in range(4)),
            owner.execute(close, {"c": contact}),
            owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_team"]}),
            owner.execute(block % "blockContact", {"c": contact}),
            owner.execute(block % "unblockContact", {"c": contact}),
            owner(ASSIGN, {"c": contact, "a": None}),
            receive(world, "c_none", f"round {round_} last"),
        )
        assert_marks_follow_their_conversations(world)
    for user in USERS:
        client = world.client(user)
        sidebar = (await client(SIDEBAR))["inboxSidebar"]
        for kind in sidebar["standard"]:
            unseen = await client(LIST, {"inbox": {"standard": kind["kind"]}, "unseen": True})
            assert kind["newMessageCount"] == len(unseen["conversations"]["edges"]), (user, kind)
        await client.aclose()
    await owner.aclose()

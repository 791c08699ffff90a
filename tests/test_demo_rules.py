"""The demo shows every rule of ``domain.md`` on first start (issue 22, item 1), seen only
through the public API: ``inbox-graph seed-demo`` into a fresh database, ``inbox-graph serve``,
then each printed demo user logs in and looks.

- new-message dots lit for several users and tiers, each equal to its ``unseen`` list, one
  tier per conversation and user, on conversations with inbound messages; ``markInboxSeen``
  clears one user's dot alone;
- custom inboxes private, shared with everyone and with a team, by different creators,
  intersected with the viewer's visibility;
- comments with real mentions (``Activity.mentions``, the markup in the text);
- blocked contacts with conversations and calls, in the blocked inbox only;
- every call outcome, a contact mixing outcomes, nobody on a call, a ringing call in each
  tab's audience (``ASSIGNED_TO_ME`` of ``TEAM`` and ``SELF`` agents too), answered by them;
- number masking on, the owner seeing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import GENEROUS_LIMITS, fresh_database
from tests.support import Client, Served, cli, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTACTS = 300
MASK = "\u2022"


@dataclass
class Demo:
    served: Served
    clients: dict[str, Client] = field(default_factory=dict)
    logins: dict[str, dict[str, str]] = field(default_factory=dict)

    def __getitem__(self, local: str) -> Client:
        return self.clients[local]


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("demo")
    with fresh_database(folder) as url:
        env = {
            "DATABASE_URL": url,
            "BROADCAST_URL": "memory://",
            "TEST_LOG_DIR": str(folder),
            **GENEROUS_LIMITS,
        }
        result = cli(env, "seed-demo", "--contacts", str(CONTACTS))
        rows = [
            line.split() for line in result.stdout.splitlines() if "@demo.inbox-graph.test" in line
        ]
        served = serve(env)
        world = Demo(served)
        try:
            anonymous = Client(served)
            for email, password, role, visibility, *_ in rows:
                data = await anonymous(
                    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                    {"e": email, "p": password},
                )
                local = email.split("@")[0]
                world.clients[local] = Client(served, data["login"]["token"])
                world.logins[local] = {"role": role, "visibility": visibility}
            await anonymous.aclose()
            yield world
        finally:
            for client in world.clients.values():
                await client.aclose()
            served.stop()


async def _all_pages(client: Client, field_name: str, query: str, **variables: Any) -> list[dict]:
    """Every node of a connection ``field_name`` (``query`` takes ``$after``)."""
    nodes, after = [], None
    while True:
        page = (await client(query, {**variables, "after": after}))[field_name]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


SIDEBAR = """{ inboxSidebar {
    standard { kind newMessageCount openConversationCount }
    teams { team { id name } newMessageCount openConversationCount }
    blocked { openConversationCount } } }"""

INBOX_LIST = """query($inbox: InboxSelector!, $unseen: Boolean!, $after: String) {
    conversations(inbox: $inbox, unseen: $unseen, first: 100, after: $after) {
      edges { node { id messages(first: 100) { edges { node { direction } } } } }
      pageInfo { hasNextPage endCursor } } }"""


def _inboxes(sidebar: dict) -> list[tuple[str, dict, dict]]:
    """(tier name, selector, sidebar entry) of every standard and team inbox listed."""
    found = [(s["kind"], {"standard": s["kind"]}, s) for s in sidebar["standard"]]
    found += [
        (f"team:{t['team']['name']}", {"teamId": t["team"]["id"]}, t) for t in sidebar["teams"]
    ]
    return found


async def test_new_message_dots_are_lit_for_several_users_and_tiers(demo: Demo) -> None:
    lit: dict[str, set[str]] = {}
    for local, client in demo.clients.items():
        sidebar = (await client(SIDEBAR))["inboxSidebar"]
        unseen_by_tier: dict[str, set[str]] = {}
        for tier, selector, entry in _inboxes(sidebar):
            unseen = await _all_pages(
                client, "conversations", INBOX_LIST, inbox=selector, unseen=True
            )
            # the dot counts conversations, equal to the list; each has an inbound message
            assert entry["newMessageCount"] == len(unseen), (local, tier)
            for conversation in unseen:
                directions = {e["node"]["direction"] for e in conversation["messages"]["edges"]}
                assert "INBOUND" in directions, (local, tier)
            unseen_by_tier[tier] = {c["id"] for c in unseen}
            if unseen:
                lit.setdefault(local, set()).add(tier.split(":")[0])
            if tier == "MINE" or tier.startswith("team:"):
                listed = await _all_pages(
                    client, "conversations", INBOX_LIST, inbox=selector, unseen=False
                )
                assert entry["openConversationCount"] == len(listed), (local, tier)
        # one tier per conversation: MINE > TEAM > UNASSIGNED > ALL (team inboxes share theirs)
        tiers = ["MINE", "UNASSIGNED", "ALL", "team"]
        teams = set().union(*(v for k, v in unseen_by_tier.items() if k.startswith("team:")))
        groups = {**{t: unseen_by_tier.get(t, set()) for t in tiers[:3]}, "team": teams}
        for i, a in enumerate(tiers):
            for b in tiers[i + 1 :]:
                assert not groups[a] & groups[b], (local, a, b)
    assert len(lit) >= 6, lit
    assert {"MINE", "team", "UNASSIGNED"} <= set().union(*lit.values()), lit
    restricted = {
        local for local, login in demo.logins.items() if login["visibility"] in ("TEAM", "SELF")
    }
    assert lit.keys() & restricted, lit
    assert {demo.logins[local]["role"] for local in lit} >= {"MANAGER", "AGENT"}


async def test_opening_an_inbox_clears_that_users_dot_alone(demo: Demo) -> None:
    owner, manager = demo["owner"], demo["manager"]
    before = (await manager(SIDEBAR))["inboxSidebar"]
    sidebar = (await owner(SIDEBAR))["inboxSidebar"]
    tier, selector, _entry = next(
        (t, s, e) for t, s, e in _inboxes(sidebar) if e["newMessageCount"] > 0
    )
    after = (
        await owner(
            "mutation($i: InboxSelector!) { markInboxSeen(inbox: $i) { standard { kind newMessageCount } teams { team { id } newMessageCount } } }",
            {"i": selector},
        )
    )["markInboxSeen"]
    counts = {s["kind"]: s["newMessageCount"] for s in after["standard"]}
    counts |= {f"team:{t['team']['id']}": t["newMessageCount"] for t in after["teams"]}
    key = selector.get("standard") or f"team:{selector.get('teamId')}"
    assert counts[key] == 0, tier
    assert (await manager(SIDEBAR))["inboxSidebar"] == before


CUSTOM = """{ customInboxes { id name sharing creator { email } sharedWithTeams { name }
    sharedWithUsers { email } canEdit } }"""


async def test_custom_inboxes_private_shared_with_everyone_and_with_a_team(demo: Demo) -> None:
    seen = {local: (await demo[local](CUSTOM))["customInboxes"] for local in demo.clients}
    everything = {c["id"]: c for inboxes in seen.values() for c in inboxes}.values()
    assert {c["sharing"] for c in everything} == {"PRIVATE", "EVERYONE", "CHOSEN"}
    assert len({c["creator"]["email"] for c in everything}) >= 4
    assert any(c["sharedWithTeams"] for c in everything)
    for local, inboxes in seen.items():
        for custom in inboxes:
            mine = custom["creator"]["email"].startswith(f"{local}@")
            assert custom["canEdit"] is mine
            if custom["sharing"] == "PRIVATE":
                assert mine, (local, custom["name"])
    # shared with a team: its members see it, others do not
    team_shared = next(c for c in everything if c["sharedWithTeams"])
    team = team_shared["sharedWithTeams"][0]["name"]
    for local, client in demo.clients.items():
        teams = {t["name"] for t in (await client("{ me { teams { name } } }"))["me"]["teams"]}
        creator = team_shared["creator"]["email"].startswith(f"{local}@")
        shared_users = {u["email"].split("@")[0] for u in team_shared["sharedWithUsers"]}
        visible = team_shared["id"] in {c["id"] for c in seen[local]}
        assert visible == (team in teams or creator or local in shared_users), local
    # results are intersected with the viewer's visibility
    unassigned = next(c for c in everything if c["name"].startswith("Unassigned"))
    query = """query($i: ID!, $after: String) { conversations(inbox: {customInboxId: $i},
        first: 100, after: $after) { edges { node { id contact { assignee { id } } } }
        pageInfo { hasNextPage endCursor } } }"""
    for_owner = await _all_pages(demo["owner"], "conversations", query, i=unassigned["id"])
    assert for_owner and all(c["contact"]["assignee"] is None for c in for_owner)
    assert await _all_pages(demo["agent.team"], "conversations", query, i=unassigned["id"]) == []


async def test_comments_carry_real_mentions(demo: Demo) -> None:
    query = """query($s: ConversationStatus!, $after: String) {
        conversations(inbox: {standard: ALL}, status: $s, first: 50, after: $after) {
          edges { node { contact { activities(first: 50) { edges { node {
            kind text author { id } mentions { id name } } } } } } }
          pageInfo { hasNextPage endCursor } } }"""
    comments = []
    for status in ("OPEN", "CLOSED"):
        for conversation in await _all_pages(demo["owner"], "conversations", query, s=status):
            edges = conversation["contact"]["activities"]["edges"]
            comments += [e["node"] for e in edges if e["node"]["kind"] == "COMMENT"]
    mentioning = [c for c in comments if c["mentions"]]
    assert len(mentioning) >= 3, len(comments)
    for comment in mentioning:
        for user in comment["mentions"]:
            assert f"@[{user['name']}]({user['id']})" in comment["text"]
    assert any(len(c["mentions"]) == 2 for c in mentioning) or len(mentioning) >= 3


CALLS = """query($inbox: InboxSelector, $after: String) { calls(inbox: $inbox, first: 100,
    after: $after) { edges { node { id status fromNumber toNumber answeredBy { email }
    contact { id blocked phone } } } pageInfo { hasNextPage endCursor } } }"""


async def test_blocked_contacts_have_conversations_and_calls(demo: Demo) -> None:
    owner = demo["owner"]
    sidebar = (await owner(SIDEBAR))["inboxSidebar"]
    assert sidebar["blocked"]["openConversationCount"] > 0
    listed = await _all_pages(
        owner,
        "conversations",
        """query($after: String) { conversations(inbox: {blocked: true}, status: CLOSED,
            first: 100, after: $after) { edges { node { id contact { blocked } } }
            pageInfo { hasNextPage endCursor } } }""",
    )
    open_ones = await _all_pages(
        owner,
        "conversations",
        """query($after: String) { conversations(inbox: {blocked: true}, first: 100,
            after: $after) { edges { node { id contact { blocked } } }
            pageInfo { hasNextPage endCursor } } }""",
    )
    assert listed + open_ones and all(c["contact"]["blocked"] for c in listed + open_ones)
    calls = await _all_pages(owner, "calls", CALLS, inbox={"blocked": True})
    assert calls and all(call["contact"]["blocked"] for call in calls)
    # blocked contacts appear in no other inbox, and not to users without the permission
    assert (await demo["agent.team"](SIDEBAR))["inboxSidebar"]["blocked"] is None
    everyone = await _all_pages(owner, "calls", CALLS, inbox={"standard": "ALL"})
    assert not any(call["contact"]["blocked"] for call in everyone)


async def test_every_outcome_and_nobody_on_a_call(demo: Demo) -> None:
    calls = await _all_pages(demo["owner"], "calls", CALLS)
    statuses = {call["status"] for call in calls}
    assert {"ENDED", "MISSED", "DECLINED", "FAILED", "RINGING"} <= statuses
    assert "ONGOING" not in statuses
    outcomes: dict[str, set[str]] = {}
    for call in calls:
        outcomes.setdefault(call["contact"]["id"], set()).add(call["status"])
    assert any({"ENDED", "MISSED", "DECLINED", "FAILED"} <= s for s in outcomes.values())
    assert sum(len(s - {"RINGING"}) > 1 for s in outcomes.values()) >= 2
    assert all(call["answeredBy"] for call in calls if call["status"] == "ENDED")


async def test_number_masking_with_an_owner_who_sees_numbers(demo: Demo) -> None:
    owner_calls = await _all_pages(demo["owner"], "calls", CALLS)
    agent_calls = await _all_pages(demo["agent.all"], "calls", CALLS)
    assert owner_calls and agent_calls
    assert all(MASK not in (call["fromNumber"] + call["toNumber"]) for call in owner_calls)
    assert all(call["contact"]["phone"].startswith("+") for call in owner_calls)
    assert all(MASK in call["contact"]["phone"] for call in agent_calls)
    workspace = await demo["owner"]("{ workspace { phoneNumberMasking } }")
    assert workspace["workspace"]["phoneNumberMasking"] is True


RINGING = """query($tab: IncomingCallTab!) { incomingCalls(tab: $tab) { id status
    contact { id assignee { email } } } }"""


async def test_ringing_calls_reach_each_tab_and_are_answered(demo: Demo) -> None:
    """Run last of the module: it answers the ringing calls."""
    ringing: dict[str, dict[str, list[dict]]] = {}
    for local, client in demo.clients.items():
        me = (await client("{ me { hasCallAccess contactVisibility } }"))["me"]
        if not me["hasCallAccess"]:
            codes = await client.error_codes(RINGING, {"tab": "ALL"})
            assert codes == ["FORBIDDEN"]
            continue
        tabs = (
            ["ASSIGNED_TO_ME"]
            if me["contactVisibility"] == "SELF"
            else ["ALL", "ASSIGNED_TO_ME"]
            if me["contactVisibility"] == "TEAM"
            else ["ALL", "ASSIGNED_TO_ME", "UNASSIGNED"]
        )
        ringing[local] = {
            tab: (await client(RINGING, {"tab": tab}))["incomingCalls"] for tab in tabs
        }
    restricted = [
        local
        for local, login in demo.logins.items()
        if login["visibility"] in ("TEAM", "SELF") and local in ringing
    ]
    assert len(restricted) >= 4
    for local in restricted:  # "Assigned to me" rings for TEAM and SELF agents
        mine = ringing[local]["ASSIGNED_TO_ME"]
        assert mine, local
        assert all(c["contact"]["assignee"]["email"].startswith(f"{local}@") for c in mine)
    assert ringing["owner"]["UNASSIGNED"]
    assert len(ringing["owner"]["ALL"]) >= len(restricted) + 2
    # nobody is on a call: each restricted agent answers their own ring, an unrestricted
    # manager the one of a user without call access, the owner the unassigned one
    answer = "mutation($c: ID!) { answerCall(callId: $c) { status answeredBy { email } contact { assignee { email } } } }"
    end = "mutation($c: ID!) { endCall(callId: $c) { status durationSeconds } }"
    taken: set[str] = set()
    for local in restricted:
        call = ringing[local]["ASSIGNED_TO_ME"][0]
        answered = (await demo[local](answer, {"c": call["id"]}))["answerCall"]
        assert answered["status"] == "ONGOING"
        assert answered["answeredBy"]["email"].startswith(f"{local}@")
        taken.add(call["id"])
    unassigned = ringing["owner"]["UNASSIGNED"][0]
    answered = (await demo["owner"](answer, {"c": unassigned["id"]}))["answerCall"]
    assert answered["contact"]["assignee"]["email"].startswith("owner@")  # automatic assignment
    taken.add(unassigned["id"])
    others = [c for c in ringing["owner"]["ALL"] if c["id"] not in taken]
    assert others
    answered = (await demo["manager"](answer, {"c": others[0]["id"]}))["answerCall"]
    assert answered["status"] == "ONGOING"
    for local, call_id in [("owner", unassigned["id"]), ("manager", others[0]["id"])]:
        ended = (await demo[local](end, {"c": call_id}))["endCall"]
        assert ended["status"] == "ENDED"

"""The visibility matrix (``domain.md`` sections 1-2), checked through HTTP for every role and
contact visibility against a reference model written here from the specification."""

from __future__ import annotations

import pytest

from tests.conftest import CONTACTS, PEOPLE

pytestmark = pytest.mark.asyncio(loop_scope="session")

VIEWERS = ["owner", *PEOPLE]


def teams_of(user: str) -> list[str]:
    return [] if user == "owner" else PEOPLE[user][2]


def visibility_of(user: str) -> str:
    if user == "owner" or PEOPLE[user][0] != "AGENT":
        return "ALL"
    return PEOPLE[user][1]


def members(team: str) -> set[str]:
    return {name for name, spec in PEOPLE.items() if team in spec[2]}


def expected_visible(user: str) -> set[str]:
    """domain.md section 1."""
    visibility = visibility_of(user)
    if visibility == "ALL":
        return set(CONTACTS)
    if visibility == "SELF":
        return {c for c, a in CONTACTS.items() if a == user}
    mates = {user}.union(*(members(t) for t in teams_of(user)))
    return {c for c, a in CONTACTS.items() if a in mates}


def expected_standard(user: str) -> list[str]:
    return ["MINE"] if visibility_of(user) != "ALL" else ["ALL", "MINE", "UNASSIGNED"]


def expected_teams(user: str) -> set[str]:
    role = "OWNER" if user == "owner" else PEOPLE[user][0]
    if role != "AGENT":
        return {"Alpha", "Beta"}
    if visibility_of(user) == "SELF":
        return set()
    return set(teams_of(user))


def expected_in_inbox(user: str, inbox: str) -> set[str]:
    visible = expected_visible(user)
    if inbox == "ALL":
        chosen = set(CONTACTS)
    elif inbox == "MINE":
        chosen = {c for c, a in CONTACTS.items() if a == user}
    elif inbox == "UNASSIGNED":
        chosen = {c for c, a in CONTACTS.items() if a is None}
    else:
        chosen = {c for c, a in CONTACTS.items() if a in members(inbox)}
    return visible & chosen


SIDEBAR = """{ inboxSidebar { standard { kind openConversationCount newMessageCount }
  teams { team { name } openConversationCount } blocked { conversationCount } } }"""

LIST = """query($inbox: InboxSelector!, $after: String) {
  conversations(inbox: $inbox, first: 3, after: $after) {
    edges { cursor node { id contact { id name } } }
    pageInfo { hasNextPage endCursor }
  } }"""


async def list_all(client, inbox: dict) -> list[str]:
    names, after = [], None
    while True:
        data = await client(LIST, {"inbox": inbox, "after": after})
        page = data["conversations"]
        names += [edge["node"]["contact"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("user", VIEWERS)
async def test_sidebar_lists_exactly_the_allowed_inboxes(world, user):
    client = world.client(user)
    sidebar = (await client(SIDEBAR))["inboxSidebar"]
    assert [s["kind"] for s in sidebar["standard"]] == expected_standard(user)
    assert {t["team"]["name"] for t in sidebar["teams"]} == expected_teams(user)
    assert sidebar["blocked"] is None
    for inbox in sidebar["standard"]:
        expected = expected_in_inbox(user, inbox["kind"])
        assert inbox["openConversationCount"] == len(expected), inbox
    for inbox in sidebar["teams"]:
        assert inbox["openConversationCount"] == len(expected_in_inbox(user, inbox["team"]["name"]))
    await client.aclose()


@pytest.mark.parametrize("user", VIEWERS)
async def test_each_inbox_lists_exactly_the_allowed_conversations(world, user):
    client = world.client(user)
    for kind in ("ALL", "MINE", "UNASSIGNED"):
        if kind in expected_standard(user):
            names = await list_all(client, {"standard": kind})
            assert sorted(names) == sorted(expected_in_inbox(user, kind)), kind
            assert len(names) == len(set(names))
        else:
            assert await client.error_codes(LIST, {"inbox": {"standard": kind}}) == ["FORBIDDEN"]
    for team, team_id in world.team_ids.items():
        if team in expected_teams(user):
            names = await list_all(client, {"teamId": team_id})
            assert sorted(names) == sorted(expected_in_inbox(user, team)), team
        else:
            assert await client.error_codes(LIST, {"inbox": {"teamId": team_id}}) == ["FORBIDDEN"]
    await client.aclose()


@pytest.mark.parametrize("user", VIEWERS)
async def test_node_resolves_only_visible_contacts_and_conversations(world, user):
    client = world.client(user)
    visible = expected_visible(user)
    owner = world.client("owner")
    for contact, contact_id in world.contact_ids.items():
        data = await client(
            "query($id: ID!) { node(id: $id) { id ... on Contact { name } } contact(id: $id) { id } }",
            {"id": contact_id},
        )
        if contact in visible:
            assert data["node"] == {"id": contact_id, "name": contact}
            assert data["contact"] == {"id": contact_id}
        else:
            assert data["node"] is None and data["contact"] is None
        conversations = await owner(
            "query($id: ID!) { contact: node(id: $id) { id } all: conversations(inbox: {standard: ALL}, first: 100) { edges { node { id contact { id } lastMessage { id } } } } }",
            {"id": contact_id},
        )
        for edge in conversations["all"]["edges"]:
            if edge["node"]["contact"]["id"] != contact_id:
                continue
            for object_id in (edge["node"]["id"], edge["node"]["lastMessage"]["id"]):
                found = await client("query($id: ID!) { node(id: $id) { id } }", {"id": object_id})
                assert (found["node"] is not None) == (contact in visible), (contact, object_id)
    await owner.aclose()
    await client.aclose()


async def test_a_hidden_contact_is_not_found_for_mutations(world):
    client = world.client("agent_self")
    codes = await client.error_codes(
        "mutation($c: ID!) { assignContact(contactId: $c, assigneeId: null) { id } }",
        {"c": world.contact_ids["c_all"]},
    )
    assert codes == ["NOT_FOUND"]
    unknown = await client.error_codes(
        "mutation($c: ID!) { assignContact(contactId: $c, assigneeId: null) { id } }",
        {"c": world.contact_ids["c_all"][:-2] + "zz"},
    )
    assert unknown in (["NOT_FOUND"], ["BAD_USER_INPUT"])
    await client.aclose()


CONTACTS_LIST = """query($f: ContactFilter, $after: String) {
  contacts(filter: $f, first: 3, after: $after) {
    totalCount edges { node { id name } } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.parametrize("user", VIEWERS)
async def test_contacts_lists_exactly_the_visible_contacts(world, user):
    """``contacts`` (issue 21, item 4) through the policy: every page, its count, and every
    filter: a hidden contact is never found, whatever identifies it."""
    client = world.client(user)
    names, after, total = [], None, None
    while True:
        page = (await client(CONTACTS_LIST, {"after": after}))["contacts"]
        total = page["totalCount"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(names) == sorted(expected_visible(user))
    assert total == len(names)
    for contact, assignee in CONTACTS.items():
        by_handle = {"channelId": world.channel_ids["WEBCHAT"], "handle": f"visitor-{contact}"}
        by_assignee = {"assigneeId": world.user_ids[assignee]} if assignee else {"unassigned": True}
        for where in (by_handle, {**by_assignee, **by_handle}):
            page = (await client(CONTACTS_LIST, {"f": where}))["contacts"]
            found = [edge["node"]["name"] for edge in page["edges"]]
            assert found == ([contact] if contact in expected_visible(user) else []), where
            assert page["totalCount"] == len(found)
    await client.aclose()

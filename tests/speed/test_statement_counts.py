"""No N+1 (issue 7): the number of SQL statements a request runs does not grow with what it
returns. Each main operation runs twice, on a small and on a large page (or a small and a large
result), selecting the relations a frontend shows; the ``X-SQL-Statements`` header of the test
hook (``graph.statement_count``) must be the same both times."""

from __future__ import annotations

import itertools
import uuid

import pytest

from tests.calls.common import RECEIVE_CALL, grant_call_access
from tests.conftest import ASSIGN, OWNER_EMAIL, PASSWORD, RECEIVE, login
from tests.support import Client, GraphQLError, new_number

HEADER = "x-sql-statements"
BIG = 100  # more than the large page size: the large page is full
# every assignee is in a team: whatever two contacts a small request shows, it shows teams too
ASSIGNEES = ("manager", "agent_all", "agent_team", "agent_self", "agent_beta", None)

USER = "id name teams { id name }"
CONTACT = f"id name phone email countryCode assignee {{ {USER} }}"
MESSAGE = "id text direction createdAt channel { id type name } author { id name }"

CONVERSATIONS = f"""
query($inbox: InboxSelector!, $first: Int) {{
  conversations(inbox: $inbox, first: $first) {{
    edges {{ cursor node {{
      id status lastActivityAt
      contact {{ {CONTACT} }}
      lastMessage {{ {MESSAGE} conversation {{ id }} }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

SIDEBAR = f"""{{
  inboxSidebar {{
    standard {{ kind newMessageCount openConversationCount }}
    teams {{ team {{ id name members {{ {USER} }} }} newMessageCount openConversationCount }}
    custom {{ id name creator {{ {USER} }} }}
    blocked {{ openConversationCount }}
  }}
}}"""

TIMELINE = f"""
query($id: ID!, $first: Int) {{
  node(id: $id) {{ ... on Conversation {{
    timeline(first: $first) {{
      edges {{ cursor node {{
        ... on Message {{ {MESSAGE} }}
        ... on Activity {{ id kind text createdAt author {{ {USER} }} assignee {{ {USER} }} }}
      }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }} }}
}}"""

MESSAGES = f"""
query($id: ID!, $first: Int) {{
  node(id: $id) {{ ... on Conversation {{ messages(first: $first) {{ edges {{ node {{ {MESSAGE} }} }} }} }} }}
}}"""

INCOMING = f"""{{
  incomingCalls(tab: ALL) {{
    id status fromNumber toNumber ringingAt answeredBy {{ {USER} }}
    channel {{ id type name }}
    contact {{ {CONTACT} }}
  }}
}}"""

NODE_FIELDS = f"""
  id
  ... on Contact {{ {CONTACT} }}
  ... on Conversation {{ status contact {{ {CONTACT} }} lastMessage {{ {MESSAGE} }} }}
  ... on Message {{ {MESSAGE} conversation {{ id contact {{ {CONTACT} }} }} }}
  ... on Call {{ ringingAt fromNumber channel {{ id name }} contact {{ {CONTACT} }} }}
  ... on Activity {{ kind author {{ {USER} }} }}
"""


async def statements(client: Client, query: str, variables: dict | None = None) -> tuple[int, dict]:
    """The statement count of one request, and its ``data``. The client's token is used twice
    before (a worker caches a token's viewer from its second use: ``graph.auth.ViewerCache``),
    so that the count is the operation's own, whatever ran before it."""
    for _ in range(2):
        await client.raw("{ __typename }")
    response = await client.raw(query, variables)
    body = response.json()
    if body.get("errors"):
        raise GraphQLError(body["errors"])
    return int(response.headers[HEADER]), body["data"]


@pytest.fixture(scope="module")
async def small_sidebar(world) -> int:
    """The manager's sidebar statement count on the module's small world (a handful of
    conversations), before ``busy`` grows it."""
    client = world.client("manager")
    count, data = await statements(client, SIDEBAR)
    await client.aclose()
    assert {s["kind"]: s["openConversationCount"] for s in data["inboxSidebar"]["standard"]}[
        "ALL"
    ] < 10
    return count


@pytest.fixture(scope="module")
async def busy(world, small_sidebar):
    """The world with more than ``BIG`` open conversations of contacts assigned round-robin
    (unassigned ones too), one conversation with more than ``BIG`` timeline items (messages
    both ways from several agents, assignment activities), and ringing calls."""
    await grant_call_access(world)
    owner, integration = world.client("owner"), world.client("integration")
    await owner(
        "mutation { updateWorkspaceSettings(input: {callRingTimeoutSeconds: 600}) { callRingTimeoutSeconds } }"
    )
    channels = itertools.cycle(world.channel_ids[t] for t in ("WEBCHAT", "WHATSAPP", "EMAIL"))
    assignees = itertools.cycle(ASSIGNEES)
    for i in range(BIG + 5):
        channel = next(channels)
        sender = {
            world.channel_ids["WEBCHAT"]: f"speed-visitor-{i}",
            world.channel_ids["WHATSAPP"]: new_number(),
            world.channel_ids["EMAIL"]: f"speed-{i}@example.com",
        }[channel]
        data = await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": channel,
                    "from": sender,
                    "externalMessageId": f"speed-{i}",
                    "text": f"Hello {i}",
                    "firstName": f"Speed {i}",
                }
            },
        )
        assignee = next(assignees)
        if assignee is not None:
            await owner(
                ASSIGN,
                {"c": data["receiveMessage"]["contact"]["id"], "a": world.user_ids[assignee]},
            )

    data = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": "speed-chatty",
                "externalMessageId": "chatty-0",
                "text": "Hi",
                "firstName": "Chatty",
            }
        },
    )
    chatty = data["receiveMessage"]["contact"]["id"]
    world.speed_conversation = data["receiveMessage"]["conversation"]["id"]
    # the manager (in a team) answers first: the first page of the timeline shows every relation
    repliers = ["manager", "owner", "agent_all", "agent_free"]
    for i in range(BIG // 2 + 5):
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": "speed-chatty",
                    "externalMessageId": f"chatty-{i + 1}",
                    "text": f"Question {i}",
                }
            },
        )
        who = repliers[i % len(repliers)]
        if i % 4 == 3:
            await owner(
                ASSIGN, {"c": chatty, "a": world.user_ids[repliers[(i // 4) % len(repliers)]]}
            )
        else:
            replier = world.client(who)
            await replier(
                "mutation($c: ID!, $t: String!) { sendMessage(input: {contactId: $c, text: $t}) { message { id } } }",
                {"c": chatty, "t": f"Answer {i}"},
            )
            await replier.aclose()
    await owner.aclose()
    await integration.aclose()
    return world


async def ring_calls(world, count: int) -> None:
    """``count`` inbound calls, ringing, their contacts assigned in turn. They ring for the
    longest timeout there is (600 s): a ring-timeout sweep moving one to MISSED between two
    requests whose answers a test compares would make them differ."""
    integration = world.client("integration")
    assignees = itertools.cycle(ASSIGNEES)
    owner = world.client("owner")
    await owner(
        "mutation { updateWorkspaceSettings(input: {callRingTimeoutSeconds: 600}) "
        "{ callRingTimeoutSeconds } }"
    )
    for _ in range(count):
        data = await integration(
            RECEIVE_CALL,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": new_number(),
                    "externalCallId": f"speed.{new_number()}",
                }
            },
        )
        assignee = next(assignees)
        if assignee is not None:
            await owner(
                ASSIGN, {"c": data["receiveCall"]["contact"]["id"], "a": world.user_ids[assignee]}
            )
    await integration.aclose()
    await owner.aclose()


async def _fresh_token(world, who: str) -> str:
    """A token of ``who`` that no worker has seen yet."""
    if who == "integration":
        data = await world.client("owner")(
            'mutation { createAccessToken(name: "fresh") { token } }'
        )
        return data["createAccessToken"]["token"]
    email = (
        f"{who}@{world.domain}"
        if who != "owner"
        else OWNER_EMAIL.replace("acme.test", world.domain)
    )
    return await login(world.served, email, PASSWORD)


@pytest.mark.parametrize("who", ["owner", "manager", "agent_team", "agent_self", "integration"])
async def test_authentication_is_one_statement_then_none(world, who):
    """Issue 23: the token, its user and the workspace's teams come back in one round trip
    (they took three); a request that reads nothing else runs that one statement. From its
    second use on, a worker answers the token from its viewer cache: no statement at all
    (``graph.auth.ViewerCache``)."""
    client = Client(world.served, await _fresh_token(world, who))
    counts = []
    for _ in range(4):
        response = await client.raw("{ __typename }")
        assert response.json()["data"] == {"__typename": "Query"}
        counts.append(int(response.headers[HEADER]))
    me = await client("{ me { id } }") if who != "integration" else None
    await client.aclose()
    assert me is None or me["me"]["id"] == world.user_ids[who]
    assert counts == [1, 1, 0, 0], f"authenticating {who} ran {counts} statements"


async def test_sidebar_statements_do_not_grow_with_the_workspace(small_sidebar, busy):
    before = small_sidebar
    client = busy.client("manager")
    after, large = await statements(client, SIDEBAR)
    await client.aclose()
    counts = {s["kind"]: s["openConversationCount"] for s in large["inboxSidebar"]["standard"]}
    assert counts["ALL"] > BIG and len(large["inboxSidebar"]["teams"]) == 2
    assert after == before, f"{before} statements on the small workspace, {after} on the large one"


@pytest.mark.parametrize(
    "who, inbox",
    [
        ("owner", {"standard": "ALL"}),
        ("owner", {"standard": "UNASSIGNED"}),
        ("agent_team", {"standard": "MINE"}),
        ("manager", {"teamId": "Alpha"}),
    ],
)
async def test_conversation_list_statements_do_not_grow_with_the_page(busy, who, inbox):
    if "teamId" in inbox:
        inbox = {"teamId": busy.team_ids[inbox["teamId"]]}
    client = busy.client(who)
    small, small_data = await statements(client, CONVERSATIONS, {"inbox": inbox, "first": 5})
    large, large_data = await statements(client, CONVERSATIONS, {"inbox": inbox, "first": 100})
    await client.aclose()
    sizes = len(small_data["conversations"]["edges"]), len(large_data["conversations"]["edges"])
    assert sizes[0] <= 5 and sizes[1] > sizes[0], sizes
    assert large == small, (
        f"first: 5 ran {small} statements, first: 100 ({sizes[1]} rows) ran {large}"
    )


async def test_a_list_reads_the_authors_it_shows_with_its_page(busy):
    """A list showing its last messages' authors reads them with the page
    (``graph.schema.lean.unread_users``: one not showing them does not join them): the same
    statements as without them. The contacts' assignees are left out, which would bring the
    authors among them."""
    shown = CONVERSATIONS.replace(f"contact {{ {CONTACT} }}", "contact { id name }")
    hidden = shown.replace(" author { id name }", "")
    assert "assignee" not in shown and "author" in shown and "author" not in hidden
    client = busy.client("manager")
    variables = {"inbox": {"standard": "ALL"}, "first": 100}
    with_authors, data = await statements(client, shown, variables)
    without, _ = await statements(client, hidden, variables)
    await client.aclose()
    authors = {
        e["node"]["lastMessage"]["author"]["id"]
        for e in data["conversations"]["edges"]
        if e["node"]["lastMessage"]["author"]
    }
    assert authors - {busy.user_ids["manager"]}  # shown, and not the viewer
    assert with_authors == without, f"with the authors {with_authors}, without them {without}"


async def test_the_full_inbox_list_really_shows_a_hundred_conversations(busy):
    client = busy.client("owner")
    _, data = await statements(client, CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": 100})
    await client.aclose()
    edges = data["conversations"]["edges"]
    assert len(edges) == 100 and data["conversations"]["pageInfo"]["hasNextPage"]
    assignees = {
        e["node"]["contact"]["assignee"]["id"] for e in edges if e["node"]["contact"]["assignee"]
    }
    channels = {e["node"]["lastMessage"]["channel"]["type"] for e in edges}
    assert len(assignees) >= 5 and len(channels) == 3


async def test_timeline_statements_do_not_grow_with_the_page(busy):
    client = busy.client("owner")
    variables = {"id": busy.speed_conversation}
    small, _ = await statements(client, TIMELINE, {**variables, "first": 5})
    large, data = await statements(client, TIMELINE, {**variables, "first": 100})
    small_messages, _ = await statements(client, MESSAGES, {**variables, "first": 5})
    large_messages, messages = await statements(client, MESSAGES, {**variables, "first": 100})
    await client.aclose()
    assert len(messages["node"]["messages"]["edges"]) > 50
    assert large_messages == small_messages, f"messages: {small_messages} then {large_messages}"
    edges = data["node"]["timeline"]["edges"]
    kinds = {("Message" if "direction" in e["node"] else "Activity") for e in edges}
    authors = {e["node"]["author"]["id"] for e in edges if e["node"].get("author")}
    assert len(edges) == 100 and kinds == {"Message", "Activity"} and len(authors) >= 3
    assert large == small, f"first: 5 ran {small} statements, first: 100 ran {large}"


THREADS = """
query($first: Int) {
  conversations(inbox: {standard: ALL}, first: $first) {
    edges { node {
      id
      messages(first: 3) { edges { cursor node { id text } } pageInfo { hasNextPage endCursor } }
      timeline(first: 4) {
        edges { cursor node { __typename ... on Message { id } ... on Activity { id kind } } }
        pageInfo { hasNextPage endCursor }
      }
    } }
  }
}"""

ONE_THREAD = """
query($id: ID!, $after: String, $afterMessage: String) {
  node(id: $id) { ... on Conversation {
    messages(first: 3, after: $afterMessage) { edges { cursor node { id text } } pageInfo { hasNextPage endCursor } }
    timeline(first: 4, after: $after) {
      edges { cursor node { __typename ... on Message { id } ... on Activity { id kind } } }
      pageInfo { hasNextPage endCursor }
    }
  } }
}"""


async def test_each_conversations_messages_and_timeline_in_a_list_do_not_grow_with_the_page(busy):
    client = busy.client("owner")
    small, _small_data = await statements(client, THREADS, {"first": 5})
    large, large_data = await statements(client, THREADS, {"first": 100})
    nodes = [e["node"] for e in large_data["conversations"]["edges"]]
    # each conversation's pages, read in the list, are what reading it alone gives
    alone = []
    for node in nodes[:8] + nodes[-4:]:
        _, data = await statements(client, ONE_THREAD, {"id": node["id"]})
        alone.append(data["node"])
    await client.aclose()
    assert len(nodes) == 100
    assert large == small, f"first: 5 ran {small} statements, first: 100 ran {large}"
    assert [
        {"messages": n["messages"], "timeline": n["timeline"]} for n in nodes[:8] + nodes[-4:]
    ] == alone
    assert all(n["messages"]["edges"] for n in nodes)
    assert any(e["node"]["__typename"] == "Activity" for n in nodes for e in n["timeline"]["edges"])


async def test_a_timeline_read_in_small_pages_is_the_timeline_read_at_once(busy):
    client = busy.client("owner")
    _, whole = await statements(client, TIMELINE, {"id": busy.speed_conversation, "first": 100})
    wanted = [e["node"]["id"] for e in whole["node"]["timeline"]["edges"]]
    walked, after = [], None
    while len(walked) < len(wanted):
        _, data = await statements(
            client, ONE_THREAD, {"id": busy.speed_conversation, "after": after}
        )
        page = data["node"]["timeline"]
        walked += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    await client.aclose()
    assert walked[: len(wanted)] == wanted


CUSTOM_INBOXES = f"""{{
  inboxSidebar {{ custom {{ id name sharing creator {{ {USER} }} sharedWithUsers {{ {USER} }} sharedWithTeams {{ id name }} }} }}
}}"""
CREATE_CUSTOM = "mutation($i: CustomInboxInput!) { createCustomInbox(input: $i) { id } }"


async def test_custom_inbox_statements_do_not_grow_with_their_number(world):
    manager = world.client("manager")

    async def create(count: int, start: int) -> None:
        for i in range(start, start + count):
            await manager(
                CREATE_CUSTOM,
                {
                    "i": {
                        "name": f"Shared {i}",
                        "filter": {"status": ["OPEN"]},
                        "sharing": "CHOSEN",
                        "sharedWithUserIds": [
                            world.user_ids["agent_all"],
                            world.user_ids[("agent_team", "agent_self")[i % 2]],
                        ],
                        "sharedWithTeamIds": [world.team_ids["Beta"]],
                    }
                },
            )

    await create(2, 0)
    small, small_data = await statements(manager, CUSTOM_INBOXES)
    await create(12, 2)
    large, large_data = await statements(manager, CUSTOM_INBOXES)
    await manager.aclose()
    shared = [c for c in large_data["inboxSidebar"]["custom"] if c["name"].startswith("Shared ")]
    assert len(shared) == 14
    assert all(
        len(c["sharedWithUsers"]) == 2 and [t["name"] for t in c["sharedWithTeams"]] == ["Beta"]
        for c in shared
    )
    assert large == small, (
        f"{small} statements for {len(small_data['inboxSidebar']['custom'])} inboxes, {large} for 14 more"
    )


async def test_incoming_calls_statements_do_not_grow_with_the_list(busy):
    await ring_calls(busy, 2)
    client = busy.client("owner")
    small, small_data = await statements(client, INCOMING)
    await ring_calls(busy, 30)
    large, large_data = await statements(client, INCOMING)
    await client.aclose()
    assert len(large_data["incomingCalls"]) >= len(small_data["incomingCalls"]) + 30
    assert large == small, (
        f"{small} statements for {len(small_data['incomingCalls'])} calls, {large} for more"
    )


async def node_ids(world) -> dict[str, list[str]]:
    """Twelve ids of each type a frontend opens with ``node(id)``: conversations, contacts and
    messages of the contacts who wrote once, the busy conversation's activities, calls."""
    await ring_calls(world, 12)
    client = world.client("owner")
    _, data = await statements(client, CONVERSATIONS, {"inbox": {"standard": "ALL"}, "first": 40})
    _, timeline = await statements(client, TIMELINE, {"id": world.speed_conversation, "first": 100})
    _, calls = await statements(client, INCOMING)
    await client.aclose()
    edges = [
        e["node"]
        for e in data["conversations"]["edges"]
        if e["node"]["id"] != world.speed_conversation
    ]
    return {
        "Conversation": [e["id"] for e in edges[:12]],
        "Contact": [e["contact"]["id"] for e in edges[12:24]],
        "Message": [e["lastMessage"]["id"] for e in edges[24:36]],
        "Activity": [
            e["node"]["id"] for e in timeline["node"]["timeline"]["edges"] if "kind" in e["node"]
        ][:12],
        "Call": [c["id"] for c in calls["incomingCalls"]][-12:],
    }


def nodes_query(ids: list[str]) -> str:
    return (
        "query {"
        + " ".join(
            f'n{i}: node(id: "{node_id}") {{ {NODE_FIELDS} }}' for i, node_id in enumerate(ids)
        )
        + "}"
    )


async def test_node_statements_do_not_grow_with_the_number_of_ids(busy):
    ids = await node_ids(busy)
    client = busy.client("owner")
    for type_name, chosen in ids.items():
        assert len(chosen) == 12, type_name
        # 8 nodes of NODE_FIELDS select 800 fields: under the 1,000 a document may select
        chosen = chosen[:8]
        small, _ = await statements(client, nodes_query(chosen[:2]))
        large, found = await statements(client, nodes_query(chosen))
        assert all(found[f"n{i}"] is not None for i in range(len(chosen))), type_name
        assert large == small, f"2 {type_name} nodes ran {small} statements, 8 ran {large}"
    await client.aclose()


PAGE = """
query($inbox: InboxSelector!, $first: Int, $after: String) {
  conversations(inbox: $inbox, first: $first, after: $after) {
    edges { cursor node { id lastActivityAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_small_pages_walk_an_inbox_exactly_like_large_ones(busy):
    """Keyset pagination (issue 7): following ``endCursor`` seven at a time visits every
    conversation once, in the order the large pages give, newest activity first."""
    client = busy.client("owner")

    async def walk(size: int) -> list[str]:
        seen, after = [], None
        while True:
            page = (
                await client(PAGE, {"inbox": {"standard": "ALL"}, "first": size, "after": after})
            )["conversations"]
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]

    small, large = await walk(7), await walk(100)
    first_page = (await client(PAGE, {"inbox": {"standard": "ALL"}, "first": 100}))[
        "conversations"
    ]["edges"]
    await client.aclose()
    times = [e["node"]["lastActivityAt"] for e in first_page]
    assert len(large) > BIG and len(set(large)) == len(large)
    assert small == large
    assert times == sorted(times, reverse=True)


CALL_LOG = f"""
query($first: Int) {{
  calls(first: $first) {{
    edges {{ cursor node {{
      id status direction ringingAt durationSeconds answeredBy {{ {USER} }}
      channel {{ id type name }}
      contact {{ {CONTACT} callActivities(first: 3) {{ edges {{ node {{ id status durationSeconds }} }} }} }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


async def test_call_log_statements_do_not_grow_with_the_page(busy):
    """The call log, with each call's contact and that contact's own latest calls."""
    await ring_calls(busy, 40)
    client = busy.client("owner")
    small, small_data = await statements(client, CALL_LOG, {"first": 5})
    large, large_data = await statements(client, CALL_LOG, {"first": 40})
    await client.aclose()
    assert len(small_data["calls"]["edges"]) == 5 and len(large_data["calls"]["edges"]) == 40
    assert all(
        e["node"]["contact"]["callActivities"]["edges"] for e in large_data["calls"]["edges"]
    )
    assert large == small, f"first: 5 ran {small} statements, first: 40 ran {large}"


PANEL_FIELDS = """
  id name
  channels { channel { id type } hasIdentity handle handles }
  mergeSuggestions { id name }
  activities(first: 2) {
    edges { cursor node { id kind text author { id name } } }
    pageInfo { hasNextPage endCursor }
  }
  conversations(first: 2) {
    edges { cursor node { id status } }
    pageInfo { hasNextPage endCursor }
  }
"""

PANEL_LIST = f"""
query($inbox: InboxSelector!, $first: Int) {{
  conversations(inbox: $inbox, first: $first) {{ edges {{ node {{ id contact {{ {PANEL_FIELDS} }} }} }} }}
}}"""

PANEL_OF = f"""query($id: ID!) {{ contact(id: $id) {{ {PANEL_FIELDS} }} }}"""

UPDATE_CONTACT = "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }"
COMMENT = "mutation($c: ID!, $t: String!) { addComment(contactId: $c, text: $t) { id } }"


async def panel_pairs(world) -> dict[str, str]:
    """Four new contacts, the newest conversations of the workspace, in two pairs a merge
    would join: ``phone_a`` (WhatsApp) and ``phone_b`` (e-mail, then given the same number),
    ``mail_a`` (webchat, then given the e-mail in capitals) and ``mail_b`` (e-mail). Each has
    two comments; ``phone_b`` is assigned outside the Alpha team, the others to ``agent_team``."""
    owner, integration = world.client("owner"), world.client("integration")
    number, local = new_number(), f"panel.{uuid.uuid4().hex[:8]}"
    senders = {
        "phone_a": ("WHATSAPP", number),
        "phone_b": ("EMAIL", f"{local}.b@example.com"),
        "mail_a": ("WEBCHAT", f"panel-visitor-{local}"),
        "mail_b": ("EMAIL", f"{local}@example.com"),
    }
    assignees = {
        "phone_a": "agent_team",
        "phone_b": "agent_beta",
        "mail_a": "agent_team",
        "mail_b": "agent_team",
    }
    ids = {}
    for key, (channel, sender) in senders.items():
        data = await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids[channel],
                    "from": sender,
                    "externalMessageId": f"panel-{local}-{key}",
                    "text": "Hello",
                    "firstName": f"Panel {key}",
                }
            },
        )
        ids[key] = data["receiveMessage"]["contact"]["id"]
        await owner(ASSIGN, {"c": ids[key], "a": world.user_ids[assignees[key]]})
    await owner(UPDATE_CONTACT, {"i": {"contactId": ids["phone_b"], "phone": number}})
    await owner(
        UPDATE_CONTACT, {"i": {"contactId": ids["mail_a"], "email": f"{local.upper()}@EXAMPLE.COM"}}
    )
    for key, contact_id in ids.items():
        for n in range(2):
            await owner(COMMENT, {"c": contact_id, "t": f"Note {n} on {key}"})
    for key, (channel, sender) in senders.items():  # newest activity: the first page holds all four
        await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids[channel],
                    "from": sender,
                    "externalMessageId": f"panel-{local}-{key}-2",
                    "text": "Again",
                }
            },
        )
    await owner.aclose()
    await integration.aclose()
    return ids


@pytest.mark.parametrize(
    "who, inbox", [("owner", {"standard": "ALL"}), ("agent_team", {"standard": "MINE"})]
)
async def test_contact_panel_fields_of_a_list_do_not_grow_with_the_page(busy, who, inbox):
    """Every contact of a list with its panel (channels, merge suggestions, activities,
    conversations): one batch per field, and each contact's answer as its own panel gives it."""
    if not hasattr(busy, "panel_pairs"):
        busy.panel_pairs = await panel_pairs(busy)
    ids = busy.panel_pairs
    client = busy.client(who)
    small, small_data = await statements(client, PANEL_LIST, {"inbox": inbox, "first": 5})
    large, large_data = await statements(client, PANEL_LIST, {"inbox": inbox, "first": 100})
    contacts = [e["node"]["contact"] for e in large_data["conversations"]["edges"]]
    alone = [(await client(PANEL_OF, {"id": c["id"]}))["contact"] for c in contacts[:12]]
    await client.aclose()
    small_contacts = [e["node"]["contact"] for e in small_data["conversations"]["edges"]]
    assert len(small_contacts) == 5 and len(contacts) > 15, (len(small_contacts), len(contacts))
    assert large == small, (
        f"first: 5 ran {small} statements, first: 100 ({len(contacts)} rows) ran {large}"
    )

    # the batched answers are each contact's own
    assert small_contacts == contacts[:5]
    assert contacts[:12] == alone
    by_id = {c["id"]: c for c in contacts}
    names = {key: f"Panel {key}" for key in ids}
    suggestions = {
        key: [s["name"] for s in by_id[ids[key]]["mergeSuggestions"]]
        for key in ids
        if ids[key] in by_id
    }
    if who == "owner":
        assert suggestions == {
            "phone_a": [names["phone_b"]],
            "phone_b": [names["phone_a"]],
            "mail_a": [names["mail_b"]],
            "mail_b": [names["mail_a"]],
        }
    else:  # phone_b is assigned outside agent_team's team: neither listed nor suggested
        assert suggestions == {
            "phone_a": [],
            "mail_a": [names["mail_b"]],
            "mail_b": [names["mail_a"]],
        }
    phone_a = by_id[ids["phone_a"]]
    on = {c["channel"]["type"]: c for c in phone_a["channels"]}
    assert (
        on["WHATSAPP"]["hasIdentity"]
        and on["WHATSAPP"]["handle"]
        and len(on["WHATSAPP"]["handles"]) == 1
    )
    assert not on["EMAIL"]["hasIdentity"] and on["EMAIL"]["handles"] == []
    assert {c["channel"]["type"] for c in phone_a["channels"]} >= {"WHATSAPP", "EMAIL", "WEBCHAT"}
    activities = phone_a["activities"]
    assert [e["node"]["text"] for e in activities["edges"]] == [
        "Note 1 on phone_a",
        "Note 0 on phone_a",
    ]
    assert activities["pageInfo"]["hasNextPage"]  # the assignment came before
    assert {e["node"]["author"]["id"] for e in activities["edges"]} == {busy.user_ids["owner"]}
    assert all(len(c["activities"]["edges"]) == 2 for c in contacts if c["id"] in ids.values())
    assert all(len(c["channels"]) == len(contacts[0]["channels"]) for c in contacts)
    assert all(sum(ch["hasIdentity"] for ch in c["channels"]) == 1 for c in contacts)
    for contact in contacts:
        conversations = contact["conversations"]["edges"]
        assert [e["node"]["status"] for e in conversations] == ["OPEN"], contact["name"]


BOTH_WAYS = f"""
query($inbox: InboxSelector!, $first: Int, $after: String, $last: Int, $before: String) {{
  conversations(inbox: $inbox, first: $first, after: $after, last: $last, before: $before) {{
    edges {{ cursor node {{
      id status lastActivityAt
      contact {{ {CONTACT} }}
      lastMessage {{ {MESSAGE} conversation {{ id }} }}
      messages(last: 3) {{ nodes {{ id }} }}
    }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""

TIMELINE_BACKWARDS = f"""
query($id: ID!, $last: Int, $before: String) {{
  node(id: $id) {{ ... on Conversation {{
    timeline(last: $last, before: $before) {{
      edges {{ cursor node {{
        ... on Message {{ {MESSAGE} }}
        ... on Activity {{ id kind text createdAt author {{ {USER} }} assignee {{ {USER} }} }}
      }} }}
      pageInfo {{ hasPreviousPage startCursor }}
    }}
  }} }}
}}"""


async def test_backward_pages_run_the_statements_of_forward_pages(busy):
    """``last``/``before`` is the same keyset read in reverse: as many statements as
    ``first``/``after``, whatever the page size."""
    client = busy.client("owner")
    inbox = {"standard": "ALL"}
    forward, data = await statements(client, BOTH_WAYS, {"inbox": inbox, "first": 100})
    middle = data["conversations"]["edges"][60]["cursor"]
    small, small_data = await statements(
        client, BOTH_WAYS, {"inbox": inbox, "last": 5, "before": middle}
    )
    large, large_data = await statements(client, BOTH_WAYS, {"inbox": inbox, "last": 100})
    variables = {"id": busy.speed_conversation}
    timeline_forward, _ = await statements(client, TIMELINE, {**variables, "first": 100})
    timeline_small, _ = await statements(client, TIMELINE_BACKWARDS, {**variables, "last": 5})
    timeline_large, timeline = await statements(
        client, TIMELINE_BACKWARDS, {**variables, "last": 100}
    )
    await client.aclose()
    edges = data["conversations"]["edges"]
    assert [e["cursor"] for e in small_data["conversations"]["edges"]] == [
        e["cursor"] for e in edges[55:60]
    ]
    assert len(large_data["conversations"]["edges"]) == 100
    assert small == large == forward, f"first: 100 {forward}, last: 5 {small}, last: 100 {large}"
    assert len(timeline["node"]["timeline"]["edges"]) == 100
    # the last five items may name no user (inbound messages): one statement fewer, never more
    assert timeline_small <= timeline_large == timeline_forward, (
        f"first: 100 {timeline_forward}, last: 5 {timeline_small}, last: 100 {timeline_large}"
    )


SEARCH_CONTACTS = f"""
query($q: String!, $first: Int) {{
  searchContacts(query: $q, first: $first) {{
    edges {{ cursor node {{ {CONTACT} }} highlights {{ field text matches {{ start length }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

SEARCH_MESSAGES = f"""
query($q: String!, $first: Int) {{
  searchMessages(query: $q, first: $first) {{
    edges {{ cursor node {{ {MESSAGE} conversation {{ id status contact {{ {CONTACT} }} }} }}
             highlights {{ field text matches {{ start length }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

CONTACTS = f"""
query($first: Int, $f: ContactFilter) {{
  contacts(first: $first, filter: $f) {{
    totalCount
    edges {{ cursor node {{
      {CONTACT} blocked erasedAt
      channels {{ channel {{ id type }} handle }}
      conversations(first: 1) {{ nodes {{ id status }} }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


@pytest.mark.parametrize("who", ["owner", "agent_team"])
async def test_search_statements_do_not_grow_with_the_page(busy, who):
    """Search (issue 21, item 1): a page of 100 contacts or messages, with their assignees,
    channels, authors and conversations, runs the statements of a page of 5."""
    client = busy.client(who)
    counts = {}
    for name, query, text, field in (
        ("contacts", SEARCH_CONTACTS, "speed", "searchContacts"),
        ("messages", SEARCH_MESSAGES, "hello", "searchMessages"),
    ):
        small, small_data = await statements(client, query, {"q": text, "first": 5})
        large, large_data = await statements(client, query, {"q": text, "first": 100})
        sizes = len(small_data[field]["edges"]), len(large_data[field]["edges"])
        assert sizes[0] == 5 and sizes[1] > 5, (name, sizes)
        if who == "owner":
            assert sizes[1] == 100, (name, sizes)
        counts[name] = (small, large)
    await client.aclose()
    assert all(small == large for small, large in counts.values()), counts


@pytest.mark.parametrize(
    "who, where", [("owner", None), ("agent_team", None), ("owner", {"unassigned": True})]
)
async def test_contacts_list_statements_do_not_grow_with_the_page(busy, who, where):
    """``contacts`` (issue 21, item 4) with what a partner's sync or a contacts page shows."""
    client = busy.client(who)
    small, small_data = await statements(client, CONTACTS, {"first": 5, "f": where})
    large, large_data = await statements(client, CONTACTS, {"first": 100, "f": where})
    await client.aclose()
    sizes = len(small_data["contacts"]["edges"]), len(large_data["contacts"]["edges"])
    assert sizes[0] <= 5 and sizes[1] > sizes[0], sizes
    assert large == small, (
        f"first: 5 ran {small} statements, first: 100 ({sizes[1]} rows) ran {large}"
    )

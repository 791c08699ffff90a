"""Safe retries of creating mutations (issue 16, part 5; ``graph.idempotency``): a request
repeated with the same ``idempotencyKey`` gets the first result and writes nothing twice, on
any worker; a key reused otherwise is refused and writes nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.calls.common import END, grant_call_access
from tests.conftest import ASSIGN, RECEIVE
from tests.support import Client, new_number, receive, serve, sql, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

SEND = """mutation($i: SendMessageInput!, $k: String) {
  sendMessage(input: $i, idempotencyKey: $k) { message { id text } conversation { id } contact { id } } }"""
COMMENT = """mutation($c: ID!, $t: String!, $k: String) {
  addComment(contactId: $c, text: $t, idempotencyKey: $k) { id text } }"""
MESSAGES = """query($id: ID!) { node(id: $id) { ... on Conversation {
  messages(first: 100) { edges { node { id } } } } } }"""
ACTIVITIES = (
    "query($id: ID!) { contact(id: $id) { activities(first: 100) { edges { node { id } } } } }"
)
NEW_MESSAGE = "subscription { newMessage { sequence message { id text } } }"
TOKEN = """mutation($n: String!, $k: String) {
  createAccessToken(name: $n, idempotencyKey: $k) { token accessToken { id name } } }"""


def key_rows(database_url: str, key: str) -> int:
    return sql(database_url, f"SELECT COUNT(*) FROM idempotency_key WHERE key = '{key}'")


async def new_contact(world, *, assignee: str | None = None) -> dict:
    """A new webchat contact with an open conversation (assigned to ``assignee``)."""
    received = await receive(world, f"retry-{uuid.uuid4().hex[:8]}", "Hello?")
    if assignee is not None:
        owner = world.client("owner")
        await owner(ASSIGN, {"c": received["contact"]["id"], "a": world.user_ids[assignee]})
        await owner.aclose()
    return received


async def message_ids(client: Client, conversation_id: str) -> set[str]:
    data = await client(MESSAGES, {"id": conversation_id})
    ids = [e["node"]["id"] for e in data["node"]["messages"]["edges"]]
    assert len(set(ids)) == len(ids)
    return set(ids)


def error_of(body: dict) -> dict:
    assert body.get("errors") and body.get("data") is None, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


async def test_a_retried_send_message_writes_one_message_and_one_event(world):
    received = await new_contact(world, assignee="agent_all")
    conversation = received["conversation"]["id"]
    agent = world.client("agent_all")
    live = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    before = await message_ids(agent, conversation)
    variables = {"i": {"contactId": received["contact"]["id"], "text": "On my way"}, "k": "reply-1"}
    first = (await agent(SEND, variables))["sendMessage"]
    again = (await agent(SEND, variables))["sendMessage"]
    assert again == first
    assert await message_ids(agent, conversation) == {*before, first["message"]["id"]}
    event = (await live.next())["data"]["newMessage"]
    assert event["message"] == first["message"]
    await live.nothing(within=1.0)
    await live.close()
    await agent.aclose()


async def test_a_key_reused_with_other_arguments_or_on_another_mutation_conflicts(world):
    received = await new_contact(world, assignee="agent_all")
    contact, conversation = received["contact"]["id"], received["conversation"]["id"]
    agent = world.client("agent_all")
    key = f"reply-{uuid.uuid4()}"
    await agent(SEND, {"i": {"contactId": contact, "text": "First"}, "k": key})
    messages = await message_ids(agent, conversation)
    activities = (await agent(ACTIVITIES, {"id": contact}))["contact"]["activities"]["edges"]
    for query, variables in (
        (SEND, {"i": {"contactId": contact, "text": "Second"}, "k": key}),
        (
            SEND,
            {
                "i": {
                    "contactId": contact,
                    "text": "First",
                    "channelId": world.channel_ids["WEBCHAT"],
                },
                "k": key,
            },
        ),
        (COMMENT, {"c": contact, "t": "First", "k": key}),
    ):
        error = error_of(await agent.execute(query, variables))
        assert error["extensions"] == {
            "code": "CONFLICT",
            "field": "idempotencyKey",
            "inputPath": ["idempotencyKey"],
        }, error
    assert await message_ids(agent, conversation) == messages
    assert (await agent(ACTIVITIES, {"id": contact}))["contact"]["activities"][
        "edges"
    ] == activities
    await agent.aclose()


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "bell\x07", "line\nbreak", "tab\tbed", "del\x7f", "c1\x85"],
    ids=["empty", "blank", "256 characters", "BEL", "newline", "tab", "DEL", "C1 control"],
)
async def test_a_malformed_key_is_bad_user_input_and_writes_nothing(world, key):
    received = await new_contact(world, assignee="agent_all")
    agent = world.client("agent_all")
    body = await agent.execute(
        SEND, {"i": {"contactId": received["contact"]["id"], "text": "Hi"}, "k": key}
    )
    error = error_of(body)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "idempotencyKey",
        "inputPath": ["idempotencyKey"],
    }, error
    assert len(await message_ids(agent, received["conversation"]["id"])) == 1
    await agent.aclose()


async def test_the_longest_and_unicode_keys_are_accepted(world):
    received = await new_contact(world, assignee="agent_all")
    agent = world.client("agent_all")
    for key in ("k" * 255, "clé-🙂-ключ"):
        variables = {"i": {"contactId": received["contact"]["id"], "text": key[:20]}, "k": key}
        first = await agent(SEND, variables)
        assert await agent(SEND, variables) == first
    assert len(await message_ids(agent, received["conversation"]["id"])) == 3
    await agent.aclose()


async def test_keys_belong_to_the_user_acting_and_an_integration_token_acts_as_its_user(world):
    received = await new_contact(world)
    contact, conversation = received["contact"]["id"], received["conversation"]["id"]
    variables = {"i": {"contactId": contact, "text": "Same words, same key"}, "k": "shared-key"}
    owner, manager, integration = (
        world.client("owner"),
        world.client("manager"),
        world.client("integration"),
    )
    by_owner = (await owner(SEND, variables))["sendMessage"]["message"]["id"]
    by_manager = (await manager(SEND, variables))["sendMessage"]["message"]["id"]
    assert by_manager != by_owner
    # the integration token is the owner's: the owner's key, the owner's message
    assert (await integration(SEND, variables))["sendMessage"]["message"]["id"] == by_owner
    assert await message_ids(owner, conversation) == {
        received["message"]["id"],
        by_owner,
        by_manager,
    }
    for client in (owner, manager, integration):
        await client.aclose()


async def test_a_failed_first_attempt_records_nothing(world):
    received = await new_contact(world, assignee="agent_all")
    agent = world.client("agent_all")
    contact = received["contact"]["id"]
    body = await agent.execute(
        SEND, {"i": {"contactId": contact, "text": "  "}, "k": "after-a-failure"}
    )
    assert error_of(body)["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "text",
        "inputPath": ["input", "text"],
    }
    sent = await agent(SEND, {"i": {"contactId": contact, "text": "Fixed"}, "k": "after-a-failure"})
    assert sent["sendMessage"]["message"]["text"] == "Fixed"
    await agent.aclose()


async def test_a_retry_obeys_the_visibility_policy_of_now(world):
    received = await new_contact(world, assignee="agent_self")
    agent = world.client("agent_self")
    variables = {
        "i": {"contactId": received["contact"]["id"], "text": "Mine for now"},
        "k": "visible-1",
    }
    await agent(SEND, variables)
    owner = world.client("owner")
    await owner(ASSIGN, {"c": received["contact"]["id"], "a": world.user_ids["agent_beta"]})
    error = error_of(await agent.execute(SEND, variables))
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert len(await message_ids(owner, received["conversation"]["id"])) == 2
    await agent.aclose()
    await owner.aclose()


@dataclass
class Creation:
    """One creating mutation as a user sends it: who, the operation (with ``$k``), fresh
    variables, where the created id is, and how many such objects the user sees."""

    who: str
    query: str
    variables: Any  # async (world) -> dict
    id_of: Any  # (data) -> str
    count: Any  # async (world, client, variables) -> int


async def _team_variables(world):
    return {"n": f"Team {uuid.uuid4().hex[:6]}", "m": [world.user_ids["agent_all"]]}


async def _user_variables(world):
    name = uuid.uuid4().hex[:8]
    return {
        "i": {
            "email": f"{name}@{world.domain}",
            "name": name,
            "password": "long enough pw",
            "role": "AGENT",
            "contactVisibility": "TEAM",
        }
    }


async def _channel_variables(world):
    return {"t": "SMS", "n": f"SMS {uuid.uuid4().hex[:6]}"}


async def _inbox_variables(world):
    return {
        "i": {
            "name": f"Open {uuid.uuid4().hex[:6]}",
            "filter": {"status": ["OPEN"]},
            "sharing": "CHOSEN",
            "sharedWithTeamIds": [world.team_ids["Alpha"]],
        }
    }


async def _comment_variables(world):
    return {
        "c": (await new_contact(world, assignee="agent_all"))["contact"]["id"],
        "t": f"@[Sam]({world.user_ids['agent_team']}) call back",
    }


async def _call_variables(world):
    await grant_call_access(world)
    integration = world.client("integration")
    data = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WHATSAPP"],
                "from": new_number(),
                "externalMessageId": uuid.uuid4().hex,
                "text": "Call me",
            }
        },
    )
    await integration.aclose()
    return {"c": data["receiveMessage"]["contact"]["id"], "ch": world.channel_ids["WHATSAPP"]}


async def _send_variables(world):
    received = await new_contact(world, assignee="agent_all")
    return {
        "i": {"contactId": received["contact"]["id"], "text": "Hello from us"},
        "conversation": received["conversation"]["id"],
    }


async def _contact_variables(world):
    return {"i": {"firstName": "Keyed", "email": f"k.{uuid.uuid4().hex[:8]}@example.test"}}


async def _count_contacts(world, client, variables):
    data = await client("{ contacts(first: 1) { totalCount } }")
    return data["contacts"]["totalCount"]


async def _count_list(client, query, field):
    return len((await client(query))[field])


async def _count_activities(world, client, variables):
    data = await client(ACTIVITIES, {"id": variables["c"]})
    return len(data["contact"]["activities"]["edges"])


async def _count_calls(world, client, variables):
    data = await client(
        "query($id: ID!) { contact(id: $id) { callActivities(first: 100) { edges { node { id } } } } }",
        {"id": variables["c"]},
    )
    return len(data["contact"]["callActivities"]["edges"])


async def _count_messages(world, client, variables):
    return len(await message_ids(client, variables["conversation"]))


CREATIONS = {
    "createTeam": Creation(
        "owner",
        "mutation($n: String!, $m: [ID!], $k: String) { createTeam(name: $n, memberIds: $m, idempotencyKey: $k) { id } }",
        _team_variables,
        lambda d: d["createTeam"]["id"],
        lambda w, c, v: _count_list(c, "{ teams { id } }", "teams"),
    ),
    "createUser": Creation(
        "manager",
        "mutation($i: CreateUserInput!, $k: String) { createUser(input: $i, idempotencyKey: $k) { id } }",
        _user_variables,
        lambda d: d["createUser"]["id"],
        lambda w, c, v: _count_list(c, "{ users { id } }", "users"),
    ),
    "connectChannel": Creation(
        "owner",
        "mutation($t: ChannelType!, $n: String!, $k: String) { connectChannel(type: $t, name: $n, idempotencyKey: $k) { id } }",
        _channel_variables,
        lambda d: d["connectChannel"]["id"],
        lambda w, c, v: _count_list(c, "{ channels { id } }", "channels"),
    ),
    "createCustomInbox": Creation(
        "agent_team",
        "mutation($i: CustomInboxInput!, $k: String) { createCustomInbox(input: $i, idempotencyKey: $k) { id } }",
        _inbox_variables,
        lambda d: d["createCustomInbox"]["id"],
        lambda w, c, v: _count_list(
            c, "{ customInboxes(ownership: BY_ME) { id } }", "customInboxes"
        ),
    ),
    "addComment": Creation(
        "agent_all",
        COMMENT.replace("{ id text }", "{ id }"),
        _comment_variables,
        lambda d: d["addComment"]["id"],
        _count_activities,
    ),
    "placeCall": Creation(
        "agent_all",
        "mutation($c: ID!, $ch: ID!, $k: String) { placeCall(contactId: $c, channelId: $ch, idempotencyKey: $k) { id } }",
        _call_variables,
        lambda d: d["placeCall"]["id"],
        _count_calls,
    ),
    "createContact": Creation(
        "agent_self",
        "mutation($i: CreateContactInput!, $k: String) { createContact(input: $i, idempotencyKey: $k) { id } }",
        _contact_variables,
        lambda d: d["createContact"]["id"],
        _count_contacts,
    ),
    "sendMessage": Creation(
        "agent_all",
        SEND.replace(
            "{ message { id text } conversation { id } contact { id } }", "{ message { id } }"
        ),
        _send_variables,
        lambda d: d["sendMessage"]["message"]["id"],
        _count_messages,
    ),
}


@pytest.mark.parametrize("mutation", list(CREATIONS))
async def test_every_creating_mutation_honours_the_key(world, mutation):
    case = CREATIONS[mutation]
    client = world.client(case.who)
    variables = await case.variables(world)
    before = await case.count(world, client, variables)
    sent = {**variables, "k": f"{mutation}-{uuid.uuid4()}"}
    first = case.id_of(await client(case.query, sent))
    assert case.id_of(await client(case.query, sent)) == first
    assert await case.count(world, client, variables) == before + 1
    if mutation == "placeCall":
        await client(END, {"c": first})
    await client.aclose()


async def test_a_retry_returns_the_created_object_as_it_is_now(world):
    owner = world.client("owner")
    query = (
        "mutation($n: String!, $k: String) { createTeam(name: $n, idempotencyKey: $k) { id name } }"
    )
    variables = {"n": f"Night {uuid.uuid4().hex[:6]}", "k": "team-now"}
    team = (await owner(query, variables))["createTeam"]
    await owner(
        'mutation($id: ID!) { updateTeam(id: $id, name: "Renamed since") { id } }',
        {"id": team["id"]},
    )
    assert (await owner(query, variables))["createTeam"] == {
        "id": team["id"],
        "name": "Renamed since",
    }
    await owner.aclose()


async def test_create_user_is_compared_without_its_password(world):
    manager = world.client("manager")
    query = "mutation($i: CreateUserInput!, $k: String) { createUser(input: $i, idempotencyKey: $k) { id } }"
    variables = await _user_variables(world)
    first = await manager(query, {**variables, "k": "user-pw"})
    retry = {"i": {**variables["i"], "password": "another long password"}, "k": "user-pw"}
    assert await manager(query, retry) == first
    stored = sql(
        world.served.env["DATABASE_URL"],
        "SELECT fingerprint || mutation || CAST(result AS TEXT) FROM idempotency_key WHERE key = 'user-pw'",
    )
    assert "long enough pw" not in stored
    await manager.aclose()


async def test_an_access_token_retry_without_a_secret_key_conflicts_with_its_id(world):
    owner = world.client("owner")
    url = world.served.env["DATABASE_URL"]
    first = (await owner(TOKEN, {"n": "connector", "k": "token-no-secret"}))["createAccessToken"]
    tokens = sql(url, "SELECT COUNT(*) FROM access_token")
    error = error_of(await owner.execute(TOKEN, {"n": "connector", "k": "token-no-secret"}))
    assert error["extensions"] == {
        "code": "CONFLICT",
        "field": "idempotencyKey",
        "inputPath": ["idempotencyKey"],
        "accessTokenId": first["accessToken"]["id"],
    }
    assert "shown once" in error["message"] and "Revoke" in error["message"]
    assert sql(url, "SELECT COUNT(*) FROM access_token") == tokens
    await owner.aclose()


async def test_an_access_token_retry_returns_its_secret_when_the_server_can_keep_it(
    world, server_env
):
    keeping = serve({**server_env, "INBOX_GRAPH_SECRET_KEY": Fernet.generate_key().decode()})
    try:
        owner = Client(keeping, world.tokens["owner"])
        variables = {"n": "connector", "k": f"token-{uuid.uuid4()}"}
        first = (await owner(TOKEN, variables))["createAccessToken"]
        assert (await owner(TOKEN, variables))["createAccessToken"] == first
        stored = sql(
            server_env["DATABASE_URL"],
            f"SELECT CAST(result AS TEXT) FROM idempotency_key WHERE key = '{variables['k']}'",
        )
        assert first["token"] not in stored  # kept encrypted
        created = Client(keeping, first["token"])
        assert (await created("{ me { id } }"))["me"]["id"] == world.user_ids["owner"]
        await created.aclose()
        await owner.aclose()
    finally:
        keeping.stop()
    # a server without the key cannot show it again
    owner = world.client("owner")
    error = error_of(await owner.execute(TOKEN, variables))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["accessTokenId"] == first["accessToken"]["id"]
    await owner.aclose()


async def test_an_access_token_minted_with_a_key_is_not_handed_to_another_token(world, server_env):
    """Keys are the user's: an ADMIN token of the owner retrying the owner's session's
    ``createAccessToken`` got the token the session minted, secret included, though a token
    minted by a token is that token's (its expiry, revoked with it; a helper's review)."""
    keeping = serve({**server_env, "INBOX_GRAPH_SECRET_KEY": Fernet.generate_key().decode()})
    try:
        owner = Client(keeping, world.tokens["owner"])
        admin = await owner(
            'mutation { createAccessToken(name: "admin", scopes: [ADMIN, INGEST, READ_WRITE]) '
            "{ token } }"
        )
        integration = Client(keeping, admin["createAccessToken"]["token"])
        variables = {"n": "minted once", "k": f"token-{uuid.uuid4()}"}
        first = (await owner(TOKEN, variables))["createAccessToken"]
        tokens = sql(server_env["DATABASE_URL"], "SELECT COUNT(*) FROM access_token")
        error = error_of(await integration.execute(TOKEN, variables))
        assert error["extensions"]["code"] == "CONFLICT", error
        assert first["token"] not in str(error)
        assert sql(server_env["DATABASE_URL"], "SELECT COUNT(*) FROM access_token") == tokens
        # the session's retry still gets its own
        assert (await owner(TOKEN, variables))["createAccessToken"] == first
        await owner.aclose()
        await integration.aclose()
    finally:
        keeping.stop()


async def test_keys_expire_and_are_pruned(world, server_env):
    url = server_env["DATABASE_URL"]
    received = await new_contact(world, assignee="agent_all")
    variables = {
        "i": {"contactId": received["contact"]["id"], "text": "Expiring"},
        "k": f"ttl-{uuid.uuid4()}",
    }
    short = serve({**server_env, "INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS": "2"})
    try:
        agent = Client(short, world.tokens["agent_all"])
        first = (await agent(SEND, variables))["sendMessage"]["message"]["id"]
        assert (await agent(SEND, variables))["sendMessage"]["message"]["id"] == first
        await asyncio.sleep(2.5)
        # expired, not pruned yet (pruning runs every 300 s): the key counts as new
        assert key_rows(url, variables["k"]) == 1
        second = (await agent(SEND, variables))["sendMessage"]["message"]["id"]
        assert second != first and key_rows(url, variables["k"]) == 1
        await agent.aclose()
    finally:
        short.stop()
    await asyncio.sleep(2.5)
    pruning = serve(
        {
            **server_env,
            "INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS": "2",
            "INBOX_GRAPH_PRUNE_INTERVAL_SECONDS": "1",
        }
    )
    try:
        for _ in range(50):
            if key_rows(url, variables["k"]) == 0:
                break
            await asyncio.sleep(0.2)
        assert key_rows(url, variables["k"]) == 0
    finally:
        pruning.stop()


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="concurrent writers across worker processes need PostgreSQL (SQLite serialises them)",
)
async def test_concurrent_retries_across_workers_write_once(world, served, server_env):
    other = serve(server_env, "--workers", "2")
    try:
        received = await new_contact(world, assignee="agent_all")
        clients = [Client(s, world.tokens["agent_all"]) for s in (served, other, other)]
        variables = {
            "i": {"contactId": received["contact"]["id"], "text": "Once"},
            "k": f"burst-{uuid.uuid4()}",
        }
        bodies = await asyncio.gather(*(clients[i % 3].execute(SEND, variables) for i in range(10)))
        assert all(not b.get("errors") for b in bodies), bodies
        assert len({b["data"]["sendMessage"]["message"]["id"] for b in bodies}) == 1
        messages = await message_ids(clients[0], received["conversation"]["id"])
        assert messages == {
            received["message"]["id"],
            bodies[0]["data"]["sendMessage"]["message"]["id"],
        }
        # a creation whose own checks a concurrent duplicate trips (the e-mail is taken by then)
        managers = [Client(s, world.tokens["manager"]) for s in (served, other, other)]
        query = CREATIONS["createUser"].query
        user = {**await _user_variables(world), "k": f"burst-{uuid.uuid4()}"}
        users_before = len((await managers[0]("{ users { id } }"))["users"])
        bodies = await asyncio.gather(*(managers[i % 3].execute(query, user) for i in range(10)))
        assert all(not b.get("errors") for b in bodies), bodies
        assert len({b["data"]["createUser"]["id"] for b in bodies}) == 1
        assert len((await managers[0]("{ users { id } }"))["users"]) == users_before + 1
        for client in (*clients, *managers):
            await client.aclose()
    finally:
        other.stop()

"""Access tokens a partner can be given (issue 17, part 3; ``domain.md`` section 8): scopes
refused outside what they allow, expiry, last use, listing, revocation of a token's
descendants, deactivation, ``logout`` and ``changePassword`` (their sockets close with 4403).
Black-box, over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from tests.conftest import OWNER_EMAIL, PASSWORD, login
from tests.support import (
    NEW_MESSAGE,
    Client,
    GraphQLError,
    cli,
    close_code,
    new_number,
    open_socket,
    subscribe,
    ws_operation,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """mutation($n: String!, $s: [AccessTokenScope!], $e: DateTime) {
  createAccessToken(name: $n, scopes: $s, expiresAt: $e) {
    token accessToken { id name kind scopes expiresAt lastUsedAt revoked createdBy { id } parent { id } }
  } }"""
REVOKE = "mutation($id: ID!) { revokeAccessToken(id: $id) }"
LIST = """query($first: Int, $after: String, $active: Boolean, $kind: AccessTokenKind) {
  accessTokens(first: $first, after: $after, active: $active, kind: $kind) {
    edges { cursor node { id name kind scopes lastUsedAt revoked current createdBy { id } } }
    pageInfo { hasNextPage endCursor } } }"""
CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) }"""
RECEIVE_IDS = """mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) {
  duplicate messageId conversationId contactId
  message { id text } conversation { id } contact { id name } } }"""
RECEIVE_CALL = """mutation($i: ReceiveCallInput!) { receiveCall(input: $i) {
  id status contactId fromNumber recording { state } } }"""
REPORT_ENDED = """mutation($i: ReportCallEndedInput!) { reportCallEnded(input: $i) {
  id status contactId fromNumber } }"""
RECEIVE_CALL_CONTACT = """mutation($i: ReceiveCallInput!) { receiveCall(input: $i) {
  id contact { id name } } }"""


async def mint(
    client: Client, name: str, scopes: list[str] | None = None, expires_at: str | None = None
) -> dict:
    """``createAccessToken`` as ``client``: its payload (``token``, ``accessToken``)."""
    return (await client(CREATE, {"n": name, "s": scopes, "e": expires_at}))["createAccessToken"]


async def new_user(world, role: str = "AGENT", **extra) -> tuple[str, str, str]:
    """A new teammate made by the owner: ``(id, e-mail, session token)``."""
    email = f"{role.lower()}-{uuid.uuid4().hex[:8]}@{world.domain}"
    owner = world.client("owner")
    try:
        created = await owner(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {
                "i": {
                    "email": email,
                    "name": f"New {role.title()}",
                    "password": PASSWORD,
                    "role": role,
                    **extra,
                }
            },
        )
    finally:
        await owner.aclose()
    return created["createUser"]["id"], email, await login(world.served, email, PASSWORD)


def errors_of(body: dict) -> list[dict]:
    assert body.get("errors"), f"expected an error, got {body}"
    return body["errors"]


async def authenticated(served, token: str) -> bool:
    client = Client(served, token)
    try:
        body = await client.execute("{ me { id } }")
    finally:
        await client.aclose()
    if body.get("errors"):
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body
        return False
    return True


async def closed_code(subscription, timeout: float = 5.0) -> int | None:
    """The code the server closes a subscription's socket with (fails if it stays open)."""
    return await close_code(subscription.socket, timeout)


@pytest.fixture(scope="module")
async def scoped(world) -> dict[str, str]:
    """One owner's integration token per scope."""
    owner = world.client("owner")
    try:
        return {
            s: (await mint(owner, f"scope {s}", [s]))["token"]
            for s in ("INGEST", "READ", "READ_WRITE", "ADMIN")
        }
    finally:
        await owner.aclose()


def _matrix(world) -> list[tuple[str, str, dict, set[str], str]]:
    """(name, document, variables, scopes allowed, code when allowed but the input is bad):
    a bad input shows the scope check ran first, and the operation wrote nothing."""
    unknown_contact = "Q29udGFjdDo5OTk5OTk5"  # Contact:9999999
    unknown_channel = "Q2hhbm5lbDo5OTk5OTk5"  # Channel:9999999
    return [
        ("me", "{ me { id } }", {}, {"INGEST", "READ", "READ_WRITE", "ADMIN"}, ""),
        ("channels", "{ channels { id type } }", {}, {"INGEST", "READ", "READ_WRITE", "ADMIN"}, ""),
        (
            "contact",
            "query($id: ID!) { contact(id: $id) { id name } }",
            {"id": world.contact_ids["c_all"]},
            {"READ", "READ_WRITE", "ADMIN"},
            "",
        ),
        (
            "accessTokens",
            "{ accessTokens { edges { node { id } } } }",
            {},
            {"READ", "READ_WRITE", "ADMIN"},
            "",
        ),
        (
            "createUser",
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {"i": {"email": "not an e-mail", "name": "X", "password": PASSWORD}},
            {"ADMIN"},
            "BAD_USER_INPUT",
        ),
        (
            "createAccessToken",
            'mutation { createAccessToken(name: "") { token } }',
            {},
            {"ADMIN"},
            "BAD_USER_INPUT",
        ),
        (
            "sendMessage",
            "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } } }",
            {"i": {"contactId": unknown_contact, "text": "hi"}},
            {"READ_WRITE", "ADMIN"},
            "NOT_FOUND",
        ),
        (
            "receiveMessage",
            RECEIVE_IDS,
            {
                "i": {
                    "channelId": unknown_channel,
                    "from": "x",
                    "externalMessageId": "x",
                    "text": "x",
                }
            },
            {"INGEST", "ADMIN"},
            "NOT_FOUND",
        ),
        (
            "contacts",
            "{ contacts(first: 1) { totalCount } }",
            {},
            {"READ", "READ_WRITE", "ADMIN"},
            "",
        ),
        (
            "createContact",
            "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
            {"i": {"phone": "12"}},
            {"READ_WRITE", "ADMIN"},
            "BAD_USER_INPUT",
        ),
        (
            "upsertContact",
            "mutation($i: UpsertContactInput!) { upsertContact(input: $i) { created } }",
            {"i": {"identity": {}}},
            {"READ_WRITE", "ADMIN"},
            "BAD_USER_INPUT",
        ),
        (
            "eraseContact",
            "mutation($c: ID!) { eraseContact(contactId: $c) { id } }",
            {"c": unknown_contact},
            {"ADMIN"},
            "NOT_FOUND",
        ),
        ("changePassword", CHANGE_PASSWORD, {"c": "wrong password", "n": "long enough"}, set(), ""),
    ]


@pytest.mark.parametrize("scope", ["INGEST", "READ", "READ_WRITE", "ADMIN"])
async def test_every_scope_is_refused_outside_what_it_allows(world, scoped, scope):
    client = Client(world.served, scoped[scope])
    try:
        for name, document, variables, allowed, bad_input_code in _matrix(world):
            body = await client.execute(document, variables)
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
            if scope in allowed:
                assert codes == ([bad_input_code] if bad_input_code else []), (name, body)
                continue
            (error,) = errors_of(body)
            assert error["extensions"]["code"] == "FORBIDDEN", (name, body)
            assert (body.get("data") or {}).get(name) is None, (name, body)
            if name == "changePassword":
                assert "session" in error["message"], error
            else:
                required = error["extensions"]["requiredScopes"]
                assert required and scope not in required, (name, error)
                assert all(r in error["message"] for r in required), error
    finally:
        await client.aclose()


@pytest.mark.parametrize("scope", ["INGEST", "READ", "READ_WRITE", "ADMIN"])
async def test_subscriptions_need_read(world, scoped, scope):
    socket = await open_socket(world.served, scoped[scope])
    try:
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": NEW_MESSAGE}})
        )
        await socket.send(json.dumps({"type": "ping"}))
        answers = []
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                answers.append(json.loads(await asyncio.wait_for(socket.recv(), 1.5)))
        refusals = [a for a in answers if a.get("id") == "1"]
        if scope == "INGEST":
            assert [a["type"] for a in refusals] == ["error"], answers
            (error,) = refusals[0]["payload"]
            assert error["extensions"] == {"code": "FORBIDDEN", "requiredScopes": ["READ"]}, error
        else:
            assert refusals == [], answers  # subscribed: nothing until an event
    finally:
        await socket.close()


async def test_a_token_without_scopes_ingests_reads_and_writes_but_administers_nothing(world):
    owner = world.client("owner")
    made = await mint(owner, "legacy caller")
    assert made["accessToken"]["scopes"] == ["INGEST", "READ_WRITE"]
    assert made["accessToken"]["kind"] == "INTEGRATION" and made["accessToken"]["parent"] is None
    assert made["accessToken"]["createdBy"]["id"] == world.user_ids["owner"]
    legacy = Client(world.served, made["token"])
    try:
        assert (
            await legacy(
                "query($id: ID!) { contact(id: $id) { id } }", {"id": world.contact_ids["c_all"]}
            )
        )["contact"]
        body = await legacy.execute('mutation { createAccessToken(name: "child") { token } }')
        assert errors_of(body)[0]["extensions"]["requiredScopes"] == ["ADMIN"]
        sessions = await owner(LIST, {"kind": "SESSION", "first": 1})
        assert sessions["accessTokens"]["edges"][0]["node"]["scopes"] == ["ADMIN"]
        assert await owner.error_codes(CREATE, {"n": "no scope", "s": []}) == ["BAD_USER_INPUT"]
    finally:
        await legacy.aclose()
        await owner.aclose()


async def test_the_connector_flow_works_end_to_end_with_an_ingest_only_token(world):
    """The README's connector: an INGEST token finds its channels, ingests messages and calls
    (duplicates too) and gets ids back, never the contact's details or messages."""
    owner = world.client("owner")
    connector = Client(world.served, (await mint(owner, "connector", ["INGEST"]))["token"])
    try:
        channels = {
            c["type"]: c["id"] for c in (await connector("{ channels { id type } }"))["channels"]
        }
        variables = {
            "i": {
                "channelId": channels["WEBCHAT"],
                "from": f"visitor-{uuid.uuid4().hex[:8]}",
                "externalMessageId": uuid.uuid4().hex,
                "text": "Hello",
                "firstName": "Ada",
            }
        }
        for duplicate in (False, True):
            received = (await connector(RECEIVE_IDS, variables))["receiveMessage"]
            assert received["duplicate"] is duplicate
            assert received["messageId"] and received["conversationId"] and received["contactId"]
            assert received["message"] is received["conversation"] is received["contact"] is None, (
                received
            )
        # the owner sees what was ingested, under the same ids
        seen = await owner(
            "query($id: ID!) { contact(id: $id) { name } }", {"id": received["contactId"]}
        )
        assert seen["contact"]["name"] == "Ada"

        number, call_id = new_number(), f"wacid.{uuid.uuid4().hex}"
        call_input = {"channelId": channels["WHATSAPP"], "from": number, "externalCallId": call_id}
        for _ in range(2):
            call = (await connector(RECEIVE_CALL, {"i": call_input}))["receiveCall"]
            assert call["status"] == "RINGING" and call["contactId"]
            assert call["fromNumber"] is None, call
        # its contact does not exist for it (Call.contact is non-null: the error says so)
        body = await connector.execute(RECEIVE_CALL_CONTACT, {"i": call_input})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], body
        assert body["errors"][0]["path"] == ["receiveCall", "contact"] and body["data"] is None
        ended = await connector(
            REPORT_ENDED, {"i": {"channelId": channels["WHATSAPP"], "externalCallId": call_id}}
        )
        assert ended["reportCallEnded"]["status"] == "MISSED"
        assert ended["reportCallEnded"]["fromNumber"] is None
        # the owner's session gets the whole call
        again = (await owner(RECEIVE_CALL_CONTACT, {"i": call_input}))["receiveCall"]
        assert again["contact"]["id"] == call["contactId"]
        assert (await owner(RECEIVE_CALL, {"i": call_input}))["receiveCall"]["fromNumber"]
    finally:
        await connector.aclose()
        await owner.aclose()


async def test_revoking_a_parent_revokes_its_children_and_theirs(world):
    owner = world.client("owner")
    parent = await mint(owner, "parent", ["ADMIN"])
    parent_client = Client(world.served, parent["token"])
    child = await mint(parent_client, "child", ["ADMIN"])
    child_client = Client(world.served, child["token"])
    grandchild = await mint(child_client, "grandchild", ["READ"])
    sibling = await mint(owner, "sibling", ["READ"])  # minted by the session: nobody's child
    try:
        assert child["accessToken"]["parent"]["id"] == parent["accessToken"]["id"]
        assert grandchild["accessToken"]["parent"]["id"] == child["accessToken"]["id"]
        assert grandchild["accessToken"]["createdBy"]["id"] == world.user_ids["owner"]
        # a READ token mints nothing
        reader = Client(world.served, grandchild["token"])
        assert (await reader.execute(CREATE, {"n": "x"}))["errors"][0]["extensions"][
            "code"
        ] == "FORBIDDEN"
        await reader.aclose()

        subscription = await subscribe(world.served, grandchild["token"], NEW_MESSAGE)
        assert await owner(REVOKE, {"id": parent["accessToken"]["id"]})
        for token in (parent, child, grandchild):
            assert not await authenticated(world.served, token["token"]), token["accessToken"][
                "name"
            ]
        assert await authenticated(world.served, sibling["token"])
        assert await closed_code(subscription) == 4403
        listed = await owner(LIST, {"active": False, "first": 100})
        revoked = {e["node"]["id"] for e in listed["accessTokens"]["edges"] if e["node"]["revoked"]}
        assert {t["accessToken"]["id"] for t in (parent, child, grandchild)} <= revoked
        # revoking again changes nothing and answers the id
        assert (await owner(REVOKE, {"id": child["accessToken"]["id"]}))[
            "revokeAccessToken"
        ] == child["accessToken"]["id"]
    finally:
        await parent_client.aclose()
        await child_client.aclose()
        await owner.aclose()


async def test_a_child_expires_no_later_than_its_parent(world):
    owner = world.client("owner")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    parent = await mint(owner, "expiring parent", ["ADMIN"], soon)
    parent_client = Client(world.served, parent["token"])
    try:
        inherited = await mint(parent_client, "inherits")
        assert inherited["accessToken"]["expiresAt"] == parent["accessToken"]["expiresAt"]
        body = await parent_client.execute(CREATE, {"n": "outlives", "e": later})
        error = errors_of(body)[0]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "expiresAt",
            "inputPath": ["expiresAt"],
        }, error
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        assert (await owner.execute(CREATE, {"n": "past", "e": past}))["errors"][0]["extensions"][
            "field"
        ] == "expiresAt"
    finally:
        await parent_client.aclose()
        await owner.aclose()


async def test_an_expired_token_stops_working(world):
    owner = world.client("owner")
    # long enough to be used once before it expires on a busy machine (2 s could be too short)
    expires_at = datetime.now(UTC) + timedelta(seconds=5)
    made = await mint(owner, "short-lived", ["READ"], expires_at.isoformat())
    try:
        assert await authenticated(world.served, made["token"])
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
        assert not await authenticated(world.served, made["token"])
        active = await owner(LIST, {"first": 100})
        assert made["accessToken"]["id"] not in {
            e["node"]["id"] for e in active["accessTokens"]["edges"]
        }
        expired = await owner(LIST, {"first": 100, "active": False})
        assert made["accessToken"]["id"] in {
            e["node"]["id"] for e in expired["accessTokens"]["edges"]
        }
    finally:
        await owner.aclose()


async def test_last_used_is_recorded_at_most_once_a_minute(world):
    owner = world.client("owner")
    made = await mint(owner, "used", ["READ"])
    token_id = made["accessToken"]["id"]
    assert made["accessToken"]["lastUsedAt"] is None

    async def last_used() -> str | None:
        found = await owner(
            "query($id: ID!) { node(id: $id) { ... on AccessToken { lastUsedAt } } }",
            {"id": token_id},
        )
        return found["node"]["lastUsedAt"]

    try:
        before = datetime.now(UTC)
        assert await authenticated(world.served, made["token"])
        for _ in range(50):  # written in the background, after the request
            if await last_used() is not None:
                break
            await asyncio.sleep(0.1)
        first = await last_used()
        assert first is not None and datetime.fromisoformat(first) >= before - timedelta(seconds=1)
        assert await authenticated(world.served, made["token"])
        await asyncio.sleep(0.5)
        assert await last_used() == first
    finally:
        await owner.aclose()


async def test_owners_list_every_token_others_their_own_and_foreign_ids_are_not_found(world):
    _, _, manager_session = await new_user(world, "MANAGER")
    _, _, agent_session = await new_user(world, "AGENT")
    owner, manager, agent = (
        world.client("owner"),
        Client(world.served, manager_session),
        Client(world.served, agent_session),
    )
    try:
        owners_token = (await mint(owner, "owner's"))["accessToken"]["id"]
        managers_token = (await mint(manager, "manager's"))["accessToken"]["id"]
        agents_token = (await mint(agent, "agent's", ["READ"]))["accessToken"]["id"]

        async def listed(client: Client) -> dict[str, dict]:
            nodes, after = {}, None
            while True:
                page = (await client(LIST, {"first": 2, "after": after}))["accessTokens"]
                nodes.update({e["node"]["id"]: e["node"] for e in page["edges"]})
                if not page["pageInfo"]["hasNextPage"]:
                    return nodes
                after = page["pageInfo"]["endCursor"]

        by_owner = await listed(owner)
        assert {owners_token, managers_token, agents_token} <= set(by_owner)
        assert by_owner[agents_token]["createdBy"]["id"] != world.user_ids["owner"]
        assert by_owner[agents_token]["scopes"] == ["READ"]
        assert any(n["kind"] == "SESSION" and n["current"] for n in by_owner.values())
        by_manager = await listed(manager)
        assert managers_token in by_manager and not {owners_token, agents_token} & set(by_manager)
        assert {n["createdBy"]["id"] for n in by_manager.values()} == {
            by_manager[managers_token]["createdBy"]["id"]
        }
        assert set(await listed(agent)) >= {agents_token} and not {
            owners_token,
            managers_token,
        } & set(await listed(agent))

        for client, foreign in (
            (manager, owners_token),
            (manager, agents_token),
            (agent, managers_token),
        ):
            body = await client.execute(REVOKE, {"id": foreign})
            assert errors_of(body)[0]["extensions"] == {
                "code": "NOT_FOUND",
                "field": "id",
                "inputPath": ["id"],
            }, body
            node = await client("query($id: ID!) { node(id: $id) { id } }", {"id": foreign})
            assert node["node"] is None
        assert await authenticated(world.served, owner.token)

        # another workspace's owner: not found either
        domain = f"{uuid.uuid4().hex[:8]}.other.test"
        email = OWNER_EMAIL.replace("acme.test", domain)
        cli(
            world.served.env,
            "create-workspace",
            "--name",
            "Other",
            "--owner-email",
            email,
            "--owner-password",
            PASSWORD,
        )
        stranger = Client(world.served, await login(world.served, email, PASSWORD))
        assert await stranger.error_codes(REVOKE, {"id": agents_token}) == ["NOT_FOUND"]
        assert agents_token not in await listed(stranger)
        await stranger.aclose()

        # the owner revokes anyone's token
        assert await owner(REVOKE, {"id": agents_token})
        assert await manager(REVOKE, {"id": managers_token})
    finally:
        for client in (owner, manager, agent):
            await client.aclose()


async def test_deactivation_ends_every_session_and_token_for_good(world):
    user_id, email, session = await new_user(world, "MANAGER")
    member = Client(world.served, session)
    integration = (await mint(member, "member's connector", ["INGEST"]))["token"]
    child_parent = (await mint(member, "member's admin", ["ADMIN"]))["token"]
    minting = Client(world.served, child_parent)
    child = (await mint(minting, "grandchild", ["READ"]))["token"]
    await minting.aclose()
    subscription = await subscribe(world.served, session, NEW_MESSAGE)
    owner = world.client("owner")
    update = "mutation($id: ID!, $a: Boolean!) { updateUser(id: $id, input: {isActive: $a}) { isActive } }"
    try:
        await owner(update, {"id": user_id, "a": False})
        assert await closed_code(subscription) == 4403
        await owner(update, {"id": user_id, "a": True})
        for token in (session, integration, child_parent, child):
            assert not await authenticated(world.served, token)
        # logging in again works, with a new session
        assert await authenticated(world.served, await login(world.served, email, PASSWORD))
    finally:
        await member.aclose()
        await owner.aclose()


async def test_logout_ends_the_session_and_its_sockets(world):
    _, email, session = await new_user(world)
    other_session = await login(world.served, email, PASSWORD)
    subscription = await subscribe(world.served, session, NEW_MESSAGE)
    client = Client(world.served, session)
    try:
        assert (await client("mutation { logout }"))["logout"] is True
        assert await client.error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
        assert await closed_code(subscription) == 4403
        assert await authenticated(world.served, other_session)

        # over a WebSocket: it answers, then closes that socket with 4403
        socket = await open_socket(world.served, other_session)
        answered = await ws_operation(socket, "mutation { logout }")
        assert answered["payload"]["data"] == {"logout": True}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert closed.value.rcvd.code == 4403
        assert not await authenticated(world.served, other_session)
    finally:
        await client.aclose()


async def test_change_password_ends_other_sessions_and_their_sockets(world):
    _, email, session = await new_user(world, "MANAGER")
    other = await login(world.served, email, PASSWORD)
    client = Client(world.served, session)
    connector = (await mint(client, "survives", ["INGEST"]))["token"]
    admin_token = (await mint(client, "not a session", ["ADMIN"]))["token"]
    subscription = await subscribe(world.served, other, NEW_MESSAGE)
    new_password = "a much longer passphrase"
    try:
        wrong = await client.execute(CHANGE_PASSWORD, {"c": "not my password", "n": new_password})
        assert errors_of(wrong)[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "currentPassword",
            "inputPath": ["currentPassword"],
        }
        short = await client.execute(CHANGE_PASSWORD, {"c": PASSWORD, "n": "short"})
        assert errors_of(short)[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "newPassword",
            "inputPath": ["newPassword"],
        }
        assert await authenticated(world.served, other)  # refused: nothing changed
        token_client = Client(world.served, admin_token)
        refused = await token_client.execute(CHANGE_PASSWORD, {"c": PASSWORD, "n": new_password})
        assert errors_of(refused)[0]["extensions"]["code"] == "FORBIDDEN"
        await token_client.aclose()

        assert (await client(CHANGE_PASSWORD, {"c": PASSWORD, "n": new_password}))[
            "changePassword"
        ] is True
        assert await authenticated(world.served, session)
        assert not await authenticated(world.served, other)
        assert await closed_code(subscription) == 4403
        assert await authenticated(world.served, connector)  # integration tokens stay
        with pytest.raises(GraphQLError):
            await login(world.served, email, PASSWORD)
        assert await authenticated(world.served, await login(world.served, email, new_password))
    finally:
        await client.aclose()

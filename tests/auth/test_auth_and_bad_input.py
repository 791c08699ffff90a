"""Authentication, tenant isolation and bad input: every failure is a clear, coded error,
never a 500 or a traceback, and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import websockets

from tests.conftest import ALLOWED_ORIGIN, OWNER_EMAIL, PASSWORD, login
from tests.support import Client, GraphQLError, cli, connect_ws

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_every_operation_but_login_needs_a_token(world):
    anonymous = Client(world.served)
    assert await anonymous.error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
    assert await anonymous.error_codes("{ inboxSidebar { teams { openConversationCount } } }") == [
        "UNAUTHENTICATED"
    ]
    bad = Client(world.served, "igt_not-a-real-token")
    assert await bad.error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
    codes = await anonymous.error_codes(
        'mutation { login(email: "owner@acme.test", password: "wrong password") { token } }'
    )
    cli_result = cli(
        world.served.env,
        "create-workspace",
        "--name",
        "Dup",
        "--owner-email",
        OWNER_EMAIL.replace("acme.test", world.domain),
        "--owner-password",
        PASSWORD,
        check=False,
    )
    assert cli_result.returncode == 2 and "already in use" in cli_result.stderr
    assert codes == ["UNAUTHENTICATED"]
    await anonymous.aclose()
    await bad.aclose()


async def test_login_returns_a_working_token_and_revocation_ends_it(world):
    owner = world.client("owner")
    data = await owner(
        'mutation { createAccessToken(name: "temporary") { token accessToken { id kind } } }'
    )
    token = data["createAccessToken"]["token"]
    assert data["createAccessToken"]["accessToken"]["kind"] == "INTEGRATION"
    temporary = Client(world.served, token)
    assert (await temporary("{ me { email } }"))["me"]["email"] == OWNER_EMAIL.replace(
        "acme.test", world.domain
    )
    revoked = await owner(
        "mutation($id: ID!) { revokeAccessToken(id: $id) }",
        {"id": data["createAccessToken"]["accessToken"]["id"]},
    )
    assert revoked["revokeAccessToken"] == data["createAccessToken"]["accessToken"]["id"]
    assert await temporary.error_codes("{ me { id } }") == ["UNAUTHENTICATED"]
    await temporary.aclose()
    await owner.aclose()


async def test_malformed_and_foreign_ids(world):
    owner = world.client("owner")
    for bad in (
        "nonsense",
        "",
        "%%%",
        base64.urlsafe_b64encode(b"Contact:abc").decode(),
        "Q29udGFjdDotMQ",
    ):
        codes = await owner.error_codes("query($id: ID!) { node(id: $id) { id } }", {"id": bad})
        assert codes == ["BAD_USER_INPUT"], bad
    # well-formed but unknown: null, exactly like an invisible object
    unknown = base64.urlsafe_b64encode(b"Contact:999999").decode().rstrip("=")
    assert (await owner("query($id: ID!) { node(id: $id) { id } }", {"id": unknown}))[
        "node"
    ] is None
    codes = await owner.error_codes(
        "mutation($c: ID!) { assignContact(contactId: $c) { id } }", {"c": unknown}
    )
    assert codes == ["NOT_FOUND"]
    # a second workspace's objects never resolve
    boss = f"boss@other.{world.domain}"
    cli(
        world.served.env,
        "create-workspace",
        "--name",
        "Other",
        "--owner-email",
        boss,
        "--owner-password",
        PASSWORD,
    )
    other = Client(world.served, await login(world.served, boss, PASSWORD))
    for object_id in [
        *world.contact_ids.values(),
        *world.user_ids.values(),
        *world.team_ids.values(),
    ]:
        assert (await other("query($id: ID!) { node(id: $id) { id } }", {"id": object_id}))[
            "node"
        ] is None
    codes = await other.error_codes(
        "mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) { id } }",
        {"c": world.contact_ids["c_none"], "a": None},
    )
    assert codes == ["NOT_FOUND"]
    codes = await owner.error_codes(
        "mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) { id } }",
        {"c": world.contact_ids["c_none"], "a": (await other("{ me { id } }"))["me"]["id"]},
    )
    assert codes == ["NOT_FOUND"]
    await other.aclose()
    await owner.aclose()


async def test_bad_values_and_limits_get_coded_errors(world):
    owner = world.client("owner")
    assert await owner.error_codes("{ me { id ") == ["GRAPHQL_PARSE_FAILED"]
    assert await owner.error_codes("{ me { nope } }") == ["GRAPHQL_VALIDATION_FAILED"]
    codes = await owner.error_codes(
        "{ conversations(inbox: {standard: ALL}, first: 101) { edges { cursor } } }"
    )
    assert codes == ["BAD_USER_INPUT"]
    codes = await owner.error_codes(
        '{ conversations(inbox: {standard: ALL}, after: "garbage") { edges { cursor } } }'
    )
    assert codes == ["BAD_USER_INPUT"]
    codes = await owner.error_codes(
        "{ conversations(inbox: {standard: ALL, blocked: true}) { edges { cursor } } }"
    )
    assert set(codes) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}
    deep = "{ me { " + "teams { members { " * 7 + "id" + " } }" * 7 + " } }"
    assert await owner.error_codes(deep) == ["GRAPHQL_VALIDATION_FAILED"]
    aliases = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + " }"
    assert "GRAPHQL_VALIDATION_FAILED" in await owner.error_codes(aliases)
    # past the token limit before the field limits: 1,500 variables, one field
    huge = "query(" + " ".join(f"$v{i}: Int" for i in range(1500)) + ") { me { id } }"
    response = await owner.raw(huge)
    assert response.status_code in (200, 400)
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED" and "tokens" in error["message"]
    codes = await owner.error_codes(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {"i": {"email": "not-an-email", "name": "X", "password": "long enough password"}},
    )
    assert codes == ["BAD_USER_INPUT"]
    await owner.aclose()


async def test_agents_cannot_administer(world):
    agent = world.client("agent_all")
    codes = await agent.error_codes('mutation { createTeam(name: "Rogue") { id } }')
    assert codes == ["FORBIDDEN"]
    manager = world.client("manager")
    codes = await manager.error_codes('mutation { connectChannel(type: SMS, name: "x") { id } }')
    assert codes == ["FORBIDDEN"]
    body = await agent.execute(
        "query($id: ID!) { node(id: $id) { ... on User { name contactVisibility } } }",
        {"id": world.user_ids["agent_self"]},
    )
    assert body["data"]["node"] == {"name": "Agent Self", "contactVisibility": None}
    own = await agent("{ me { contactVisibility } }")
    assert own["me"]["contactVisibility"] == "ALL"
    body = await agent.execute(
        "query($id: ID!) { node(id: $id) { ... on User { contactVisibility } } }",
        {"id": world.user_ids["agent_self"]},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await agent.aclose()
    await manager.aclose()


async def test_get_never_runs_mutations(world):
    async with httpx.AsyncClient() as http:
        response = await http.get(
            world.served.http_url,
            params={"query": 'mutation { createAccessToken(name: "via get") { token } }'},
            headers={"Authorization": f"Bearer {world.tokens['owner']}"},
        )
        assert response.status_code >= 400
        response = await http.get(
            world.served.http_url,
            params={"query": "{ me { name } }"},
            headers={"Authorization": f"Bearer {world.tokens['owner']}"},
        )
        assert response.json()["data"]["me"]["name"]


async def test_websocket_auth_origin_and_malformed_frames(world):
    served = world.served
    socket = await connect_ws(served, "igt_wrong")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 4403
    socket = await connect_ws(served, None, payload={})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 4403
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect_ws(served, world.tokens["owner"], origin="http://evil.test")
    assert refused.value.response.status_code == 403
    socket = await connect_ws(served, world.tokens["owner"], origin=ALLOWED_ORIGIN)
    assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "connection_ack"
    await socket.send("{not json")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 4400
    socket = await connect_ws(served, world.tokens["owner"])
    assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "connection_ack"
    await socket.send(
        json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "subscription { nope }"}})
    )
    message = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert (
        message["type"] == "error"
        and message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    )
    await socket.close()
    # the server is still healthy after all of it
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{served.port}/healthz")).status_code == 200


async def test_no_input_produces_a_500(world):
    owner = world.client("owner")
    async with httpx.AsyncClient() as http:
        for body in (
            b"",
            b"{",
            b"[]",
            b'{"query": 5}',
            b'{"query": "{ me { id } }", "variables": "x"}',
        ):
            response = await http.post(
                world.served.http_url,
                content=body,
                headers={"Content-Type": "application/json", **owner.headers()},
            )
            assert response.status_code < 500, (body, response.status_code)
    await owner.aclose()


async def test_schema_file_matches_the_code():
    from pathlib import Path

    from graph.schema import schema

    checked_in = Path(__file__).resolve().parents[2] / "schema.graphql"
    assert checked_in.read_text(encoding="utf-8") == schema.as_str() + "\n", (
        "schema.graphql drifted: run `inbox-graph export-schema`"
    )


async def test_graphql_error_helper_reports_codes():
    error = GraphQLError([{"message": "x", "extensions": {"code": "NOT_FOUND"}}])
    assert error.codes == ["NOT_FOUND"]


async def test_bad_variables_are_the_clients_input_not_a_server_error(world):
    owner = world.client("owner")
    cases = [
        ("query($id: ID!) { node(id: $id) { id } }", {}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": None}),
        (
            "query($n: Int!) { conversations(inbox: {standard: ALL}, first: $n) { edges { cursor } } }",
            {"n": "ten"},
        ),
        (
            "query($i: InboxSelector!) { conversations(inbox: $i) { edges { cursor } } }",
            {"i": {"standard": "NOPE"}},
        ),
        (
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {"i": {"email": "x@y.test"}},
        ),
    ]
    for query, variables in cases:
        body = await owner.execute(query, variables)
        codes = [e["extensions"]["code"] for e in body["errors"]]
        assert codes and set(codes) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, (
            variables,
            body,
        )
        assert "Internal server error" not in body["errors"][0]["message"]
    await owner.aclose()


async def test_cors_allows_the_configured_origins_only(world):
    async with httpx.AsyncClient() as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        allowed = await http.options(
            world.served.http_url, headers={"Origin": ALLOWED_ORIGIN, **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        other = await http.options(
            world.served.http_url, headers={"Origin": "http://evil.test", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_request_level_errors_are_graphql_json_with_a_code(world):
    owner = world.client("owner")
    async with httpx.AsyncClient() as http:
        cases = [
            ("POST", b"{", {"Content-Type": "application/json"}),
            ("POST", b'{"variables": {}}', {"Content-Type": "application/json"}),
            (
                "POST",
                b'{"query": "query A { me { id } } query B { me { name } }"}',
                {"Content-Type": "application/json"},
            ),
            (
                "POST",
                b'{"query": "query A { me { id } }", "operationName": "Nope"}',
                {"Content-Type": "application/json"},
            ),
        ]
        for method, body, headers in cases:
            response = await http.request(
                method, world.served.http_url, content=body, headers={**headers, **owner.headers()}
            )
            assert response.status_code in (200, 400), (body, response.status_code)
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, (
                body,
                error,
            )
        response = await http.get(
            world.served.http_url,
            params={"query": 'mutation { createAccessToken(name: "x") { token } }'},
            headers=owner.headers(),
        )
        # GraphQL over HTTP: a mutation over GET MUST be answered 405
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await owner.aclose()

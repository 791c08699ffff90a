"""The viewer cache (issue 23, ``graph.auth.ViewerCache``): a server answers a token's requests
from its cache, yet once a mutation that changes a user, a team or a token has answered, the
next request sees the change, on that server and (with Redis) on any other sharing the
database; with the generations' Redis unreachable every request reads its viewer again.

Black-box: real servers (``inbox-graph serve``) over HTTP. Two servers stand for two workers of
``serve --workers 2``, whose requests cannot be aimed at one worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from tests.conftest import OWNER_EMAIL, PASSWORD, login
from tests.live.test_redis_faults import start_redis
from tests.support import Client, Served, free_port, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

ON_REDIS = os.environ.get("BROADCAST_URL", "").startswith("redis")

CREATE_USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }"
UPDATE_USER = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }"
CREATE_TEAM = "mutation($n: String!, $m: [ID!]) { createTeam(name: $n, memberIds: $m) { id } }"
CHANGE_PASSWORD = (
    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }"
)
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def new_user(owner: Client, world, visibility: str) -> tuple[str, str]:
    """A new agent with ``visibility`` and no team: its id and e-mail."""
    email = f"probe-{uuid.uuid4().hex[:8]}@{world.domain}"
    data = await owner(
        CREATE_USER,
        {
            "i": {
                "email": email,
                "name": "Probe",
                "password": PASSWORD,
                "role": "AGENT",
                "contactVisibility": visibility,
            }
        },
    )
    return data["createUser"]["id"], email


COUNTING = {"INBOX_GRAPH_COUNT_SQL_STATEMENTS": "1"}
"""Servers of this module report each request's statements (``X-SQL-Statements``)."""


async def statements(client: Client) -> int:
    """The statements of a request that reads nothing but its viewer (1, or 0 when cached)."""
    response = await client.raw("{ __typename }")
    assert response.json()["data"] == {"__typename": "Query"}, response.text
    return int(response.headers["x-sql-statements"])


async def warm(client: Client) -> None:
    """Use the client's token until its server answers it from the cache (from its third
    use, once the server can reach the generations)."""
    for _ in range(20):
        if await statements(client) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server never answered the token from its cache")


async def sees(client: Client, node_id: str) -> bool:
    body = await client.execute(NODE, {"id": node_id})
    return body["data"] is not None and body["data"]["node"] is not None


async def unauthenticated(client: Client) -> bool:
    return await client.error_codes("{ me { id } }") == ["UNAUTHENTICATED"]


async def check_changes_seen_on(world, writer: Served, reader: Served) -> None:
    """Each change made on ``writer`` is seen by the very next request on ``reader``, whose
    cache held the viewer from before."""
    owner = Client(writer, world.tokens["owner"])
    user_id, email = await new_user(owner, world, "ALL")
    clients = [owner]
    try:
        for _ in range(3):  # a logout (token revocation), a few times over
            token = await login(writer, email, PASSWORD)
            on_reader, on_writer = Client(reader, token), Client(writer, token)
            clients += [on_reader, on_writer]
            await warm(on_reader)
            assert await on_writer("mutation { logout }") == {"logout": True}
            assert await unauthenticated(on_reader)

        # contact visibility: ALL sees the unassigned contact, SELF does not
        on_reader = Client(reader, await login(writer, email, PASSWORD))
        clients.append(on_reader)
        await warm(on_reader)
        assert await sees(on_reader, world.contact_ids["c_none"])
        await owner(UPDATE_USER, {"id": user_id, "i": {"contactVisibility": "SELF"}})
        assert not await sees(on_reader, world.contact_ids["c_none"])

        # teams: TEAM sees its teammates' contacts once it shares a team with their assignee
        await owner(UPDATE_USER, {"id": user_id, "i": {"contactVisibility": "TEAM"}})
        await warm(on_reader)
        assert not await sees(on_reader, world.contact_ids["c_team"])
        members = [user_id, world.user_ids["agent_team"]]
        await owner(CREATE_TEAM, {"n": f"Probe {uuid.uuid4().hex[:6]}", "m": members})
        assert await sees(on_reader, world.contact_ids["c_team"])

        # a password change ends the user's other sessions
        current = Client(writer, await login(writer, email, PASSWORD))
        clients.append(current)
        await warm(on_reader)
        new_password = f"{PASSWORD} {uuid.uuid4().hex[:4]}"
        assert await current(CHANGE_PASSWORD, {"c": PASSWORD, "n": new_password})
        assert await unauthenticated(on_reader)

        # a deactivation ends every session
        on_reader = Client(reader, await login(writer, email, new_password))
        clients.append(on_reader)
        await warm(on_reader)
        await owner(UPDATE_USER, {"id": user_id, "i": {"isActive": False}})
        assert await unauthenticated(on_reader)
    finally:
        for client in clients:
            await client.aclose()


async def test_changes_are_seen_by_the_next_request_on_the_same_server(world, server_env):
    server = serve({**server_env, **COUNTING})
    try:
        await check_changes_seen_on(world, server, server)
    finally:
        server.stop()


@pytest.mark.skipif(not ON_REDIS, reason="servers share viewer generations through Redis only")
async def test_changes_are_seen_by_the_next_request_on_another_server(world, server_env):
    one, other = serve({**server_env, **COUNTING}), serve({**server_env, **COUNTING})
    try:
        await check_changes_seen_on(world, one, other)
        await check_changes_seen_on(world, other, one)
    finally:
        one.stop()
        other.stop()


@pytest.mark.skipif(not ON_REDIS, reason="servers share viewer generations through Redis only")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_without_redis_every_request_reads_its_viewer(world, server_env):
    """Redis gone: the writer cannot announce a change, and the reader, which cannot check
    its generations either, reads the viewer of every request (never stale); once Redis is
    back the cache works again, and still sees changes."""
    port = free_port()
    redis = start_redis(port)
    env = {**server_env, **COUNTING, "BROADCAST_URL": f"redis://127.0.0.1:{port}"}
    writer, reader = serve(env), serve(env)
    owner = Client(writer, world.tokens["owner"])
    _, email = await new_user(owner, world, "ALL")
    clients = [owner]
    try:
        for phase in ("down", "back"):
            token = await login(writer, email, PASSWORD)
            on_reader, on_writer = Client(reader, token), Client(writer, token)
            clients += [on_reader, on_writer]
            await warm(on_reader)
            if phase == "down":
                redis.kill()
                redis.wait(5)
                # still served, from the database: a statement each time
                assert [await statements(on_reader) for _ in range(3)] == [1, 1, 1]
            assert await on_writer("mutation { logout }") == {"logout": True}
            assert await unauthenticated(on_reader)
            if phase == "down":
                redis = start_redis(port)
    finally:
        for client in clients:
            await client.aclose()
        writer.stop()
        reader.stop()
        redis.kill()


@pytest.mark.skipif(ON_REDIS, reason="memory:// only: with Redis the workers share generations")
async def test_workers_without_redis_read_every_viewer(world, server_env):
    """``serve --workers 2`` with ``memory://``: a worker could not hear of a change made on
    the other, so neither caches (``INBOX_GRAPH_VIEWER_CACHE_SECONDS`` off)."""
    server = serve({**server_env, **COUNTING}, "--workers", "2")
    try:
        counts = []
        for _ in range(8):  # a new connection each: the workers take turns as they accept
            client = Client(server, world.tokens["owner"])
            counts += [await statements(client) for _ in range(3)]
            await client.aclose()
        assert counts == [1] * 24, counts
    finally:
        server.stop()


@pytest.mark.skipif(not ON_REDIS, reason="servers share viewer generations through Redis only")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_a_flushed_redis_never_hands_back_a_generation_a_server_holds(world, server_env):
    """The generations' Redis loses its keys (``FLUSHALL``, or a restart without persistence
    that the servers' connections survive): the next announcement must not produce a
    generation the reader cached a viewer under (an ``INCR`` of the missing key counts 1, 2, …
    again, as it did before the flush)."""
    port = free_port()
    process = start_redis(port)
    env = {**server_env, **COUNTING, "BROADCAST_URL": f"redis://127.0.0.1:{port}"}
    writer, reader = serve(env), serve(env)
    store = aioredis.Redis(port=port)
    owner = Client(writer, world.tokens["owner"])
    clients = [owner]
    try:
        # the workspace's first announcement, before any server read its generation
        user_id, email = await new_user(owner, world, "ALL")
        on_reader = Client(reader, await login(writer, email, PASSWORD))
        clients.append(on_reader)
        await warm(on_reader)
        assert await sees(on_reader, world.contact_ids["c_none"])
        await store.flushall()
        # a session the writer has not seen yet: its request reads no generation first
        owner_email = OWNER_EMAIL.replace("acme.test", world.domain)
        fresh = Client(writer, await login(writer, owner_email, PASSWORD))
        clients.append(fresh)
        await fresh(UPDATE_USER, {"id": user_id, "i": {"contactVisibility": "SELF"}})
        assert not await sees(on_reader, world.contact_ids["c_none"])
    finally:
        for client in clients:
            await client.aclose()
        await store.aclose()
        writer.stop()
        reader.stop()
        process.kill()


async def test_a_cached_token_stops_working_when_it_expires(world, server_env):
    """A token cached a moment before its ``expiresAt`` is refused from the first request
    after it, though nothing announced a change."""
    server = serve({**server_env, **COUNTING})
    owner = Client(server, world.tokens["owner"])
    clients = [owner]
    try:
        # long enough to be cached before it expires on a busy machine (3 s could be too short)
        expires_at = datetime.now(UTC) + timedelta(seconds=6)
        data = await owner(
            'mutation($e: DateTime) { createAccessToken(name: "brief", expiresAt: $e) { token } }',
            {"e": expires_at.isoformat()},
        )
        short = Client(server, data["createAccessToken"]["token"])
        clients.append(short)
        await warm(short)
        assert await statements(short) == 0  # from the cache
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.05)
        assert await unauthenticated(short)
    finally:
        for client in clients:
            await client.aclose()
        server.stop()

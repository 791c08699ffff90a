"""Redis going away: writes keep working, open subscriptions keep receiving events (read from
the outbox meanwhile), the workers reconnect, and nothing is missed or repeated, in order.

Runs a private ``redis-server`` on a free port (the machine's binary), so restarting it
disturbs nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from tests.live.helpers import NEW_MESSAGE
from tests.support import (
    Client,
    free_port,
    open_socket,
    receive,
    serve,
    subscribe,
    ws_operation,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="needs the redis-server binary"
    ),
]


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        if probe.stdout.strip() == "PONG":
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="module")
def private_redis():
    port = free_port()
    state = {"port": port, "process": start_redis(port)}
    yield state
    state["process"].kill()


@pytest.fixture(scope="module")
def served(server_env, private_redis):
    server = serve({**server_env, "BROADCAST_URL": f"redis://127.0.0.1:{private_redis['port']}"})
    yield server
    server.stop()


async def test_a_redis_restart_loses_no_event(world, served, private_redis):
    server, redis, redis_port = served, private_redis["process"], private_redis["port"]
    ingest = Client(server, world.integration_token)
    subscription = await subscribe(server, world.tokens["owner"], NEW_MESSAGE)
    await receive(world, "c_all", "before", client=ingest)
    assert (await subscription.next())["data"]["newMessage"]["message"]["text"] == "before"

    redis.kill()
    redis.wait(5)
    # queries and mutations keep working while Redis is away, and live events keep coming
    # (each worker reads the outbox while it cannot hear Redis)
    for text in ("during 1", "during 2", "during 3"):
        await receive(world, "c_all", text, client=ingest)
    me = await Client(server, world.tokens["owner"])("{ me { id } }")
    assert me["me"]["id"] == world.user_ids["owner"]
    texts = [
        (await subscription.next(timeout=10))["data"]["newMessage"]["message"]["text"]
        for _ in range(3)
    ]
    assert texts == ["during 1", "during 2", "during 3"]
    await receive(world, "c_all", "during 4", client=ingest)

    private_redis["process"] = start_redis(redis_port)
    try:
        # nothing is missed or repeated across the reconnection, even if nothing new is written
        assert (await subscription.next(timeout=15))["data"]["newMessage"]["message"][
            "text"
        ] == "during 4"
        await subscription.nothing(within=2.0)
        await receive(world, "c_all", "after", client=ingest)
        assert (await subscription.next(timeout=5))["data"]["newMessage"]["message"][
            "text"
        ] == "after"
        await subscription.nothing(within=0.5)
    finally:
        await subscription.close()
        await ingest.aclose()
    # the outage is told once, not once per failed publication or reconnection attempt
    log_file = os.path.join(server.env["TEST_LOG_DIR"], f"inbox-graph-{server.port}.log")
    with open(log_file) as log:  # noqa: ASYNC230 - a small local file, read once
        # (serve's first line says where the API is, and a checkout without graph/ide's
        # npm packages says so at start: not about the outage)
        startup = (
            "INFO",
            "inbox-graph: the API on",
            "GraphiQL's assets are not installed",
            "The live page's graphql-ws client is not installed",
        )
        lines = [line for line in log if not line.startswith(startup)]
    assert not any("Traceback" in line for line in lines), "".join(lines)
    # (the bus and the publisher: 4 lines; the rate-limit storage and the viewer generations,
    # on the same Redis: 2 each)
    assert len(lines) <= 8, "".join(lines)


@pytest.fixture(scope="module")
def hurried(server_env, private_redis):
    """A server answering within 1.5 seconds, publishing to the private Redis; its budgets in
    memory, so that a Redis refusing writes stalls only the announcement of a write."""
    server = serve(
        {
            **server_env,
            "BROADCAST_URL": f"redis://127.0.0.1:{private_redis['port']}",
            "INBOX_GRAPH_RATE_LIMIT_URL": "memory://",
            "INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS": "1.5",
        }
    )
    yield server
    server.stop()


def redis_cli(port: int, *command: str) -> None:
    subprocess.run(["redis-cli", "-p", str(port), *command], check=True, capture_output=True)


async def test_a_request_stopped_after_its_write_committed_says_it_was_saved(
    world, hurried, private_redis
):
    """A write commits, then Redis stalls its announcement past the request's time limit: the
    504 cannot roll the write back, so it says it was saved (``extensions.saved``) instead of
    "stopped" alone, which told a client to send it again (a helper's review); sent again
    with its ``idempotencyKey``, it gets the saved answer and nothing is written twice."""
    send = """mutation($i: SendMessageInput!, $k: String) {
      sendMessage(input: $i, idempotencyKey: $k) { message { id text } conversation { id } } }"""
    variables = {
        "i": {"contactId": world.contact_ids["c_all"], "text": "Saved though stopped"},
        "k": f"stalled-{time.time_ns()}",
    }
    owner = Client(hurried, world.tokens["owner"])
    port = private_redis["port"]
    try:
        redis_cli(port, "CLIENT", "PAUSE", "5000", "WRITE")  # PUBLISH waits
        try:
            response = await owner.raw(send, variables)
        finally:
            redis_cli(port, "CLIENT", "UNPAUSE")
        assert response.status_code == 504, response.text
        stopped = response.json()
        (error,) = stopped["errors"]
        assert error["extensions"]["code"] == "TIMEOUT", stopped
        assert error["extensions"]["saved"] is True, stopped
        assert "saved" in error["message"] and "idempotencyKey" in error["message"]

        again = (await owner(send, variables))["sendMessage"]
        assert again["message"]["text"] == "Saved though stopped"
        messages = await owner(
            """query($id: ID!) { node(id: $id) { ... on Conversation {
              messages(last: 100) { nodes { text } } } } }""",
            {"id": again["conversation"]["id"]},
        )
        texts = [m["text"] for m in messages["node"]["messages"]["nodes"]]
        assert texts.count("Saved though stopped") == 1, texts

        # the same over a WebSocket: a `next` with the TIMEOUT error, saved
        socket = await open_socket(hurried, world.tokens["owner"])
        variables = {**variables, "k": f"stalled-ws-{time.time_ns()}"}
        try:
            redis_cli(port, "CLIENT", "PAUSE", "5000", "WRITE")
            try:
                outcome = await ws_operation(socket, send, variables, timeout=10)
            finally:
                redis_cli(port, "CLIENT", "UNPAUSE")
        finally:
            await socket.close()
        (error,) = outcome["payload"]["errors"]
        assert error["extensions"]["code"] == "TIMEOUT", outcome
        assert error["extensions"]["saved"] is True, outcome
    finally:
        await owner.aclose()

"""The database goes away under load and comes back: nothing acknowledged is lost, nobody gets
a 500, and what happens meanwhile is said with codes a client can act on.

Runs a private PostgreSQL cluster (the machine's binaries, a free port), so stopping it
disturbs nothing else; in the PostgreSQL run of the suite (with its Redis, if any).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid

import pytest
import websockets

from tests.conftest import RECEIVE
from tests.support import Client, PrivatePostgres, connect_ws, serve, subscribe

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="runs in the PostgreSQL run of the suite (on a private cluster of its own)",
    ),
]

HISTORY = 1500
"""Messages written before the test's subscriptions, which six of them replay."""
DOCUMENT = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text author { name } } conversation { contact { name } } }
}"""


@pytest.fixture(scope="module")
def private_postgres():
    cluster = PrivatePostgres()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def served(server_env, private_postgres):
    server = serve(
        {
            **server_env,
            "DATABASE_URL": private_postgres.url,
            # this cluster's database is called "postgres", like others sharing the machine's Redis
            "INBOX_GRAPH_CHANNEL_NAMESPACE": f"outage-{uuid.uuid4().hex[:8]}",
        }
    )
    yield server
    server.stop()


def _log_of(server) -> str:
    with open(os.path.join(server.env["TEST_LOG_DIR"], f"inbox-graph-{server.port}.log")) as log:
        return log.read()


class Writer:
    """A partner's ingestion script: one message after another, each retried with the same
    external id until acknowledged (receiveMessage is idempotent on it); it records every
    status it got."""

    def __init__(self, world) -> None:
        self.world = world
        self.client = Client(world.served, world.integration_token)
        self.acknowledged: list[str] = []
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        self.running = True

    async def run(self) -> None:
        index = 0
        while self.running:
            text, external = f"outage {index}", uuid.uuid4().hex
            while True:
                response = await self.client.raw(
                    RECEIVE,
                    {
                        "i": {
                            "channelId": self.world.channel_ids["WEBCHAT"],
                            "from": "visitor-c_all",
                            "externalMessageId": external,
                            "text": text,
                        }
                    },
                )
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    body = response.json()
                    assert not body.get("errors"), body
                    self.acknowledged.append(text)
                    break
                self.bodies.append(
                    {
                        "status": response.status_code,
                        "headers": dict(response.headers),
                        "body": response.json(),
                    }
                )
                await asyncio.sleep(0.2)
            index += 1
            await asyncio.sleep(0.05)


class Reader:
    """One subscription read continuously in the background, as a dashboard does."""

    def __init__(self, socket, operation_id: str) -> None:
        self.socket, self.operation_id = socket, operation_id
        self.texts: list[str] = []
        self.sequences: list[int] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") != self.operation_id:
                continue
            assert message["type"] == "next", (len(self.texts), message)
            assert not message["payload"].get("errors"), (len(self.texts), message)
            event = message["payload"]["data"]["newMessage"]
            self.texts.append(event["message"]["text"])
            self.sequences.append(event["sequence"])

    async def until(self, texts: set[str], timeout: float) -> None:
        """Wait until every one of ``texts`` arrived (or the reader failed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not texts <= set(self.texts):
            if self.task.done():
                self.task.result()  # raises what ended it
                raise AssertionError("the subscription's socket closed")
            missing = sorted(texts - set(self.texts))
            assert asyncio.get_running_loop().time() < deadline, (
                f"{len(missing)} messages never arrived, e.g. {missing[:3]}; last {self.sequences[-3:]}"
            )
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.socket.close()


async def _open(served, token: str, after: int | None = None) -> Reader:
    subscription = await subscribe(served, token, DOCUMENT, {"after": after})
    return Reader(subscription.socket, subscription.operation_id)


async def _ingest(world, count: int) -> list[str]:
    client = Client(world.served, world.integration_token)
    texts = [f"history {i}" for i in range(count)]

    async def one(text: str) -> None:
        await client(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": "visitor-c_all",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": text,
                }
            },
        )

    for start in range(0, count, 8):
        await asyncio.gather(*(one(text) for text in texts[start : start + 8]))
    await client.aclose()
    return texts


async def test_a_database_restart_under_load_loses_nothing_and_answers_no_500(
    world, served, private_postgres
):
    # the history replaying subscribers read while the database goes away
    probe = await _open(served, world.tokens["owner"])
    await _ingest(world, 1)
    await probe.until({"history 0"}, timeout=10)
    start = probe.sequences[0]
    await probe.close()
    history = await _ingest(world, HISTORY)
    live = [await _open(served, world.tokens[user]) for user in ("owner", "agent_all", "manager")]
    socket = await connect_ws(served, world.tokens["agent_all"])  # to subscribe during the outage
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
    writer = Writer(world)
    writing = asyncio.create_task(writer.run())
    replaying = [
        await _open(served, world.tokens[user], after=start)
        for user in ("owner", "agent_all", "manager", "agent_free", "agent_team", "owner")
    ]
    try:
        # every replay under way: one whose first read the outage interrupts is refused with
        # SERVICE_UNAVAILABLE (as a subscribe during the outage is, below), not waited out
        deadline = asyncio.get_running_loop().time() + 30
        while len(writer.acknowledged) < 5 or not all(reader.texts for reader in replaying):
            for reader in replaying:
                if reader.task.done():
                    reader.task.result()  # raises what ended it
            assert asyncio.get_running_loop().time() < deadline, "the replays did not start"
            await asyncio.sleep(0.05)
        # the database goes away while the replays are under way
        await asyncio.to_thread(private_postgres.stop, "immediate")
        behind = [len(reader.texts) for reader in replaying]
        assert min(behind) < HISTORY, f"the replays finished before the outage: {behind}"

        owner = world.client("owner")
        # HTTP: 503 with a GraphQL error and Retry-After
        response = await owner.raw("{ me { id } }")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert int(response.headers["retry-after"]) >= 1
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [
            "SERVICE_UNAVAILABLE"
        ]
        # a subscribe on an open socket gets a coded error; the socket stays usable
        await socket.send(
            json.dumps({"id": "during", "type": "subscribe", "payload": {"query": DOCUMENT}})
        )
        await socket.send(json.dumps({"type": "ping"}))
        refused = None
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message.get("id") == "during":
                refused = message
            if message["type"] == "pong":
                break
        assert refused is not None and refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        await socket.close()
        # a new connection is told to come back later (1013), not dropped
        fresh = await connect_ws(served, world.tokens["owner"])
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(fresh.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        await asyncio.sleep(3)  # an outage of a few seconds, under the writer's retries

        await asyncio.to_thread(private_postgres.start)
        count = len(writer.acknowledged)
        deadline = asyncio.get_running_loop().time() + 30
        while len(writer.acknowledged) < count + 10:
            assert asyncio.get_running_loop().time() < deadline, "writes did not resume"
            await asyncio.sleep(0.1)
    finally:
        writer.running = False
        await writing
        await writer.client.aclose()

    # every acknowledged message reaches every subscriber, once, in order
    acknowledged = set(writer.acknowledged)
    for reader in live:
        await reader.until(acknowledged, timeout=30)
    for reader in replaying:
        await reader.until(acknowledged | set(history), timeout=60)
    for reader in live + replaying:
        assert reader.sequences == sorted(set(reader.sequences)), "out of order or duplicated"
        await reader.close()
    assert 500 not in writer.statuses
    assert {b["status"] for b in writer.bodies} <= {503}, writer.bodies[:3]
    assert all(
        b["body"]["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE" for b in writer.bodies
    )
    log = _log_of(served)
    assert "Traceback" not in log, log[-3000:]
    assert log.count("database unavailable") <= 2, log[-3000:]

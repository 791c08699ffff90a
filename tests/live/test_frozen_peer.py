"""A peer that stops reading (a frozen tab, a stopped process, a client replaying a backlog it
never reads) while its TCP stack still acknowledges: it does not answer the server's ping
(``INBOX_GRAPH_WS_PING_SECONDS``), so its connection is dropped (``graph.ws_compression``), with
its subscriptions, instead of holding them and megabytes of buffers behind a close frame that
could never go out; the client sees a dropped connection (1006, which ``graphql-ws`` retries),
not a 1011 (which it takes as fatal); and stopping the server does not wait for it."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from tests.clients import run_node
from tests.live.helpers import flood, heavy_subscription
from tests.support import RECEIVE, Client, GraphQLError, RawWebSocket, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEAVY = heavy_subscription("inbox: {standard: UNASSIGNED}")
PLAIN = "subscription { newMessage { sequence message { text } } }"


async def back_up(served, world) -> RawWebSocket:
    """A socket of ``agent_all`` with one heavy subscription, backed up: it reads nothing while
    messages arrive."""
    client = await asyncio.to_thread(RawWebSocket, served)
    client.send(
        {
            "type": "connection_init",
            "payload": {"authorization": f"Bearer {world.tokens['agent_all']}"},
        }
    )
    assert json.loads((await asyncio.to_thread(client.frame))[1])["type"] == "connection_ack"
    client.send({"id": "H", "type": "subscribe", "payload": {"query": HEAVY}})
    await asyncio.sleep(0.5)
    integration = Client(served, world.tokens["integration"])
    await flood(world, "c_none", 40, integration)
    await integration.aclose()
    return client


def read_to_the_end(client: RawWebSocket) -> list[int]:
    """The close codes of the close frames the socket still delivers before it ends."""
    client.sock.settimeout(10)
    codes = []
    try:
        while True:
            opcode, payload = client.frame()
            if opcode == 8:
                codes.append(int.from_bytes(payload[:2], "big"))
    except (ConnectionError, TimeoutError):
        return codes


async def test_a_peer_that_reads_nothing_is_dropped_and_frees_its_subscriptions(world):
    served = serve(
        {
            **world.served.env,
            "INBOX_GRAPH_WS_PING_SECONDS": "1",
            "INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER": "1",
        }
    )
    frozen = None
    try:
        frozen = await back_up(served, world)
        # the frozen socket holds agent_all's one subscription until it is dropped: unanswered
        # pings (1 s apart, 1 s to answer) drop it within a few seconds
        for _ in range(40):
            await asyncio.sleep(0.5)
            try:
                fresh = await subscribe(served, world.tokens["agent_all"], PLAIN)
                break
            except GraphQLError as refused:
                assert "subscriptions" in str(refused), refused  # the per-user limit
        else:
            raise AssertionError("the frozen peer kept its subscription")
        integration = Client(served, world.tokens["integration"])
        await receive(world, "c_all", "after the frozen peer", client=integration)
        got = await asyncio.wait_for(fresh.next(), 10)
        assert got["data"]["newMessage"]["message"]["text"] == "after the frozen peer"
        await fresh.close()
        await integration.aclose()
        # reading again, the frozen client finds its connection dropped, not closed with 1011
        assert 1011 not in await asyncio.to_thread(read_to_the_end, frozen)
    finally:
        if frozen is not None:
            frozen.close()
        served.stop()


async def test_stopping_the_server_does_not_wait_for_a_backed_up_socket(world):
    served = serve(world.served.env)  # pinged every 20 s: none is missed while this runs
    frozen = None
    try:
        frozen = await back_up(served, world)
        served.process.terminate()
        # uvicorn waits up to 10 s for its connections, then cancels them and says so
        await asyncio.to_thread(served.process.wait, 30)  # uvicorn exits by the signal it got
        said = await asyncio.to_thread(Path(served.log_path).read_text)
        assert "graceful shutdown exceeded" not in said, said[-2000:]
    finally:
        if frozen is not None:
            frozen.close()
        served.stop()


async def test_the_graphql_ws_client_reconnects_after_its_stalled_socket_is_dropped(world):
    """graphql-ws (Node) whose first socket stops answering pings: the server drops it, the
    client connects again by itself and its subscription gets the next message. The 1011 it
    was closed with before is one of the codes graphql-ws never retries: it gave up."""
    served = serve({**world.served.env, "INBOX_GRAPH_WS_PING_SECONDS": "1"})
    try:
        text = f"after the stall {uuid.uuid4().hex}"
        body = {
            "query": RECEIVE,
            "variables": {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": "visitor-c_none",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": text,
                }
            },
        }
        outcome = await asyncio.to_thread(
            run_node,
            "ws-stalled.mjs",
            served.ws_url,
            world.tokens["agent_all"],
            served.http_url,
            json.dumps(body),
            env={"INGEST_TOKEN": world.tokens["integration"]},
            timeout=90,
        )
        assert outcome["gaveUp"] is False, outcome
        assert outcome["connects"] >= 2 and 1011 not in outcome["closes"], outcome
        assert text in outcome["texts"], outcome
    finally:
        served.stop()

"""A watchdog over the live path: many subscribers replay the same events while others abort
their sockets mid-replay, round after round, and no survivor is left behind.

Every subscriber of an event in a process resolves it with the same loaders and, for the
same document and view, the same shared execution. A subscriber that goes away in the middle
(its client vanishes without a close frame) has its task cancelled; that cancellation must not
reach the loads the others are waiting on (issue 16: survivors stalled, silent, with their
socket open). Each survivor must receive every event it may see, in order, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

import pytest

from tests.conftest import RECEIVE
from tests.support import Client, connect_ws

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVENTS = 600
ROUNDS = 3
SOCKETS = 40
USERS = ("owner", "manager", "agent_all", "agent_free", "agent_team")
# contacts every one of USERS may see: assigned to agent_team and to its teammate agent_all
CONTACTS = ("c_team", "c_all")
DOCUMENT = """subscription($after: Int) {
  newMessage(afterSequence: $after) {
    sequence
    message { text direction author { name } }
    conversation { status contact { name assignee { name } } }
  }
}"""
STALL_SECONDS = 20.0
"""A survivor that receives nothing for this long while events remain is stuck."""


async def _ingest(world, count: int) -> None:
    """Ingest ``count`` messages from :data:`CONTACTS`, a few at a time."""
    client = Client(world.served, world.integration_token)

    async def one(i: int) -> None:
        contact = CONTACTS[i % len(CONTACTS)]
        data = await client(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": f"visitor-{contact}",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": f"replayed {i}",
                }
            },
        )
        assert not data["receiveMessage"]["duplicate"]

    for start in range(0, count, 8):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 8, count))))
    await client.aclose()


async def _subscriber(
    world, user: str, after: int, abort_after: int | None, expected: int
) -> list[int]:
    """Replay from ``after``; abort the TCP connection (no close frame) after ``abort_after``
    frames, or read until ``expected`` events arrived. Returns the sequences received."""
    socket = await connect_ws(world.served, world.tokens[user])
    received: list[int] = []
    try:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": DOCUMENT, "variables": {"after": after}},
                }
            )
        )
        while len(received) < expected:
            if abort_after is not None and len(received) >= abort_after:
                socket.transport.abort()
                return received
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), STALL_SECONDS))
            except TimeoutError:
                raise AssertionError(
                    f"{user}'s subscription stalled after {len(received)} of {expected} events "
                    f"(last sequence {received[-1] if received else after})"
                ) from None
            if message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            assert not message["payload"].get("errors"), message
            received.append(message["payload"]["data"]["newMessage"]["sequence"])
        return received
    finally:
        if abort_after is None:
            await socket.close()


async def test_survivors_of_aborted_replays_receive_every_event(world):
    start = await _sequence_of_latest_message(world)
    await _ingest(world, EVENTS)
    rng = random.Random(16)
    for round_number in range(ROUNDS):
        started = time.monotonic()
        plan = []
        for index in range(SOCKETS):
            user = USERS[index % len(USERS)]
            abort_after = rng.randint(1, EVENTS - 50) if index % 2 else None
            plan.append((user, abort_after))
        results = await asyncio.gather(
            *(_subscriber(world, user, start, abort_after, EVENTS) for user, abort_after in plan)
        )
        for (user, abort_after), sequences in zip(plan, results, strict=True):
            if abort_after is None:
                assert len(sequences) == EVENTS, (round_number, user, len(sequences))
                assert sequences == sorted(set(sequences)), "out of order or duplicated"
                assert sequences[0] > start
        print(f"round {round_number}: {time.monotonic() - started:.1f} s")


async def _sequence_of_latest_message(world) -> int:
    """Ingest one message and return its sequence, as a live subscriber receives it."""
    socket = await connect_ws(world.served, world.tokens["owner"])
    try:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "s",
                    "type": "subscribe",
                    "payload": {"query": "subscription { newMessage { sequence } }"},
                }
            )
        )
        await socket.send(json.dumps({"type": "ping"}))
        while json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] != "pong":
            pass
        await asyncio.sleep(0.2)
        client = world.client("integration")
        await client(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": "visitor-c_team",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": "sequence probe",
                }
            },
        )
        await client.aclose()
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "next":
                return message["payload"]["data"]["newMessage"]["sequence"]
    finally:
        await socket.close()

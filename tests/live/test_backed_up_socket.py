"""An operation id belongs to the client: once it completes an id, nothing more arrives under
it, whatever the server was still writing for the ended operation, and a new operation under
the same id is a normal one (4409 on a duplicate, stopped by ``complete``). The hard case is a
socket whose writes are backed up while a subscription ends with an error."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.live.helpers import flood, heavy_subscription
from tests.support import RawWebSocket, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEAVY = heavy_subscription("inbox: {standard: UNASSIGNED}")
TEAM_INBOX = (
    "subscription($t: ID!) { newMessage(inbox: {teamId: $t}) { sequence message { text } } }"
)
PLAIN = "subscription { newMessage { sequence message { text } } }"
UPDATE_TEAM = "mutation($t: ID!, $m: [ID!]) { updateTeam(id: $t, memberIds: $m) { id } }"


def frames(client: RawWebSocket, quiet: float) -> list[dict]:
    """Every frame until ``quiet`` seconds pass without one (a close frame as ``CLOSE``)."""
    client.sock.settimeout(quiet)
    received = []
    try:
        while True:
            opcode, payload = client.frame()
            if opcode == 8:
                received.append({"type": "CLOSE", "code": int.from_bytes(payload[:2], "big")})
                return received
            received.append(json.loads(payload))
    except TimeoutError:
        return received


def of(received: list[dict], operation_id: str) -> list[str]:
    return [f["type"] for f in received if f.get("id") == operation_id or f["type"] == "CLOSE"]


async def test_a_completed_id_gets_nothing_more_even_from_an_ending_subscription(world):
    owner, integration = world.client("owner"), world.client("integration")
    alpha = world.team_ids["Alpha"]
    members = [world.user_ids[n] for n in ("manager", "agent_all", "agent_team", "agent_self")]
    client = await asyncio.to_thread(RawWebSocket, world.served)
    try:
        client.send(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {world.tokens['agent_all']}"},
            }
        )
        assert json.loads((await asyncio.to_thread(client.frame))[1])["type"] == "connection_ack"
        client.send(
            {
                "id": "X",
                "type": "subscribe",
                "payload": {"query": TEAM_INBOX, "variables": {"t": alpha}},
            }
        )
        client.send({"id": "H", "type": "subscribe", "payload": {"query": HEAVY}})
        await asyncio.sleep(0.5)
        # the client reads nothing from here: H's frames back the socket up
        await flood(world, "c_none", 60, integration)
        # X ends with FORBIDDEN (its subscriber leaves the team) while no frame can be written
        await owner(
            UPDATE_TEAM, {"t": alpha, "m": [m for m in members if m != world.user_ids["agent_all"]]}
        )
        await asyncio.sleep(1.0)
        client.send({"id": "X", "type": "complete"})
        client.send({"id": "X", "type": "subscribe", "payload": {"query": PLAIN}})
        await asyncio.sleep(1.0)
        backlog = await asyncio.to_thread(frames, client, 2.0)
        assert of(backlog, "X") == []  # neither the old X's error nor its complete
        assert of(backlog, "H").count("next") > 0
        await receive(world, "c_all", "to the new X", client=integration)
        assert of(await asyncio.to_thread(frames, client, 1.5), "X") == ["next"]
        # the new X is registered under its id: a second subscribe with it is refused
        client.send({"id": "X", "type": "subscribe", "payload": {"query": PLAIN}})
        assert (await asyncio.to_thread(frames, client, 3.0))[-1:] == [
            {"type": "CLOSE", "code": 4409}
        ]
    finally:
        await owner(UPDATE_TEAM, {"t": alpha, "m": members})
        await owner.aclose()
        await integration.aclose()
        client.close()

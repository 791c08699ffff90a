"""Two server processes writing one database at once: ``inbox-graph serve --workers 2`` (with
Redis), or a second server beside the first. On SQLite, a transaction that read before another
process committed could not write any more ("database is locked" at once, whatever the busy
timeout): those writes were refused with ``SERVICE_UNAVAILABLE``. Every write is taken here,
through real HTTP to both servers, and each inbound message is kept once."""

from __future__ import annotations

import asyncio
import uuid

from tests.support import RECEIVE, Client, serve

WRITERS = 12
"""Concurrent writers per server."""

ROUNDS = 4
"""Messages each writer sends in turn."""


async def test_two_servers_writing_one_database_lose_no_write(world) -> None:
    second = serve(world.served.env)
    clients = [
        Client(world.served, world.integration_token),
        Client(second, world.integration_token),
    ]
    run = uuid.uuid4().hex[:8]
    try:

        async def writer(client: Client, name: str) -> list[dict]:
            bodies = []
            for round_ in range(ROUNDS):
                # a new contact on the first round (read its identity, then insert), then
                # messages to it (read the open conversation, then update it)
                response = await client.raw(
                    RECEIVE,
                    {
                        "i": {
                            "channelId": world.channel_ids["WEBCHAT"],
                            "from": f"writer-{run}-{name}",
                            "externalMessageId": f"{run}-{name}-{round_}",
                            "text": f"round {round_}",
                        }
                    },
                )
                bodies.append({"status": response.status_code, **response.json()})
            return bodies

        results = await asyncio.gather(
            *(
                writer(client, f"{side}-{n}")
                for side, client in enumerate(clients)
                for n in range(WRITERS)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
        second.stop()
    refused = [body for bodies in results for body in bodies if body.get("errors")]
    assert not refused, refused[:3]
    assert {body["status"] for bodies in results for body in bodies} == {200}
    contacts = {
        body["data"]["receiveMessage"]["contact"]["id"] for bodies in results for body in bodies
    }
    assert len(contacts) == 2 * WRITERS
    for bodies in results:
        assert len({body["data"]["receiveMessage"]["contact"]["id"] for body in bodies}) == 1
        assert not any(body["data"]["receiveMessage"]["duplicate"] for body in bodies)

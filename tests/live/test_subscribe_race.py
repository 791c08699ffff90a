"""A subscription starting while the subscriber's visibility changes (``domain.md`` sections 1
and 7): whatever it delivers afterwards is authorised with the new visibility."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support import NEW_MESSAGE, open_socket, receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

SET_VISIBILITY = (
    "mutation($u: ID!, $v: ContactVisibility!) { updateUser(id: $u, input: {contactVisibility: $v})"
    " { id } }"
)


async def _start(socket) -> str:
    operation_id = uuid.uuid4().hex
    await socket.send(
        json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": NEW_MESSAGE}})
    )
    return operation_id


async def test_a_subscription_started_as_visibility_narrows_uses_the_new_visibility(world):
    """Subscriptions started while an owner narrows an agent's visibility (ALL to SELF): none
    may deliver a message of another agent's contact committed after the change. A
    subscription started from the sequence read after its viewer, so a change committed in
    between was never applied to it (it delivered with ALL for as long as it lived)."""
    owner = world.client("owner")
    user = world.user_ids["agent_free"]
    sockets = [await open_socket(world.served, world.tokens["agent_free"]) for _ in range(40)]
    try:
        for round_ in range(3):
            started = []

            async def narrow(delay: float) -> None:
                await asyncio.sleep(delay)
                await owner(SET_VISIBILITY, {"u": user, "v": "SELF"})

            async def start_all(started: list) -> None:
                for socket in sockets:
                    started.append((socket, await _start(socket)))
                    await asyncio.sleep(0.002)

            await asyncio.gather(narrow(0.02 * (round_ + 1)), start_all(started))
            await asyncio.sleep(0.5)
            await receive(world, "c_all", f"agent_all's, after agent_free became SELF {round_}")
            await asyncio.sleep(1.0)
            leaked = 0
            for socket, operation_id in started:
                while True:
                    try:
                        message = json.loads(await asyncio.wait_for(socket.recv(), 0.05))
                    except TimeoutError:
                        break
                    if message.get("type") == "next" and message.get("id") == operation_id:
                        leaked += 1
                await socket.send(json.dumps({"id": operation_id, "type": "complete"}))
            await owner(SET_VISIBILITY, {"u": user, "v": "ALL"})
            assert leaked == 0, f"round {round_}: {leaked} of {len(started)} got the message"
    finally:
        await owner(SET_VISIBILITY, {"u": user, "v": "ALL"})
        for socket in sockets:
            await socket.close()
        await owner.aclose()

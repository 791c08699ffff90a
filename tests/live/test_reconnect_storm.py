"""A reconnect storm (issue 23): many dashboards resume with the same ``afterSequence`` at once
while messages keep arriving. Each gets every message it missed and every live one, in order,
exactly once, in frames any WebSocket client decodes (the pre-framed writes of
``graph.ws_compression.FrameWriter`` and the shared outbox reads of
``graph.live.read_outbox_shared_batch``)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support import Client, connect_ws, receive, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""

DASHBOARDS = 40


async def _resume(
    served, token: str, after: int, wanted: int, linger: float = 0.0
) -> list[tuple[int, str]]:
    """One dashboard: connect, resume after ``after``, and collect ``wanted`` messages (and
    any more arriving within ``linger`` seconds after them)."""
    socket = await connect_ws(served, token)
    try:
        ack = json.loads(await asyncio.wait_for(socket.recv(), 30))
        assert ack["type"] == "connection_ack", ack
        operation_id = uuid.uuid4().hex
        await socket.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {"query": NEW_MESSAGE, "variables": {"after": after}},
                }
            )
        )
        got: list[tuple[int, str]] = []
        while True:
            try:
                timeout = 30 if len(got) < wanted else linger
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            except TimeoutError:
                if len(got) < wanted:
                    raise
                return got
            if message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
                continue
            assert message.get("id") == operation_id and message["type"] == "next", message
            assert not message["payload"].get("errors"), message
            event = message["payload"]["data"]["newMessage"]
            got.append((event["sequence"], event["message"]["text"]))
    finally:
        await socket.close()


@pytest.fixture(scope="module")
def compressing_server(server_env):
    """The app compressing its frames (``INBOX_GRAPH_WS_COMPRESSION=bounded``): every frame
    goes through uvicorn's send, never the pre-framed writes."""
    server = serve({**server_env, "INBOX_GRAPH_WS_COMPRESSION": "bounded"})
    yield server
    server.stop()


@pytest.mark.parametrize("compression", ["off", "bounded"])
async def test_dashboards_resuming_at_once_get_every_message_once_in_order(
    world, request, compression
):
    """Forty dashboards resume after the same sequence while messages keep arriving: the
    replay's payloads are computed once for all of them (``graph.fanout.prefetch``) and
    delivered without awaiting each (``LiveStream._deliver_computed``), or through uvicorn's
    send when the socket compresses (the browser's offer, accepted with ``bounded``)."""
    served = world.served
    ingest = None
    if compression == "bounded":  # memory:// events stay in one process: ingest there too
        served = request.getfixturevalue("compressing_server")
        ingest = Client(served, world.integration_token)
    token = world.tokens["owner"]
    try:
        probe = await subscribe(served, token, NEW_MESSAGE)
        try:
            await receive(world, "c_all", "before the deploy", client=ingest)
            after = (await probe.next())["data"]["newMessage"]["sequence"]
        finally:
            await probe.close()
        missed = [f"missed {i}" for i in range(3)]
        for text in missed:
            await receive(world, "c_all", text, client=ingest)
        live = [f"live {i}" for i in range(2)]

        async def keep_writing() -> None:
            for text in live:
                await asyncio.sleep(0.05)
                await receive(world, "c_all", text, client=ingest)

        wanted = len(missed) + len(live)
        results = await asyncio.gather(
            *(_resume(served, token, after, wanted) for _ in range(DASHBOARDS)),
            keep_writing(),
        )
    finally:
        if ingest is not None:
            await ingest.aclose()
    for got in results[:DASHBOARDS]:
        assert [text for _, text in got] == missed + live
        sequences = [sequence for sequence, _ in got]
        assert sequences == sorted(set(sequences)) and sequences[0] > after


async def test_viewers_of_each_visibility_resuming_at_once_get_only_what_they_may_see(world):
    """Dashboards of the owner and of agents of each visibility resume after the same sequence
    at once: they read one batch (its deliveries shared, and what each comes to kept per
    selection group: ``LiveStream._deliver_computed``), yet each gets exactly what the live
    path delivers to its viewer (``domain.md`` section 7), nothing of another group's."""
    viewers = ["owner", "agent_all", "agent_team", "agent_self", "agent_beta"]
    contacts = ["c_all", "c_team", "c_self", "c_beta", "c_none"]
    probe = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    references = {v: await subscribe(world.served, world.tokens[v], NEW_MESSAGE) for v in viewers}
    try:
        await receive(world, "c_all", "before the deploy")
        after = (await probe.next())["data"]["newMessage"]["sequence"]
        missed = [f"missed from {contact}" for contact in contacts]
        for contact, text in zip(contacts, missed, strict=True):
            await receive(world, contact, text)
        expected: dict[str, list[str]] = {}
        for viewer, reference in references.items():
            seen = []
            while True:
                try:
                    event = await reference.next(timeout=1.5)
                except TimeoutError:
                    break
                seen.append(event["data"]["newMessage"]["message"]["text"])
            expected[viewer] = [text for text in seen if text in missed]
    finally:
        await probe.close()
        for reference in references.values():
            await reference.close()
    assert expected["owner"] == missed
    assert len(expected["agent_self"]) < len(missed)  # the views differ: sharing would show

    per_viewer = 3
    results = await asyncio.gather(
        *(
            _resume(world.served, world.tokens[viewer], after, len(expected[viewer]), linger=1.0)
            for viewer in viewers
            for _ in range(per_viewer)
        )
    )
    for index, viewer in enumerate(viewers):
        for got in results[index * per_viewer : (index + 1) * per_viewer]:
            assert [text for _, text in got] == expected[viewer], viewer


async def test_dashboards_resuming_one_after_another_while_messages_arrive_get_every_one(world):
    """Dashboards resume after the same sequence one after another, a message arriving before
    each, while another subscription keeps the workspace listened to: the later ones replay
    what was read for the first (``graph.live.KeptReplays``), extended by what arrived since,
    and each gets every message it missed, once, in order (which reads go to the database:
    ``tests/live/test_kept_replays.py``)."""
    token = world.tokens["owner"]
    probe = await subscribe(world.served, token, NEW_MESSAGE)
    try:
        await receive(world, "c_all", "before the deploy")
        after = (await probe.next())["data"]["newMessage"]["sequence"]
        missed: list[str] = []
        for index in range(5):
            missed.append(f"arrived before dashboard {index}")
            await receive(world, "c_all", missed[-1])
            got = await _resume(world.served, token, after, len(missed), linger=0.3)
            assert [text for _, text in got] == missed, index
            sequences = [sequence for sequence, _ in got]
            assert sequences == sorted(set(sequences)) and sequences[0] > after
    finally:
        await probe.close()

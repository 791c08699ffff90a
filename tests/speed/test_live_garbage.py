"""No subscription leaves cyclic garbage (issue 23, reconnect storms).

A reconnect storm is thousands of sockets each opening one subscription (``newMessage``
resuming with ``afterSequence``), getting its events and, at the next deploy, going away.
Whatever one of them leaves in reference cycles waits for the cyclic garbage collector, whose
youngest generation runs every 20,000 allocations once serving
(``graph.app.settle_startup_heap``), at milliseconds a collection: CPU the storm pays per
subscription. graphql-core's executor holds its own bound methods (``async_helpers``), so an
executor nobody breaks free is such a cycle, with what it reaches.

Here the real app of ``test_garbage`` serves, in the test process, graphql-transport-ws over
ASGI (:class:`InProcessSocket`: frames through two queues, as a server hands them): a socket
connects with a token, subscribes, receives one message sent through HTTP (replayed, sent
before it subscribed; or live, sent after), completes (or just disconnects) and closes, while
another stays subscribed. Each
such life is lived once to warm the caches, then a few times under ``gc.DEBUG_SAVEALL``
(``test_garbage.garbage_of``): a collection must then find nothing. The socket's uvicorn
protocol (the app's own, ``graph.ws_compression``) is checked on its own, as
``tests/live/test_frame_writer.py`` drives it.

Left, served by uvicorn (``inbox-graph serve``): asyncio's own socket transport
(``_SelectorSocketTransport`` holds its bound ``_read_ready__data_received``) and, for the
HTTP request a WebSocket starts as, uvicorn's ``httptools`` protocol and its parser, which
holds the protocol's bound callbacks."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import wsproto
from starlette.websockets import WebSocket
from uvicorn.config import Config
from uvicorn.server import ServerState
from wsproto.events import Request

from graph.ws_compression import InboxWSProtocol, frame_writer
from tests.live.helpers import NEW_MESSAGE
from tests.live.test_frame_writer import _Transport as RecordingTransport
from tests.speed.test_garbage import (  # noqa: F401 - app: a fixture
    InProcess,
    app,
    cycle_through,
    described,
    garbage_of,
)
from tests.support import RECEIVE

SOCKET_TIMEOUT = 10.0
"""Seconds to wait for the app's next frame (an in-process answer takes milliseconds)."""


def cycles_in(garbage: list[Any], most: int = 5) -> list[str]:
    """The distinct cycles of ``garbage`` (at most ``most``): ``test_garbage.cycle_through``
    from each of its objects that is no plain container in turn (``described`` names one)."""
    plain = (dict, list, tuple, set, frozenset)
    found: dict[frozenset[str], str] = {}
    for value in garbage:
        if isinstance(value, plain):
            continue
        cycle = cycle_through([value, *garbage])
        if cycle != "none found":
            found.setdefault(frozenset(cycle.split(" -> ")), cycle)
        if len(found) >= most:
            break
    return list(found.values())


class InProcessSocket:
    """A graphql-transport-ws client of an ASGI app in this process: the app's ``receive``
    and ``send`` are two queues of ASGI messages, as uvicorn would hand them (no network, no
    client library: nothing here makes cycles of its own)."""

    def __init__(self, app: Any) -> None:  # noqa: F811 - the imported fixture's name
        self.app = app
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.served: asyncio.Task[None] | None = None

    async def open(self, token: str) -> None:
        """Connect to ``/graphql`` and authenticate (``connection_init`` with ``token``);
        returns once acknowledged."""
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("inbox.test", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [
                (b"host", b"inbox.test"),
                (b"sec-websocket-protocol", b"graphql-transport-ws"),
            ],
            "subprotocols": ["graphql-transport-ws"],
            "extensions": {},
            "state": {},
        }
        self.served = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        accepted = await asyncio.wait_for(self.from_app.get(), SOCKET_TIMEOUT)
        assert accepted["type"] == "websocket.accept", accepted
        await self.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def send(self, message: dict[str, Any]) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        """The app's next protocol message (its pings and pongs skipped); a close fails."""
        while True:
            sent = await asyncio.wait_for(self.from_app.get(), SOCKET_TIMEOUT)
            assert sent["type"] == "websocket.send", f"the app closed the socket: {sent}"
            message = json.loads(sent["text"])
            if message["type"] not in ("ping", "pong"):
                return message

    async def close(self) -> None:
        """The client goes away (the app's handler ends: its operations are cleaned up)."""
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.served, SOCKET_TIMEOUT)
        self.served = None


class Dashboard:
    """One user's dashboard reconnecting over and over, each time subscribing to
    ``newMessage`` resuming after the last message it received (as ``bench.storm``'s
    subscribers do); messages come from the integration, through HTTP."""

    def __init__(self, app: Any, world: Any, who: str) -> None:  # noqa: F811
        self.app = app
        self.world = world
        self.token = world.tokens[who]
        self.integration = InProcess(app, world.tokens["integration"])
        self.last = 0
        """The sequence of the last message received (0: the workspace's first event on)."""

    async def message(self) -> str:
        """Send an inbound webchat message; returns its text."""
        text = f"storm {uuid.uuid4().hex}"
        body = await self.integration.post(
            RECEIVE,
            {
                "i": {
                    "channelId": self.world.channel_ids["WEBCHAT"],
                    "from": "visitor-c_team",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": text,
                }
            },
        )
        assert not body.get("errors"), body
        return text

    async def subscribe(self, socket: InProcessSocket, after: int) -> str:
        """Subscribe to ``newMessage`` after sequence ``after`` on ``socket``; returns the
        operation's id."""
        operation_id = uuid.uuid4().hex
        await socket.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": NEW_MESSAGE, "variables": {"after": after}},
            }
        )
        return operation_id

    async def reconnect(self, *, sent_first: bool, complete: bool) -> None:
        """One life of a socket: open, subscribe, get one message (sent before subscribing,
        so replayed, or after), complete the subscription (or not), close."""
        text = await self.message() if sent_first else None
        socket = InProcessSocket(self.app)
        await socket.open(self.token)
        operation_id = await self.subscribe(socket, self.last)
        if text is None:
            text = await self.message()
        while True:  # the events before it, the first time (from the workspace's first)
            message = await socket.receive()
            assert message["id"] == operation_id and message["type"] == "next", message
            event = message["payload"]["data"]["newMessage"]
            self.last = event["sequence"]
            if event["message"]["text"] == text:
                break
        if complete:
            await socket.send({"id": operation_id, "type": "complete"})
        await socket.close()


@pytest.mark.parametrize(
    ("sent_first", "complete"),
    [(True, True), (False, True), (True, False)],
    ids=["replayed, completed", "live, completed", "replayed, disconnected"],
)
async def test_a_subscriptions_life_leaves_no_garbage(
    app,  # noqa: F811 - the imported fixture
    world,
    sent_first: bool,
    complete: bool,
):
    """A socket's life as a dashboard lives it through a reconnect storm, as the owner: the
    message received is replayed (sent before the subscription, ``afterSequence`` before it)
    or sent after the ``subscribe`` frame (live, or replayed if it commits before the
    subscription has read the workspace's sequence: exactly once either way), and the
    subscription completed by the client or ended by the socket's close. The message's own
    request (HTTP) leaves nothing either (``test_garbage``).

    Another dashboard stays subscribed meanwhile, as the others do in a storm: the worker's
    last subscriber leaving ends its Redis connection (``graph.redis_backend``), the next
    one makes another, and redis-py's client, pool and connection are cycles of their own
    (once a worker has no subscriber left, not once a subscription)."""
    dashboard = Dashboard(app, world, "owner")
    staying = InProcessSocket(app)
    await staying.open(world.tokens["owner"])
    try:
        await dashboard.subscribe(staying, 0)
        first = await staying.receive()  # the workspace's first message: it is subscribed
        assert first["type"] == "next", first

        async def life() -> None:
            await dashboard.reconnect(sent_first=sent_first, complete=complete)

        garbage = await garbage_of([life])
    finally:
        await staying.close()
    assert not garbage, f"{described(garbage)}; all cycles: {cycles_in(garbage)}"


class OneSocketAtATime:
    """An ASGI app for uvicorn's protocol alone (as ``test_frame_writer`` drives it): it
    accepts each WebSocket, hands it over (:attr:`accepted`) and returns once told (the
    ``asyncio.Event`` handed with it)."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[tuple[WebSocket, asyncio.Event]] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        done = asyncio.Event()
        await self.accepted.put((websocket, done))
        await done.wait()


async def test_a_lost_sockets_protocol_and_frame_writer_leave_no_garbage():
    """The app's uvicorn protocol (``graph.ws_compression.InboxWSProtocol``) and its socket's
    ``FrameWriter`` referred to each other, and the writer to the socket's starlette
    ``WebSocket`` (holding the protocol's bound methods): a cycle per socket, whichever side
    closed it, until the collector's next collection. Here a socket is accepted, written to
    through its writer, and lost (a reset); the app returns: nothing of it is left."""
    app = OneSocketAtATime()  # noqa: F811 - not the fixture
    config = Config(app, ws="wsproto", ws_per_message_deflate=False, log_level="warning")
    config.load()

    async def socket_life() -> None:
        protocol = InboxWSProtocol(config, ServerState(), {})
        transport = RecordingTransport()
        protocol.connection_made(transport)
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        protocol.data_received(client.send(Request(host="127.0.0.1", target="/graphql")))
        websocket, done = await asyncio.wait_for(app.accepted.get(), SOCKET_TIMEOUT)
        writer = frame_writer(websocket)
        assert writer is not None and writer.write_text(b'{"type":"ping"}')
        transport.close()  # asyncio closes a lost transport before telling its protocol
        protocol.connection_lost(ConnectionResetError())
        done.set()
        await asyncio.gather(*protocol.tasks)

    garbage = await garbage_of([socket_life])
    assert not garbage, f"{described(garbage)}; all cycles: {cycles_in(garbage)}"

"""A workspace's listener (``graph.live.EventBus._listen``) and its Redis backend
(``graph.redis_backend``), in process: what a served app cannot be made to do on purpose (a
cancellation that lands in the same turn of the event loop as a message, a connection lost
while a channel's SUBSCRIBE is under way)."""

from __future__ import annotations

import asyncio

import pytest
from broadcaster import Event as Published

from graph import live
from graph.live import EventBus, LiveEvent
from graph.redis_backend import LOST, ResilientRedisBackend

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_listener_cancelled_as_a_message_arrives_stops_listening():
    """While the broadcast connection is lost the listener waits for a message at most
    ``POLL_SECONDS`` at a time. Cancelled (the workspace's last subscriber left) in the turn
    a message reached it, it returned the message and listened on, with Python 3.11's
    ``wait_for``: a second listener started for the next subscriber, and the two dispatched
    the workspace's events side by side."""
    bus = EventBus("memory://")
    await bus.start()
    try:
        subscriber = await bus.add(1)
        listener = bus._listeners[1]
        channel = bus.channel(1)
        await bus._broadcast.publish(channel=channel, message=LOST)
        for _ in range(20):  # the listener takes LOST and waits for the next message
            await asyncio.sleep(0)
        (queue,) = bus._broadcast._subscribers[channel]
        event = LiveEvent(1, 1, "message.created", {"contact_id": 1})
        queue.put_nowait(Published(channel=channel, message=event.to_json()))
        bus.remove(subscriber)  # cancels the listener, in the same turn
        for _ in range(20):
            await asyncio.sleep(0)
        assert listener.done(), "the cancelled listener still listens"
    finally:
        await bus.stop()


async def test_a_stopping_bus_hands_nothing_back_to_its_subscribers_tasks():
    """The bus stops (the worker shuts down) while a listener's fan-out is under way: the
    fan-out, cancelled, leaves the event to the subscribers still open
    (``fanout.dispatch``), which would start a task per subscriber against a database
    being closed. A stopping bus closes its subscribers first."""
    bus = EventBus("memory://")
    await bus.start()
    subscribers = [await bus.add(1), await bus.add(2)]
    await bus.stop()
    assert all(subscriber.closed for subscriber in subscribers)


async def test_a_listener_whose_channel_is_not_heard_reads_the_outbox(monkeypatch):
    """A listener whose channel the broadcast connection does not hear (Redis away) reads the
    outbox every ``POLL_SECONDS``. It did so only once a LOST message reached it; a listener
    started while the workspace's previous one was still unwinding shares that one's
    subscription, and no LOST is sent for it: it waited for the reconnection in silence."""
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    bus = EventBus("memory://")
    monkeypatch.setattr(bus, "_hears", lambda channel: False)
    polled = asyncio.Event()

    async def catch_up(workspace_id: int) -> None:
        polled.set()

    monkeypatch.setattr(bus, "_catch_up", catch_up)
    await bus.start()
    try:
        await bus.add(1)
        await asyncio.wait_for(polled.wait(), 2)
    finally:
        await bus.stop()


class _PubSub:
    """redis-py's pubsub while the connection is lost under a SUBSCRIBE being written."""

    def __init__(self) -> None:
        self.writing = asyncio.Event()
        self.written = asyncio.Event()

    async def subscribe(self, *channels: str) -> None:
        self.writing.set()
        await self.written.wait()

    async def aclose(self) -> None:
        pass


async def test_a_channel_subscribed_as_the_connection_goes_is_not_heard():
    """The connection is lost (the supervisor closes it) while a channel's SUBSCRIBE is being
    written: the channel was counted as heard on it, and the supervisor's LOST had gone to the
    channel's consumers before the new one was registered, so the new listener neither heard
    the channel nor read the outbox until the reconnection."""
    backend = ResilientRedisBackend("redis://127.0.0.1:1")  # never connects: no supervisor
    pubsub = backend._pubsub = _PubSub()
    backend.connected = True
    subscribing = asyncio.ensure_future(backend.subscribe("workspace:1"))
    await pubsub.writing.wait()
    await backend._close_pubsub()  # the supervisor, on losing the connection
    pubsub.written.set()
    await subscribing

    assert not backend.hears("workspace:1")
    assert (await asyncio.wait_for(backend.next_published(), 1)).message == LOST

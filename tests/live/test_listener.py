"""A workspace's listener (``graph.live.EventBus._listen``), in process on ``memory://``:
what a served app cannot be made to do on purpose (a cancellation that lands in the same turn
of the event loop as a message)."""

from __future__ import annotations

import asyncio

import pytest
from broadcaster import Event as Published

from graph.live import EventBus, LiveEvent
from graph.redis_backend import LOST

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

"""``graph.live.KeptReplays``: subscriptions resuming after the same sequence one after another
(a reconnect storm spread over seconds) replay the events read for the first, reading from
the outbox only what the bus dispatched since, and every replay still holds every event its
subscription must replay: the ones committed up to the sequence it read before asking, and the
ones the bus handed out before it registered (issue 23)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

import pytest

import graph.live
from db.models import Event, Workspace
from graph.events import EventType
from graph.live import RESYNC_MARKER, EventBus, Transaction, write
from graph.redis_backend import LOST, RESYNC
from tests.conftest import fresh_database
from tests.support import models_on

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 100


@contextlib.asynccontextmanager
async def _bus(tmp_path: Path, broadcast: str = "memory://"):
    with fresh_database(tmp_path) as url:
        async with models_on(url, every_task=True):
            bus = EventBus(broadcast, namespace=uuid.uuid4().hex)
            await bus.start()
            try:
                yield bus
            finally:
                await bus.stop()


class _Reads:
    """The outbox reads sent to the database: ``(after, up_to)`` each."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int | None]] = []
        read_outbox = graph.live.read_outbox

        async def recorded(workspace_id, after, up_to=None, *, limit):
            self.calls.append((after, up_to))
            return await read_outbox(workspace_id, after, up_to, limit=limit)

        monkeypatch.setattr(graph.live, "read_outbox", recorded)


async def _emit(bus: EventBus | None, workspace_id: int, count: int = 1, **facts) -> int:
    """Commit ``count`` events (published if ``bus``): a team's change, or a contact's
    assignment with ``facts``; the workspace's sequence after them."""

    async def operation(tx: Transaction) -> None:
        for _ in range(count):
            if facts:
                tx.emit(EventType.CONTACT_ASSIGNED, **facts)
            else:
                tx.emit(EventType.TEAM_CHANGED, team_id=1)

    await write(bus, workspace_id, operation)
    return (await Workspace.get(id=workspace_id)).event_sequence


async def _dispatched(subscriber, sequence: int) -> None:
    """Wait until the bus has handed ``subscriber`` the event ``sequence``."""
    queued = asyncio.Event()
    subscriber.wake = queued.set
    async with asyncio.timeout(5):
        while True:
            event = await subscriber.take()
            if event is not None and event.sequence >= sequence:
                return
            if event is None:
                await queued.wait()
                queued.clear()


async def _listened_to(bus: EventBus, name: str, count: int):
    """A new workspace with one subscriber, handed the workspace's first ``count`` events:
    the workspace, the subscriber and the latest sequence."""
    workspace = await Workspace.create(name=name)
    subscriber = await bus.add(workspace.id)
    latest = await _emit(bus, workspace.id, count)
    await _dispatched(subscriber, latest)
    return workspace, subscriber, latest


def _sequences(read) -> list[int]:
    return [event.sequence for event in read.events]


async def test_resuming_again_reads_nothing_until_the_bus_dispatches_an_event_then_only_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with _bus(tmp_path) as bus:
        workspace, subscriber, known = await _listened_to(bus, "Storm Co", 5)
        reads = _Reads(monkeypatch)

        first = await bus.replays.read(workspace.id, 1, known, limit=LIMIT)
        again = await bus.replays.read(workspace.id, 1, known, limit=LIMIT)
        assert _sequences(first) == [2, 3, 4, 5] and again is first
        assert reads.calls == [(1, None)]

        latest = await _emit(bus, workspace.id)
        await _dispatched(subscriber, latest)
        # a subscription that read its sequence before that event still gets it in its replay
        # (it registered after the bus dispatched it): read from the kept replay's last on
        extended = await bus.replays.read(workspace.id, 1, known, limit=LIMIT)
        assert _sequences(extended) == [2, 3, 4, 5, 6]
        assert reads.calls == [(1, None), (5, None)]
        assert _sequences(await bus.replays.read(workspace.id, 1, latest, limit=LIMIT)) == [
            2,
            3,
            4,
            5,
            6,
        ]
        assert len(reads.calls) == 2
        # the replay of another sequence is its own
        assert _sequences(await bus.replays.read(workspace.id, 4, latest, limit=LIMIT)) == [5, 6]
        assert reads.calls[-1] == (4, None)


async def test_a_replay_reaches_the_sequence_its_subscription_read_from_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An event committed but not yet dispatched (its publication still on its way) is in the
    replay of a subscription that read a sequence past it before asking."""
    async with _bus(tmp_path) as bus:
        workspace = await Workspace.create(name="Late Co")
        await bus.add(workspace.id)
        known = await _emit(None, workspace.id, 3)
        reads = _Reads(monkeypatch)
        assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [1, 2, 3]
        unpublished = await _emit(None, workspace.id)
        assert _sequences(await bus.replays.read(workspace.id, 0, unpublished, limit=LIMIT)) == [
            1,
            2,
            3,
            4,
        ]
        assert reads.calls == [(0, None), (3, None)]


async def test_resuming_at_the_latest_event_reads_the_empty_replay_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with _bus(tmp_path) as bus:
        workspace, subscriber, latest = await _listened_to(bus, "Quiet Co", 2)
        reads = _Reads(monkeypatch)
        for _ in range(2):
            assert (
                _sequences(await bus.replays.read(workspace.id, latest, latest, limit=LIMIT)) == []
            )
        assert reads.calls == [(latest, None)]
        # an event the bus dispatched past it is read
        newer = await _emit(bus, workspace.id)
        await _dispatched(subscriber, newer)
        assert _sequences(await bus.replays.read(workspace.id, latest, latest, limit=LIMIT)) == [
            newer
        ]
        assert reads.calls == [(latest, None), (latest, None)]


@pytest.mark.parametrize("resumed_at", ["the latest event it read", "an older one"])
async def test_a_workspace_listened_to_again_replays_what_was_published_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resumed_at: str
):
    """Events published while nobody listened here were never dispatched here: a subscription
    that read its sequence before them replays them all the same."""
    async with _bus(tmp_path) as bus:
        workspace, subscriber, known = await _listened_to(bus, "Away Co", 2)
        after = known if resumed_at == "the latest event it read" else 0
        kept = _sequences(await bus.replays.read(workspace.id, after, known, limit=LIMIT))
        bus.remove(subscriber)
        unheard = await _emit(bus, workspace.id)  # published: nobody here listens
        await bus.add(workspace.id)
        reads = _Reads(monkeypatch)
        assert _sequences(await bus.replays.read(workspace.id, after, known, limit=LIMIT)) == [
            *kept,
            unheard,
        ]
        assert reads.calls == [(after, None)]


async def test_a_replay_read_while_the_listener_does_not_listen_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Between two stretches of listening (a listener restarting, a broadcast connection
    coming back) events may go unheard: a replay read then, or whose read began before it
    stopped listening, serves no later subscription."""
    async with _bus(tmp_path) as bus:
        workspace = await Workspace.create(name="Restart Co")
        await bus.add(workspace.id)
        known = await _emit(None, workspace.id, 2)
        reads = _Reads(monkeypatch)
        bus.replays.forget(workspace.id)
        for _ in range(2):
            assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [1, 2]
        assert reads.calls == [(0, None), (0, None)]

        bus.replays.listening(workspace.id)
        release = asyncio.Event()
        slow = graph.live.read_outbox

        async def held(*args, **kwargs):
            await release.wait()
            return await slow(*args, **kwargs)

        monkeypatch.setattr(graph.live, "read_outbox", held)
        reading = asyncio.create_task(bus.replays.read(workspace.id, 0, known, limit=LIMIT))
        await asyncio.sleep(0.05)
        bus.replays.forget(workspace.id)  # stopped listening while it read
        bus.replays.listening(workspace.id)
        release.set()
        assert _sequences(await reading) == [1, 2]
        assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [1, 2]
        assert reads.calls == [(0, None)] * 4


async def test_a_lost_broadcast_connection_stops_keeping_until_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """While the listener's broadcast connection is lost, events go unheard (the bus polls the
    outbox for the subscribers it has): replays are read from the database until it is back."""
    async with _bus(tmp_path) as bus:
        workspace, _, known = await _listened_to(bus, "Lost Co", 2)
        assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [1, 2]
        channel = bus.channel(workspace.id)
        await bus._broadcast.publish(channel=channel, message=LOST)
        async with asyncio.timeout(5):
            while workspace.id in bus.replays._listening:
                await asyncio.sleep(0.01)
        unheard = await _emit(None, workspace.id)
        reads = _Reads(monkeypatch)
        for _ in range(2):
            assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [
                1,
                2,
                unheard,
            ]
        assert reads.calls == [(0, None), (0, None)]
        await bus._broadcast.publish(channel=channel, message=RESYNC)
        async with asyncio.timeout(5):
            while workspace.id not in bus.replays._listening:
                await asyncio.sleep(0.01)
        for _ in range(2):
            assert len((await bus.replays.read(workspace.id, 0, known, limit=LIMIT)).events) == 3
        assert reads.calls == [(0, None)] * 3


async def test_the_replays_kept_hold_at_most_so_many_events_in_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(graph.live, "KEPT_EVENTS", 8)
    async with _bus(tmp_path) as bus:
        workspace, _, latest = await _listened_to(bus, "Small Co", 5)
        reads = _Reads(monkeypatch)
        await bus.replays.read(workspace.id, 0, latest, limit=LIMIT)  # 5 events
        await bus.replays.read(workspace.id, 0, latest, limit=LIMIT)
        assert reads.calls == [(0, None)]
        await bus.replays.read(workspace.id, 1, latest, limit=LIMIT)  # 4 more: over 8
        await bus.replays.read(workspace.id, 0, latest, limit=LIMIT)
        assert reads.calls == [(0, None), (1, None), (0, None)]


async def test_long_or_pruned_replays_are_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(graph.live, "KEPT_REPLAY_EVENTS", 3)
    async with _bus(tmp_path) as bus:
        workspace, _, latest = await _listened_to(bus, "Long Co", 5)
        reads = _Reads(monkeypatch)
        for _ in range(2):
            assert len((await bus.replays.read(workspace.id, 0, latest, limit=LIMIT)).events) == 5
        assert reads.calls == [(0, None), (0, None)]
        # a replay hitting its limit (too many to replay) is not kept either
        for _ in range(2):
            assert len((await bus.replays.read(workspace.id, 3, latest, limit=2)).events) == 2
        assert reads.calls[2:] == [(3, None), (3, None)]
        # nor one whose first events were pruned (the subscription is told to reload)
        await Event.filter(workspace_id=workspace.id, sequence__lte=2).delete()
        for _ in range(2):
            assert _sequences(await bus.replays.read(workspace.id, 1, latest, limit=LIMIT)) == [
                3,
                4,
                5,
            ]
        assert reads.calls[4:] == [(1, None), (1, None)]


async def test_an_extended_replay_keeps_the_deliveries_whose_facts_did_not_change(
    tmp_path: Path,
):
    """What was computed for each event of a kept replay (its delivery, with the payloads kept
    on it) is reused once the replay is extended, except for the events whose contact the new
    events changed: those are authorised with its new facts (``domain.md`` section 7)."""
    async with _bus(tmp_path) as bus:
        workspace = await Workspace.create(name="Facts Co")
        subscriber = await bus.add(workspace.id)
        await _emit(bus, workspace.id, contact_id=1, assignee_id=10)
        known = await _emit(bus, workspace.id, contact_id=2, assignee_id=20)
        await _dispatched(subscriber, known)
        before = (await bus.replays.read(workspace.id, 0, known, limit=LIMIT)).deliveries()
        latest = await _emit(bus, workspace.id, contact_id=2, assignee_id=30)
        await _dispatched(subscriber, latest)
        after = (await bus.replays.read(workspace.id, 0, known, limit=LIMIT)).deliveries()
        assert [d.event.sequence for d in after] == [1, 2, 3]
        assert after[0] is before[0]
        assert after[1] is not before[1] and after[1].facts["assignee_id"] == 30
        assert after[2].facts["assignee_id"] == 30


async def _told_to_read_the_outbox(subscriber) -> None:
    """Wait for the bus to tell ``subscriber`` to read the outbox (``RESYNC_MARKER``)."""
    queued = asyncio.Event()
    subscriber.wake = queued.set
    async with asyncio.timeout(5):
        while (event := await subscriber.take()) is None or event.type != RESYNC_MARKER:
            if event is None:
                await queued.wait()
                queued.clear()


async def test_nothing_is_kept_while_redis_does_not_hear_the_workspace_s_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A listener subscribing while Redis cannot be reached (after the connection's loss was
    announced: a workspace listened to later) hears nothing published: its replays are read
    from the database, and its subscribers are told to read the outbox until the connection's
    RESYNC."""
    async with _bus(tmp_path, "redis://127.0.0.1:1") as bus:
        first = await Workspace.create(name="Early Co")
        await _told_to_read_the_outbox(await bus.add(first.id))  # Redis is away
        workspace = await Workspace.create(name="Deaf Co")
        subscriber = await bus.add(workspace.id)
        assert not bus._broadcast._backend.hears(bus.channel(workspace.id))
        known = await _emit(None, workspace.id, 2)
        reads = _Reads(monkeypatch)
        for _ in range(2):
            assert _sequences(await bus.replays.read(workspace.id, 0, known, limit=LIMIT)) == [1, 2]
        assert reads.calls == [(0, None), (0, None)]
        await _told_to_read_the_outbox(subscriber)


@pytest.mark.skipif(
    not os.environ.get("BROADCAST_URL", "").startswith("redis://"),
    reason="runs in the Redis run of the suite",
)
async def test_a_workspace_s_replays_are_kept_once_redis_hears_its_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with _bus(tmp_path, os.environ["BROADCAST_URL"]) as bus:
        workspace = await Workspace.create(name="Heard Co")
        subscriber = await bus.add(workspace.id)
        latest = await _emit(bus, workspace.id, 2)
        await _dispatched(subscriber, latest)  # RESYNC, then the events: it hears them
        reads = _Reads(monkeypatch)
        for _ in range(2):
            assert _sequences(await bus.replays.read(workspace.id, 0, latest, limit=LIMIT)) == [
                1,
                2,
            ]
        assert reads.calls == [(0, None)]

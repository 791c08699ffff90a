"""Many subscriptions replaying one batch of events (a reconnect storm, issue 23), in process:
real ``LiveStream`` catch-ups (``_run``) over one shared ``OutboxRead``'s deliveries, with the
payloads computed together (``graph.fanout.prefetch``), delivered without awaits once
computed and decided once per selection group (``LiveStream._deliver_computed``,
``Delivery.shared``). The payload's execution is replaced by a small one (the event's
sequence, and the viewer's user for a document whose answer depends on who asks); scopes,
viewer reloads, frames and their order are the real machinery's. What a served app cannot be
made to do on purpose: random viewer reloads in the middle of a replay, sockets refusing the
pre-framed write at random, a payload cache too small for the batch, a prefetch cancelled
before it ran. Served storms: ``tests/live/test_reconnect_storm.py``."""

from __future__ import annotations

import asyncio
import json
import random
from collections import OrderedDict, deque
from types import SimpleNamespace

import pytest

from graph import fanout, subscriptions
from graph.events import VIEWER_EVENTS
from graph.fanout import Candidate, FastPath, LiveOperation
from graph.live import LiveEvent, OutboxRead, Subscriber
from graph.permissions.visibility import Scope
from graph.subscriptions import LiveScope, LiveStream
from tests.live.helpers import stand_in_viewer

pytestmark = pytest.mark.asyncio(loop_scope="session")

RELOAD = min(VIEWER_EVENTS)
MESSAGE = "message.created"
PLAIN = "subscription { newMessage { sequence } }"
PERSONAL = "subscription { newMessage { sequence mine } }"
"""A document whose payload depends on who asks (``fanout.depends_on_identity``)."""
AFTER = 100


class _Writer:
    """A socket's frame writer: keeps each frame, or refuses every ``refuse_every``-th
    pre-framed write (a frame that must go through uvicorn's send: ``send_text``)."""

    def __init__(self, refuse_every: int = 0) -> None:
        self.frames: list[dict] = []
        self.refuse_every = refuse_every
        self.writes = 0

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def write(self, head: bytes, body: bytes = b"") -> bool:
        self.writes += 1
        if self.refuse_every and self.writes % self.refuse_every == 0:
            return False
        self.frames.append(json.loads(head + body))
        return True


class _Bus:
    shared_fanout = True

    def remove(self, subscriber: Subscriber) -> None:
        subscriber.closed = True


class _Context:
    def __init__(self, viewer: SimpleNamespace, bus: _Bus | None = None) -> None:
        self.current_viewer = viewer
        self.bus = bus or _Bus()
        self.request = SimpleNamespace(close=self._close)

    async def _close(self, code: int, reason: str) -> None:
        raise AssertionError(f"closed {code}: {reason}")

    @property
    def viewer(self) -> SimpleNamespace:
        return self.current_viewer

    def with_viewer(self, viewer: SimpleNamespace) -> _Context:
        return _Context(viewer, self.bus)


def _viewer(user_id: int, assignees: frozenset[int], sequence: int = AFTER) -> SimpleNamespace:
    return stand_in_viewer(user_id, sequence=sequence, assignees=assignees)


def _stream(viewer: SimpleNamespace, document: str, read: OutboxRead, writer: _Writer):
    """A subscription in the middle of its catch-up of ``read``'s batch (what ``_start``
    leaves), selecting the messages of contacts assigned to ``viewer.assignees``."""

    async def compute(viewer: SimpleNamespace) -> Scope:
        await asyncio.sleep(0)
        return Scope(assignees=viewer.assignees)

    scope = LiveScope(compute)
    scope.current = Scope(assignees=viewer.assignees)

    async def build(event: LiveEvent) -> dict:
        await asyncio.sleep(random.random() * 0.002)
        return {"sequence": event.sequence}

    def select(event: LiveEvent, facts: dict) -> Candidate | None:
        if event.type != MESSAGE or not scope.current.allows(facts.get("assignee_id"), False):
            return None
        return Candidate(event.sequence, lambda: build(event), variant=scope.current)

    context = _Context(viewer)
    stream = LiveStream(
        context,
        after_sequence=AFTER,
        on_viewer=scope.refresh,
        select=select,
        selection=lambda: (MESSAGE, scope.current),
    )

    async def send_text(text: str) -> None:
        await asyncio.sleep(0)
        writer.frames.append(json.loads(text))

    operation = LiveOperation(f"op{id(stream)}", document, None, None, send_text, writer=writer)
    stream.viewer = viewer
    stream.operation = operation
    stream.subscriber = Subscriber(1, 10_000)
    stream.fast = FastPath(
        context, operation, accepts=lambda e, v: True, select=select, selection=stream.selection
    )
    stream.pending = deque(read.deliveries())
    stream.last = AFTER
    stream.started = True
    return stream


async def _execute(operation, context, candidate) -> str | None:
    root = await candidate.build()
    data = {"sequence": root["sequence"]}
    if "mine" in operation.query:
        fanout.depends_on_identity()
        data["mine"] = context.viewer.user_id
    return json.dumps({"data": data})


@pytest.fixture
def fresh_payloads(monkeypatch):
    monkeypatch.setattr(fanout, "_payloads", OrderedDict())
    monkeypatch.setattr(fanout, "_sizes", {})
    monkeypatch.setattr(fanout, "_cached_chars", [0])
    monkeypatch.setattr(fanout, "execute_payload", _execute)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("cache", [4096, 7])
async def test_each_replay_of_a_shared_batch_delivers_what_its_viewer_may_see_once_in_order(
    monkeypatch, fresh_payloads, seed, cache
):
    """Thirty subscriptions of eight users with overlapping scopes, half of them with a
    document answered per user, replay the same forty events at once; about one event in
    eight changes a user's scope (a viewer reload in the middle of the replay), some sockets
    refuse pre-framed writes now and then, and the payload cache holds 4,096 payloads or 7
    (evicted while computed and used). Each gets exactly the messages its user's scope
    allowed at each point, in order, once, with its own user's answer."""
    monkeypatch.setattr(fanout, "CACHE_SIZE", cache)
    rnd = random.Random(seed)
    random.seed(seed)
    users = list(range(1, 9))
    initial = {u: frozenset(rnd.sample([1, 2, 3, 4], rnd.randint(1, 2))) for u in users}
    events = []
    changes: dict[int, tuple[int, frozenset[int]]] = {}
    for sequence in range(AFTER + 1, AFTER + 41):
        if rnd.random() < 0.12:
            user = rnd.choice(users)
            changes[sequence] = (user, frozenset(rnd.sample([1, 2, 3, 4], rnd.randint(1, 3))))
            events.append(LiveEvent(1, sequence, RELOAD, {"user_id": user}))
        else:
            facts = {"contact_id": None, "assignee_id": rnd.randint(1, 4)}
            events.append(LiveEvent(1, sequence, MESSAGE, facts))

    def assignees(user: int, up_to: int) -> frozenset[int]:
        found = initial[user]
        for sequence, (changed, new) in sorted(changes.items()):
            if sequence <= up_to and changed == user:
                found = new
        return found

    async def refresh_viewer(viewer, sequence=None):
        await asyncio.sleep(rnd.random() * 0.001)
        return _viewer(viewer.user_id, assignees(viewer.user_id, sequence), sequence)

    monkeypatch.setattr(subscriptions, "refresh_viewer", refresh_viewer)
    read = OutboxRead(tuple(events), AFTER)
    streams = []
    for _ in range(30):
        user = rnd.choice(users)
        document = rnd.choice([PLAIN, PERSONAL])
        writer = _Writer(refuse_every=rnd.choice([0, 0, 3]))
        streams.append((_stream(_viewer(user, initial[user]), document, read, writer), user))

    await asyncio.wait_for(asyncio.gather(*(stream._run() for stream, _ in streams)), 20)
    assert any(delivery.shared for delivery in read.deliveries())  # decided once per group
    for stream, user in streams:
        expected = []
        allowed = initial[user]
        for event in events:
            if event.sequence in changes:
                allowed = assignees(user, event.sequence)
            elif event.payload["assignee_id"] in allowed:
                data = {"sequence": event.sequence}
                if stream.operation.query == PERSONAL:
                    data["mine"] = user
                expected.append(data)
        got = [frame["payload"]["data"] for frame in stream.operation.writer.frames]
        assert got == expected, (user, stream.operation.query)
        assert stream.last == events[-1].sequence
    await asyncio.sleep(0.01)
    assert not fanout._prefetches


async def test_a_caught_up_subscription_holds_no_payload_the_cache_let_go(fresh_payloads):
    """Twenty subscriptions each of its own scope (their own payloads: SELF agents) replay
    thirty events: once caught up, none of them keeps a payload it computed ahead; what the
    payload cache lets go is freed (it kept the last batch's payloads, outside the cache's
    budget, for as long as the subscription lived)."""
    events = [
        LiveEvent(1, sequence, MESSAGE, {"contact_id": None, "assignee_id": 1})
        for sequence in range(AFTER + 1, AFTER + 31)
    ]
    read = OutboxRead(tuple(events), AFTER)
    streams = [
        _stream(_viewer(user, frozenset({1, 1000 + user})), PLAIN, read, _Writer())
        for user in range(1, 21)
    ]
    await asyncio.gather(*(stream._run() for stream in streams))
    assert all(len(stream.operation.writer.frames) == 30 for stream in streams)
    assert [stream.computed for stream in streams] == [[]] * 20


async def test_a_prefetch_cancelled_before_it_ran_leaves_nobody_waiting(fresh_payloads):
    """A payload a catch-up started computing ahead, whose task was cancelled before its first
    step (the loop closing): whoever needs it computes it instead of waiting for ever."""
    operation = LiveOperation("op", PLAIN, None, None, None)
    context = SimpleNamespace(viewer=_viewer(1, frozenset({1})))
    candidate = Candidate(7, lambda: asyncio.sleep(0, {"sequence": 7}))
    computing = fanout.prefetch(operation, context, [candidate])
    (task,) = fanout._prefetches
    waiting = asyncio.ensure_future(fanout._all_settled(computing))  # a catch-up's wait
    task.cancel()
    await asyncio.wait_for(waiting, 5)
    assert task.cancelled() and not fanout._prefetches
    payload = await asyncio.wait_for(fanout.payload_for(operation, context, candidate), 5)
    assert json.loads(payload) == {"data": {"sequence": 7}}


async def test_a_frame_that_waited_for_the_socket_is_not_sent_again(monkeypatch, fresh_payloads):
    """The bus writes an event to a subscription in step at once, and the next one through
    uvicorn's send, which waits for the socket to drain; the subscription's task finishes that
    send and hands the subscription back to the bus. It handed it back at its own position, before
    both events: the bus's next event looked like a gap, and the task read both from the outbox
    and sent them again (a helper's review: frames 101, 102, 101, 102, 103)."""
    events = {s: LiveEvent(1, s, MESSAGE, {"assignee_id": 7}) for s in range(AFTER + 1, AFTER + 10)}

    async def outbox(workspace_id: int, after: int, up_to: int | None = None) -> list[LiveEvent]:
        return [e for s, e in sorted(events.items()) if after < s and (up_to is None or s < up_to)]

    monkeypatch.setattr(subscriptions, "_outbox", outbox)
    writer = _Writer()
    stream = _stream(_viewer(1, frozenset({7})), PLAIN, OutboxRead((), AFTER), writer)
    drained = asyncio.get_running_loop().create_future()

    async def send_text(text: str) -> None:  # uvicorn's send on a backed-up socket
        await drained
        writer.frames.append(json.loads(text))

    stream.operation.send_text = send_text
    subscriber = stream.subscriber
    subscriber.wake = stream._wake
    stream._wake()  # idle and in step: the bus delivers from here
    assert subscriber.fast_path is not None

    await fanout.dispatch(events[AFTER + 1], (subscriber,))  # written at once
    writer.refuse_every = 1  # the socket backs up
    await fanout.dispatch(events[AFTER + 2], (subscriber,))  # left to the task to finish
    writer.refuse_every = 0
    drained.set_result(None)
    for _ in range(200):  # the payloads' builds take up to 2 ms
        await asyncio.sleep(0.001)
    assert stream.task is None and subscriber.fast_path is not None  # in step again
    await fanout.dispatch(events[AFTER + 3], (subscriber,))
    for _ in range(200):
        await asyncio.sleep(0.001)

    sent = [frame["payload"]["data"]["sequence"] for frame in writer.frames]
    assert sent == [AFTER + 1, AFTER + 2, AFTER + 3]

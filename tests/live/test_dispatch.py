"""``graph.fanout.dispatch``'s delivery loop, in process: what a served app cannot be made to
do on purpose (a socket whose write raises in the middle of an event's fan-out), and how often
it selects. The payload's execution is replaced by a fixed one (``_payload_within_budget``);
the subscribers, fast paths, operations and their frames are the real ones, written to
stand-in sockets (``_Writer``). Delivery through a served app is tested in the other modules
of ``tests/live``."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from types import SimpleNamespace

import pytest

from graph import fanout
from graph.fanout import Candidate, FastPath, LiveOperation, dispatch
from graph.live import LiveEvent, Subscriber
from graph.permissions.visibility import Scope

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUERY = "subscription { newMessage { sequence } }"


class _Writer:
    """Stands in for a socket's ``FrameWriter``: keeps each frame written, or raises."""

    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.frames: list[dict] = []

    def write(self, head: bytes, body: bytes = b"") -> bool:
        if self.fails:
            raise ConnectionResetError("the peer reset the connection")
        self.frames.append(json.loads(head + body))
        return True


def _viewer(user_id: int) -> SimpleNamespace:
    return SimpleNamespace(
        user_id=user_id,
        workspace_id=1,
        role="AGENT",
        effective_visibility="ALL",
        can_view_blocked_contacts=False,
        has_call_access=False,
        token_expires_at=None,
    )


def _subscriber(
    user_id: int, scope: Scope, calls: list[int], writer: _Writer, grouped: bool = True
) -> Subscriber:
    """A subscriber in step at sequence 0 whose selection allows what ``scope`` allows."""

    async def send_text(text: str) -> None:  # the uvicorn path: never taken by these writers
        raise AssertionError("sent through ASGI")

    operation = LiveOperation(f"op{user_id}", QUERY, None, None, send_text, writer=writer)

    def select(event: LiveEvent, facts: dict) -> Candidate | None:
        calls.append(user_id)
        if not scope.allows(facts.get("assignee_id"), bool(facts.get("blocked"))):
            return None
        return Candidate(event.sequence, lambda: None)

    fast = FastPath(
        None,  # type: ignore[arg-type] - the execution is replaced in these tests
        operation,
        accepts=lambda event, viewer: True,
        select=select,
        selection=(lambda: ("new message", scope)) if grouped else None,
    )
    subscriber = Subscriber(1, 100)
    subscriber.fast_path = fast.ready(_viewer(user_id))
    return subscriber


@pytest.fixture
def shared_payload(monkeypatch):
    """Every group's payload is ``{"data": {"sequence": N}}``, executed once per group."""
    executed: list[int] = []

    async def payload(fast: FastPath, candidate: Candidate):
        executed.append(candidate.sequence)
        return json.dumps({"data": {"sequence": candidate.sequence}}), False, fast.viewer.user_id

    monkeypatch.setattr(fanout, "_payload_within_budget", payload)
    return executed


async def test_a_socket_that_raises_does_not_stop_the_event_reaching_the_others(shared_payload):
    calls: list[int] = []
    writers = [_Writer(), _Writer(fails=True), _Writer()]
    subscribers = [
        _subscriber(user_id, Scope(), calls, writer)
        for user_id, writer in enumerate(writers, start=1)
    ]
    event = LiveEvent(1, 1, "MESSAGE_RECEIVED", {"assignee_id": None, "blocked": False})

    await dispatch(event, tuple(subscribers))

    assert writers[0].frames == [
        {"id": "op1", "type": "next", "payload": {"data": {"sequence": 1}}}
    ]
    assert writers[2].frames == [
        {"id": "op3", "type": "next", "payload": {"data": {"sequence": 1}}}
    ]
    # the failed one is left to its own task: the event is queued for it, not lost
    failed = subscribers[1]
    assert failed.fast_path is None and failed.last == 0
    assert [item.sequence for item in failed._items] == [1]
    # the others stay in step on the bus
    assert subscribers[0].last == subscribers[2].last == 1
    assert subscribers[0].fast_path is not None and subscribers[2].fast_path is not None


async def test_subscriptions_of_one_selection_are_selected_once_per_event(shared_payload):
    calls: list[int] = []
    assigned = Scope(assignees=frozenset({7}))
    writers = {user_id: _Writer() for user_id in range(1, 8)}
    subscribers = [
        # four of one scope, two of another: two selections
        *(_subscriber(u, Scope(), calls, writers[u]) for u in (1, 2, 3, 4)),
        *(_subscriber(u, assigned, calls, writers[u]) for u in (5, 6)),
        # one that declares no selection key selects on its own
        _subscriber(7, assigned, calls, writers[7], grouped=False),
    ]
    unassigned = LiveEvent(1, 1, "MESSAGE_RECEIVED", {"assignee_id": None, "blocked": False})

    await dispatch(unassigned, tuple(subscribers))

    assert sorted(calls) == [1, 5, 7]
    got = {u: [f["payload"]["data"]["sequence"] for f in w.frames] for u, w in writers.items()}
    assert got == {1: [1], 2: [1], 3: [1], 4: [1], 5: [], 6: [], 7: []}
    assert all(s.last == 1 for s in subscribers)  # handled, delivered or not

    calls.clear()
    theirs = LiveEvent(1, 2, "MESSAGE_RECEIVED", {"assignee_id": 7, "blocked": False})
    await dispatch(theirs, tuple(subscribers))

    assert sorted(calls) == [1, 5, 7]
    got = {u: [f["payload"]["data"]["sequence"] for f in w.frames] for u, w in writers.items()}
    assert got == {1: [1, 2], 2: [1, 2], 3: [1, 2], 4: [1, 2], 5: [2], 6: [2], 7: [2]}
    assert shared_payload == [1, 2]  # one execution per event: every subscriber shares a view


async def test_a_payload_evicted_while_computed_leaves_the_cache_accounting_true(monkeypatch):
    """A payload still being computed when newer ones push it out of the cache (a slow
    selection under load): once done, it is delivered to its subscribers and the cache's
    accounting counts only the payloads it holds. It counted the evicted one's size for good
    (and kept it in ``_sizes``): the budget filled up with payloads no longer held, until each
    new payload pushed every other one out (and one computed while the cache emptied raised
    StopIteration from ``next(iter({}))``)."""
    monkeypatch.setattr(fanout, "_payloads", OrderedDict())
    monkeypatch.setattr(fanout, "_sizes", {})
    monkeypatch.setattr(fanout, "_cached_chars", [0])
    monkeypatch.setattr(fanout, "CACHE_SIZE", 2)
    monkeypatch.setattr(fanout, "CACHE_CHARS", 60)
    release = {sequence: asyncio.Event() for sequence in range(1, 6)}

    async def execute(operation, context, candidate):
        await release[candidate.sequence].wait()
        return json.dumps({"data": {"sequence": candidate.sequence, "pad": "x" * 10}})

    monkeypatch.setattr(fanout, "execute_payload", execute)
    operation = LiveOperation("op", QUERY, None, None, None)
    context = SimpleNamespace(viewer=_viewer(1))
    slow = asyncio.ensure_future(
        fanout._shared_payload(operation, context, Candidate(1, lambda: None))
    )
    await asyncio.sleep(0)
    for sequence in (2, 3, 4):  # each done at once: the slow one is the oldest, pushed out
        release[sequence].set()
        await fanout._shared_payload(operation, context, Candidate(sequence, lambda: None))
    release[1].set()
    payload, _, _ = await slow
    assert json.loads(payload)["data"]["sequence"] == 1

    def accounted() -> None:
        held = [len(entry.future.result()[0]) for entry in fanout._payloads.values()]
        assert fanout._cached_chars[0] == sum(held), (fanout._cached_chars[0], held)
        assert set(fanout._sizes) == set(fanout._payloads)

    accounted()
    release[5].set()  # the next payload is computed and cached as usual
    payload, _, _ = await fanout._shared_payload(operation, context, Candidate(5, lambda: None))
    assert json.loads(payload)["data"]["sequence"] == 5
    accounted()


async def test_followers_of_a_payload_being_computed_share_it_and_leave_alone(monkeypatch):
    """Subscribers asking for a payload its leader is still computing (a reconnect storm's
    replays) wait for it and share its one execution; one of them cancelled (its socket gone)
    cancels neither the leader nor the others; when the leader fails, each follower executes
    on its own."""
    monkeypatch.setattr(fanout, "_payloads", OrderedDict())
    monkeypatch.setattr(fanout, "_sizes", {})
    monkeypatch.setattr(fanout, "_cached_chars", [0])
    release = asyncio.Event()
    executed: list[int] = []

    async def execute(operation, context, candidate):
        executed.append(candidate.sequence)
        await release.wait()
        if candidate.sequence == 2 and len(executed) == 1:
            raise RuntimeError("the leader's execution failed")
        return json.dumps({"data": {"sequence": candidate.sequence}})

    monkeypatch.setattr(fanout, "execute_payload", execute)
    operation = LiveOperation("op", QUERY, None, None, None)
    context = SimpleNamespace(viewer=_viewer(1))

    def ask(sequence: int) -> asyncio.Future:
        candidate = Candidate(sequence, lambda: None)
        return asyncio.ensure_future(fanout._shared_payload(operation, context, candidate))

    leader, *followers = [ask(1) for _ in range(4)]
    await asyncio.sleep(0)
    followers[0].cancel()
    await asyncio.sleep(0)
    release.set()
    answers = [await leader, *[await f for f in followers[1:]]]
    assert followers[0].cancelled()
    assert [json.loads(p)["data"]["sequence"] for p, _, _ in answers] == [1, 1, 1]
    assert executed == [1]
    assert fanout._payloads[next(iter(fanout._payloads))].waiters == []

    release.clear()
    executed.clear()
    leader, *followers = [ask(2) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await leader
    answers = [await f for f in followers]
    assert [json.loads(p)["data"]["sequence"] for p, _, _ in answers] == [2, 2]
    assert executed == [2, 2, 2]  # the leader's, then each follower's own

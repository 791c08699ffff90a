"""``graph.live.SharedReads``: equal reads asked for at the same time are one load, and a
caller that goes away (its socket vanished mid-replay, its task cancelled) takes nothing from
the others: the load goes on and every remaining caller gets its result (issue 23)."""

from __future__ import annotations

import asyncio

import pytest

from graph.live import SharedReads

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _Load:
    """A load that waits to be released, counting its runs and cancellations."""

    def __init__(self) -> None:
        self.runs = 0
        self.cancelled = 0
        self.release = asyncio.Event()

    async def __call__(self, key: str) -> tuple[str, int]:
        self.runs += 1
        run = self.runs
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return (key, run)


async def _started(*tasks: asyncio.Task) -> None:
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


async def test_cancelled_callers_do_not_cancel_the_load_of_the_others():
    load = _Load()
    reads = SharedReads(load)
    # asked before the load's task first ran: one load for the three
    first, second, third = (asyncio.create_task(reads.read(("a",))) for _ in range(3))
    await _started(first, second, third)
    first.cancel()  # the caller whose read started the load
    second.cancel()
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.wait_for(third, 5) == ("a", 1)
    assert first.cancelled() and second.cancelled()
    assert load.runs == 1 and load.cancelled == 0


async def test_a_load_whose_callers_all_left_still_ends_and_the_next_read_gets_a_fresh_one():
    load = _Load()
    reads = SharedReads(load)
    gone = [asyncio.create_task(reads.read(("a",))) for _ in range(2)]
    await _started(*gone)
    later = asyncio.create_task(reads.read(("a",)))  # asked while the load runs: the next one
    await _started(later)
    for task in gone:
        task.cancel()
    later.cancel()
    await asyncio.sleep(0)
    load.release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert load.cancelled == 0 and load.runs == 2  # the gathered one ran, for nobody
    assert await asyncio.wait_for(reads.read(("a",)), 5) == ("a", 3)


async def test_a_caller_after_the_load_started_waits_for_the_next_one():
    load = _Load()
    reads = SharedReads(load)
    early = asyncio.create_task(reads.read(("a",)))
    await _started(early)
    late = asyncio.create_task(reads.read(("a",)))
    await _started(late)
    load.release.set()
    assert await asyncio.wait_for(early, 5) == ("a", 1)
    assert await asyncio.wait_for(late, 5) == ("a", 2)

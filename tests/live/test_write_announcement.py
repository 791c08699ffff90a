"""A write whose caller is cancelled after the commit (a request's time limit) still announces
what it committed: the workspace's viewer generation moves, so no server keeps serving the
viewer as it was (``graph.auth.ViewerCache``), and the events are published, so subscribers do
not wait for a later write to learn of them (``architecture.md``, the live path)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from db.migrate import apply_migrations
from db.models import Workspace
from graph.events import EventType
from graph.live import EventBus, Transaction, write
from tests.conftest import fresh_database
from tests.support import models_on

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_write_cancelled_after_its_commit_still_bumps_and_publishes(tmp_path: Path):
    with fresh_database(tmp_path) as url:
        await apply_migrations(url)
        async with models_on(url):
            bus = EventBus("memory://")
            await bus.start()
            try:
                await _cancel_after_commit(bus)
            finally:
                await bus.stop()


async def _cancel_after_commit(bus: EventBus) -> None:
    workspace = await Workspace.create(name="Cancelled Co")
    subscriber = await bus.add(workspace.id)
    generations = bus.viewer_generations
    before = await generations.current(workspace.id)
    # the announcement stalls where a slow Redis would make it wait
    stalled, released = asyncio.Event(), asyncio.Event()
    bump = generations.bump

    async def slow_bump(workspace_id: int) -> None:
        stalled.set()
        await released.wait()
        await bump(workspace_id)

    generations.bump = slow_bump

    async def operation(tx: Transaction) -> None:
        tx.emit(EventType.USER_CHANGED, user_id=1)
        tx.emit(EventType.TEAM_CHANGED, team_id=1)

    writer = asyncio.create_task(write(bus, workspace.id, operation))
    await asyncio.wait_for(stalled.wait(), 5)
    writer.cancel()  # the request timed out between the commit and the announcement
    with pytest.raises(asyncio.CancelledError):
        await writer
    released.set()
    received = [await asyncio.wait_for(_next(subscriber), 5) for _ in range(2)]
    assert [e.type for e in received] == ["user.changed", "team.changed"]
    assert await generations.current(workspace.id) != before
    assert (await Workspace.get(id=workspace.id)).event_sequence == 2


async def _next(subscriber):
    """The subscriber's next event, waiting for the bus to queue one."""
    queued = asyncio.Event()
    subscriber.wake = queued.set
    while (event := await subscriber.take()) is None:
        await queued.wait()
        queued.clear()
    return event

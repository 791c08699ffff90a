"""Shared bits of the live-path tests."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from db.models import Workspace
from graph.live import write
from tests.support import models_on

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from graph.live import Transaction
    from tests.support import Served

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""


@contextlib.asynccontextmanager
async def served_database(served: Served) -> AsyncIterator[None]:
    """The tortoise models connected to the served app's database: for the states of a race
    the API cannot time (its data is read and written as the server does)."""
    async with models_on(served.env["DATABASE_URL"]):
        yield


async def commit_events(workspace_id: int, emit: Callable[[Transaction], Awaitable[None]]) -> int:
    """Commit the events ``emit(tx)`` records to the workspace's outbox, unpublished (as a write
    whose events a subscriber reads late), inside :func:`served_database`; returns the
    workspace's sequence before them (a quiet workspace: no other writer meanwhile)."""
    before = (await Workspace.get(id=workspace_id)).event_sequence
    await write(None, workspace_id, emit)
    return before

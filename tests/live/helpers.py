"""Shared bits of the live-path tests."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from tortoise import Tortoise

from db.migrate import apply_migrations
from db.models import Contact, Conversation, Message, Workspace
from graph.events import EventType
from graph.live import write
from graph.relay import decode_id
from graph.resolvers.contact import contact_facts, conversation_facts
from tests.support import models_on, receive

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from graph.live import Transaction
    from tests.support import Served

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""


def heavy_subscription(arguments: str = "") -> str:
    """A dashboard's ``newMessage`` (with ``arguments``) selecting each message's text 20
    times (aliases): about 200 KB a frame of a :func:`flood` message, so that the server's
    socket buffers (a few MB) fill after a few dozen events."""
    return (
        "subscription { newMessage"
        + (f"({arguments})" if arguments else "")
        + " { sequence message { text "
        + " ".join(f"t{i}: text" for i in range(1, 20))
        + " } } }"
    )


async def flood(world, contact: str, count: int, client) -> list[str]:
    """``count`` inbound messages of 10,000 characters from the world's ``contact``, ingested
    with ``client``, six at a time; their texts, in order of their numbers."""
    texts = [f"{i:04d} " + "x" * 9995 for i in range(count)]
    semaphore = asyncio.Semaphore(6)

    async def send(text: str) -> None:
        async with semaphore:
            await receive(world, contact, text, client=client)

    await asyncio.gather(*(send(text) for text in texts))
    return texts


@contextlib.asynccontextmanager
async def served_database(served: Served) -> AsyncIterator[None]:
    """The tortoise models connected to the served app's database: for the states of a race
    the API cannot time (its data is read and written as the server does)."""
    async with models_on(served.env["DATABASE_URL"]):
        yield


@contextlib.asynccontextmanager
async def scratch_table(
    database_url: str, name: str, columns: str, rows: str = ""
) -> AsyncIterator[Any]:
    """A table of its own (``CREATE TABLE name (columns)``, holding ``rows``: an ``INSERT``'s
    ``VALUES`` list) in the migrated database at ``database_url``, for tests of
    :func:`graph.live.write` with statements of their own; yields tortoise's connection
    (the models connected), drops the table after."""
    await apply_migrations(database_url)
    async with models_on(database_url):
        connection = Tortoise.get_connection("default")
        fill = f"INSERT INTO {name} VALUES {rows};" if rows else ""
        await connection.execute_script(
            f"CREATE TABLE IF NOT EXISTS {name} ({columns}); DELETE FROM {name};{fill}"
        )
        try:
            yield connection
        finally:
            await connection.execute_script(f"DROP TABLE {name}")


async def commit_events(workspace_id: int, emit: Callable[[Transaction], Awaitable[None]]) -> int:
    """Commit the events ``emit(tx)`` records to the workspace's outbox, unpublished (as a write
    whose events a subscriber reads late), inside :func:`served_database`; returns the
    workspace's sequence before them (a quiet workspace: no other writer meanwhile)."""
    before = (await Workspace.get(id=workspace_id)).event_sequence
    await write(None, workspace_id, emit)
    return before


async def messages_with_late_facts(world, contact_names: tuple[str, ...], read_as: str) -> int:
    """One ``message.created`` event per contact of ``contact_names`` (its conversation's
    first message) whose facts were read while the contact was assigned to ``read_as`` (it is
    not: the race the API cannot time), committed unpublished in one write; returns the
    workspace's sequence before them."""
    async with served_database(world.served):
        contacts = [
            await Contact.get(id=decode_id(world.contact_ids[name], "Contact"))
            for name in contact_names
        ]
        assignee = decode_id(world.user_ids[read_as], "User")

        async def late_facts(tx: Transaction) -> None:
            for contact in contacts:
                conversation = await Conversation.filter(contact_id=contact.id).first()
                message = await Message.filter(conversation_id=conversation.id).first()
                tx.emit(
                    EventType.MESSAGE_CREATED,
                    **{**contact_facts(contact), "assignee_id": assignee},  # as read before
                    **conversation_facts(conversation),
                    message_id=message.id,
                    direction=message.direction.value,
                )

        return await commit_events(contacts[0].workspace_id, late_facts)


def stand_in_viewer(user_id: int, **more: Any) -> SimpleNamespace:
    """A viewer as the live path reads it (``graph.fanout.view_key``, the session's expiry):
    an unexpiring ``AGENT`` of workspace 1 seeing ``ALL``; ``more`` adds or replaces facts."""
    return SimpleNamespace(
        user_id=user_id,
        workspace_id=1,
        role="AGENT",
        effective_visibility="ALL",
        can_view_blocked_contacts=False,
        has_call_access=False,
        token_expires_at=None,
        **more,
    )

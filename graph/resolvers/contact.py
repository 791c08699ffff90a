"""Contacts: visible lookups and assignment (``domain.md`` sections 1 and 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from db.models import Activity, ActivityKind, Contact, Conversation, User
from graph.errors import NotFound
from graph.live import write
from graph.permissions.visibility import Viewer, contact_scope

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.live import EventBus, Transaction


def contact_facts(contact: Contact) -> dict[str, object]:
    """The facts of a contact that events carry so subscribers authorise them without a query."""
    return {
        "contact_id": contact.id,
        "assignee_id": contact.assignee_id,
        "blocked": contact.blocked,
    }


def may_see(viewer: Viewer, contact: Contact | None) -> bool:
    """Whether ``viewer`` may see ``contact`` (``domain.md`` section 1)."""
    return (
        contact is not None
        and contact.workspace_id == viewer.workspace_id
        and contact_scope(viewer).allows(contact.assignee_id, contact.blocked)
    )


async def visible_contact(
    viewer: Viewer,
    contact_id: int,
    *,
    connection: BaseDBAsyncClient | None = None,
    for_update: bool = False,
    field: str = "contactId",
) -> Contact:
    """The contact ``contact_id`` if ``viewer`` may see it.

    Args:
        connection: the transaction to read in; with ``for_update`` the row stays locked
            until it ends (PostgreSQL; SQLite serialises writers instead).

    Raises:
        NotFound: it does not exist, is in another workspace, or the viewer may not see it.
    """
    query = Contact.filter(id=contact_id, workspace_id=viewer.workspace_id)
    if connection is not None:
        query = query.using_db(connection)
    if for_update:
        query = query.select_for_update()
    contact = await query.first()
    if not may_see(viewer, contact):
        raise NotFound("Contact", field=field)
    return contact


async def current_conversation(tx: Transaction, contact: Contact) -> Conversation | None:
    """The conversation a contact-level change shows in: the open one, else the latest."""
    return await (
        Conversation.filter(contact_id=contact.id)
        .using_db(tx.connection)
        .order_by("-opened_at", "-id")
        .first()
    )


def conversation_facts(conversation: Conversation | None) -> dict[str, object]:
    """The conversation facts list subscriptions need (``conversationUpdated``)."""
    if conversation is None:
        return {"conversation_id": None, "status": None}
    return {"conversation_id": conversation.id, "status": conversation.status.value}


async def record_change(
    tx: Transaction,
    contact: Contact,
    conversation: Conversation | None,
    kind: ActivityKind,
    event: str,
    *,
    author_id: int | None,
    data: dict[str, Any],
    text: str | None = None,
    at: datetime | None = None,
    **previous: Any,
) -> Activity:
    """Write the one activity of a real change and its event, in ``tx``.

    The event carries the contact's and conversation's facts after the change and, in
    ``previous``, the values it changed (``previous_assignee_id``, ``previous_blocked``,
    ``previous_status``), which live lists compare (``graph.resolvers.inbox.list_change``).
    """
    activity = await Activity.create(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        conversation_id=conversation.id if conversation else None,
        kind=kind,
        author_id=author_id,
        text=text,
        data=data,
        created_at=at or datetime.now(UTC),
        using_db=tx.connection,
    )
    tx.emit(
        event,
        **contact_facts(contact),
        **conversation_facts(conversation),
        **previous,
        activity_id=activity.id,
    )
    return activity


async def record_assignment(
    tx: Transaction,
    contact: Contact,
    assignee_id: int | None,
    *,
    author_id: int | None,
    reason: str,
) -> bool:
    """Set the contact's assignee in ``tx``, with one activity and one event per real change.

    Returns:
        Whether anything changed (a no-op writes nothing).
    """
    previous = contact.assignee_id
    if previous == assignee_id:
        return False
    contact.assignee_id = assignee_id
    await contact.save(using_db=tx.connection, update_fields=["assignee_id", "updated_at"])
    kind = ActivityKind.CONTACT_ASSIGNED if assignee_id else ActivityKind.CONTACT_UNASSIGNED
    conversation = await current_conversation(tx, contact)
    await record_change(
        tx,
        contact,
        conversation,
        kind,
        "contact.assigned",
        author_id=author_id,
        data={"assignee_id": assignee_id, "previous_assignee_id": previous, "reason": reason},
        previous_assignee_id=previous,
    )
    return True


async def assign_contact(
    bus: EventBus, viewer: Viewer, contact_id: int, assignee_id: int | None
) -> Contact:
    """Assign a contact to a user of the workspace, or to nobody.

    Raises:
        NotFound: the contact is not visible to the viewer (``contactId``), or the assignee is
            not an active user of the workspace (``assigneeId``).
    """
    await visible_contact(viewer, contact_id)
    if assignee_id is not None:
        exists = await User.filter(
            id=assignee_id, workspace_id=viewer.workspace_id, is_active=True
        ).exists()
        if not exists:
            raise NotFound("User", field="assigneeId")

    async def operation(tx: Transaction) -> Contact:
        contact = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        await record_assignment(
            tx, contact, assignee_id, author_id=viewer.user_id, reason="manual"
        )
        return contact

    return await write(bus, viewer.workspace_id, operation)


async def set_blocked(bus: EventBus, viewer: Viewer, contact_id: int, blocked: bool) -> Contact:
    """Block or unblock a contact (``domain.md`` section 2, blocked-contacts inbox).

    A real change writes one activity and one event; a no-op writes nothing. Blocked contacts
    are visible only to users who may view them, so only they can unblock.

    Raises:
        NotFound: the contact is not visible to the viewer.
    """
    await visible_contact(viewer, contact_id)

    async def operation(tx: Transaction) -> Contact:
        contact = await visible_contact(viewer, contact_id, connection=tx.connection, for_update=True)
        if contact.blocked == blocked:
            return contact
        contact.blocked = blocked
        await contact.save(using_db=tx.connection, update_fields=["blocked", "updated_at"])
        conversation = await current_conversation(tx, contact)
        await record_change(
            tx,
            contact,
            conversation,
            ActivityKind.CONTACT_BLOCKED if blocked else ActivityKind.CONTACT_UNBLOCKED,
            "contact.blocked" if blocked else "contact.unblocked",
            author_id=viewer.user_id,
            data={},
            previous_blocked=not blocked,
        )
        return contact

    return await write(bus, viewer.workspace_id, operation)


__all__ = [
    "assign_contact",
    "contact_facts",
    "conversation_facts",
    "current_conversation",
    "set_blocked", "may_see", "record_assignment", "visible_contact"]

"""Erasing a contact: the right to erasure (GDPR article 17; issue 21, item 4).

``eraseContact`` is for owners. In one transaction, under the contact's row lock:

- every row that holds the contact's personal data is deleted: its conversations (closing
  notes), messages (their text), calls (numbers, recordings), activities (comments, merge
  sentences) and their mentions, new-message marks, channel identities (handles), CRM links,
  and the phone and e-mail keys of ``upsertContact``;
- the contact row stays as an anonymised tombstone: names, phone, e-mail, country and language
  cleared, ``erased_at`` set, and the counts of what was deleted kept in ``erased_counts``
  (``{"conversations": n, "messages": n, "calls": n}``), with its assignee and blocked flag
  (so that exactly those who could see it still can, and its events authorise as before);
- one ``CONTACT_ERASED`` activity, by the owner, records the erasure with those counts only,
  and one ``contact.erased`` event each for it and for every deleted conversation (``status``
  null): live lists drop the conversations (``conversationUpdated`` reports them ``LEFT``
  with reason ``ERASED``), sidebars recount.

Afterwards nothing of the contact's personal data is left to read: not by ``node(id)``, lists
or subscriptions (their rows are gone; resumed streams find nothing to build), nor by webhooks,
which build every delivery from the rows as they are at its first attempt
(:mod:`graph.webhooks`): the tombstone names no one. No event ever carried personal data. An
erased contact is ``NOT_FOUND`` for every other mutation (:func:`graph.resolvers.contact.visible_contact`),
appears in no list, and a later message from the same handle makes a new contact. Erasing it
again changes nothing and returns it as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from db.models import (
    Activity,
    ActivityKind,
    Call,
    CallStatus,
    ChannelIdentity,
    Contact,
    ContactKey,
    Conversation,
    CrmLink,
    Message,
    Role,
    UnseenMark,
)
from graph.errors import Conflict, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.resolvers.contact import contact_facts, may_see, record_change

if TYPE_CHECKING:
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer

PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "email_normalized",
    "country_code",
    "language",
)
"""The contact's own fields that an erasure clears."""

LIVE_CALL_STATUSES = (CallStatus.RINGING, CallStatus.ONGOING)


async def _erasable(viewer: Viewer, contact_id: int, connection=None) -> Contact:
    query = Contact.filter(id=contact_id, workspace_id=viewer.workspace_id)
    if connection is not None:
        query = query.using_db(connection).select_for_update()
    contact = await query.first()
    if not may_see(viewer, contact):
        raise NotFound("Contact", field="contactId")
    return contact


async def erase_contact(bus: EventBus, viewer: Viewer, contact_id: int) -> Contact:
    """Erase a contact's personal data, keeping an anonymised tombstone with counts (see the
    module docstring).

    Returns:
        The erased contact (``erasedAt`` set); the same, unchanged, for one erased already.

    Raises:
        NotFound: the contact is unknown, in another workspace or hidden from the viewer
            (``contactId``).
        Forbidden: the viewer is not an owner.
        Conflict: the contact has a ringing or ongoing call (``contactId``): erase it once the
            call has ended.
    """
    contact = await _erasable(viewer, contact_id)
    if viewer.role is not Role.OWNER:
        raise Forbidden("Only owners may erase contacts.")
    if contact.erased_at is not None:
        return contact

    async def operation(tx: Transaction) -> Contact:
        conn = tx.connection
        contact = await _erasable(viewer, contact_id, conn)
        if contact.erased_at is not None:
            return contact  # erased meanwhile
        on_call = (
            await Call.filter(contact_id=contact.id, status__in=LIVE_CALL_STATUSES)
            .using_db(conn)
            .exists()
        )
        if on_call:
            raise Conflict(
                "This contact has a call in progress: erase it once the call has ended.",
                field="contactId",
            )
        conversations = (
            await Conversation.filter(contact_id=contact.id)
            .using_db(conn)
            .order_by("id")
            .values_list("id", "status")
        )
        conversation_ids = [c for c, _ in conversations]
        counts = {
            "conversations": len(conversations),
            "messages": await Message.filter(contact_id=contact.id).using_db(conn).count(),
            "calls": await Call.filter(contact_id=contact.id).using_db(conn).count(),
        }
        facts = contact_facts(contact)
        if conversation_ids:
            await UnseenMark.filter(conversation_id__in=conversation_ids).using_db(conn).delete()
        for model in (Activity, Message, Call):  # activities' mentions go with them (cascade)
            await model.filter(contact_id=contact.id).using_db(conn).delete()
        if conversation_ids:
            await Conversation.filter(id__in=conversation_ids).using_db(conn).delete()
        for model in (ChannelIdentity, CrmLink, ContactKey):
            await model.filter(contact_id=contact.id).using_db(conn).delete()
        now = datetime.now(UTC)
        for name in PERSONAL_FIELDS:
            setattr(contact, name, None)
        contact.erased_at = now
        contact.erased_counts = counts
        await contact.save(
            using_db=conn,
            update_fields=[*PERSONAL_FIELDS, "erased_at", "erased_counts", "updated_at"],
        )
        await record_change(
            tx,
            contact,
            None,
            ActivityKind.CONTACT_ERASED,
            EventType.CONTACT_ERASED,
            author_id=viewer.user_id,
            data=dict(counts),
            at=now,
        )
        for conversation_id, status in conversations:
            tx.emit(
                EventType.CONTACT_ERASED,
                **facts,
                conversation_id=conversation_id,
                status=None,
                previous_status=getattr(status, "value", status),
            )
        return contact

    return await write(bus, viewer.workspace_id, operation)


__all__ = ["PERSONAL_FIELDS", "erase_contact"]

"""Merging two contacts into one (``domain.md`` section 6, merge suggestions and merging).

The secondary contact is folded into the primary in one transaction:

- both contact rows are locked in ascending id order (PostgreSQL ``SELECT ... FOR UPDATE``),
  so two merges touching the same contact queue up instead of deadlocking, and the later one
  finds its contact gone (``NOT_FOUND``) instead of moving rows twice;
- every row that belongs to the secondary through ``contact_id`` (:data:`CONTACT_ROWS`:
  channel identities, messages, calls, activities) and its conversations move to the
  primary; when both have an open conversation, the secondary's messages, activities and
  new-message marks move into the primary's open one, which stays the single open
  conversation, and the secondary's is deleted;
- the primary's empty fields are filled from the secondary; the fields named in
  ``take_from_secondary`` take the secondary's value even when the primary has one;
- a blocked contact merged with an unblocked one needs an explicit choice (``blocked``);
- the secondary is deleted and one ``CONTACTS_MERGED`` activity naming both is written on the
  primary, with a ``contact.merged`` event for each conversation whose list position may
  have changed (the secondary's conversations, which now carry the primary's assignee and
  blocked flag; the folded one, which leaves every list; the primary's current one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from db.models import (
    Activity,
    ActivityKind,
    Call,
    ChannelIdentity,
    Contact,
    ContactKey,
    Conversation,
    ConversationStatus,
    CrmLink,
    Message,
    UnseenMark,
)
from graph.errors import BadUserInput, FieldErrors
from graph.events import EventType
from graph.live import write
from graph.resolvers.contact import (
    contact_facts,
    current_conversation,
    display_name,
    record_change,
    require_contact_editor,
    visible_contact,
)
from graph.resolvers.indicators import follow_facts

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tortoise.models import Model

    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer

CONTACT_ROWS: tuple[type[Model], ...] = (
    ChannelIdentity,
    Message,
    Call,
    Activity,
    CrmLink,
    ContactKey,
)
"""Rows owned by a contact through ``contact_id`` that follow it into the primary. A table
linking contacts to something else belongs here too: whatever is not moved is deleted with the
secondary (``ON DELETE CASCADE``). A contact has one CRM link per CRM: where both have one, the
primary's stands and the secondary's is dropped first."""

MERGEABLE_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "country_code",
    "language",
    "assignee_id",
)
"""Contact fields a merge fills from the secondary (``email`` carries ``email_normalized``)."""


def _check_blocked_choice(primary: Contact, secondary: Contact, blocked: bool | None) -> bool:
    """The merged contact's blocked flag.

    Raises:
        BadUserInput: (``blocked``) one contact is blocked and the other not, and no choice
            was given; or a choice neither contact has (block or unblock separately).
    """
    if primary.blocked != secondary.blocked:
        if blocked is None:
            raise BadUserInput(
                "One of these contacts is blocked and the other is not: say whether the merged "
                "contact is blocked (`blocked`).",
                field="blocked",
            )
        return blocked
    if blocked is not None and blocked != primary.blocked:
        state = "blocked" if primary.blocked else "unblocked"
        raise BadUserInput(
            f"Both contacts are {state}: block or unblock the contact separately.", field="blocked"
        )
    return primary.blocked


async def _fold_open_conversation(
    tx: Transaction, into: Conversation, folded: Conversation
) -> None:
    """Move the messages, activities and new-message marks of ``folded`` into ``into`` (both
    open), keep the later of their last activities on ``into``, and delete ``folded``."""
    conn = tx.connection
    await Message.filter(conversation_id=folded.id).using_db(conn).update(conversation_id=into.id)
    await Activity.filter(conversation_id=folded.id).using_db(conn).update(conversation_id=into.id)
    marks = await UnseenMark.filter(conversation_id=folded.id).using_db(conn)
    if marks:
        await UnseenMark.bulk_create(
            [
                UnseenMark(
                    user_id=m.user_id,
                    inbox_key=m.inbox_key,
                    conversation_id=into.id,
                    marked_at=m.marked_at,
                )
                for m in marks
            ],
            ignore_conflicts=True,
            using_db=conn,
        )
    fields = []
    if folded.last_activity_at > into.last_activity_at:
        into.last_activity_at = folded.last_activity_at
        fields.append("last_activity_at")
        if folded.last_message_id is not None:
            into.last_message_id = folded.last_message_id
            into.last_channel_id = folded.last_channel_id
            fields += ["last_message_id", "last_channel_id"]
    if folded.last_inbound_at and (
        into.last_inbound_at is None or folded.last_inbound_at > into.last_inbound_at
    ):
        into.last_inbound_at = folded.last_inbound_at
        fields.append("last_inbound_at")
    if folded.opened_at < into.opened_at:
        into.opened_at = folded.opened_at
        fields.append("opened_at")
    if fields:
        await into.save(using_db=conn, update_fields=fields)
    await Conversation.filter(id=folded.id).using_db(conn).delete()


def _fill(primary: Contact, secondary: Contact, take_from_secondary: Iterable[str]) -> list[str]:
    """Copy the secondary's values into the primary's empty fields and the chosen ones;
    returns the model fields changed."""
    chosen = set(take_from_secondary)
    changed: list[str] = []
    for key in MERGEABLE_FIELDS:
        value = getattr(secondary, key)
        if value is None or value == getattr(primary, key):
            continue
        if key in chosen or getattr(primary, key) is None:
            setattr(primary, key, value)
            changed.append(key)
            if key == "email":
                primary.email_normalized = secondary.email_normalized
                changed.append("email_normalized")
    return changed


async def merge_contacts(
    bus: EventBus,
    viewer: Viewer,
    primary_id: int,
    secondary_id: int,
    *,
    blocked: bool | None = None,
    take_from_secondary: Iterable[str] = (),
) -> Contact:
    """Fold the secondary contact into the primary (see the module docstring).

    Args:
        blocked: the merged contact's blocked flag; required when exactly one of the two is
            blocked, otherwise it may only repeat their common state.
        take_from_secondary: model fields of :data:`MERGEABLE_FIELDS` where the secondary's
            value wins over the primary's (when the secondary has one).

    Returns:
        The primary contact, as merged.

    Raises:
        NotFound: either contact is unknown, in another workspace, hidden from the viewer, or
            merged away meanwhile (``primaryId`` / ``secondaryId``).
        Forbidden: the viewer may not edit contacts.
        BadUserInput: a contact merged with itself (``secondaryId``); a blocked and an
            unblocked contact without a choice (``blocked``).
        InvalidInput: several of the above at once, one error per argument
            (:class:`graph.errors.FieldErrors`): the arguments naming contacts first, then
            the choices between them.
    """
    errors = FieldErrors()  # every bad argument reported together
    with errors.collect():
        unknown = set(take_from_secondary) - set(MERGEABLE_FIELDS)
        if unknown:
            raise BadUserInput(
                f"Unknown contact fields: {sorted(unknown)}.", field="takeFromSecondary"
            )
    with errors.collect():
        primary = await visible_contact(viewer, primary_id, field="primaryId")
    with errors.collect():
        secondary = await visible_contact(viewer, secondary_id, field="secondaryId")
    errors.raise_if_any()
    require_contact_editor(viewer)
    with errors.collect():
        if primary.id == secondary.id:
            raise BadUserInput("A contact cannot be merged with itself.", field="secondaryId")
    with errors.collect():
        _check_blocked_choice(primary, secondary, blocked)
    errors.raise_if_any()

    async def operation(tx: Transaction) -> Contact:
        conn = tx.connection
        fields = {primary_id: "primaryId", secondary_id: "secondaryId"}
        locked = {}
        for contact_id in sorted(fields):  # one lock order for every merge: no deadlock
            locked[contact_id] = await visible_contact(
                viewer, contact_id, connection=conn, for_update=True, field=fields[contact_id]
            )
        primary, secondary = locked[primary_id], locked[secondary_id]
        merged_blocked = _check_blocked_choice(primary, secondary, blocked)
        before = contact_facts(primary)
        secondary_before = contact_facts(secondary)
        secondary_name, primary_name = display_name(secondary), display_name(primary)
        now = datetime.now(UTC)

        conversations = (
            await Conversation.filter(contact_id=secondary.id).using_db(conn).order_by("id")
        )
        primary_open = await Conversation.filter(open_contact_id=primary.id).using_db(conn).first()
        secondary_open = next((c for c in conversations if c.open_contact_id is not None), None)
        folded = None
        if primary_open is not None and secondary_open is not None:
            await _fold_open_conversation(tx, primary_open, secondary_open)
            folded = secondary_open
            conversations = [c for c in conversations if c.id != folded.id]
        if conversations:
            await (
                Conversation.filter(id__in=[c.id for c in conversations])
                .using_db(conn)
                .update(contact_id=primary.id)
            )
        if secondary_open is not None and folded is None:
            await (
                Conversation.filter(id=secondary_open.id)
                .using_db(conn)
                .update(open_contact_id=primary.id)
            )

        linked = (
            await CrmLink.filter(contact_id=primary.id)
            .using_db(conn)
            .values_list("provider", flat=True)
        )
        await (
            CrmLink.filter(contact_id=secondary.id, provider__in=list(linked))
            .using_db(conn)
            .delete()
        )
        moved = {}
        for model in CONTACT_ROWS:
            moved[model._meta.db_table] = (
                await model.filter(contact_id=secondary.id)
                .using_db(conn)
                .update(contact_id=primary.id)
            )

        changed = _fill(primary, secondary, take_from_secondary)
        if primary.blocked != merged_blocked:
            primary.blocked = merged_blocked
            changed.append("blocked")
        await Contact.filter(id=secondary.id).using_db(conn).delete()
        if changed:  # after the delete: a unique value may move from one to the other
            await primary.save(using_db=conn, update_fields=[*changed, "updated_at"])
        # marks folded or moved with the secondary's conversation follow the primary's facts
        await follow_facts(tx, primary.id, primary.assignee_id, primary.blocked)

        shown_in = await current_conversation(tx, primary)
        from_secondary = {c.id for c in conversations}
        previous = (
            secondary_before if shown_in is not None and shown_in.id in from_secondary else before
        )
        await record_change(
            tx,
            primary,
            shown_in,
            ActivityKind.CONTACTS_MERGED,
            EventType.CONTACT_MERGED,
            author_id=viewer.user_id,
            text=f"{secondary_name} was merged into {primary_name}.",
            data={
                "primary_id": primary.id,
                "secondary_id": secondary.id,
                "primary_name": primary_name,
                "secondary_name": secondary_name,
                "fields": sorted(changed),
                "moved": moved,
                "folded_conversation_id": folded.id if folded else None,
            },
            at=now,
            previous_assignee_id=previous["assignee_id"],
            previous_blocked=previous["blocked"],
            merged_contact_id=secondary.id,
        )
        # every other conversation whose contact facts changed: the secondary's (they now carry
        # the primary's assignee and blocked flag), the primary's when its own facts changed,
        # and the folded one, which leaves every list
        others = await Conversation.filter(contact_id=primary.id).using_db(conn).order_by("id")
        for conversation in others:
            if shown_in is not None and conversation.id == shown_in.id:
                continue
            if conversation.id not in from_secondary and before == contact_facts(primary):
                continue  # one of the primary's own, whose facts did not change
            was = secondary_before if conversation.id in from_secondary else before
            tx.emit(
                EventType.CONTACT_MERGED,
                **contact_facts(primary),
                conversation_id=conversation.id,
                status=conversation.status.value,
                previous_assignee_id=was["assignee_id"],
                previous_blocked=was["blocked"],
                merged_contact_id=secondary.id,
            )
        if folded is not None:
            tx.emit(
                EventType.CONTACT_MERGED,
                **contact_facts(primary),
                conversation_id=folded.id,
                status=None,
                previous_status=ConversationStatus.OPEN.value,
                previous_assignee_id=secondary_before["assignee_id"],
                previous_blocked=secondary_before["blocked"],
                merged_contact_id=secondary.id,
            )
        return primary

    return await write(bus, viewer.workspace_id, operation)


__all__ = ["CONTACT_ROWS", "MERGEABLE_FIELDS", "merge_contacts"]

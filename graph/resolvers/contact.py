"""Contacts: visible lookups, assignment, and the details of the contact panel
(``domain.md`` sections 1, 4 and 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from strawberry import UNSET

from db.models import Activity, ActivityKind, Channel, ChannelIdentity, Contact, Conversation, User
from db.normalize import normalise_country, normalise_email, normalise_language, normalise_phone
from graph.errors import BadUserInput, FieldErrors, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import Viewer, contact_scope
from graph.resolvers.indicators import follow_facts
from graph.resolvers.pages import channels_of, sharing_of

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.live import EventBus, Transaction
    from graph.loaders import Loaders
    from graph.permissions.visibility import Scope


def contact_facts(contact: Contact) -> dict[str, object]:
    """The facts of a contact that events carry so subscribers authorise them without a query."""
    return {
        "contact_id": contact.id,
        "assignee_id": contact.assignee_id,
        "blocked": contact.blocked,
    }


ERASED_NAME = "Erased contact"
"""The name of a contact erased by ``eraseContact`` (it keeps no personal data)."""


def display_name(contact: Contact) -> str:
    """How a contact is named to users: the full name, else the e-mail, else "Unknown contact"
    (:data:`ERASED_NAME` once erased)."""
    if contact.erased_at is not None:
        return ERASED_NAME
    first, last = contact.first_name, contact.last_name
    # the given names joined by a space, each only when set (every contact of a list: no join)
    full = f"{first} {last}" if first and last else first or last
    return full or contact.email or "Unknown contact"


def display_name_sql(alias: str) -> str:
    """:func:`display_name` of the contact row ``alias`` as a PostgreSQL expression of text (an
    inbox list's nodes built by the database: :mod:`graph.schema.row_json`). The same rule
    written for the database, beside the function it must answer as;
    ``tests/speed/test_row_json.py`` compares the two over every combination of empty,
    missing and given names and e-mails."""
    first, last = f'{alias}."first_name"', f'{alias}."last_name"'
    full = (
        f"CASE WHEN {first} <> '' AND {last} <> '' THEN {first} || ' ' || {last} "
        f"ELSE COALESCE(NULLIF({first}, ''), {last}) END"
    )
    erased = ERASED_NAME.replace("'", "''")
    return (
        f"CASE WHEN {alias}.\"erased_at\" IS NOT NULL THEN '{erased}' "
        f"ELSE COALESCE(NULLIF({full}, ''), NULLIF({alias}.\"email\", ''), 'Unknown contact') END"
    )


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
        NotFound: it does not exist, is in another workspace, the viewer may not see it, or it
            was erased (``eraseContact``: nothing can be done to it any more).
    """
    query = Contact.filter(id=contact_id, workspace_id=viewer.workspace_id)
    if connection is not None:
        query = query.using_db(connection)
    if for_update:
        query = query.select_for_update()
    contact = await query.first()
    if not may_see(viewer, contact) or contact.erased_at is not None:
        raise NotFound("Contact", field=field)
    return contact


def refuse_blocked(contact: Contact, remedy: str) -> None:
    """Raises ``BadUserInput`` (``contactId``), "This contact is blocked: " then ``remedy``,
    when ``contact`` is blocked: nothing reaches a blocked contact, and its conversations are
    neither opened nor closed, until it is unblocked. Checked again under the contact's lock
    by every write that reads it first (another user may block it meanwhile)."""
    if contact.blocked:
        raise BadUserInput(f"This contact is blocked: {remedy}", field="contactId")


async def visible_contact_of(viewer: Viewer, row: Any) -> Contact:
    """The contact of ``row`` (a call, an activity, anything with a ``contact_id``) if
    ``viewer`` may see it.

    Raises:
        NotFound: as :func:`visible_contact`.
    """
    return await visible_contact(viewer, row.contact_id)


async def current_conversation(tx: Transaction, contact: Contact) -> Conversation | None:
    """The conversation a contact-level change shows in: the open one, else the latest.

    After a merge, the open conversation need not be the latest opened one.
    """
    conversation = (
        await Conversation.filter(open_contact_id=contact.id).using_db(tx.connection).first()
    )
    if conversation is not None:
        return conversation
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
    await follow_facts(tx, contact.id, assignee_id, contact.blocked)
    kind = ActivityKind.CONTACT_ASSIGNED if assignee_id else ActivityKind.CONTACT_UNASSIGNED
    conversation = await current_conversation(tx, contact)
    await record_change(
        tx,
        contact,
        conversation,
        kind,
        EventType.CONTACT_ASSIGNED,
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
    active = User.filter(id=assignee_id, workspace_id=viewer.workspace_id, is_active=True)
    if assignee_id is not None and not await active.exists():
        raise NotFound("User", field="assigneeId")

    async def operation(tx: Transaction) -> Contact:
        contact = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        # again under the user's lock: a deactivation commits before this, or waits for it
        if (
            assignee_id is not None
            and await active.using_db(tx.connection).select_for_update().first() is None
        ):
            raise NotFound("User", field="assigneeId")
        await record_assignment(tx, contact, assignee_id, author_id=viewer.user_id, reason="manual")
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
        contact = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        if contact.blocked == blocked:
            return contact
        contact.blocked = blocked
        await contact.save(using_db=tx.connection, update_fields=["blocked", "updated_at"])
        await follow_facts(tx, contact.id, contact.assignee_id, blocked)
        conversation = await current_conversation(tx, contact)
        await record_change(
            tx,
            contact,
            conversation,
            ActivityKind.CONTACT_BLOCKED if blocked else ActivityKind.CONTACT_UNBLOCKED,
            EventType.CONTACT_BLOCKED if blocked else EventType.CONTACT_UNBLOCKED,
            author_id=viewer.user_id,
            data={},
            previous_blocked=not blocked,
        )
        return contact

    return await write(bus, viewer.workspace_id, operation)


MAX_NAME_LENGTH = 120
MAX_EMAIL_LENGTH = 254
MAX_MERGE_SUGGESTIONS = 20


def require_contact_editor(viewer: Viewer) -> None:
    """Raises :class:`Forbidden` unless ``viewer`` may edit contacts (``Viewer.may_edit_contacts``)."""
    if not viewer.may_edit_contacts:
        raise Forbidden("You do not have the permission to edit contacts.")


def _clean_name(value: str | None, field: str) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > MAX_NAME_LENGTH:
        raise BadUserInput(f"`{field}` must be at most {MAX_NAME_LENGTH} characters.", field=field)
    return value


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """The details ``updateContact`` changes: a field left ``UNSET`` stays as it is; ``None``
    or a blank string clears it."""

    first_name: str | None = UNSET
    last_name: str | None = UNSET
    phone: str | None = UNSET
    email: str | None = UNSET
    country_code: str | None = UNSET
    language: str | None = UNSET


def clean_contact_details(contact: Contact, given: ContactDetails) -> dict[str, Any]:
    """The model values of the contact details ``given`` sets (a field left ``UNSET`` changes
    nothing, ``None`` or blank clears), validated and in their stored forms.

    Phones become E.164, parsed with the contact's country (the new one when it is given too)
    as the default region; e-mails are checked as RFC 5322 addresses without a DNS look-up and
    their lower-cased form kept for merge suggestions; countries are ISO 3166-1 alpha-2 codes,
    languages BCP 47 tags (``domain.md`` section 6, details). All rules live in
    :mod:`db.normalize`.

    Raises:
        BadUserInput: every invalid value at once (:class:`graph.errors.FieldErrors`), each
            naming its field (``firstName``, ``lastName``, ``phone``, ``email``,
            ``countryCode``, ``language``).
    """
    values: dict[str, Any] = {}
    errors = FieldErrors()
    for attribute, field in (("first_name", "firstName"), ("last_name", "lastName")):
        if getattr(given, attribute) is not UNSET:
            with errors.collect():
                values[attribute] = _clean_name(getattr(given, attribute), field)
    if given.country_code is not UNSET:
        raw = (given.country_code or "").strip()
        with errors.collect():
            try:
                values["country_code"] = normalise_country(raw) if raw else None
            except ValueError:
                raise BadUserInput(
                    f"`countryCode` {raw[:40]!r} is not an ISO 3166-1 alpha-2 country code.",
                    field="countryCode",
                ) from None
    if given.language is not UNSET:
        raw = (given.language or "").strip()
        with errors.collect():
            try:
                values["language"] = normalise_language(raw) if raw else None
            except ValueError:
                raise BadUserInput(
                    f"`language` {raw[:40]!r} is not a valid BCP 47 language tag.",
                    field="language",
                ) from None
    if given.phone is not UNSET:
        raw = (given.phone or "").strip()
        # read in the new country when it is valid, else in the contact's
        region = values.get("country_code", contact.country_code)
        with errors.collect():
            try:
                values["phone"] = normalise_phone(raw, region)[0] if raw else None
            except ValueError:
                where = (
                    f" for the country {region}" if region else " (give it with its country code)"
                )
                raise BadUserInput(
                    f"`phone` is not a valid phone number{where}.", field="phone"
                ) from None
    if given.email is not UNSET:
        raw = (given.email or "").strip()
        with errors.collect():
            if len(raw) > MAX_EMAIL_LENGTH:
                raise BadUserInput(
                    f"`email` must be at most {MAX_EMAIL_LENGTH} characters.", field="email"
                )
            try:
                values["email_normalized"] = normalise_email(raw) if raw else None
            except ValueError as exc:
                raise BadUserInput(
                    f"`email` is not a valid e-mail address: {exc}", field="email"
                ) from None
            values["email"] = raw or None
    errors.raise_if_any()
    return values


async def update_contact(
    bus: EventBus, viewer: Viewer, contact_id: int, given: ContactDetails
) -> Contact:
    """Edit a contact's names, phone, e-mail, country and language (``domain.md`` section 6).

    Only the fields ``given`` sets change (see :func:`clean_contact_details`); everything is
    validated before anything is written, so a bad value changes nothing. A real change emits
    ``contact.updated`` (live lists show the contact's name).

    Raises:
        NotFound: the contact is not visible to the viewer (``contactId``).
        Forbidden: the viewer may not edit contacts.
        BadUserInput: an invalid value, naming its field.
    """
    contact = await visible_contact(viewer, contact_id)
    require_contact_editor(viewer)
    clean_contact_details(contact, given)  # fail fast, before the transaction

    async def operation(tx: Transaction) -> Contact:
        locked = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        await apply_contact_details(tx, locked, given)
        return locked

    return await write(bus, viewer.workspace_id, operation)


async def apply_contact_details(tx: Transaction, contact: Contact, given: ContactDetails) -> None:
    """Set the details ``given`` on ``contact`` (locked in ``tx``), checked again (the country
    may have changed since they were first checked); a real change saves the row and emits
    ``contact.updated`` (live lists show the contact's name), a no-op writes nothing.

    Raises:
        BadUserInput: as :func:`clean_contact_details`.
    """
    values = clean_contact_details(contact, given)
    changed = [k for k, v in values.items() if getattr(contact, k) != v]
    if not changed:
        return
    for key in changed:
        setattr(contact, key, values[key])
    await contact.save(using_db=tx.connection, update_fields=[*changed, "updated_at"])
    conversation = await current_conversation(tx, contact)
    tx.emit(
        EventType.CONTACT_UPDATED,
        **contact_facts(contact),
        **conversation_facts(conversation),
        fields=sorted(changed),
    )


def merge_suggestions_read(viewer: Viewer) -> tuple[Scope, int]:
    """What :func:`merge_suggestions` reads for ``viewer``, as
    :func:`graph.resolvers.pages.sharing_of` takes it: ``(scope, limit)``."""
    return contact_scope(viewer), MAX_MERGE_SUGGESTIONS


async def merge_suggestions(viewer: Viewer, loaders: Loaders, contact: Contact) -> list[Contact]:
    """Other contacts of the workspace sharing ``contact``'s phone (E.164) or lower-cased
    e-mail, that ``viewer`` may see (``domain.md`` sections 1 and 6), oldest first, at most 20.

    One statement for one contact; batched: the contacts of one response share two statements
    (:func:`graph.resolvers.pages.sharing_of`, within :func:`contact_scope`), served by
    the ``(workspace_id, phone)`` and ``(workspace_id, email_normalized)`` indexes: both
    columns hold the normalised values (:mod:`db.normalize`) on every write path.
    """
    if not contact.phone and not contact.email_normalized:
        return []
    loader = sharing_of(loaders, *merge_suggestions_read(viewer))
    return await loader.load((contact.id, contact.phone, contact.email_normalized))


@dataclass
class ContactChannel:
    """A channel of the workspace, and the contact's identities on it, oldest first (a
    merged contact may have several on one channel)."""

    channel: Channel
    identities: list[ChannelIdentity]


async def contact_channels(loaders: Loaders, contact: Contact) -> list[ContactChannel]:
    """Every channel of the contact's workspace, oldest first, each with the contact's
    identity on it if it has one (``domain.md`` section 6, connected channels).

    One statement for one contact, both read together; batched: the workspace's channels are
    read once per request and the identities of the contacts of one response in one statement
    (:func:`graph.resolvers.pages.channels_of`).
    """
    channels, identities = await channels_of(loaders).load(contact.id)
    by_channel: dict[int, list[ChannelIdentity]] = {}
    for identity in identities:
        by_channel.setdefault(identity.channel_id, []).append(identity)
    return [ContactChannel(channel, by_channel.get(channel.id, [])) for channel in channels]


__all__ = [
    "ERASED_NAME",
    "ContactChannel",
    "ContactDetails",
    "apply_contact_details",
    "assign_contact",
    "clean_contact_details",
    "contact_channels",
    "contact_facts",
    "conversation_facts",
    "current_conversation",
    "display_name",
    "may_see",
    "merge_suggestions",
    "merge_suggestions_read",
    "record_assignment",
    "refuse_blocked",
    "require_contact_editor",
    "set_blocked",
    "update_contact",
    "visible_contact",
    "visible_contact_of",
]

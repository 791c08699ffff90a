"""The workspace's contacts as partners manage them (issue 21, item 4; ``domain.md`` terms and
sections 1 and 6): the ``contacts`` list, ``createContact`` and ``upsertContact``.

- The list holds the contacts the viewer may see (:func:`graph.permissions.visibility.contact_scope`),
  erased ones never, newest first, narrowed by a :class:`ContactListFilter`.
- Values are stored in their canonical forms (:mod:`db.normalize`, through
  :func:`graph.resolvers.contact.clean_contact_details` and
  :func:`graph.resolvers.conversation.normalise_handle`): a phone number is found whatever
  its format, an e-mail whatever its case.
- ``upsertContact`` finds the contact of one identity (a phone number, an e-mail address or a
  channel handle) or creates it, and never creates two under concurrency: a channel handle is
  unique per channel (``channel_identity``), a phone number or e-mail address per workspace
  through its :class:`db.models.ContactKey`; a concurrent second creation fails on the
  constraint and :func:`graph.live.write` runs it again, which finds the first.
- A contact created by a ``TEAM`` or ``SELF`` agent is assigned to them unless they name
  another assignee they may see: nobody creates a contact they could not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry import UNSET
from tortoise.exceptions import IntegrityError

from db.models import (
    Channel,
    ChannelIdentity,
    Contact,
    ContactKey,
    ContactKeyKind,
    User,
)
from db.normalize import normalise_email, normalise_phone
from graph.errors import BadUserInput, Conflict, FieldErrors, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import contact_scope
from graph.relay import Page
from graph.resolvers.contact import (
    ContactDetails,
    apply_contact_details,
    clean_contact_details,
    contact_facts,
    conversation_facts,
    may_see,
    require_contact_editor,
)
from graph.resolvers.conversation import normalise_handle

if TYPE_CHECKING:
    from tortoise.queryset import QuerySet

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer
    from graph.relay import PageRequest

CONTACT_ORDER = (("created_at", True), ("id", True))
"""The ``contacts`` list: newest first (index ``contact(workspace_id, created_at, id)``)."""

MAX_IDENTITIES = 20
"""The most channel handles one ``createContact`` gives a contact."""


def check_identity_count(identities: list[Any] | None) -> None:
    """Refuse more than :data:`MAX_IDENTITIES` handles at once, before any is read: each
    handle's errors are gathered, so 20,000 invalid ones took 22 s and answered 5 MB of
    errors (a helper's review).

    Raises:
        BadUserInput: naming ``identities``.
    """
    if identities is not None and len(identities) > MAX_IDENTITIES:
        raise BadUserInput(
            f"A contact is created with at most {MAX_IDENTITIES} identities.", field="identities"
        )


@dataclass(frozen=True, slots=True)
class ContactListFilter:
    """What narrows the ``contacts`` list, as the client gave it (``None``: no condition).

    Attributes:
        assignee_id: contacts assigned to this user (a User's primary key).
        unassigned: ``True`` only contacts without an assignee, ``False`` only assigned ones.
        blocked: only blocked (``True``) or unblocked (``False``) contacts.
        phone: a phone number in any format (international, or national with the ``+`` and
            country code), compared in E.164.
        email: an e-mail address, compared lower-cased.
        channel_id, handle: the contact with this handle on this channel (both or neither).
    """

    assignee_id: int | None = None
    unassigned: bool | None = None
    blocked: bool | None = None
    phone: str | None = None
    email: str | None = None
    channel_id: int | None = None
    handle: str | None = None


def _clean_phone(raw: str, field: str) -> str:
    try:
        return normalise_phone(raw)[0]
    except ValueError:
        raise BadUserInput(
            f"`{field.rpartition('.')[2]}` is not a valid international phone number "
            "(give it with its country code, e.g. +44 7911 123456).",
            field=field,
        ) from None


def _clean_email(raw: str, field: str) -> str:
    try:
        return normalise_email(raw)
    except ValueError as exc:
        raise BadUserInput(
            f"`{field.rpartition('.')[2]}` is not a valid e-mail address: {exc}", field=field
        ) from None


async def _channel(viewer: Viewer, channel_id: int, field: str) -> Channel:
    channel = await Channel.filter(id=channel_id, workspace_id=viewer.workspace_id).first()
    if channel is None:
        raise NotFound("Channel", field=field)
    return channel


async def list_contacts(
    viewer: Viewer, where: ContactListFilter, request: PageRequest
) -> Page[Contact]:
    """The contacts ``viewer`` may see (``domain.md`` section 1), erased ones never, matching
    ``where``, newest first: the page ``request`` asks for, its total counted on demand.

    Raises:
        BadUserInput: a malformed phone or e-mail (``filter.phone``, ``filter.email``), a
            handle without its channel or the reverse (``filter.handle``), every one at once.
        NotFound: an unknown channel (``filter.channelId``).
    """
    errors = FieldErrors()
    query: QuerySet[Contact] = Contact.filter(
        contact_scope(viewer).q(), workspace_id=viewer.workspace_id, erased_at__isnull=True
    )
    if where.assignee_id is not None:
        query = query.filter(assignee_id=where.assignee_id)
    if where.unassigned is not None:
        query = query.filter(assignee_id__isnull=where.unassigned)
    if where.blocked is not None:
        query = query.filter(blocked=where.blocked)
    if where.phone is not None:
        with errors.collect():
            query = query.filter(phone=_clean_phone(where.phone, "filter.phone"))
    if where.email is not None:
        with errors.collect():
            query = query.filter(email_normalized=_clean_email(where.email, "filter.email"))
    with errors.collect():
        if (where.channel_id is None) != (where.handle is None):
            raise BadUserInput(
                "Give `channelId` and `handle` together to find a contact by its handle.",
                field="filter.handle",
            )
        if where.channel_id is not None and where.handle is not None:
            channel = await _channel(viewer, where.channel_id, "filter.channelId")
            handle, _ = normalise_handle(channel, where.handle, field="filter.handle")
            query = query.filter(
                channel_identities__channel_id=channel.id, channel_identities__handle=handle
            )
    errors.raise_if_any()
    rows = await request.read(query, CONTACT_ORDER)
    return Page.of(rows, request, lambda c: [c.created_at, c.id], query.count)


@dataclass(frozen=True, slots=True)
class ContactIdentity:
    """One identity of a contact as a client gives it: exactly one of a phone number, an
    e-mail address, or a channel (primary key) with the contact's handle on it."""

    phone: str | None = None
    email: str | None = None
    channel_id: int | None = None
    handle: str | None = None


@dataclass(frozen=True, slots=True)
class _Identity:
    """A checked :class:`ContactIdentity`: a phone or e-mail key, or a channel handle."""

    kind: ContactKeyKind | None
    value: str
    channel: Channel | None = None
    implied: dict[str, Any] = field(default_factory=dict)


async def _clean_identity(
    viewer: Viewer, identity: ContactIdentity, path: str, errors: FieldErrors
) -> _Identity | None:
    """``identity`` in its canonical form, or ``None`` with its errors added to ``errors``."""
    given = [
        name
        for name, value in (
            ("phone", identity.phone),
            ("email", identity.email),
            ("channelId", identity.channel_id),
        )
        if value is not None
    ]
    with errors.collect():
        if len(given) != 1 or (identity.handle is not None) != (identity.channel_id is not None):
            raise BadUserInput(
                "Give exactly one identity: `phone`, `email`, or `channelId` with `handle`.",
                field=path,
            )
        if identity.phone is not None:
            e164 = _clean_phone(identity.phone, f"{path}.phone")
            return _Identity(ContactKeyKind.PHONE, e164, implied={"phone": e164})
        if identity.email is not None:
            address = _clean_email(identity.email, f"{path}.email")
            raw = identity.email.strip()
            return _Identity(
                ContactKeyKind.EMAIL, address, implied={"email": raw, "email_normalized": address}
            )
        assert identity.channel_id is not None and identity.handle is not None
        channel = await _channel(viewer, identity.channel_id, f"{path}.channelId")
        handle, implied = normalise_handle(channel, identity.handle, field=f"{path}.handle")
        return _Identity(None, handle, channel=channel, implied=implied)
    return None


async def _clean_assignee(viewer: Viewer, assignee_id: int | None) -> int | None:
    """The assignee of a new contact: ``assignee_id`` (an active user of the workspace), or
    for a ``TEAM`` or ``SELF`` agent who names nobody, themself.

    Raises:
        NotFound: not an active user of the workspace (``assigneeId``).
        BadUserInput: the viewer could not see a contact assigned so (``assigneeId``).
    """
    if assignee_id is UNSET or assignee_id is None:
        return viewer.user_id if viewer.is_restricted else None
    if not await User.filter(
        id=assignee_id, workspace_id=viewer.workspace_id, is_active=True
    ).exists():
        raise NotFound("User", field="assigneeId")
    if not contact_scope(viewer).allows(assignee_id, False):
        raise BadUserInput(
            "You could not see a contact assigned to this user: assign it to yourself or a "
            "teammate.",
            field="assigneeId",
        )
    return assignee_id


async def _create(
    tx: Transaction,
    viewer: Viewer,
    values: dict[str, Any],
    identities: list[_Identity],
) -> Contact:
    """Insert a contact with ``values`` and its channel identities, and emit
    ``contact.created``. A handle another contact holds fails on ``(channel, handle)``."""
    conn = tx.connection
    contact = await Contact.create(workspace_id=viewer.workspace_id, using_db=conn, **values)
    for identity in identities:
        assert identity.channel is not None
        await ChannelIdentity.create(
            workspace_id=viewer.workspace_id,
            contact_id=contact.id,
            channel_id=identity.channel.id,
            handle=identity.value,
            using_db=conn,
        )
    tx.emit(EventType.CONTACT_CREATED, **contact_facts(contact), **conversation_facts(None))
    return contact


def _with_implied(values: dict[str, Any], implied: dict[str, Any]) -> dict[str, Any]:
    """``values`` completed with the fields an identity implies where they were not given."""
    result = dict(values)
    for key, value in implied.items():
        if key == "email_normalized":
            if "email" not in values:
                result[key] = value
        elif key not in values:
            result[key] = value
    return result


async def create_contact(
    bus: EventBus,
    viewer: Viewer,
    details: ContactDetails,
    *,
    assignee_id: int | None = None,
    identities: list[ContactIdentity] | None = None,
    once: Once | None = None,
) -> Contact:
    """Create a contact (``createContact``): its details validated as ``updateContact``'s,
    its channel handles (``identities``: channel ones only), its assignee.

    A phone or e-mail channel's handle fills the phone or e-mail when not given. Writes the
    contact, its identities and a ``contact.created`` event in one transaction. ``once``: the
    request's idempotency key (:mod:`graph.idempotency`).

    Raises:
        Forbidden: the viewer may not edit contacts.
        BadUserInput: invalid details, handles or assignee, every one at once, each naming its
            field (``phone``, ``identities[0].handle`` ...); a handle given twice; more than
            :data:`MAX_IDENTITIES` handles (:func:`check_identity_count`).
        NotFound: an unknown channel (``identities[i].channelId``) or assignee (``assigneeId``).
        Conflict: a handle that belongs to another contact (``identities[i].handle``).
    """
    require_contact_editor(viewer)
    check_identity_count(identities)
    errors = FieldErrors()
    values: dict[str, Any] = {}
    with errors.collect():
        values = clean_contact_details(Contact(), details)
    cleaned: list[_Identity] = []
    for index, identity in enumerate(identities or ()):
        path = f"identities[{index}]"
        with errors.collect():
            if identity.channel_id is None or identity.handle is None:
                raise BadUserInput(
                    "A contact's identity here is a channel and its handle on it: give "
                    "`channelId` and `handle` (set `phone` and `email` on the contact).",
                    field=path,
                )
        if identity.channel_id is None or identity.handle is None:
            continue
        found = await _clean_identity(viewer, identity, path, errors)
        if found is None:
            continue
        with errors.collect():
            if any(c.channel == found.channel and c.value == found.value for c in cleaned):
                raise BadUserInput("This handle is given twice.", field=f"{path}.handle")
            cleaned.append(found)
    assignee = None
    with errors.collect():
        assignee = await _clean_assignee(viewer, assignee_id)
    errors.raise_if_any()
    for identity in cleaned:
        values = _with_implied(values, identity.implied)

    async def operation(tx: Transaction) -> Contact:
        for index, identity in enumerate(cleaned):
            assert identity.channel is not None
            taken = (
                await ChannelIdentity.filter(channel_id=identity.channel.id, handle=identity.value)
                .using_db(tx.connection)
                .exists()
            )
            if taken:
                raise Conflict(
                    "This handle belongs to another contact: find it with `contacts(filter:)` "
                    "or use `upsertContact`.",
                    field=f"identities[{index}].handle",
                )
        return await _create(tx, viewer, {**values, "assignee_id": assignee}, cleaned)

    return await write(bus, viewer.workspace_id, operation, once=once)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What ``upsertContact`` returns: the contact, and whether it was created."""

    contact: Contact
    created: bool


async def _match(tx: Transaction, viewer: Viewer, identity: _Identity) -> Contact | None:
    """The oldest live contact of the workspace with ``identity``, locked in ``tx``.

    Raises:
        IntegrityError: it was merged away or erased while this waited for its lock:
            :func:`graph.live.write` runs the upsert again, which reads the identity anew.
    """
    conn = tx.connection
    if identity.channel is not None:
        query = Contact.filter(
            channel_identities__channel_id=identity.channel.id,
            channel_identities__handle=identity.value,
        )
    elif identity.kind is ContactKeyKind.PHONE:
        query = Contact.filter(phone=identity.value)
    else:
        query = Contact.filter(email_normalized=identity.value)
    found = await (
        query.filter(workspace_id=viewer.workspace_id, erased_at__isnull=True)
        .using_db(conn)
        .order_by("id")
        .first()
    )
    if found is None:
        return None
    locked = await Contact.filter(id=found.id).using_db(conn).select_for_update().first()
    if locked is None or locked.erased_at is not None:
        raise IntegrityError("the contact of this identity changed meanwhile")  # write() retries
    return locked


async def upsert_contact(
    bus: EventBus, viewer: Viewer, identity: ContactIdentity, details: ContactDetails
) -> UpsertResult:
    """Find the contact of ``identity`` and set ``details`` on it, or create it
    (``upsertContact``; see the module docstring for why it never creates two).

    A phone number or e-mail address matches the oldest live contact holding it (E.164,
    lower-cased); a channel handle, its identity's contact. Found: only the ``details`` given
    change (as ``updateContact``: a real change emits ``contact.updated``). Created: the
    identity's value fills the phone or e-mail (or the channel's identity is created), the
    ``details`` the rest; a ``TEAM`` or ``SELF`` agent gets it assigned.

    Raises:
        Forbidden: the viewer may not edit contacts.
        BadUserInput: not exactly one identity (``identity``), or invalid values, every one at
            once, each naming its field (``identity.phone``, ``email`` ...).
        NotFound: an unknown channel (``identity.channelId``).
        Conflict: the identity belongs to a contact the viewer may not see
            (``identity``): it is neither shown nor duplicated.
    """
    require_contact_editor(viewer)
    errors = FieldErrors()
    cleaned = await _clean_identity(viewer, identity, "identity", errors)
    with errors.collect():
        clean_contact_details(Contact(), details)
    errors.raise_if_any()
    assert cleaned is not None
    assignee = await _clean_assignee(viewer, None)

    async def operation(tx: Transaction) -> UpsertResult:
        conn = tx.connection
        contact = await _match(tx, viewer, cleaned)
        key = None
        if contact is None and cleaned.kind is not None:
            key = await (
                ContactKey.filter(
                    workspace_id=viewer.workspace_id, kind=cleaned.kind, value=cleaned.value
                )
                .using_db(conn)
                .select_for_update()
                .first()
            )
            if key is not None:  # a concurrent upsert may have committed its contact meanwhile
                contact = await _match(tx, viewer, cleaned)
        if contact is not None:
            if not may_see(viewer, contact):
                raise Conflict("A contact you may not see holds this identity.", field="identity")
            await apply_contact_details(tx, contact, details)
            return UpsertResult(contact, created=False)
        values = _with_implied(clean_contact_details(Contact(), details), cleaned.implied)
        identities = [cleaned] if cleaned.channel is not None else []
        contact = await _create(tx, viewer, {**values, "assignee_id": assignee}, identities)
        if key is not None:
            key.contact_id = contact.id
            await key.save(using_db=conn, update_fields=["contact_id"])
        elif cleaned.kind is not None:
            await ContactKey.create(  # a concurrent creation fails here, and runs again
                workspace_id=viewer.workspace_id,
                kind=cleaned.kind,
                value=cleaned.value,
                contact_id=contact.id,
                using_db=conn,
            )
        return UpsertResult(contact, created=True)

    return await write(bus, viewer.workspace_id, operation)


__all__ = [
    "CONTACT_ORDER",
    "MAX_IDENTITIES",
    "ContactIdentity",
    "ContactListFilter",
    "UpsertResult",
    "check_identity_count",
    "create_contact",
    "list_contacts",
    "upsert_contact",
]

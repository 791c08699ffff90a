"""Conversations and messages: ingestion, replies, message lists and the timeline
(``domain.md`` section 4)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from tortoise.exceptions import IntegrityError

from db.models import (
    Activity,
    ActivityKind,
    Channel,
    ChannelIdentity,
    ClosingNotesMode,
    Contact,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    Workspace,
)
from db.normalize import normalise_email, normalise_phone
from db.queries import MAX_KEY
from graph.errors import BadUserInput, Conflict, FieldErrors, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.relay import Page, PageRequest
from graph.resolvers.contact import (
    contact_facts,
    conversation_facts,
    record_assignment,
    record_change,
    refuse_blocked,
    visible_contact,
)
from graph.resolvers.inbox import subscription_scope
from graph.resolvers.indicators import mark_inbound
from graph.resolvers.pages import pages_of
from graph.subscriptions import contact_events

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from graph.context import Context
    from graph.idempotency import Once
    from graph.live import EventBus, LiveEvent, Transaction
    from graph.loaders import Loaders
    from graph.permissions.visibility import Viewer
    from graph.resolvers.pages import PageJson, PageSpec
    from graph.subscriptions import LiveStream

T = TypeVar("T")

MAX_TEXT_LENGTH = 10_000
MESSAGE_ORDER = (("created_at", True), ("id", True))


@dataclass
class MessageResult:
    """What ``receiveMessage`` and ``sendMessage`` return."""

    message: Message
    conversation: Conversation
    contact: Contact
    duplicate: bool = False


def normalise_handle(
    channel: Channel, raw: str, *, field: str = "from"
) -> tuple[str, dict[str, Any]]:
    """The canonical handle of a sender on ``channel``, and contact fields it implies.

    Phone channels take E.164 numbers (parsed with phonenumbers), e-mail channels a valid
    address (lower-cased), other channels an opaque id.

    Raises:
        BadUserInput: naming ``field`` when the handle is not valid for the channel.
    """
    raw = (raw or "").strip()
    name = field.rpartition(".")[2]
    if not raw or len(raw) > 254:
        raise BadUserInput(f"`{name}` must be 1 to 254 characters.", field=field)
    if channel.type.handle_is_phone:
        try:
            e164, region = normalise_phone(raw)
        except ValueError:
            raise BadUserInput(
                f"`{name}` is not a valid international phone number.", field=field
            ) from None
        return e164, {"phone": e164, "country_code": region}
    if channel.type.handle_is_email:
        try:
            address = normalise_email(raw)
        except ValueError as exc:
            raise BadUserInput(
                f"`{name}` is not a valid e-mail address: {exc}", field=field
            ) from None
        return address, {"email": raw, "email_normalized": address}
    return raw, {}


def _check_text(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise BadUserInput(f"`text` must be at most {MAX_TEXT_LENGTH} characters.", field="text")
    return text


async def contact_for_handle(
    tx: Transaction,
    channel: Channel,
    handle: str,
    implied: dict[str, Any],
    *,
    first_name: str | None = None,
    last_name: str | None = None,
) -> Contact:
    """The contact behind ``handle`` on ``channel`` (its row locked in ``tx``), created with
    its channel identity when the handle is new.

    ``implied`` are the fields the handle gives a new contact (:func:`normalise_handle`). The
    unique ``(channel, handle)`` makes a concurrent second creation fail, and :func:`write`
    retries it into finding the first. A contact erased while this waited for its lock is not
    written to: its identity is gone, and the handle makes a new contact.
    """
    conn = tx.connection
    identity = (
        await ChannelIdentity.filter(channel_id=channel.id, handle=handle).using_db(conn).first()
    )
    for _ in range(3):
        if identity is None:
            break
        contact = (
            await Contact.filter(id=identity.contact_id).using_db(conn).select_for_update().first()
        )
        if contact is not None and contact.erased_at is None:
            return contact
        # merged away while we waited for its lock: the identity has moved to the survivor;
        # erased meanwhile (``eraseContact``): the identity is gone, the sender is new
        identity = (
            await ChannelIdentity.filter(channel_id=channel.id, handle=handle)
            .using_db(conn)
            .first()
        )
    if identity is not None:
        raise IntegrityError("the contact of this handle keeps changing")  # write() retries
    contact = await Contact.create(
        workspace_id=channel.workspace_id,
        first_name=first_name,
        last_name=last_name,
        using_db=conn,
        **implied,
    )
    await ChannelIdentity.create(
        workspace_id=channel.workspace_id,
        contact_id=contact.id,
        channel_id=channel.id,
        handle=handle,
        using_db=conn,
    )
    return contact


async def open_conversation_for(
    tx: Transaction, contact: Contact, *, now: datetime, author_id: int | None
) -> Conversation:
    """The contact's open conversation, opened (with its activity and event) when none is.

    The unique ``open_contact_id`` makes a concurrent second opening fail and retry.
    """
    conversation = (
        await Conversation.filter(open_contact_id=contact.id).using_db(tx.connection).first()
    )
    if conversation is not None:
        return conversation
    conversation = await Conversation.create(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        open_contact_id=contact.id,
        status=ConversationStatus.OPEN,
        last_activity_at=now,
        opened_at=now,
        using_db=tx.connection,
    )
    await record_change(
        tx,
        contact,
        conversation,
        ActivityKind.CONVERSATION_OPENED,
        EventType.CONVERSATION_OPENED,
        author_id=author_id,
        data={},
        at=now,
        previous_status=None,
    )
    return conversation


async def _add_message(
    tx: Transaction,
    contact: Contact,
    conversation: Conversation,
    channel_id: int,
    *,
    direction: MessageDirection,
    text: str | None,
    author_id: int | None,
    external_message_id: str | None,
    now: datetime,
) -> Message:
    message = await Message.create(
        workspace_id=contact.workspace_id,
        conversation_id=conversation.id,
        contact_id=contact.id,
        channel_id=channel_id,
        direction=direction,
        author_id=author_id,
        text=text,
        delivery_status=(
            DeliveryStatus.RECEIVED
            if direction is MessageDirection.INBOUND
            else DeliveryStatus.QUEUED
        ),
        external_message_id=external_message_id,
        created_at=now,
        using_db=tx.connection,
    )
    conversation.last_message_id = message.id
    conversation.last_channel_id = channel_id
    conversation.last_activity_at = now
    fields = ["last_message_id", "last_channel_id", "last_activity_at"]
    if direction is MessageDirection.INBOUND:
        conversation.last_inbound_at = now
        fields.append("last_inbound_at")
    await conversation.save(using_db=tx.connection, update_fields=fields)
    if direction is MessageDirection.INBOUND:
        await mark_inbound(tx, conversation.id, contact.assignee_id, contact.blocked, now)
    tx.emit(
        EventType.MESSAGE_CREATED,
        **contact_facts(contact),
        **conversation_facts(conversation),
        message_id=message.id,
        direction=direction.value,
    )
    return message


async def receive_message(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    sender: str,
    external_message_id: str,
    text: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> MessageResult:
    """Ingest an inbound message from a channel connector.

    Idempotent on ``(channel, externalMessageId)``: a repeat returns the stored message with
    ``duplicate`` set and changes nothing. A new sender becomes a contact; a contact without an
    open conversation gets one. Concurrent deliveries from one new sender create exactly one
    contact and one open conversation (unique constraints, retried transaction).

    Raises:
        Forbidden: the caller is not an owner or manager (or their integration token).
        NotFound: the channel is not in the workspace (``channelId``).
        BadUserInput: a malformed sender, id, text or name, every one at once, each naming
            its field.
        Conflict: ``externalMessageId`` is an outbound message's of the channel
            (``reportMessageStatus`` bound it).
    """
    if not viewer.is_admin:
        raise Forbidden("Only owners, managers and their integration tokens may ingest messages.")
    channel = await Channel.filter(id=channel_id, workspace_id=viewer.workspace_id).first()
    if channel is None:
        raise NotFound("Channel", field="channelId")
    errors = FieldErrors()
    external_message_id = (external_message_id or "").strip()
    with errors.collect():
        if not external_message_id or len(external_message_id) > 255:
            raise BadUserInput(
                "`externalMessageId` must be 1 to 255 characters.", field="externalMessageId"
            )
    with errors.collect():
        text = _check_text(text)
    for name, value in (("firstName", first_name), ("lastName", last_name)):
        with errors.collect():
            if value is not None and len(value) > 120:
                raise BadUserInput(f"`{name}` must be at most 120 characters.", field=name)
    handle: str = ""
    implied: dict[str, Any] = {}
    with errors.collect():
        handle, implied = normalise_handle(channel, sender)
    errors.raise_if_any()

    async def operation(tx: Transaction) -> MessageResult:
        conn = tx.connection
        existing = (
            await Message.filter(channel_id=channel.id, external_message_id=external_message_id)
            .using_db(conn)
            .first()
        )
        if existing is not None:
            if existing.direction is not MessageDirection.INBOUND:
                # an outbound message the channel gave this id (reportMessageStatus): not a
                # delivery of this one again, whose text would be dropped
                raise Conflict(
                    "An outbound message of this channel has this `externalMessageId`.",
                    field="externalMessageId",
                )
            conversation = await Conversation.get(id=existing.conversation_id).using_db(conn)
            contact = await Contact.get(id=existing.contact_id).using_db(conn)
            return MessageResult(existing, conversation, contact, duplicate=True)
        now = datetime.now(UTC)
        contact = await contact_for_handle(
            tx, channel, handle, implied, first_name=first_name, last_name=last_name
        )
        conversation = await open_conversation_for(tx, contact, now=now, author_id=None)
        message = await _add_message(
            tx,
            contact,
            conversation,
            channel.id,
            direction=MessageDirection.INBOUND,
            text=text,
            author_id=None,
            external_message_id=external_message_id,
            now=now,
        )
        return MessageResult(message, conversation, contact)

    return await write(bus, viewer.workspace_id, operation)


_REPLY_REMEDY = "unblock it to reply."


async def send_message(
    bus: EventBus,
    viewer: Viewer,
    *,
    contact_id: int,
    text: str,
    channel_id: int | None,
    once: Once | None = None,
    errors: FieldErrors | None = None,
) -> MessageResult:
    """An agent's reply to a contact, on ``channel_id`` or the conversation's last channel.
    Every invalid field is reported at once (``errors``: those the caller found already).

    The first reply to an unassigned contact assigns it to the sender (``domain.md``
    section 4: first reply wins, decided under the contact's row lock). A contact without an
    open conversation gets one. ``once``: the request's idempotency key
    (:mod:`graph.idempotency`; :data:`SENT_MESSAGE` brings a retry its result).

    Raises:
        NotFound: the contact is not visible (``contactId``) or the channel unknown.
        BadUserInput: empty or over-long text, a blocked contact, or a channel the contact has
            no identity on.
    """
    errors = errors or FieldErrors()
    with errors.collect():
        if not text or not text.strip():
            raise BadUserInput("`text` must not be empty.", field="text")
        _check_text(text)
    contact = await visible_contact(viewer, contact_id)  # the contact first, alone
    with errors.collect():
        refuse_blocked(contact, _REPLY_REMEDY)
    identities = await ChannelIdentity.filter(contact_id=contact.id).values_list(
        "channel_id", flat=True
    )
    with errors.collect():
        if channel_id is not None:
            if not await Channel.filter(id=channel_id, workspace_id=viewer.workspace_id).exists():
                raise NotFound("Channel", field="channelId")
            if channel_id not in identities:
                raise BadUserInput(
                    "The contact has no identity on this channel.", field="channelId"
                )
        else:
            last = (
                await Conversation.filter(contact_id=contact.id)
                .order_by("-last_activity_at")
                .first()
            )
            if last is not None and last.last_channel_id in identities:
                channel_id = last.last_channel_id
            elif identities:
                channel_id = identities[0]
            else:
                raise BadUserInput("The contact has no channel to reply on.", field="channelId")
    errors.raise_if_any()

    async def operation(tx: Transaction) -> MessageResult:
        locked = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        refuse_blocked(locked, _REPLY_REMEDY)  # blocked since it was read above
        now = datetime.now(UTC)
        conversation = await open_conversation_for(tx, locked, now=now, author_id=viewer.user_id)
        if locked.assignee_id is None:
            await record_assignment(
                tx,
                locked,
                viewer.user_id,
                author_id=viewer.user_id,
                reason="first_reply",
            )
        message = await _add_message(
            tx,
            locked,
            conversation,
            channel_id,
            direction=MessageDirection.OUTBOUND,
            text=text,
            author_id=viewer.user_id,
            external_message_id=None,
            now=now,
        )
        return MessageResult(message, conversation, locked)

    return await write(bus, viewer.workspace_id, operation, once=once)


class SentMessageOutcome:
    """How ``sendMessage``'s result is kept with its idempotency key (the message's id) and
    restored: the message as it is now, with its current conversation and contact (a merge
    may have moved it)."""

    def keep(self, result: MessageResult) -> dict[str, Any]:
        return {"message": result.message.id}

    async def restore(self, kept: dict[str, Any], viewer: Viewer) -> MessageResult:
        """Raises:
        NotFound: the message was deleted, or its contact is hidden from the viewer now.
        """
        message = await Message.filter(id=kept["message"], workspace_id=viewer.workspace_id).first()
        if message is None:
            raise NotFound("Message")
        contact = await visible_contact(viewer, message.contact_id)
        conversation = await Conversation.get(id=message.conversation_id)
        return MessageResult(message, conversation, contact)


SENT_MESSAGE = SentMessageOutcome()


MAX_CATEGORY_LENGTH = 120
MAX_SUMMARY_LENGTH = 2000


def _not_blocked(contact: Contact, action: str) -> None:
    refuse_blocked(contact, f"its conversations cannot be {action}. Unblock it first.")


async def open_conversation(bus: EventBus, viewer: Viewer, contact_id: int) -> Conversation:
    """Open a conversation with a contact; the open one if it has one already (a no-op).

    Raises:
        NotFound: the contact is not visible. BadUserInput: the contact is blocked.
    """
    _not_blocked(await visible_contact(viewer, contact_id), "opened")

    async def operation(tx: Transaction) -> Conversation:
        contact = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        _not_blocked(contact, "opened")
        return await open_conversation_for(
            tx, contact, now=datetime.now(UTC), author_id=viewer.user_id
        )

    return await write(bus, viewer.workspace_id, operation)


def clean_closing_notes(
    mode: ClosingNotesMode, category: str | None, summary: str | None
) -> tuple[str | None, str | None]:
    """Closing notes checked against the workspace's mode (off, optional, category required,
    category and summary required).

    Raises:
        BadUserInput: naming ``category``, ``summary``, or both (one error each).
    """
    category = (category or "").strip() or None
    summary = (summary or "").strip() or None
    errors = FieldErrors()
    needs_category = mode in (
        ClosingNotesMode.CATEGORY_REQUIRED,
        ClosingNotesMode.CATEGORY_AND_SUMMARY_REQUIRED,
    )
    needs_summary = mode is ClosingNotesMode.CATEGORY_AND_SUMMARY_REQUIRED
    for field, value, longest, needed in (
        ("category", category, MAX_CATEGORY_LENGTH, needs_category),
        ("summary", summary, MAX_SUMMARY_LENGTH, needs_summary),
    ):
        with errors.collect():
            if mode is ClosingNotesMode.OFF and value:
                raise BadUserInput("Closing notes are turned off in this workspace.", field=field)
            if value and len(value) > longest:
                raise BadUserInput(f"`{field}` must be at most {longest} characters.", field=field)
            if needed and not value:
                raise BadUserInput(f"A closing {field} is required in this workspace.", field=field)
    errors.raise_if_any()
    return category, summary


async def close_conversation(
    bus: EventBus, viewer: Viewer, contact_id: int, category: str | None, summary: str | None
) -> Conversation:
    """Close the contact's open conversation with optional closing notes (``domain.md``,
    terms). Closing a closed conversation is a no-op returning the latest one.

    Raises:
        NotFound: the contact is not visible.
        BadUserInput: the contact is blocked or has no conversation, or the notes do not
            satisfy the workspace's closing-notes mode.
    """
    contact = await visible_contact(viewer, contact_id)
    _not_blocked(contact, "closed")
    workspace = await Workspace.get(id=viewer.workspace_id)
    category, summary = clean_closing_notes(workspace.closing_notes_mode, category, summary)

    async def operation(tx: Transaction) -> Conversation:
        locked = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        _not_blocked(locked, "closed")
        conversation = (
            await Conversation.filter(open_contact_id=locked.id).using_db(tx.connection).first()
        )
        if conversation is None:
            latest = await (
                Conversation.filter(contact_id=locked.id)
                .using_db(tx.connection)
                .order_by("-opened_at", "-id")
                .first()
            )
            if latest is None:
                raise BadUserInput("This contact has no conversation to close.", field="contactId")
            return latest
        now = datetime.now(UTC)
        conversation.status = ConversationStatus.CLOSED
        conversation.open_contact_id = None
        conversation.closed_at = now
        conversation.last_activity_at = now
        conversation.closing_category = category
        conversation.closing_summary = summary
        await conversation.save(
            using_db=tx.connection,
            update_fields=[
                "status",
                "open_contact_id",
                "closed_at",
                "last_activity_at",
                "closing_category",
                "closing_summary",
            ],
        )
        await record_change(
            tx,
            locked,
            conversation,
            ActivityKind.CONVERSATION_CLOSED,
            EventType.CONVERSATION_CLOSED,
            author_id=viewer.user_id,
            text=summary,
            data={"category": category, "summary": summary},
            at=now,
            previous_status=ConversationStatus.OPEN.value,
        )
        return conversation

    return await write(bus, viewer.workspace_id, operation)


async def list_messages(
    loaders: Loaders, conversation: Conversation, request: PageRequest
) -> Page[Message]:
    """A conversation's messages, newest first, the page ``request`` asks for. Batched: the
    conversations of one response share one query (:meth:`graph.loaders.Loaders.rows_of`),
    and one count (:meth:`graph.loaders.Loaders.count_of`)."""
    rows = await loaders.rows_of(Message, "conversation_id", MESSAGE_ORDER, request).load(
        conversation.id
    )
    page = Page.of(
        rows,
        request,
        lambda m: [m.created_at, m.id],
        lambda: loaders.count_of(Message, "conversation_id").load(conversation.id),
    )
    await loaders.preload_users(page.rows)
    return page


CONTACT_CONVERSATION_ORDER = (("opened_at", True), ("id", True))


async def list_contact_conversations(
    loaders: Loaders, contact: Contact, request: PageRequest
) -> Page[Conversation]:
    """A contact's conversations, open and closed, newest opened first (``domain.md``, terms:
    closed ones stay as history), the page ``request`` asks for. Batched: the contacts of one
    response share one query (:meth:`graph.loaders.Loaders.rows_of`)."""
    loader = loaders.rows_of(Conversation, "contact_id", CONTACT_CONVERSATION_ORDER, request)
    rows = await loader.load(contact.id)
    return Page.of(
        rows,
        request,
        lambda c: [c.opened_at, c.id],
        lambda: loaders.count_of(Conversation, "contact_id").load(contact.id),
    )


MESSAGE_RANK, ACTIVITY_RANK = 0, 1


TIMELINE_ORDER = (("created_at", False), ("id", False))
TIMELINE_PAGE_SIZE = 50
"""Items of a timeline page without ``first`` or ``last``."""


_TIMELINE_KEY = itemgetter(0, 1, 2)
"""A merged timeline item's ``(created_at, rank, id)``: its place, what its cursor encodes."""


def _timeline_keys(cursor: Sequence[Any] | None) -> tuple[list[Any] | None, list[Any] | None]:
    """The keyset values in :data:`TIMELINE_ORDER` of messages and of activities that bound
    the timeline at ``cursor`` (``[created_at, rank, id]``), on either side of it.

    At one instant messages come before activities. At a message's cursor, the activities of
    that instant all follow it: they are bounded at id 0 (ids are positive). At an activity's
    cursor, the messages of that instant all precede it: they are bounded at the largest id
    (``MAX_KEY``, a bound the database's integer parameters hold; only a message with that
    very id, the last a table can ever give, would be left out of a page before the cursor).
    """
    if cursor is None:
        return None, None
    at, rank, row_id = cursor
    if rank == MESSAGE_RANK:
        return [at, row_id], [at, 0]
    return [at, MAX_KEY], [at, row_id]


def timeline_specs(request: PageRequest) -> tuple[PageSpec, PageSpec]:
    """The pages of messages and of activities (as :func:`graph.resolvers.pages.pages_of`
    takes them) that :func:`timeline` reads for ``request``."""
    (messages_after, activities_after), (messages_before, activities_before) = (
        _timeline_keys(request.after),
        _timeline_keys(request.before),
    )

    def bounded(after: list[Any] | None, before: list[Any] | None) -> PageRequest:
        # the request with other bounds (dataclasses.replace, written out: it inspects the
        # class's fields at every call, and a timeline makes four)
        return PageRequest(
            request.size,
            tuple(after) if after is not None else None,
            tuple(before) if before is not None else None,
            request.backward,
        )

    return (
        (Message, "conversation_id", TIMELINE_ORDER, bounded(messages_after, messages_before)),
        (Activity, "conversation_id", TIMELINE_ORDER, bounded(activities_after, activities_before)),
    )


async def timeline(
    loaders: Loaders,
    conversation: Conversation,
    request: PageRequest,
    json: PageJson | None = None,
) -> Page[Message | Activity]:
    """Messages and activities of a conversation interleaved, oldest first, the page
    ``request`` asks for (forwards or backwards).

    Ordered by ``(created_at, rank, id)`` with messages before activities at the same instant,
    so cursors stay stable when rows are added later. Each kind is read as a page of its own
    bounded by the cursors (:func:`_timeline_keys`); the two are merged and cut to the page.
    Batched: the conversations of one response share one query for messages and one for
    activities (:meth:`graph.loaders.Loaders.rows_of`). With ``json`` (messages', then
    activities'), the rows may be their nodes' JSON (:func:`graph.resolvers.pages.pages_of`).
    """
    found_messages, found_activities = await pages_of(
        loaders, *timeline_specs(request), json=json
    ).load(conversation.id)
    merged = sorted(
        [(m.created_at, MESSAGE_RANK, m.id, m) for m in found_messages]
        + [(a.created_at, ACTIVITY_RANK, a.id, a) for a in found_activities],
        key=_TIMELINE_KEY,
        reverse=request.backward,
    )

    async def total() -> int:
        messages, activities = await asyncio.gather(
            loaders.count_of(Message, "conversation_id").load(conversation.id),
            loaders.count_of(Activity, "conversation_id").load(conversation.id),
        )
        return messages + activities

    page = Page.of(merged, request, _TIMELINE_KEY, total)
    await loaders.preload_users(item[3] for item in page.rows)
    return Page(
        [item[3] for item in page.rows], page.keys, page.has_next, page.has_previous, page.total
    )


def new_message_events(
    context: Context,
    selector: Any | None,
    after_sequence: int | None,
    present: Callable[[int, Message, Conversation], T],
) -> LiveStream:
    """``newMessage``: each new message in a conversation the subscriber may see, within the
    inbox of ``selector`` when given (:func:`graph.resolvers.inbox.subscription_scope`),
    presented by ``present(sequence, message, conversation)``."""

    async def build(event: LiveEvent) -> T | None:
        loaders = context.loaders_for_event(event)
        message = await loaders.message.load(event.payload["message_id"])
        conversation = await loaders.conversation.load(event.payload["conversation_id"])
        if message is None or conversation is None:
            return None
        return present(event.sequence, message, conversation)

    return contact_events(
        context,
        event_type=EventType.MESSAGE_CREATED,
        compute_scope=partial(subscription_scope, selector=selector),
        build=build,
        after_sequence=after_sequence,
    )


__all__ = [
    "SENT_MESSAGE",
    "MessageResult",
    "SentMessageOutcome",
    "clean_closing_notes",
    "close_conversation",
    "contact_for_handle",
    "list_contact_conversations",
    "list_messages",
    "new_message_events",
    "normalise_handle",
    "open_conversation",
    "open_conversation_for",
    "receive_message",
    "send_message",
    "timeline",
    "timeline_specs",
]

"""Delivery status of outbound messages, as channel connectors report it (issue 21, item 3;
``domain.md`` terms: a message has a delivery status).

An outbound message starts ``QUEUED`` (``sendMessage``). Its channel's connector reports
``SENT``, ``DELIVERED``, ``READ`` or ``FAILED`` (``reportMessageStatus``), naming the message
by the id the channel gave it (``externalMessageId``); the first report, usually ``SENT``,
also names our ``messageId`` to bind that external id to the message.

**Never backwards, in any order, idempotent.** The statuses are ranked
``QUEUED < SENT < FAILED < DELIVERED < READ`` (:data:`RANK`) and a message's status is the
highest one reported. Each status keeps its own time (``sentAt``, ``deliveredAt``, ``readAt``,
``failedAt``, UTC), the earliest reported. So the state after a set of reports does not depend
on their order, and a repeated report changes nothing (and emits nothing).

**FAILED** means the channel gave up before the message reached the contact: it overrides
``SENT`` (and ``QUEUED``), never ``DELIVERED`` or ``READ``. A ``DELIVERED`` or ``READ`` report
after a failure (the channel retried and succeeded) supersedes it; the failure's time and
reason stay on the message as a record. A ``FAILED`` report after delivery records its time
and reason and leaves the status as it is.

Each real change emits one ``message.status_changed`` event (:class:`graph.events.EventType`)
in the same transaction (:func:`graph.live.write`): ``messageStatusChanged`` subscribers who
may see the contact are told, and webhooks carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from db.models import Channel, Contact, Conversation, DeliveryStatus, Message, MessageDirection
from graph.errors import BadUserInput, Conflict, FieldErrors, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.resolvers.contact import contact_facts, conversation_facts
from graph.resolvers.inbox import subscription_scope
from graph.subscriptions import contact_events

if TYPE_CHECKING:
    from collections.abc import Callable

    from graph.context import Context
    from graph.live import EventBus, LiveEvent, Transaction
    from graph.permissions.visibility import Viewer
    from graph.subscriptions import LiveStream

T = TypeVar("T")

RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
}
"""How far each status of an outbound message is on its way; a message never moves down."""
REPORTED: dict[DeliveryStatus, str] = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.FAILED: "failed_at",
}
"""The statuses a connector may report, and the column keeping each one's time."""
MAX_REASON_LENGTH = 500
INBOUND = "Inbound messages are RECEIVED: they have no delivery status to report."


@dataclass
class StatusReport:
    """What ``reportMessageStatus`` returns: the message and whether the report changed it."""

    message: Message
    contact: Contact
    changed: bool


def apply_report(
    message: Message, status: DeliveryStatus, at: datetime, reason: str | None
) -> list[str]:
    """Apply one report to ``message`` in memory; returns the fields it changed (none for a
    repeat or a report of an earlier time already superseded: see the module's rules)."""
    changed: list[str] = []
    column = REPORTED[status]
    known: datetime | None = getattr(message, column)
    if known is None or at < known:
        setattr(message, column, at)
        changed.append(column)
        if status is DeliveryStatus.FAILED:
            message.failure_reason = reason
            changed.append("failure_reason")
    if RANK[status] > RANK.get(message.delivery_status, 0):
        message.delivery_status = status
        changed.append("delivery_status")
    return changed


def _clean(
    external_message_id: str, status: DeliveryStatus, reason: str | None, at: datetime | None
) -> tuple[str, str | None, datetime]:
    errors = FieldErrors()
    external_message_id = (external_message_id or "").strip()
    with errors.collect():
        if not external_message_id or len(external_message_id) > 255:
            raise BadUserInput(
                "`externalMessageId` must be 1 to 255 characters.", field="externalMessageId"
            )
    with errors.collect():
        if status not in REPORTED:
            raise BadUserInput("`status` must be SENT, DELIVERED, READ or FAILED.", field="status")
    reason = (reason or "").strip() or None
    with errors.collect():
        if reason is not None and status is not DeliveryStatus.FAILED:
            raise BadUserInput("`reason` goes with FAILED only.", field="reason")
        if reason is not None and len(reason) > MAX_REASON_LENGTH:
            raise BadUserInput(
                f"`reason` must be at most {MAX_REASON_LENGTH} characters.", field="reason"
            )
    now = datetime.now(UTC)
    if at is None:
        at = now
    elif at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    with errors.collect():
        if (at - now).total_seconds() > 300:
            raise BadUserInput(
                "`occurredAt` is more than 5 minutes in the future.", field="occurredAt"
            )
    errors.raise_if_any()
    return external_message_id, reason, at.astimezone(UTC)


async def _locked_message(
    tx: Transaction,
    channel_id: int,
    external_message_id: str,
    message_id: int | None,
) -> Message:
    conn = tx.connection
    by_external = (
        await Message.filter(
            workspace_id=tx.workspace_id,
            channel_id=channel_id,
            external_message_id=external_message_id,
        )
        .using_db(conn)
        .select_for_update()
        .first()
    )
    if message_id is None:
        if by_external is None:
            raise NotFound("Message", field="externalMessageId")
        return by_external
    if by_external is not None:
        if by_external.id != message_id:
            raise Conflict(
                "Another message of this channel has this `externalMessageId`.",
                field="externalMessageId",
            )
        return by_external
    message = (
        await Message.filter(id=message_id, workspace_id=tx.workspace_id, channel_id=channel_id)
        .using_db(conn)
        .select_for_update()
        .first()
    )
    if message is None:
        raise NotFound("Message", field="messageId")
    if message.direction is not MessageDirection.OUTBOUND:
        raise BadUserInput(INBOUND, field="messageId")
    if message.external_message_id is not None:
        raise Conflict(
            "The message has another `externalMessageId` already.", field="externalMessageId"
        )
    # bind the channel's id (unique per channel: a concurrent bind retries and conflicts)
    message.external_message_id = external_message_id
    await message.save(using_db=conn, update_fields=["external_message_id"])
    return message


async def report_message_status(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    external_message_id: str,
    status: DeliveryStatus,
    message_id: int | None = None,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> StatusReport:
    """Record a connector's delivery report for an outbound message (module rules above).

    Args:
        channel_id: the message's channel.
        external_message_id: the id the channel gave the message (1 to 255 characters).
        status: ``SENT``, ``DELIVERED``, ``READ`` or ``FAILED``.
        message_id: our message's id, to bind ``external_message_id`` to it (the first report);
            later reports may leave it out.
        reason: why it failed (``FAILED`` only), up to 500 characters.
        occurred_at: when the channel saw it happen (UTC; default now; at most 5 minutes ahead).

    Returns:
        The message after the report, its contact, and whether anything changed.

    Raises:
        Forbidden: the caller is not an owner or manager (or their integration token).
        NotFound: the channel is not in the workspace (``channelId``); no message of the
            channel has ``externalMessageId`` (``externalMessageId``), or ``messageId`` is not
            a message of the channel (``messageId``).
        Conflict: ``messageId`` has another external id, or another message has this one
            (``externalMessageId``).
        BadUserInput: a malformed field (every one at once, each naming its field), or an
            inbound message (``messageId`` / ``externalMessageId``: inbound messages are
            RECEIVED and have no delivery status).
    """
    if not viewer.is_admin:
        raise Forbidden(
            "Only owners, managers and their integration tokens may report delivery status."
        )
    external_message_id, reason, at = _clean(external_message_id, status, reason, occurred_at)
    if not await Channel.filter(id=channel_id, workspace_id=viewer.workspace_id).exists():
        raise NotFound("Channel", field="channelId")

    async def operation(tx: Transaction) -> StatusReport:
        conn = tx.connection
        message = await _locked_message(tx, channel_id, external_message_id, message_id)
        if message.direction is not MessageDirection.OUTBOUND:
            raise BadUserInput(INBOUND, field="externalMessageId")
        contact = await Contact.get(id=message.contact_id).using_db(conn)
        previous = message.delivery_status
        changed = apply_report(message, status, at, reason)
        if not changed:
            return StatusReport(message, contact, changed=False)
        await message.save(using_db=conn, update_fields=changed)
        conversation = await Conversation.get(id=message.conversation_id).using_db(conn)
        tx.emit(
            EventType.MESSAGE_STATUS_CHANGED,
            **contact_facts(contact),
            **conversation_facts(conversation),
            message_id=message.id,
            delivery_status=message.delivery_status.value,
            previous_delivery_status=previous.value,
        )
        return StatusReport(message, contact, changed=True)

    return await write(bus, viewer.workspace_id, operation)


def message_status_events(
    context: Context,
    conversation_id: int | None,
    after_sequence: int | None,
    present: Callable[[int, Message, DeliveryStatus], T],
) -> LiveStream:
    """``messageStatusChanged``: each real change of an outbound message's delivery status in
    a conversation the subscriber may see (only ``conversation_id``'s when given), presented
    by ``present(sequence, message, previous_status)``; the message as it is at delivery."""

    async def build(event: LiveEvent) -> T | None:
        payload: dict[str, Any] = event.payload
        if conversation_id is not None and payload.get("conversation_id") != conversation_id:
            return None
        message = await context.loaders_for_event(event).message.load(payload["message_id"])
        if message is None:
            return None
        return present(event.sequence, message, DeliveryStatus(payload["previous_delivery_status"]))

    return contact_events(
        context,
        event_type=EventType.MESSAGE_STATUS_CHANGED,
        compute_scope=partial(subscription_scope, selector=None),
        build=build,
        after_sequence=after_sequence,
    )


__all__ = [
    "RANK",
    "REPORTED",
    "StatusReport",
    "apply_report",
    "message_status_events",
    "report_message_status",
]

"""Conversations, messages, activities and the timeline: types, inputs, payloads and root
fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models as m
from graph.errors import FieldErrors
from graph.idempotency import IdempotencyKeyArgument, idempotent
from graph.loaders import row_relation
from graph.relay import PageRequest, decode_id, to_global_id
from graph.resolvers import conversation as resolvers
from graph.resolvers import delivery
from graph.resolvers.node import shows
from graph.schema.activity import Activity, ActivityKind
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.core import (
    After,
    Before,
    Connection,
    Edge,
    First,
    Last,
    Node,
    connection_field,
)
from graph.schema.described import AFTER_SEQUENCE, model_enum
from graph.schema.row_json import node_builder, page_json
from graph.schema.rows import from_row
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.schema.inbox import InboxSelector

ConversationStatus = model_enum(
    m.ConversationStatus,
    name="ConversationStatus",
    description="Whether a conversation is going on (domain.md terms: a contact has at most "
    "one open conversation; closed ones stay as history).",
    values={
        "OPEN": "Going on: it counts in `openConversationCount`.",
        "CLOSED": "Closed (with its closing notes); an inbound message opens a new one.",
    },
)
MessageDirection = model_enum(
    m.MessageDirection,
    name="MessageDirection",
    description="Who wrote a message.",
    values={
        "INBOUND": "From the contact, received through a channel (`receiveMessage`).",
        "OUTBOUND": "From a user to the contact (`sendMessage`).",
    },
)
DeliveryStatus = model_enum(
    m.DeliveryStatus,
    name="DeliveryStatus",
    description="Where a message is on its way. Inbound messages are RECEIVED; outbound ones "
    "go QUEUED → SENT → DELIVERED → READ as the channel reports, or FAILED.",
    values={
        "RECEIVED": "An inbound message, received from the channel.",
        "QUEUED": "An outbound message waiting to be handed to the channel.",
        "SENT": "Handed to the channel.",
        "DELIVERED": "The channel delivered it to the contact's device.",
        "READ": "The contact read it (on channels that report reads).",
        "FAILED": "The channel could not deliver it.",
    },
)


@from_row()
@strawberry.type(
    description="A message on one channel, inbound from the contact or outbound from a user."
)
class Message(Node):
    row: strawberry.Private[m.Message]

    direction: MessageDirection = strawberry.field(description="From the contact or to them.")

    text: str | None = strawberry.field(
        description="The text, up to 10,000 characters; null for a message without text."
    )
    delivery_status: DeliveryStatus = strawberry.field(
        description="Where it is on its way: the furthest status its channel reported "
        "(`reportMessageStatus`; never goes back)."
    )

    created_at: datetime = strawberry.field(description="UTC.")
    sent_at: datetime | None = strawberry.field(
        description="When the channel took an outbound message (SENT reported; UTC); null until then."
    )
    delivered_at: datetime | None = strawberry.field(
        description="When it reached the contact's device (DELIVERED reported; UTC)."
    )
    read_at: datetime | None = strawberry.field(
        description="When the contact read it (READ reported; UTC)."
    )
    failed_at: datetime | None = strawberry.field(
        description="When the channel reported it FAILED (UTC); kept as a record if a later "
        "DELIVERED or READ supersedes the failure."
    )
    failure_reason: str | None = strawberry.field(
        description="Why the channel could not deliver it, as the connector reported it "
        "(with failedAt)."
    )
    # relations (row_relation) after the plain fields, as the schema has always listed them
    conversation: Conversation = strawberry.field(
        description="The conversation the message belongs to.",
        resolver=row_relation("conversation", "conversation_id", lambda: Conversation.from_row),
    )
    channel: Channel = strawberry.field(
        description="The channel it came or went through.",
        resolver=row_relation("channel", "channel_id", lambda: Channel.from_row),
    )
    author: User | None = strawberry.field(
        description="The sending user of an outbound message.",
        resolver=row_relation("user", "author_id", lambda: User.from_row),
    )


TimelineItem = Annotated[
    Message | Activity,
    strawberry.union(
        "TimelineItem",
        description="An item of a conversation's timeline: a message or an activity (domain.md "
        "section 4).",
    ),
]


@strawberry.type(description="A page of a conversation's messages, newest first.")
class MessageConnection(Connection[Message]):
    pass


@strawberry.type(description="A message or an activity of a timeline, and its cursor.")
class TimelineEdge(Edge[TimelineItem]):
    """Named after the list rather than its node type (``TimelineItemEdge``)."""


@strawberry.type(
    description="A page of a conversation's timeline: messages and activities, oldest first."
)
class TimelineConnection(Connection[TimelineItem]):
    edges: list[TimelineEdge] = strawberry.field(
        description="The page's items with their cursors, oldest first."
    )


@from_row()
@strawberry.type(description="The thread with one contact.")
class Conversation(Node):
    row: strawberry.Private[m.Conversation]

    status: ConversationStatus = strawberry.field(description="Open or closed.")

    last_activity_at: datetime = strawberry.field(
        description="When the conversation last had activity (UTC); lists sort by it."
    )
    opened_at: datetime = strawberry.field(description="When it was opened (UTC).")
    closed_at: datetime | None = strawberry.field(
        description="When it was closed (UTC); null while open."
    )
    closing_category: str | None = strawberry.field(
        description="Closing note: the category chosen when closing."
    )
    closing_summary: str | None = strawberry.field(
        description="Closing note: the summary written when closing."
    )
    # relations (row_relation) after the plain fields, as the schema has always listed them
    contact: Contact = strawberry.field(
        description="The contact the conversation is with.",
        resolver=row_relation("contact", "contact_id", lambda: Contact.from_row),
    )

    last_message: Message | None = strawberry.field(
        description="Its newest message, inbound or outbound; null before the first one.",
        resolver=row_relation("message", "last_message_id", lambda: Message.from_row),
    )

    @connection_field(description="Messages, newest first.")
    async def messages(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MessageConnection:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        page = await resolvers.list_messages(info.context.loaders, self.row, request)
        return MessageConnection.from_page(page, Message.from_row)

    @connection_field(
        description="Messages and activities interleaved, oldest first.",
        default_page_size=resolvers.TIMELINE_PAGE_SIZE,
    )
    async def timeline(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> TimelineConnection:
        request = timeline_request(first, after, last, before)
        json = page_json(info, TIMELINE_MODELS)
        page = await resolvers.timeline(info.context.loaders, self.row, request, json)
        return TimelineConnection.from_page(page, node_builder(page.rows, _timeline_item, json))


def timeline_request(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """The page ``Conversation.timeline``'s arguments ask for.

    Raises:
        graph.errors.BadUserInput: as :meth:`graph.relay.PageRequest.parse`.
    """
    return PageRequest.parse(
        first, after, last, before, (datetime, int, int), default=resolvers.TIMELINE_PAGE_SIZE
    )


TIMELINE_MODELS = {"Message": m.Message, "Activity": m.Activity}
"""The models of ``TimelineItem``'s types, in :func:`graph.resolvers.conversation.timeline_specs`'
order (:func:`graph.schema.row_json.page_json`)."""


def _timeline_item(row: m.Message | m.Activity) -> Message | Activity:
    return Message.from_row(row) if isinstance(row, m.Message) else Activity.from_row(row)


@strawberry.type(
    description="A page of conversations: of an inbox, newest activity first "
    "(`lastActivityAt`); of a contact, newest opened first."
)
class ConversationConnection(Connection[Conversation]):
    refreshed_at: datetime = strawberry.field(
        description="Server time at which this page was computed (custom inboxes show it as "
        "'last updated X ago')."
    )


@strawberry.input(description="An agent's reply to a contact.")
class SendMessageInput:
    contact_id: strawberry.ID = strawberry.field(description="The Contact's id to reply to.")
    text: str = strawberry.field(description="The reply, 1 to 10,000 characters, not blank.")
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the channel of the contact's latest conversation."
    )


@strawberry.type(description="What `sendMessage` returns.")
class SendMessagePayload:
    message: Message = strawberry.field(description="The reply (OUTBOUND, QUEUED).")
    conversation: Conversation = strawberry.field(
        description="Its conversation: the contact's open one, opened for it if none was."
    )
    contact: Contact = strawberry.field(
        description="The contact, assigned to the sender if it was unassigned."
    )


@strawberry.input(description="An inbound message from a channel connector.")
class ReceiveMessageInput:
    channel_id: strawberry.ID = strawberry.field(
        description="The Channel's id the message arrived on (see `channels`)."
    )
    from_: str = strawberry.field(
        name="from",
        description="The sender's handle on the channel: E.164 phone, e-mail or channel id.",
    )
    external_message_id: str = strawberry.field(
        description="The provider's message id, 1 to 255 characters; (channelId, "
        "externalMessageId) makes ingestion idempotent."
    )
    text: str | None = strawberry.field(
        default=None, description="The message text, up to 10,000 characters."
    )
    first_name: str | None = strawberry.field(
        default=None, description="For a new contact: the given name, up to 120 characters."
    )
    last_name: str | None = strawberry.field(
        default=None, description="For a new contact: the family name, up to 120 characters."
    )


@strawberry.type(
    description="What an ingestion returns. The message, its conversation and its contact are "
    "null when the caller may not see the contact (domain.md section 1): a token without the "
    "READ scope (INGEST), or a caller without the permission to view blocked contacts for a "
    "blocked contact; the ids are always given."
)
class ReceiveMessagePayload:
    message_id: strawberry.ID = strawberry.field(description="The Message's id.")
    conversation_id: strawberry.ID = strawberry.field(description="The Conversation's id.")
    contact_id: strawberry.ID = strawberry.field(
        description="The Contact's id (a new contact for a new handle)."
    )
    message: Message | None = strawberry.field(
        description="The message; null when the caller may not see the contact."
    )
    conversation: Conversation | None = strawberry.field(
        description="Its conversation; null when the caller may not see the contact."
    )
    contact: Contact | None = strawberry.field(
        description="The sender; null when the caller may not see the contact."
    )
    duplicate: bool = strawberry.field(
        description="True when this externalMessageId was received before (nothing changed)."
    )


@strawberry.enum(description="How a conversation moved in a live list.")
class ConversationChange(Enum):
    ENTERED = strawberry.enum_value(
        "ENTERED", description="It is now in the list: add it (it was not before)."
    )
    LEFT = strawberry.enum_value(
        "LEFT", description="It is no longer in the list (or no longer visible): remove it."
    )
    CHANGED = strawberry.enum_value(
        "CHANGED",
        description="It stays in the list and changed: update it (lists sort by `lastActivityAt`).",
    )


@strawberry.enum(description="What happened to the conversation.")
class ConversationChangeReason(Enum):
    NEW_MESSAGE = strawberry.enum_value(
        "NEW_MESSAGE", description="A message was received or sent in it."
    )
    OPENED = strawberry.enum_value("OPENED", description="It was opened (or reopened).")
    CLOSED = strawberry.enum_value("CLOSED", description="It was closed.")
    ASSIGNED = strawberry.enum_value(
        "ASSIGNED", description="Its contact's assignee changed (or was removed)."
    )
    BLOCKED = strawberry.enum_value("BLOCKED", description="Its contact was blocked.")
    UNBLOCKED = strawberry.enum_value("UNBLOCKED", description="Its contact was unblocked.")
    CONTACT_UPDATED = strawberry.enum_value(
        "CONTACT_UPDATED", description="Its contact's details were edited."
    )
    MERGED = strawberry.enum_value(
        "MERGED", description="Its contact was merged with another contact."
    )
    ERASED = strawberry.enum_value(
        "ERASED",
        description="Its contact was erased (eraseContact): the conversation is deleted and "
        "leaves every list.",
    )


@strawberry.type(
    description="A conversation entered, left or changed in a live list. `conversation` is null "
    "when it LEFT: the subscriber may no longer be allowed to read it."
)
class ConversationEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    change: ConversationChange = strawberry.field(description="How it moved in the list.")
    reason: ConversationChangeReason = strawberry.field(description="What happened to it.")
    conversation_id: strawberry.ID = strawberry.field(
        description="The Conversation's id, also when it LEFT."
    )
    conversation: Conversation | None = strawberry.field(
        description="The conversation as it is at delivery; null when it LEFT."
    )


_REPORTED = {
    "SENT": "The channel took the message.",
    "DELIVERED": "The channel delivered it to the contact's device.",
    "READ": "The contact read it.",
    "FAILED": "The channel gave up before delivery (give a `reason`); a later DELIVERED or "
    "READ supersedes it, and it never overrides them.",
}
ReportedDeliveryStatus = strawberry.enum(
    Enum(  # type: ignore[misc]
        "ReportedDeliveryStatus",
        {
            name: strawberry.enum_value(m.DeliveryStatus[name].value, description=text)
            for name, text in _REPORTED.items()
        },
    ),
    name="ReportedDeliveryStatus",
    description="What a channel's connector reports about an outbound message "
    "(`reportMessageStatus`). Ranked SENT < FAILED < DELIVERED < READ: a message's "
    "`deliveryStatus` is the highest reported, so reports may arrive in any order.",
)


@strawberry.input(
    description="A connector's delivery report for an outbound message (issue 21, item 3)."
)
class ReportMessageStatusInput:
    channel_id: strawberry.ID = strawberry.field(description="The message's Channel id.")
    external_message_id: str = strawberry.field(
        description="The id the channel gave the message, 1 to 255 characters: how later "
        "reports name it."
    )
    message_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The outbound Message's id (from `sendMessage` or the `message.created` "
        "webhook), to bind `externalMessageId` to it: needed on the first report only. "
        "CONFLICT when either already belongs to another.",
    )
    status: ReportedDeliveryStatus = strawberry.field(  # type: ignore[valid-type]
        description="The status reached."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why it failed, up to 500 characters (FAILED only)."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the channel saw it happen (UTC; now when omitted; at most 5 minutes "
        "ahead). Of repeated reports, the earliest time is kept.",
    )


@strawberry.type(description="The outcome of `reportMessageStatus`.")
class ReportMessageStatusPayload:
    message_id: strawberry.ID = strawberry.field(description="The Message's id.")
    message: Message | None = strawberry.field(
        description="The message after the report; null when the caller may not see its "
        "contact (always for a token without READ)."
    )
    changed: bool = strawberry.field(
        description="False for a repeat (a status reported already, at the same or an "
        "earlier time): nothing was written and no event emitted."
    )


@strawberry.type(
    description="An outbound message's delivery status changed (`reportMessageStatus`)."
)
class MessageStatusEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    message: Message = strawberry.field(
        description="The message as it is at delivery (status and its times)."
    )
    previous_status: DeliveryStatus = strawberry.field(
        description="Its status before the report (equal to the new one when only a time changed)."
    )


@strawberry.type(description="A new message in a conversation the subscriber can see.")
class MessageEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    message: Message = strawberry.field(description="The new message.")
    conversation: Conversation = strawberry.field(
        description="Its conversation, as it is at delivery."
    )


@strawberry.type
class MessageMutations:
    @strawberry.mutation(
        description="Agent reply. Assigns an unassigned contact to the sender (first reply wins)."
    )
    async def send_message(
        self,
        info: Info,
        input: Annotated[SendMessageInput, strawberry.argument(description="The reply.")],
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> SendMessagePayload:
        ctx = info.context
        contact_id = decode_id(input.contact_id, "Contact", field="contactId")
        errors = FieldErrors()
        channel_id = None
        if input.channel_id is not None:
            with errors.collect():
                channel_id = decode_id(input.channel_id, "Channel", field="channelId")
        result = await idempotent(
            info,
            idempotency_key,
            {"input": input},
            resolvers.SENT_MESSAGE,
            lambda once: resolvers.send_message(
                ctx.bus,
                ctx.viewer,
                contact_id=contact_id,
                text=input.text,
                channel_id=channel_id,
                once=once,
                errors=errors,
            ),
        )
        return SendMessagePayload(
            message=Message.from_row(result.message),
            conversation=Conversation.from_row(result.conversation),
            contact=Contact.from_row(result.contact),
        )

    @strawberry.mutation(
        description="Channel ingestion (connectors, partners: an INGEST token; owners' and "
        "managers' sessions and tokens). Idempotent on (channelId, externalMessageId). The "
        "message, conversation and contact are null (their ids given) when the caller may not "
        "see the contact: always for a token without READ. Errors: CONFLICT when "
        "externalMessageId is an outbound message's of the channel (reportMessageStatus)."
    )
    async def receive_message(
        self,
        info: Info,
        input: Annotated[
            ReceiveMessageInput, strawberry.argument(description="The inbound message.")
        ],
    ) -> ReceiveMessagePayload:
        ctx = info.context
        result = await resolvers.receive_message(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            sender=input.from_,
            external_message_id=input.external_message_id,
            text=input.text,
            first_name=input.first_name,
            last_name=input.last_name,
        )
        shown = shows(ctx.viewer, "Message", result.contact)  # duplicates as much as new ones
        return ReceiveMessagePayload(
            message_id=to_global_id("Message", result.message.id),
            conversation_id=to_global_id("Conversation", result.conversation.id),
            contact_id=to_global_id("Contact", result.contact.id),
            message=Message.from_row(result.message) if shown else None,
            conversation=Conversation.from_row(result.conversation) if shown else None,
            contact=Contact.from_row(result.contact) if shown else None,
            duplicate=result.duplicate,
        )

    @strawberry.mutation(
        description="Delivery report of an outbound message by its channel's connector (an "
        "INGEST token; owners' and managers' sessions and tokens): SENT, DELIVERED, READ or "
        "FAILED. Idempotent, in any order, never backwards (ReportedDeliveryStatus). "
        "NOT_FOUND for an unknown channel or message, BAD_USER_INPUT for an inbound message."
    )
    async def report_message_status(
        self,
        info: Info,
        input: Annotated[ReportMessageStatusInput, strawberry.argument(description="The report.")],
    ) -> ReportMessageStatusPayload:
        ctx = info.context
        errors = FieldErrors()
        channel_id = message_id = None
        with errors.collect():
            channel_id = decode_id(input.channel_id, "Channel", field="channelId")
        if input.message_id is not None:
            with errors.collect():
                message_id = decode_id(input.message_id, "Message", field="messageId")
        errors.raise_if_any()
        result = await delivery.report_message_status(
            ctx.bus,
            ctx.viewer,
            channel_id=channel_id,
            external_message_id=input.external_message_id,
            status=m.DeliveryStatus(input.status.value),
            message_id=message_id,
            reason=input.reason,
            occurred_at=input.occurred_at,
        )
        shown = shows(ctx.viewer, "Message", result.contact)
        return ReportMessageStatusPayload(
            message_id=to_global_id("Message", result.message.id),
            message=Message.from_row(result.message) if shown else None,
            changed=result.changed,
        )


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(
        description="Open a conversation with a contact (its open one if any). BAD_USER_INPUT for a blocked contact."
    )
    async def open_conversation(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
    ) -> Conversation:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Conversation.from_row(
            await resolvers.open_conversation(ctx.bus, ctx.viewer, contact_pk)
        )

    @strawberry.mutation(
        description="Close the contact's open conversation, with closing notes as the workspace's "
        "closingNotesMode asks. BAD_USER_INPUT for a blocked contact or missing notes."
    )
    async def close_conversation(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
        category: Annotated[
            str | None,
            strawberry.argument(
                description="Closing note: a category, up to 120 characters (required by "
                "CATEGORY_REQUIRED and CATEGORY_AND_SUMMARY_REQUIRED)."
            ),
        ] = None,
        summary: Annotated[
            str | None,
            strawberry.argument(
                description="Closing note: a summary, up to 2,000 characters (required by "
                "CATEGORY_AND_SUMMARY_REQUIRED)."
            ),
        ] = None,
    ) -> Conversation:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        conversation = await resolvers.close_conversation(
            ctx.bus, ctx.viewer, contact_pk, category, summary
        )
        return Conversation.from_row(conversation)


@strawberry.type
class MessageSubscriptions:
    @strawberry.subscription(
        description="New messages in conversations the subscriber can see (optionally one inbox). "
        "Pass the last `sequence` received as `afterSequence` to replay what was missed."
    )
    async def new_message(
        self,
        info: Info,
        inbox: Annotated[
            Annotated[InboxSelector, strawberry.lazy("graph.schema.inbox")] | None,
            strawberry.argument(
                description="Only messages of conversations this standard, team or blocked "
                "inbox holds for the subscriber; every conversation the subscriber may see when "
                "omitted. Custom inboxes do not update live (BAD_USER_INPUT)."
            ),
        ] = None,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[MessageEvent, None]:
        return resolvers.new_message_events(info.context, inbox, after_sequence, _message_event)

    @strawberry.subscription(
        description="Delivery status changes of outbound messages (`reportMessageStatus`) in "
        "conversations the subscriber can see, or in one. Pass the last `sequence` received "
        "as `afterSequence` to replay what was missed."
    )
    async def message_status_changed(
        self,
        info: Info,
        conversation_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only this Conversation's messages; every conversation the "
                "subscriber may see when omitted."
            ),
        ] = None,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[MessageStatusEvent, None]:
        conversation_pk = (
            decode_id(conversation_id, "Conversation", field="conversationId")
            if conversation_id is not None
            else None
        )
        return delivery.message_status_events(
            info.context, conversation_pk, after_sequence, _status_event
        )


def _status_event(
    sequence: int, message: m.Message, previous: m.DeliveryStatus
) -> MessageStatusEvent:
    return MessageStatusEvent(
        sequence=sequence, message=Message.from_row(message), previous_status=previous
    )


def _message_event(sequence: int, message: m.Message, conversation: m.Conversation) -> MessageEvent:
    return MessageEvent(
        sequence=sequence,
        message=Message.from_row(message),
        conversation=Conversation.from_row(conversation),
    )


__all__ = [
    "Activity",
    "ActivityKind",
    "Conversation",
    "ConversationChange",
    "ConversationChangeReason",
    "ConversationConnection",
    "ConversationEvent",
    "ConversationMutations",
    "ConversationStatus",
    "DeliveryStatus",
    "Message",
    "MessageConnection",
    "MessageDirection",
    "MessageEvent",
    "MessageMutations",
    "MessageStatusEvent",
    "MessageSubscriptions",
    "ReceiveMessageInput",
    "ReceiveMessagePayload",
    "ReportMessageStatusInput",
    "ReportMessageStatusPayload",
    "ReportedDeliveryStatus",
    "SendMessageInput",
    "SendMessagePayload",
    "TimelineConnection",
    "TimelineItem",
]

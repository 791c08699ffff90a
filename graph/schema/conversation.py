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
from graph.loaders import related
from graph.relay import PageRequest, decode_id, to_global_id
from graph.resolvers import conversation as resolvers
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
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.schema.inbox import InboxSelector

ConversationStatus = strawberry.enum(m.ConversationStatus, name="ConversationStatus")
MessageDirection = strawberry.enum(m.MessageDirection, name="MessageDirection")
DeliveryStatus = strawberry.enum(m.DeliveryStatus, name="DeliveryStatus")


@strawberry.type(
    description="A message on one channel, inbound from the contact or outbound from a user."
)
class Message(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Message]

    @classmethod
    def from_row(cls, row: m.Message) -> Message:
        return cls(
            id=to_global_id("Message", row.id),
            row=row,
            direction=row.direction,
            text=row.text,
            delivery_status=row.delivery_status,
            created_at=row.created_at,
        )

    @strawberry.field
    def conversation(self, info: Info) -> Conversation:
        return related(
            info.context.loaders.conversation, self.row.conversation_id, Conversation.from_row
        )

    direction: MessageDirection

    @strawberry.field
    def channel(self, info: Info) -> Channel:
        return related(info.context.loaders.channel, self.row.channel_id, Channel.from_row)

    text: str | None
    delivery_status: DeliveryStatus

    @strawberry.field(description="The sending user of an outbound message.")
    def author(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.author_id, User.from_row)

    created_at: datetime = strawberry.field(description="UTC.")


TimelineItem = Annotated[Message | Activity, strawberry.union("TimelineItem")]


@strawberry.type
class MessageConnection(Connection[Message]):
    pass


@strawberry.type
class TimelineEdge(Edge[TimelineItem]):
    """Named after the list rather than its node type (``TimelineItemEdge``)."""


@strawberry.type
class TimelineConnection(Connection[TimelineItem]):
    edges: list[TimelineEdge]


@strawberry.type(description="The thread with one contact.")
class Conversation(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Conversation]

    @classmethod
    def from_row(cls, row: m.Conversation) -> Conversation:
        return cls(
            id=to_global_id("Conversation", row.id),
            row=row,
            status=row.status,
            last_activity_at=row.last_activity_at,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            closing_category=row.closing_category,
            closing_summary=row.closing_summary,
        )

    @strawberry.field
    def contact(self, info: Info) -> Contact:
        return related(info.context.loaders.contact, self.row.contact_id, Contact.from_row)

    status: ConversationStatus

    @strawberry.field
    def last_message(self, info: Info) -> Message | None:
        return related(info.context.loaders.message, self.row.last_message_id, Message.from_row)

    last_activity_at: datetime = strawberry.field(
        description="When the conversation last had activity (UTC); lists sort by it."
    )
    opened_at: datetime = strawberry.field(description="UTC.")
    closed_at: datetime | None = strawberry.field(description="UTC; null while open.")
    closing_category: str | None = strawberry.field(
        description="Closing note: the category chosen when closing."
    )
    closing_summary: str | None = strawberry.field(
        description="Closing note: the summary written when closing."
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
        request = PageRequest.parse(
            first,
            after,
            last,
            before,
            (datetime, int, int),
            default=resolvers.TIMELINE_PAGE_SIZE,
        )
        page = await resolvers.timeline(info.context.loaders, self.row, request)
        return TimelineConnection.from_page(page, _timeline_item)


def _timeline_item(row: m.Message | m.Activity) -> Message | Activity:
    return Message.from_row(row) if isinstance(row, m.Message) else Activity.from_row(row)


@strawberry.type
class ConversationConnection(Connection[Conversation]):
    refreshed_at: datetime = strawberry.field(
        description="Server time at which this page was computed (custom inboxes show it as "
        "'last updated X ago')."
    )


@strawberry.input(description="An agent's reply to a contact.")
class SendMessageInput:
    contact_id: strawberry.ID
    text: str
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the channel of the contact's latest conversation."
    )


@strawberry.type
class SendMessagePayload:
    message: Message
    conversation: Conversation
    contact: Contact


@strawberry.input(description="An inbound message from a channel connector.")
class ReceiveMessageInput:
    channel_id: strawberry.ID
    from_: str = strawberry.field(
        name="from",
        description="The sender's handle on the channel: E.164 phone, e-mail or channel id.",
    )
    external_message_id: str
    text: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@strawberry.type(
    description="What an ingestion returns. The message, its conversation and its contact are "
    "null when the caller may not see the contact (domain.md section 1): a token without the "
    "READ scope (INGEST), or a caller without the permission to view blocked contacts for a "
    "blocked contact; the ids are always given."
)
class ReceiveMessagePayload:
    message_id: strawberry.ID
    conversation_id: strawberry.ID
    contact_id: strawberry.ID
    message: Message | None
    conversation: Conversation | None
    contact: Contact | None
    duplicate: bool = strawberry.field(
        description="True when this externalMessageId was received before (nothing changed)."
    )


@strawberry.enum(description="How a conversation moved in a live list.")
class ConversationChange(Enum):
    ENTERED = "ENTERED"
    LEFT = "LEFT"
    CHANGED = "CHANGED"


@strawberry.enum(description="What happened to the conversation.")
class ConversationChangeReason(Enum):
    NEW_MESSAGE = "NEW_MESSAGE"
    OPENED = "OPENED"
    CLOSED = "CLOSED"
    ASSIGNED = "ASSIGNED"
    BLOCKED = "BLOCKED"
    UNBLOCKED = "UNBLOCKED"
    CONTACT_UPDATED = "CONTACT_UPDATED"
    MERGED = "MERGED"


@strawberry.type(
    description="A conversation entered, left or changed in a live list. `conversation` is null "
    "when it LEFT: the subscriber may no longer be allowed to read it."
)
class ConversationEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    change: ConversationChange
    reason: ConversationChangeReason
    conversation_id: strawberry.ID
    conversation: Conversation | None


@strawberry.type(description="A new message in a conversation the subscriber can see.")
class MessageEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    message: Message
    conversation: Conversation


@strawberry.type
class MessageMutations:
    @strawberry.mutation(
        description="Agent reply. Assigns an unassigned contact to the sender (first reply wins)."
    )
    async def send_message(
        self, info: Info, input: SendMessageInput, idempotency_key: IdempotencyKeyArgument = None
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
        "see the contact: always for a token without READ."
    )
    async def receive_message(
        self, info: Info, input: ReceiveMessageInput
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


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(
        description="Open a conversation with a contact (its open one if any). BAD_USER_INPUT for a blocked contact."
    )
    async def open_conversation(self, info: Info, contact_id: strawberry.ID) -> Conversation:
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
        contact_id: strawberry.ID,
        category: str | None = None,
        summary: str | None = None,
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
        inbox: Annotated[InboxSelector, strawberry.lazy("graph.schema.inbox")] | None = None,
        after_sequence: int | None = None,
    ) -> AsyncGenerator[MessageEvent, None]:
        return resolvers.new_message_events(info.context, inbox, after_sequence, _message_event)


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
    "MessageSubscriptions",
    "ReceiveMessageInput",
    "ReceiveMessagePayload",
    "SendMessageInput",
    "SendMessagePayload",
    "TimelineConnection",
    "TimelineItem",
]

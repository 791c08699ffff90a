"""Conversations and messages (``domain.md``, terms and section 4)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ConversationStatus(str, Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class MessageDirection(str, Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class DeliveryStatus(str, Enum):
    RECEIVED = "RECEIVED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"


class Conversation(Model):
    """The thread with one contact.

    ``open_contact_id`` equals ``contact_id`` while the conversation is open and is null once
    closed. Its unique constraint makes "at most one open conversation per contact" a rule
    of the database, whatever the number of concurrent writers.
    ``last_activity_at`` orders the lists (newest activity first).

    ``contact_assignee_id`` and ``contact_blocked`` are copies of the contact's assignee and
    blocked flag, kept by database triggers in the same transaction as every write
    (``db/migrations/0004_query_indexes.py``): inbox lists and sidebar counts filter on them
    through one index, without joining ``contact``. Query them; never set them, and do not
    trust them on an object held in memory across a change of its contact.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="conversations", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="conversations", on_delete=fields.CASCADE
    )
    open_contact_id = fields.IntField(null=True, unique=True)
    status = fields.CharEnumField(ConversationStatus, default=ConversationStatus.OPEN)
    last_message_id = fields.IntField(null=True)
    last_channel_id = fields.IntField(null=True)
    last_activity_at = fields.DatetimeField()
    last_inbound_at = fields.DatetimeField(null=True)
    closing_category = fields.CharField(max_length=120, null=True)
    closing_summary = fields.TextField(null=True)
    opened_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    contact_assignee_id = fields.IntField(null=True)
    contact_blocked = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "conversation"
        indexes = (
            Index(fields=("workspace_id", "status", "last_activity_at", "id")),
            Index(fields=("contact_id", "opened_at")),
            # sidebar counts (index-only, by status and facts); MINE and UNASSIGNED lists
            Index(
                fields=(
                    "workspace_id",
                    "status",
                    "contact_blocked",
                    "contact_assignee_id",
                    "last_activity_at",
                    "id",
                )
            ),
            # ALL, team and custom inbox lists; the blocked inbox (any status)
            Index(fields=("workspace_id", "status", "contact_blocked", "last_activity_at", "id")),
            Index(fields=("workspace_id", "contact_blocked", "last_activity_at", "id")),
        )


class Message(Model):
    """A message on one channel: inbound from the contact, outbound from a user (``author``).

    ``sent_at``, ``delivered_at``, ``read_at``, ``failed_at`` (UTC) and ``failure_reason``:
    what the channel's connector reported about an outbound message
    (:mod:`graph.resolvers.delivery`); ``delivery_status`` is the furthest of them.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="messages", on_delete=fields.CASCADE
    )
    conversation = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="messages", on_delete=fields.CASCADE
    )
    channel = fields.ForeignKeyField(
        "models.Channel", related_name="messages", on_delete=fields.CASCADE
    )
    direction = fields.CharEnumField(MessageDirection)
    author = fields.ForeignKeyField(
        "models.User", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    text = fields.TextField(null=True)
    delivery_status = fields.CharEnumField(DeliveryStatus, default=DeliveryStatus.RECEIVED)
    external_message_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    failure_reason = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "message"
        unique_together = (("channel", "external_message_id"),)
        indexes = (
            Index(fields=("conversation_id", "created_at", "id")),
            Index(fields=("contact_id", "created_at")),
        )


class OpenConversationCount(Model):
    """How many open conversations a workspace holds per (contact's assignee, blocked flag):
    the counters the sidebar's open-conversation counts are summed from
    (``graph.resolvers.indicators``). ``assignee_key`` is the assignee's id, ``0`` for
    unassigned. Kept by database triggers on ``conversation`` in the same transaction as every
    write that opens, closes, moves or deletes a conversation or changes its contact's facts
    (``db/migrations/0004_query_indexes.py``); never written by the application.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="open_conversation_counts", on_delete=fields.CASCADE
    )
    assignee_key = fields.IntField()
    blocked = fields.BooleanField()
    count = fields.IntField()

    class Meta:
        table = "open_conversation_count"
        unique_together = (("workspace", "assignee_key", "blocked"),)


__all__ = [
    "Conversation",
    "ConversationStatus",
    "DeliveryStatus",
    "Message",
    "MessageDirection",
    "OpenConversationCount",
]

"""Custom inboxes and per-user inbox seen-state (``domain.md`` sections 2 and 3)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.conversation import ConversationStatus


class CustomInboxSharing(str, Enum):
    PRIVATE = "PRIVATE"
    EVERYONE = "EVERYONE"
    CHOSEN = "CHOSEN"


class CustomInbox(Model):
    """A saved filtered view. ``filter_spec`` is structured data (never SQL text)."""

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="custom_inboxes", on_delete=fields.CASCADE
    )
    creator = fields.ForeignKeyField(
        "models.User", related_name="custom_inboxes", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    filter_spec = fields.JSONField(default=dict)
    sharing = fields.CharEnumField(CustomInboxSharing, default=CustomInboxSharing.PRIVATE)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "custom_inbox"


class CustomInboxShare(Model):
    """One chosen user or team a CHOSEN custom inbox is shared with."""

    id = fields.IntField(primary_key=True)
    custom_inbox = fields.ForeignKeyField(
        "models.CustomInbox", related_name="shares", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField(
        "models.User", related_name="custom_inbox_shares", null=True, on_delete=fields.CASCADE
    )
    team = fields.ForeignKeyField(
        "models.Team", related_name="custom_inbox_shares", null=True, on_delete=fields.CASCADE
    )

    class Meta:
        table = "custom_inbox_share"


class InboxSeenState(Model):
    """When a user last opened an inbox. ``inbox_key`` is ``ALL``, ``MINE``, ``UNASSIGNED``
    or ``team:<id>``."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="inbox_seen_states", on_delete=fields.CASCADE
    )
    inbox_key = fields.CharField(max_length=40)
    seen_at = fields.DatetimeField()

    class Meta:
        table = "inbox_seen_state"
        unique_together = (("user", "inbox_key"),)


class UnseenMark(Model):
    """A conversation with an inbound message a user has not seen in one inbox yet.

    Written for each user when an inbound message arrives, in the one tier the indicator
    rules pick (``domain.md`` section 3, ``graph.resolvers.indicators``), and deleted when
    the user marks that inbox seen. ``inbox_key`` as in :class:`InboxSeenState`.

    ``conversation_status``, ``contact_assignee_id`` and ``contact_blocked`` are copies of its
    conversation's status and contact facts, kept by database triggers in the same
    transaction as every write that changes them (``db/migrations/0017_unseen_mark_facts.py``):
    the sidebar's new-message counts group a user's marks by them without reading each
    mark's conversation (:func:`graph.resolvers.indicators.count_parts`). Query them; never
    set them.
    """

    id = fields.BigIntField(primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="unseen_marks", on_delete=fields.CASCADE
    )
    inbox_key = fields.CharField(max_length=40)
    conversation = fields.ForeignKeyField(
        "models.Conversation", related_name="unseen_marks", on_delete=fields.CASCADE
    )
    marked_at = fields.DatetimeField()
    conversation_status = fields.CharEnumField(
        ConversationStatus, default=ConversationStatus.OPEN, db_default=ConversationStatus.OPEN
    )
    contact_assignee_id = fields.IntField(null=True)
    contact_blocked = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "unseen_mark"
        unique_together = (("user", "inbox_key", "conversation"),)
        # the copies' triggers find a conversation's marks (and so do reassignments, merges
        # and erasures)
        indexes = (Index(fields=("conversation_id",)),)


__all__ = ["CustomInbox", "CustomInboxShare", "CustomInboxSharing", "InboxSeenState", "UnseenMark"]

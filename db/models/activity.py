"""Team-only records on a contact's timeline (``domain.md``, terms and section 6).

An activity is never visible to the contact and never sent to a channel.
"""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ActivityKind(str, Enum):
    COMMENT = "COMMENT"
    CONVERSATION_OPENED = "CONVERSATION_OPENED"
    CONVERSATION_CLOSED = "CONVERSATION_CLOSED"
    CONTACT_ASSIGNED = "CONTACT_ASSIGNED"
    CONTACT_UNASSIGNED = "CONTACT_UNASSIGNED"
    CONTACT_BLOCKED = "CONTACT_BLOCKED"
    CONTACT_UNBLOCKED = "CONTACT_UNBLOCKED"
    CONTACTS_MERGED = "CONTACTS_MERGED"
    CALL_ANSWERED = "CALL_ANSWERED"
    CALL_DECLINED = "CALL_DECLINED"
    CALL_MISSED = "CALL_MISSED"
    CALL_FAILED = "CALL_FAILED"
    CALL_ENDED = "CALL_ENDED"
    CRM_RECORD_UPDATED = "CRM_RECORD_UPDATED"
    CONTACT_ERASED = "CONTACT_ERASED"


class Activity(Model):
    """A comment or an event. ``data`` holds the kind's facts (assignee ids, closing notes,
    mentioned user ids ...)."""

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="activities", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="activities", on_delete=fields.CASCADE
    )
    conversation = fields.ForeignKeyField(
        "models.Conversation", related_name="activities", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharEnumField(ActivityKind, max_length=32)
    author = fields.ForeignKeyField(
        "models.User", related_name="activities", null=True, on_delete=fields.SET_NULL
    )
    text = fields.TextField(null=True)
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    @property
    def assignee_id(self) -> int | None:
        """For assignment events: the id of the new assignee (``data``), else ``None``."""
        user_id = (self.data or {}).get("assignee_id")
        return user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None

    class Meta:
        table = "activity"
        indexes = (
            Index(fields=("contact_id", "created_at", "id")),
            Index(fields=("conversation_id", "created_at", "id")),
        )


class ActivityMention(Model):
    """A user ``@``-mentioned in a comment: a reference, not text (``domain.md`` section 6)."""

    id = fields.IntField(primary_key=True)
    activity = fields.ForeignKeyField(
        "models.Activity", related_name="mentions", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField("models.User", related_name="mentions", on_delete=fields.CASCADE)

    class Meta:
        table = "activity_mention"
        unique_together = (("activity", "user"),)
        indexes = (Index(fields=("user_id",)),)


__all__ = ["Activity", "ActivityKind", "ActivityMention"]

"""Voice calls on calling channels (``domain.md`` section 5)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class CallDirection(str, Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class CallStatus(str, Enum):
    RINGING = "RINGING"
    ONGOING = "ONGOING"
    ENDED = "ENDED"
    MISSED = "MISSED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


class RecordingState(str, Enum):
    NONE = "NONE"
    RECORDING = "RECORDING"
    READY = "READY"
    FAILED = "FAILED"


CALL_ORDER: tuple[tuple[str, bool], ...] = (("ringing_at", True), ("id", True))
"""Newest first: the order of the call log and of a contact's calls (``(field, descending)``
pairs for :func:`db.queries.keyset_after`)."""


class Call(Model):
    """A call. ``ongoing_user_id`` is the user on the line: the answering user while ONGOING,
    the placing user while an OUTBOUND call rings, else null. Unique, so a user is on at most
    one call at a time. ``recording_url``: where the connector says the finished recording is
    (``reportCallRecording``)."""

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="calls", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="calls", on_delete=fields.CASCADE
    )
    channel = fields.ForeignKeyField(
        "models.Channel", related_name="calls", on_delete=fields.CASCADE
    )
    direction = fields.CharEnumField(CallDirection)
    status = fields.CharEnumField(CallStatus, default=CallStatus.RINGING)
    answered_by = fields.ForeignKeyField(
        "models.User", related_name="answered_calls", null=True, on_delete=fields.SET_NULL
    )
    ongoing_user_id = fields.IntField(null=True, unique=True)
    from_number = fields.CharField(max_length=20, null=True)
    to_number = fields.CharField(max_length=20, null=True)
    external_call_id = fields.CharField(max_length=255, null=True)
    ringing_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    recording_state = fields.CharEnumField(RecordingState, default=RecordingState.NONE)
    recording_id = fields.CharField(max_length=64, null=True)
    recording_url = fields.CharField(max_length=2048, null=True)

    @property
    def duration_seconds(self) -> int | None:
        """Whole seconds from answering to ending; ``None`` until both happened."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))

    class Meta:
        table = "call"
        unique_together = (("channel", "external_call_id"),)
        indexes = (
            Index(fields=("workspace_id", "status", "ringing_at")),
            Index(fields=("workspace_id", "ringing_at", "id")),
            Index(fields=("contact_id", "ringing_at")),
            Index(fields=("status", "ringing_at")),  # the ring-timeout sweep, across workspaces
        )


__all__ = ["CALL_ORDER", "Call", "CallDirection", "CallStatus", "RecordingState"]

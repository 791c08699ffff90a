"""The event outbox of the live path (``architecture.md``, live path).

Every write that others must see inserts its event here in the same transaction. ``sequence``
increases per workspace without gaps; subscribers resume after the last sequence they saw.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="events", on_delete=fields.CASCADE
    )
    sequence = fields.BigIntField()
    type = fields.CharField(max_length=64)
    payload = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "event"
        unique_together = (("workspace", "sequence"),)
        indexes = (Index(fields=("created_at",)),)


__all__ = ["Event"]

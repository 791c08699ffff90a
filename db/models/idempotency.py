"""Idempotency keys of creating mutations (issue 16, safe retries of writes).

A client that sends a creating mutation with an ``idempotencyKey`` may send it again after a
transport error: the key's row, inserted in the same transaction as the write, tells the retry
what was created (:mod:`graph.idempotency`). The unique constraint on ``(workspace, user,
key)`` decides between concurrent duplicates, whatever the worker that serves them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class IdempotencyKey(Model):
    """One key a user sent with a creating mutation that succeeded.

    ``fingerprint``: SHA-256 (hex) of the mutation's name and canonical arguments; a retry must
    match it. ``result``: what brings the first result back (ids; for ``createAccessToken``
    the secret, encrypted), null only inside the transaction that claims the key. Rows older
    than ``INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS`` are pruned (:mod:`db.outbox`).
    """

    id = fields.BigIntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="idempotency_keys", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField(
        "models.User", related_name="idempotency_keys", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=255)
    mutation = fields.CharField(max_length=64)
    fingerprint = fields.CharField(max_length=64)
    result = fields.JSONField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_key"
        unique_together = (("workspace", "user", "key"),)
        indexes = (Index(fields=("created_at",)),)


__all__ = ["IdempotencyKey"]

"""Outbound webhook endpoints (issue 20; ``domain.md`` section 8): where a workspace's outbox
events are delivered, signed per the Standard Webhooks specification
(:mod:`graph.webhooks`)."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class WebhookEndpoint(Model):
    """One partner's HTTPS endpoint.

    ``event_types``: the outbox event types it receives (:data:`graph.events.WEBHOOK_EVENTS`
    values), separated by spaces. ``secret``: the current signing secret (``whsec_`` + base64);
    ``previous_secret`` still signs until ``previous_secret_expires_at`` after a rotation.
    ``cursor``: the workspace sequence of the last event delivered (or skipped: not wanted, not
    visible to ``created_by``). ``lease_owner``/``lease_until``: the worker delivering it now
    and until when its lease holds. ``disabled_reason``: why the deliverer disabled it, if it did.
    ``history_starts_at``: set when it was last enabled again after the outbox had pruned
    events it had not received (disabled past ``INBOX_GRAPH_EVENT_RETENTION_SECONDS``): the
    workspace sequence its deliveries resumed from (``None``: it lost nothing).
    """

    id = fields.BigIntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    created_by = fields.ForeignKeyField(
        "models.User", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=500, default="")
    event_types = fields.TextField()
    enabled = fields.BooleanField(default=True)
    secret = fields.CharField(max_length=100)
    previous_secret = fields.CharField(max_length=100, null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    cursor = fields.BigIntField(default=0)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    disabled_reason = fields.CharField(max_length=500, null=True)
    history_starts_at = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One delivery attempt of an event to an endpoint, written by the deliverer
    (:mod:`graph.webhooks`) after each try; listed by ``webhookDeliveries``, newest first.

    ``sequence``/``event_type``: the event (workspace sequence, outbox type); ``webhook_id``:
    the ``webhook-id`` header sent; ``attempt``: 1 for the event's first try, counting up per
    retry; ``status_code``: the receiver's HTTP status (``None`` when no answer came);
    ``error``: why the attempt failed (``None`` on a 2xx); ``duration_ms``: the request's
    time in milliseconds; ``attempted_at``: when it started (UTC); ``next_retry_at``: when the
    next try is due (UTC; ``None`` after a success or when the endpoint was disabled). Pruned
    with the outbox (``INBOX_GRAPH_EVENT_RETENTION_SECONDS``, :func:`db.outbox.prune_events`).
    """

    id = fields.BigIntField(primary_key=True)
    endpoint = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    sequence = fields.BigIntField()
    event_type = fields.CharField(max_length=64)
    webhook_id = fields.CharField(max_length=100)
    attempt = fields.IntField()
    status_code = fields.IntField(null=True)
    error = fields.CharField(max_length=500, null=True)
    duration_ms = fields.IntField()
    attempted_at = fields.DatetimeField(db_index=True)
    next_retry_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (
            # webhookDeliveries: one endpoint's attempts, newest first
            Index(fields=("endpoint_id", "id")),
            # a redelivery's attempt number: the event's earlier attempts
            Index(fields=("endpoint_id", "webhook_id")),
        )


__all__ = ["WebhookDelivery", "WebhookEndpoint"]

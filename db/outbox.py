"""Maintenance of rows kept for a while: outbox events (``architecture.md``, live path) with
the webhook delivery attempts, and idempotency keys (:mod:`graph.idempotency`), pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.functions import Min
from tortoise.transactions import in_transaction

from db.models import Event, IdempotencyKey, WebhookDelivery, WebhookEndpoint


async def prune_events(retention_seconds: int) -> int:
    """Delete events older than ``retention_seconds``, except those an enabled webhook
    endpoint has not received yet (after its cursor: :mod:`graph.webhooks`); returns how many
    went. Webhook delivery attempts (:class:`db.models.WebhookDelivery`) older than
    ``retention_seconds`` go too (not counted).

    One transaction, which first locks every endpoint's row, in the order of their ids
    (``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), then reads the cursors:
    enabling one (``updateWebhookEndpoint``, :func:`graph.resolvers.webhook.update_endpoint`)
    or moving its cursor back (``replayWebhookEndpoint``, :func:`graph.webhooks.replay`)
    locks its row too, so it waits until the events are gone, then finds where the outbox
    starts; pruning that starts while one is under way waits for it, then keeps what the
    endpoint has not received (the deliverers' group commits lock their rows in the same
    order: no deadlock).

    Safe to run from several workers at once: each delete is idempotent.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    async with in_transaction() as connection:
        await (
            WebhookEndpoint.all().using_db(connection).select_for_update().order_by("id").only("id")
        )
        held = await (
            WebhookEndpoint.filter(enabled=True)
            .using_db(connection)
            .annotate(position=Min("cursor"))
            .group_by("workspace_id")
            .values_list("workspace_id", "position")
        )
        removed = (
            await Event.filter(created_at__lt=cutoff)
            .using_db(connection)
            .exclude(workspace_id__in=[w for w, _ in held] or [-1])
            .delete()
        )
        for workspace_id, position in held:
            removed += (
                await Event.filter(
                    workspace_id=workspace_id, created_at__lt=cutoff, sequence__lte=position
                )
                .using_db(connection)
                .delete()
            )
    await WebhookDelivery.filter(attempted_at__lt=cutoff).delete()
    return removed


async def prune_idempotency_keys(ttl_seconds: int) -> int:
    """Delete idempotency keys older than ``ttl_seconds`` (with the access-token secrets some
    keep, encrypted); returns how many went. Safe from several workers at once."""
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    return await IdempotencyKey.filter(created_at__lt=cutoff).delete()


__all__ = ["prune_events", "prune_idempotency_keys"]

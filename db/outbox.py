"""Maintenance of rows kept for a while: outbox events (``architecture.md``, live path) and
idempotency keys (:mod:`graph.idempotency`), pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.models import Event, IdempotencyKey


async def prune_events(retention_seconds: int) -> int:
    """Delete events older than ``retention_seconds``; returns how many went.

    Safe to run from several workers at once: each delete is idempotent.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    return await Event.filter(created_at__lt=cutoff).delete()


async def prune_idempotency_keys(ttl_seconds: int) -> int:
    """Delete idempotency keys older than ``ttl_seconds`` (with the access-token secrets some
    keep, encrypted); returns how many went. Safe from several workers at once."""
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    return await IdempotencyKey.filter(created_at__lt=cutoff).delete()


__all__ = ["prune_events", "prune_idempotency_keys"]

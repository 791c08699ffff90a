"""Outbox maintenance: pruning events by age (``architecture.md``, live path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.models import Event


async def prune_events(retention_seconds: int) -> int:
    """Delete events older than ``retention_seconds``; returns how many went.

    Safe to run from several workers at once: each delete is idempotent.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    return await Event.filter(created_at__lt=cutoff).delete()


__all__ = ["prune_events"]

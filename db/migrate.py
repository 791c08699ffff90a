"""Apply the checked-in migrations (``db/migrations``) to the configured database."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from db.config import check_database_url, tortoise_config


async def apply_migrations(url: str | None = None) -> None:
    """Bring the database at ``url`` (default: ``DATABASE_URL``) to the latest migration.

    Raises :class:`db.config.DatabaseUrlError` first for a URL that cannot work
    (:func:`db.config.check_database_url`).
    """
    check_database_url(url)
    try:
        await migrate(config=tortoise_config(url))
    finally:
        await Tortoise.close_connections()


__all__ = ["apply_migrations"]

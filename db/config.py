"""Database configuration for tortoise, from ``DATABASE_URL``.

The embedded default is a SQLite file in the working directory; PostgreSQL is selected with
``DATABASE_URL=postgres://user@host:5432/name``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite://inbox-graph.db"
MODELS_MODULE = "db.models"
MIGRATIONS_MODULE = "db.migrations"


def database_url() -> str:
    """The configured database URL (``DATABASE_URL``, else the SQLite default)."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def database_name(url: str) -> str:
    """The database's name in ``url``: the PostgreSQL database, or the SQLite file's path."""
    return urlsplit(url).path.lstrip("/") or urlsplit(url).netloc


def tortoise_config(url: str | None = None) -> dict[str, Any]:
    """Tortoise's configuration dict for ``url`` (default: :func:`database_url`)."""
    url = url or database_url()
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    return {
        "connections": {"default": url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


TORTOISE_ORM = tortoise_config()

__all__ = [
    "DEFAULT_DATABASE_URL",
    "TORTOISE_ORM",
    "database_name",
    "database_url",
    "tortoise_config",
]

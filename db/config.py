"""Database configuration for tortoise, from ``DATABASE_URL``.

The embedded default is a SQLite file in the working directory; PostgreSQL is selected with
``DATABASE_URL=postgres://user@host:5432/name``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url

DEFAULT_DATABASE_URL = "sqlite://inbox-graph.db"
MODELS_MODULE = "db.models"
MIGRATIONS_MODULE = "db.migrations"


def database_url() -> str:
    """The configured database URL (``DATABASE_URL``, else the SQLite default)."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def database_name(url: str) -> str:
    """The database's name in ``url``: the PostgreSQL database, or the SQLite file's path."""
    return urlsplit(url).path.lstrip("/") or urlsplit(url).netloc


class PooledConnection(asyncpg.Connection):
    """asyncpg's ``Connection`` whose release to the pool runs no reset statement.

    By default asyncpg's pool resets every connection it takes back with a statement of its
    own (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``), and tortoise
    takes a connection from the pool for each statement outside a transaction: a list request's
    four statements cost eight round trips to PostgreSQL (issue 23). Nothing here leaves the
    session state that statement clears: no session advisory locks, no ``LISTEN`` (live events
    travel through ``BROADCAST_URL``), no ``SET`` outside a transaction, no cursor outside one
    (they close with it). A transaction still open at release is rolled back as before (the
    pool's reset does that before the statement, and still does).
    """

    def get_reset_query(self) -> str:
        """No statement (the class docstring)."""
        return ""


def tortoise_config(url: str | None = None) -> dict[str, Any]:
    """Tortoise's configuration dict for ``url`` (default: :func:`database_url`).

    On PostgreSQL the pool's connections are :class:`PooledConnection` objects: a connection
    returned to the pool runs no reset statement. On SQLite the engine is :mod:`db.sqlite`:
    transactions take the write lock when they begin (two processes writing one file)."""
    url = url or database_url()
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    connection: str | dict[str, Any] = url  # another scheme: refused by tortoise, at init
    if url.startswith("postgres://"):
        connection = expand_db_url(url)
        connection["credentials"]["connection_class"] = PooledConnection
        connection["engine"] = "db.postgres"
    elif url.startswith("sqlite://"):
        connection = expand_db_url(url)
        connection["engine"] = "db.sqlite"
    return {
        "connections": {"default": connection},
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


SUPPORTED_SCHEMES = ("sqlite", "postgres", "postgresql")


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` names no database this service can use; the message says what to fix."""


def check_database_url(url: str | None = None) -> None:
    """Refuse at once a ``url`` (default: :func:`database_url`) that cannot work.

    Raises :class:`DatabaseUrlError` for a scheme other than :data:`SUPPORTED_SCHEMES`, and for
    a SQLite file whose folder does not exist (the folder is never created: a typo in the path
    should not make a new, empty database somewhere) or that cannot be opened (a folder, a
    folder this user may not write): without these checks the SQLite driver hangs.
    """
    url = url or database_url()
    scheme = urlsplit(url).scheme
    if scheme not in SUPPORTED_SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL {url!r} is not supported: use sqlite://PATH or "
            "postgres://USER@HOST:PORT/NAME."
        )
    if scheme == "sqlite":
        from tortoise.backends.base.config_generator import expand_db_url

        path = expand_db_url(url)["credentials"]["file_path"]
        folder = os.path.dirname(os.path.abspath(path))
        if path == ":memory:":
            return
        if not os.path.isdir(folder):
            raise DatabaseUrlError(
                f"The folder {folder} of the SQLite database does not exist: create it "
                f"(mkdir -p {folder}) or fix DATABASE_URL."
            )
        _check_sqlite_opens(path)


def _check_sqlite_opens(path: str) -> None:
    """Open the SQLite file ``path`` once with the standard library (creating it as the first
    migration would): a path that is a folder, or in a folder this user may not write, raises
    :class:`DatabaseUrlError` at once, where the async driver would hang silently."""
    import sqlite3

    existed = os.path.exists(path)
    try:
        connection = sqlite3.connect(path)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise DatabaseUrlError(
            f"Cannot open the SQLite database {path} ({exc}): check that it is a file this "
            "user may write, in a folder this user may write, or fix DATABASE_URL."
        ) from exc
    finally:
        if not existed and os.path.isfile(path) and os.path.getsize(path) == 0:
            os.remove(path)  # leave no trace: the first migration creates it


TORTOISE_ORM = tortoise_config()

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SUPPORTED_SCHEMES",
    "TORTOISE_ORM",
    "DatabaseUrlError",
    "PooledConnection",
    "check_database_url",
    "database_name",
    "database_url",
    "tortoise_config",
]

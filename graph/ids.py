"""Global ids and cursors: how the API names an object and a position in a list.

Both are opaque to clients, and both are URL-safe base64 without padding:

- a global id encodes ``"<Type>:<primary key>"``, e.g. ``to_global_id("Call", 7)`` is
  ``"Q2FsbDo3"``; ``node(id)`` and every ``ID`` argument read it back;
- a cursor encodes the JSON list of a row's keyset values in its list's ordering (datetimes
  as ISO 8601 with their offset), e.g. ``encode_cursor([datetime(...), 42])``; the list that
  made it reads it back with :func:`decode_cursor`, given the shape of those values.

Only the canonical encoding is accepted, so every object has exactly one id and every
position one cursor. A malformed id or cursor is a ``BAD_USER_INPUT`` error naming the
argument (``extensions.field``).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import strawberry

from db.queries import MAX_KEY
from graph.errors import BadUserInput

MAX_TOKEN_LENGTH = 512
"""The longest id or cursor read, in characters: anything longer is malformed."""


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(text: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_TOKEN_LENGTH:
        raise ValueError("not a token")
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    """The opaque global id of the ``type_name`` object with primary key ``pk``."""
    return strawberry.ID(_b64encode(f"{type_name}:{pk}"))


def parse_global_id(value: str) -> tuple[str, int] | None:
    """``(type name, primary key)`` of a global id, or ``None`` when malformed.

    Only the canonical encoding is accepted. A key beyond the 32-bit range is well formed but
    names nothing: it comes back as ``0``, which no row has.
    """
    try:
        text = _b64decode(value)
        type_name, _, pk = text.partition(":")
        number = int(pk)
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if (
        not type_name.isidentifier()
        or number <= 0
        or str(number) != pk
        or _b64encode(text) != value
    ):
        return None
    if number > MAX_KEY:
        return type_name, 0  # well formed, but no such object can exist
    return type_name, number


def decode_id(value: str, expected: str, *, field: str = "id") -> int:
    """The primary key of a global id of type ``expected``.

    Raises:
        BadUserInput: naming ``field``, when ``value`` is not a global id of an ``expected``
            object.
    """
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != expected:
        raise BadUserInput(f"`{field}` is not a valid {expected} id.", field=field)
    return parsed[1]


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for a row's keyset values (datetimes as ISO 8601)."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return _b64encode(json.dumps(plain, separators=(",", ":")))


def decode_cursor(cursor: str, shape: tuple[type, ...], *, field: str = "after") -> list[Any]:
    """The keyset values of a cursor, checked against ``shape``.

    Args:
        shape: the type of each value: ``datetime`` (aware, years 1970 to 9998, returned in
            UTC), ``int`` (0 to :data:`db.queries.MAX_KEY`) or ``str``.

    Raises:
        BadUserInput: naming ``field``, when the cursor was not produced by this list.
    """
    try:
        values = json.loads(_b64decode(cursor))
        if not isinstance(values, list) or len(values) != len(shape):
            raise ValueError
        out: list[Any] = []
        for value, kind in zip(values, shape, strict=True):
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError
                parsed = parsed.astimezone(UTC)
                if not 1970 <= parsed.year <= 9998:
                    raise ValueError
                out.append(parsed)
            elif kind is int:
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not 0 <= value <= MAX_KEY
                ):
                    raise ValueError
                out.append(value)
            else:
                if not isinstance(value, kind):
                    raise ValueError
                out.append(value)
        return out
    except (ValueError, TypeError, UnicodeError, OverflowError, binascii.Error):
        raise BadUserInput(f"`{field}` is not a valid cursor for this list.", field=field) from None


__all__ = [
    "MAX_TOKEN_LENGTH",
    "decode_cursor",
    "decode_id",
    "encode_cursor",
    "parse_global_id",
    "to_global_id",
]

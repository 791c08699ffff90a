"""The shared core of the schema: ``Node``, global ids, cursors and page sizes.

Domains import the core; the core imports no domain.

Global ids are opaque: URL-safe base64 of ``"<Type>:<primary key>"``. Cursors are opaque too:
URL-safe base64 of the JSON list of the keyset values of a row in its ordering.
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

MAX_PAGE_SIZE = 100
MAX_SEQUENCE = 2**53  # sequences and other cursor integers


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Relay page information of a connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(text: str) -> str:
    if not isinstance(text, str) or len(text) > 512:
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
    if not type_name.isidentifier() or number <= 0 or str(number) != pk or _b64encode(text) != value:
        return None
    if number > MAX_KEY:
        return type_name, 0  # well formed, but no such object can exist
    return type_name, number


def decode_id(value: str, expected: str, *, field: str = "id") -> int:
    """The primary key of a global id of type ``expected``.

    Raises:
        BadUserInput: when ``value`` is not a global id of an ``expected`` object.
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
    """The keyset values of a cursor, checked against ``shape`` (``datetime``, ``int``, ``str``).

    Raises:
        BadUserInput: when the cursor was not produced by this list.
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
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_KEY:
                    raise ValueError
                out.append(value)
            else:
                if not isinstance(value, kind):
                    raise ValueError
                out.append(value)
        return out
    except (ValueError, TypeError, UnicodeError, OverflowError, binascii.Error):
        raise BadUserInput(f"`{field}` is not a valid cursor for this list.", field=field) from None


def page_size(first: int | None, *, field: str = "first") -> int:
    """``first`` checked to lie within 1..100 (``contract.graphql``: capped at 100).

    Raises:
        BadUserInput: outside that range.
    """
    if first is None:
        return 25
    if first < 1 or first > MAX_PAGE_SIZE:
        raise BadUserInput(f"`{field}` must be between 1 and {MAX_PAGE_SIZE}.", field=field)
    return first


def page_info(cursors: list[str], has_next: bool, has_previous: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


__all__ = [
    "MAX_PAGE_SIZE",
    "Node",
    "PageInfo",
    "decode_cursor",
    "decode_id",
    "encode_cursor",
    "page_info",
    "page_size",
    "parse_global_id",
    "to_global_id",
]

"""Relay's opaque tokens and pages: global object ids, connection cursors, the page size of a
connection (``first``) and the page a list resolver returns (:class:`Page`).

Global ids are opaque: URL-safe base64 of ``"<Type>:<primary key>"``. Cursors are opaque too:
URL-safe base64 of the JSON list of the keyset values of a row in its ordering.

Resolvers and schema types both use these; the GraphQL types of a connection (``Node``,
``PageInfo``, ``Edge``, ``Connection``) are in :mod:`graph.schema.core`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import strawberry

from db.queries import MAX_KEY
from graph.errors import BadUserInput

MAX_PAGE_SIZE = 100

Row = TypeVar("Row")


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
        BadUserInput: when ``value`` is not a global id of an ``expected`` object.
    """
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != expected:
        raise BadUserInput(f"`{field}` is not a valid {expected} id.", field=field)
    return parsed[1]


def decode_ids(values: list[str] | None, expected: str, *, field: str) -> list[int] | None:
    """The primary keys of a list of global ids of type ``expected`` (``None`` stays ``None``).

    Raises:
        BadUserInput: when one of ``values`` is not a global id of an ``expected`` object.
    """
    if values is None:
        return None
    return [decode_id(value, expected, field=field) for value in values]


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


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    """One page of a list in its keyset order, as list resolvers return it; the schema makes it
    a connection (:meth:`graph.schema.core.Connection.from_page`).

    Attributes:
        rows: the page's rows, in the list's order.
        keys: each row's keyset values in that order: what its cursor encodes.
        has_next: whether rows follow the page.
        has_previous: whether rows precede it (it starts after a cursor).
    """

    rows: list[Row]
    keys: list[list[Any]]
    has_next: bool
    has_previous: bool

    @classmethod
    def slice(
        cls,
        rows: Sequence[Row],
        first: int,
        after: Sequence[Any] | None,
        key: Callable[[Row], list[Any]],
    ) -> Page[Row]:
        """The page of ``first`` rows after the cursor values ``after`` (``None``: from the
        start), from ``rows`` read in the list's order with one row more than ``first``:
        that row, when there is one, only tells that more follow.

        Example:
            ``Page.slice(await query.limit(first + 1), first, after, lambda r: [r.id])``
        """
        page = list(rows[:first])
        return cls(page, [key(row) for row in page], len(rows) > first, after is not None)


__all__ = [
    "MAX_PAGE_SIZE",
    "Page",
    "decode_cursor",
    "decode_id",
    "decode_ids",
    "encode_cursor",
    "page_size",
    "parse_global_id",
    "to_global_id",
]

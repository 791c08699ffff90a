"""Relay's opaque tokens and pages: global object ids, connection cursors, what a connection's
arguments ask for (:class:`PageRequest`: ``first``/``after`` forwards, ``last``/``before``
backwards, both by keyset) and the page a list resolver returns (:class:`Page`).

Global ids are opaque: URL-safe base64 of ``"<Type>:<primary key>"``. Cursors are opaque too:
URL-safe base64 of the JSON list of the keyset values of a row in its ordering.

Resolvers and schema types both use these; the GraphQL types of a connection (``Node``,
``PageInfo``, ``Edge``, ``Connection``) are in :mod:`graph.schema.core`.
"""

from __future__ import annotations

import base64
import binascii
import json
from binascii import b2a_base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
import strawberry

from db.queries import MAX_KEY, keyset_query, plain_rows, reverse
from graph.errors import BadUserInput, FieldErrors

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tortoise.models import Model

    from graph.loaders import Loaders
    from graph.schema.row_json import NodeJson

MAX_PAGE_SIZE = 100
"""The longest page of a connection (``contract.graphql``)."""
DEFAULT_PAGE_SIZE = 25
"""The page size of a connection given neither ``first`` nor ``last`` (unless it says
otherwise, e.g. ``Conversation.timeline``)."""
PAGE_SIZE_METADATA = "default_page_size"
"""The key of a connection field's strawberry metadata holding its page size when neither
``first`` nor ``last`` is given (:func:`graph.schema.core.connection_field`; read by
:mod:`graph.cost`)."""

Row = TypeVar("Row")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps(..., separators=(",", ":"))`` without building an encoder per cursor."""


def _b64encode(text: str) -> str:
    # base64.urlsafe_b64encode, without its two Python calls: a page of 100 conversations
    # encodes about 470 global ids and cursors
    return b2a_base64(text.encode(), newline=False).translate(_URL_SAFE).decode("ascii").rstrip("=")


def _b64decode(text: str) -> str:
    if not isinstance(text, str) or len(text) > 512:
        raise ValueError("not a token")
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    """The opaque global id of the ``type_name`` object with primary key ``pk``."""
    # strawberry.ID is a NewType (its call returns the string itself): not called here;
    # _b64encode written out (a list of 100 makes 300 ids)
    text = f"{type_name}:{pk}".encode()
    return b2a_base64(text, newline=False).translate(_URL_SAFE).decode("ascii").rstrip("=")  # type: ignore[return-value]


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


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a row's keyset values (datetimes as ISO 8601): URL-safe base64 of
    their JSON list, as ``json.dumps(values, separators=(",", ":"))`` writes it (one
    :func:`encode_cursors`)."""
    return encode_cursors([values])[0]


def encode_cursors(keys: Sequence[Sequence[Any]]) -> list[str]:
    """:func:`encode_cursor` of each of ``keys`` (a page's rows' keyset values), in order.

    Rows' usual values (UTC instants as the database gives them, naive instants, integers of
    64 bits) are written by orjson, as ``json.dumps`` writes them (an instant as
    ``isoformat()`` does), and base64-encoded together: a page of 100 makes 100 cursors
    (issue 23: a cursor was 7 % of a timeline's instructions). Anything else (another zone,
    a text, a larger integer) goes through ``json``, as before."""
    if not keys:
        return []
    # checked and written in C, value by value (a Python loop over them cost as much as the
    # rest): integers orjson writes (64 bits; a larger one raises) as json does
    values = list(chain.from_iterable(keys))
    if set(map(type, values)) <= _USUAL_TYPES and all(
        map(_usual_zone, set(map(getattr, values, repeat("tzinfo"), repeat(None))))
    ):
        try:
            written = list(map(orjson.dumps, keys))
        except orjson.JSONEncodeError:
            pass
        else:
            encoded = b"\n".join(map(_BASE64, written))
            # the padding's "=" are all of them: base64's alphabet holds none
            return encoded.translate(_URL_SAFE).replace(b"=", b"").decode("ascii").split("\n")
    return [_encode_unusual(values) for values in keys]


_USUAL_TYPES = frozenset((int, datetime))


def _usual_zone(zone: Any) -> bool:
    """Whether orjson writes instants of ``zone`` as ``isoformat()`` does: naive ones, and UTC
    (asyncpg's ``datetime.UTC``; tortoise's model rows' ``ZoneInfo("UTC")``, an instance of its
    own: a helper's review). Asked once per zone of a page."""
    return zone is None or zone is UTC or getattr(zone, "key", None) == "UTC"


_BASE64 = partial(b2a_base64, newline=False)


def _encode_unusual(values: Sequence[Any]) -> str:
    """:func:`encode_cursor` of any keyset values, through ``json`` (datetimes as
    ``isoformat()`` writes them)."""
    return _b64encode(
        _CURSOR_JSON.encode([v.isoformat() if isinstance(v, datetime) else v for v in values])
    )


def decode_cursor(cursor: str, shape: tuple[type, ...], *, field: str = "after") -> list[Any]:
    """The keyset values of a cursor, checked against ``shape`` (``datetime``, ``int``, ``str``).

    A cursor holds a place (sort values and id), not the list it came from: one of another
    list of the same shape reads as that place in this one (README, "Lists (Relay connections)").

    Raises:
        BadUserInput: when the cursor is not a place of this shape.
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
    """``first`` (or ``last``, named by ``field``) checked to lie within 1..100
    (``contract.graphql``: capped at 100); ``None`` is :data:`DEFAULT_PAGE_SIZE`.

    Raises:
        BadUserInput: outside that range.
    """
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 1 or first > MAX_PAGE_SIZE:
        raise BadUserInput(f"`{field}` must be between 1 and {MAX_PAGE_SIZE}.", field=field)
    return first


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a connection's ``first``/``after``/``last``/``before`` ask for, checked
    (:meth:`parse`), in the terms of the list's keyset order.

    Forwards (``first``, or neither ``first`` nor ``last``): the first ``size`` rows after
    ``after``; backwards (``last``): the last ``size`` rows before ``before``. Either way the
    other cursor, when given, bounds the rows too (the Relay cursor spec's
    ``ApplyCursorsToEdges``). ``first`` and ``last`` together are refused.

    Attributes:
        size: rows of the page (1 to 100).
        after: the keyset values of the ``after`` cursor, or ``None``.
        before: the keyset values of the ``before`` cursor, or ``None``.
        backward: ``last`` was given: the page is read from its end.
    """

    size: int
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None
    backward: bool = False

    @classmethod
    def parse(
        cls,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        shape: tuple[type, ...],
        *,
        default: int = DEFAULT_PAGE_SIZE,
    ) -> PageRequest:
        """The request of a connection field's arguments.

        Args:
            first, after, last, before: the field's arguments as the client gave them.
            shape: the types of the list's keyset values (:func:`decode_cursor`).
            default: the page size when neither ``first`` nor ``last`` is given.

        Raises:
            BadUserInput: ``first`` or ``last`` outside 1..100, both given (``field``:
                ``last``), or a cursor this list did not produce (``field``: ``after`` or
                ``before``). Every bad argument is reported at once (:class:`FieldErrors`).
        """
        if after is None and before is None and (first is None or last is None):
            # at most one check (the page's size), whose error is the one raised below: a
            # request of the first page, a timeline's twice a request, without collecting
            if first is not None:
                return cls(page_size(first), None, None, False)
            if last is not None:
                return cls(page_size(last, field="last"), None, None, True)
            return cls(default, None, None, False)
        errors = FieldErrors()
        size = default
        with errors.collect():
            if first is not None and last is not None:
                raise BadUserInput(
                    "Give `first` or `last`, not both: `first` pages forwards, `last` backwards.",
                    field="last",
                )
        for name, value in (("first", first), ("last", last)):
            if value is not None:
                with errors.collect():
                    size = page_size(value, field=name)
        cursors: dict[str, tuple[Any, ...] | None] = {"after": None, "before": None}
        for name, value in (("after", after), ("before", before)):
            if value is not None:
                with errors.collect():
                    cursors[name] = tuple(decode_cursor(value, shape, field=name))
        errors.raise_if_any()
        return cls(size, cursors["after"], cursors["before"], last is not None)

    def reading(self, order: Sequence[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
        """The order the page's rows are read in: the list's ``order``, reversed backwards."""
        return reverse(order) if self.backward else tuple(order)

    async def read(
        self,
        query: Any,
        order: Sequence[tuple[str, bool]],
        loaders: Loaders | None = None,
        unread: Mapping[type[Model], frozenset[str]] | None = None,
        unread_users: frozenset[type[Model]] = frozenset(),
        node_json: NodeJson | None = None,
        **relations: str,
    ) -> list[Any]:
        """The rows of the page from the tortoise ``query`` in the list's ``order``, in reading
        order, with one row more when more follow (:func:`db.queries.keyset_query`);
        :meth:`Page.of` makes the page of them. With ``loaders``, the rows they name are
        preloaded with them (:meth:`graph.loaders.Loaders.read_with`: ``relations`` maps a
        loader to the rows' column holding its key, ``contact="contact_id"``; ``unread`` the
        columns of each model none of the request's fields read, ``unread_users`` the models
        whose rows' users none reads). With ``node_json``, the rows are those of
        :func:`db.combined.read_json`, each with its node's JSON, when the database writes
        them (:mod:`graph.schema.row_json`)."""
        page = keyset_query(
            query, order, self.size, self.after, self.before, backward=self.backward
        )
        if node_json is not None:
            rows = await node_json.read(page, self.reading(order))
            if rows is not None:
                return rows
        if loaders is None:
            return await plain_rows(page)
        return await loaders.read_with(page, self.reading(order), unread, unread_users, **relations)


async def _no_rows() -> int:
    return 0


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    """One page of a list in its keyset order, as list resolvers return it; the schema makes it
    a connection (:meth:`graph.schema.core.Connection.from_page`).

    Attributes:
        rows: the page's rows, in the list's order.
        keys: each row's keyset values in that order: what its cursor encodes.
        has_next: whether rows follow the page.
        has_previous: whether rows precede it.
        total: ``await total()`` counts the whole list (every page; cursors ignored), for
            ``totalCount``; it runs only when a client selects that field.
    """

    rows: list[Row]
    keys: list[Sequence[Any]]
    has_next: bool
    has_previous: bool
    total: Callable[[], Awaitable[int]] = _no_rows

    @classmethod
    def of(
        cls,
        rows: Sequence[Row],
        request: PageRequest,
        key: Callable[[Row], Sequence[Any]],
        total: Callable[[], Awaitable[int]] = _no_rows,
    ) -> Page[Row]:
        """The page ``request`` asks for, from ``rows`` read in its reading order
        (:meth:`PageRequest.reading`) with one row more than its size: that row, when there
        is one, only tells that more follow in the reading direction.

        ``hasNextPage`` forwards and ``hasPreviousPage`` backwards are exact (within the
        other cursor's bound, as the Relay cursor spec says); the other side is true when the
        request starts from a cursor (``after`` forwards, ``before`` backwards): that cursor's
        row preceded (or followed) the page when it was read.

        Example:
            ``Page.of(await request.read(query, ORDER), request, lambda r: [r.id])``
        """
        more = len(rows) > request.size
        page = list(rows[: request.size])
        if request.backward:
            page.reverse()
            has_previous, has_next = more, request.before is not None
        else:
            has_previous, has_next = request.after is not None, more
        return cls(page, [key(row) for row in page], has_next, has_previous, total)

    @classmethod
    def empty(cls) -> Page[Row]:
        """A list without rows."""
        return cls([], [], False, False)


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PAGE_SIZE_METADATA",
    "Page",
    "PageRequest",
    "decode_cursor",
    "decode_id",
    "decode_ids",
    "encode_cursor",
    "page_size",
    "parse_global_id",
    "to_global_id",
]

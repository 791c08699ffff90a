"""Query helpers shared by the domains: keyset pagination, and the first rows of each group
(a page per parent for DataLoaders)."""

from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, RawSQL
from tortoise.fields.data import (
    CharEnumFieldInstance,
    DatetimeField,
    IntEnumFieldInstance,
    parse_datetime,
)
from tortoise.timezone import get_default_timezone, get_use_tz

MAX_KEY = 2**31 - 1
"""The largest primary key: they are 32-bit integers on every database."""

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model
    from tortoise.queryset import QuerySet


@functools.lru_cache(maxsize=1024)
def _builder(
    model: type[Model], layout: tuple[str, ...] | None = None, unread: frozenset[str] = frozenset()
) -> Callable[[Any], Model]:
    """A function making a ``model`` instance from a whole database row (every column, by
    name), equal to tortoise's own ``Model._init_from_db(**row)``: the same attributes, the
    same conversions (``tests/test_seed.py`` compares them for every model).

    With ``layout``, the names of the row's columns in order (a SQLite row's ``keys()``, or
    what :func:`db.combined.read_combined` selected), each column is read by its position
    (the first column of its name, names compared as SQLite's ``sqlite3.Row`` compares them,
    ignoring ASCII case): ``sqlite3.Row`` finds a name by comparing it with each column's
    in turn, which for the 50 columns of a combined list's rows cost more than building
    them (issue 23: 1.1 ms of a SQLite list of 100). ``KeyError`` when a column is missing
    from ``layout``, as a row lacking it raises.

    Tortoise sets each attribute through ``object.__setattr__`` after building the keyword
    arguments; writing the instance's ``__dict__`` directly costs a third less for a page of
    100 rows, which every list reads three times (the rows, their contacts, their messages).
    The function is written out per model (one statement per column, no loop over the
    columns and no call for the usual timestamp or enum value: a list of 100 converts 1,200
    timestamps); what :func:`_converter` does for each column is inlined for the values
    asyncpg returns and for ``NULL`` (``None``, as tortoise's timestamp and enum conversions
    return it), anything else goes to its conversion (the same values).

    ``unread``: columns the row does not hold (a lean read, :func:`db.combined.read_joined`):
    their attributes are ``None`` and the instance is partial (``_partial``: tortoise refuses
    to save it whole).
    """
    meta = model._meta
    names: dict[str, Any] = {
        "model": model,
        "new": model.__new__,
        "datetime": datetime,
        "UTC": UTC,
        "parse_datetime": parse_datetime,
        "custom_pk": meta.db_pk_column not in meta.generated_db_fields,
    }
    lines = [
        "def build(row):",
        "    instance = new(model)",
        "    values = instance.__dict__",
        f"    values['_partial'] = {bool(unread)}",
        "    values['_saved_in_db'] = True",
        "    values['_custom_generated_pk'] = custom_pk",
        "    values['_await_when_save'] = {}",
    ]
    add = lines.append
    if layout is None:
        column = repr
    else:
        positions: dict[str, int] = {}
        for position, found in enumerate(layout):
            positions.setdefault(_row_name(found), position)

        def column(key: str) -> str:
            return str(positions[_row_name(key)])

    for key in sorted(unread):
        add(f"    values[{meta.fields_db_projection_reverse[key]!r}] = None")
    for key, name, _ in meta.db_native_fields:
        if key in unread:
            continue
        add(f"    values[{name!r}] = row[{column(key)}]")
    for index, (key, name, field) in enumerate(meta.db_default_fields):
        if key in unread:
            continue
        names[f"kind_{index}"] = field.field_type
        add(f"    value = row[{column(key)}]")
        add(f"    values[{name!r}] = kind_{index}(value) if value is not None else None")
    for index, (key, name, field) in enumerate(meta.db_complex_fields):
        if key in unread:
            continue
        convert = names[f"convert_{index}"] = _converter(field)
        add(f"    value = row[{column(key)}]")
        zone = getattr(convert, "zone", None)
        members = getattr(convert, "members", None)
        if zone is not None:
            names[f"zone_{index}"] = zone
            # SQLite's text of a UTC timestamp parsed here, not in a call of the converter
            add("    if value.__class__ is str:")
            add("        parsed = parse_datetime(value)")
            add(
                f"        values[{name!r}] = parsed.astimezone(zone_{index}) "
                f"if parsed.tzinfo is UTC else convert_{index}(value)"
            )
            add("    else:")
            add(
                f"        values[{name!r}] = value.astimezone(zone_{index}) "
                "if value.__class__ is datetime and value.tzinfo is UTC "
                f"else None if value is None else convert_{index}(value)"
            )
        elif members is not None:
            names[f"members_{index}"] = members
            add(
                f"    found = members_{index}.get(value) "
                "if value.__class__ is str or value.__class__ is int else None"
            )
            add(
                f"    values[{name!r}] = found if found is not None "
                f"else None if value is None else convert_{index}(value)"
            )
        else:
            add(f"    values[{name!r}] = convert_{index}(value)")
    add("    return instance")
    exec(compile("\n".join(lines), f"<row builder of {model.__name__}>", "exec"), names)  # noqa: S102 - column names of our models
    return names["build"]


def _row_name(name: str) -> str:
    """``name`` as ``sqlite3.Row`` matches it: an ASCII name ignoring case, any other as it is."""
    return name.lower() if name.isascii() else name


def _converter(field: Any) -> Callable[[Any], Any]:
    """``field.to_python_value``, with a shortcut for the values asyncpg returns (issue 23: a
    list of 100 converts 1,200 timestamps): a ``datetime`` in ``datetime.UTC`` is converted as
    tortoise converts an aware one (``astimezone`` of its default time zone) without reading
    ``USE_TZ`` from the environment each time, and SQLite's text of an aware one parsed by
    tortoise's own parser (``parse_datetime``) then converted the same way (tortoise's
    conversion was a fifth of a SQLite list of 100); an enum value by its enum's own value map
    (what ``Enum(value)`` returns). Anything else (naive values, unknown enum values, ``use_tz``
    off when the builder was made) goes to tortoise's conversion."""
    convert = field.to_python_value
    if isinstance(field, DatetimeField) and type(field).to_python_value is _DATETIME_CONVERSION:
        if not get_use_tz():
            return convert
        default_zone = get_default_timezone()

        def timestamp(value: Any) -> Any:
            if value.__class__ is datetime and value.tzinfo is UTC:
                return value.astimezone(default_zone)
            if value.__class__ is str:
                parsed = parse_datetime(value)
                if parsed.utcoffset() is not None:
                    return parsed.astimezone(default_zone)
            return convert(value)

        timestamp.zone = default_zone  # type: ignore[attr-defined] - inlined by _builder
        return timestamp
    if type(field).to_python_value in _ENUM_CONVERSIONS:
        members = field.enum_type._value2member_map_

        def member(value: Any) -> Any:
            found = members.get(value) if value.__class__ is str or value.__class__ is int else None
            return found if found is not None else convert(value)

        member.members = members  # type: ignore[attr-defined] - inlined by _builder
        return member
    return convert


_DATETIME_CONVERSION = DatetimeField.to_python_value
_ENUM_CONVERSIONS = (
    CharEnumFieldInstance.to_python_value,
    IntEnumFieldInstance.to_python_value,
)


@functools.cache
def columns(model: type[Model]) -> str:
    """``model``'s columns, quoted and comma-separated, for a hand-written ``SELECT`` instead of
    ``*``: a table may hold columns no field names (PostgreSQL's ``search_document``
    ``tsvector`` of migration 0012, which every contact and message read would otherwise carry
    and decode)."""
    return ", ".join(f'"{column}"' for column in sorted(model._meta.db_fields))


def model_rows(
    model: type[Model],
    rows: Sequence[Any],
    extra: Sequence[str] = (),
    layout: tuple[str, ...] | None = None,
    unread: frozenset[str] = frozenset(),
) -> list[Model]:
    """``model`` instances of whole database rows (``SELECT *``), each as tortoise reads it;
    ``extra`` columns (window ranks, say) are set as plain attributes too. A row lacking a
    column is read by tortoise itself (a partial instance).

    Rows of SQLite (``sqlite3.Row``) are read by position (:func:`_builder`), in the
    columns' order of the first row (every row of a statement has the same) or of ``layout``,
    the names of the rows' columns in order: rows of a combined or joined read, whose own
    names are not the model's (``db.combined``), so a column missing from it is an error
    (``KeyError``), never a partial instance read by those names; except the ``unread``
    columns of a lean read (``layout`` lacks them: their attributes are ``None``,
    :func:`_builder`).

    Raises:
        KeyError: ``layout`` lacks one of the model's columns not ``unread``."""
    if not rows:
        return []
    given = layout is not None
    if layout is None and rows[0].__class__ is sqlite3.Row:
        layout = tuple(rows[0].keys())
    try:
        build = _builder(model, layout, unread)
    except KeyError:  # a column missing: each row goes to tortoise below
        if given:
            raise
        build = _builder(model)
    instances = []
    for row in rows:
        try:
            instance = build(row)
        except (KeyError, IndexError):
            if given:
                raise
            instance = model._init_from_db(**dict(row))
        for name in extra:
            instance.__dict__[name] = row[name]
        instances.append(instance)
    return instances


async def _select(
    db: BaseDBAsyncClient,
    model: type[Model],
    sql: str,
    params: Sequence[Any],
    extra: Sequence[str] = (),
) -> list[Model]:
    _, rows = await db.execute_query(sql, list(params))
    return model_rows(model, rows, extra)


def reverse(order: Sequence[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
    """``order`` read the other way (each field's direction flipped): how a page before a
    cursor is read, backwards from it."""
    return tuple((field, not descending) for field, descending in order)


def keyset_after(order: Sequence[tuple[str, bool]], values: Sequence[Any]) -> Q:
    """The rows strictly after ``values`` in ``order`` (no OFFSET scan).

    Args:
        order: ``(field, descending)`` pairs, the last one unique (usually ``id``).
        values: the cursor row's values for those fields.

    The first field is also bounded on its own (``<=`` or ``>=`` the cursor's value): the
    alternatives alone are an ``OR`` no database seeks an index with, the bound lets it start
    its index walk at the cursor instead of at the first row (what an OFFSET would cost).

    Example:
        ``keyset_after([("last_activity_at", True), ("id", True)], [t, 42])`` is
        ``last_activity_at <= t AND (last_activity_at < t OR (last_activity_at = t AND id < 42))``.
    """
    alternatives = []
    for i, (field, descending) in enumerate(order):
        equal = {f: v for (f, _), v in zip(order[:i], values[:i], strict=True)}
        op = "lt" if descending else "gt"
        alternatives.append(Q(**equal, **{f"{field}__{op}": values[i]}))
    first_field, first_descending = order[0]
    bound = Q(**{f"{first_field}__{'lte' if first_descending else 'gte'}": values[0]})
    return bound & Q(*alternatives, join_type="OR")


def keyset_between(
    order: Sequence[tuple[str, bool]],
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
) -> Q | None:
    """The rows strictly after the cursor values ``after`` and strictly before ``before`` in
    ``order`` (either may be ``None``: unbounded on that side); ``None`` when both are.

    Example:
        ``keyset_between([("id", True)], [90], [40])`` is ``id < 90 AND id > 40`` (with the
        bounds of :func:`keyset_after` on each side).
    """
    conditions = []
    if after is not None:
        conditions.append(keyset_after(order, after))
    if before is not None:
        conditions.append(keyset_after(reverse(order), before))
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]


def ordering(order: Sequence[tuple[str, bool]]) -> list[str]:
    """``order`` as tortoise ``order_by`` arguments."""
    return [("-" if descending else "") + field for field, descending in order]


def keyset_query(
    query: QuerySet[Model],
    order: Sequence[tuple[str, bool]],
    size: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    *,
    backward: bool = False,
) -> QuerySet[Model]:
    """The query of one page of ``query`` in ``order``, by keyset (never an OFFSET), with one
    row more than ``size`` when more follow in the reading direction
    (:meth:`graph.relay.PageRequest.read` reads it, :meth:`graph.relay.Page.of` makes the page).

    Args:
        query: the list's rows.
        order: the list's ``(field, descending)`` pairs, the last one unique.
        size: rows of the page.
        after, before: cursor values bounding the rows (exclusive), or ``None``.
        backward: read the last ``size`` rows: ``ORDER BY`` reversed and ``LIMIT``, so the
            rows come back in reverse list order, nearest ``before`` (or the end) first.
    """
    condition = keyset_between(order, after, before)
    if condition is not None:
        query = query.filter(condition)
    return query.order_by(*ordering(reverse(order) if backward else order)).limit(size + 1)


def is_plain(query: QuerySet[Model]) -> bool:
    """Whether ``query`` is plain (filters, ordering, limit, offset): no ``.only()``,
    ``select_related``, ``prefetch_related``, annotations or ``select_for_update``, so that its
    rows are built from its own columns (:func:`plain_rows`, :func:`db.combined.query_part`)."""
    return not (
        query._fields_for_select
        or query._select_related
        or query._prefetch_map
        or query._annotations
        or query._select_for_update
    )


async def plain_rows(query: QuerySet[Model]) -> list[Model]:
    """The rows of ``query`` as ``await query`` returns them (model instances, in its order),
    read with the statement of :func:`statement` and built by :func:`model_rows`: a query
    with ``.only()``, ``select_related``, ``prefetch_related``, ``select_for_update`` or
    annotations goes to tortoise as it is."""
    if not is_plain(query):
        return await query
    sql, params = statement(query)
    return await _select(query._db, query.model, sql, params)


STATEMENTS_KEPT = 2048
"""Statements kept by :func:`statement` per process (the least recently used dropped first)."""

_STATEMENTS: OrderedDict[Any, tuple[str, tuple[Any, ...]]] = OrderedDict()


def statement(query: QuerySet[Model]) -> tuple[str, list[Any]]:
    """``query``'s SQL and parameters, as tortoise sends them (``get_parameterized_sql`` of
    the query ``_make_query`` builds), built through pypika once per distinct query.

    Tortoise builds a statement through pypika every time a query runs (for an inbox list, the
    viewer's scope and the keyset condition: about a tenth of a list of 25). A query whose
    every input is a plain value (:func:`_query_key`: its model, database dialect, filters
    with their values, annotations of raw SQL, ordering, limit, offset, distinct) has the same
    statement every time, so it is kept, keyed by all of them, and reused when the same query
    comes again (the same viewer's scope, inbox, status and page: a list refreshed, a timeline
    reopened, a benchmark); any other query is built as tortoise builds it.

    Returns:
        ``(sql, params)``: the statement text for ``query``'s database (``$1``... on
        PostgreSQL, ``?`` on SQLite) and a new list of its parameters.
    """
    query._choose_db_if_not_chosen()
    key = _query_key(query)
    if key is not None:
        found = _STATEMENTS.get(key)
        if found is not None:
            _STATEMENTS.move_to_end(key)
            return found[0], list(found[1])
    query._make_query()
    sql, params = _literal_limit(query, *query.query.get_parameterized_sql())
    if key is not None:
        _STATEMENTS[key] = (sql, tuple(params))
        if len(_STATEMENTS) > STATEMENTS_KEPT:
            _STATEMENTS.popitem(last=False)
    return sql, list(params)


_LAST_LIMIT = re.compile(r" LIMIT \$(\d+)$")


def _literal_limit(query: QuerySet[Model], sql: str, params: list[Any]) -> tuple[str, list[Any]]:
    """On PostgreSQL, ``sql`` with its ``LIMIT``, when that is the last parameter, written as
    a number (a page's size plus one: an ``int`` of ours, never a client's text). With the
    limit a parameter the planner estimates a generic plan for an unknown limit (a tenth of
    the rows), so it never prefers it and plans a page's statement again at every execution
    (0.4 ms of a list of 100 read with its relations, then a union of each read's rows);
    with the number, after five executions it keeps the generic plan, as it does for a
    statement without a limit."""
    limit = query._limit
    if type(limit) is not int or query._db.capabilities.dialect != "postgres":
        return sql, params
    found = _LAST_LIMIT.search(sql)
    if found is None or int(found.group(1)) != len(params) or params[-1] != limit:
        return sql, params
    return f"{sql[: found.start()]} LIMIT {limit:d}", params[:-1]


_KEYED_VALUES = frozenset({str, int, float, bool, datetime, date, time, timedelta, uuid.UUID})
"""Types of filter values a statement's key holds as they are (with their type: ``1`` and
``True`` are equal keys, not equal parameters; a ``datetime`` or ``time`` with its ``tzinfo``
and its ``fold``: the two 01:30 of a night a zone turns its clocks back are equal in Python,
not the same instant)."""


class _Unkeyed(Exception):
    """A query input :func:`_query_key` cannot tell apart by value (an expression, a
    subquery, a model instance): the query is built by tortoise every time."""


def _value_key(value: Any) -> Any:
    kind = value.__class__
    if value is None:
        return None
    if kind in _KEYED_VALUES:
        if kind is datetime or kind is time:
            return (kind, value, value.tzinfo, value.fold)
        return (kind, value)
    if isinstance(value, Enum) and kind.__hash__ is not None:
        return (kind, value)
    if kind is list or kind is tuple:
        return (kind, tuple(_value_key(item) for item in value))
    raise _Unkeyed


def _q_key(q: Q) -> Any:
    if q.__class__ is not Q:
        raise _Unkeyed
    return (
        q.join_type,
        q._is_negated,
        tuple((name, _value_key(value)) for name, value in q.filters.items()),
        tuple(_q_key(child) for child in q.children),
    )


def _query_key(query: QuerySet[Model]) -> Any:
    """Everything ``query``'s statement is built from, as a hashable key, or ``None`` when
    part of it is not a plain value (:class:`_Unkeyed`) or not covered here (custom filters,
    ``.only()``, related selections, prefetches, grouping, ``FOR UPDATE``, index hints)."""
    if (
        query.__class__.__name__ != "QuerySet"
        or query._fields_for_select
        or query._select_related
        or query._prefetch_map
        or query._select_for_update
        or query._custom_filters
        or query._filter_kwargs
        or query._group_bys
        or query._having
        or query._force_indexes
        or query._use_indexes
        or query._single
    ):
        return None
    try:
        annotations = []
        for name, value in query._annotations.items():
            if value.__class__ is not RawSQL or value.alias not in (None, name):
                return None
            annotations.append((name, value.sql))
        orderings = []
        for field, order in query._orderings:
            if field.__class__ is not str:
                return None
            orderings.append((field, order))
        key = (
            query.model,
            query._db.capabilities.dialect,
            tuple(_q_key(q) for q in query._q_objects),
            tuple(annotations),
            tuple(orderings),
            query._limit,
            query._offset,
            query._distinct,
        )
        hash(key)  # an enum of unhashable values, say
    except (_Unkeyed, TypeError):
        return None
    return key


def _order_sql(order: Sequence[tuple[str, bool]]) -> str:
    for field, _ in order:
        if not field.isidentifier():
            raise ValueError(f"not a column name: {field!r}")
    return ", ".join(f"{field} {'DESC' if descending else 'ASC'}" for field, descending in order)


async def first_per_group(
    query: QuerySet[Model], group: str, order: Sequence[tuple[str, bool]], limit: int
) -> list[Model]:
    """The first ``limit`` rows of ``query`` in ``order`` for each value of ``group``, in one
    statement (``ROW_NUMBER() OVER (PARTITION BY group ...)``, on SQLite and PostgreSQL): a
    page per parent for a DataLoader, without a query per parent nor reading whole groups.

    Args:
        query: the filtered rows (a keyset condition from :func:`keyset_after` included).
        group: the column to group by, e.g. ``"contact_id"``.
        order: ``(column, descending)`` pairs, the last one unique (usually ``id``).
        limit: rows per group (ask for one more than a page to know whether another follows).

    Returns:
        The rows, grouped by ``group`` and in ``order`` within each group.
    """
    if not group.isidentifier():
        raise ValueError(f"not a column name: {group!r}")
    window = f"ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {_order_sql(order)})"
    ranked = query.annotate(group_rank=RawSQL(window))
    sql, params = statement(ranked)
    first = (
        f"SELECT * FROM ({sql}) ranked WHERE ranked.group_rank <= {int(limit)} "
        f"ORDER BY {_order_sql([(group, False), *order])}"
    )
    return await _select(ranked._db, query.model, first, params, extra=["group_rank"])


def _marks(db: BaseDBAsyncClient, count: int) -> list[str]:
    if db.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count


async def select_rows(
    model: type[Model], sql: str, *params: Any, connection: BaseDBAsyncClient | None = None
) -> list[Model]:
    """Rows of ``model`` from a hand-written statement whose parameters are written ``{}``
    (``?`` on SQLite, ``$1``... on PostgreSQL), converted as tortoise reads them.

    For the few short statements every request runs (authentication): tortoise builds a
    statement through pypika in about half a millisecond, several times what running one of
    them costs. Everything else is written with tortoise's query builder.
    """
    db = connection or model._meta.db
    return await _select(db, model, sql.format(*_marks(db, len(params))), params)


async def select_values(
    model: type[Model], sql: str, *params: Any, connection: BaseDBAsyncClient | None = None
) -> list[dict[str, Any]]:
    """Rows as dicts from a hand-written statement on ``model``'s database, parameters as in
    :func:`select_rows` (for plain values: ids, no conversion)."""
    db = connection or model._meta.db
    return list(await db.execute_query_dict(sql.format(*_marks(db, len(params))), list(params)))


__all__ = [
    "MAX_KEY",
    "first_per_group",
    "keyset_after",
    "keyset_between",
    "keyset_query",
    "ordering",
    "plain_rows",
    "reverse",
    "select_rows",
    "select_values",
    "statement",
]

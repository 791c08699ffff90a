"""Query helpers shared by the domains: keyset pagination, and the first rows of each group
(a page per parent for DataLoaders)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, RawSQL
from tortoise.fields.data import CharEnumFieldInstance, DatetimeField, IntEnumFieldInstance
from tortoise.timezone import get_default_timezone, get_use_tz

MAX_KEY = 2**31 - 1
"""The largest primary key: they are 32-bit integers on every database."""

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model
    from tortoise.queryset import QuerySet


@functools.cache
def _builder(model: type[Model]) -> Callable[[Any], Model]:
    """A function making a ``model`` instance from a whole database row (every column, by
    name), equal to tortoise's own ``Model._init_from_db(**row)``: the same attributes, the
    same conversions (``tests/test_seed.py`` compares them for every model).

    Tortoise sets each attribute through ``object.__setattr__`` after building the keyword
    arguments; writing the instance's ``__dict__`` directly costs a third less for a page of
    100 rows, which every list reads three times (the rows, their contacts, their messages).
    Timestamps and enums are converted by :func:`_converter` (the same values, cheaper).
    """
    meta = model._meta
    native = [(key, name) for key, name, _ in meta.db_native_fields]
    plain = [(key, name, field.field_type) for key, name, field in meta.db_default_fields]
    converted = [(key, name, _converter(field)) for key, name, field in meta.db_complex_fields]
    custom_pk = meta.db_pk_column not in meta.generated_db_fields
    new = model.__new__

    def build(row: Any) -> Model:
        instance = new(model)
        values = instance.__dict__
        values["_partial"] = False
        values["_saved_in_db"] = True
        values["_custom_generated_pk"] = custom_pk
        values["_await_when_save"] = {}
        for key, name in native:
            values[name] = row[key]
        for key, name, kind in plain:
            value = row[key]
            values[name] = kind(value) if value is not None else None
        for key, name, convert in converted:
            values[name] = convert(row[key])
        return instance

    return build


def _converter(field: Any) -> Callable[[Any], Any]:
    """``field.to_python_value``, with a shortcut for the values asyncpg returns (issue 23: a
    list of 100 converts 1,200 timestamps): a ``datetime`` in ``datetime.UTC`` is converted as
    tortoise converts an aware one (``astimezone`` of its default time zone) without reading
    ``USE_TZ`` from the environment each time; an enum value by its enum's own value map (what
    ``Enum(value)`` returns). Anything else (SQLite's text, naive values, unknown enum values,
    ``use_tz`` off when the builder was made) goes to tortoise's conversion."""
    convert = field.to_python_value
    if isinstance(field, DatetimeField) and type(field).to_python_value is _DATETIME_CONVERSION:
        if not get_use_tz():
            return convert
        default_zone = get_default_timezone()

        def timestamp(value: Any) -> Any:
            if value.__class__ is datetime and value.tzinfo is UTC:
                return value.astimezone(default_zone)
            return convert(value)

        return timestamp
    if type(field).to_python_value in _ENUM_CONVERSIONS:
        members = field.enum_type._value2member_map_

        def member(value: Any) -> Any:
            found = members.get(value) if value.__class__ is str or value.__class__ is int else None
            return found if found is not None else convert(value)

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


def model_rows(model: type[Model], rows: Sequence[Any], extra: Sequence[str] = ()) -> list[Model]:
    """``model`` instances of whole database rows (``SELECT *``), each as tortoise reads it;
    ``extra`` columns (window ranks, say) are set as plain attributes too. A row lacking a
    column is read by tortoise itself (a partial instance)."""
    build = _builder(model)
    instances = []
    for row in rows:
        try:
            instance = build(row)
        except (KeyError, IndexError):
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


async def keyset_page(
    query: QuerySet[Model],
    order: Sequence[tuple[str, bool]],
    size: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    *,
    backward: bool = False,
) -> list[Model]:
    """One page of ``query`` in ``order``, by keyset (never an OFFSET), with one row more
    than ``size`` when more follow in the reading direction
    (:meth:`graph.relay.Page.of` makes the page).

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
    query = query.order_by(*ordering(reverse(order) if backward else order)).limit(size + 1)
    if (
        query._fields_for_select
        or query._select_related
        or query._prefetch_map
        or query._annotations
        or query._select_for_update
    ):
        rows = await query
    else:
        query._choose_db_if_not_chosen()
        query._make_query()
        sql, params = query.query.get_parameterized_sql()
        rows = await _select(query._db, query.model, sql, params)
    return rows


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
    ranked._choose_db_if_not_chosen()
    ranked._make_query()
    sql, params = ranked.query.get_parameterized_sql()
    statement = (
        f"SELECT * FROM ({sql}) ranked WHERE ranked.group_rank <= {int(limit)} "
        f"ORDER BY {_order_sql([(group, False), *order])}"
    )
    return await _select(ranked._db, query.model, statement, params, extra=["group_rank"])


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
    "keyset_page",
    "ordering",
    "reverse",
    "select_rows",
    "select_values",
]

"""Several reads of one screen in one statement (issue 23 item 1: fewer statements and round
trips per request).

A screen that reads one object's page of messages, its page of activities and the users they
name sent three statements, the last after the first two came back. :func:`read_combined`
sends them as one: each read is a *part* (a ``SELECT`` of one model's columns, written by hand
or built by tortoise for a query set, :func:`query_part`), named so that a later part may read
an earlier one's rows (the users of a page: ``id IN (SELECT author_id FROM messages)``); the
statement is ``WITH part AS (...), ... SELECT ... UNION ALL ...``, every part's rows carrying
its number and its own columns by position: on SQLite, whose columns take any type, in as many
columns as the widest part has; on PostgreSQL in columns of their type, as many of each type as
the part with the most of it has (:func:`combined_statement`). Each part's
rows are then built as :func:`db.queries.plain_rows` builds them (the same instances), in the
part's own order, ranked by the database (``ROW_NUMBER()``: a ``UNION ALL`` of ordered
subqueries keeps no order by itself, and Python would sort text by another collation).
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import cachetools

from db.queries import is_plain, model_rows, statement

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model
    from tortoise.queryset import QuerySet


ENABLED = True
"""Whether the screens read several kinds of rows in one statement (``INBOX_GRAPH_COMBINED_READS``,
set by :func:`graph.app.create_app`); off, each reads them as before, one statement per kind
(the same rows: ``tests/speed/test_screens.py`` compares the two)."""

_POSTGRES_MARK = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Part:
    """One read of :func:`read_combined`.

    Attributes:
        name: the part's name in the statement (an identifier): later parts may select from
            it (``SELECT author_id FROM messages``).
        model: the model its rows are (every column of the model selected by ``sql``); or
            ``None`` for plain values (counts...): ``values`` names them.
        sql: a ``SELECT`` of the model's columns (more are ignored) or of ``values``: written with ``{}`` for
            each parameter (``marks="{}"``), or in the database's own form (``$1``... on
            PostgreSQL, ``?`` on SQLite: ``marks="native"``, what tortoise builds). It may
            name earlier parts.
        params: its parameters, in order.
        order: ``(field, descending)`` pairs the rows come back in (the last one unique);
            empty: any order (a model's rows only).
        values: the columns of a part of plain values (``model`` ``None``) and their
            PostgreSQL types (``"INT"``...), each named apart from every model's columns,
            typed alike in every part naming it; read back as tuples in this order.
        make: what a part of values makes of each tuple (a named tuple, as its ``_make``
            builds it: a page's rows with their JSON, :func:`json_part`); ``None``: the tuple.
    """

    name: str
    model: type[Model] | None
    sql: str
    params: Sequence[Any] = ()
    order: Sequence[tuple[str, bool]] = ()
    marks: str = "{}"
    values: Mapping[str, str] = field(default_factory=dict)
    make: Callable[[Sequence[Any]], Any] | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"not a part name: {self.name!r}")
        if (self.model is None) == (not self.values):
            raise ValueError("a part has a model or values, not both")
        if not all(column.isidentifier() for column in self.values):
            raise ValueError(f"not column names: {self.values!r}")
        if self.marks not in ("{}", "native"):
            raise ValueError(f"marks: '{{}}' or 'native', not {self.marks!r}")


def query_part(name: str, query: QuerySet[Model], order: Sequence[tuple[str, bool]] = ()) -> Part:
    """``query`` (plain: filters, ordering, limit; no ``.only()``, relations or
    annotations) as a part: tortoise's own statement for it (:func:`db.queries.statement`)."""
    if not is_plain(query):
        raise ValueError("query_part takes plain queries only")
    sql, params = statement(query)
    return Part(name, query.model, sql, tuple(params), tuple(order), marks="native")


def _columns(model: type[Model]) -> dict[str, Any]:
    meta = model._meta
    return {meta.fields_db_projection[name]: meta.fields_map[name] for name in meta.db_fields}


def _own_columns(part: Part) -> set[str]:
    return set(part.values) if part.model is None else set(_columns(part.model))


def _wide_columns(parts: Sequence[Part]) -> dict[str, str]:
    """Every column of the parts once, in a fixed order, with its PostgreSQL type (a ``NULL``
    of the ``UNION`` is cast to it: PostgreSQL types a ``UNION`` pair by pair, and two
    untyped ``NULL`` make a text column). A column two models name must be of the same field
    class in both, and values must not take a model's column name."""
    found: dict[str, Any] = {}
    types: dict[str, str] = {}
    for part in parts:
        if part.model is not None:
            for column, field_ in _columns(part.model).items():
                known = found.setdefault(column, field_)
                if type(known) is not type(field_):
                    raise ValueError(f"column {column!r}: {type(known)} and {type(field_)}")
                types[column] = field_.get_for_dialect("postgres", "SQL_TYPE")
    for part in parts:
        for column, sql_type in part.values.items():
            if found.setdefault(column, None) is not None:
                raise ValueError(f"values {column!r} take a model's column name")
            if types.setdefault(column, sql_type) != sql_type:
                raise ValueError(f"values {column!r}: {types[column]} and {sql_type}")
    return {column: types[column] for column in sorted(found)}


def _local_sql(db: BaseDBAsyncClient, part: Part, offset: int) -> str:
    """``part``'s statement with its parameters numbered after ``offset`` earlier ones."""
    postgres = db.capabilities.dialect == "postgres"
    if part.marks == "{}":
        marks = [f"${offset + i}" if postgres else "?" for i in range(1, len(part.params) + 1)]
        return part.sql.format(*marks)
    if not postgres or offset == 0:
        return part.sql
    if "'" in part.sql:  # a literal could hold a "$n": renumbering would be unsafe
        raise ValueError("a native part with a string literal cannot be renumbered")
    return _POSTGRES_MARK.sub(lambda m: f"${int(m.group(1)) + offset}", part.sql)


def _order_sql(part: Part) -> str:
    if not part.order:
        return "0"
    projection = part.model._meta.fields_db_projection if part.model is not None else {}
    terms = []
    for name, descending in part.order:
        column = projection.get(name, name)
        if not column.isidentifier():
            raise ValueError(f"not a column name: {column!r}")
        terms.append(f'"{column}" {"DESC" if descending else "ASC"}')
    return f"ROW_NUMBER() OVER (ORDER BY {', '.join(terms)})"


STATEMENTS_KEPT = 1024
"""Combined statements kept per process (least recently used dropped first)."""

_STATEMENTS: cachetools.LRUCache[tuple[Any, ...], tuple[str, tuple[Layout, ...]]] = (
    cachetools.LRUCache(STATEMENTS_KEPT)
)

Layout = tuple[str, ...]
"""The names of a part's columns in its rows, in order (``""`` where it has none)."""


def _family(sql_type: str) -> str:
    """The PostgreSQL type a column of ``sql_type`` is read as in :func:`combined_statement`'s
    typed slots: ``TEXT`` for any text (``VARCHAR(n)``: a ``UNION`` of lengths), else its own."""
    return "TEXT" if sql_type == "TEXT" or sql_type.startswith("VARCHAR") else sql_type


def _part_types(part: Part) -> dict[str, str]:
    """``part``'s own columns and their PostgreSQL types, by name."""
    if part.model is None:
        return dict(part.values)
    return {
        column: field_.get_for_dialect("postgres", "SQL_TYPE")
        for column, field_ in _columns(part.model).items()
    }


def _typed_slots(parts: Sequence[Part]) -> list[str]:
    """The type of each column of a PostgreSQL combined statement after ``part_`` and
    ``row_``: for each type (:func:`_family`), as many columns as the part with the most of
    that type has, in a fixed order (:func:`_slotted` puts each part's columns there)."""
    most: dict[str, int] = {}
    for part in parts:
        counts: dict[str, int] = {}
        for sql_type in _part_types(part).values():
            family = _family(sql_type)
            counts[family] = counts.get(family, 0) + 1
        for family, count in counts.items():
            most[family] = max(most.get(family, 0), count)
    return [family for family in sorted(most) for _ in range(most[family])]


def _slotted(part: Part, slots: Sequence[str]) -> list[str | None]:
    """``part``'s column in each of ``slots`` (:func:`_typed_slots`), ``None`` where it has
    none: its columns of each type in the order of their names, in that type's slots."""
    waiting: dict[str, list[str]] = {}
    for column, sql_type in sorted(_part_types(part).items()):
        waiting.setdefault(_family(sql_type), []).append(column)
    found: list[str | None] = []
    for family in slots:
        left = waiting.get(family)
        found.append(left.pop(0) if left else None)
    return found


def combined_statement(db: BaseDBAsyncClient, parts: Sequence[Part]) -> tuple[str, list[Any]]:
    """The one statement reading ``parts`` (and its parameters): a ``WITH`` of every part,
    then a ``UNION ALL`` of each part's rows, its number in the first column ``part_`` and
    each row's rank in the part's ``order`` in the second, ``row_`` (ranked by the database:
    its collation orders text). Each part's own columns follow by position
    (:func:`read_combined` reads them so). On SQLite, whose columns take any type, in the
    order of their names, ``NULL`` after them up to the widest part's. On PostgreSQL, which
    types a ``UNION``'s columns, in typed slots (:func:`_typed_slots`): for each type, as many
    columns as the part with the most of that type has (any text is ``TEXT``), a ``NULL`` of
    the type where a part has fewer. A list of 100 with its contacts, messages and users, read
    this way before lists were read by :func:`read_joined`, was 315 rows of 50 columns on
    SQLite, 15,750 values for the database to make and the driver to convert (1.8 ms), then
    315 rows of 18 (1.3 ms); a timeline's conversation, contact, messages, activities and
    users are 26 columns a row on PostgreSQL, 52 when every part carried every model's
    columns by name (server CPU per request 0.88 against 0.91 ms). The text is
    built once per shape of the parts (their names, models, texts, orders, values and numbers
    of parameters) and kept."""
    sql, _ = _statement(db, parts)
    return sql, [value for part in parts for value in part.params]


def _statement(db: BaseDBAsyncClient, parts: Sequence[Part]) -> tuple[str, tuple[Layout, ...]]:
    """:func:`combined_statement`'s text, and the layout of each part's rows (the names of its
    columns by position, ``""`` where it has none)."""
    if not parts:
        raise ValueError("no parts")
    dialect = db.capabilities.dialect
    key = (
        dialect,
        *(
            (
                part.name,
                part.model,
                part.sql,
                part.marks,
                tuple(part.order),
                tuple(part.values.items()),
                len(part.params),
            )
            for part in parts
        ),
    )
    found = _STATEMENTS.get(key)
    if found is not None:
        return found
    if len({part.name for part in parts}) != len(parts):
        raise ValueError("part names must differ")
    wide = _wide_columns(parts)
    postgres = dialect == "postgres"
    width = max(len(_own_columns(part)) for part in parts)

    slots = _typed_slots(parts) if postgres else []
    ctes = []
    selects = []
    layouts: list[Layout] = []
    before = 0
    for number, part in enumerate(parts):
        ctes.append(f'"{part.name}" AS ({_local_sql(db, part, before)})')
        before += len(part.params)
        if postgres:
            slotted = _slotted(part, slots)
            # each column cast to its slot's type: a text of any length to TEXT, and a value
            # of a values part to the type it is declared of (SUM of a BIGINT is NUMERIC: left
            # as it is, it would turn its slot's model columns NUMERIC too)
            items = [
                f"CAST(NULL AS {family})" if column is None else f'CAST("{column}" AS {family})'
                for column, family in zip(slotted, slots, strict=True)
            ]
            mine = [column or "" for column in slotted]
        else:
            own = _own_columns(part)
            mine = [c for c in wide if c in own]
            items = [f'"{c}"' for c in mine] + ["NULL"] * (width - len(mine))
        if number == 0:  # the statement's column names: the first part's
            items = [f"{item} AS c{i}" for i, item in enumerate(items)]
        columns = ", ".join(items)
        layouts.append(("part_", "row_", *mine))
        selects.append(
            f'SELECT {number} AS part_, {_order_sql(part)} AS row_, {columns} FROM "{part.name}"'
        )
    found = _STATEMENTS[key] = (
        f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}",
        tuple(layouts),
    )
    return found


async def read_combined(parts: Sequence[Part], db: BaseDBAsyncClient | None = None) -> list[Any]:
    """Every part's rows, read in one statement on ``db`` (the first model's database by
    default): for each part in turn, the instances of its model (as
    :func:`db.queries.plain_rows` builds them) or its values as tuples, in its ``order``.

    Raises:
        ValueError: parts with the same name, a column two models type differently.
    """
    if db is None:
        db = next(part.model for part in parts if part.model is not None)._meta.db
    sql, layouts = _statement(db, parts)
    params = [value for part in parts for value in part.params]
    _, rows = await db.execute_query(sql, params)
    by_part: list[list[Any]] = [[] for _ in parts]
    for row in rows:
        by_part[row[0]].append(row)
    found: list[Any] = []
    for part, part_rows, layout in zip(parts, by_part, layouts, strict=True):
        if part.order:
            part_rows.sort(key=_rank)
        if part.model is not None:
            found.append(model_rows(part.model, part_rows, layout=layout))
        else:
            positions = [layout.index(column) for column in part.values]
            if len(positions) > 1:  # each row's values picked in C (a timeline's 50 rows)
                values = list(map(itemgetter(*positions), part_rows))
            else:  # itemgetter of one position gives the value, not a tuple; of none, fails
                values = [tuple(row[i] for i in positions) for row in part_rows]
            found.append(values if part.make is None else list(map(part.make, values)))
    return found


_rank = itemgetter(1)
"""A combined row's rank in its part (its second column, ``row_``)."""


@dataclass(frozen=True)
class Join:
    """Rows :func:`read_joined` reads with a page: those of ``model`` whose primary key the
    column ``column`` (a column name) of an earlier segment holds (``parent``: 0 the page, ``k``
    the rows of the ``k``-th join)."""

    parent: int
    column: str
    model: type[Model]


JOINED_KEPT = 256
"""Joined statements kept per process (least recently used dropped first)."""

_JOINED: cachetools.LRUCache[
    tuple[Any, ...], tuple[str, tuple[tuple[str, ...], ...], tuple[int, ...]]
] = cachetools.LRUCache(JOINED_KEPT)


def _joined_statement(
    page_sql: str,
    model: type[Model],
    order: Sequence[tuple[str, bool]],
    joins: Sequence[Join],
    unread: tuple[frozenset[str], ...],
) -> tuple[str, tuple[tuple[str, ...], ...], tuple[int, ...]]:
    """:func:`read_joined`'s statement, the layout of each segment's columns in its rows (the
    names of its own, ``""`` elsewhere) and the position of each segment's primary key;
    ``unread``: each segment's columns left out."""
    key = (page_sql, model, tuple(order), tuple(joins), unread)
    found = _JOINED.get(key)
    if found is not None:
        return found
    if not order:
        raise ValueError("a joined read is ordered: its page's order, the last term unique")
    segments = [model, *(join.model for join in joins)]
    for segment, left in zip(segments, unread, strict=True):
        if segment._meta.db_pk_column in left:
            raise ValueError(f"the primary key of {segment.__name__} is always read")
    own = [
        sorted(segment._meta.db_fields - left)
        for segment, left in zip(segments, unread, strict=True)
    ]
    width = sum(map(len, own))
    select: list[str] = []
    layouts: list[tuple[str, ...]] = []
    keys: list[int] = []
    for index, names in enumerate(own):
        before = len(select)
        select.extend(f's{index}."{name}"' for name in names)
        layouts.append(("",) * before + tuple(names) + ("",) * (width - before - len(names)))
        keys.append(before + names.index(segments[index]._meta.db_pk_column))
    sql = (
        f"SELECT {', '.join(select)} FROM ({page_sql}) s0 {_joined(joins)} "
        f"ORDER BY {_ordered(model, order)[1]}"
    )
    found = _JOINED[key] = (
        sql,
        tuple(layouts),
        tuple(keys),
    )
    return found


def _joined(joins: Sequence[Join], within: str | None = None) -> str:
    """The ``LEFT JOIN`` of each of ``joins`` (``s1``, ``s2``...) to the segment it names, by
    primary key; ``within``: a column of the page's row ``s0`` each joined row must equal in
    its own column of that name (``workspace_id``), else it is none.

    Raises:
        ValueError: a join of a later segment, a column that is not a name.
    """
    joined = []
    for number, join in enumerate(joins, start=1):
        if not 0 <= join.parent < number or not join.column.isidentifier():
            raise ValueError(f"not a join of an earlier segment's column: {join!r}")
        meta = join.model._meta
        clause = (
            f'LEFT JOIN "{meta.db_table}" s{number} '
            f'ON s{number}."{meta.db_pk_column}" = s{join.parent}."{join.column}"'
        )
        if within is not None:
            clause += f' AND s{number}."{within}" = s0."{within}"'
        joined.append(clause)
    return " ".join(joined)


def _ordered(model: type[Model], order: Sequence[tuple[str, bool]]) -> tuple[list[str], str]:
    """The page row ``s0``'s columns of ``order`` (``(field, descending)`` pairs), and its
    ``ORDER BY`` terms.

    Raises:
        ValueError: a column that is not a name.
    """
    projection = model._meta.fields_db_projection
    columns = []
    for name, _ in order:
        column = projection.get(name, name)
        if not column.isidentifier():
            raise ValueError(f"not a column name: {column!r}")
        columns.append(f's0."{column}"')
    terms = ", ".join(
        f"{column} {'DESC' if descending else 'ASC'}"
        for column, (_, descending) in zip(columns, order, strict=True)
    )
    return columns, terms


async def read_joined(
    query: QuerySet[Model],
    order: Sequence[tuple[str, bool]],
    joins: Sequence[Join],
    unread: Mapping[type[Model], frozenset[str]] | None = None,
) -> list[list[Any]]:
    """The rows of the plain ``query`` (its page, in ``order``: ``(field, descending)`` pairs,
    the last one unique) and, for each of ``joins``, the distinct rows it names (in the order
    first named), in one statement: the page ``LEFT JOIN`` each join's table by primary key,
    ordered by ``order``. Built as :func:`db.queries.plain_rows` builds them.

    ``unread``: per model, columns a lean read leaves out (:mod:`graph.schema.lean`: none
    that the request's fields read); its rows hold ``None`` there and are partial.

    A list's page with the rows it names (its contacts and last messages, the users those
    name) in less time than :func:`read_combined` reads them: no part materialized, scanned
    again and ranked by a window (SQLite, list of 25: 0.23 against 0.35 ms, of 100: 0.99
    against 1.16); on PostgreSQL no union for the driver to decode (a list of 100: 3.7
    against 4.0 ms of server CPU, p50 5.3 against 6.0 ms, when :func:`read_combined` carried
    every model's columns by name). Every named row comes once per page row naming it.

    Raises:
        ValueError: a join of a later segment, a column that is not a name, an unread
            primary key, no ``order``.
    """
    if not is_plain(query):
        raise ValueError("read_joined takes plain queries only")
    page_sql, params = statement(query)
    models = [query.model, *(join.model for join in joins)]
    left = tuple((unread or {}).get(model, frozenset()) for model in models)
    sql, layouts, keys = _joined_statement(page_sql, query.model, order, joins, left)
    _, rows = await query._db.execute_query(sql, params)
    found = [model_rows(query.model, rows, layout=layouts[0], unread=left[0])]
    for number, join in enumerate(joins, start=1):
        position = keys[number]
        named: dict[Any, Any] = {}
        for row in rows:
            key = row[position]
            if key is not None and key not in named:
                named[key] = row
        found.append(
            model_rows(
                join.model, list(named.values()), layout=layouts[number], unread=left[number]
            )
        )
    return found


_JSON: cachetools.LRUCache[tuple[Any, ...], tuple[str, type]] = cachetools.LRUCache(JOINED_KEPT)


def _json_statement(
    page_sql: str,
    model: type[Model],
    order: Sequence[tuple[str, bool]],
    joins: Sequence[Join],
    node: str,
    objects: str,
) -> tuple[str, type]:
    """:func:`read_json`'s statement and the class of its rows."""
    key = (page_sql, model, tuple(order), tuple(joins), node, objects)
    found = _JSON.get(key)
    if found is not None:
        return found
    if not order:
        raise ValueError("a page read with its JSON is ordered: the last term unique")
    columns, terms = _ordered(model, order)
    # a row of another workspace is none (as the request's loaders find none)
    joined = _joined(joins, within="workspace_id")
    sql = (
        f"SELECT {', '.join(columns)}, {node}, {objects} FROM ({page_sql}) s0 {joined} "
        f"ORDER BY {terms}"
    )
    found = _JSON[key] = (sql, _json_row(model, tuple(name for name, _ in order)))
    return found


_ROWS: dict[tuple[Any, ...], type] = {}


def _json_row(model: type[Model], names: tuple[str, ...]) -> type:
    """The class of the rows of ``model``'s pages read with their JSON: a named tuple of the
    order's ``names`` (what a cursor encodes), ``node`` and ``objects``."""
    found = _ROWS.get((model, names))
    if found is None:
        # its fields the order's names (a name that is no identifier: ValueError)
        found = namedtuple(f"{model.__name__}Json", [*names, "node", "objects"])
        found.__row_json__ = True  # type: ignore[attr-defined]
        _ROWS[model, names] = found
    return found


def json_part(
    name: str,
    query: QuerySet[Model],
    order: Sequence[tuple[str, bool]],
    joins: Sequence[Join],
    node: str,
    objects: str,
) -> Part:
    """The page of the plain ``query`` as :func:`read_json` reads it, as a part of
    :func:`read_combined` (read with a screen's other reads): its rows are :func:`read_json`'s
    (``order``'s values, ``node``, ``objects``), in ``order``; a row whose ``node`` is ``NULL``
    says that Python must build the page, as there. PostgreSQL only.

    Raises:
        ValueError: a query that is not plain or holds a literal, a join of a later segment,
            a column that is not a name, no ``order``.
    """
    if not is_plain(query):
        raise ValueError("json_part takes plain queries only")
    if not order:
        raise ValueError("a page read with its JSON is ordered: the last term unique")
    page_sql, params = statement(query)
    if any(mark in page_sql for mark in "'{}"):
        raise ValueError("a page holding a literal or a brace cannot be a part")
    model = query.model
    columns, _ = _ordered(model, order)
    values = {
        f"{name}_o{i}": model._meta.fields_map[field_name].get_for_dialect("postgres", "SQL_TYPE")
        for i, (field_name, _) in enumerate(order)
    }
    values[f"{name}_node"] = "TEXT"
    values[f"{name}_objects"] = "INT"
    named = [f'{column} AS "{value}"' for column, value in zip(columns, values, strict=False)]
    # parameters as the part's {} marks (by position); the expressions' braces doubled
    page = _POSTGRES_MARK.sub(lambda mark: f"{{{int(mark.group(1)) - 1}}}", page_sql)
    node, objects = (text.replace("{", "{{").replace("}", "}}") for text in (node, objects))
    sql = (
        f'SELECT {", ".join(named)}, ({node}) AS "{name}_node", ({objects}) AS "{name}_objects" '
        f"FROM ({page}) s0 {_joined(joins, within='workspace_id')}"
    )
    ordered = tuple((f"{name}_o{i}", descending) for i, (_, descending) in enumerate(order))
    row = _json_row(model, tuple(field_name for field_name, _ in order))
    # namedtuple's _make without its Python frame: each row built in C (its values are the
    # part's, in number)
    make = partial(tuple.__new__, row)
    return Part(name, None, sql, tuple(params), ordered, values=values, make=make)


async def read_json(
    query: QuerySet[Model],
    order: Sequence[tuple[str, bool]],
    joins: Sequence[Join],
    node: str,
    objects: str = "0",
) -> list[Any] | None:
    """The page of the plain ``query`` (in ``order``: ``(field, descending)`` pairs, the last one
    unique) as PostgreSQL serialises it: per row, its ``order`` values (the row's attributes of
    those names: what its cursor encodes), ``node``, the JSON text of the expression
    ``node`` over the page's row ``s0`` and the rows of ``joins`` (``s1``, ``s2``...: each
    ``LEFT JOIN``ed by primary key, within the page row's workspace), and ``objects``, the
    value of the expression ``objects`` over the same rows (the objects inside the node the
    actual cost counts: :mod:`graph.schema.row_json`). One statement, as :func:`read_joined`'s.

    ``None`` when a row's ``node`` is ``NULL`` (the expression's way of saying that Python must
    build that row: a value its field cannot take, a missing row a field needs), or on a
    database other than PostgreSQL: the caller reads the page as it would without JSON.

    Raises:
        ValueError: a join of a later segment, a column that is not a name, no ``order``.
    """
    if not is_plain(query):
        raise ValueError("read_json takes plain queries only")
    query._choose_db_if_not_chosen()
    if query._db.capabilities.dialect != "postgres":
        return None
    page_sql, params = statement(query)
    sql, row = _json_statement(page_sql, query.model, order, joins, node, objects)
    _, rows = await query._db.execute_query(sql, params)
    found = list(map(partial(tuple.__new__, row), rows))  # as _make does, in C
    for values in found:
        if values.node is None:
            return None
    return found


def is_json_row(row: Any) -> bool:
    """Whether ``row`` is a row of :func:`read_json`."""
    return getattr(type(row), "__row_json__", False)


__all__ = [
    "Join",
    "Part",
    "combined_statement",
    "is_json_row",
    "json_part",
    "query_part",
    "read_combined",
    "read_joined",
    "read_json",
]

"""A list's nodes as JSON built by PostgreSQL (issue 23 item 1).

An inbox list of 100 built 100 conversations, 100 contacts, 100 last messages and their
users as Python rows, put them in the request's loaders, and completed about 400 objects and
1,100 fields through a selection plan: about 17 µs a row, half of a list's time in our one
process. PostGraphile has its database write each row's JSON.

Here, when every field an inbox list's ``edges { node { ... } }`` selects can be written by
the database, its statement writes each node's JSON text (:func:`db.combined.read_json`) and
the response takes it as it is (a :class:`graph.schema.plan.WrittenJson`, which a selection
plan keeps as the field's value and the response's encoder writes as it is). What can be written:

- ``__typename``;
- a plain field of a type made from its row (:func:`graph.schema.rows.from_row`) that is a
  column of its model: a text (``String``, ``ID``), a ``Boolean``, an ``Int`` (within 32 bits),
  a ``DateTime`` (as ``datetime.isoformat`` writes a UTC instant) or an enum (its GraphQL
  name); its ``id`` (the global id of :func:`graph.relay.to_global_id`); and the computed
  fields of :data:`SQL_COMPUTED` (a contact's ``name``:
  :func:`graph.resolvers.contact.display_name_sql`);
- a relation declared by :func:`graph.loaders.row_relation` to such a type (a conversation's
  ``contact`` and ``lastMessage``, a contact's ``assignee``): its row joined by primary key
  within the workspace, as the request's loaders find it.

Anything else in the node's selection (another field, arguments, a directive, a duplicated
relation, a fragment whose type does not apply, which the actual cost's walk counts all the
same, more than :data:`MAX_JOINS` relations, a connection's ``nodes``), plans off
(graphql-core would not take the JSON), combined reads off (``INBOX_GRAPH_COMBINED_READS=0``: this is one of them), an
operation over a WebSocket (whose context is its connection's, where the actual cost's count
below could not be told apart), or a database other than PostgreSQL: the list is read and
completed as before.

The actual cost walks the response, and cannot see inside JSON written already: each row
also says how many of its joined rows were found (the objects inside its node, each costing a
point), which the request's context adds up for ``CostBudget`` (``Context.written_objects``).
A row whose JSON the database cannot write as Python would answer it (a null where the schema says non-null, a
value its type refuses) makes the whole expression ``NULL``, and the page is read again as
before, which reports it as it always did.

The same bytes as the Python path: ``tests/speed/test_row_json.py`` compares both over the
bench's lists and the visibility matrix's users, and each kind of value over its edge cases
(escapes, microseconds, empty names). ``INBOX_GRAPH_ROW_JSON=0`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    get_named_type,
)
from graphql.execution.collect_fields import does_fragment_condition_match
from strawberry.schema.schema_converter import GraphQLCoreConverter
from tortoise import fields as tortoise_fields

from db import combined
from graph.kept import KeptByIdentity
from graph.loaders import _MODELS
from graph.resolvers.contact import display_name_sql
from graph.schema.direct import PLAIN_LEAF
from graph.schema.plan import PlannedExecution, WrittenJson, _members, _row_relation
from graph.schema.rows import COMPUTED, SOURCE_READS

if TYPE_CHECKING:
    from strawberry.types import Info
    from tortoise.models import Model
    from tortoise.queryset import QuerySet

ENABLED = True
"""Whether inbox lists have PostgreSQL write their nodes' JSON (``INBOX_GRAPH_ROW_JSON``, set by
:func:`graph.app.create_app`); off, every node is completed in Python (the same JSON)."""

MAX_JOINS = 8
"""Relations a list's nodes may join at most (the bench's list joins three): beyond, the
database's planning time grows with the square of the joins (510 joins, about 1.4 s), and
the list is completed in Python."""

SQL_COMPUTED: dict[tuple[str, str], Callable[[str], str]] = {
    ("Contact", "name"): display_name_sql,
}
"""``(GraphQL type, Python name)`` of a computed plain field (``from_row(name=...)``) -> its
expression of text over a row alias: the rule written for the database, beside the Python
function it answers as."""

_TEXT = (tortoise_fields.CharField, tortoise_fields.TextField)
_INT = (tortoise_fields.IntField, tortoise_fields.SmallIntField, tortoise_fields.BigIntField)


@dataclass(frozen=True)
class NodeJson:
    """How the database writes the JSON of a list's nodes: ``expression`` over the page's row
    ``s0`` and the rows of ``joins`` (``s1``...)."""

    expression: str
    joins: tuple[combined.Join, ...]

    async def read(self, query: QuerySet[Model], order: Any) -> list[Any] | None:
        """The page's rows with their node's JSON (:func:`db.combined.read_json`), or ``None``:
        read it as before."""
        return await combined.read_json(query, order, self.joins, self.expression)


class _Refused(Exception):
    """Something of the selection the database does not write."""


_FOUND: KeptByIdentity[NodeJson | None] = KeptByIdentity(256)


def node_json(info: Info, model: type[Model]) -> NodeJson | None:
    """How the database writes the nodes of the connection ``info``'s field returns, whose rows
    are ``model``'s; ``None`` when it cannot (the module docstring). Found once per parsed
    operation and field."""
    if not (ENABLED and combined.ENABLED):
        return None  # a joined read: off with the others (INBOX_GRAPH_COMBINED_READS=0)
    if getattr(info.context.request, "scope", {}).get("type") != "http":
        return None  # over a WebSocket, a context is its connection's: not one operation's
    raw = info._raw_info
    execution = info.schema.execution_context_class
    if execution is None or not issubclass(execution, PlannedExecution):
        return None

    def found() -> NodeJson | None:
        try:
            return _compile(raw, model)
        except _Refused:
            return None

    return _FOUND.get((raw.operation, *raw.field_nodes), found)


def written(row: Any) -> WrittenJson:
    """The node of a row of :func:`db.combined.read_json`: its JSON as it is."""
    return WrittenJson(row.node)


def node_builder(info: Info, rows: list[Any], build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """What makes a node of each of a page's ``rows``: for rows with their JSON,
    :func:`written`, else ``build`` (the type's ``from_row``). The objects inside their JSON
    are counted for the actual cost (``Context.written_objects``: its walk of the response does not see
    into JSON written already)."""
    if not rows or not combined.is_json_row(rows[0]):
        return build
    info.context.written_objects += sum(row.objects for row in rows)
    return written


class _Compiler:
    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.joins: list[combined.Join] = []

    def collect(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> dict[str, list]:
        """The fields of ``nodes``' selections on ``object_type``, by response key, in order
        (fragments spread); refused: any directive, a fragment whose type does not apply."""
        grouped: dict[str, list[FieldNode]] = {}
        for node in nodes:
            if node.directives or node.selection_set is None:
                raise _Refused
            self._walk(node.selection_set, object_type, grouped)
        return grouped

    def _walk(self, selection_set: Any, object_type: GraphQLObjectType, grouped: dict) -> None:
        # a method, not a recursive closure (whose cell would keep the resolve info it read)
        for selection in selection_set.selections:
            if selection.directives:
                raise _Refused
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.raw.fragments.get(selection.name.value)
                if fragment is None or fragment.directives:
                    raise _Refused
            elif isinstance(selection, InlineFragmentNode):
                fragment = selection
            else:
                raise _Refused
            if not does_fragment_condition_match(self.raw.schema, fragment, object_type):
                raise _Refused  # graph.cost counts what it selects all the same
            self._walk(fragment.selection_set, object_type, grouped)

    def object(
        self, object_type: GraphQLObjectType, model: type[Model], nodes: list, alias: str
    ) -> str:
        """The JSON text of ``object_type``'s selection in ``nodes``, of the row ``alias``."""
        definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        reads = getattr(getattr(definition, "origin", None), SOURCE_READS, None)
        if reads is None:
            raise _Refused
        parts = []
        for key, found in self.collect(object_type, nodes).items():
            name = found[0].name.value
            if any(n.name.value != name or n.arguments for n in found):
                raise _Refused
            head = orjson.dumps(key).decode() + ":"
            if name == "__typename":
                if any(n.selection_set for n in found):
                    raise _Refused
                parts.append((head + orjson.dumps(object_type.name).decode(), None))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                raise _Refused
            field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            relation = _row_relation(field_def)
            if (
                PLAIN_LEAF in (field_def.extensions or {})
                and field is not None
                and field.base_resolver is None
                and field.python_name in reads
            ):
                if any(n.selection_set is not None for n in found):
                    raise _Refused
                parts.append((head, self.leaf(object_type, field, field_def, model, alias)))
            elif relation is not None and relation.loader in _MODELS and len(found) == 1:
                # selected twice, a relation would cost twice (graph.cost): not counted here
                target = field_def.type
                nullable = not isinstance(target, GraphQLNonNull)
                target = target if nullable else target.of_type
                if not isinstance(target, GraphQLObjectType):
                    raise _Refused  # a list, a union, an interface
                if relation.key not in model._meta.fields_db_projection:
                    raise _Refused
                related = _MODELS[relation.loader]
                if len(self.joins) == MAX_JOINS:
                    raise _Refused
                self.joins.append(
                    combined.Join(
                        int(alias[1:]), model._meta.fields_db_projection[relation.key], related
                    )
                )
                joined = f"s{len(self.joins)}"
                inner = self.object(target, related, found, joined)
                present = f'{joined}."{related._meta.db_pk_column}" IS NOT NULL'
                if nullable:
                    parts.append((head, f"CASE WHEN {present} THEN {inner} ELSE 'null' END"))
                else:  # missing: NULL, and the page is read as before (its error reported)
                    parts.append((head, f"CASE WHEN {present} THEN {inner} END"))
            else:
                raise _Refused
        if not parts:
            raise _Refused
        pieces: list[str] = []
        text = "{"
        for number, (head, expression) in enumerate(parts):
            text += ("," if number else "") + head
            if expression is not None:
                pieces.append(_literal(text))
                pieces.append(f"({expression})")
                text = ""
        pieces.append(_literal(text + "}"))
        return " || ".join(pieces)

    def leaf(
        self, object_type: GraphQLObjectType, field: Any, field_def: Any, model: Any, alias: str
    ) -> str:
        """The JSON text of a plain field of the row ``alias``; ``NULL`` when Python would
        not answer it as a value (a null of a non-null field, a value its type refuses)."""
        name = field.python_name
        leaf = get_named_type(field_def.type)
        nullable = not isinstance(field_def.type, GraphQLNonNull)
        definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if name in getattr(definition.origin, COMPUTED, ()):
            computed = SQL_COMPUTED.get((object_type.name, name))
            if computed is None or leaf.name != "String":
                raise _Refused
            return f"to_json({computed(alias)})::text"
        if name == "id":  # from_row's: the global id of the type's name and the row's key
            if leaf.name != "ID":
                raise _Refused
            column = f'{alias}."{model._meta.db_pk_column}"'
            prefix = _literal(f"{object_type.name}:")
            # URL-safe base64 without padding; encode() breaks lines every 76 characters
            return (
                f"'\"' || rtrim(translate(encode(convert_to({prefix} || {column}, 'UTF8'), "
                f"'base64'), '+/' || chr(10), '-_'), '=') || '\"'"
            )
        model_field = model._meta.fields_map.get(name)
        column_name = model._meta.fields_db_projection.get(name)
        if model_field is None or column_name is None:
            raise _Refused
        column = f'{alias}."{column_name}"'
        if isinstance(leaf, GraphQLEnumType):
            members = _members(leaf)  # {member: its GraphQL name}, as a plan serialises it
            if (
                members is None
                or not isinstance(model_field, tortoise_fields.data.CharEnumFieldInstance)
                or model_field.enum_type is not members[0]
            ):
                raise _Refused
            cases = []
            for member, serialized in members[1].items():
                if not isinstance(member.value, str) or not isinstance(serialized, str):
                    raise _Refused
                written = _literal(orjson.dumps(serialized).decode())
                cases.append(f"WHEN {_literal(member.value)} THEN {written}")
            expression = f"CASE {column} {' '.join(cases)} END"
        elif leaf.name in ("String", "ID") and isinstance(model_field, _TEXT):
            if isinstance(model_field, tortoise_fields.data.CharEnumFieldInstance):
                raise _Refused
            expression = f"to_json({column})::text"
        elif leaf.name == "Boolean" and isinstance(model_field, tortoise_fields.BooleanField):
            expression = f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
        elif leaf.name == "Int" and isinstance(model_field, _INT):
            expression = (
                f"CASE WHEN {column} BETWEEN -2147483648 AND 2147483647 THEN {column}::text END"
            )
        elif leaf.name == "DateTime" and isinstance(model_field, tortoise_fields.DatetimeField):
            # datetime.isoformat() of a UTC instant: microseconds only when not zero; an
            # instant Python's datetime cannot hold (before year 1, after 9999): NULL
            utc = f"({column} AT TIME ZONE 'UTC')"
            expression = (
                f"CASE WHEN {utc} >= '0001-01-01' AND {utc} < '10000-01-01' THEN "
                f"'\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
                f"CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
                f"ELSE to_char({utc}, '.US') END || '+00:00\"' END"
            )
        else:
            raise _Refused
        if nullable:
            return f"CASE WHEN {column} IS NULL THEN 'null' ELSE {expression} END"
        return expression


def _literal(text: str) -> str:
    """``text`` as a PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _compile(raw: Any, model: type[Model]) -> NodeJson:
    """:func:`node_json` of a connection field's resolve info ``raw``; raises :class:`_Refused`."""
    compiler = _Compiler(raw)
    connection = get_named_type(raw.return_type)
    if not isinstance(connection, GraphQLObjectType):
        raise _Refused
    fields = compiler.collect(connection, list(raw.field_nodes))
    edges = [key for key, found in fields.items() if found[0].name.value == "edges"]
    if (
        len(edges) != 1
        or len(fields[edges[0]]) != 1
        or any(found[0].name.value == "nodes" for found in fields.values())
    ):
        raise _Refused  # selected twice, the objects inside would cost twice (graph.cost)
    edge_type = get_named_type(connection.fields["edges"].type)
    edge_fields = compiler.collect(edge_type, fields[edges[0]])
    node = [key for key, found in edge_fields.items() if found[0].name.value == "node"]
    if len(node) != 1 or len(edge_fields[node[0]]) != 1:
        raise _Refused
    node_type = get_named_type(edge_type.fields["node"].type)
    if not isinstance(node_type, GraphQLObjectType):
        raise _Refused
    expression = compiler.object(node_type, model, edge_fields[node[0]], "s0")
    return NodeJson(expression, tuple(compiler.joins))


__all__ = [
    "ENABLED",
    "MAX_JOINS",
    "SQL_COMPUTED",
    "NodeJson",
    "node_builder",
    "node_json",
    "written",
]

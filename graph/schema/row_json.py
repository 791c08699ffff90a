"""Pages' nodes as JSON built by PostgreSQL (issue 23 item 1).

An inbox list of 100 built 100 conversations, 100 contacts, 100 last messages and their
users as Python rows, put them in the request's loaders, and completed about 400 objects and
1,100 fields through a selection plan: about 17 µs a row, half of a list's time in our one
process. PostGraphile has its database write each row's JSON.

Here, when every field a page's ``edges { node { ... } }`` selects can be written by the
database, its statement writes each node's JSON text and the response takes it as it is (a
:class:`graph.written.WrittenJson`, which a selection plan keeps as the field's value and
the response's encoder writes as it is). The pages: an inbox list's (:func:`node_json`, its one
statement :func:`db.combined.read_json`), a conversation's timeline and a contact panel's
activities (:func:`page_json`, each page a part of the screen's one statement,
:func:`db.combined.json_part`, through :func:`graph.resolvers.pages.pages_of`). A union's
nodes (the timeline's ``TimelineItem``) get an expression per member, over its own model's
page. What can be written:

- ``__typename``;
- a plain field of a type made from its row (:func:`graph.schema.rows.from_row`) that is a
  column of its model: a text (``String``, ``ID``), a ``Boolean``, an ``Int`` (within 32 bits),
  a ``DateTime`` (as ``datetime.isoformat`` writes a UTC instant) or an enum (its GraphQL
  name); its ``id`` (the global id of :func:`graph.relay.to_global_id`); and the computed
  fields of :data:`SQL_COMPUTED` (a contact's ``name``:
  :func:`graph.resolvers.contact.display_name_sql`);
- a relation declared by :func:`graph.loaders.row_relation` to such a type (a conversation's
  ``contact`` and ``lastMessage``, a contact's ``assignee``, an item's ``author``): its row
  joined by primary key within the workspace, as the request's loaders find it.

Fragments whose type does not apply add nothing (as graphql-core completes them). Anything
else in the node's selection (another field, arguments, a directive, more than
:data:`MAX_JOINS` relations per model, a connection's ``nodes``, a key the actual cost's walk
would count as an object where this type has a leaf), plans off (graphql-core would not take
the JSON), combined reads off (``INBOX_GRAPH_COMBINED_READS=0``: this is one of them), an
operation over a WebSocket (whose context is its connection's, where the actual cost's count
below could not be told apart), the pages of several parents at once (a list's timelines), or
a database other than PostgreSQL: the page is read and completed as before.

The page's edges are written around their nodes too, when an edge selects nothing but its
``cursor``, its ``node`` and ``__typename`` (:class:`EdgeJson`): the whole ``edges`` list is
one text, its cursors (:func:`graph.relay.encode_cursor`) and its nodes' JSON put into each
edge's template, so that Python makes, completes and encodes no edge (a timeline of 50: 6 % of
its time, bench/README).

The actual cost walks the response, and cannot see inside JSON written already: each row also
says what that walk would count inside its node (:func:`_counted`: the walk's own steps,
:func:`graph.cost.counted_below`, over what the node holds, as an SQL expression: a relation
selected twice counts twice, a fragment of another type nothing), which the node carries
(:class:`graph.written.WrittenJson`) and the walk adds where it meets it: a node the response
dropped (a null propagated over it) counts nothing, as in Python. A row whose JSON the database cannot
write as Python would answer it (a null where the schema says non-null, a value its type
refuses) makes the whole expression ``NULL``, and the page is read again as before, which
reports it as it always did.

The same bytes and the same actual cost as the Python path: ``tests/speed/test_row_json.py``
compares both over the bench's lists, timelines and panels, the screens' shapes and the
visibility matrix's users, and each kind of value over its edge cases (escapes, microseconds,
empty names). ``INBOX_GRAPH_ROW_JSON=0`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationType,
    get_named_type,
)
from graphql.execution.collect_fields import does_fragment_condition_match
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info as StrawberryInfo
from tortoise import fields as tortoise_fields

from db import combined
from graph.cost import Counted, counted_below
from graph.kept import KeptByIdentity
from graph.loaders import _MODELS
from graph.resolvers.contact import display_name_sql
from graph.schema.direct import PLAIN_LEAF
from graph.schema.plan import PlannedExecution, _members, _row_relation
from graph.schema.rows import COMPUTED, SOURCE_READS
from graph.written import WrittenJson

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
class EdgeJson:
    """How a page's edges are written around their nodes' JSON, when the database wrote the
    nodes and the edge selects nothing but its ``cursor``, its ``node`` and ``__typename``
    (aliased or not, in any order): the whole ``edges`` list as one text, so that no edge is
    made, completed nor encoded one by one.

    Attributes:
        template: an edge's JSON for ``str.format``: ``{0}`` its cursor, ``{1}`` its node's
            JSON (``{{``/``}}``: the object's braces).
        objects: what the actual cost counts of an edge besides what its node holds: the edge
            itself, and a point per step of its selection (:func:`graph.cost.counted_below`:
            its node, introspection).
    """

    template: str
    objects: int

    def write(self, cursors: Sequence[str], nodes: Sequence[WrittenJson]) -> WrittenJson:
        """The ``edges`` of a page: ``cursors`` (:func:`graph.relay.encode_cursor`: URL-safe
        base64, nothing JSON escapes) and ``nodes`` in order, with what the actual cost counts
        inside the list (the walk adds it where it meets the list: :mod:`graph.cost`)."""
        template = self.template.format
        text = ",".join([template(cursor, node.text) for cursor, node in zip(cursors, nodes)])
        objects = self.objects * len(nodes) + sum([node.objects for node in nodes])
        return WrittenJson(f"[{text}]", objects)


@dataclass(frozen=True)
class NodeJson:
    """How the database writes the JSON of a page's nodes of one model: ``expression`` over
    the page's row ``s0`` and the rows of ``joins`` (``s1``...), and ``objects``, what the
    actual cost counts inside it (an ``INT`` expression over the same rows); ``edge``, how
    their edges are written around them, when they can be (:class:`EdgeJson`)."""

    expression: str
    joins: tuple[combined.Join, ...]
    objects: str
    edge: EdgeJson | None = None

    async def read(self, query: QuerySet[Model], order: Any) -> list[Any] | None:
        """The page's rows with their node's JSON (:func:`db.combined.read_json`), or ``None``:
        read it as before."""
        return await combined.read_json(query, order, self.joins, self.expression, self.objects)

    def part(self, name: str, query: QuerySet[Model], order: Any) -> combined.Part:
        """The page as a part of a screen's one statement (:func:`db.combined.json_part`)."""
        return combined.json_part(name, query, order, self.joins, self.expression, self.objects)


class _Refused(Exception):
    """Something of the selection the database does not write."""


_FOUND: KeptByIdentity[NodeJson | None] = KeptByIdentity(256)


_PAGES: KeptByIdentity[tuple[NodeJson, ...] | None] = KeptByIdentity(256)


def node_json(info: Info, model: type[Model]) -> NodeJson | None:
    """How the database writes the nodes of the connection ``info``'s field returns, whose rows
    are ``model``'s; ``None`` when it cannot (the module docstring). Found once per parsed
    operation and field."""
    raw = _raw(info)
    if raw is None:
        return None

    def found() -> NodeJson | None:
        try:
            models = {"": model}
            found = _compile(raw.schema, raw.fragments, raw.field_nodes, raw.return_type, models)
            return found[model]
        except _Refused:
            return None

    return _FOUND.get((raw.operation, *raw.field_nodes), found)


def page_json(
    info: Info,
    models: Mapping[str, type[Model]],
    field: FieldNode | None = None,
    parent: str | None = None,
) -> tuple[NodeJson, ...] | None:
    """How the database writes the nodes of a page of a screen's root object (a timeline's
    messages and activities, a contact panel's activities), one per model of ``models``, in
    its order (:data:`graph.resolvers.pages.PageJson`); ``None`` when it cannot (the module
    docstring), or on a database other than PostgreSQL. ``models``: the model of each type the
    connection's nodes may be, by type name (``TimelineItem``'s ``Message`` and ``Activity``;
    ``""``: the node's object type, whatever its name).
    The connection is ``info``'s field, or ``field``, a field of the type ``parent`` selected
    below it (what the root object's resolver reads ahead: the same field node, and the same
    answer, as the connection's own resolver finds). Found once per parsed operation and field.
    """
    raw = _raw(info)
    if raw is None:
        return None
    if field is None:
        nodes, returned = tuple(raw.field_nodes), raw.return_type
    else:
        owner = raw.schema.get_type(parent)
        found = getattr(owner, "fields", {}).get(field.name.value)
        if found is None:
            return None
        nodes, returned = (field,), found.type

    def compiled() -> tuple[NodeJson, ...] | None:
        # found once per operation and field: the database is the process's
        if next(iter(models.values()))._meta.db.capabilities.dialect != "postgres":
            return None
        try:
            found = _compile(raw.schema, raw.fragments, nodes, returned, models)
        except _Refused:
            return None
        return tuple(found[model] for model in models.values())

    return _PAGES.get((raw.operation, *nodes, *models.values()), compiled)


def _raw(info: Info) -> Any:
    """graphql-core's resolve info of ``info`` when the database may write JSON for it (the
    module docstring), else ``None``."""
    if not (ENABLED and combined.ENABLED):
        return None  # a joined read: off with the others (INBOX_GRAPH_COMBINED_READS=0)
    if getattr(info.context.request, "scope", {}).get("type") != "http":
        return None  # over a WebSocket, a context is its connection's: not one operation's
    raw = info._raw_info
    if raw.operation.operation is not OperationType.QUERY:
        # a mutation's root fields read what the request's loaders kept of the fields before
        # them (as Python did), not the database's rows of the moment
        return None
    if isinstance(info, StrawberryInfo):  # else a plan's (graph.schema.plan): plans run
        execution = info.schema.execution_context_class
        if execution is None or not issubclass(execution, PlannedExecution):
            return None
    return raw


def written(row: Any) -> WrittenJson:
    """The node of a row read with its JSON (:func:`db.combined.read_json`,
    :func:`db.combined.json_part`): its JSON as it is, with what the actual cost counts
    inside it."""
    return WrittenJson(row.node, row.objects)


class _WrittenNodes:
    """:func:`written` for each node of a page read with its JSON, and its edges written
    around them (:meth:`graph.schema.core.Connection.from_page` calls ``write_edges``)."""

    __slots__ = ("write_edges",)

    def __init__(self, edge: EdgeJson) -> None:
        self.write_edges = edge.write

    __call__ = staticmethod(written)


def node_builder(
    rows: list[Any],
    build: Callable[[Any], Any],
    json: NodeJson | Sequence[NodeJson] | None = None,
) -> Callable[[Any], Any]:
    """What makes a node of each of a page's ``rows``: for rows with their JSON,
    :func:`written`, with a ``write_edges`` of the page's edges when ``json`` (how the rows were
    read: :func:`node_json`, :func:`page_json`) says how to write them; else ``build`` (the
    type's ``from_row``)."""
    if not rows or not combined.is_json_row(rows[0]):
        return build
    edge = (json if isinstance(json, NodeJson) else json[0]).edge if json else None
    return written if edge is None else _WrittenNodes(edge)


class _Compiler:
    def __init__(self, schema: Any, fragments: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.joins: list[combined.Join] = []

    def collect(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> dict[str, list]:
        """The fields of ``nodes``' selections on ``object_type``, by response key, in order
        (fragments whose type applies spread); refused: any directive."""
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
                fragment = self.fragments.get(selection.name.value)
                if fragment is None or fragment.directives:
                    raise _Refused
            elif isinstance(selection, InlineFragmentNode):
                fragment = selection
            else:
                raise _Refused
            if does_fragment_condition_match(self.schema, fragment, object_type):
                self._walk(fragment.selection_set, object_type, grouped)

    def object(
        self, object_type: GraphQLObjectType, model: type[Model], nodes: list, alias: str
    ) -> tuple[str, dict[str, Any]]:
        """The JSON text of ``object_type``'s selection in ``nodes``, of the row ``alias``, and
        what it holds by response key: ``None`` for a leaf, ``(whether the joined row was
        found, what it holds)`` for a relation (what :func:`_counted` counts)."""
        definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        reads = getattr(getattr(definition, "origin", None), SOURCE_READS, None)
        if reads is None:
            raise _Refused
        parts = []
        shape: dict[str, Any] = {}
        for key, found in self.collect(object_type, nodes).items():
            shape[key] = None
            field_head = _one_field(key, found)
            if field_head is None:
                raise _Refused
            name, head = field_head
            if name == "__typename":
                if any(n.selection_set for n in found):
                    raise _Refused
                parts.append((head + _name_json(object_type), None))
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
            elif relation is not None and relation.loader in _MODELS:
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
                inner, held = self.object(target, related, found, joined)
                present = f'{joined}."{related._meta.db_pk_column}" IS NOT NULL'
                shape[key] = (present, held)
                if nullable:
                    parts.append((head, f"CASE WHEN {present} THEN {inner} ELSE 'null' END"))
                else:  # missing: NULL, and the page is read as before (its error reported)
                    parts.append((head, f"CASE WHEN {present} THEN {inner} END"))
            else:
                raise _Refused
        pieces: list[str] = []  # no field: "{}" (a union member no fragment applies to)
        text = "{"
        for number, (head, expression) in enumerate(parts):
            text += ("," if number else "") + head
            if expression is not None:
                pieces.append(_literal(text))
                pieces.append(f"({expression})")
                text = ""
        pieces.append(_literal(text + "}"))
        return " || ".join(pieces), shape

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


def _counted(program: Counted, shape: dict[str, Any]) -> str:
    """``program``'s count (:func:`graph.cost.counted_below`) over an object of ``shape``
    (:meth:`_Compiler.object`) as an ``INT`` expression: each step at a key the object holds
    as a relation a point when its row was found, plus its own steps over it; nothing at a
    key it does not hold (a fragment of another type). Refused: a step at a leaf's key (an
    alias another type's fragment gives an object), a list or introspection."""
    terms = []
    for key, kind, below in program:
        if key not in shape:
            continue
        held = shape[key]
        if held is None or kind != "object":
            raise _Refused
        present, inner = held
        counted = _counted(below, inner) if below else "0"
        terms.append(f"CASE WHEN {present} THEN 1 + {counted} ELSE 0 END")
    return " + ".join(terms) or "0"


def _compile(
    schema: Any,
    fragments: Mapping[str, Any],
    field_nodes: Sequence[FieldNode],
    returned: Any,
    models: Mapping[str, type[Model]],
) -> dict[type[Model], NodeJson]:
    """How the database writes the nodes of the connection ``field_nodes`` select (of type
    ``returned``), for each type they may be (an object, or a union's members), whose rows are
    ``models``' (by type name; ``""``: the node's object type, whatever its name); raises
    :class:`_Refused`."""
    connection = get_named_type(returned)
    if not isinstance(connection, GraphQLObjectType):
        raise _Refused
    fields = _Compiler(schema, fragments).collect(connection, list(field_nodes))
    edges = [key for key, found in fields.items() if found[0].name.value == "edges"]
    if (
        len(edges) != 1
        or len(fields[edges[0]]) != 1
        or any(found[0].name.value == "nodes" for found in fields.values())
    ):
        raise _Refused  # selected twice, the objects inside would cost twice (graph.cost)
    edge_type = get_named_type(connection.fields["edges"].type)
    edge_fields = _Compiler(schema, fragments).collect(edge_type, fields[edges[0]])
    node = [key for key, found in edge_fields.items() if found[0].name.value == "node"]
    if len(node) != 1 or len(edge_fields[node[0]]) != 1:
        raise _Refused
    (node_field,) = edge_fields[node[0]]
    node_type = get_named_type(edge_type.fields["node"].type)
    if isinstance(node_type, GraphQLObjectType) and set(models) == {""}:
        members = {node_type: models[""]}
    elif isinstance(node_type, GraphQLUnionType) and set(models) == {
        member.name for member in node_type.types
    }:
        members = {member: models[member.name] for member in node_type.types}
    else:
        raise _Refused
    program = counted_below(schema, fragments, node_field.selection_set, node_type)
    edge = _edge(schema, fragments, edge_type, edge_fields, fields[edges[0]][0])
    found = {}
    for member, model in members.items():
        compiler = _Compiler(schema, fragments)
        expression, shape = compiler.object(member, model, [node_field], "s0")
        found[model] = NodeJson(expression, tuple(compiler.joins), _counted(program, shape), edge)
    return found


def _one_field(key: str, found: list[FieldNode]) -> tuple[str, str] | None:
    """The field name under response key ``key`` (the field nodes ``found`` there) and the
    key's JSON head (``"key":``); ``None`` when those nodes name different fields or take
    arguments (written by graphql-core, not here)."""
    name = found[0].name.value
    if any(n.name.value != name or n.arguments for n in found):
        return None
    return name, orjson.dumps(key).decode() + ":"


def _name_json(object_type: GraphQLObjectType) -> str:
    """``__typename``'s value for ``object_type``, as JSON."""
    return orjson.dumps(object_type.name).decode()


def _edge(
    schema: Any,
    fragments: Mapping[str, Any],
    edge_type: GraphQLObjectType,
    edge_fields: Mapping[str, list[FieldNode]],
    edges: FieldNode,
) -> EdgeJson | None:
    """How the edges of ``edges`` (the connection's one ``edges`` field, whose fields on
    ``edge_type`` are ``edge_fields`` by response key, its node's written) are written around
    their nodes, or ``None``: the edge selects something else (:class:`EdgeJson`)."""
    pieces = []
    for key, found in edge_fields.items():
        field_head = _one_field(key, found)
        if field_head is None:
            return None
        name, head = field_head
        if name == "node":
            pieces.append(head + "{1}")
        elif name == "cursor" and not any(n.selection_set for n in found):
            pieces.append(head + '"{0}"')
        elif name == "__typename" and not any(n.selection_set for n in found):
            pieces.append(head + _name_json(edge_type))
        else:
            return None
    steps = counted_below(schema, fragments, edges.selection_set, edge_type)
    if any(kind not in ("object", "introspection") for _, kind, _ in steps):
        return None
    return EdgeJson("{{" + ",".join(pieces) + "}}", 1 + len(steps))


__all__ = [
    "ENABLED",
    "MAX_JOINS",
    "SQL_COMPUTED",
    "EdgeJson",
    "NodeJson",
    "node_builder",
    "node_json",
    "page_json",
    "written",
]

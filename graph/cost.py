"""The cost of an operation in points, computed from its document before execution.

``domain.md`` section 8: "Every operation has a cost; budgets per token restore over time; the
response reports both". The budgets are :mod:`graph.throttle`'s; what a client sees and does is
the README's "Rate limits and query cost". The model follows Shopify's calculated query cost and
GitHub's node count: a point per object the response can hold.

- A scalar or enum field costs 0 points; ``__typename`` too.
- An object (interface, union) field costs 1 point plus the cost of its selection.
- A list of objects costs its length times (1 plus the cost of its selection). Inside a
  connection (a field with ``first`` and ``last`` arguments: ``conversations``, ``calls``,
  ``Contact.activities``, ``Conversation.messages``…) its lists (``edges``, ``nodes``) are a
  page long: ``first`` or ``last`` (the argument or its variable, as execution coerces it:
  ``100.0`` for an ``Int`` is 100, a variable not given takes the operation's default for it),
  without either the field's
  default page (25, 50 for ``Conversation.timeline``), at most :data:`MAX_PAGE_SIZE`. Any other
  list of objects (``users``, ``Contact.channels``, ``Message.mentions``…) counts as
  :data:`UNPAGED_LIST_SIZE` items.
- Each root field of a mutation costs :data:`MUTATION_COST` points, of a subscription
  :data:`SUBSCRIPTION_COST`, plus the cost of its selection (a subscription is charged once,
  when it starts, not per event).
- Introspection (``__schema``, ``__type``) costs 1 point a field, whatever it selects (the
  schema is answered from memory).
- Every selection counts, fragments included, even when it repeats another one.
- An operation costs at least 1 point.

The *requested* cost is the most the operation can return; the *actual* cost walks the same
document over the response, counting the items lists really held and nothing for a null or
missing object.

Example: ``{ conversations(first: 25) { edges { node { id contact { name } } } } }`` costs
1 (the connection) + 25 × (1 (the edge) + 1 (the node) + 1 (the contact)) = 76 points.
"""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    value_from_ast,
)
from graphql.execution.values import get_variable_values
from graphql.pyutils import Undefined
from strawberry.schema.schema_converter import GraphQLCoreConverter

from graph.kept import KeptByIdentity
from graph.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_SIZE_METADATA
from graph.written import WrittenJson

if TYPE_CHECKING:
    from collections.abc import Mapping

    from graphql import (
        GraphQLField,
        GraphQLNamedType,
        GraphQLSchema,
        SelectionSetNode,
    )

MUTATION_COST = 10
"""Points of each root field of a mutation (before its selection)."""
SUBSCRIPTION_COST = 10
"""Points of each root field of a subscription (before its selection), charged once."""
UNPAGED_LIST_SIZE = 10
"""Items a list of objects outside a connection is counted as."""
_INTROSPECTION = frozenset({"__schema", "__type"})
_COMPILED_ACTUAL_COST = True
"""Whether the actual cost below the root walks the selections compiled by :meth:`_Walk.program`
(``False``: field by field, as the requested cost; ``tests/limits/test_cost_walk.py`` compares
the two)."""


class _Kind(enum.Enum):
    """How a field costs (:meth:`_Walk.shape`)."""

    INTROSPECTION = "introspection"  # 1 point
    FREE = "free"  # scalars, enums, __typename, unknown fields: 0 points below the root
    OBJECT = "object"
    LIST = "list"


def find_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation of ``document`` that runs: the one named ``operation_name``, else the only
    one; ``None`` when there is no such operation."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in operations if o.name and o.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """The cost of ``operation`` in points (module docstring).

    Args:
        schema: the graphql-core schema the document was validated against.
        document: the parsed, valid document (its fragments are read from it).
        operation: the operation of ``document`` that runs (:func:`find_operation`).
        variables: the request's variables (``first: $n`` reads them).
        data: the response's ``data``: given, the actual cost (lists as long as they came
            back, nothing for null objects); ``None``, the requested cost.

    Returns:
        Points, at least 1.
    """
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 1
    fixed = {OperationType.MUTATION: MUTATION_COST, OperationType.SUBSCRIPTION: SUBSCRIPTION_COST}
    if data is not None and operation.operation not in fixed and _COMPILED_ACTUAL_COST:
        return max(1, _actual_cost(schema, document, operation, root)(data))
    walk = _Walk(schema, document, coerced_variables(schema, operation, variables))
    cost = walk.selection_cost(
        operation.selection_set, root, None, data, root_field_cost=fixed.get(operation.operation)
    )
    return max(1, cost)


REQUESTED_COSTS_KEPT = 1024
"""Requested costs remembered per process (:func:`requested_cost`)."""

_requested: OrderedDict[tuple[Any, ...], int] = OrderedDict()


def coerced_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any] | None
) -> dict[str, Any]:
    """``variables`` as the execution of ``operation`` will read them: coerced to their
    declared types (graphql-core accepts ``100.0`` for an ``Int``: 100), with the operation's
    own default (``$n: Int = 100``) for each one not given. Costed as sent, ``first: 100.0``
    or a default of 100 counted a default page while 100 rows came back (a helper's review).
    Variables that cannot be coerced are returned as given: execution then refuses the
    operation before it runs (``BAD_USER_INPUT``)."""
    given = variables or {}
    if not operation.variable_definitions:
        return given
    coerced = get_variable_values(schema, operation.variable_definitions, given, max_errors=1)
    return given if isinstance(coerced, list) else coerced.coerced


def requested_cost(
    schema: GraphQLSchema,
    text: str | None,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None = None,
) -> int:
    """:func:`operation_cost` before execution (the requested cost), remembered for the last
    :data:`REQUESTED_COSTS_KEPT` equal (document text, operation, variables): thousands of
    dashboards subscribe with the same document after a deploy (issue 23). A mutation's is
    not remembered: its variables carry what it writes (a message's text, an external id
    made anew), so each was an entry of its own, never asked for again, keeping its document
    text and variables (up to ``Settings.max_body_bytes``) and pushing out those that repeat.

    Args:
        text: the text ``document`` was parsed from (``None``: not remembered).

    Returns:
        Points, at least 1.
    """
    if text is None or operation.operation is OperationType.MUTATION:
        return operation_cost(schema, document, operation, variables)
    try:
        values = json.dumps(variables, sort_keys=True) if variables else ""
    except (TypeError, ValueError):
        return operation_cost(schema, document, operation, variables)
    name = operation.name.value if operation.name is not None else None
    key = (schema, text, name, values)
    cost = _requested.get(key)
    if cost is None:
        cost = _requested[key] = operation_cost(schema, document, operation, variables)
        if len(_requested) > REQUESTED_COSTS_KEPT:
            _requested.popitem(last=False)
    return cost


ACTUAL_COSTS_KEPT = 1024
"""Operations whose actual cost function is kept per process (:func:`_actual_cost`)."""

_actual: KeptByIdentity[Any] = KeptByIdentity(ACTUAL_COSTS_KEPT)


def _actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    root: GraphQLNamedType,
) -> Any:
    """The actual cost of a query or an operation's response below the root field costs,
    as a function of its ``data``: :meth:`_Walk.program` of the operation's selection
    written out as Python (:func:`_generate_actual`), made once per (schema, document,
    operation) and kept for the last :data:`ACTUAL_COSTS_KEPT` (documents are parsed once per
    process, ``graph.extensions``): the walk of a list of 100 over 400 response objects was
    5 % of a request, rebuilding its program 1.5 %. The program depends on neither the
    variables nor the page (:meth:`_Walk.program`)."""

    def make() -> Any:
        walk = _Walk(schema, document, {})
        return _generate_actual(walk.program(operation.selection_set, root), walk.actual)

    return _actual.get((schema, document, operation), make)


_INLINE_DEPTH = 8
"""Nested selections written out in one function; deeper ones get a function of their own
(Python limits a function's nested blocks to 20)."""


def _generate_actual(program: tuple[Any, ...], actual: Any) -> Any:
    """``count(data)``: :meth:`_Walk.actual` of ``program`` over ``data``, its steps written
    out: the usual cases (objects that are dicts, lists of dicts) inline, anything else (a
    list of lists, an item or object that is not a dict) by :meth:`_Walk.actual` itself, so
    that it counts the same (``tests/limits/test_cost_walk.py``)."""
    names: dict[str, Any] = {"actual": actual, "_items": _items}
    lines = ["def count(data):", "    total = 0"]
    counter = [0]

    def name(value: Any, prefix: str) -> str:
        counter[0] += 1
        found = f"{prefix}_{counter[0]}"
        names[found] = value
        return found

    def emit(program: tuple[Any, ...], data: str, indent: str, depth: int) -> None:
        if depth > _INLINE_DEPTH:
            below = name(_generate_actual(program, actual), "count")
            lines.append(f"{indent}total += {below}({data})")
            return
        for key, kind, below in program:
            value = f"v{depth}"
            lines.append(f"{indent}{value} = {data}.get({name(key, 'key')})")
            lines.append(f"{indent}if {value} is not None:")
            inner = indent + "    "
            if kind is _Kind.OBJECT:
                lines.append(f"{inner}total += 1")
                if below:
                    lines.append(f"{inner}if type({value}) is dict:")
                    emit(below, value, inner + "    ", depth + 1)
                    lines.append(f"{inner}else:")
                    lines.append(f"{inner}    total += actual({name(below, 'program')}, {value})")
            elif kind is _Kind.LIST:
                item = f"i{depth}"
                lines.append(f"{inner}if type({value}) is list:")
                lines.append(f"{inner}    for {item} in {value}:")
                lines.append(f"{inner}        if type({item}) is dict:")
                lines.append(f"{inner}            total += 1")
                if below:
                    emit(below, item, inner + "            ", depth + 1)
                lines.append(f"{inner}        elif {item} is not None:")
                listed = name(((key, kind, below),), "program")
                lines.append(
                    f"{inner}            total += actual({listed}, {{{names_key(key)}: {item}}})"
                )
                lines.append(f"{inner}else:")
                lines.append(f"{inner}    total += actual({listed}, {{{names_key(key)}: {value}}})")
            else:
                lines.append(f"{inner}total += 1")

    def names_key(key: str) -> str:
        return name(key, "key")

    lines.append("    if type(data) is not dict:")
    lines.append(f"        return actual({name(program, 'program')}, data)")
    emit(program, "data", "    ", 0)
    lines.append("    return total")
    exec(compile("\n".join(lines), "<actual cost>", "exec"), names)  # noqa: S102 - our own text
    return names["count"]


class _Walk:
    """One walk over a document; fragments are costed once per (fragment, page, data)."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, int | None, int], int] = {}
        self.plans: dict[tuple[int, str], tuple[Any, ...]] = {}
        self.entered: set[str] = set()
        self.shapes: dict[tuple[int, str], tuple[Any, ...]] = {}
        self.programs: dict[tuple[int, str], tuple[Any, ...]] = {}

    def selection_cost(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        page: int | None,
        data: Any,
        *,
        root_field_cost: int | None = None,
    ) -> int:
        """The cost of ``selection_set`` on ``parent``; ``page`` is the length of its lists
        when it is a connection's selection (else ``None``); ``data`` the object it returned
        (actual cost) or ``None`` (requested cost)."""
        if data is not None and root_field_cost is None and _COMPILED_ACTUAL_COST:
            return self.actual(self.program(selection_set, parent), data)
        total = 0
        selections = (
            selection_set.selections
            if root_field_cost is not None
            else self.costed(selection_set, parent)
        )
        for selection in selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent, page, data, root_field_cost)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                if target is not None:
                    total += self.selection_cost(
                        selection.selection_set, target, page, data, root_field_cost=root_field_cost
                    )
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread_cost(selection.name.value, page, data, root_field_cost)
        return total

    def program(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> tuple[Any, ...]:
        """What the actual cost of ``selection_set`` on ``parent`` reads of a response object,
        fragments flattened: ``(response key, kind, program of its selection)`` for each
        introspection field (no program) and object field of :meth:`costed`, in the order the
        walk of :meth:`selection_cost` costs them (issue 23: a list of 100 rows costed field
        by field took 7 % of a request). Below the root a field's cost given the data depends
        on neither the page nor the variables: the same sum as :meth:`selection_cost`'s. Kept
        per selection set and parent for the walk."""
        key = (id(selection_set), parent.name)
        found = self.programs.get(key)
        if found is not None:
            return found
        steps: list[Any] = []
        for selection in self.costed(selection_set, parent):
            if isinstance(selection, FieldNode):
                response_key, kind, named, _ = self.field_shape(selection, parent)
                if kind is _Kind.OBJECT or kind is _Kind.LIST:
                    below = self.program(selection.selection_set, named)
                    steps.append((response_key, kind, below))
                elif kind is _Kind.INTROSPECTION:
                    steps.append((response_key, kind, None))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                if target is not None:
                    steps.extend(self.program(selection.selection_set, target))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in self.entered:  # as spread_cost: never loop
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                if target is None:
                    continue
                self.entered.add(name)
                try:
                    steps.extend(self.program(fragment.selection_set, target))
                finally:
                    self.entered.discard(name)
        found = self.programs[key] = tuple(steps)
        return found

    def actual(self, program: tuple[Any, ...], data: Any) -> int:
        """The actual cost of a :meth:`program` over ``data``, the response object it
        selected: a point per object (or introspection field) that came back, plus the cost of
        its selection; lists count their items (nested lists flattened). An object whose JSON
        the database wrote (:class:`graph.written.WrittenJson`) holds its count."""
        if not program or not isinstance(data, dict):
            # an object whose JSON the database wrote: what it holds, counted with it
            return data.objects if program and type(data) is WrittenJson else 0
        total = 0
        for key, kind, below in program:
            value = data.get(key)
            if value is None:
                continue
            if kind is _Kind.OBJECT:
                total += 1 + (self.actual(below, value) if below else 0)
            elif kind is _Kind.LIST:
                if type(value) is WrittenJson:  # a page's edges written whole (row_json)
                    total += value.objects
                    continue
                for item in _items(value):
                    total += 1 + (self.actual(below, item) if below else 0)
            else:
                total += 1
        return total

    def costed(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> tuple[Any, ...]:
        """The selections of ``selection_set`` on ``parent`` that may cost points below the root:
        fragments and object fields; scalar and enum fields and ``__typename`` cost nothing
        there, and a response of 100 rows holds about 1,500 of them (issue 23). Kept per
        selection set and parent for the walk."""
        key = (id(selection_set), parent.name)
        found = self.plans.get(key)
        if found is None:
            fields = getattr(parent, "fields", {})
            found = tuple(
                selection
                for selection in selection_set.selections
                if not isinstance(selection, FieldNode)
                or selection.name.value in _INTROSPECTION
                or (
                    selection.selection_set is not None
                    and selection.name.value in fields
                    and not is_leaf_type(get_named_type(fields[selection.name.value].type))
                )
            )
            self.plans[key] = found
        return found

    def spread_cost(
        self, name: str, page: int | None, data: Any, root_field_cost: int | None
    ) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.entered:  # validation refuses both; never loop
            return 0
        key = (name, page, id(data))
        if key not in self.memo:
            target = self.schema.get_type(fragment.type_condition.name.value)
            self.entered.add(name)
            try:
                self.memo[key] = (
                    0
                    if target is None
                    else self.selection_cost(
                        fragment.selection_set, target, page, data, root_field_cost=root_field_cost
                    )
                )
            finally:
                self.entered.discard(name)
        return self.memo[key]

    def field_cost(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        page: int | None,
        data: Any,
        root_field_cost: int | None,
    ) -> int:
        key, kind, named, child_page = self.field_shape(node, parent)
        if data is not None:
            value = data.get(key) if isinstance(data, dict) else None
            if value is None:
                return root_field_cost or 0
        else:
            value = None
        if kind is _Kind.INTROSPECTION:
            return 1
        if kind is _Kind.FREE:
            return root_field_cost or 0
        item_cost = root_field_cost or 1
        if kind is _Kind.OBJECT:
            return item_cost + self.selection_cost(node.selection_set, named, child_page, value)
        if data is None:
            length = page if page is not None else UNPAGED_LIST_SIZE
            return length * (
                item_cost + self.selection_cost(node.selection_set, named, child_page, None)
            )
        return sum(
            item_cost + self.selection_cost(node.selection_set, named, child_page, item)
            for item in _items(value)
        )

    def field_shape(self, node: FieldNode, parent: GraphQLNamedType) -> tuple[Any, ...]:
        """:meth:`shape`, kept per node and parent for the walk."""
        shape = self.shapes.get((id(node), parent.name))
        if shape is None:
            shape = self.shapes[id(node), parent.name] = self.shape(node, parent)
        return shape

    def shape(self, node: FieldNode, parent: GraphQLNamedType) -> tuple[Any, ...]:
        """What :meth:`field_cost` needs of ``node`` on ``parent``, the same for every object
        of a response: ``(response key, kind, named type, page of its lists)``. Kept per node
        and parent for the walk (a list of 100 costs the same fields 100 times)."""
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name in _INTROSPECTION:
            return key, _Kind.INTROSPECTION, None, None
        field = getattr(parent, "fields", {}).get(name)
        if field is None:  # __typename, or a field validation would have refused
            return key, _Kind.FREE, None, None
        named = get_named_type(field.type)
        if is_leaf_type(named) or node.selection_set is None:
            return key, _Kind.FREE, None, None
        kind = _Kind.LIST if _is_list(field.type) else _Kind.OBJECT
        return key, kind, named, self.page_size(field, node)

    def page_size(self, field: GraphQLField, node: FieldNode) -> int | None:
        """The page of a connection field (``None`` for other fields): its ``last`` counts
        like its ``first`` (the larger when a document gives both, which the field refuses);
        without either, the field's default page (:func:`graph.schema.core.connection_field`)."""
        if "first" not in field.args and "last" not in field.args:
            return None
        given = [
            size
            for size in (self.argument(field, node, name) for name in ("first", "last"))
            if size is not None
        ]
        if not given:
            return default_page_size(field)
        return max(0, min(max(given), MAX_PAGE_SIZE))

    def argument(self, field: GraphQLField, node: FieldNode, name: str) -> int | None:
        """The integer value of the argument ``name`` of ``node`` (its variable's, its
        default's), or ``None`` when it has none (or one that is not an integer)."""
        argument = field.args.get(name)
        if argument is None:
            return None
        given = next((a.value for a in node.arguments or () if a.name.value == name), None)
        value: Any = Undefined
        if given is not None:
            if isinstance(given, VariableNode) and given.name.value not in self.variables:
                value = Undefined
            else:
                value = value_from_ast(given, argument.type, self.variables)
        if value is Undefined or value is None:
            value = argument.default_value
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        return value


Counted = tuple[tuple[str, str, "Counted | None"], ...]
"""What the actual cost counts of a response object (:func:`counted_below`)."""


def counted_below(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
) -> Counted:
    """What the actual cost counts below an object of type ``parent`` the response holds for
    ``selection_set`` (``fragments``: the document's, by name): ``(response key, kind, what it
    counts below)`` per step, fragments flattened whatever their type condition, kind
    ``"object"`` (a point when the object's value at the key is not null, plus its own steps
    over it), ``"list"`` (a point per item, plus its steps over each) or ``"introspection"``
    (a point). What :mod:`graph.schema.row_json` writes in SQL for a node whose JSON the
    database writes, which this walk cannot see into: the same count, by the same steps."""
    walk = _Walk(schema, DocumentNode(definitions=()), {})
    walk.fragments = dict(fragments)

    def named(program: tuple[Any, ...]) -> Counted:
        return tuple(
            (key, kind.value, named(below) if below is not None else None)
            for key, kind, below in program
        )

    return named(walk.program(selection_set, parent))


def default_page_size(field: GraphQLField) -> int:
    """The items of a connection field given neither ``first`` nor ``last``: what its
    strawberry definition's metadata says (:data:`graph.relay.PAGE_SIZE_METADATA`), else
    :data:`DEFAULT_PAGE_SIZE`."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    size = getattr(definition, "metadata", {}).get(PAGE_SIZE_METADATA)
    return size if isinstance(size, int) else DEFAULT_PAGE_SIZE


def _is_list(type_: Any) -> bool:
    while is_non_null_type(type_):
        type_ = type_.of_type
    return is_list_type(type_)


def _items(value: Any):
    """The objects of a (possibly nested) list in a response."""
    if isinstance(value, list):
        for item in value:
            yield from _items(item)
    elif value is not None:
        yield value


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MUTATION_COST",
    "SUBSCRIPTION_COST",
    "UNPAGED_LIST_SIZE",
    "Counted",
    "counted_below",
    "find_operation",
    "operation_cost",
    "requested_cost",
]

"""Fields whose resolver graphql-core calls directly, without strawberry's per-field wrapper.

For every field with a resolver, strawberry builds an ``Info`` object, converts the (absent)
arguments and chains the (absent) field extensions before calling it: about as much as the
resolver itself costs. A page of 100 conversations with contact, assignee and last message
resolves 300 such relation fields. A field whose resolver

- belongs to an object type other than the root types,
- takes no GraphQL argument, no permission class and no field extension,
- and whose parameters are ``(self)`` or ``(self, info)``,

is handed to graphql-core as it is: ``self`` is the parent object and ``info`` graphql-core's
``GraphQLResolveInfo``. Resolvers only read ``info.context`` (the same object in both), so
they behave the same; errors and awaitables are handled by graphql-core, as before.

Plain leaves (issue 23): of those fields, the ones that return a scalar or an enum and need no
``info`` (an attribute, or a synchronous ``(self)`` resolver) are also marked
(:data:`PLAIN_LEAF` in the field's extensions) and :class:`PlainLeavesExecution` completes them
without graphql-core's per-field machinery (resolve info, path checks, ``complete_value``):
it reads the value and serialises it with the field's type, as ``complete_leaf_value`` does.
Anything else (an error, a null for a non-null field, an awaitable, a serialiser that refuses
the value) goes through graphql-core's ``execute_field`` as before, so errors, paths and
the JSON are the same (``tests/speed/test_plain_leaves.py`` compares the two paths byte for
byte). ``INBOX_GRAPH_PLAIN_LEAVES=0`` turns it off.

For :mod:`graph.schema.plan` only, two more marks: :data:`INFO_LEAF`, a synchronous
``(self, info)`` resolver of a leaf or a list of leaves (a masked number); and
:data:`ARGUMENTS`, a resolver taking built-in scalar arguments only (a connection's
``first``/``after``/``last``/``before``), which keeps strawberry's resolver for graphql-core
and is called by a plan with graphql-core's coerced arguments. Like the fields above, their
resolvers read only ``info.context`` (the plan's resolve info builds graphql-core's on first use
of anything else). :class:`CachedNames` keeps strawberry from converting an argument's name
at every call.
"""

from __future__ import annotations

import inspect
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from graph.schema.rows import SOURCE_READS

if TYPE_CHECKING:
    from collections.abc import Callable

    import strawberry


DIRECT = "inbox_graph.direct"
"""Key of the extensions of a field handed to graphql-core: ``(resolve, needs_info)``,
``resolve(source, info)`` its resolver as graphql-core calls it, ``needs_info`` whether it
reads ``info`` (``graph.schema.plan`` passes ``None`` otherwise)."""

PLAIN_LEAF = "inbox_graph.plain_leaf"
"""Key of a plain leaf field's extensions: ``(read, leaf_type, nullable)``, ``read(source)``
returning the value to serialise."""


class CachedNames(NameConverter):
    """strawberry's name converter, each Python name's GraphQL name worked out once.

    strawberry asks for the GraphQL names of a field's arguments, and of its input objects'
    fields, at every call of the field (``convert_arguments``: a ``to_camel_case`` each, four
    for a connection's ``first``/``after``/``last``/``before``). The names are the schema's
    own, a fixed set; ``auto_camel_case`` is read at each call, as strawberry's."""

    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._names: dict[tuple[str, bool], str] = {}

    def apply_naming_config(self, name: str) -> str:
        key = (name, self.auto_camel_case)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = super().apply_naming_config(name)
        return found


ARGUMENTS = "inbox_graph.arguments"
"""Key of the extensions of a field of an object type (not a root type) whose resolver takes
``self``, maybe ``info``, and arguments of built-in scalars only (a connection's
``first``/``after``/``last``/``before``), without field extensions or permission classes:
``(function, ((GraphQL name, Python name), ...), takes_info)``; :mod:`graph.schema.plan` calls
``function(source, **arguments)`` with the arguments graphql-core coerced, as strawberry's
wrapper would (its resolver stays strawberry's)."""

INFO_LEAF = "inbox_graph.info_leaf"
"""Key of the extensions of a field whose synchronous resolver takes ``(self, info)`` and
returns a leaf or a list of leaves: ``(function, leaf_type, nullable, listed, items_nullable)``,
``function(source, info)`` the resolver (:mod:`graph.schema.plan` completes it with a resolve
info made on first use)."""


def _with_info(function: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return function(source, info)

    return resolve


def _without_info(function: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return function(source)

    return resolve


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return getattr(source, name)

    return resolve


def resolve_directly(schema: strawberry.Schema) -> list[str]:
    """Hand the eligible fields' resolvers to graphql-core (see the module docstring), in place.

    Returns the ``Type.field`` names changed.
    """
    core = schema._schema
    roots = {t.name for t in (core.query_type, core.mutation_type, core.subscription_type) if t}
    names = schema.config.name_converter
    handled = getattr(schema.schema_converter, "_exception_handler_specs", None)
    changed: list[str] = []
    for graphql_type in core.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name in roots:
            continue
        if graphql_type.name.startswith("__"):
            continue
        definition = (graphql_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        source_reads = getattr(getattr(definition, "origin", None), SOURCE_READS, None) or {}
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if field is None or field.extensions:
                continue
            if field.arguments or graphql_field.args:
                arguments = None if handled else _scalar_arguments(field, graphql_field, names)
                if arguments is not None:
                    _extend(graphql_field, ARGUMENTS, arguments)
                    changed.append(
                        f"{graphql_type.name}.{name}({', '.join(a for a, _ in arguments[1])})"
                    )
                continue
            resolver = field.base_resolver
            leaf = get_named_type(graphql_field.type)
            plain = (
                (leaf, not isinstance(graphql_field.type, GraphQLNonNull))
                if is_leaf_type(leaf)
                else None
            )
            if resolver is None:
                if field.default_resolver is getattr:
                    graphql_field.resolve = _attribute(field.python_name)
                    _extend(graphql_field, DIRECT, (graphql_field.resolve, False))
                    if plain:
                        # from its row, for a type of graph.schema.rows.from_row
                        read = source_reads.get(field.python_name)
                        _mark(graphql_field, read or attrgetter(field.python_name), *plain)
                continue
            parameters = list(resolver.signature.parameters)
            if parameters == ["self", "info"]:
                graphql_field.resolve = _with_info(resolver.wrapped_func)
                _extend(graphql_field, DIRECT, (graphql_field.resolve, True))
                function = resolver.wrapped_func
                shape = _leaf_shape(graphql_field.type)
                if shape is not None and not (
                    inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
                ):
                    _extend(graphql_field, INFO_LEAF, (function, *shape))
            elif parameters == ["self"]:
                graphql_field.resolve = _without_info(resolver.wrapped_func)
                _extend(graphql_field, DIRECT, (graphql_field.resolve, False))
                function = resolver.wrapped_func
                if plain and not (
                    inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
                ):
                    _mark(graphql_field, function, *plain)
            else:
                continue
            changed.append(f"{graphql_type.name}.{name}")
    return changed


_BUILT_IN_SCALARS = frozenset({"Int", "Float", "String", "Boolean", "ID"})
"""Scalars whose values strawberry hands a resolver as graphql-core coerced them."""


def _scalar_arguments(
    field: Any, graphql_field: Any, names: Any
) -> tuple[Callable[..., Any], tuple[tuple[str, str], ...], bool] | None:
    """``(resolver, ((GraphQL name, Python name), ...), takes info)`` of a field whose resolver
    takes ``self``, maybe ``info``, and arguments of built-in scalars only (not lists, not
    input objects, not enums: what strawberry converts), else ``None``."""
    resolver = field.base_resolver
    if resolver is None or field.permission_classes:
        return None
    mapping = []
    for argument in field.arguments:
        graphql_name = names.from_argument(argument)
        graphql_argument = graphql_field.args.get(graphql_name)
        if graphql_argument is None or argument.python_name is None:
            return None
        argument_type = graphql_argument.type
        if isinstance(argument_type, GraphQLNonNull):
            argument_type = argument_type.of_type
        if getattr(argument_type, "name", None) not in _BUILT_IN_SCALARS:
            return None
        mapping.append((graphql_name, argument.python_name))
    if len(mapping) != len(graphql_field.args):
        return None
    parameters = list(resolver.signature.parameters)
    takes_info = "info" in parameters
    if parameters[:1] != ["self"] or sorted(parameters[1:]) != sorted(
        [python for _, python in mapping] + (["info"] if takes_info else [])
    ):
        return None
    return resolver.wrapped_func, tuple(mapping), takes_info


def _leaf_shape(field_type: Any) -> tuple[Any, bool, bool, bool] | None:
    """``(leaf type, nullable, listed, items nullable)`` of a leaf or a list of leaves (one
    level), else ``None``."""
    nullable = not isinstance(field_type, GraphQLNonNull)
    named = field_type if nullable else field_type.of_type
    if is_leaf_type(named):
        return named, nullable, False, False
    if isinstance(named, GraphQLList):
        item = named.of_type
        item_nullable = not isinstance(item, GraphQLNonNull)
        item = item if item_nullable else item.of_type
        if is_leaf_type(item):
            return item, nullable, True, item_nullable
    return None


def _extend(graphql_field: Any, key: str, value: Any) -> None:
    if graphql_field.extensions is None:
        graphql_field.extensions = {}
    graphql_field.extensions[key] = value


def _mark(graphql_field: Any, read: Callable[[Any], Any], leaf: Any, nullable: bool) -> None:
    _extend(graphql_field, PLAIN_LEAF, (read, leaf, nullable))


class PlainLeavesExecution(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, completing plain leaf fields (:data:`PLAIN_LEAF`) directly."""

    def execute_field(
        self,
        parent_type: Any,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        field_def = parent_type.fields.get(node.name.value)
        extensions = field_def.extensions if field_def is not None else None
        plain = extensions.get(PLAIN_LEAF) if extensions else None
        middleware = self.middleware_manager
        if plain is not None and (middleware is None or not middleware.middlewares):
            read, leaf, nullable = plain
            try:
                value = read(source)
                if value is None:
                    if nullable:
                        return None
                elif isinstance(value, Exception):
                    pass  # graphql-core raises a returned error: its path below
                elif self.is_awaitable(value):
                    close = getattr(value, "close", None)
                    if close is not None:
                        close()
                else:
                    serialized = leaf.serialize(value)
                    if serialized is not None and serialized is not Undefined:
                        return serialized
            except Exception:  # noqa: BLE001,S110 - graphql-core's path below reports it
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


__all__ = [
    "ARGUMENTS",
    "DIRECT",
    "INFO_LEAF",
    "PLAIN_LEAF",
    "CachedNames",
    "PlainLeavesExecution",
    "resolve_directly",
]

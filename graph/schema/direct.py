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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter

if TYPE_CHECKING:
    from collections.abc import Callable

    import strawberry


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
    changed: list[str] = []
    for graphql_type in core.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name in roots:
            continue
        if graphql_type.name.startswith("__"):
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if field is None or field.extensions or field.arguments or graphql_field.args:
                continue
            resolver = field.base_resolver
            if resolver is None:
                if field.default_resolver is getattr:
                    graphql_field.resolve = _attribute(field.python_name)
                continue
            parameters = list(resolver.signature.parameters)
            if parameters == ["self", "info"]:
                graphql_field.resolve = _with_info(resolver.wrapped_func)
            elif parameters == ["self"]:
                graphql_field.resolve = _without_info(resolver.wrapped_func)
            else:
                continue
            changed.append(f"{graphql_type.name}.{name}")
    return changed


__all__ = ["resolve_directly"]

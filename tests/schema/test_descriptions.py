"""Every element of the public schema is described: types, fields, arguments, input fields
and enum values (issue 19, part 5). The executable schema (graphql-core's ``GraphQLSchema``
that strawberry builds) is walked, so nothing the SDL shows can be missed."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    specified_scalar_types,
)


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Schema coordinates (``Type``, ``Type.field``, ``Type.field(arg:)``, ``Enum.VALUE``) of
    the elements without a description; the introspection types and the specified scalars
    (described by the GraphQL spec) aside."""
    missing = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not (named.description or "").strip():
            missing.append(name)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in named.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not (arg.description or "").strip():
                        missing.append(f"{name}.{field_name}({arg_name}:)")
        elif isinstance(named, GraphQLEnumType):
            missing += [
                f"{name}.{value_name}"
                for value_name, value in named.values.items()
                if not (value.description or "").strip()
            ]
    return missing


def test_every_element_of_the_schema_is_described():
    from graph.schema import schema

    missing = undescribed(schema._schema)
    assert not missing, f"{len(missing)} schema elements without a description:\n" + "\n".join(
        missing
    )


def test_the_walk_finds_what_is_missing():
    from graphql import build_schema

    sdl = """
    "The root." type Query { "A thing." thing(id: ID!): Thing }
    type Thing { name: String kind: Kind }
    "Kinds." enum Kind { "A." A B }
    """
    assert undescribed(build_schema(sdl)) == [
        "Query.thing(id:)",
        "Thing",
        "Thing.name",
        "Thing.kind",
        "Kind.B",
    ]

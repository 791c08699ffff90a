"""Relations declared with ``graph.loaders.row_relation`` (issue 23): a selection plan
resolves them without calling their resolver (``graph.schema.plan``), and must answer as
graphql-core calling the resolver does, on every path a relation can take: a row its loader
already holds (the usual case: a list preloaded it), no key, a key of no row (another
workspace's), a row not loaded yet (an awaitable), a loader that fails, a parent without a
row, a context without loaders, each on a nullable and a non-null field."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.loaders import Loader, row_relation
from graph.schema.direct import resolve_directly
from graph.schema.plan import PlannedExecution


@dataclass
class PersonRow:
    id: int
    name: str


@dataclass
class PetRow:
    id: int
    owner_id: int | None
    boss_id: int | None


PEOPLE = {1: PersonRow(1, "Ada"), 2: PersonRow(2, "Bo"), 3: PersonRow(3, "Cy")}
PRELOADED = [1, 2]  # 3 is read when asked (an awaitable); 4 and 5 are no one's; 9 fails,
# 8 fails its whole batch


@strawberry.type
class Person:
    row: strawberry.Private[Any]
    name: str

    @classmethod
    def from_row(cls, row: PersonRow) -> Person:
        return cls(row=row, name=row.name)


@strawberry.type
class Pet:
    row: strawberry.Private[Any]
    id: int
    owner: Person | None = strawberry.field(
        resolver=row_relation("person", "owner_id", lambda: Person.from_row)
    )
    boss: Person = strawberry.field(
        resolver=row_relation("person", "boss_id", lambda: Person.from_row)
    )


@strawberry.type
class Stray:
    """A parent without a row: its relation's key cannot be read."""

    id: int
    owner: Person | None = strawberry.field(
        resolver=row_relation("person", "owner_id", lambda: Person.from_row)
    )


@strawberry.type
class Query:
    @strawberry.field
    def pets(self) -> list[Pet]:
        pairs = [(1, 2), (2, 1), (None, 1), (4, 2), (1, None), (3, 3), (9, 1), (1, 5), (2, 2)]
        return [Pet(row=PetRow(n, o, b), id=n) for n, (o, b) in enumerate(pairs)]

    @strawberry.field
    def lost(self) -> list[Pet]:
        return [Pet(row=PetRow(1, 8, 1), id=1), Pet(row=PetRow(2, 1, 8), id=2)]

    @strawberry.field
    def strays(self) -> list[Stray]:
        return [Stray(id=1)]


class Loaders:
    def __init__(self) -> None:
        async def load(keys):
            await asyncio.sleep(0)
            if keys == [8]:
                raise RuntimeError("the database went away")
            return [RuntimeError("no such row") if key == 9 else PEOPLE.get(key) for key in keys]

        self.person = Loader(load_fn=load)
        self.person.fill({key: PEOPLE[key] for key in PRELOADED})


class Context:
    def __init__(self, with_loaders: bool = True) -> None:
        self._loaders = Loaders() if with_loaders else None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            raise RuntimeError("no viewer")
        return self._loaders


def schema(execution: type) -> strawberry.Schema:
    built = strawberry.Schema(query=Query, execution_context_class=execution)
    resolve_directly(built)
    return built


DOCUMENTS = [
    "{ pets { id owner { name } } }",
    "{ pets { id boss { name } } }",
    "{ pets { id owner { name } boss { name } again: owner { name } } }",
    "{ strays { id owner { name } } }",
    "{ lost { id owner { name } } }",
]


@pytest.mark.parametrize("with_loaders", [True, False], ids=["loaders", "no loaders"])
@pytest.mark.parametrize("document", DOCUMENTS)
async def test_row_relations_answer_as_their_resolvers_do(document, with_loaders):
    expected = await schema(StrawberryGraphQLCoreExecutionContext).execute(
        document, context_value=Context(with_loaders)
    )
    got = await schema(PlannedExecution).execute(document, context_value=Context(with_loaders))
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or ()] == [e.formatted for e in expected.errors or ()]


async def test_the_row_relations_take_every_path():
    """The comparison above is of answers with rows, nulls and errors."""
    result = await schema(PlannedExecution).execute(
        "{ pets { id owner { name } } }", context_value=Context()
    )
    owners = [pet["owner"] for pet in result.data["pets"]]
    assert {"name": "Ada"} in owners and {"name": "Cy"} in owners and None in owners
    assert [e.path for e in result.errors] == [["pets", 6, "owner"]]
    lost = await schema(PlannedExecution).execute(
        "{ lost { id owner { name } boss { name } } }", context_value=Context()
    )
    assert lost.data is None and "went away" in lost.errors[0].message


async def test_a_row_relation_builds_each_row_once_per_request():
    """A row named by several parents (a dozen assignees of a list of 100) is built once."""
    built: list[int] = []
    original = Person.from_row.__func__

    def counting(cls, row):
        built.append(row.id)
        return original(cls, row)

    Person.from_row = classmethod(counting)  # type: ignore[method-assign]
    try:
        await schema(PlannedExecution).execute(
            "{ pets { owner { name } boss { name } } }", context_value=Context()
        )
    finally:
        Person.from_row = classmethod(original)  # type: ignore[method-assign]
    assert sorted(built) == sorted(set(built))


# A union's items (a timeline's messages and activities): each item's object type and
# selection is found once per class and selection in an execution (graph.schema.plan
# ``_runtime``), and the answers are graphql-core's, cast items and another member's
# subclass included.


@strawberry.type
class Toy:
    row: strawberry.Private[Any]
    id: int
    owner: Person | None = strawberry.field(
        resolver=row_relation("person", "owner_id", lambda: Person.from_row)
    )


@strawberry.type
class Robot:
    id: int
    model: str


class FancyRobot(Robot):
    """Not a strawberry type of its own: resolves as ``Robot`` (an instance of its class)."""


class Disguised:
    """A plain object cast to ``Robot`` (strawberry.cast)."""

    id = 7
    model = "cast"


Thing = Annotated[Toy | Robot, strawberry.union("Thing")]


@strawberry.type
class ThingEdge:
    node: Thing


@strawberry.type
class Things:
    @strawberry.field
    def things(self) -> list[Thing]:
        return _things()

    @strawberry.field
    def edges(self) -> list[ThingEdge]:
        return [ThingEdge(node=node) for node in _things()]


def _things() -> list[Any]:
    return [
        Toy(row=PetRow(1, 1, None), id=1),
        Robot(id=2, model="R2"),
        Toy(row=PetRow(3, None, None), id=3),
        strawberry.cast(Robot, Disguised()),
        FancyRobot(id=5, model="fancy"),
        Robot(id=6, model="R6"),
        Toy(row=PetRow(7, 2, None), id=7),
    ]


THING = "__typename ... on Toy { id owner { name } } ... on Robot { id model }"
UNION_DOCUMENTS = [
    f"{{ things {{ {THING} }} }}",
    f"{{ edges {{ node {{ {THING} }} }} }}",
    f"{{ edges {{ node {{ {THING} }} again: node {{ ... on Robot {{ model }} }} }} }}",
]


def union_schema(execution: type) -> strawberry.Schema:
    built = strawberry.Schema(query=Things, execution_context_class=execution)
    resolve_directly(built)
    return built


@pytest.mark.parametrize("document", UNION_DOCUMENTS)
async def test_union_items_answer_as_graphql_core_does(document):
    expected = await union_schema(StrawberryGraphQLCoreExecutionContext).execute(
        document, context_value=Context()
    )
    got = await union_schema(PlannedExecution).execute(document, context_value=Context())
    assert not expected.errors
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or ()] == []
    assert '"model": "cast"' in str(got.data).replace("'", '"')  # the cast item answered


async def test_a_union_resolves_each_class_once_per_selection():
    """Seven items of two classes (a cast one and a subclass apart) on one selection: the
    union's type resolver runs for the first of each class, the cast item and the subclass
    (graph.schema.plan ``_runtime``), not for each item."""
    built = union_schema(PlannedExecution)
    union = built._schema.get_type("Thing")
    original = union.resolve_type
    calls: list[str] = []

    def counting(value, info, abstract_type):
        calls.append(type(value).__name__)
        return original(value, info, abstract_type)

    union.resolve_type = counting
    result = await built.execute(f"{{ edges {{ node {{ {THING} }} }} }}", context_value=Context())
    assert not result.errors
    assert len(result.data["edges"]) == 7
    assert sorted(calls) == ["Disguised", "FancyRobot", "Robot", "Toy"]


def test_the_timeline_relations_are_row_relations():
    """The relations a timeline's items and a contact panel's activities select are resolved
    by the plans from their declaration (graph.loaders.row_relation), not by a resolver."""
    from graph.schema import schema as product
    from graph.schema.plan import _row_relation

    declared = {}
    for type_name, field_name in (
        ("Message", "author"),
        ("Message", "conversation"),
        ("Message", "channel"),
        ("Activity", "author"),
    ):
        field_def = product._schema.get_type(type_name).fields[field_name]
        relation = _row_relation(field_def)
        assert relation is not None, (type_name, field_name)
        declared[(type_name, field_name)] = (relation.loader, relation.key)
    assert declared == {
        ("Message", "author"): ("user", "author_id"),
        ("Message", "conversation"): ("conversation", "conversation_id"),
        ("Message", "channel"): ("channel", "channel_id"),
        ("Activity", "author"): ("user", "author_id"),
    }

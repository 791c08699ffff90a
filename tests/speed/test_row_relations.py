"""Relations declared with ``graph.loaders.row_relation`` (issue 23): a selection plan
resolves them without calling their resolver (``graph.schema.plan``), and must answer as
graphql-core calling the resolver does, on every path a relation can take: a row its loader
already holds (the usual case: a list preloaded it), no key, a key of no row (another
workspace's), a row not loaded yet (an awaitable), a loader that fails, a parent without a
row, a context without loaders, each on a nullable and a non-null field."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

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

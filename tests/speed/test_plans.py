"""Selection plans (``graph.schema.plan``) on the paths the product's data never takes: a small
schema whose fields fail in every way graphql-core distinguishes (an error raised or returned,
a null for a non-null field or list item, an awaitable, a failing awaitable, a value of the
wrong type, a serialiser refusing its value) is executed with plans and with graphql-core
alone, and the results (data, and the errors with their messages, paths and locations) must be
the same. The product's operations are compared over HTTP in ``test_plain_leaves.py``."""

from __future__ import annotations

import asyncio
import enum
import gc
import warnings
import weakref
from collections.abc import AsyncGenerator
from inspect import isawaitable
from typing import Annotated, Any, Generic, TypeVar

import pytest
import strawberry
from graphql import execute, parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.loaders import Loader, Loaders
from graph.resolvers.node import _reader as node_reader
from graph.resolvers.pages import channels_of, pages_of, sharing_of, together
from graph.schema.ahead import selected_fields
from graph.schema.direct import PlainLeavesExecution, resolve_directly
from graph.schema.plan import PlannedExecution


async def later(value):
    await asyncio.sleep(0)
    return value


async def failing():
    await asyncio.sleep(0)
    raise ValueError("later, broken")


@strawberry.enum
class Mood(enum.Enum):
    CALM = "calm"
    BUSY = "busy"


@strawberry.interface
class Named:
    n: int


@strawberry.type
class Leaf(Named):
    text: str | None
    mood: Mood | None = None

    @strawberry.field
    def moods(self) -> Mood:
        return Mood.BUSY if self.n % 2 else "calm"  # type: ignore[return-value]

    @strawberry.field
    def bad_mood(self) -> Mood | None:
        return "sulky"  # type: ignore[return-value]

    # leaves whose resolvers take info (a masked number): a value, an awaitable, an error
    @strawberry.field
    def seen(self, info: strawberry.Info) -> str | None:
        assert info.field_name == "seen" and info.path.key == "seen"
        if self.n == 1:
            return later(f"s{self.n}")  # type: ignore[return-value]
        if self.n == 2:
            raise ValueError("unseen")
        return f"s{self.n}"

    @strawberry.field
    def seen_mood(self, info: strawberry.Info) -> Mood:
        return [Mood.CALM, "busy", None][self.n]  # type: ignore[return-value]

    @strawberry.field
    def tags(self, info: strawberry.Info) -> list[str]:
        assert info.path.key == "tags"
        if self.n == 2:
            return later(["c"])  # type: ignore[return-value]
        return [["a", "b"], ["a", None]][self.n]  # type: ignore[list-item]

    @strawberry.field
    def maybe_tags(self, info: strawberry.Info) -> list[str | None] | None:
        return [None, ["x", None], [1, "y"]][self.n]  # type: ignore[return-value]

    @strawberry.field
    def no_tags(self, info: strawberry.Info) -> list[str]:
        return [[], None, ValueError("no tags")][self.n]  # type: ignore[return-value]

    @strawberry.field
    def masked_tags(self, info: strawberry.Info) -> list[str]:
        # a channel's handles before the request has read the workspace: an awaitable of the
        # list whose items are awaitables made at once (graph.loaders.then, one per handle)
        items = [later(f"m{self.n}"), later("x")]

        async def gathered() -> list[str]:
            return [await item for item in items]

        return gathered()  # type: ignore[return-value]

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("broken leaf")

    @strawberry.field
    def required(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    def returned(self) -> str | None:
        return ValueError("returned error")  # type: ignore[return-value]

    @strawberry.field
    def wrong(self) -> int | None:
        return "not a number"  # type: ignore[return-value]

    @strawberry.field
    def slow(self) -> int:
        return later(self.n)  # type: ignore[return-value]


@strawberry.type
class Other:
    m: int


Shape = Annotated[Leaf | Other, strawberry.union("Shape")]


T = TypeVar("T")


@strawberry.type
class Box(Generic[T]):
    """A generic's specialisation (``OtherBox``) has no exact class: its values are Boxes."""

    n: int
    item: T


LOADS: dict[int, asyncio.Future] = {}
"""Item ``shieldedFailing``'s load per item, as a loader's cache holds it."""


@strawberry.type
class Item:
    n: int
    leaf: Leaf
    maybe: Leaf | None
    leaves: list[Leaf]
    holes: list[Leaf | None]

    @strawberry.field
    def missing(self) -> Leaf:
        return None  # type: ignore[return-value]

    @strawberry.field
    def raising(self) -> Leaf | None:
        raise ValueError("broken relation")

    @strawberry.field
    def awaited(self, info: strawberry.Info) -> Leaf | None:
        assert info.path.key == "awaited"
        return later(self.leaf)  # type: ignore[return-value]

    @strawberry.field
    def awaited_failing(self) -> Leaf | None:
        return failing()  # type: ignore[return-value]

    @strawberry.field
    def shielded_failing(self) -> Leaf | None:
        # what a loader hands out while its load is under way: a shield (a future, no close())
        # of the one load every resolve of the row shares
        load = LOADS.get(id(self))
        if load is None:
            load = LOADS[id(self)] = asyncio.ensure_future(failing())
        return asyncio.shield(load)  # type: ignore[return-value]

    @strawberry.field
    def stranger(self) -> Leaf | None:
        return Item(n=0, leaf=self.leaf, maybe=None, leaves=[], holes=[])  # type: ignore[return-value]

    @strawberry.field
    def cast_away(self) -> Leaf | None:
        # a Leaf cast to another type: Leaf's is_type_of (it has an interface) refuses it
        return strawberry.cast(Item, Leaf(n=self.n, text=None))  # type: ignore[return-value]

    @strawberry.field
    def cast_here(self, info: strawberry.Info) -> Leaf | None:
        assert info.field_name == "castHere" and info.context is None
        return strawberry.cast(Leaf, Leaf(n=self.n, text="cast"))

    @strawberry.field
    def cast_list(self) -> list[Leaf | None]:
        return [self.leaf, strawberry.cast(Item, Leaf(n=1, text=None)), None]  # type: ignore[list-item]

    @strawberry.field
    def shape(self) -> Shape:
        return self.leaf if self.n % 2 else Other(m=self.n)

    @strawberry.field
    def shapes(self) -> list[Shape | None]:
        return [self.leaf, Other(m=1), None]

    @strawberry.field
    def wrong_shape(self) -> Shape | None:
        return Item(n=0, leaf=self.leaf, maybe=None, leaves=[], holes=[])  # type: ignore[return-value]

    @strawberry.field
    def cast_shape(self) -> Shape | None:
        return strawberry.cast(Other, Leaf(n=self.n, text=None))  # type: ignore[return-value]

    @strawberry.field
    def turning_shape(self) -> Shape | None:
        # a Leaf, then a Leaf cast to Other (after Leaf was met), then a Leaf again
        if self.n == 1:
            return strawberry.cast(Other, Leaf(n=self.n, text=None))  # type: ignore[return-value]
        return self.leaf

    @strawberry.field
    def boxes(self) -> list[Box[Other] | None]:
        # a type without is_type_of (no interface): graphql-core checks only errors and
        # awaitables, which a plan must leave to it
        boxes: list[Any] = [Box(n=self.n, item=Other(m=1)), None, Box(n=2, item=Other(m=2))]
        if self.n == 1:
            boxes.insert(1, ValueError("an error in a list"))
        if self.n == 2:
            boxes.append(later(Box(n=3, item=Other(m=3))))
        return boxes

    # async resolvers: awaited by the plan, completed as graphql-core completes them
    @strawberry.field
    async def fetched(self) -> Leaf | None:
        await asyncio.sleep(0)
        return self.leaf

    @strawberry.field
    async def fetched_list(self) -> list[Leaf]:
        return [self.leaf, None] if self.n == 1 else [self.leaf]  # type: ignore[list-item]

    @strawberry.field
    async def fetched_awaitables(self) -> list[Leaf | None]:
        # a list of a loader's loads, not awaited by the resolver: graphql-core awaits each
        return [later(self.leaf), None, later(None)]  # type: ignore[list-item]

    @strawberry.field
    async def fetched_missing(self) -> Leaf:
        return None  # type: ignore[return-value]

    @strawberry.field
    async def fetched_stranger(self) -> Leaf | None:
        return Item(n=0, leaf=self.leaf, maybe=None, leaves=[], holes=[])  # type: ignore[return-value]

    @strawberry.field
    async def fetched_broken(self) -> Leaf | None:
        await asyncio.sleep(0)
        raise ValueError("broken, later")

    @strawberry.field
    async def fetched_shape(self) -> Shape:
        return self.leaf if self.n % 2 else Other(m=self.n)

    # fields with arguments of built-in scalars: called by the plan with graphql-core's
    # coerced arguments, as strawberry's wrapper calls them
    @strawberry.field
    def picked(
        self, info: strawberry.Info, first: int | None = None, after: str | None = "a"
    ) -> list[Leaf] | None:
        assert info.context is None
        if first is not None and first < 0:
            raise ValueError("first must be positive")
        return [self.leaf, Leaf(n=self.n + 10, text=after)][: first if first is not None else 2]

    @strawberry.field
    async def fetched_page(
        self, size: int, label: strawberry.ID | None = None
    ) -> Box[Other] | None:
        await asyncio.sleep(0)
        if size == 0:
            raise ValueError("no page")
        return Box(n=size, item=Other(m=len(label or "")))

    @strawberry.field
    def named(self) -> Named:
        return self.leaf

    @strawberry.field
    def nameds(self) -> list[Named | None]:
        return [self.leaf, None, self.leaf]

    @strawberry.field
    def wrong_named(self) -> Named | None:
        return Other(m=self.n)  # type: ignore[return-value]

    @strawberry.field
    def nulls_in_list(self) -> list[Leaf]:
        return [self.leaf, None]  # type: ignore[list-item]

    @strawberry.field
    def not_a_list(self) -> list[Leaf] | None:
        return 3  # type: ignore[return-value]


def _item(n: int) -> Item:
    leaf = Leaf(n=n, text=None if n % 2 else f"t{n}", mood=[None, Mood.CALM, "busy"][n])
    return Item(
        n=n, leaf=leaf, maybe=None if n % 2 else leaf, leaves=[leaf, leaf], holes=[None, leaf]
    )


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [_item(n) for n in range(3)]


def schema(execution: type) -> strawberry.Schema:
    built = strawberry.Schema(query=Query, execution_context_class=execution)
    resolve_directly(built)
    return built


LEAVES = "n text broken returned wrong"
DOCUMENTS = [
    f"{{ items {{ n leaf {{ {LEAVES} }} maybe {{ n text }} leaves {{ n }} holes {{ n }} }} }}",
    "{ items { n leaf { required } } }",
    "{ items { n leaf { slow n } maybe { slow } } }",
    "{ items { n missing { n } } }",
    "{ items { raising { n } awaited { n slow text } awaitedFailing { n } } }",
    "{ items { stranger { n } } }",
    "{ items { n shieldedFailing { n } } }",
    "{ items { nullsInList { n } } }",
    "{ items { notAList { n } maybe { n } } }",
    "{ items { holes { required } } }",
    "{ items { leaves { n required } } }",
    "{ items { leaves { slow required } } }",
    "{ items { a: leaf { x: n } ... on Item { leaf { text } } b: leaves { __typename n } } }",
    "query($y: Boolean!) { items { leaf @include(if: $y) { n } maybe @skip(if: $y) { n } } }",
    "{ items { leaf { n mood moods } leaves { mood } holes { moods } } }",
    "{ items { leaf { badMood n } } }",
    "{ items { n castAway { n } castHere { n text } } }",
    "{ items { castList { n mood } } }",
    (
        "{ items { shape { __typename ... on Leaf { n mood } ... on Other { m } } "
        "shapes { __typename ... on Leaf { text } ... on Other { m } } } }"
    ),
    "{ items { wrongShape { __typename } castShape { __typename ... on Other { m } } } }",
    "{ items { turningShape { __typename ... on Leaf { n text } ... on Other { m } } } }",
    "{ items { n boxes { n __typename item { m } } } }",
    "{ items { leaf { n seen tags maybeTags } leaves { seenMood } } }",
    "{ items { leaf { noTags } holes { seen maybeTags } } }",
    "{ items { leaf { maskedTags n } leaves { maskedTags } } }",
    (
        "query($f: Int, $l: ID) { items { all: picked { n text } one: picked(first: 1) { n } "
        "none: picked(first: null, after: null) { n text } bad: picked(first: -1) { n } "
        "v: picked(first: $f) { n } p: fetchedPage(size: 2, label: $l) { n item { m } } "
        'q: fetchedPage(size: 0) { n } r: fetchedPage(size: 3, label: "xyz") { n } } }'
    ),
    (
        "{ items { n fetched { n slow text } fetchedList { n } fetchedMissing { n } "
        "fetchedStranger { n } fetchedBroken { n } fetchedAwaitables { n text } "
        "fetchedShape { __typename ... on Other { m } ... on Leaf { n } } } }"
    ),
    "{ items { named { n __typename ... on Leaf { text } } nameds { n } wrongNamed { n } } }",
]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_plans_answer_as_graphql_core_does(document):
    expected = await schema(StrawberryGraphQLCoreExecutionContext).execute(
        document, variable_values={"y": True}
    )
    for execution in (PlainLeavesExecution, PlannedExecution):
        got = await schema(execution).execute(document, variable_values={"y": True})
        assert got.data == expected.data, execution
        assert [e.formatted for e in got.errors or ()] == [
            e.formatted for e in expected.errors or ()
        ], execution


async def test_the_documents_fail_where_they_should():
    """The comparison above is not of answers without errors."""
    failed = 0
    for document in DOCUMENTS:
        result = await schema(PlannedExecution).execute(document, variable_values={"y": True})
        failed += bool(result.errors)
    assert failed >= 14


async def test_an_awaitable_a_plan_leaves_to_graphql_core_leaves_no_warning():
    """A relation whose resolver returns an awaitable goes to graphql-core, which resolves it
    again: the plan's own awaitable (a coroutine, or a loader's shielded future that then
    fails) must not be left to warn "never awaited" or "exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    LOADS.clear()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        for document in (
            "{ items { n shieldedFailing { n } } }",
            "{ items { awaited { n } awaitedFailing { n } } }",
        ):
            result = await schema(PlannedExecution).execute(document)
            assert result.errors  # the failing ones were reported once, by graphql-core
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert reported == []


async def test_a_list_of_leaves_awaited_leaves_no_coroutine_unawaited():
    """A list of leaves whose resolver takes info and returns an awaitable holding awaitables
    of its own (a channel's ``handles`` of phone numbers, before the request read the
    workspace: ``graph.permissions.fields.number_as_seen``) answers as graphql-core does, and
    no coroutine the resolver made is left to warn "never awaited" in the server's log."""
    document = "{ items { n leaf { maskedTags } } }"
    expected = await schema(StrawberryGraphQLCoreExecutionContext).execute(document)
    assert expected.data["items"][0]["leaf"]["maskedTags"] == ["m0", "x"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = await schema(PlannedExecution).execute(document)
        gc.collect()
    assert got.data == expected.data and got.errors == expected.errors
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_a_plan_shared_between_executions_follows_each_ones_variables():
    """Executions of one parsed document share their plans (as the product's cached
    documents do), keyed by the values of its Boolean variables: each execution must still
    answer as graphql-core does for its own ``@include``/``@skip``."""
    document = parse(
        "query($y: Boolean!, $m: Boolean!) { items { n leaf @include(if: $y) { n text } "
        "maybe @skip(if: $y) { n } leaves { n ... on Leaf @include(if: $m) { mood text } } } }"
    )
    planned, plain = schema(PlannedExecution), schema(StrawberryGraphQLCoreExecutionContext)
    for y, m in [(True, True), (False, True), (True, False), (False, False), (True, True)]:
        answers = []
        for built, execution in (
            (plain, StrawberryGraphQLCoreExecutionContext),
            (planned, PlannedExecution),
        ):
            result = execute(
                built._schema,
                document,
                variable_values={"y": y, "m": m},
                executor_class=execution,
            )
            if isawaitable(result):
                result = await result
            answers.append((result.data, [e.formatted for e in result.errors or ()]))
        assert answers[0] == answers[1], (y, m)
        assert ("leaf" in answers[1][0]["items"][0]) is y


async def test_a_unions_members_met_by_one_execution_answer_the_next_as_graphql_core_does():
    """A plan's relation to a union keeps the members it met by their class (a timeline's
    messages and activities) for the executions sharing the plan: the later executions of one
    parsed document answer as graphql-core does, casts and strangers included."""
    document = parse(
        "{ items { shape { __typename ... on Leaf { n mood } ... on Other { m } } "
        "turningShape { __typename ... on Leaf { n } ... on Other { m } } "
        "wrongShape { __typename } castShape { __typename } } }"
    )
    planned, plain = schema(PlannedExecution), schema(StrawberryGraphQLCoreExecutionContext)
    expected = execute(
        plain._schema, document, executor_class=StrawberryGraphQLCoreExecutionContext
    )
    if isawaitable(expected):
        expected = await expected
    assert expected.errors and expected.data["items"][0]["shape"] == {"__typename": "Other", "m": 0}
    for _ in range(3):
        result = execute(planned._schema, document, executor_class=PlannedExecution)
        if isawaitable(result):
            result = await result
        assert result.data == expected.data
        assert [e.formatted for e in result.errors] == [e.formatted for e in expected.errors]


async def test_a_plan_shared_between_executions_calls_each_with_its_own_arguments():
    """A field's arguments come from each execution's variables, not from the plan shared by
    executions of one parsed document (a timeline's ``first``)."""
    document = parse(
        "query($f: Int, $l: ID) { items { picked(first: $f) { n text } "
        "fetchedPage(size: 2, label: $l) { n item { m } } } }"
    )
    planned, plain = schema(PlannedExecution), schema(StrawberryGraphQLCoreExecutionContext)
    for variables in [{"f": 1, "l": "ab"}, {"f": 2}, {"f": None, "l": None}, {"f": -1}, {}]:
        answers = []
        for built, execution in (
            (plain, StrawberryGraphQLCoreExecutionContext),
            (planned, PlannedExecution),
        ):
            result = execute(
                built._schema, document, variable_values=variables, executor_class=execution
            )
            if isawaitable(result):
                result = await result
            answers.append((result.data, [e.formatted for e in result.errors or ()]))
        assert answers[0] == answers[1], variables
    assert len(answers[1][0]["items"][0]["picked"]) == 2


class Held:
    """A context whose end is observed (``weakref``)."""


async def answer_freed(
    built: strawberry.Schema, document: str, **kwargs: Any
) -> tuple[Any, list[str]]:
    """``built``'s answer to ``document`` (its data and error messages), after checking, with
    the cyclic garbage collector off, that the execution's context went as soon as the
    answer was dropped (reference counting alone: no cycle kept it)."""
    gc.collect()
    gc.disable()
    try:
        context = Held()
        gone = weakref.ref(context)
        result = await built.execute(document, context_value=context, **kwargs)
        data, errors = result.data, [e.message for e in result.errors or ()]
        del context, result
        assert gone() is None
        return data, errors
    finally:
        gc.enable()


async def test_a_completed_execution_is_freed_without_the_cyclic_collector():
    """graphql-core's executor holds its own bound methods (``async_helpers``): in that cycle
    it kept the request's context, and with it the loaders, rows and objects of a list, until
    the cyclic garbage collector's next collection (a tenth of a list's CPU). A planned
    execution leaves the cycle once it has answered: its context goes as soon as it is
    dropped."""
    data, errors = await answer_freed(schema(PlannedExecution), "{ items { n leaf { n } } }")
    assert data and not errors


async def test_an_execution_answered_with_errors_is_freed_without_the_cyclic_collector():
    """A field's error holds, through its traceback, the frames it was raised through: the
    executor's own (its ``self``), and the gather that awaited it (its tasks, which hold the
    error). The executor holding its errors made a cycle of each: a request answered with an
    error (a bad cursor, a row that is not there) kept its context, loaders and rows until
    the cyclic garbage collector's next collection. The response takes the errors, their
    frames cleared (``graph.errors.forget_frames``)."""
    data, errors = await answer_freed(
        schema(PlannedExecution), "{ items { n awaitedFailing { n } awaited { n } } }"
    )
    assert data and len(errors) == 3


@strawberry.type
class AheadQuery:
    @strawberry.field
    def item(self, info: strawberry.Info) -> Item:
        # a root field reading its selection ahead, as node(id) for a timeline and contact(id)
        # for a panel do (graph.schema.ahead)
        found = selected_fields(info, "Item", ("leaf",))
        assert found is not None and [n.name.value for n in found["leaf"]] == ["leaf", "leaf"]
        return _item(2)


async def test_a_root_field_reading_its_selection_ahead_is_freed_without_the_cyclic_collector():
    """``selected_fields`` walked a selection with a recursive closure, which refers to itself
    through its own cell: that cycle held the resolve info it read, and with it the executor,
    the request's context, loaders and rows (every timeline and contact panel), until the
    cyclic garbage collector's next collection."""
    built = strawberry.Schema(query=AheadQuery, execution_context_class=PlannedExecution)
    resolve_directly(built)
    document = "{ item { n leaf { n } ... on Item { leaf { text } ... Leafy } } } "
    document += "fragment Leafy on Item { n }"
    data, errors = await answer_freed(built, document)
    assert data == {"item": {"n": 2, "leaf": {"n": 2, "text": "t2"}}} and not errors


@strawberry.type
class Ticks:
    @strawberry.subscription
    async def tick(self, count: int = 3) -> AsyncGenerator[Item, None]:
        for n in range(count):
            yield _item(n)


def live_schema() -> strawberry.Schema:
    built = strawberry.Schema(
        query=Query, subscription=Ticks, execution_context_class=PlannedExecution
    )
    resolve_directly(built)
    return built


async def test_an_event_executed_as_its_subscription_is_freed_without_the_cyclic_collector():
    """Every live payload executes the subscription's document with the event as its root
    (``graph.fanout.execute_payload``): that execution leaves graphql-core's cycle too, its
    context (the subscriber's loaders, rows and objects) freed as soon as it is dropped."""
    data, errors = await answer_freed(
        live_schema(), "subscription { tick { n leaf { n } } }", root_value=_item(2)
    )
    assert data == {"tick": {"n": 2, "leaf": {"n": 2}}} and not errors


async def test_a_subscriptions_later_events_run_with_their_executors_helpers():
    """graphql-core executes each event of a subscription with a copy of its executor, which
    shares the original's helpers: the first event's completion must not take them from the
    next ones (each still completes, through the plans, as the first)."""
    built = live_schema()
    stream = await built.subscribe("subscription { tick(count: 3) { n leaf { n } } }")
    results = [result async for result in stream]
    assert [r.data for r in results] == [{"tick": {"n": n, "leaf": {"n": n}}} for n in range(3)]
    assert not any(r.errors for r in results)


def test_a_loader_is_freed_without_the_cyclic_collector():
    """A loader's batch function holds its futures, not the loader (the same cycle kept a
    request's rows and built objects)."""

    async def load(keys):
        return list(keys)

    gc.collect()
    gc.disable()
    try:
        loader = Loader(load_fn=load)
        gone = weakref.ref(loader)
        del loader
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "name", ["user", "contact", "team", "shared_users", "shared_teams", "mentions", "shares"]
)
def test_a_requests_loaders_are_freed_without_the_cyclic_collector(name):
    """Every loader a request may make holds what its batches read, not the request's
    :class:`Loaders`: the team loader (a user's teams, a team inbox's team) and a custom inbox's
    shared users and teams held them through their batch function, and with them every row,
    future and built object of the request, until the cyclic collector's next collection."""
    gc.collect()
    gc.disable()
    try:
        loaders = Loaders(1)
        getattr(loaders, name)
        gone = weakref.ref(loaders)
        del loaders
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "table",
    [
        lambda loaders: node_reader(loaders, "Conversation"),
        lambda loaders: pages_of(loaders),
        lambda loaders: channels_of(loaders),
        lambda loaders: sharing_of(loaders, None, 3),
        lambda loaders: together(loaders),
    ],
    ids=["node", "pages", "channels", "sharing", "together"],
)
def test_a_requests_loaders_are_freed_after_its_batch_tables_made_their_loaders(table):
    """``node(id)``'s readers and the pages, channels and merge suggestions of a panel keep
    their loaders in tables keyed weakly by the request's :class:`Loaders`; a batch function
    closing over the request's loaders kept its own key alive, so every timeline and contact
    panel stayed in memory for the life of the process (about 130 objects a request, the
    cyclic collector could not free them either)."""
    gc.collect()
    gc.disable()
    try:
        loaders = Loaders(1)
        table(loaders)
        gone = weakref.ref(loaders)
        del loaders
        assert gone() is None
    finally:
        gc.enable()

"""Selection plans: an object's selection completed by a loop compiled once (issue 23).

graphql-core completes every object of a response through the same general steps: for each
field, ``execute_field`` builds its resolve info, calls the resolver, and ``complete_value``
walks the field's type (non-null, list, leaf, abstract, object) to find what to do with the
value; for an object it checks ``is_type_of``, looks up its collected sub-fields and calls
``execute_fields`` again. A page of 100 conversations with contact, assignee and last message
goes through these steps for about 400 objects and 1,500 fields, always deciding the same.

:class:`PlannedExecution` decides once. For each collected selection of an object type (what
graphql-core's ``collect_subfields`` returns: fragments, ``@skip``/``@include`` and aliases
already applied, memoised per operation by graphql-core) it compiles a plan, one step per
response key:

- ``__typename``: the type's name;
- a plain leaf (:data:`graph.schema.direct.PLAIN_LEAF`): the value read and serialised (a
  ``str`` of a ``String`` or ``ID``, a ``bool`` of a ``Boolean``, taken as it is: what
  graphql-core's serialiser would return);
- a relation (a field :func:`graph.schema.direct.resolve_directly` hands to graphql-core,
  returning an object, or a list of objects, of one object type): the resolver called (with a
  resolve info only when it takes one) and the object(s) completed by the sub-selection's plan;
- anything else (arguments, abstract types, ``async`` resolvers, directives on the field,
  ``@defer``/``@stream``): graphql-core's ``execute_field``, as without plans.

A step that meets anything unusual (an error, an awaitable, a null for a non-null field or
list item, a value ``is_type_of`` refuses, a serialiser refusing a value) before completing
anything hands its field to graphql-core's ``execute_field``, which resolves it again (these
resolvers are plain reads) and reports it as it always did; errors raised while completing a
relation's objects are handled by graphql-core's ``handle_field_error`` at the same paths as
graphql-core's own completion would, and awaitables are gathered in the same order, so the
JSON, errors and their paths are the same (``tests/speed/test_plain_leaves.py`` compares the
three ways byte for byte over the product's operations and users; ``tests/speed/test_plans.py``
the failing paths against graphql-core alone). Plans live as long as their operation's
execution: compiling the handful of selections of a document costs far less than one page of
objects, and graphql-core's collected selections (what they are compiled from) are themselves
per operation, as they depend on its variables. Root fields are never planned: scopes, costs and the root
resolvers run as before. ``INBOX_GRAPH_PLANS=0`` turns it off (plain leaves stay on).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
)
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_string

from graph.schema.direct import DIRECT, PLAIN_LEAF, PlainLeavesExecution

_DELEGATE, _TYPENAME, _LEAF, _OBJECT, _LIST = range(5)
_UNUSUAL = object()
_PLAIN_VALUES = frozenset({str, int, float, bool, datetime})
"""Types of leaf values that are never an error nor an awaitable (checked without calls)."""
_SERIALIZED_AS_IS = {serialize_string: str, serialize_id: str, serialize_boolean: bool}
"""graphql-core's serialisers that return a value of exactly this type as it is: not called."""


def _discard(value: Any) -> None:
    """Drop an awaitable a plan will not await (graphql-core resolves its field again): a
    coroutine is closed, a pending future cancelled (a loader hands out a shield of its load:
    the load itself goes on for the second resolve), a failed one's exception marked as seen,
    so that none warns it was never awaited or its exception never retrieved (the log of a
    database outage filled with those)."""
    if isinstance(value, asyncio.Future):
        if not value.done():
            value.cancel()
        elif not value.cancelled():
            value.exception()
        return
    close = getattr(value, "close", None)
    if close is not None:
        close()


def _object_type(graphql_type: Any) -> tuple[GraphQLObjectType, bool] | None:
    """``(object type, nullable)`` of a field or list item type of one object type."""
    nullable = not isinstance(graphql_type, GraphQLNonNull)
    named = graphql_type if nullable else graphql_type.of_type
    if isinstance(named, GraphQLObjectType):
        return named, nullable
    return None


class PlannedExecution(PlainLeavesExecution):
    """strawberry's executor, completing objects by plans (see the module docstring)."""

    _plans: dict[int, tuple[Any, tuple[Any, ...] | None]] | None = None

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Any:
        plans = self._plans
        if plans is None:
            plans = self._plans = {}
            schema = self.schema
            self._roots = {schema.query_type, schema.mutation_type, schema.subscription_type}
            middleware = self.middleware_manager
            self._planning = not (middleware is not None and middleware.middlewares)
        key = id(grouped_field_set)
        found = plans.get(key)
        if found is not None and found[0] is grouped_field_set:
            return found[1]
        plan = None
        if self._planning and parent_type not in self._roots:
            plan = tuple(self._compile(parent_type, grouped_field_set))
        # the grouped field set is kept alive with its plan: its id is not reused meanwhile
        plans[key] = (grouped_field_set, plan)
        return plan

    def _compile(self, parent_type: GraphQLObjectType, grouped_field_set: Any):
        fields = parent_type.fields
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            if (
                node.directives
                or node.arguments
                or any(d.defer_usage is not None or d.node.directives for d in details)
            ):
                yield (response_name, _DELEGATE, details, None)
                continue
            if name == "__typename":
                yield (response_name, _TYPENAME, details, parent_type.name)
                continue
            field_def = fields.get(name)
            extensions = field_def.extensions if field_def is not None else None
            if not extensions:
                yield (response_name, _DELEGATE, details, None)
                continue
            plain = extensions.get(PLAIN_LEAF)
            if plain is not None:
                read, leaf, nullable = plain
                same = _SERIALIZED_AS_IS.get(leaf.serialize)
                yield (response_name, _LEAF, details, (read, leaf.serialize, nullable, same))
                continue
            direct = extensions.get(DIRECT)
            if direct is None or field_def.args:
                yield (response_name, _DELEGATE, details, None)
                continue
            field_type = field_def.type
            named = _object_type(field_type)
            kind = _OBJECT
            item_nullable = True
            if named is None:
                listed = field_type.of_type if isinstance(field_type, GraphQLNonNull) else None
                listed = listed or field_type
                if isinstance(listed, GraphQLList):
                    named = _object_type(listed.of_type)
                    kind = _LIST
                if named is None:
                    yield (response_name, _DELEGATE, details, None)
                    continue
                item_nullable = named[1]
            object_type, _ = named
            grouped, new_defer_usages, *_ = self.collect_subfields(object_type, details)
            if new_defer_usages:
                yield (response_name, _DELEGATE, details, None)
                continue
            resolve, needs_info = direct
            yield (
                response_name,
                kind,
                details,
                (
                    field_def,
                    resolve,
                    needs_info,
                    object_type,
                    not isinstance(field_type, GraphQLNonNull),
                    item_nullable,
                    grouped,
                ),
            )

    def execute_fields(
        self,
        parent_type: Any,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plans = self._plans
        found = plans.get(id(grouped_field_set)) if plans is not None else None
        if found is not None and found[0] is grouped_field_set:
            plan = found[1]
        else:
            plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        parent_name = parent_type.name
        try:
            for response_name, kind, details, data in plan:
                if kind is _LEAF:  # as graph.schema.direct's execute_field, inlined
                    read, serialize, nullable, same = data
                    try:
                        value = read(source_value)
                        if value is None:
                            if nullable:
                                results[response_name] = None
                                continue
                        elif type(value) is same:
                            results[response_name] = value
                            continue
                        elif type(value) in _PLAIN_VALUES or not (
                            isinstance(value, Exception) or is_awaitable(value)
                        ):
                            value = serialize(value)
                            if value is not None and value is not Undefined:
                                results[response_name] = value
                                continue
                        else:
                            _discard(value)
                    except Exception:  # noqa: BLE001,S110 - graphql-core's path reports it
                        pass
                elif kind is _TYPENAME:
                    results[response_name] = data
                    continue
                elif kind is not _DELEGATE:
                    result = self._relation(
                        kind,
                        parent_type,
                        source_value,
                        details,
                        Path(path, response_name, parent_name),
                        data,
                    )
                    if result is not _UNUSUAL:
                        results[response_name] = result
                        if is_awaitable(result):
                            awaitable_fields.append(response_name)
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_name),
                    None,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gather_fields(results, awaitable_fields)

    def _relation(
        self,
        kind: int,
        parent_type: GraphQLObjectType,
        source: Any,
        details: Any,
        path: Path,
        data: Any,
    ) -> Any:
        """A relation's completed value, or :data:`_UNUSUAL` before anything is completed."""
        field_def, resolve, needs_info, object_type, nullable, item_nullable, grouped = data
        info = (
            self.build_resolve_info(field_def, [d.node for d in details], parent_type, path)
            if needs_info
            else None
        )
        try:
            value = resolve(source, info)
        except Exception:  # noqa: BLE001 - graphql-core's path reports it
            return _UNUSUAL
        if value is None:
            return None if nullable else _UNUSUAL
        if isinstance(value, Exception):
            return _UNUSUAL
        if self.is_awaitable(value):
            _discard(value)
            return _UNUSUAL
        is_type_of = object_type.is_type_of
        if kind is _OBJECT:
            if is_type_of is not None and is_type_of(value, info) is not True:
                return _UNUSUAL
        else:
            if not isinstance(value, list | tuple):
                return _UNUSUAL
            for item in value:
                if item is None:
                    if not item_nullable:
                        return _UNUSUAL
                elif (
                    isinstance(item, Exception)
                    or self.is_awaitable(item)
                    or (is_type_of is not None and is_type_of(item, info) is not True)
                ):
                    for dropped in value:
                        if self.is_awaitable(dropped):
                            _discard(dropped)
                    return _UNUSUAL
        field_type = field_def.type
        try:
            if kind is _OBJECT:
                completed = self.execute_fields(object_type, value, path, grouped, None)
            else:
                completed = self._items(value, object_type, item_nullable, details, path, grouped)
        except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
            self.handle_field_error(raw_error, field_type, details, path)
            return None
        if self.is_awaitable(completed):
            return self._await_field(completed, field_type, details, path)
        return completed

    def _items(
        self,
        items: Any,
        object_type: GraphQLObjectType,
        item_nullable: bool,
        details: Any,
        path: Path,
        grouped: Any,
    ) -> Any:
        """The objects of a list, as graphql-core's ``complete_iterable_value``."""
        item_type = object_type if item_nullable else GraphQLNonNull(object_type)
        completed_results: list[Any] = []
        awaitable_indices: list[int] = []
        is_awaitable = self.is_awaitable
        execute_fields = self.execute_fields
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed_results.append(None)
                    continue
                item_path = path.add_key(index, None)
                try:
                    completed = execute_fields(object_type, item, item_path, grouped, None)
                    if is_awaitable(completed):
                        completed = self._await_item(completed, item_type, details, item_path)
                        awaitable_indices.append(index)
                except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
                    self.handle_field_error(raw_error, item_type, details, item_path)
                    completed = None
                completed_results.append(completed)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed_results[i] for i in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed_results
        return _gather_items(completed_results, awaitable_indices)

    async def _await_field(self, completed: Any, field_type: Any, details: Any, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
            self.handle_field_error(raw_error, field_type, details, path)
            return None

    async def _await_item(self, completed: Any, item_type: Any, details: Any, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
            self.handle_field_error(raw_error, item_type, details, path)
            return None


async def _gather_fields(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results


async def _gather_items(completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
    if len(awaitable_indices) == 1:
        index = awaitable_indices[0]
        completed[index] = await completed[index]
    else:
        awaited = await gather_with_cancel(*(completed[i] for i in awaitable_indices))
        for index, value in zip(awaitable_indices, awaited, strict=True):
            completed[index] = value
    return completed


__all__ = ["PlannedExecution"]

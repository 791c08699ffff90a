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
- a leaf, or a list of leaves, whose synchronous resolver takes ``info``
  (:data:`graph.schema.direct.INFO_LEAF`: a masked number, a channel's handles): called with
  a resolve info made on first use, the value kept as a plain leaf's (a list when each item
  is of the type its serialiser takes as it is; an awaitable list completed by graphql-core's
  ``complete_awaitable_value``, not resolved again: the awaitables it awaits were made by
  the call);
- a relation (a field :func:`graph.schema.direct.resolve_directly` hands to graphql-core,
  returning an object, or a list of objects, of one object type, union or interface): the
  resolver called (with a resolve info only when it takes one, or to resolve an abstract
  type's runtime type as graphql-core's ``complete_abstract_value`` does) and the object(s)
  completed by the sub-selection's plan for their object type;
- a relation whose resolver returns an awaitable (an ``async`` resolver: a panel's channels
  and merge suggestions): awaited, then completed as above (graphql-core's ``complete_value``
  for anything unusual, the value as it came: its awaitables kept for it), as graphql-core's
  ``complete_awaitable_value`` does;
- a relation whose resolver takes arguments of built-in scalars only
  (:data:`graph.schema.direct.ARGUMENTS`: a connection's ``first``/``after``/``last``/
  ``before``, a timeline, a panel's activities): the arguments coerced by graphql-core from the
  field's node and the execution's variables, the resolver called as strawberry's wrapper
  would call it, its value completed as a relation's;
- anything else (other arguments, directives on the field,
  ``@defer``/``@stream``): graphql-core's ``execute_field``, as without plans.

Each plan is written out as one Python function (:func:`_generate`; its text, the same for
every execution of a document, is compiled once per process): per object it runs the steps'
usual cases inline (a plain leaf of its usual type, or of a type its serialiser takes and
that is never an error nor an awaitable, ``__typename``, a relation) and hands anything else
to the general step (:meth:`PlannedExecution._leaf`, ``_delegate``); a relation to a union (a
timeline edge's node) goes straight to the plan of the member an object of the same class
(not cast) was completed as before, in this execution or an earlier one sharing the plan
(:func:`_learn_member`). A relation's resolver
that takes ``info`` gets :class:`_Info`: its ``context`` at once, anything else from
graphql-core's resolve info built on first use; a related object of its type's own class (not
cast to another type: :func:`_exact_class`) skips the checks graphql-core would pass.

A step that meets anything unusual (an error, an awaitable, a null for a non-null field or
list item, a value ``is_type_of`` refuses, a serialiser refusing a value) before completing
anything hands its field to graphql-core's ``execute_field``, which resolves it again (these
resolvers are plain reads) and reports it as it always did; errors raised while completing a
relation's objects are handled by graphql-core's ``handle_field_error`` at the same paths as
graphql-core's own completion would, and awaitables are gathered in the same order, so the
JSON, errors and their paths are the same (``tests/speed/test_plain_leaves.py`` compares the
three ways byte for byte over the product's operations and users; ``tests/speed/test_plans.py``
the failing paths against graphql-core alone). A plan is shared by the executions of the same
parsed operation (documents are parsed once per process: ``graph.extensions``) whose Boolean
variables, the only ones ``@include`` and ``@skip`` read, have the same values
(:meth:`PlannedExecution._shared_key`; never with ``@defer``/``@stream``): compiling and
generating a list's plans cost 8 % of a list of 25. Root fields are never planned: scopes,
costs and the root resolvers run as before. ``INBOX_GRAPH_PLANS=0`` turns it off (plain leaves
stay on).
"""

from __future__ import annotations

import asyncio
import functools
import keyword
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from types import CoroutineType, GeneratorType
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
)
from graphql.execution.executor import CollectedErrors
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_string
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from graph.errors import forget_frames
from graph.kept import KeptByIdentity
from graph.loaders import ROW_RELATION, RowRelation, related
from graph.schema.direct import ARGUMENTS, DIRECT, INFO_LEAF, PLAIN_LEAF, PlainLeavesExecution
from graph.written import WrittenJson

_DELEGATE, _TYPENAME, _LEAF, _OBJECT, _LIST, _INFO_LEAF, _LEAVES = range(7)
_UNUSUAL = object()


_WRITTEN = WrittenJson
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


def _object_type(graphql_type: Any) -> tuple[Any, bool] | None:
    """``(object type, nullable)`` of a field or list item type of one object type, or of one
    abstract type (a union or an interface: the object type is resolved per value)."""
    nullable = not isinstance(graphql_type, GraphQLNonNull)
    named = graphql_type if nullable else graphql_type.of_type
    if isinstance(named, GraphQLObjectType | GraphQLUnionType | GraphQLInterfaceType):
        return named, nullable
    return None


def leave_helpers_cycle(executor: Any) -> None:
    """Take an executor out of the reference cycle graphql-core makes of it (its
    ``async_helpers`` hold its own bound methods, which hold it), for when it runs nothing
    more: it is then freed as soon as its last holder drops it, with its context, loaders,
    rows and objects, instead of by the cyclic garbage collector (milliseconds a collection,
    every 20,000 allocations: ``graph.app.settle_startup_heap``).

    A copy of an executor (graphql-core's per-event executors of a subscription, built by
    ``Executor.build_per_event_executor`` from the original) shares the original's helpers,
    bound to the original: no cycle through the copy, and they are left to the original, for
    the next events. Only the executor's own reference is dropped: whoever holds the helpers
    (a resolve info) still holds working ones."""
    helpers = executor.async_helpers
    if helpers is not None and getattr(helpers.gather, "__self__", None) is executor:
        executor.async_helpers = None


class PlannedExecution(PlainLeavesExecution):
    """strawberry's executor, completing objects by plans (see the module docstring)."""

    _plans: dict[int, tuple[Any, tuple[Any, ...] | None]] | None = None
    _runtimes: dict[tuple[int, type], tuple[Any, Any, GraphQLObjectType, Any]] | None = None
    _shared_prefix: Any = None

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's response of a completed execution, after which the execution
        leaves the reference cycle graphql-core makes of it (:func:`leave_helpers_cycle`)
        when nothing more runs (not an incremental delivery, no tracked work left): freed as
        soon as strawberry drops it, with the request's context, loaders, rows and objects
        (1,200 objects a list of 100), instead of by the cyclic garbage collector (a tenth
        of a list's CPU time went to its collections). That includes a subscription's document executed once per event with the event as its
        root (``graph.fanout.execute_payload``: every live payload). The per-event copies
        graphql-core makes of a subscription's executor share the original's helpers (bound
        to the original: no cycle through the copy) and keep them for the next events. A
        response with errors takes them from the execution, their frames cleared
        (:func:`graph.errors.forget_frames`): their tracebacks made other cycles of it."""
        response = super().build_response(data)
        if type(response) is not ExecutionResult or self.background_futures:
            return response
        leave_helpers_cycle(self)
        if response.errors:
            self.collected_errors = CollectedErrors()  # the response holds them
            forget_frames(response.errors)
        return response

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
            shared = self._shared_key(parent_type, grouped_field_set)
            kept = _SHARED_PLANS.get(shared) if shared is not None else None
            if kept is not None:
                _SHARED_PLANS.move_to_end(shared)
                plan = kept[2]
            else:
                plan = _generate(parent_type, tuple(self._compile(parent_type, grouped_field_set)))
                if shared is not None:
                    # the operation and the grouped field set (its field nodes) are kept alive
                    # with the plan: the ids in the key are not reused meanwhile
                    _SHARED_PLANS[shared] = (self.operation, grouped_field_set, plan)
                    if len(_SHARED_PLANS) > SHARED_PLANS_KEPT:
                        _SHARED_PLANS.popitem(last=False)
        # the grouped field set is kept alive with its plan: its id is not reused meanwhile
        plans[key] = (grouped_field_set, plan)
        return plan

    def _shared_key(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Any:
        """The key of a plan shared by every execution of the same parsed operation
        (:data:`_SHARED_PLANS`), or ``None`` when it may not be shared.

        What a plan is compiled from is fixed by the operation's nodes, the parent type and the
        values of the operation's ``Boolean`` variables (the only ones ``@include`` and
        ``@skip`` can read): the plan's steps, the field details they hand to graphql-core
        (nodes and their locations) and the selections of its relations (whose own plans are
        found by the same key). An operation with ``@defer`` or ``@stream`` anywhere, or
        fragment variables, is never shared (what they carry may come from other variables).
        """
        prefix = self._shared_prefix
        if prefix is None:
            prefix = self._shared_prefix = _operation_key(self)
        if prefix is False:
            return None
        fields = []
        for response_name, details in grouped_field_set.items():
            ids = [response_name]
            for detail in details:
                if detail.defer_usage is not None or detail.fragment_variable_values is not None:
                    return None
                ids.append(id(detail.node))
            fields.append(tuple(ids))
        return (prefix, parent_type, tuple(fields))

    def _compile(self, parent_type: GraphQLObjectType, grouped_field_set: Any):
        fields = parent_type.fields
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            if node.directives or any(
                d.defer_usage is not None or d.node.directives for d in details
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
                yield (
                    response_name,
                    _LEAF,
                    details,
                    _leaf_step(response_name, details, read, leaf, nullable),
                )
                continue
            info_leaf = extensions.get(INFO_LEAF)
            if info_leaf is not None and not field_def.args:
                read, leaf, nullable, listed, _items_nullable = info_leaf
                same = _SERIALIZED_AS_IS.get(leaf.serialize)
                if not listed:
                    yield (
                        response_name,
                        _INFO_LEAF,
                        details,
                        _leaf_step(response_name, details, read, leaf, nullable),
                    )
                    continue
                if same is not None:
                    yield (
                        response_name,
                        _LEAVES,
                        details,
                        (response_name, details, read, same, nullable),
                    )
                    continue
            direct = extensions.get(DIRECT)
            arguments = extensions.get(ARGUMENTS) if field_def.args else None
            if arguments is not None:
                direct = (_with_arguments(*arguments), True)
            elif direct is None or field_def.args or node.arguments:
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
            grouped = None  # an abstract type's: collected per runtime type
            if isinstance(object_type, GraphQLObjectType):
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
                    _exact_class(object_type),
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
        return plan(self, parent_type, source_value, path)

    def _leaf(
        self,
        value: Any,
        step: tuple[Any, ...],
        parent_type: GraphQLObjectType,
        source: Any,
        path: Any,
        results: dict[str, Any],
        pending: list[str] | None,
    ) -> list[str] | None:
        """A plain leaf whose value (or :data:`_RAISED`) a runner's fast path did not take:
        as graph.schema.direct's ``execute_field``, else graphql-core's ``execute_field``."""
        response_name, details, _read, serialize, nullable, _same, _plain_types, _names = step
        if value is not _RAISED:
            try:
                if value is None:
                    if nullable:
                        results[response_name] = None
                        return pending
                elif type(value) in _PLAIN_VALUES or not (
                    isinstance(value, Exception) or self.is_awaitable(value)
                ):
                    serialized = serialize(value)
                    if serialized is not None and serialized is not Undefined:
                        results[response_name] = serialized
                        return pending
                else:
                    _discard(value)
            except Exception:  # noqa: BLE001,S110 - graphql-core's path reports it
                pass
        return self._delegate(details, response_name, parent_type, source, path, results, pending)

    def _leaves(
        self,
        value: Any,
        step: tuple[Any, ...],
        parent_type: GraphQLObjectType,
        source: Any,
        path: Any,
        results: dict[str, Any],
        pending: list[str] | None,
    ) -> list[str] | None:
        """A list of leaves (:data:`_LEAVES`) a runner's fast path did not take (not a list
        of values of the items' type): null for a nullable list; an awaitable completed by
        graphql-core's ``complete_awaitable_value``, as its ``execute_field`` completes the
        resolver's value (not dropped and resolved again: a channel's ``handles`` awaits
        awaitables it made at once, which would be left to warn "never awaited"); else
        graphql-core's ``execute_field``."""
        response_name, details, _read, _same, nullable = step
        if value is None and nullable:
            results[response_name] = None
            return pending
        if value is not _RAISED and self.is_awaitable(value):
            field_def = parent_type.fields[details[0].node.name.value]
            field_path = Path(path, response_name, parent_type.name)
            info = self.build_resolve_info(
                field_def, [d.node for d in details], parent_type, field_path
            )
            results[response_name] = self.complete_awaitable_value(
                field_def.type, details, info, field_path, value, None
            )
            if pending is None:
                pending = []
            pending.append(response_name)
            return pending
        return self._delegate(details, response_name, parent_type, source, path, results, pending)

    def _delegate(
        self,
        details: Any,
        response_name: str,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Any,
        results: dict[str, Any],
        pending: list[str] | None,
    ) -> list[str] | None:
        """graphql-core's ``execute_field`` for one response key, as its ``execute_fields``."""
        result = self.execute_field(
            parent_type, source, details, Path(path, response_name, parent_type.name), None
        )
        if result is not Undefined:
            results[response_name] = result
            if self.is_awaitable(result):
                if pending is None:
                    pending = []
                pending.append(response_name)
        return pending

    def _settle(self, results: dict[str, Any], pending: list[str] | None) -> None:
        if pending:
            self.settle_in_background([results[field] for field in pending])

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
        field_def, resolve, needs_info, _, _, _, grouped, _ = data
        info = (
            _Info(self.context_value, (self, field_def, details, parent_type, path))
            if needs_info or grouped is None
            else None
        )
        try:
            value = resolve(source, info)
        except Exception:  # noqa: BLE001 - graphql-core's path reports it
            return _UNUSUAL
        return self._complete(kind, value, info, details, path, data, parent_type)

    def _complete(
        self,
        kind: int,
        value: Any,
        info: Any,
        details: Any,
        path: Path,
        data: Any,
        parent_type: GraphQLObjectType | None = None,
        kept: bool = False,
    ) -> Any:
        """:meth:`_relation` once its resolver returned ``value`` (:data:`_RAISED`: it raised);
        an awaitable (an ``async`` resolver's) is awaited and completed by
        :meth:`_await_relation` when ``parent_type`` is given, else left to graphql-core.
        ``kept``: ``value`` goes to graphql-core's ``complete_value`` when unusual (an awaited
        value, not resolved again), so its awaitables (a list's items) are not dropped."""
        (
            field_def,
            _resolve,
            _needs_info,
            object_type,
            nullable,
            item_nullable,
            grouped,
            exact,
        ) = data
        if value is _RAISED:
            return _UNUSUAL
        if type(value) is _WRITTEN:
            return value  # an object's JSON written by the database (graph.schema.row_json)
        if type(value) is exact and getattr(value, _CAST, None) is None:
            pass  # an instance of the type's own class: what the checks below would accept
        elif value is None:
            return None if nullable else _UNUSUAL
        elif isinstance(value, Exception):
            return _UNUSUAL
        elif self.is_awaitable(value):
            if parent_type is not None:
                return self._await_relation(kind, value, info, details, path, data, parent_type)
            if not kept:
                _discard(value)
            return _UNUSUAL
        elif kind is _OBJECT:
            if grouped is None:
                runtime = self._runtime(object_type, value, info, details)
                if runtime is None:
                    return _UNUSUAL
                object_type, grouped = runtime
            else:
                is_type_of = object_type.is_type_of
                if is_type_of is not None and is_type_of(value, info) is not True:
                    return _UNUSUAL
        else:
            if not isinstance(value, list | tuple):
                return _UNUSUAL
            is_type_of = getattr(object_type, "is_type_of", None)
            runtimes: list[Any] | None = [] if grouped is None else None
            for item in value:
                if type(item) is exact and getattr(item, _CAST, None) is None:
                    continue
                if runtimes is None and is_type_of is None and _plain_class(type(item)):
                    continue  # graphql-core checks nothing more (a connection's edges)
                if item is None:
                    if not item_nullable:
                        return _UNUSUAL
                    if runtimes is not None:
                        runtimes.append(None)
                else:
                    usual = not (isinstance(item, Exception) or self.is_awaitable(item))
                    if usual and runtimes is not None:
                        runtime = self._runtime(object_type, item, info, details)
                        runtimes.append(runtime)
                        usual = runtime is not None
                    elif usual and is_type_of is not None:
                        usual = is_type_of(item, info) is True
                    if not usual:
                        if not kept:
                            for dropped in value:
                                if self.is_awaitable(dropped):
                                    _discard(dropped)
                        return _UNUSUAL
        try:
            if kind is _OBJECT:
                completed = self.execute_fields(object_type, value, path, grouped, None)
            else:
                completed = self._items(
                    value, object_type, item_nullable, details, path, grouped, runtimes
                )
        except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
            self.handle_field_error(raw_error, field_def.type, details, path)
            return None
        if type(completed) is dict or type(completed) is list or not self.is_awaitable(completed):
            return completed
        return self._await_field(completed, field_def.type, details, path)

    async def _await_relation(
        self,
        kind: int,
        awaitable: Any,
        info: Any,
        details: Any,
        path: Path,
        data: Any,
        parent_type: GraphQLObjectType,
    ) -> Any:
        """A relation whose resolver returned an awaitable, as graphql-core's
        ``complete_awaitable_value`` completes it: awaited (under the execution's abort
        signal), then completed by :meth:`_complete`, or by graphql-core's ``complete_value``
        with its own resolve info for anything unusual (its errors and paths); an error is
        the field's (``handle_field_error``), as there."""
        field_def = data[0]
        try:
            resolved = await self.with_abort_signal(awaitable)
            completed = self._complete(kind, resolved, info, details, path, data, kept=True)
            if completed is _UNUSUAL:
                completed = self.complete_value(
                    field_def.type,
                    details,
                    self.build_resolve_info(
                        field_def, [d.node for d in details], parent_type, path
                    ),
                    path,
                    resolved,
                    None,
                )
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:  # noqa: BLE001 - reported as graphql-core does
            self.handle_field_error(raw_error, field_def.type, details, path)
            completed = None
        return completed

    def _child(self, object_type: GraphQLObjectType, grouped: Any) -> Any:
        """The plan :meth:`execute_fields` completes an object of ``object_type`` with
        (``grouped``: its collected selection), or ``None`` when it hands it to graphql-core."""
        plans = self._plans
        found = plans.get(id(grouped)) if plans is not None else None
        if found is not None and found[0] is grouped:
            return found[1]
        return self._plan(object_type, grouped)

    def _runtime(
        self, abstract_type: Any, value: Any, info: Any, details: Any
    ) -> tuple[GraphQLObjectType, Any] | None:
        """The object type (and its collected selection) of ``value`` of an abstract type, as
        graphql-core's ``complete_abstract_value`` and ``complete_object_value`` find and check
        it, or ``None`` for anything they would report or wait for (an error, an awaitable, a
        name of no object type of ``abstract_type``, a value its ``is_type_of`` refuses).

        Of a union, the answer for a value of the exact class of the object type it resolved
        to (not cast) is kept for the execution by the field's selection and the class:
        strawberry's union resolver finds a member by the value's class alone
        (``is_implemented_by``: its definition is the member's), graphql-core's checks then
        accept it (:func:`_exact_class`), and the selection collected is the same (a
        timeline's items: a resolution, the member's checks and collection per item)."""
        runtimes = self._runtimes
        kind = type(value)
        if runtimes is not None:
            found = runtimes.get((id(details), kind))
            if (
                found is not None
                and found[0] is details
                and found[1] is abstract_type
                and getattr(value, _CAST, None) is None
            ):
                return found[2], found[3]
        resolve_type = abstract_type.resolve_type or self.type_resolver
        try:
            name = resolve_type(value, info, abstract_type)
        except Exception:  # noqa: BLE001 - graphql-core's path reports it
            return None
        if not isinstance(name, str):
            if self.is_awaitable(name):
                _discard(name)
            return None
        schema = self.schema
        object_type = schema.get_type(name)
        if not isinstance(object_type, GraphQLObjectType) or not schema.is_sub_type(
            abstract_type, object_type
        ):
            return None
        is_type_of = object_type.is_type_of
        if is_type_of is not None:
            exact = _exact_class(object_type)
            if not (type(value) is exact and getattr(value, _CAST, None) is None):
                try:
                    accepted = is_type_of(value, info)
                except Exception:  # noqa: BLE001 - graphql-core's path reports it
                    return None
                if accepted is not True:
                    if self.is_awaitable(accepted):
                        _discard(accepted)
                    return None
        grouped, new_defer_usages, *_ = self.collect_subfields(object_type, details)
        if new_defer_usages:
            return None
        if (
            isinstance(abstract_type, GraphQLUnionType)
            and kind is _exact_class(object_type)
            and getattr(value, _CAST, None) is None
        ):
            if runtimes is None:
                runtimes = self._runtimes = {}
            runtimes[(id(details), kind)] = (details, abstract_type, object_type, grouped)
        return object_type, grouped

    def _items(
        self,
        items: Any,
        object_type: Any,
        item_nullable: bool,
        details: Any,
        path: Path,
        grouped: Any,
        runtimes: list[Any] | None = None,
    ) -> Any:
        """The objects of a list, as graphql-core's ``complete_iterable_value``; of an
        abstract type, each item's object type and selection in ``runtimes``."""
        item_type = object_type if item_nullable else GraphQLNonNull(object_type)
        completed_results: list[Any] = []
        awaitable_indices: list[int] = []
        is_awaitable = self.is_awaitable
        execute_fields = self.execute_fields
        # of one object type: its plan looked up once for every item
        plan = self._child(object_type, grouped) if runtimes is None else None
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed_results.append(None)
                    continue
                item_path = _new(Path, (path, index, None))  # path.add_key(index, None)
                if runtimes is not None:
                    object_type, grouped = runtimes[index]
                try:
                    if plan is not None:
                        completed = plan(self, object_type, item, item_path)
                    else:
                        completed = execute_fields(object_type, item, item_path, grouped, None)
                    if type(completed) is not dict and is_awaitable(completed):
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


SHARED_PLANS_KEPT = 4096
"""Plans shared between executions kept per process (:meth:`PlannedExecution._shared_key`;
a document's handful of selections each, the least recently used dropped first)."""

_SHARED_PLANS: OrderedDict[Any, tuple[Any, Any, Any]] = OrderedDict()

_INCREMENTAL = frozenset({"defer", "stream"})
_INCREMENTAL_OPERATIONS: KeptByIdentity[bool] = KeptByIdentity(SHARED_PLANS_KEPT)
"""Whether an operation (kept alive with the answer) uses ``@defer`` or ``@stream``."""


def _operation_key(execution: Any) -> Any:
    """``(id of the operation, its Boolean variables' values)`` for
    :meth:`PlannedExecution._shared_key`, or ``False`` when the operation or a fragment it may
    spread uses ``@defer`` or ``@stream``."""
    operation = execution.operation

    def incremental() -> bool:
        return _incremental(operation.selection_set) or any(
            _incremental(fragment.definition.selection_set)
            if hasattr(fragment, "definition")
            else _incremental(fragment.selection_set)
            for fragment in execution.fragments.values()
        )

    if _INCREMENTAL_OPERATIONS.get((operation,), incremental):
        return False
    values = execution.variable_values.coerced
    booleans = []
    for definition in operation.variable_definitions or ():
        type_node = definition.type
        named = getattr(type_node, "type", type_node)
        if getattr(getattr(named, "name", None), "value", None) == "Boolean":
            name = definition.variable.name.value
            booleans.append((name, values.get(name, Undefined)))
    return (id(operation), tuple(booleans))


def _incremental(selection_set: Any) -> bool:
    """Whether a selection set uses ``@defer`` or ``@stream`` anywhere below it (its own
    fragment spreads' definitions are checked by the caller)."""
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if any(d.name.value in _INCREMENTAL for d in selection.directives or ()):
            return True
        if _incremental(getattr(selection, "selection_set", None)):
            return True
    return False


_new = tuple.__new__
"""``_new(Path, (prev, key, typename))`` is ``Path(prev, key, typename)`` without the Python
frame of a named tuple's ``__new__`` (a list of 100 makes 500 of them)."""

_RAISED = object()
"""A plain leaf's value when reading it raised (graphql-core's ``execute_field`` reports it)."""
_CAST = TYPE_CAST_ATTRIBUTE


class _Info:
    """The resolve info a plan hands a relation's resolver: ``context`` at once (what the
    product's resolvers read), anything else from graphql-core's resolve info, built on first
    use (a list of 100 built 300 of them, for ``info.context`` alone)."""

    __slots__ = ("_built", "_made_of", "context", "field_name")

    def __init__(self, context: Any, made_of: tuple[Any, ...]) -> None:
        self.context = context
        self.field_name = made_of[2][0].node.name.value
        self._made_of = made_of
        self._built = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw_info, name)

    @property
    def _raw_info(self) -> Any:
        """graphql-core's resolve info (as strawberry's ``Info._raw_info`` names it)."""
        built = self._built
        if built is None:
            execution, field_def, details, parent_type, path = self._made_of
            built = self._built = execution.build_resolve_info(
                field_def, [d.node for d in details], parent_type, path
            )
        return built


def _with_arguments(
    function: Callable[..., Any], mapping: tuple[tuple[str, str], ...], takes_info: bool
) -> Callable[[Any, _Info], Any]:
    """A field's resolver taking arguments (:data:`graph.schema.direct.ARGUMENTS`) as a plan
    calls a relation's: ``resolve(source, info)``, the arguments coerced by graphql-core's
    ``get_argument_values`` from the field's node and the execution's variables (as its
    ``execute_field`` does), given to the resolver by their Python names, as strawberry's
    wrapper gives them (built-in scalars: no conversion). Raises what they raise (the plan
    then hands the field to graphql-core, which reports it)."""

    def resolve(source: Any, info: _Info) -> Any:
        execution, field_def, details, _, _ = info._made_of
        first = details[0]
        values = get_argument_values(
            field_def,
            first.node,
            execution.variable_values,
            first.fragment_variable_values,
            execution.hide_suggestions,
        )
        given = {python: values[name] for name, python in mapping if name in values}
        if takes_info:
            given["info"] = info
        return function(source, **given)

    return resolve


def _row_relation(field_def: Any) -> RowRelation | None:
    """The :class:`~graph.loaders.RowRelation` a field's resolver declares
    (:func:`graph.loaders.row_relation`), when its loader and key are plain attribute names."""
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    relation = getattr(getattr(resolver, "wrapped_func", None), ROW_RELATION, None)
    if (
        isinstance(relation, RowRelation)
        and relation.loader.isidentifier()
        and relation.key.isidentifier()
        and not keyword.iskeyword(relation.loader)
        and not keyword.iskeyword(relation.key)
    ):
        return relation
    return None


def _exact_class(object_type: GraphQLObjectType) -> type | None:
    """The Python class whose instances (not cast to another type) graphql-core's checks of a
    value completed as ``object_type`` always accept: not an error, not awaitable, and
    strawberry's ``is_type_of`` true (an instance of the type's own class); ``None`` when the
    type has its own ``is_type_of``, is a generic's specialisation or is abstract."""
    if not isinstance(object_type, GraphQLObjectType):
        return None  # an abstract type: each value's object type is resolved
    definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if (
        not isinstance(origin, type)
        or getattr(definition, "is_type_of", None) is not None
        or getattr(definition, "concrete_of", None) is not None
        or issubclass(origin, BaseException | CoroutineType | GeneratorType | asyncio.Future)
        or hasattr(origin, "__await__")
    ):
        return None
    return origin


@functools.cache
def _plain_class(kind: type) -> bool:
    """Whether instances of ``kind`` are never an error nor an awaitable: an item of a list
    of an object type without ``is_type_of`` (strawberry sets none for a type without
    interfaces, such as a generic's specialisation: ``ConversationEdge``) that graphql-core
    completes without a check (``None`` is not plain: its own case)."""
    return kind is not type(None) and not (
        issubclass(kind, BaseException | CoroutineType | GeneratorType | asyncio.Future)
        or hasattr(kind, "__await__")
    )


def _leaf_step(
    response_name: str, details: Any, read: Callable[..., Any], leaf: Any, nullable: bool
) -> tuple[Any, ...]:
    """A leaf's step data, as :meth:`PlannedExecution._leaf` and the runner read it."""
    return (
        response_name,
        details,
        read,
        leaf.serialize,
        nullable,
        _SERIALIZED_AS_IS.get(leaf.serialize),
        _plain(leaf),
        _members(leaf),
    )


def _plain(leaf: Any) -> frozenset[type]:
    """Types of a leaf's values that are never an error nor an awaitable: :data:`_PLAIN_VALUES`
    and, for an enum, its Python enum (whose members are neither)."""
    definition = (leaf.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    enum = getattr(definition, "wrapped_cls", None)
    if (
        isinstance(enum, type)
        and issubclass(enum, Enum)
        and not issubclass(enum, BaseException)
        and not any(hasattr(member, "__await__") for member in enum)
    ):
        return _PLAIN_VALUES | {enum}
    return _PLAIN_VALUES


def _members(leaf: Any) -> tuple[type, dict[Any, Any]] | None:
    """For an enum leaf: its Python enum and what its serialiser returns for each member
    (strawberry's looks the member up among the enum's values, one by one, per value); ``None``
    for other leaves, or when a member would not serialise to a value."""
    definition = (leaf.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    enum = getattr(definition, "wrapped_cls", None)
    if _plain(leaf) is _PLAIN_VALUES:
        return None
    names = {}
    for member in enum:
        try:
            serialized = leaf.serialize(member)
        except Exception:  # noqa: BLE001 - such a member takes the general path
            return None
        if serialized is None or serialized is Undefined:
            return None
        names[member] = serialized
    return enum, names


def _generate(parent_type: GraphQLObjectType, plan: tuple[Any, ...]) -> Any:
    """A plan's steps as one Python function ``run(execution, parent_type, source, path)``
    returning the object's completed fields (a dict, or an awaitable of it): each step's
    usual case written out (a plain leaf of its usual type stored, ``__typename``, a
    relation completed), anything else handed to :meth:`PlannedExecution._leaf` or
    :meth:`PlannedExecution._delegate`, in the plan's order (the same keys in the same order as
    graphql-core's ``execute_fields``). Generated once per plan: the loop over steps it
    replaces, deciding each step's kind for every object, was a quarter of a list's time."""
    names: dict[str, Any] = {
        "_RAISED": _RAISED,
        "_UNUSUAL": _UNUSUAL,
        "_gather_fields": _gather_fields,
        "Path": Path,
        "_new": _new,
        "Undefined": Undefined,
        "parent_name": parent_type.name,
        "_Info": _Info,
        "_CAST": _CAST,
        "related": related,
        "_all_of": _all_of,
        "_WRITTEN": _WRITTEN,
    }
    lines = [
        "def run(self, parent_type, source, path):",
        "    results = {}",
        "    pending = None",
        "    try:",
    ]
    add = lines.append
    for index, (response_name, kind, details, data) in enumerate(plan):
        key = f"key_{index}"
        names[key] = response_name
        names[f"details_{index}"] = details
        names[f"data_{index}"] = data
        if kind is _TYPENAME:
            add(f"        results[{key}] = data_{index}")
        elif kind is _LEAVES:
            # a list of leaves from a resolver taking info (a channel's handles)
            _, _, read, same, _ = data
            names[f"read_{index}"] = read
            names[f"same_{index}"] = same
            names[f"field_def_{index}"] = parent_type.fields[details[0].node.name.value]
            add(f"        path_{index} = _new(Path, (path, {key}, parent_name))")
            add("        try:")
            add(
                f"            value = read_{index}(source, _Info(self.context_value, (self, "
                f"field_def_{index}, details_{index}, parent_type, path_{index})))"
            )
            add("        except Exception:")
            add("            value = _RAISED")
            add(f"        if type(value) is list and _all_of(value, same_{index}):")
            add(f"            results[{key}] = value")
            add("        else:")
            add(
                f"            pending = self._leaves(value, data_{index}, parent_type, source, "
                "path, results, pending)"
            )
        elif kind is _LEAF or kind is _INFO_LEAF:
            _, _, read, serialize, _, same, plain, members = data
            names[f"read_{index}"] = read
            names[f"serialize_{index}"] = serialize
            names[f"plain_{index}"] = plain
            add("        try:")
            if kind is _INFO_LEAF:  # its resolver takes a resolve info (a masked number)
                names[f"field_def_{index}"] = parent_type.fields[details[0].node.name.value]
                add(
                    f"            value = read_{index}(source, _Info(self.context_value, (self, "
                    f"field_def_{index}, details_{index}, parent_type, "
                    f"_new(Path, (path, {key}, parent_name)))))"
                )
            else:
                add(f"            value = read_{index}(source)")
            add("        except Exception:")
            add("            value = _RAISED")
            if members is not None:
                names[f"enum_{index}"], names[f"members_{index}"] = members
                add(f"        if type(value) is enum_{index}:")
                add(f"            results[{key}] = members_{index}[value]")
            elif same is not None:
                names[f"same_{index}"] = same
                add(f"        if type(value) is same_{index}:")
                add(f"            results[{key}] = value")
            else:
                add(f"        if type(value) in plain_{index}:")
                add("            try:")
                add(f"                value = serialize_{index}(value)")
                add("            except Exception:")
                add("                value = None")
                add("            if value is not None and value is not Undefined:")
                add(f"                results[{key}] = value")
                add("            else:")
                add(
                    f"                pending = self._delegate(details_{index}, {key}, "
                    "parent_type, source, path, results, pending)"
                )
            add("        else:")
            add(
                f"            pending = self._leaf(value, data_{index}, parent_type, source, "
                "path, results, pending)"
            )
        elif kind is _DELEGATE:
            add(
                f"        pending = self._delegate(details_{index}, {key}, parent_type, source, "
                "path, results, pending)"
            )
        elif kind is _OBJECT and data[6] is not None and data[7] is not None:
            # a relation to one object type: the usual case (the resolver returns an object of
            # its type's own class) written out, the rest by _complete as _relation would
            field_def, resolve, needs_info, object_type, _, _, grouped, exact = data
            names[f"kind_{index}"] = kind
            names[f"field_def_{index}"] = field_def
            names[f"resolve_{index}"] = resolve
            names[f"object_type_{index}"] = object_type
            names[f"field_type_{index}"] = field_def.type
            names[f"grouped_{index}"] = grouped
            names[f"exact_{index}"] = exact
            names[f"child_{index}"] = [None]  # its plan, found on first use
            add(f"        path_{index} = _new(Path, (path, {key}, parent_name))")
            info = "None"
            make_info = (
                f"_Info(self.context_value, (self, field_def_{index}, details_{index}, "
                f"parent_type, path_{index}))"
            )
            relation = _row_relation(field_def)
            if relation is not None:
                # what its resolver returns (graph.loaders.row_relation), without its calls
                names[f"build_{index}"] = relation.build()
                add("        try:")
                add(
                    f"            value = related(self.context_value.loaders.{relation.loader}, "
                    f"source.row.{relation.key}, build_{index})"
                )
                add("        except Exception:")
                add("            value = _RAISED")
                info = make_info  # for _complete's checks only
            else:
                if needs_info:
                    info = "info"
                    add(f"        info = {make_info}")
                add("        try:")
                add(f"            value = resolve_{index}(source, {info})")
                add("        except Exception:")
                add("            value = _RAISED")
            add(f"        if type(value) is exact_{index} and getattr(value, _CAST, None) is None:")
            add(f"            child = child_{index}[0]")
            add("            if child is None:")
            add(f"                child = self._child(object_type_{index}, grouped_{index})")
            add(f"                child_{index}[0] = child")
            _child_lines(add, index, f"object_type_{index}", f"grouped_{index}")
            if data[4]:  # a nullable field: null as _complete would complete it
                add("        elif value is None:")
                add("            result = None")
            add("        elif type(value) is _WRITTEN:")  # JSON the database wrote
            add("            result = value")
            add("        else:")
            add(
                f"            result = self._complete(kind_{index}, value, {info}, "
                f"details_{index}, path_{index}, data_{index}, parent_type)"
            )
            _store(add, index, key)
        elif (
            kind is _OBJECT
            and isinstance(data[3], GraphQLUnionType)
            and not data[2]
            and _row_relation(data[0]) is None
        ):
            # a relation to a union resolved without info (a timeline edge's node): the usual
            # case (an object of a member's own class, not cast) completed by the member's
            # plan, found through the value's class; the rest by _complete as _relation would
            field_def, resolve, _, union, nullable, _, _, _ = data
            names[f"kind_{index}"] = kind
            names[f"field_def_{index}"] = field_def
            names[f"resolve_{index}"] = resolve
            names[f"field_type_{index}"] = field_def.type
            names[f"members_{index}"] = members = {}
            names[f"learn_{index}"] = functools.partial(_learn_member, members, union, details)
            add(f"        path_{index} = _new(Path, (path, {key}, parent_name))")
            add("        try:")
            add(f"            value = resolve_{index}(source, None)")
            add("        except Exception:")
            add("            value = _RAISED")
            add(f"        member = members_{index}.get(type(value))")
            add("        if member is not None and getattr(value, _CAST, None) is None:")
            add("            member_type, child, member_grouped = member")
            _child_lines(add, index, "member_type", "member_grouped")
            if nullable:
                add("        elif value is None:")
                add("            result = None")
            add("        else:")
            add(
                f"            info = _Info(self.context_value, (self, field_def_{index}, "
                f"details_{index}, parent_type, path_{index}))"
            )
            add(
                f"            result = self._complete(kind_{index}, value, info, "
                f"details_{index}, path_{index}, data_{index}, parent_type)"
            )
            add("            if result is not _UNUSUAL:")
            add(f"                learn_{index}(self, value)")
            _store(add, index, key)
        else:
            names[f"kind_{index}"] = kind
            add(
                f"        result = self._relation(kind_{index}, parent_type, source, "
                f"details_{index}, _new(Path, (path, {key}, parent_name)), data_{index})"
            )
            _store(add, index, key)
    if not plan:
        add("        pass")
    lines += [
        "    except Exception:",
        "        self._settle(results, pending)",
        "        raise",
        "    if pending is None:",
        "        return results",
        "    return _gather_fields(results, pending)",
    ]
    exec(_code("\n".join(lines)), names)  # noqa: S102 - our own text, no name of the document
    return names["run"]


def _learn_member(
    members: dict[type, tuple[Any, Any, Any]],
    union: GraphQLUnionType,
    details: Any,
    execution: PlannedExecution,
    value: Any,
) -> None:
    """Keep, for a plan's relation to ``union``, the member ``value`` was completed as (its
    object type, plan and selection) under its class, when :meth:`PlannedExecution._runtime`
    kept it for the execution (a value of the member's own class, not cast: strawberry finds
    the member by the class alone). The plan's later objects of that class, in this and the
    next executions sharing the plan, go straight to the member's plan."""
    runtimes = execution._runtimes
    kind = type(value)
    found = runtimes.get((id(details), kind)) if runtimes is not None else None
    if found is None or found[0] is not details or found[1] is not union:
        return
    object_type, grouped = found[2], found[3]
    members[kind] = (object_type, execution._child(object_type, grouped), grouped)


def _child_lines(add: Callable[[str], None], index: int, object_type: str, grouped: str) -> None:
    """The generated lines that complete a relation's object ``value`` of ``object_type`` (a
    name in the runner) by its plan ``child``, or by ``execute_fields`` with ``grouped`` when
    it has none: its error reported at the field's path, an awaitable left to
    :meth:`PlannedExecution._await_field`."""
    add("            try:")
    add("                if child is not None:")
    add(f"                    result = child(self, {object_type}, value, path_{index})")
    add("                else:")
    add(
        f"                    result = self.execute_fields({object_type}, value, "
        f"path_{index}, {grouped}, None)"
    )
    add("            except Exception as raw_error:")
    add(
        f"                self.handle_field_error(raw_error, field_type_{index}, "
        f"details_{index}, path_{index})"
    )
    add("                result = None")
    add(
        "            if type(result) is not dict and result is not None "
        "and self.is_awaitable(result):"
    )
    add(
        f"                result = self._await_field(result, field_type_{index}, "
        f"details_{index}, path_{index})"
    )


def _all_of(values: list[Any], kind: type) -> bool:
    """Whether every value is exactly of ``kind`` (a list of leaves its serialiser takes as
    they are)."""
    for value in values:
        if type(value) is not kind:
            return False
    return True


def _store(add: Callable[[str], None], index: int, key: str) -> None:
    """The generated lines that keep a relation's ``result`` under ``key``: an unusual one
    handed to graphql-core (:meth:`PlannedExecution._delegate`), an awaitable noted pending."""
    add("        if result is _UNUSUAL:")
    add(
        f"            pending = self._delegate(details_{index}, {key}, parent_type, "
        "source, path, results, pending)"
    )
    add("        else:")
    add(f"            results[{key}] = result")
    add(
        "            if type(result) is not dict and result is not None "
        "and self.is_awaitable(result):"
    )
    add("                if pending is None:")
    add("                    pending = []")
    add(f"                pending.append({key})")


@functools.lru_cache(maxsize=1024)
def _code(text: str) -> Any:
    """The compiled text of a runner: the same for every execution of a document (its values,
    field details among them, are the execution's, given as the runner's globals), so a
    request pays for ``exec``'s function, not for compiling."""
    return compile(text, "<selection plan>", "exec")


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


__all__ = ["PlannedExecution", "leave_helpers_cycle"]

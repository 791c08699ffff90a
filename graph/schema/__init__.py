"""The root schema: the root fields of every domain module, merged, and the executable
schema with its production defaults.

Each domain module of ``graph.schema`` declares its root fields in small classes named after
it (``InboxQueries``, ``CallMutations``, ``CallSubscriptions`` …), as Saleor's
``graphql/<domain>/schema.py`` do; this module merges them in the order the SDL lists them
(``schema.graphql``). Adding a root field: write it in its domain's class, and give it its
scopes in :data:`graph.permissions.scopes.ROOT_FIELD_SCOPES`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import OperationType as GraphQLOperationType
from graphql.execution import MiddlewareManager, create_source_event_stream
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
)
from strawberry.schema.schema import _coerce_error as coerce_error
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing
from strawberry.utils.await_maybe import await_maybe

from graph.cost import find_operation, requested_cost
from graph.errors import ErrorCode, TimedOut
from graph.extensions import (
    CachedDocuments,
    CachedHooksRunner,
    CodedErrors,
    CostBudget,
    Documents,
    SingleOperation,
    charge_budget,
    cost_refusal,
    is_expected,
    is_request_error,
    operation_name_given,
    request_mistake,
    unstorable_input,
)
from graph.fanout import current_operation
from graph.permissions.scopes import require_scopes
from graph.persisted import PersistedDocuments, PersistedQueries, document_hash
from graph.request_scope import start_request
from graph.schema.call import CallMutations, CallQueries, CallSubscriptions
from graph.schema.channel import ChannelMutations, ChannelQueries
from graph.schema.contact import (
    AssignmentMutations,
    ContactMutations,
    ContactQueries,
    ContactSubscriptions,
)
from graph.schema.conversation import (
    Activity,
    ConversationMutations,
    MessageMutations,
    MessageSubscriptions,
)
from graph.schema.crm import CrmMutations, CrmQueries
from graph.schema.direct import CachedNames, PlainLeavesExecution, resolve_directly
from graph.schema.inbox import CustomInbox, InboxMutations, InboxQueries, InboxSubscriptions
from graph.schema.node import NodeQueries
from graph.schema.plan import PlannedExecution, leave_helpers_cycle
from graph.schema.scalars import SCALAR_OVERRIDES
from graph.schema.search import SearchQueries
from graph.schema.user import (
    AccessTokenMutations,
    AccessTokenQueries,
    UserMutations,
    UserQueries,
    WorkspaceMutations,
)
from graph.schema.webhook import WebhookEndpoint, WebhookMutations, WebhookQueries
from graph.settings import Settings
from graph.subscriptions import LiveStream

log = logging.getLogger("graph.errors")

Query = merge_types(
    "Query",
    (
        NodeQueries,
        UserQueries,
        ChannelQueries,
        CrmQueries,
        InboxQueries,
        CallQueries,
        ContactQueries,
        SearchQueries,
        AccessTokenQueries,
        WebhookQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        UserMutations,
        ChannelMutations,
        WorkspaceMutations,
        AccessTokenMutations,
        MessageMutations,
        AssignmentMutations,
        InboxMutations,
        ContactMutations,
        ConversationMutations,
        CallMutations,
        CrmMutations,
        WebhookMutations,
    ),
)
Subscription = merge_types(
    "Subscription",
    (MessageSubscriptions, CallSubscriptions, ContactSubscriptions, InboxSubscriptions),
)
Query.__strawberry_definition__.description = (
    "What a client reads. Every field needs a valid bearer token (UNAUTHENTICATED otherwise) "
    "and answers only what the viewer may see (domain.md section 1)."
)
Mutation.__strawberry_definition__.description = (
    "What a client changes. Each mutation validates its input first (BAD_USER_INPUT naming the "
    "field, nothing changed), then writes in one transaction with its live events; creating "
    "mutations take an `idempotencyKey` for safe retries."
)
Subscription.__strawberry_definition__.description = (
    "Live events over WebSocket (graphql-transport-ws), each authorised for the subscriber at "
    "delivery (domain.md section 7); resume after a reconnect with `afterSequence`."
)


class InboxSchema(strawberry.Schema):
    """The schema, with two guards before any execution, over HTTP and WebSocket alike:

    - text no database stores (NUL, unpaired surrogates) is refused with ``BAD_USER_INPUT``;
    - subscriptions run only over WebSocket (over HTTP they are refused, not half-run).

    Only unexpected errors are logged (client errors are answered, not logged). An unknown
    ``operationName`` is answered as a request error coded ``BAD_USER_INPUT``
    (:func:`graph.extensions.request_mistake`), over HTTP as over WebSocket, instead of the
    exception strawberry raises to its HTTP view.

    Every operation is validated with :attr:`operation_rules` and parsed with at most
    :attr:`max_token_count` tokens, set on its execution context when strawberry creates it
    rather than by extensions (``AddValidationRules``, ``MaxTokensLimiter``): an extension's
    hook lives as long as its operation, which for a subscription is as long as it is open.
    """

    operation_rules: tuple[Any, ...] = tuple(specified_rules)
    """The validation rules of every operation (graphql-core's, then ours)."""
    max_token_count: int | None = None
    documents: Documents | None = None
    """The documents this schema validated (:class:`graph.extensions.CachedDocuments`' cache)."""
    persisted: PersistedDocuments | None = None
    """The documents named by hash (:class:`graph.persisted.PersistedQueries`' store)."""
    _runs_directly: bool | None = None

    @property
    def _direct(self) -> bool:
        """Whether an operation may run without strawberry's per-operation stages (its
        extensions' hooks called directly): only with the extensions of :func:`build_schema`,
        whose hooks the direct paths stand for; not with any other (its hooks, or resolver
        middleware: an extension's ``resolve``, directives, which strawberry's path alone
        runs)."""
        if self._runs_directly is None:
            self._runs_directly = not self.directives and all(
                type(extension) in _STOOD_FOR and not extension._implements_resolve()
                for extension in self.get_extensions()
            )
        return self._runs_directly

    async def start_cached_subscription(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        operation_extensions: dict[str, Any] | None = None,
    ) -> tuple[LiveStream | None, GraphQLError | None] | None:
        """Set up a subscription over WebSocket without strawberry's per-operation stages
        (issue 23, reconnect storms): what its extensions would do for it, done directly.

        Only for a document this schema parsed and validated already (:attr:`documents`)
        whose operation is a subscription, the only one or the one named, with variables
        that coerce and a field that returns a :class:`graph.subscriptions.LiveStream`: for
        it, :class:`graph.persisted.PersistedQueries` (trusted documents: registered, as this
        worker knows), :class:`graph.extensions.CachedDocuments` and
        :class:`graph.extensions.SingleOperation` have nothing to refuse, and
        :class:`graph.extensions.CodedErrors` nothing to code; its cost is charged as
        :class:`graph.extensions.CostBudget` charges it. Returns ``None`` whenever anything
        else may have to be answered (nothing was charged or started: strawberry's
        :meth:`stream` answers it as before), else the stream to start (its first
        iteration) or the error refusing it (the budget: nothing runs). A document named by
        hash (``operation_extensions.persistedQuery``) is :class:`graph.persisted.
        PersistedQueries`' to check, find or store: ``None``, as for ``_execute_cached``.
        """
        if operation_extensions and "persistedQuery" in operation_extensions:
            return None
        found = self._validated_operation(query, operation_name)
        if found is None or found[1].operation is not GraphQLOperationType.SUBSCRIPTION:
            return None
        document, operation = found
        if variables is not None and unstorable_input(None, variables) is not None:
            return None
        executor = (self.execution_context_class or ExecutorThrowingOnIncremental).build(
            self._schema,
            document,
            None,
            context,
            variables,
            operation_name,
            middleware=MiddlewareManager(),
            operation_extensions=operation_extensions,
        )
        if isinstance(executor, list):  # variables that do not coerce
            return None
        try:
            source = create_source_event_stream(executor)
            if executor.is_awaitable(source):
                source = await source
        finally:
            # it ran the subscription field's resolver and runs nothing more: the stream
            # executes each event anew (``graph.fanout.execute_payload``), and strawberry's
            # path, if it answers instead, builds its own
            leave_helpers_cycle(executor)
        if not isinstance(source, LiveStream):  # an error, or a stream of another kind
            return None
        throttle = getattr(context, "throttle", None)
        if throttle is None:
            return source, None
        try:
            requested = requested_cost(self._schema, query, document, operation, variables)
            charge = await charge_budget(context, requested, operation)
            refused = await cost_refusal(context, requested, charge)
        except Exception:
            log.exception("charging the operation's cost failed; it runs uncharged")
            refused = None
        return (None, refused) if refused is not None else (source, None)

    def _validated_operation(
        self, query: str, operation_name: str | None
    ) -> tuple[DocumentNode, OperationDefinitionNode] | None:
        """The document of ``query`` this schema validated before (:attr:`documents`) and its
        operation that runs (the only one, or the one named), when they may run without
        strawberry's per-operation stages (:attr:`_direct`; with trusted documents, only a
        document registered as this worker knows: :class:`graph.persisted.PersistedQueries`
        would refuse any other); else ``None``."""
        documents = self.documents
        if not self._direct or documents is None:
            return None
        document = documents.get(query)
        if document is None:
            return None
        operation = find_operation(document, operation_name)
        if operation is None:
            return None
        persisted = self.persisted
        if (
            persisted is not None
            and persisted.trusted
            and not persisted.known(document_hash(query))
        ):
            return None
        return document, operation

    async def _execute_cached(
        self,
        query: str | None,
        variables: dict[str, Any] | None,
        *,
        context_value: Any = None,
        root_value: Any = None,
        operation_name: str | None = None,
        allowed_operation_types: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult | None:
        """Execute a query or mutation without strawberry's per-operation stages (issue 23,
        the fixed cost of a request): what its extensions would do for it, done by calling
        them directly, in strawberry's order, with the same result.

        Only for a document this schema parsed and validated already (:attr:`documents`),
        whose operation (the only one, or the one named) is a query or mutation the request
        may run, named by its text rather than by hash: for it
        :class:`graph.persisted.PersistedQueries` (trusted documents: registered, as this
        worker knows), :class:`graph.extensions.CachedDocuments` and
        :class:`graph.extensions.SingleOperation` have nothing to do;
        :class:`graph.extensions.CostBudget` charges it (:meth:`~graph.extensions.CostBudget.
        charge`) and reports its cost, :class:`graph.extensions.CodedErrors` codes and masks
        its errors. Returns ``None`` for anything else, before doing anything (strawberry's
        :meth:`execute` answers it as before).
        """
        if root_value is not None or not isinstance(query, str):
            return None
        if operation_extensions and "persistedQuery" in operation_extensions:
            return None
        found = self._validated_operation(query, operation_name)
        kind = None if found is None else _RUN_DIRECTLY.get(found[1].operation)
        if kind is None or (
            allowed_operation_types is not None and kind not in allowed_operation_types
        ):
            return None
        document = found[0]
        execution = self._create_execution_context(
            query=query,
            allowed_operation_types=allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES,
            variable_values=variables,
            context_value=context_value,
            root_value=None,
            operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        execution.graphql_document = document
        budget, coded = CostBudget(), CodedErrors()
        budget.execution_context = coded.execution_context = execution
        refused = await budget.charge()
        if refused is not None:
            result: Any = PreExecutionError(data=None, errors=[refused])
        else:
            try:
                result = await await_maybe(
                    self._get_execute_function()(
                        self._schema,
                        document,
                        root_value=None,
                        middleware=MiddlewareManager(),
                        variable_values=variables,
                        operation_name=execution.operation_name,
                        context_value=context_value,
                        is_awaitable=optimized_is_awaitable,
                        **execution_context_class_kwargs(self.execution_context_class),
                        operation_extensions=operation_extensions,
                    )
                )
                execution.result = result
            except Exception as error:  # noqa: BLE001 - answered as strawberry answers it
                result = PreExecutionError(data=None, errors=[coerce_error(error)])
        if result.errors:
            execution.pre_execution_errors = result.errors
            self._process_errors(result.errors, execution)  # logged before they are masked
        if isinstance(result, GraphQLExecutionResult):
            result = ExecutionResult(data=result.data, errors=result.errors)
        result.extensions = await budget.get_results()
        execution.result = result
        coded._process_result(result)
        coded.answered()
        return result

    def create_extensions_runner(self, execution_context: Any, extensions: Any) -> Any:
        # strawberry's runner, inspecting each extension class's hooks once, not per operation
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> Any:
        context = super()._create_execution_context(*args, **kwargs)
        context.validation_rules = self.operation_rules
        if self.max_token_count is not None:
            context.parse_options["max_tokens"] = self.max_token_count
        return context

    async def execute(self, query, variable_values=None, *args: Any, **kwargs: Any):
        operation_name_given.set(
            bool(kwargs.get("operation_name") or (args[2] if len(args) > 2 else None))
        )
        error = unstorable_input(query, variable_values)
        if error is not None:
            return PreExecutionError(data=None, errors=[error])
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = {
                t for t in allowed if t is not OperationType.SUBSCRIPTION
            }
        if not args:  # strawberry's views pass keywords
            result = await self._execute_cached(query, variable_values, **kwargs)
            if result is not None:
                return result
        try:
            return await super().execute(query, variable_values, *args, **kwargs)
        except CannotGetOperationTypeError as error:
            return PreExecutionError(data=None, errors=[request_mistake(error)])

    async def stream(self, query, variable_values=None, *args: Any, **kwargs: Any):
        """strawberry's, with the guards of this class. Over graphql-transport-ws the
        ``subscribe`` payload's ``extensions`` (:attr:`graph.fanout.LiveOperation.extensions`:
        strawberry's handler drops them) are the operation's, as a request's are over HTTP:
        :class:`graph.persisted.PersistedQueries` reads ``extensions.persistedQuery`` there."""
        if not args and kwargs.get("operation_extensions") is None:
            live = current_operation()
            if live is not None and live.extensions is not None:
                kwargs["operation_extensions"] = live.extensions
        operation_name_given.set(
            bool(kwargs.get("operation_name") or (args[2] if len(args) > 2 else None))
        )
        error = unstorable_input(query, variable_values)
        if error is not None:

            async def refused():
                yield PreExecutionError(data=None, errors=[error])

            return refused()
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:  # an HTTP transport (multipart): no subscriptions there
            kwargs["allowed_operation_types"] = {
                t for t in allowed if t is not OperationType.SUBSCRIPTION
            }
        return await super().stream(query, variable_values, *args, **kwargs)

    async def _stream_non_subscription(self, *args: Any, **kwargs: Any):
        """strawberry's, except that a query or mutation over WebSocket whose variables could
        not be coerced is a pre-execution error (an ``error`` frame, as its syntax and
        validation errors are), like the request error HTTP answers it with
        (:func:`graph.extensions.is_request_error`), and that one running longer than
        ``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` is stopped and answered with a ``TIMEOUT``
        error (a ``next``, then ``complete``), as HTTP answers 504, ``extensions.saved`` when
        it had committed a write (:mod:`graph.request_scope`)."""
        execution = args[0] if args else kwargs["execution_context"]
        settings = getattr(execution.context, "settings", None)
        seconds = settings.request_timeout_seconds if settings is not None else None
        running = start_request(seconds)
        async with aclosing(super()._stream_non_subscription(*args, **kwargs)) as results:
            deadline = running.deadline
            while True:
                try:
                    async with asyncio.timeout_at(deadline):  # as long as over HTTP
                        result = await anext(results)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    yield ExecutionResult(
                        data=None, errors=[TimedOut(seconds, saved=running.saved)]
                    )
                    return
                if is_request_error(result) and not isinstance(result, PreExecutionError):
                    result = PreExecutionError(
                        data=None, errors=result.errors, extensions=result.extensions
                    )
                yield result

    def process_errors(self, errors, execution_context=None) -> None:
        super().process_errors([e for e in errors if not is_expected(e)], execution_context)


_STOOD_FOR = (PersistedQueries, CachedDocuments, SingleOperation, CostBudget, CodedErrors)
"""The extensions whose hooks the direct paths do what they would, or have nothing to do
(:meth:`InboxSchema._execute_cached`, :meth:`InboxSchema.start_cached_subscription`)."""

_RUN_DIRECTLY = {
    GraphQLOperationType.QUERY: OperationType.QUERY,
    GraphQLOperationType.MUTATION: OperationType.MUTATION,
}
"""The operations :meth:`InboxSchema._execute_cached` runs (a subscription streams)."""


def _depth_limit(max_depth: int) -> type[ValidationRule]:
    """strawberry's depth limit rule, refusing documents it cannot measure.

    strawberry measures the depth when the rule is created, following fragment spreads by
    recursion, before graphql-core's own guard against long fragment chains runs: a chain of
    about 300 spreads overflowed the stack, answered with an uncoded, unmasked error and a
    traceback in the log. Such a document is now a validation error.
    """
    measured = depth_rule(max_depth, should_ignore=None)

    class DepthLimit(measured):  # type: ignore[misc, valid-type]
        def __init__(self, context: ValidationContext) -> None:
            try:
                super().__init__(context)
            except RecursionError:
                ValidationRule.__init__(self, context)
                context.report_error(
                    GraphQLError(
                        "The document's fragments nest too deeply.",
                        extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED},
                    )
                )

    return DepthLimit


class _NoSuggestions(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with graphql-core's ``hide_suggestions``: coercing variables
    (an unknown enum value or input field in ``variables``) says no "Did you mean …?"."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class _PlainLeavesNoSuggestions(_NoSuggestions, PlainLeavesExecution):
    """Both: plain leaves completed directly (:mod:`graph.schema.direct`), no suggestions."""


class _PlannedNoSuggestions(_NoSuggestions, PlannedExecution):
    """Both: objects completed by plans (:mod:`graph.schema.plan`), no suggestions."""


_EXECUTION = {
    # (plain leaves, plans, introspection) -> the execution context class
    (False, False, True): None,
    (False, False, False): _NoSuggestions,
    (False, True, True): None,  # plans complete plain leaves: off with them
    (False, True, False): _NoSuggestions,
    (True, False, True): PlainLeavesExecution,
    (True, False, False): _PlainLeavesNoSuggestions,
    (True, True, True): PlannedExecution,
    (True, True, False): _PlannedNoSuggestions,
}


def build_schema(
    settings: Settings | None = None, persisted: PersistedDocuments | None = None
) -> strawberry.Schema:
    """The executable schema with the production defaults of ``architecture.md``: depth, alias,
    token, field and field-overlap limits, bounded parser and validation caches, coded masked
    errors, and documents named by hash (``persisted``, :mod:`graph.persisted`; by default a
    store in memory built from ``settings``).

    With introspection off (``INBOX_GRAPH_INTROSPECTION``, off in production by default) no
    error suggests names ("Did you mean 'contact'?"), in validation or in variables: the
    suggestions would give away the schema that introspection hides."""
    settings = settings or Settings(database_url="")
    persisted = persisted or PersistedDocuments(settings)
    # Factories: strawberry builds fresh extension instances per operation (sharing
    # `documents`, the schema's cache of valid documents).
    # strawberry's depth and alias limiters build a new rule class per operation, which an
    # open subscription keeps (about 8 KB each): build the rules once per schema instead
    rules = [
        *specified_rules,
        _depth_limit(settings.max_depth),
        aliases_rule(settings.max_aliases),
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    documents = Documents(settings.document_cache_bytes)  # one per schema: its rules
    extensions = [
        # first: a document named by hash is read (or refused) before anything parses it
        lambda: PersistedQueries(persisted),
        lambda: CachedDocuments(
            documents,
            max_fields=settings.max_fields,
            max_overlaps=settings.max_field_overlaps,
            max_characters=settings.max_document_characters,
            hide_suggestions=not settings.introspection,
        ),
        SingleOperation,  # after CachedDocuments, which sets the validation errors
        CostBudget,  # valid documents only: after CachedDocuments and SingleOperation
        CodedErrors,
    ]
    built = InboxSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True, name_converter=CachedNames()),
        types=[Activity, CustomInbox, WebhookEndpoint],
        scalar_overrides=SCALAR_OVERRIDES,
        execution_context_class=_EXECUTION[
            settings.plain_leaves, settings.plans, settings.introspection
        ],
    )
    built.operation_rules = tuple(rules)
    built.documents, built.persisted = documents, persisted
    built.max_token_count = settings.max_tokens
    resolve_directly(built)
    require_scopes(built)
    return built


schema = build_schema()

__all__ = ["Mutation", "Query", "Subscription", "build_schema", "schema"]

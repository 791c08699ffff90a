"""Schema extensions: coded, masked errors.

Every error a client receives carries ``extensions.code``:

- errors raised on purpose (:class:`graph.errors.CodedError`, permission classes) keep theirs;
- syntax errors get ``GRAPHQL_PARSE_FAILED``; validation errors (unknown fields, wrong
  argument types, depth/alias/token limits) ``GRAPHQL_VALIDATION_FAILED``;
- an unreachable database (:func:`db.availability.is_unavailable`) is
  ``SERVICE_UNAVAILABLE`` with ``extensions.retryAfter`` (seconds), logged once per outage;
- anything unexpected is logged with its traceback and answered as
  ``INTERNAL_SERVER_ERROR`` with a generic message: nothing internal leaks.

:class:`CostBudget` charges each valid operation's cost (:mod:`graph.cost`) to its budget
(:mod:`graph.throttle`) before it runs, and reports both in ``extensions.cost``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
import re
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from graphql import OperationType as GraphQLOperationType
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension

from db.availability import is_unavailable, report_unavailable
from graph.cost import find_operation, operation_cost
from graph.errors import ErrorCode, RateLimited, ServiceUnavailable
from graph.throttle import budget_key

log = logging.getLogger("graph.errors")


def _with_code(error: GraphQLError, code: str, message: str | None = None) -> GraphQLError:
    return GraphQLError(
        message=message or error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), "code": code},
    )


def add_code(error: GraphQLError) -> None:
    """Give a parse or validation error its code, in place (the same object may already sit
    in a result that is not processed again)."""
    if (error.extensions or {}).get("code"):
        return
    kind = ErrorCode.GRAPHQL_PARSE_FAILED if error.message.startswith("Syntax Error") else ErrorCode.GRAPHQL_VALIDATION_FAILED
    error.extensions = {**(error.extensions or {}), "code": kind}


class CodedErrors(MaskErrors):
    """Masks unexpected errors and gives every error an ``extensions.code``."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def on_operation(self):
        yield from super().on_operation()
        for error in self.execution_context.pre_execution_errors or ():
            if error.original_error is None:
                add_code(error)

    def _process_result(self, result: object) -> None:
        # strawberry checks a runtime Protocol here, which costs ~0.1 ms a result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return coded_errors(errors, self.error_message)


MASKED_MESSAGE = "Internal server error."


def unavailable_error(error: GraphQLError | None = None) -> GraphQLError:
    """The ``SERVICE_UNAVAILABLE`` error a client receives for ``error`` (at its path), when
    the database could not be reached (:func:`db.availability.is_unavailable`)."""
    coded = ServiceUnavailable()
    if error is None:
        return coded
    return GraphQLError(
        coded.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=coded.extensions,
    )


def as_graphql_error(error: Exception) -> GraphQLError:
    """``error`` as the GraphQL error strawberry would report for it."""
    return error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)


def coded_errors(errors: list[GraphQLError], masked_message: str = MASKED_MESSAGE) -> list[GraphQLError]:
    """``errors`` as clients receive them: each with ``extensions.code``; unexpected ones
    logged with their traceback and masked as ``INTERNAL_SERVER_ERROR``."""
    processed: list[GraphQLError] = []
    for error in errors:
        original = error.original_error
        code = (error.extensions or {}).get("code")
        if code:
            processed.append(error)
        elif original is None:
            add_code(error)
            processed.append(error)
        elif isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
            processed.append(_with_code(error, original.extensions["code"]))
        elif isinstance(original, GraphQLError) and error.path is None:
            # variable coercion: a missing, null or mistyped variable is the client's input
            processed.append(_with_code(error, ErrorCode.BAD_USER_INPUT))
        elif is_unavailable(original):
            report_unavailable(original)
            processed.append(unavailable_error(error))
        else:
            log.error("unexpected error at %s", error.path, exc_info=original)
            processed.append(_with_code(error, ErrorCode.INTERNAL_SERVER_ERROR, masked_message))
    return processed


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None


def _escape_problem(query: str) -> str | None:
    """NUL or unpaired surrogates written as ``\\uXXXX`` escapes inside the document."""
    codes = [(m.start(), int(m.group(1), 16)) for m in _ESCAPE.finditer(query)]
    for index, (position, code) in enumerate(codes):
        if code == 0:
            return "contains a NUL character"
        if 0xD800 <= code <= 0xDBFF:
            following = codes[index + 1] if index + 1 < len(codes) else None
            if following is None or following[0] != position + 6 or not 0xDC00 <= following[1] <= 0xDFFF:
                return "contains an unpaired surrogate"
        if 0xDC00 <= code <= 0xDFFF:
            previous = codes[index - 1] if index else None
            if previous is None or previous[0] != position - 6 or not 0xD800 <= previous[1] <= 0xDBFF:
                return "contains an unpaired surrogate"
    return None


def unstorable_input(query: str | None, variables: Any) -> GraphQLError | None:
    """A ``BAD_USER_INPUT`` error when the document or a variable holds text no database
    stores (NUL characters, unpaired surrogates), naming the variable; else ``None``."""

    def walk(value: Any, path: str) -> GraphQLError | None:
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return GraphQLError(
                    f"`{path}` {problem}.", extensions={"code": ErrorCode.BAD_USER_INPUT, "field": path}
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                found = walk(item, f"{path}.{key}")
                if found:
                    return found
        elif isinstance(value, list):
            for position, item in enumerate(value):
                found = walk(item, f"{path}[{position}]")
                if found:
                    return found
        return None

    if isinstance(query, str):
        problem = _text_problem(query) or _escape_problem(query)
        if problem:
            return GraphQLError(f"The document {problem}.", extensions={"code": ErrorCode.BAD_USER_INPUT})
    if isinstance(variables, dict):
        for name, value in variables.items():
            found = walk(value, f"${name}")
            if found:
                return found
    return None


class AnsweringParserCache(ParserCache):
    """strawberry's ``ParserCache``, except that a document that does not parse is left to
    strawberry's own parse, which answers it.

    ``ParserCache`` parses in its hook, outside the error handling around strawberry's own
    parse (strawberry issue #1439). Over HTTP strawberry catches the syntax error further out;
    over WebSocket it escaped: a traceback in the server log and a bare ``complete`` for the
    operation. Now the client gets strawberry's answer to a syntax error there, a close with
    4400 (over HTTP, ``GRAPHQL_PARSE_FAILED`` as before). An invalid document is parsed twice;
    valid ones come from the cache as before.
    """

    def on_parse(self):
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            pass  # strawberry parses it again, inside its error handling
        yield


operation_name_given: ContextVar[bool] = ContextVar("operation_name_given", default=True)
"""Whether the request named its operation (set by the schema before executing; strawberry
fills ``operation_name`` in itself, so the extension cannot tell from the context)."""


class SingleOperation(SchemaExtension):
    """A document with several operations must name the one to run (GraphQL spec,
    "GetOperation"); strawberry would otherwise run the first one silently."""

    def on_validate(self):
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not operation_name_given.get() and not context.pre_execution_errors:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    GraphQLError(
                        "The document holds several operations: say which with `operationName`.",
                        extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED},
                    )
                ]
        yield


class CostBudget(SchemaExtension):
    """Charges every valid operation's requested cost to its budget once validated, before it
    runs (``domain.md`` section 8; the README's "Rate limits and query cost").

    An operation the budget cannot pay for now is refused with ``RATE_LIMITED`` and
    ``extensions.retryAfter`` (seconds until it can), one that costs more than the whole budget
    with ``GRAPHQL_VALIDATION_FAILED``; neither runs (over WebSocket: an ``error`` frame, the
    socket stays open). Every query and mutation answer carries ``extensions.cost``::

        {"requestedQueryCost": 76, "actualQueryCost": 12,
         "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 924, "restoreRate": 50.0}}

    (points; ``restoreRate`` in points a second). ``requestedQueryCost`` and ``actualQueryCost``
    are null when the document did not validate, ``actualQueryCost`` when the operation did not
    run; ``throttleStatus`` is null while the rate-limit storage is unreachable (nothing is
    enforced then). A subscription is charged once, when it starts; its events carry no cost.
    HTTP answers carry the budget in ``RateLimit-*`` headers as well
    (:meth:`graph.throttle.ThrottleStatus.headers`).
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self.status: Any = None
        self.charged = False

    async def on_validate(self):
        context = self.execution_context
        throttle = getattr(context.context, "throttle", None)
        document = context.graphql_document
        if throttle is not None and document is not None and not context.pre_execution_errors:
            operation = find_operation(document, context.operation_name)
            # a subscription's event is executed with the event as its root value
            # (graph.fanout.execute_payload): charged when it started, not per event
            event = context.root_value is not None
            if operation is not None and not event:
                try:
                    error = await self._charge(throttle, document, operation)
                except Exception:  # noqa: BLE001 - a bug here must not refuse every operation
                    log.exception("charging the operation's cost failed; it runs uncharged")
                    error = None
                if error is not None:
                    context.pre_execution_errors = [error]
        yield

    async def _charge(self, throttle: Any, document: Any, operation: Any) -> GraphQLError | None:
        context = self.execution_context
        self.requested = operation_cost(context.schema._schema, document, operation, context.variables)
        charge = await throttle.charge(budget_key(context.context), self.requested)
        self.status, self.charged = charge.status, True
        if charge.allowed:
            return None
        cost = self._extension(None)
        if charge.retry_after is None:
            return GraphQLError(
                f"The operation costs {self.requested} points, more than the budget of "
                f"{charge.status.maximum_available if charge.status else 'this client'}: select "
                "fewer fields or smaller pages.",
                extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED, "cost": cost},
            )
        return RateLimited(
            f"The operation costs {self.requested} points, more than the budget has now: retry "
            "after `retryAfter` seconds.",
            retryAfter=charge.retry_after,
            limit="cost",
            cost=cost,
        )

    def _extension(self, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": self.requested,
            "actualQueryCost": actual,
            "throttleStatus": self.status.as_extension() if self.status is not None else None,
        }

    async def get_results(self) -> dict[str, Any]:
        context = self.execution_context
        throttle = getattr(context.context, "throttle", None)
        if throttle is None:
            return {}
        document = context.graphql_document
        operation = find_operation(document, context.operation_name) if document is not None else None
        if operation is not None and operation.operation is GraphQLOperationType.SUBSCRIPTION:
            return {}
        if not self.charged:
            self.status = await throttle.status(budget_key(context.context))
        request, response = context.context.request, context.context.response
        http = getattr(request, "scope", {}).get("type") == "http"
        if self.status is not None and response is not None and http:
            response.headers.update(self.status.headers())
        actual = None
        data = getattr(context.result, "data", None)
        if self.requested is not None and operation is not None and isinstance(data, dict):
            try:
                actual = operation_cost(
                    context.schema._schema, document, operation, context.variables, data
                )
            except Exception:  # noqa: BLE001 - reported as unknown rather than failing the answer
                log.exception("computing the actual cost failed")
        return {"cost": self._extension(actual)}


def is_expected(error: GraphQLError) -> bool:
    """Whether an error is the client's doing (coded, parse, validation or variable error) or
    an unreachable database (logged once per outage), which the server log need not report
    with a traceback."""
    original = error.original_error
    if original is None or is_unavailable(original):
        return True
    return isinstance(original, GraphQLError) and (
        bool((original.extensions or {}).get("code")) or error.path is None
    )


__all__ = ["AnsweringParserCache", "CodedErrors", "CostBudget", "as_graphql_error", "coded_errors", "unavailable_error", "SingleOperation", "operation_name_given", "add_code", "is_expected", "unstorable_input"]

"""Schema extensions: coded, masked errors.

Every error a client receives carries ``extensions.code``:

- errors raised on purpose (:class:`graph.errors.CodedError`, permission classes) keep theirs;
- syntax errors get ``GRAPHQL_PARSE_FAILED``; validation errors (unknown fields, wrong
  argument types, depth/alias/token limits) ``GRAPHQL_VALIDATION_FAILED``;
- an unreachable database (:func:`db.availability.is_unavailable`) is
  ``SERVICE_UNAVAILABLE`` with ``extensions.retryAfter`` (seconds), logged once per outage;
- anything unexpected is logged with its traceback and answered as
  ``INTERNAL_SERVER_ERROR`` with a generic message: nothing internal leaks.

:class:`CachedDocuments` refuses documents whose validation alone would hold the event loop
(:func:`selection_load`) before graphql-core's rules run, and keeps the valid ones parsed and
validated (:class:`Documents`, bounded by the bytes of their texts).

:class:`CostBudget` charges each valid operation's cost (:mod:`graph.cost`) to its budget
(:mod:`graph.throttle`) before it runs, and reports both in ``extensions.cost``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import sys
import threading
from contextvars import ContextVar
from functools import partial
from types import TracebackType
from typing import Any

import cachetools
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    validate,
)
from graphql import OperationType as GraphQLOperationType
from graphql.language.parser import Parser
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from db.availability import is_unavailable, report_unavailable
from graph.cost import find_operation, operation_cost, requested_cost
from graph.errors import (
    ErrorCode,
    InvalidInput,
    RateLimited,
    ServiceUnavailable,
    forget_frames,
)
from graph.throttle import admit_document, budget_key, hold, spend_point

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
    kind = (
        ErrorCode.GRAPHQL_PARSE_FAILED
        if error.message.startswith("Syntax Error")
        else ErrorCode.GRAPHQL_VALIDATION_FAILED
    )
    error.extensions = {**(error.extensions or {}), "code": kind}


class CodedErrors(MaskErrors):
    """Masks unexpected errors and gives every error an ``extensions.code``."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def on_operation(self):
        yield from super().on_operation()
        self.answered()

    def answered(self) -> None:
        """After the operation's result is masked (:meth:`_process_result`): codes its errors
        from before execution, and drops every error's frames (answered and logged: the
        frames named the executor, with the cycles they made)."""
        context = self.execution_context
        for error in context.pre_execution_errors or ():
            if error.original_error is None:
                add_code(error)
        forget_frames(context.pre_execution_errors or ())
        forget_frames(getattr(context.result, "errors", None) or ())

    def _process_result(self, result: object) -> None:
        # strawberry checks a runtime Protocol here, which costs ~0.1 ms a result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        root = None
        with contextlib.suppress(Exception):  # no operation: errors before execution
            kind = GraphQLOperationType(self.execution_context.operation_type.value)
            root = self.execution_context.schema._schema.get_root_type(kind)
        return coded_errors(errors, self.error_message, root)


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


def means_unavailable(error: Exception) -> bool:
    """Whether :func:`coded_errors` makes ``error`` (as :func:`as_graphql_error` reports it) a
    ``SERVICE_UNAVAILABLE`` (the same decision, :func:`_kind`). Where an outage is waited out
    rather than answered (a subscription's catch-up, :meth:`graph.subscriptions.LiveStream._run`)
    this decides, so that nothing waited out would have been answered otherwise and nothing
    answered ``SERVICE_UNAVAILABLE`` was not waited out."""
    graphql_error = as_graphql_error(error)
    kind = _kind(graphql_error)
    if kind == "coded":
        code = graphql_error.extensions["code"]
    elif kind == "inner":
        code = graphql_error.original_error.extensions["code"]  # type: ignore[union-attr]
    else:
        return kind == "unavailable"
    return code == ErrorCode.SERVICE_UNAVAILABLE


def as_graphql_error(error: Exception) -> GraphQLError:
    """``error`` as the GraphQL error strawberry would report for it."""
    return (
        error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
    )


_REQUEST_MISTAKES = (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError)
"""strawberry's errors for a request that names no runnable operation: an unknown
``operationName``, an operation type the transport does not run, no document at all. The
client's mistakes (``BAD_USER_INPUT``), over HTTP and WebSocket alike."""


def request_mistake(error: Exception) -> GraphQLError:
    """The ``BAD_USER_INPUT`` error a client receives for one of strawberry's request errors
    (:data:`_REQUEST_MISTAKES`), e.g. ``Unknown operation named "B".``"""
    if isinstance(error, CannotGetOperationTypeError):
        message = error.as_http_error_reason()
    elif isinstance(error, MissingQueryError):
        message = "No GraphQL query found in the request"  # as strawberry says it over HTTP
    else:
        message = str(error) or "This operation type is not allowed here."
    return GraphQLError(message, extensions={"code": ErrorCode.BAD_USER_INPUT})


def is_request_error(result: Any) -> bool:
    """Whether an execution result is a *request error* (GraphQL spec, "Response"): the
    operation never ran (a document that did not parse or validate, an operation that could
    not be determined, variables that could not be coerced, a limit or budget that refused
    it), so the response has no ``data`` entry: GraphQL over HTTP answers it with a 4xx under
    ``application/graphql-response+json``, graphql-transport-ws with an ``error`` frame.

    Field errors always carry a ``path``; request errors never do."""
    errors = getattr(result, "errors", None)
    return (
        bool(errors)
        and getattr(result, "data", None) is None
        and all(error.path is None for error in errors)
    )


_PATH_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def input_path(field: str, node: FieldNode | None, root: GraphQLObjectType | None) -> list[Any]:
    """The path of an input value in the API's names, from the argument that holds it, as
    ``extensions.inputPath`` gives it: ``"filter.all[0].countryCodes"`` of ``createCustomInbox``
    is ``["input", "filter", "all", 0, "countryCodes"]``.

    ``field`` (``extensions.field``) names the value from the argument (``first``,
    ``inbox.teamId``) or from the input object of the field's one input-object argument
    holding it (``countryCode`` of ``updateContact(input:)``); ``node`` is the field that
    failed, ``root`` the operation's root type, when the field is a root field: the
    arguments are read from the schema.
    """
    steps: list[Any] = [int(index) if index else name for index, name in _PATH_STEP.findall(field)]
    definition = root.fields.get(node.name.value) if root is not None and node else None
    if definition is None or not steps or steps[0] in definition.args:
        return steps
    holders = [
        name
        for name, argument in definition.args.items()
        if steps[0] in getattr(get_named_type(argument.type), "fields", {})
    ]
    return [holders[0], *steps] if len(holders) == 1 else steps


def _with_input_path(error: GraphQLError, root: GraphQLObjectType | None) -> GraphQLError:
    field = (error.extensions or {}).get("field")
    if not isinstance(field, str) or "inputPath" in error.extensions:
        return error
    node = error.nodes[0] if error.nodes and isinstance(error.nodes[0], FieldNode) else None
    if error.path is not None and len(error.path) != 1:
        root = None  # a nested field: its arguments are named as they are
    error.extensions = {**error.extensions, "inputPath": input_path(field, node, root)}
    return error


def coded_errors(
    errors: list[GraphQLError],
    masked_message: str = MASKED_MESSAGE,
    root: GraphQLObjectType | None = None,
) -> list[GraphQLError]:
    """``errors`` as clients receive them: each with ``extensions.code``; unexpected ones
    logged with their traceback and masked as ``INTERNAL_SERVER_ERROR``; several invalid
    fields (:class:`graph.errors.InvalidInput`) one error each; each error naming a field
    (``extensions.field``) with its ``extensions.inputPath`` (:func:`input_path`; ``root``:
    the operation's root type)."""
    return [_with_input_path(error, root) for error in _coded(errors, masked_message)]


def _coded(errors: list[GraphQLError], masked_message: str) -> list[GraphQLError]:
    processed: list[GraphQLError] = []
    for error in errors:
        original = error.original_error
        kind = _kind(error)
        if kind == "fields":
            # one error per invalid field, each where the whole input was refused
            processed.extend(
                GraphQLError(
                    each.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions=each.extensions,
                )
                for each in original.errors
            )
        elif kind == "coded":
            processed.append(error)
        elif kind == "mistake":
            processed.append(request_mistake(original))
        elif kind == "uncoded":
            add_code(error)
            processed.append(error)
        elif kind == "inner":
            processed.append(_with_code(error, original.extensions["code"]))
        elif kind == "variable":
            # variable coercion: a missing, null or mistyped variable is the client's input
            processed.append(_with_code(error, ErrorCode.BAD_USER_INPUT))
        elif kind == "unavailable":
            report_unavailable(original)
            processed.append(unavailable_error(error))
        else:
            log.error("unexpected error at %s", error.path, exc_info=original)
            processed.append(_with_code(error, ErrorCode.INTERNAL_SERVER_ERROR, masked_message))
    return processed


def _kind(error: GraphQLError) -> str:
    """How :func:`coded_errors` codes ``error``: ``fields`` (one error per invalid field),
    ``coded`` (its own code), ``mistake`` (a request mistake: ``BAD_USER_INPUT``),
    ``uncoded`` (no original: a parse or validation code), ``inner`` (the code of the GraphQL
    error it wraps), ``variable`` (variable coercion: ``BAD_USER_INPUT``), ``unavailable``
    (``SERVICE_UNAVAILABLE``) or ``unexpected`` (masked ``INTERNAL_SERVER_ERROR``)."""
    original = error.original_error
    if isinstance(original, InvalidInput):
        return "fields"
    if (error.extensions or {}).get("code"):
        return "coded"
    if isinstance(original, _REQUEST_MISTAKES):
        return "mistake"
    if original is None:
        return "uncoded"
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return "inner"
    if isinstance(original, GraphQLError) and error.path is None:
        return "variable"
    if is_unavailable(original):
        return "unavailable"
    return "unexpected"


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
            if (
                following is None
                or following[0] != position + 6
                or not 0xDC00 <= following[1] <= 0xDFFF
            ):
                return "contains an unpaired surrogate"
        if 0xDC00 <= code <= 0xDFFF:
            previous = codes[index - 1] if index else None
            if (
                previous is None
                or previous[0] != position - 6
                or not 0xD800 <= previous[1] <= 0xDBFF
            ):
                return "contains an unpaired surrogate"
    return None


def _unstorable_at(value: Any) -> tuple[list[str], str] | None:
    """The first text in decoded JSON ``value`` that no database stores: the steps to it
    (``.key``, ``[position]``), innermost first, and the problem; ``None`` when there is none.
    A function of the module, not a closure: a closure that calls itself is a reference cycle
    per request, left for the cyclic collector."""
    if isinstance(value, str):
        problem = _text_problem(value)
        return ([], problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (str, dict, list)):
                found = _unstorable_at(item)
                if found:
                    found[0].append(f".{key}")
                    return found
    elif isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, (str, dict, list)):
                found = _unstorable_at(item)
                if found:
                    found[0].append(f"[{position}]")
                    return found
    return None


def unstorable_input(query: str | None, variables: Any) -> GraphQLError | None:
    """A ``BAD_USER_INPUT`` error when the document or a variable holds text no database
    stores (NUL characters, unpaired surrogates), naming the variable; else ``None``."""
    if isinstance(query, str):
        problem = _text_problem(query) or ("\\u" in query and _escape_problem(query)) or None
        if problem:
            return GraphQLError(
                f"The document {problem}.", extensions={"code": ErrorCode.BAD_USER_INPUT}
            )
    if isinstance(variables, dict):
        for name, value in variables.items():
            found = _unstorable_at(value) if isinstance(value, (str, dict, list)) else None
            if found:
                steps, problem = found
                path = f"${name}{''.join(reversed(steps))}"
                return GraphQLError(
                    f"`{path}` {problem}.",
                    extensions={"code": ErrorCode.BAD_USER_INPUT, "field": path},
                )
    return None


class _TooLong(Exception):
    """A document longer than the limit of characters; :meth:`error` is the answer."""

    def __init__(self, maximum: int) -> None:
        super().__init__(maximum)
        self.maximum = maximum

    def error(self) -> GraphQLError:
        return GraphQLError(
            f"The document is longer than {self.maximum} characters (comments and strings "
            "included): send a shorter one.",
            extensions={
                "code": ErrorCode.GRAPHQL_PARSE_FAILED,
                "limit": "documentCharacters",
                "maximum": self.maximum,
            },
        )


MAX_NUMBER_CHARACTERS = 1_000
"""The longest number a document may write (an ``Int`` or ``Float`` literal): no argument of
the schema needs more than a few dozen characters, and Python refuses to convert integers of
more than 4,300 digits (an ``Int`` literal that long raised :class:`ValueError` inside
graphql-core's validation: a masked ``INTERNAL_SERVER_ERROR`` and a traceback)."""


class _NumberTooLong(_TooLong):
    """A number literal longer than :data:`MAX_NUMBER_CHARACTERS`; :meth:`error` is the answer."""

    def error(self) -> GraphQLError:
        return GraphQLError(
            f"A number in the document is longer than {self.maximum} characters.",
            extensions={
                "code": ErrorCode.GRAPHQL_PARSE_FAILED,
                "limit": "numberCharacters",
                "maximum": self.maximum,
            },
        )


class _OverLimit(Exception):
    """A document over a field limit (:func:`selection_load`); :meth:`error` is the answer."""

    def __init__(self, limit: str, maximum: int) -> None:
        super().__init__(limit)
        self.limit, self.maximum = limit, maximum

    def error(self) -> GraphQLError:
        if self.limit == "fields":
            message = (
                f"The document selects more than {self.maximum} fields (a fragment's fields "
                "count at each spread): split it into smaller operations."
            )
        else:
            message = (
                f"The document selects the same fields over and over (more than {self.maximum} "
                "pairs of selections under one name in one selection set): select each field once."
            )
        return GraphQLError(
            message,
            extensions={
                "code": ErrorCode.GRAPHQL_VALIDATION_FAILED,
                "limit": self.limit,
                "maximum": self.maximum,
            },
        )


class _CountingParser(Parser):
    """graphql-core's parser, counting field selections as it goes: it stops at the first
    selection over ``max_fields``, or over ``max_overlaps`` pairs of selections sharing a
    response name in one selection set as written (fragments are spread later, by
    :func:`selection_load`). A validation bomb is refused after a few hundred tokens. It
    stops too at a number longer than :data:`MAX_NUMBER_CHARACTERS`."""

    def __init__(self, source: str, *, max_fields: int, max_overlaps: int, **options: Any) -> None:
        super().__init__(source, **options)
        self._max_fields, self._max_overlaps = max_fields, max_overlaps
        self._fields = self._overlaps = 0
        self._names: list[dict[str, int]] = []  # per selection set being parsed

    def parse_int(self, _is_const: bool = False) -> Any:
        self._check_number()
        return super().parse_int(_is_const)

    def parse_float(self, _is_const: bool = False) -> Any:
        self._check_number()
        return super().parse_float(_is_const)

    def _check_number(self) -> None:
        if len(self._lexer.token.value) > MAX_NUMBER_CHARACTERS:
            raise _NumberTooLong(MAX_NUMBER_CHARACTERS)

    def parse_selection_set(self) -> SelectionSetNode:
        self._names.append({})
        try:
            return super().parse_selection_set()
        finally:
            self._names.pop()

    def parse_selection(self) -> Any:
        selection = super().parse_selection()
        if isinstance(selection, FieldNode):
            self._fields += 1
            if self._fields > self._max_fields:
                raise _OverLimit("fields", self._max_fields)
            names = self._names[-1]
            key = (selection.alias or selection.name).value
            seen = names.get(key, 0)
            names[key] = seen + 1
            self._overlaps += seen
            if self._overlaps > self._max_overlaps:
                raise _OverLimit("fieldOverlaps", self._max_overlaps)
        return selection


def selection_load(
    document: DocumentNode, *, max_fields: int, max_overlaps: int
) -> GraphQLError | None:
    """Refuse a document whose validation would cost too much CPU, before it is validated.

    graphql-core's validation is linear in the fields a document selects, except its "fields
    can be merged" rule, which compares every pair of selections sharing a response name in
    one selection set, and their sub-selections merged: ``{ me { id } me { id } … }`` with
    1,000 repeats (10 KB, under the token limit) costs about a second of CPU on the event
    loop. This walk counts both, spreading fragments where they are spread, and stops as soon
    as one is over its limit, so it costs at most ``max_fields`` steps.

    Args:
        document: the parsed document.
        max_fields: field selections allowed, a fragment's fields counted at every spread
            (``INBOX_GRAPH_MAX_FIELDS``).
        max_overlaps: pairs of selections sharing a response name in one selection set,
            sub-selections of a shared name merged (``INBOX_GRAPH_MAX_FIELD_OVERLAPS``).

    Returns:
        ``None`` within both limits, else a ``GRAPHQL_VALIDATION_FAILED`` error with
        ``extensions.limit`` (``fields`` or ``fieldOverlaps``) and ``extensions.maximum``.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields = overlaps = 0

    def flatten(selection_set: SelectionSetNode, into: list[FieldNode]) -> None:
        nonlocal fields
        pending: list[tuple[SelectionSetNode, frozenset[str]]] = [(selection_set, frozenset())]
        while pending:
            current, spread = pending.pop()
            for selection in current.selections:
                if isinstance(selection, FieldNode):
                    fields += 1
                    if fields > max_fields:
                        raise _OverLimit("fields", max_fields)
                    into.append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    pending.append((selection.selection_set, spread))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = fragments.get(name)
                    # unknown fragments and cycles are validation errors of their own
                    if fragment is not None and name not in spread:
                        pending.append((fragment.selection_set, spread | {name}))

    roots = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    roots += fragments.values()  # validated on their own too
    try:
        for root in roots:
            merged: list[list[FieldNode]] = [[]]
            flatten(root.selection_set, merged[0])
            while merged:
                by_name: dict[str, list[FieldNode]] = {}
                for field in merged.pop():
                    by_name.setdefault((field.alias or field.name).value, []).append(field)
                for group in by_name.values():
                    overlaps += len(group) * (len(group) - 1) // 2
                    if overlaps > max_overlaps:
                        raise _OverLimit("fieldOverlaps", max_overlaps)
                    children: list[FieldNode] = []
                    for field in group:
                        if field.selection_set is not None:
                            flatten(field.selection_set, children)
                    if children:
                        merged.append(children)
    except _OverLimit as over:
        return over.error()
    return None


class Documents:
    """The documents one schema validated without errors, by their text: parsed once, and
    validated once, however often clients send them.

    The cache is weighed by the length of the texts it holds, not by how many: a parsed
    document takes about 150 bytes of memory per byte of its text (tokens and locations), so
    a cache of 1,000 documents of 10 KB each (the token limit allows that) held 1.8 GB.
    Only valid documents enter: refused ones (a syntax error, over a limit, invalid) are
    parsed and refused again when sent again, and never evict what clients do send.
    """

    def __init__(self, max_bytes: int) -> None:
        self._cache: cachetools.LRUCache[str, tuple[int, DocumentNode]] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry[0]
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, text: str) -> DocumentNode | None:
        with self._lock:
            entry = self._cache.get(text)
        return entry[1] if entry is not None else None

    def put(self, text: str, document: DocumentNode) -> None:
        with self._lock, contextlib.suppress(ValueError):  # a text larger than the whole cache
            self._cache[text] = (len(text), document)


def refused_document(operation_name: str | None) -> DocumentNode:
    """``query <operation_name> { __typename }``: what stands for a refused request's document
    until its refusal is answered (strawberry reads the operation, by the request's name, from
    the document in between). Built, not parsed: the name is the client's, any string."""
    return DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=GraphQLOperationType.QUERY,
                name=NameNode(value=operation_name) if operation_name else None,
                variable_definitions=(),
                directives=(),
                selection_set=SelectionSetNode(
                    selections=(
                        FieldNode(
                            name=NameNode(value="__typename"),
                            arguments=(),
                            directives=(),
                        ),
                    )
                ),
            ),
        )
    )


class CachedDocuments(SchemaExtension):
    """Parse and validate with :class:`Documents`, so that a document nobody sent before is
    what costs, and refuse early what would cost too much:

    - a document not in the cache is parsed only while its client's budget has a point left
      (:func:`graph.throttle.admit_document`: ``RATE_LIMITED`` otherwise, before parsing);
    - nor when it is longer than ``max_characters`` (``GRAPHQL_PARSE_FAILED``, ``limit:
      "documentCharacters"``): graphql-core's lexer reads a comment or a string character by
      character in Python (a 1 MB comment beside ``{ __typename }``, under the token limit,
      took 0.2 s of CPU for one point of an anonymous budget);
    - parsing stops at the first selection over the field limits (:class:`_CountingParser`),
      and :func:`selection_load` checks them again with fragments spread, before
      graphql-core's rules run (``GRAPHQL_VALIDATION_FAILED`` with ``extensions.limit``);
    - a document refused by a limit, or invalid, spends one point of the budget.

    A document that does not parse is left to strawberry's own parse, which answers it inside
    its error handling (parsing in this hook, outside it, let the syntax error escape over
    WebSocket: a traceback in the log and a bare ``complete``, strawberry issue #1439).

    With ``hide_suggestions`` (introspection off: production's default), validation errors
    say no "Did you mean …?" (graphql-core's ``hide_suggestions``), which would otherwise
    spell out the hidden schema name by name.
    """

    def __init__(
        self,
        documents: Documents,
        *,
        max_fields: int,
        max_overlaps: int,
        max_characters: int | None = None,
        hide_suggestions: bool = False,
    ) -> None:
        super().__init__()
        self.documents = documents
        self.max_fields, self.max_overlaps = max_fields, max_overlaps
        self.max_characters = max_characters
        self.hide_suggestions = hide_suggestions
        self.validated = False
        self.refused: GraphQLError | None = None

    async def on_parse(self):
        context = self.execution_context
        document = self.documents.get(context.query) if context.query else None
        if document is not None:
            context.graphql_document, self.validated = document, True
        elif context.query:
            try:
                # parsing costs up to ~20 ms (the token limit): not for a client out of budget
                await admit_document(context.context)
                if self.max_characters is not None and len(context.query) > self.max_characters:
                    raise _TooLong(self.max_characters)
                context.graphql_document = _CountingParser(
                    context.query,
                    max_fields=self.max_fields,
                    max_overlaps=self.max_overlaps,
                    **context.parse_options,
                ).parse_document()
            except RateLimited as error:
                self.refused = error
                context.graphql_document = refused_document(context.operation_name)
            except (_OverLimit, _TooLong) as over:
                self.refused = over.error()
                context.graphql_document = refused_document(context.operation_name)
                await spend_point(context.context)
            except (GraphQLError, RecursionError):  # graphql-core's parse() turns the latter
                await spend_point(context.context)  # into a syntax error: strawberry parses it
                # again, and answers
        yield

    async def on_validate(self):
        context = self.execution_context
        if context.pre_execution_errors:
            pass  # refused before it, without a document (graph.persisted.PersistedQueries)
        elif self.validated:
            context.pre_execution_errors = []
        elif self.refused is not None:
            context.pre_execution_errors = [self.refused]
        else:
            refused = selection_load(
                context.graphql_document,
                max_fields=self.max_fields,
                max_overlaps=self.max_overlaps,
            )
            if refused is not None:
                context.pre_execution_errors = [refused]
            else:
                # strawberry's validation (graphql-core's rules, and its rules for Maybe and
                # @oneOf inputs), with or without suggestions
                context.pre_execution_errors = validate(
                    context.schema._schema,
                    context.graphql_document,
                    (
                        *context.validation_rules,
                        MaybeNullValidationRule,
                        OneOfInputValidationRule,
                    ),
                    hide_suggestions=self.hide_suggestions,
                )
            if context.pre_execution_errors:
                await spend_point(context.context)
            elif context.query:
                self.documents.put(context.query, context.graphql_document)
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
        if (
            document is not None
            and not operation_name_given.get()
            and not context.pre_execution_errors
        ):
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    GraphQLError(
                        "The document holds several operations: say which with `operationName`.",
                        extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED},
                    )
                ]
        yield


async def charge_budget(context: Any, requested: int, operation: OperationDefinitionNode) -> Any:
    """Spend ``requested`` points (:func:`graph.cost.requested_cost`) of the budget of
    ``context`` (a :class:`graph.context.Context` with a ``throttle``) for ``operation``, as
    :class:`CostBudget` does before an operation runs: a :class:`graph.throttle.Charge`. The
    budget after an allowed subscription is not read: its answers carry no cost."""
    subscription = operation.operation is GraphQLOperationType.SUBSCRIPTION
    return await context.throttle.charge(budget_key(context), requested, status=not subscription)


async def cost_refusal(context: Any, requested: int, charge: Any) -> GraphQLError | None:
    """The error refusing an operation :func:`charge_budget` could not pay for (``None`` when
    it was allowed): ``RATE_LIMITED`` with ``retryAfter`` (seconds; the budget has not the
    points now) or ``GRAPHQL_VALIDATION_FAILED`` (it costs more than the whole budget), both
    with ``extensions.cost`` (:meth:`CostBudget.get_results`' shape, ``actualQueryCost``
    null)."""
    if charge.allowed:
        return None
    cost = {
        "requestedQueryCost": requested,
        "actualQueryCost": None,
        "throttleStatus": charge.status.as_extension() if charge.status is not None else None,
    }
    if charge.retry_after is None:
        return GraphQLError(
            f"The operation costs {requested} points, more than the budget of "
            f"{charge.status.maximum_available if charge.status else 'this client'}: select "
            "fewer fields or smaller pages.",
            extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED, "cost": cost},
        )
    return RateLimited(
        f"The operation costs {requested} points, more than the budget has now: retry "
        "after `retryAfter` seconds.",
        retryAfter=await hold(context.request, charge.retry_after),
        limit="cost",
        cost=cost,
    )


class CostBudget(SchemaExtension):
    """Charges every valid operation's requested cost to its budget once validated, before it
    runs (``domain.md`` section 8; the README's "Rate limits and query cost").

    An operation the budget cannot pay for now is refused with ``RATE_LIMITED`` and
    ``extensions.retryAfter`` (seconds until it can), one that costs more than the whole budget
    with ``GRAPHQL_VALIDATION_FAILED``; neither runs (over WebSocket: an ``error`` frame, the
    socket stays open). Every query and mutation answer carries ``extensions.cost``::

        {"requestedQueryCost": 76, "actualQueryCost": 12,
         "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 924, "restoreRate": 50.0}}

    (points; ``restoreRate`` in points a second). ``requestedQueryCost`` and
    ``actualQueryCost`` are null when the document did not validate (it spent one point:
    :class:`CachedDocuments`), ``actualQueryCost`` when the operation did not
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
        if not context.pre_execution_errors:
            error = await self.charge()
            if error is not None:
                context.pre_execution_errors = [error]
        yield

    async def charge(self) -> GraphQLError | None:
        """Charge the valid operation of the execution context's document to its budget: the
        error refusing it (nothing may run), or ``None``. Nothing is charged without a
        throttle, or for a subscription's event (executed with the event as its root value,
        :func:`graph.fanout.execute_payload`: charged when it started, not per event); a
        failure to charge is logged, and the operation runs uncharged."""
        context = self.execution_context
        throttle = getattr(context.context, "throttle", None)
        document = context.graphql_document
        if throttle is None or document is None or context.root_value is not None:
            return None
        operation = find_operation(document, context.operation_name)
        if operation is None:
            return None
        try:
            return await self._charge(throttle, document, operation)
        except Exception:
            log.exception("charging the operation's cost failed; it runs uncharged")
            return None

    async def _charge(self, throttle: Any, document: Any, operation: Any) -> GraphQLError | None:
        context = self.execution_context
        query = context.query if isinstance(context.query, str) else None
        self.requested = requested_cost(
            context.schema._schema, query, document, operation, context.variables
        )
        charge = await charge_budget(context.context, self.requested, operation)
        self.status, self.charged = charge.status, True
        return await cost_refusal(context.context, self.requested, charge)

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
        operation = (
            find_operation(document, context.operation_name) if document is not None else None
        )
        if operation is not None and operation.operation is GraphQLOperationType.SUBSCRIPTION:
            return {}
        if not self.charged:
            self.status = await throttle.status(budget_key(context.context))
        request, response = context.context.request, context.context.response
        http = getattr(request, "scope", {}).get("type") == "http"
        if self.status is not None and response is not None and http:
            _set_headers(response.headers, self.status.headers())
        actual = None
        data = getattr(context.result, "data", None)
        if self.requested is not None and operation is not None and isinstance(data, dict):
            try:
                actual = operation_cost(
                    context.schema._schema, document, operation, context.variables, data
                )
            except Exception:
                log.exception("computing the actual cost failed")
        return {"cost": self._extension(actual)}


def _set_headers(headers: Any, values: dict[str, str]) -> None:
    """``headers.update(values)`` of starlette's ``MutableHeaders``: each header set, replacing
    its namesakes; when none is there yet (a fresh sub-response's), appended at once."""
    raw = headers.raw
    added = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in values.items()
    ]
    if raw and any(name == present for name, _ in added for present, _ in raw):
        headers.update(values)
    else:
        raw += added


def is_expected(error: GraphQLError) -> bool:
    """Whether an error is the client's doing (coded, parse, validation or variable error) or
    an unreachable database (logged once per outage), which the server log need not report
    with a traceback."""
    original = error.original_error
    if original is None or is_unavailable(original) or isinstance(original, _REQUEST_MISTAKES):
        return True
    return isinstance(original, GraphQLError) and (
        bool((original.extensions or {}).get("code")) or error.path is None
    )


_PER_OPERATION = object()
"""A hook strawberry wraps per operation (:meth:`_CachedHooks.get_hook`)."""


def _hook_factory(cls: type, name: str, default: Any) -> Any:
    """How an extension class's hook ``name`` becomes a context manager, as strawberry's
    ``ExtensionContextManagerBase.get_hook`` decides it: ``None`` (not overridden), a
    ``(factory, is_async)`` pair for a generator or an async generator (the factory takes the
    extension), else :data:`_PER_OPERATION`."""
    hook = getattr(cls, name)
    if hook is default:
        return None
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    return _PER_OPERATION  # a plain callable, or what strawberry refuses: strawberry's own way


def _chain(new: BaseException, old: BaseException | None, frame: BaseException | None) -> None:
    """Make ``old`` the context of ``new`` (at the end of its chain), as
    ``contextlib.ExitStack`` does when an exit callback raises."""
    while True:
        context = new.__context__
        if context is None or context is old:
            return
        if context is frame:
            break
        new = context
    new.__context__ = old


class _CachedHooks:
    """strawberry's per-stage context managers (parse, validate, execute, the operation),
    with each extension *class*'s hooks inspected once (issue 23, reconnect storms).

    strawberry inspects every extension's hook and wraps it in a new
    ``contextlib.asynccontextmanager`` (a function made with ``functools.wraps``) for every
    stage of every operation: about a tenth of a subscription's set-up in a storm. Here the
    wrapper is made once per class and hook, and bound to the operation's extension with
    ``functools.partial``: ``factory(extension)`` makes the same context manager
    ``asynccontextmanager(MethodType(hook, extension))()`` did, entered and exited by
    strawberry as before. Hooks that are plain functions go through strawberry's code."""

    __slots__ = ()
    HOOK_NAME: str
    default_hook: Any
    _factories: dict[type, Any]
    _plans: dict[tuple[type, ...], tuple[tuple[int, Any], ...]]

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        """strawberry's, with the stage's hooks found once per sequence of extension classes
        (the schema's: the same for every operation): ``get_hook`` is asked only of the
        extensions whose class overrides the stage's hook, in the same order."""
        self.default_hook = getattr(SchemaExtension, self.HOOK_NAME)  # strawberry's get_hook
        key = tuple(map(type, extensions))
        try:
            plan = self._plans[key]
        except KeyError:
            plan = self._plans[key] = tuple(
                (position, factory)
                for position, cls in enumerate(key)
                if (factory := self._factory(cls)) is not None
            )
        self.hooks = hooks = []
        for position, factory in plan:
            extension = extensions[position]
            if factory is _PER_OPERATION:
                hook = super().get_hook(extension)  # type: ignore[misc]
                if hook:
                    hooks.append(hook)
            else:
                make, is_async = factory
                hooks.append(WrappedHook(extension, partial(make, extension), is_async))

    def _factory(self, cls: type) -> Any:
        try:
            return self._factories[cls]
        except KeyError:
            factory = _hook_factory(cls, self.HOOK_NAME, getattr(SchemaExtension, self.HOOK_NAME))
            self._factories[cls] = factory
            return factory

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        factory = self._factory(type(extension))
        if factory is None:
            return None
        if factory is _PER_OPERATION:
            return super().get_hook(extension)  # type: ignore[misc]
        make, is_async = factory
        return WrappedHook(extension=extension, hook=partial(make, extension), is_async=is_async)

    async def __aenter__(self) -> None:
        """Enter every hook's context manager in order, as strawberry's
        ``contextlib.AsyncExitStack`` did, without the stack: a stage of every operation
        (four per request) paid for the stack's bookkeeping (a bound exit method and a closure
        per hook). A hook that raises propagates, the hooks entered before it left open, as
        with strawberry's (``async with`` does not exit what failed to enter)."""
        entered = self.async_exit_stack = []  # the slot strawberry kept its stack in
        for hook in self.hooks:
            manager = hook.hook()
            if hook.is_async:
                await manager.__aenter__()
            else:
                manager.__enter__()
            entered.append((manager, hook.is_async))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Exit the entered context managers in reverse order, with ``contextlib.ExitStack``'s
        rules: one that suppresses the exception hides it from the ones after it, one that
        raises passes its exception (chained to the one it replaced) to the ones after it, and
        the last exception raised propagates. As strawberry's, the stage itself suppresses
        nothing: the exception of its body propagates even when a hook suppressed it."""
        raised = None
        frame_exc = sys.exc_info()[1]
        for manager, is_async in reversed(self.async_exit_stack):
            try:
                if is_async:
                    suppressed = await manager.__aexit__(exc_type, exc, traceback)
                else:
                    suppressed = manager.__exit__(exc_type, exc, traceback)
            except BaseException as error:  # noqa: BLE001 - passed on as ExitStack does
                _chain(error, exc, frame_exc)
                exc_type, exc, traceback, raised = type(error), error, error.__traceback__, error
            else:
                if suppressed and exc is not None:
                    exc_type = exc = traceback = raised = None
        if raised is not None:
            context = raised.__context__
            try:
                raise raised
            except BaseException:
                raised.__context__ = context  # not the exception being handled: see _chain
                raise


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()
    _factories: dict[type, Any] = {}  # noqa: RUF012 - per class, filled once per extension class
    _plans: dict[tuple[type, ...], Any] = {}  # noqa: RUF012


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()
    _factories: dict[type, Any] = {}  # noqa: RUF012
    _plans: dict[tuple[type, ...], Any] = {}  # noqa: RUF012


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()
    _factories: dict[type, Any] = {}  # noqa: RUF012
    _plans: dict[tuple[type, ...], Any] = {}  # noqa: RUF012


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()
    _factories: dict[type, Any] = {}  # noqa: RUF012
    _plans: dict[tuple[type, ...], Any] = {}  # noqa: RUF012


class CachedHooksRunner(SchemaExtensionsRunner):
    """strawberry's extension runner with the hooks of each extension class inspected once
    (:class:`_CachedHooks`); ``on_stream_result`` is strawberry's. Made for every operation
    by :meth:`graph.schema.InboxSchema.create_extensions_runner`."""

    def operation(self) -> Any:
        return _Operation(self.extensions)

    def validation(self) -> Any:
        return _Validation(self.extensions)

    def parsing(self) -> Any:
        return _Parsing(self.extensions)

    def executing(self) -> Any:
        return _Executing(self.extensions)


__all__ = [
    "CachedDocuments",
    "CachedHooksRunner",
    "CodedErrors",
    "CostBudget",
    "Documents",
    "SingleOperation",
    "add_code",
    "as_graphql_error",
    "charge_budget",
    "coded_errors",
    "cost_refusal",
    "is_expected",
    "is_request_error",
    "operation_name_given",
    "request_mistake",
    "selection_load",
    "unavailable_error",
    "unstorable_input",
]

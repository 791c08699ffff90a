"""Schema extensions: coded, masked errors.

Every error a client receives carries ``extensions.code``:

- errors raised on purpose (:class:`graph.errors.CodedError`, permission classes) keep theirs;
- syntax errors get ``GRAPHQL_PARSE_FAILED``; validation errors (unknown fields, wrong
  argument types, depth/alias/token limits) ``GRAPHQL_VALIDATION_FAILED``;
- anything unexpected is logged with its traceback and answered as
  ``INTERNAL_SERVER_ERROR`` with a generic message: nothing internal leaks.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

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
    kind = "GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error") else "GRAPHQL_VALIDATION_FAILED"
    error.extensions = {**(error.extensions or {}), "code": kind}


class CodedErrors(MaskErrors):
    """Masks unexpected errors and gives every error an ``extensions.code``."""

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def on_operation(self):
        yield from super().on_operation()
        for error in self.execution_context.pre_execution_errors or ():
            if error.original_error is None:
                add_code(error)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
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
                processed.append(_with_code(error, "BAD_USER_INPUT"))
            else:
                log.error("unexpected error at %s", error.path, exc_info=original)
                processed.append(_with_code(error, "INTERNAL_SERVER_ERROR", self.error_message))
        return processed


def is_expected(error: GraphQLError) -> bool:
    """Whether an error is the client's doing (coded, parse, validation or variable error),
    which the server log need not report with a traceback."""
    original = error.original_error
    if original is None:
        return True
    return isinstance(original, GraphQLError) and (
        bool((original.extensions or {}).get("code")) or error.path is None
    )


__all__ = ["CodedErrors", "add_code", "is_expected"]

"""Errors a client branches on, each carrying ``extensions.code`` (``contract.graphql``).

:class:`ErrorCode` lists every code the API sends; everything that writes a code (these
classes, permission classes, validation rules, the HTTP and WebSocket layers) takes it from
there. Raise the classes below from resolvers; anything else is masked as
``INTERNAL_SERVER_ERROR`` by :class:`graph.extensions.CodedErrors` and logged with its
traceback on the server only.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from db.availability import RETRY_AFTER_SECONDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


class ErrorCode(StrEnum):
    """The ``extensions.code`` of an error: what a client branches on. Members compare equal
    to (and serialise as) their values."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    """No valid bearer token."""
    FORBIDDEN = "FORBIDDEN"
    """The viewer may not do this: role, permission, token scope (``extensions.field`` names
    the input refused, ``extensions.requiredScopes`` the scopes missing)."""
    NOT_FOUND = "NOT_FOUND"
    """It does not exist, or the viewer may not see it (``domain.md`` section 1)."""
    CONFLICT = "CONFLICT"
    """The state changed under the request (a call answered by someone else, a duplicate)."""
    BAD_USER_INPUT = "BAD_USER_INPUT"
    """An argument is invalid (``extensions.field`` names it)."""
    NOT_CONFIGURED = "NOT_CONFIGURED"
    """The deployment lacks a setting the operation needs."""
    CRM_UNAVAILABLE = "CRM_UNAVAILABLE"
    """A CRM did not answer in time, kept failing or kept rate-limiting."""
    CRM_AUTH_FAILED = "CRM_AUTH_FAILED"
    """A CRM refused the credentials."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many requests or points: retry after ``extensions.retryAfter`` seconds (HTTP 429)."""
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    """The database (or the server's capacity) is unavailable for a moment (HTTP 503)."""
    HISTORY_PRUNED = "HISTORY_PRUNED"
    """A subscription's ``afterSequence`` is older than the outbox keeps."""
    TIMEOUT = "TIMEOUT"
    """The request body did not arrive in time (HTTP 408), or the request ran too long (504)."""
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    """Anything unexpected, masked (logged on the server)."""
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    """The document is not valid GraphQL syntax."""
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    """The document does not validate against the schema, or exceeds a limit (depth,
    aliases, cost ...)."""
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    """A request named its document by hash only (``extensions.persistedQuery``) and the
    server does not know that hash: send the document's text with the hash (Apollo's automatic
    persisted queries, :mod:`graph.persisted`). The message is ``PersistedQueryNotFound``."""
    PERSISTED_QUERY_ONLY = "PERSISTED_QUERY_ONLY"
    """Trusted documents are on (``INBOX_GRAPH_TRUSTED_DOCUMENTS``): this server runs only
    documents registered by ``inbox-graph register-documents``; the request's document is not
    one of them (:mod:`graph.persisted`)."""


class CodedError(GraphQLError):
    """A GraphQL error with ``extensions.code`` (and ``extensions.field`` when given)."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        ext: dict[str, Any] = {"code": self.code.value, **extensions}
        if field is not None:
            ext["field"] = field
        super().__init__(message, extensions=ext)


class Unauthenticated(CodedError):
    code = ErrorCode.UNAUTHENTICATED

    def __init__(
        self, message: str = "Authentication required: send a valid bearer token."
    ) -> None:
        super().__init__(message)


class Forbidden(CodedError):
    code = ErrorCode.FORBIDDEN


class NotFound(CodedError):
    """Something that does not exist, or that the viewer may not see (``domain.md`` section 1)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "Object", *, field: str | None = None) -> None:
        super().__init__(f"{what} not found.", field=field)


class Conflict(CodedError):
    code = ErrorCode.CONFLICT


class BadUserInput(CodedError):
    code = ErrorCode.BAD_USER_INPUT


class InvalidInput(BadUserInput):
    """Several fields of a request's input are invalid: each is reported as an error of its
    own (:func:`graph.extensions.coded_errors` spreads them into the response's ``errors``,
    one per field, each with its ``extensions.code`` and ``extensions.field``). Raised by
    :meth:`FieldErrors.raise_if_any`, never directly."""

    def __init__(self, errors: list[CodedError]) -> None:
        self.errors = errors
        fields = ", ".join(str((e.extensions or {}).get("field")) for e in errors)
        super().__init__(f"{len(errors)} invalid fields: {fields}.")


class FieldErrors:
    """The one place that gathers the field errors of a request's input, so that every
    invalid field is reported at once instead of only the first.

    Each check runs in :meth:`collect`, which keeps a coded error naming a field
    (``extensions.field``) and lets anything else through; :meth:`raise_if_any` then raises
    what was kept: the error itself when there is one, :class:`InvalidInput` when several.
    A field is reported once, by its first error (a later check tripping over the same bad
    value says nothing new).

    Example:
        ``errors = FieldErrors()``; ``with errors.collect(): check_email(...)``;
        ``with errors.collect(): check_country(...)``; ``errors.raise_if_any()``
    """

    def __init__(self) -> None:
        self.errors: list[CodedError] = []
        self._fields: set[Any] = set()  # those of ``errors``: each error kept or not at once

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a check; keep the field error it raises (others propagate)."""
        try:
            yield
        except InvalidInput as several:
            for error in several.errors:
                self._keep(error)
        except CodedError as error:
            if "field" not in (error.extensions or {}):
                raise
            self._keep(error)

    def _keep(self, error: CodedError) -> None:
        field = (error.extensions or {}).get("field")
        if field not in self._fields:
            self._fields.add(field)
            self.errors.append(error)

    def raise_if_any(self) -> None:
        """Raise the errors kept, if any (nothing happens otherwise).

        The errors are handed over, not kept: a raised error's traceback holds the frame
        that collected it, whose ``FieldErrors`` would otherwise hold the error again (a
        cycle that kept a refused request's executor, context and rows for the cyclic
        garbage collector).

        Raises:
            CodedError: the one error kept.
            InvalidInput: several, one per field.
        """
        kept, self.errors = self.errors, []
        self._fields = set()
        if len(kept) == 1:
            raise kept.pop()
        if kept:
            raise InvalidInput(kept)


class WrongPassword(BadUserInput):
    """The current password given to confirm a change is wrong (``field``:
    ``currentPassword``); counted by the login throttle like a failed login."""

    def __init__(self, message: str = "The current password is wrong.") -> None:
        super().__init__(message, field="currentPassword")


class NotConfigured(CodedError):
    """The deployment lacks a setting the operation needs (e.g. ``INBOX_GRAPH_SECRET_KEY``)."""

    code = ErrorCode.NOT_CONFIGURED


class CrmUnavailable(CodedError):
    """A CRM did not answer in time, kept failing (5xx) or kept rate-limiting (429)."""

    code = ErrorCode.CRM_UNAVAILABLE


class CrmAuthFailed(CodedError):
    """A CRM refused the stored (or offered) credentials: reconnect the integration."""

    code = ErrorCode.CRM_AUTH_FAILED


class RateLimited(CodedError):
    code = ErrorCode.RATE_LIMITED


class ServiceUnavailable(CodedError):
    """The database cannot be reached right now (:func:`db.availability.is_unavailable`):
    nothing was changed (unless :class:`SaveUncertain` says otherwise); retry after
    ``extensions.retryAfter`` seconds (HTTP: status 503 and ``Retry-After``)."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(
        self, message: str = "The service is unavailable for a moment: retry shortly."
    ) -> None:
        super().__init__(message, retryAfter=RETRY_AFTER_SECONDS)


class SaveUncertain(ServiceUnavailable):
    """The database went away while a write was committing: it may or may not be saved
    (``extensions.saved`` null), so a client must not take the usual "nothing was changed"
    for granted. Sent again with the same ``idempotencyKey``, it answers what was saved, or
    saves it now."""

    def __init__(self) -> None:
        super().__init__(
            "The database went away while this change was being saved: it may have been "
            "saved (`extensions.saved` is null). Read the current state before trying again, "
            "or send it again with the same `idempotencyKey`, which answers what was saved or "
            "saves it now."
        )
        self.extensions["saved"] = None


class TimedOut(CodedError):
    """An operation that took longer than ``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` was stopped
    (over HTTP: status 504). What it was writing rolls back; a write it had committed before
    stays, and the error says so (``extensions.saved``: ``true``; ``null`` when it was stopped
    while a commit was under way: :mod:`graph.request_scope`)."""

    code = ErrorCode.TIMEOUT

    def __init__(self, seconds: float, *, saved: bool | None = False) -> None:
        super().__init__(timed_out_message("operation", seconds, saved), saved=saved)


def timed_out_message(what: str, seconds: float, saved: bool | None) -> str:
    """What a ``TIMEOUT`` error says of a request or operation stopped after ``seconds``
    (``saved``: as ``extensions.saved``)."""
    stopped = f"The {what} took longer than {seconds:g} seconds: it was stopped"
    if saved is False:
        return f"{stopped}."
    done = (
        "after a change it made was saved"
        if saved
        else "while a change it made was being saved: it may have been saved"
    )
    return (
        f"{stopped} {done} (`extensions.saved`): read the current state before trying again, "
        "or send it again with the same `idempotencyKey` to get the saved answer."
    )


class HistoryPruned(CodedError):
    """The events after the client's ``afterSequence`` are no longer kept: reload, then
    subscribe again from the current state."""

    code = ErrorCode.HISTORY_PRUNED


class PersistedQueryNotFound(CodedError):
    """The hash of a hash-only request is unknown here (the message is the one Apollo's
    persisted-query link looks for): the client sends the document with its hash."""

    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryOnly(CodedError):
    """Trusted documents are on and the request's document is not registered."""

    code = ErrorCode.PERSISTED_QUERY_ONLY


def forget_frames(errors: Iterable[BaseException]) -> None:
    """Clear the locals of the frames ``errors`` were raised through (and their causes',
    contexts' and original errors'), once a response holds them (or their masked copies).

    Those frames name what made the error: the executor (``self`` of graphql-core's
    completion methods), the gathers that awaited a failing field (``gather_with_cancel``'s
    tasks, which hold the error), strawberry's execution context (its parse, which keeps a
    syntax error in ``pre_execution_errors``). Each is a cycle through the error's traceback
    that kept a request answered with an error (a bad cursor, a row that is not there, a
    document that does not parse), and its context, loaders and rows, for the cyclic garbage
    collector (issue 23). The tracebacks keep their code and line numbers: a logged error
    prints as before (:func:`traceback.clear_frames`; a frame still running is left as it
    is)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = list(errors)
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        pending += [getattr(error, "original_error", None), error.__cause__, error.__context__]


class RefusalWarning:
    """A warning about something the server refuses often (connections over a maximum):
    logged at most once per ``every`` seconds, with how many were refused since the previous
    one (``message``'s last ``%d``), so that a flood of refusals does not flood the log."""

    def __init__(self, logger: logging.Logger, message: str, every: float = 60.0) -> None:
        self.logger, self.message, self.every = logger, message, every
        self.refused = 0
        self.logged = -math.inf

    def refused_one(self, *args: Any) -> None:
        """Count one refusal; warn (``message`` with ``args`` and the count) if it is time."""
        self.refused += 1
        now = time.monotonic()
        if now - self.logged >= self.every:
            self.logger.warning(self.message, *args, self.refused)
            self.refused, self.logged = 0, now


__all__ = [
    "BadUserInput",
    "CodedError",
    "Conflict",
    "CrmAuthFailed",
    "CrmUnavailable",
    "ErrorCode",
    "FieldErrors",
    "Forbidden",
    "HistoryPruned",
    "InvalidInput",
    "NotConfigured",
    "NotFound",
    "PersistedQueryNotFound",
    "PersistedQueryOnly",
    "RateLimited",
    "RefusalWarning",
    "SaveUncertain",
    "ServiceUnavailable",
    "Unauthenticated",
    "forget_frames",
]

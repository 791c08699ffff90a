"""Errors a client branches on, each carrying ``extensions.code`` (``contract.graphql``).

Raise these from resolvers; anything else is masked as ``INTERNAL_SERVER_ERROR`` by
:class:`graph.extensions.CodedErrors` and logged with its traceback on the server only.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from db.availability import RETRY_AFTER_SECONDS


class CodedError(GraphQLError):
    """A GraphQL error with ``extensions.code`` (and ``extensions.field`` when given)."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        ext: dict[str, Any] = {"code": self.code, **extensions}
        if field is not None:
            ext["field"] = field
        super().__init__(message, extensions=ext)


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required: send a valid bearer token.") -> None:
        super().__init__(message)


class Forbidden(CodedError):
    code = "FORBIDDEN"


class NotFound(CodedError):
    """Something that does not exist, or that the viewer may not see (``domain.md`` section 1)."""

    code = "NOT_FOUND"

    def __init__(self, what: str = "Object", *, field: str | None = None) -> None:
        super().__init__(f"{what} not found.", field=field)


class Conflict(CodedError):
    code = "CONFLICT"


class BadUserInput(CodedError):
    code = "BAD_USER_INPUT"


class WrongPassword(BadUserInput):
    """The current password given to confirm a change is wrong (``field``:
    ``currentPassword``); counted by the login throttle like a failed login."""

    def __init__(self, message: str = "The current password is wrong.") -> None:
        super().__init__(message, field="currentPassword")


class NotConfigured(CodedError):
    """The deployment lacks a setting the operation needs (e.g. ``INBOX_GRAPH_SECRET_KEY``)."""

    code = "NOT_CONFIGURED"


class CrmUnavailable(CodedError):
    """A CRM did not answer in time, kept failing (5xx) or kept rate-limiting (429)."""

    code = "CRM_UNAVAILABLE"


class CrmAuthFailed(CodedError):
    """A CRM refused the stored (or offered) credentials: reconnect the integration."""

    code = "CRM_AUTH_FAILED"


class RateLimited(CodedError):
    code = "RATE_LIMITED"


class ServiceUnavailable(CodedError):
    """The database cannot be reached right now (:func:`db.availability.is_unavailable`):
    nothing was changed; retry after ``extensions.retryAfter`` seconds (HTTP: status 503 and
    ``Retry-After``)."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str = "The service is unavailable for a moment: retry shortly.") -> None:
        super().__init__(message, retryAfter=RETRY_AFTER_SECONDS)


class HistoryPruned(CodedError):
    """The events after the client's ``afterSequence`` are no longer kept: reload, then
    subscribe again from the current state."""

    code = "HISTORY_PRUNED"


__all__ = [
    "BadUserInput",
    "CodedError",
    "Conflict",
    "CrmAuthFailed",
    "CrmUnavailable",
    "Forbidden",
    "NotFound",
    "HistoryPruned",
    "NotConfigured",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
]

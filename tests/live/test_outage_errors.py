"""What a subscription's catch-up waits out during a database outage is exactly what a client
would otherwise be answered ``SERVICE_UNAVAILABLE`` (``graph.extensions.means_unavailable``
against ``coded_errors``): a CI run of ``test_database_outage`` saw a replaying subscriber
ended by a ``next`` carrying ``SERVICE_UNAVAILABLE`` (the catch-up took an error as final
that the client was told to retry), which is what an outage must never do to a replay."""

from __future__ import annotations

import asyncpg
import pytest
from graphql import GraphQLError, located_error
from strawberry.exceptions import MissingQueryError
from tortoise.exceptions import DBConnectionError, OperationalError

from db.availability import is_unavailable
from graph.errors import ErrorCode, Forbidden, ServiceUnavailable
from graph.extensions import as_graphql_error, coded_errors, means_unavailable


def _refused() -> OperationalError:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise OperationalError(exc) from exc
    except OperationalError as exc:
        return exc


UNAVAILABLE = {
    "refused connection": ConnectionRefusedError(111, "Connection refused"),
    "tortoise wrapping it": _refused(),
    "tortoise's connection error": DBConnectionError("gone"),
    "asyncpg's lost connection": asyncpg.ConnectionDoesNotExistError("closed"),
    "PostgreSQL shutting down": asyncpg.AdminShutdownError("terminating"),
    "coded": ServiceUnavailable(),
    "located, coded": located_error(ServiceUnavailable(), None, ["newMessage"]),
    "located, uncoded": located_error(ConnectionResetError(104, "reset"), None, ["newMessage"]),
    "wrapped without a chain": GraphQLError("x", original_error=DBConnectionError("gone")),
}
OTHER = {
    "a bug": ValueError("bug"),
    "coded otherwise": Forbidden("no"),
    "located bug": located_error(KeyError("k"), None, ["newMessage"]),
    "coded otherwise, caused by an outage": GraphQLError(
        "x", original_error=DBConnectionError("gone"), extensions={"code": "FORBIDDEN"}
    ),
}


def _code(error: BaseException) -> str:
    [coded] = coded_errors([as_graphql_error(error)])  # type: ignore[arg-type]
    return coded.extensions["code"]


@pytest.mark.parametrize("error", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_an_outage_is_waited_out_and_would_be_answered_service_unavailable(error):
    assert means_unavailable(error)
    assert _code(error) == ErrorCode.SERVICE_UNAVAILABLE


@pytest.mark.parametrize("error", OTHER.values(), ids=OTHER.keys())
def test_anything_else_ends_the_operation_and_is_not_answered_service_unavailable(error):
    assert not means_unavailable(error)
    assert _code(error) != ErrorCode.SERVICE_UNAVAILABLE


def test_is_unavailable_follows_a_graphql_errors_original_error():
    assert is_unavailable(GraphQLError("x", original_error=ConnectionResetError(104, "reset")))
    assert not is_unavailable(GraphQLError("x", original_error=ValueError("bug")))

    class Odd(Exception):
        original_error = "not an exception"

    assert not is_unavailable(Odd())  # looked past, not raised on


def _while_handling(error: Exception, during: Exception) -> Exception:
    """``error`` raised while ``during`` was being handled (its ``__context__``)."""
    try:
        try:
            raise during
        except Exception:  # noqa: BLE001 - any: what it was goes on __context__
            raise error
    except Exception as raised:  # noqa: BLE001 - returned, as raised
        return raised


EDGES = {
    "a bug raised while handling an outage": _while_handling(KeyError("k"), ConnectionError()),
    "a request mistake during an outage": _while_handling(
        MissingQueryError(), ConnectionResetError()
    ),
    "variable coercion over a timeout": GraphQLError(
        "bad variable", original_error=GraphQLError("x", original_error=TimeoutError())
    ),
    "an uncoded error over ServiceUnavailable, twice": GraphQLError(
        "x", original_error=GraphQLError("y", original_error=ServiceUnavailable())
    ),
    "an uncoded error over a Forbidden caused by an outage": GraphQLError(
        "x", original_error=_while_handling(Forbidden("no"), ConnectionError())
    ),
}


@pytest.mark.parametrize("error", EDGES.values(), ids=EDGES.keys())
def test_waiting_out_and_coding_agree_on_odd_errors(error):
    """Whatever it is, an error is waited out exactly when it would be answered
    ``SERVICE_UNAVAILABLE`` (one decision: ``graph.extensions._kind``)."""
    assert means_unavailable(error) == (_code(error) == ErrorCode.SERVICE_UNAVAILABLE)

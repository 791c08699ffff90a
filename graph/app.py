"""The Starlette application: ``/graphql`` (POST, GET, WebSocket) and ``/healthz``; the live
page on ``/`` (:mod:`graph.page`) with ``INBOX_GRAPH_LIVE_PAGE`` (on in development).

Request path (``architecture.md``): bearer token → viewer → strawberry → resolvers →
visibility policy → tortoise. HTTP answers follow GraphQL over HTTP
(:mod:`graph.graphql_over_http`: the media type the ``Accept`` header asks for, the status
the spec gives it; a request error has no ``data``), every refusal of this layer included.
WebSockets speak graphql-transport-ws only (:mod:`graph.websocket`); the ``connection_init``
payload carries ``{"authorization": "Bearer …"}`` and a missing or bad token closes the
socket with 4403. Browser handshakes from origins outside
``INBOX_GRAPH_ALLOWED_ORIGINS`` (and, in development, every loopback origin) are refused
(HTTP 403); the same origins get CORS headers on HTTP (:mod:`graph.origins`, one rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import math
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import mimeparse
import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from db import combined
from db.availability import (
    RETRY_AFTER_SECONDS,
    QuietConnectionErrors,
    is_unavailable,
    report_available,
    report_unavailable,
)
from db.config import tortoise_config
from db.outbox import prune_events, prune_idempotency_keys
from graph import __version__
from graph.auth import bearer_token
from graph.context import Context
from graph.crm.base import close_http as close_crm_http
from graph.errors import ErrorCode, timed_out_message
from graph.extensions import MASKED_MESSAGE, add_code, is_request_error, unavailable_error
from graph.graphql_over_http import JSON, content_type, response_media_type, response_status
from graph.ide import PREFIX as IDE_PREFIX
from graph.ide import IdeAssets
from graph.live import EventBus
from graph.origins import NameTheSetting, OriginCORS, Origins
from graph.page import PREFIX as PAGE_PREFIX
from graph.page import LivePage
from graph.persisted import PersistedDocuments
from graph.request_scope import start_request
from graph.resolvers.call import miss_unanswered_calls
from graph.schema import build_schema, lean, row_json
from graph.settings import Settings
from graph.throttle import Throttle, address_key, budget_spent, hold
from graph.webhooks import WebhookDeliverer
from graph.websocket import InboxTransportWSHandler, admit_socket, check_token
from graph.written import written_fragment, written_value

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects allowed in the JSON of a request body, of a GET's
``variables`` or ``extensions``, and of a WebSocket frame. The deepest request the schema has a
use for nests under 20 levels (a custom inbox filter of 5 nested groups, each a list and an
object, inside its input, the variables and the body)."""


MAX_JSON_CONTAINERS = 2_000
"""The most arrays and objects the JSON of a request body, a GET's ``variables`` or
``extensions``, or a WebSocket frame may hold. The largest input the schema takes holds about
150 (a custom inbox filter of 50 nodes); converting each input object costs graphql-core and
strawberry tens of microseconds before any resolver runs, so 1 MiB of them (61,000 filter
nodes) held a worker for 2 s, even for a client without a token (a helper's review)."""


class RefusedJSON(json.JSONDecodeError):
    """JSON refused for what it holds, not its syntax. A :class:`json.JSONDecodeError`, so
    strawberry refuses it like malformed JSON: 400 over HTTP (with this message), close 4400
    over WebSocket."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)

    def __str__(self) -> str:
        return f"{self.msg}."


class JSONTooDeep(RefusedJSON):
    """A JSON text nested deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels")


class TooManyContainers(RefusedJSON):
    """A JSON text of more than :data:`MAX_JSON_CONTAINERS` arrays and objects."""

    def __init__(self) -> None:
        super().__init__(f"The JSON holds more than {MAX_JSON_CONTAINERS:,} arrays and objects")


class NotUTF8(RefusedJSON):
    """A request body that is not UTF-8 (GraphQL over HTTP: JSON bodies are UTF-8; the
    standard library's :class:`UnicodeDecodeError` was a 500 with a traceback)."""

    def __init__(self) -> None:
        super().__init__("The request body is not UTF-8")


class NumberTooLong(RefusedJSON):
    """A JSON integer of more digits than Python converts (4,300: ``sys.get_int_max_str_digits``,
    a guard against quadratic conversions; the standard library's :class:`ValueError` was a 500
    with a traceback, and a socket dropped without a close frame)."""

    def __init__(self) -> None:
        super().__init__("The JSON holds an integer of more than 4,300 digits")


def _shape_refused(value: object) -> RefusedJSON | None:
    """What is wrong with the shape of ``value`` (decoded JSON): arrays and objects nested
    more than :data:`MAX_JSON_DEPTH` levels deep, or more than :data:`MAX_JSON_CONTAINERS` of
    them; ``None`` when neither. A walk without recursion that stops at either limit."""
    if not isinstance(value, (dict, list)):
        return None
    pending = [(value, 1)]
    containers = 1
    while pending:
        container, depth = pending.pop()
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, (dict, list)):
                if depth == MAX_JSON_DEPTH:
                    return JSONTooDeep()
                containers += 1
                if containers > MAX_JSON_CONTAINERS:
                    return TooManyContainers()
                pending.append((item, depth + 1))
    return None


class _BodyTooLarge(Exception):
    """The request body went over ``INBOX_GRAPH_MAX_BODY_BYTES`` while it was being read."""


class _BoundedBody:
    """An ASGI ``receive`` that stops a request body at ``limit`` bytes."""

    def __init__(self, receive: Any, limit: int) -> None:
        self._receive, self.limit = receive, limit
        self.read = 0
        self.waiting = False
        """Whether the application is waiting for the client's next bytes."""

    async def receive(self) -> Any:
        self.waiting = True  # stays so when the time limit cancels the wait
        message = await self._receive()
        self.waiting = False
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                raise _BodyTooLarge()
        return message


def _content_length(scope: Any) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn refuses malformed lengths before we see them
    return None


def _has_bearer(scope: Any) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return bearer_token(value.decode("latin-1")) is not None
    return False


_SET_BELOW = (b"content-type", b"vary")
"""Headers :meth:`InboxGraphQL.create_response` sets over what a sub-response may carry."""
_VARY_ACCEPT = (b"vary", b"Accept")


_TRANSPORTS_REMEMBERED = 256
"""``Accept`` header values whose streaming transport :class:`InboxGraphQL` remembers, and
``Content-Type`` values whose media type it remembers (:func:`_mime_type`, :func:`_json_body`)."""


_REMEMBERED_LENGTH = 200
"""The longest header value whose reading :func:`_per_header_value` remembers."""

_Read = TypeVar("_Read")


def _per_header_value(read: Callable[[str], _Read]) -> Callable[[str], _Read]:
    """``read`` (a pure function of a header's value), remembered per value of up to
    :data:`_REMEMBERED_LENGTH` characters, the :data:`_TRANSPORTS_REMEMBERED` most recently
    used: clients send the same few values."""
    remembered = functools.lru_cache(maxsize=_TRANSPORTS_REMEMBERED)(read)

    def reading(value: str) -> _Read:
        return remembered(value) if len(value) <= _REMEMBERED_LENGTH else read(value)

    return functools.wraps(read)(reading)


@_per_header_value
def _mime_type(content_type_header: str) -> str:
    """The media type strawberry reads in a ``Content-Type`` header (its ``parse_content_type``,
    :mod:`email`'s parser: about 10 µs a request), remembered (:func:`_per_header_value`); in
    lower case, as media types are compared (RFC 9110, section 8.3.1)."""
    return parse_content_type(content_type_header)[0].lower()


_media_type: ContextVar[str] = ContextVar("media_type", default=JSON)
"""The media type the HTTP request being answered is answered in (its ``Accept`` header,
:func:`graph.graphql_over_http.response_media_type`)."""


def _refusal(
    message: str,
    code: ErrorCode,
    status: int,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A GraphQL response of one request error (no ``data``), in the request's media type."""
    error = {"message": message, "extensions": {"code": code, **extensions}}
    return _errors_response([error], status, headers)


def _errors_response(
    errors: list[Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        orjson.dumps({"errors": errors}),
        status_code=status,
        headers=headers,
        media_type=content_type(_media_type.get()),
    )
    response.headers.add_vary_header("Accept")
    return response


def _spent(wait: float) -> Response:
    return _errors_response(
        [budget_spent(wait).formatted], 429, {"Retry-After": str(math.ceil(wait))}
    )


def _too_large(limit: int) -> Response:
    return _refusal(
        f"The request body is larger than {limit} bytes.",
        ErrorCode.BAD_USER_INPUT,
        413,
        {"Connection": "close"},
        limit="bodyBytes",
        maximum=limit,
    )


def _timed_out(reading_body: bool, seconds: float, saved: bool | None) -> Response:
    """408 for a body still arriving, else 504; ``saved``: the request committed a write
    before it was stopped (``True``; ``None``: its commit was under way,
    :mod:`graph.request_scope`), said by ``extensions.saved``."""
    if reading_body:
        message = f"The request body did not arrive within {seconds:g} seconds."
        return _refusal(message, ErrorCode.TIMEOUT, 408, {"Connection": "close"})
    message = timed_out_message("request", seconds, saved)
    return _refusal(message, ErrorCode.TIMEOUT, 504, {"Connection": "close"}, saved=saved)


def _not_acceptable() -> Response:
    return _refusal(
        "The Accept header names no media type this API answers in: accept "
        "application/graphql-response+json or application/json.",
        ErrorCode.BAD_USER_INPUT,
        406,
    )


def _json_body(content_type_header: str | None) -> bool:
    """Whether a POST body's ``Content-Type`` is ``application/json`` (parameters aside; in any
    case, as media types are: RFC 9110, section 8.3.1)."""
    return bool(content_type_header) and _is_json(content_type_header)


@_per_header_value
def _is_json(content_type_header: str) -> bool:
    """:func:`_json_body` of a header's value, remembered (:func:`_per_header_value`)."""
    try:
        kind, subtype, _ = mimeparse.parse_mime_type(content_type_header)
    except (mimeparse.MimeTypeParseException, ValueError):
        return False
    return (kind.lower(), subtype.lower()) == ("application", "json")


class InboxGraphQL(GraphQL):
    """strawberry's ASGI view with our context and authentication."""

    graphql_transport_ws_handler_class = InboxTransportWSHandler

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        throttle: Throttle | None = None,
        persisted: PersistedDocuments | None = None,
    ) -> None:
        super().__init__(
            build_schema(settings, persisted),
            graphql_ide="graphiql" if settings.graphql_ide else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            keep_alive=True,
            keep_alive_interval=20,
            # InboxTransportWSHandler refuses the subscribe over it with a coded error first
            max_subscriptions_per_connection=settings.max_subscriptions_per_socket,
            # a socket that does not send connection_init in time is closed with 4408
            connection_init_wait_timeout=timedelta(seconds=10),
            # handshakes from other origins: is_websocket_origin_allowed (graph.origins)
        )
        self.settings = settings
        self.bus = bus
        self.throttle = throttle
        self.webhooks: WebhookDeliverer | None = None
        """The worker's webhook deliverer (set by :func:`create_app`), in every context."""
        self.origins = Origins(settings.allowed_origins, loopback=not settings.production)
        self.ide_assets = IdeAssets.installed() if settings.graphql_ide else None
        self._transports_by_accept: dict[str, Any] = {}

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL's page, loading its assets from this server (:mod:`graph.ide`)."""
        if self.ide_assets is not None:
            return self.ide_assets.html
        return super().graphql_ide_html

    def should_render_graphql_ide(self, request: Any) -> bool:
        """strawberry's rule (a GET without ``query`` that accepts HTML or ``*/*``), except for
        a GET naming a persisted document by its hash alone (``extensions.persistedQuery``):
        an operation, which curl's, python-requests' and axios's ``*/*`` used to turn into
        GraphiQL's page."""
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """The handshake of a page on another origin: :meth:`graph.origins.Origins.allows`."""
        return self.origins.allows(origin)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Limits, then strawberry. A request without a bearer token whose client address has
        spent its budget is answered 429 ``RATE_LIMITED`` before its body is read
        (:meth:`Throttle.admit`, the README's "Rate limits and query cost"), held like every
        HTTP ``RATE_LIMITED`` refusal (:func:`graph.throttle.hold`). A body over ``INBOX_GRAPH_MAX_BODY_BYTES`` is answered 413
        as soon as its ``Content-Length`` (or, chunked, its bytes so far) says so, before the
        rest is read; a request not answered within ``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS``
        of its arrival is stopped (what it was writing rolls back; a write it had committed
        stays, said by ``extensions.saved``) and answered 408 when its
        body was still arriving (a slow client), 504 ``TIMEOUT`` otherwise; both close the
        connection. Before all of them, the ``Accept`` header picks the response's media type
        (:mod:`graph.graphql_over_http`): one that accepts neither GraphQL media type is
        answered 406 (unless it asks for the IDE's page). Then :meth:`answer`. A failure that
        escapes them all (none should) is logged and answered as a masked 500
        ``INTERNAL_SERVER_ERROR`` when no response has started."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        responding = False

        async def sending(message: Any) -> None:
            nonlocal responding
            responding = True
            await send(message)

        try:
            await self._limited(scope, receive, sending, lambda: responding)
        except Exception:
            # nothing should get here (the view answers its own failures): a masked 500 in
            # GraphQL's shape, not Starlette's plain-text one
            log.exception("request failed outside execution")
            if not responding:
                await _refusal(MASKED_MESSAGE, ErrorCode.INTERNAL_SERVER_ERROR, 500)(
                    scope, receive, send
                )

    async def _limited(self, scope: Any, receive: Any, send: Any, responding: Any) -> None:
        """:meth:`__call__`'s limits, then :meth:`answer`; ``responding()`` says whether a
        response has started on ``send``."""
        media_type = response_media_type(Headers(scope=scope).get("accept"))
        _media_type.set(media_type or JSON)
        if media_type is None and not self.should_render_graphql_ide(Request(scope)):
            await _not_acceptable()(scope, receive, send)
            return
        anonymous = self.throttle is not None and not _has_bearer(scope)
        if anonymous:
            # a spent anonymous budget is refused before the body is read or parsed: an
            # address flooding the worker costs it a lookup per request, not a GraphQL request
            request = Request(scope)
            wait = await self.throttle.admit(address_key(request))
            if wait is not None:
                await _spent(await hold(request, wait))(scope, receive, send)
                return
        body = _BoundedBody(receive, self.settings.max_body_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > body.limit:
            await self._refuse_too_large(scope, receive, send, anonymous, body.limit)
            return
        seconds = self.settings.request_timeout_seconds
        running = start_request(seconds)
        try:
            async with asyncio.timeout_at(running.deadline):
                await self.answer(scope, body.receive, send)
        except _BodyTooLarge:
            if not responding():
                await self._refuse_too_large(scope, receive, send, anonymous, body.limit)
        except TimeoutError:
            if not responding():  # else the answer was on its way: nothing to add
                await _timed_out(body.waiting, seconds, running.saved)(scope, receive, send)

    async def _refuse_too_large(
        self, scope: Any, receive: Any, send: Any, anonymous: bool, limit: int
    ) -> None:
        """413; without a token, the refusal spends a point of the address's budget, like a
        document that does not parse (a flood of large bodies ends in held refusals)."""
        if anonymous:  # nothing reports the budget after it: not read
            await self.throttle.charge(address_key(Request(scope)), 1, status=False)
        await _too_large(limit)(scope, receive, send)

    async def answer(self, scope: Any, receive: Any, send: Any) -> None:
        """strawberry answers request-level errors (malformed JSON, no query, a mutation over
        GET) in plain text; here they are GraphQL errors with a code, like every other error,
        with the status GraphQL over HTTP gives them: a POST body that is not
        ``application/json`` 415, a mutation over GET 405 (``Allow: POST``), the others 400.
        So is a failure outside execution (the viewer's lookup): 503 ``SERVICE_UNAVAILABLE``
        with ``Retry-After`` while the database cannot be reached, else a masked 500
        ``INTERNAL_SERVER_ERROR``, never a plain-text traceback page. A client that
        disconnects before its body has arrived gets nothing (it logged a traceback)."""
        request = Request(scope=scope, receive=receive)
        if request.method == "POST" and not _json_body(request.headers.get("content-type")):
            response = _refusal(
                "Send the request as JSON, with `Content-Type: application/json`.",
                ErrorCode.BAD_USER_INPUT,
                415,
            )
            await response(scope, receive, send)
            return
        try:
            response = await self.run(request)
        except _BodyTooLarge:
            raise
        except ClientDisconnect:
            return  # the client left before its request was read: nobody to answer
        except HTTPException as exc:
            response = _request_refused(exc, request.method)
        except Exception as exc:
            if is_unavailable(exc):
                report_unavailable(exc)
                response = _errors_response(
                    [unavailable_error().formatted],
                    503,
                    {"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            else:
                log.exception("request failed outside execution")
                response = _refusal(MASKED_MESSAGE, ErrorCode.INTERNAL_SERVER_ERROR, 500)
        await response(scope, receive, send)

    def _get_stream_transport_from_headers(self, headers: Any) -> Any:
        """strawberry's choice of a streaming transport (multipart, server-sent events) for a
        request's ``Accept`` header, remembered per header value (a pure function of it; the
        first :data:`_TRANSPORTS_REMEMBERED` values seen): strawberry parses the header with
        :mod:`email` for every request, streaming or not."""
        accept = headers.get("accept", "")
        try:
            return self._transports_by_accept[accept]
        except KeyError:
            found = super()._get_stream_transport_from_headers({"accept": accept})
            if len(self._transports_by_accept) < _TRANSPORTS_REMEMBERED:
                self._transports_by_accept[accept] = found
            return found

    async def parse_http_body(self, request: Any) -> Any:
        """strawberry's reading of the request's parameters, refusing a JSON body that is not
        an object, and an ``operationName`` that is neither a string nor null (not a
        well-formed GraphQL-over-HTTP request: 400, like a ``query`` or ``variables`` of the
        wrong type). An empty ``operationName`` is no ``operationName`` (the spec says so of
        GET's; POST's is read alike)."""
        try:
            if request.method == "POST" and "application/json" in _mime_type(
                request.content_type or ""
            ):
                data = await self._parse_json_body(request)
            else:  # GET, and what strawberry refuses
                data = await super().parse_http_body(request)
        except AttributeError as error:
            # strawberry calls ``.get`` on the decoded body: a number, string or null (a 500
            # and a traceback, before)
            raise HTTPException(400, "The request body must be a JSON object.") from error
        if not isinstance(data, list) and not isinstance(data.operation_name, (str, type(None))):
            raise HTTPException(
                400,
                "The GraphQL operation's `operationName` must be a string or null, if provided.",
            )
        if not isinstance(data, list) and data.operation_name == "":
            data.operation_name = None
        return data

    async def _parse_json_body(self, request: Any) -> Any:
        """strawberry's ``parse_http_body`` of a POST whose content type it reads as JSON (the
        same steps, errors and request data), without parsing the ``Content-Type`` header again
        for every request (:func:`_mime_type`)."""
        transport = self._get_stream_transport_from_headers(request.headers)
        protocol = transport.protocol if transport else "http"
        data = self.parse_json(await request.get_body())
        if isinstance(data, list):
            self._validate_batch_request(data, protocol=protocol)
            return [
                GraphQLRequestData(
                    query=item.get("query"),
                    variables=item.get("variables"),
                    operation_name=item.get("operationName"),
                    extensions=item.get("extensions"),
                    protocol=protocol,
                )
                for item in data
            ]
        query = data.get("query")
        if not isinstance(query, (str, type(None))):
            raise HTTPException(
                400, "The GraphQL operation's `query` must be a string or null, if provided."
            )
        variables = data.get("variables")
        if not isinstance(variables, (dict, type(None))):
            raise HTTPException(
                400, "The GraphQL operation's `variables` must be an object or null, if provided."
            )
        extensions = data.get("extensions")
        if not isinstance(extensions, (dict, type(None))):
            raise HTTPException(
                400,
                "The GraphQL operation's `extensions` must be an object or null, if provided.",
            )
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=data.get("operationName"),
            extensions=extensions,
            protocol=protocol,
        )

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        """The response in the media type the request accepts, with the status GraphQL over
        HTTP gives it (:func:`graph.graphql_over_http.response_status`: 503 and 429 with
        ``Retry-After`` included). The ``RateLimit-*`` headers come with the sub-response
        (:class:`graph.extensions.CostBudget`)."""
        media_type = _media_type.get()
        status, headers = response_status(response_data, media_type)
        extra = sub_response.headers.raw
        if headers or any(name in _SET_BELOW for name, _ in extra):
            # strawberry's response, its headers set one by one (each replacing its namesakes)
            response = super().create_response(response_data, sub_response)
            response.status_code = status
            response.headers.update(headers)
            response.headers["Content-Type"] = content_type(media_type)
            response.headers.add_vary_header("Accept")
            return response
        # the same response and headers, in the same order, built at once: the sub-response's
        # headers (RateLimit-*) between the body's and Vary, none of them replaced
        response = Response(self.encode_json(response_data), media_type=content_type(media_type))
        response.status_code = status  # after the headers: Content-Length as strawberry's 200
        response.raw_headers += [*extra, _VARY_ACCEPT]
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def process_result(self, request: Any, result: Any) -> Any:
        """Errors that bypass the schema extensions (syntax errors) still get their code; a
        request error (the operation never ran) has no ``data`` entry (GraphQL spec,
        "Response")."""
        for error in getattr(result, "errors", None) or ():
            if error.original_error is None:
                add_code(error)
        response = await super().process_result(request, result)
        if is_request_error(result):
            response.pop("data", None)
        return response

    def decode_json(self, data: str | bytes) -> object:
        """Decode the JSON of a request body, a GET's ``variables`` or ``extensions``, or a
        WebSocket frame (strawberry decodes them all here).

        Args:
            data: the JSON text.

        Returns:
            The decoded value.

        Raises:
            TooManyContainers: when it holds more than :data:`MAX_JSON_CONTAINERS` arrays and
                objects (every one converted later costs the worker).
            JSONTooDeep: when arrays and objects nest deeper than :data:`MAX_JSON_DEPTH`
                (the standard library's decoder would raise :class:`RecursionError` at about
                1,000 levels, which strawberry does not catch: a 500 or a dropped socket).
            NotUTF8: when ``data`` is bytes that are not UTF-8 (other encodings that
                :func:`json.loads` would guess are refused too).
            NumberTooLong: when an integer has more digits than Python converts.
            json.JSONDecodeError: when ``data`` is not JSON.
        """
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise NotUTF8() from None
        try:
            value = json.loads(data)
        except RecursionError:
            raise JSONTooDeep() from None
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past sys.get_int_max_str_digits()
            raise NumberTooLong() from None
        # a text with no more brackets than the depth limit (below the count's) cannot break
        # either limit: skip the walk
        if data.count("[") + data.count("{") > MAX_JSON_DEPTH:
            refused = _shape_refused(value)
            if refused is not None:
                raise refused
        return value

    def encode_json(self, data: object) -> str:
        """Responses and WebSocket frames are encoded by orjson (installed with tortoise's
        ``accel`` extra): compact JSON, several times faster than the standard library for a
        page of results. Text, not bytes: strawberry would send bytes as binary WebSocket
        frames, which graphql-transport-ws clients do not read.

        Text a client sent and an answer repeats (an operation's id, an ``operationName``, an
        input field's name in an error's message) may hold an unpaired surrogate, written
        ``\\ud800`` in its JSON: orjson refuses to encode it (a 500 over HTTP; over WebSocket
        a traceback and an operation never answered), the standard library writes it as the
        escape it came as (that answer only: every non-ASCII character escaped). JSON written
        already (``graph.written.WrittenJson``: a page's nodes written by the database)
        goes in as it is, or, through the standard library, as its decoded value."""
        try:
            return orjson.dumps(data, default=written_fragment).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, separators=(",", ":"), default=written_value)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        context = Context(
            settings=self.settings,
            bus=self.bus,
            webhooks=self.webhooks,
            schema=self.schema,
            request=request,
            response=response,
            throttle=self.throttle,
        )
        headers = getattr(request, "headers", None)
        if headers is not None and request.scope.get("type") == "http":
            token = bearer_token(headers.get("authorization"))
            context.current_viewer = await self.bus.viewers.viewer(token)
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate ``connection_init`` (4403 without a valid token; an unreachable
        database: :meth:`graph.websocket.InboxTransportWSHandler.handle_connection_init`) and
        count the socket among its user's (:func:`graph.websocket.admit_socket`: 1013 beyond
        ``INBOX_GRAPH_MAX_SOCKETS_PER_USER``)."""
        token = bearer_token(init_authorization(context.connection_params))
        viewer = await check_token(token)
        if viewer is None:
            raise ConnectionRejectionError()
        context.current_viewer = viewer
        await admit_socket(context, viewer)
        return None


def init_authorization(params: Any) -> Any:
    """The ``Authorization`` value of a ``connection_init`` payload: its ``authorization`` key,
    in any case (as HTTP header names are), or the same key in a ``headers`` object (what
    clients written for Hasura or Apollo's older transport send); ``None`` without one."""
    if not isinstance(params, dict):
        return None
    for where in (params, params.get("headers")):
        if isinstance(where, dict):
            for key, value in where.items():
                if isinstance(key, str) and key.lower() == "authorization":
                    return value
    return None


class InboxApp(Starlette):
    """The Starlette application, with ``/graphql`` handed to strawberry's view directly.

    An open WebSocket keeps every frame of its call chain alive for as long as it is open: the
    error, CORS and exception middleware, the router and the route (about 3 KB per connection,
    for nothing: CORS does not apply to WebSockets and strawberry's view answers its own
    errors). Thousands of idle subscriptions are a dashboard's normal state (issue 3, memory per
    subscription). WebSockets on ``/graphql`` go to the view alone.

    HTTP requests on ``/graphql`` go through the application's own middleware
    (:class:`VersionHeader`, CORS, the statement counter) straight to the view: not through
    Starlette's error and exception layers, the router and the route, which a request's every
    message passed through for nothing (the view answers its own errors, the route is known):
    about 6 % of a ``{ __typename }``'s CPU (issue 23). The view answers a failure of its own
    as a masked 500 ``INTERNAL_SERVER_ERROR`` (:meth:`InboxGraphQL.__call__`), inside that
    middleware: it carries the version and CORS headers. Every other request (``/healthz``,
    the IDE's and the live page's files) goes through Starlette as usual.
    """

    graphql_view: Any = None
    _graphql_http: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind != "lifespan" and self.graphql_view is not None:
            root = scope.get("root_path", "")
            path = scope["path"]
            if (path[len(root) :] if root and path.startswith(root) else path) == "/graphql":
                if kind == "websocket":
                    scope["app"] = self
                    await self.graphql_view(scope, receive, send)
                    return
                # every method: the view refuses all but GET and POST with one 405 (``Allow:
                # GET, POST``; Starlette's router offered HEAD, which the view then refused)
                scope["app"] = self
                if self.middleware_stack is None:
                    self.middleware_stack = self.build_middleware_stack()
                await self._graphql_http(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> Any:
        """Starlette's stack, and beside it the view inside the application's own middleware
        (built at the same moment, the first request or the lifespan: middleware added after
        :func:`create_app` counts for both, and none can be added after)."""
        app = self.graphql_view
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        self._graphql_http = app
        return super().build_middleware_stack()


VERSION_HEADER = "X-Inbox-Graph-Version"
"""The response header that carries the API's version (:data:`graph.__version__`, the
release of ``CHANGELOG.md`` the schema is at) on every HTTP response."""


EXPOSED_HEADERS = [
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    VERSION_HEADER,
]
"""Response headers a browser app on an allowed origin may read (``Access-Control-Expose-Headers``):
when to retry, its budget (:meth:`graph.throttle.ThrottleStatus.headers`) and the API's version."""


class VersionHeader:
    """ASGI middleware: :data:`VERSION_HEADER` on every HTTP response, errors included."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.header = (VERSION_HEADER.lower().encode(), __version__.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, sending)


def _request_refused(exc: HTTPException, method: str) -> Response:
    """strawberry's refusal of a request it could not run, as a coded GraphQL error."""
    cause = exc.__cause__
    if exc.status_code == 404:
        return _refusal(exc.reason, ErrorCode.NOT_FOUND, 404)
    if exc.status_code == 405 and method not in ("GET", "POST"):  # PUT, HEAD ...
        return _refusal(exc.reason, ErrorCode.BAD_USER_INPUT, 405, {"Allow": "GET, POST"})
    if (
        isinstance(cause, InvalidOperationTypeError)
        and cause.operation_type is OperationType.MUTATION
        and method == "GET"
    ):
        # GraphQL over HTTP: a mutation over GET MUST be answered 405
        return _refusal(
            "Mutations are not allowed over GET: send them with POST.",
            ErrorCode.BAD_USER_INPUT,
            405,
            {"Allow": "POST"},
        )
    # strawberry says "Unable to parse request body as JSON" of any JSON it refused
    message = str(cause) if isinstance(cause, RefusedJSON) else exc.reason
    return _refusal(message, ErrorCode.BAD_USER_INPUT, exc.status_code)


def _report_failure(what: str, error: Exception) -> None:
    """Log a background task's failure: one line per outage for an unreachable database."""
    if is_unavailable(error):
        report_unavailable(error)
    else:
        log.error(what, exc_info=error)


def _unavailable_response(body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def healthz(request: Request) -> JSONResponse:
    """Liveness and readiness: the database answers (503 with ``Retry-After`` when not)."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means not ready
        return _unavailable_response({"status": "unavailable", "database": "down"})
    return JSONResponse({"status": "ok"})


def settle_startup_heap() -> None:
    """Move everything the worker built before serving (modules, the schema, its caches) out
    of the cyclic garbage collector's sight (:func:`gc.freeze`), and make its youngest
    generation collect after 20,000 allocations instead of 700.

    Each full collection otherwise walks the whole startup heap again, and a reconnect storm
    (thousands of WebSockets opened at once, each allocating a few hundred objects)
    triggers them over and over: about a fifth of the server's CPU in a storm's profile
    (README, "bench/storm"). Once per process: what a process (a test run) builds later is
    collected as usual."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *older)


_heap_settled = False


GC_YOUNG_THRESHOLD = 20_000
"""Allocations (less deallocations) between two collections of the youngest generation."""


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI application (``uvicorn graph.app:create_app --factory``).

    The database schema must be migrated first (``inbox-graph serve`` does it).
    """
    settings = settings or Settings.from_env()
    combined.ENABLED = settings.combined_reads
    lean.ENABLED = settings.lean_reads
    row_json.ENABLED = settings.row_json
    bus = EventBus(
        settings.broadcast_url,
        queue_size=settings.subscriber_queue_size,
        shared_fanout=settings.shared_fanout,
        namespace=settings.channel_namespace,
        viewer_cache_seconds=settings.viewer_cache_seconds,
    )
    throttle = Throttle(settings)
    persisted = PersistedDocuments(settings)  # in Redis with BROADCAST_URL=redis://…
    graphql = InboxGraphQL(settings, bus, throttle, persisted)
    deliverer = graphql.webhooks = WebhookDeliverer(settings, bus)

    async def prune_outbox_forever() -> None:
        while True:
            try:
                removed = await prune_events(settings.event_retention_seconds)
                if removed:
                    log.info("pruned %s outbox events", removed)
                expired = await prune_idempotency_keys(settings.idempotency_key_ttl_seconds)
                if expired:
                    log.info("pruned %s expired idempotency keys", expired)
            except Exception as exc:  # noqa: BLE001 - retried at the next interval
                _report_failure("outbox pruning failed", exc)
            await asyncio.sleep(settings.prune_interval_seconds)

    async def miss_unanswered_calls_forever() -> None:
        # every worker sweeps: each call is moved once (a conditional UPDATE), see the resolver
        while True:
            try:
                await miss_unanswered_calls(bus, shortest_timeout=settings.min_ring_timeout_seconds)
                report_available()  # it reads the database every second: notices the return
            except Exception as exc:  # noqa: BLE001 - retried at the next interval
                _report_failure("ring-timeout sweep failed", exc)
            await asyncio.sleep(settings.ring_sweep_interval_seconds)

    # strawberry's warning about a refused WebSocket origin names our setting
    ws_log = logging.getLogger("strawberry.ws")
    for old in [f for f in ws_log.filters if isinstance(f, NameTheSetting)]:
        ws_log.removeFilter(old)
    ws_log.addFilter(NameTheSetting(graphql.origins))
    # asyncpg's pool logs a traceback per failed reconnection while the database is away
    logging.getLogger("asyncpg.pool").addFilter(QuietConnectionErrors())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await bus.start()
            background = [
                asyncio.create_task(prune_outbox_forever()),
                asyncio.create_task(miss_unanswered_calls_forever()),
                asyncio.create_task(deliverer.run()),
            ]
            settle_startup_heap()
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await bus.stop()
                await persisted.aclose()
                await close_crm_http()

    app = InboxApp(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(VersionHeader),
            # Browser apps on the allowed origins may call the API over HTTP too (bearer tokens,
            # no cookies); the same list guards WebSocket handshakes. Whatever request headers
            # their clients add are allowed (Apollo's apollographql-client-name and
            # apollo-require-preflight, tracing's traceparent, sentry-trace, baggage ...: with
            # no cookie, a header grants nothing), and they may read the rate limit's headers
            # and the version.
            Middleware(
                OriginCORS,
                origins=graphql.origins,
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=EXPOSED_HEADERS,
                max_age=600,
            ),
        ],
    )
    if graphql.ide_assets is not None:
        app.router.routes.append(
            Route(f"/{IDE_PREFIX}/{{path:path}}", graphql.ide_assets.serve, methods=["GET"])
        )
    if settings.live_page:
        demo_logins: tuple[str, ...] = ()
        if not settings.production:
            from db.seed import demo_emails  # the demo's cast, offered on the login form

            demo_logins = demo_emails()
        page = LivePage.load(demo_logins)
        app.router.routes.extend(
            [
                Route("/", page.index, methods=["GET"]),
                Route(f"/{PAGE_PREFIX}/{{path:path}}", page.serve, methods=["GET"]),
            ]
        )
    if settings.bench_baseline:
        from bench.raw_sql import routes as baseline_routes  # a checkout's bench/, never installed

        app.router.routes.extend(baseline_routes)
    if settings.count_sql_statements:
        from graph.statement_count import StatementCounter, attach_handler

        attach_handler()
        app.add_middleware(StatementCounter)
    app.graphql_view = graphql
    app.state.settings = settings
    app.state.bus = bus
    app.state.throttle = throttle
    return app


__all__ = [
    "MAX_JSON_DEPTH",
    "VERSION_HEADER",
    "InboxApp",
    "InboxGraphQL",
    "JSONTooDeep",
    "NotUTF8",
    "NumberTooLong",
    "RefusedJSON",
    "TooManyContainers",
    "VersionHeader",
    "create_app",
]

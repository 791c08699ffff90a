"""What every request pays besides its fields (issue 23): the input check leaves no reference
cycle, the extension stages enter their hooks without an ``AsyncExitStack`` and keep its rules,
the streaming transport an ``Accept`` header picks is strawberry's, a POST body is read and a
response built as strawberry's are (without parsing the same ``Content-Type`` again, and with
the response's headers set at once)."""

from __future__ import annotations

import contextlib
import gc

import pytest
from cross_web import HTTPException
from cross_web.request._starlette import StarletteRequestAdapter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import OperationContextManager
from strawberry.http.base import BaseView

from graph import app as app_module
from graph.app import InboxGraphQL
from graph.extensions import _Operation, _set_headers, unstorable_input
from graph.graphql_over_http import GRAPHQL_RESPONSE_JSON, JSON
from graph.live import EventBus
from graph.schema import build_schema
from graph.settings import Settings
from graph.throttle import ThrottleStatus


def test_the_input_check_leaves_no_reference_cycle():
    variables = {"inbox": {"standard": "ALL"}, "tags": ["a", {"b": "c"}], "first": 25}
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            assert unstorable_input("{ __typename }", variables) is None
        assert unstorable_input(None, {"x": [{"y": "a\x00"}]}).extensions["field"] == "$x[0].y"
        gc.collect()
        left = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


async def test_an_operation_enters_its_hooks_without_an_exit_stack(monkeypatch):
    stacks = []

    class Counted(contextlib.AsyncExitStack):
        def __init__(self) -> None:
            stacks.append(self)
            super().__init__()

    monkeypatch.setattr(contextlib, "AsyncExitStack", Counted)
    result = await build_schema().execute("{ __typename }")
    assert result.data == {"__typename": "Query"}
    assert stacks == []


class _Boom(Exception):
    pass


def _extensions(log: list[str], behaviours: tuple[str, ...]) -> list[SchemaExtension]:
    """Extensions whose ``on_operation`` log their steps and, at exit, pass, suppress or raise."""

    def make(name: str, behaviour: str) -> SchemaExtension:
        class Hook(SchemaExtension):
            async def on_operation(self):
                log.append(f"{name} in")
                try:
                    yield
                except Exception as error:
                    log.append(f"{name} saw {type(error).__name__}:{error}")
                    if behaviour == "pass":
                        raise
                if behaviour == "raise":
                    raise _Boom(name)
                log.append(f"{name} out")

        return Hook()

    return [make(f"h{i}", b) for i, b in enumerate(behaviours)]


@pytest.mark.parametrize(
    "behaviours",
    [
        ("pass", "pass"),
        ("pass", "suppress"),
        ("suppress", "pass"),
        ("raise", "pass"),
        ("pass", "raise"),
        ("raise", "suppress"),
        ("suppress", "raise"),
    ],
)
@pytest.mark.parametrize("inside", [None, ValueError("inner")])
async def test_stages_exit_their_hooks_as_an_exit_stack_does(behaviours, inside):
    async def run(manager_class: type) -> tuple[list[str], str]:
        log: list[str] = []
        outcome = "returned"
        try:
            async with manager_class(_extensions(log, behaviours)):
                log.append("body")
                if inside is not None:
                    raise inside
        except Exception as error:  # noqa: BLE001 - the outcome is compared
            context = error.__context__
            outcome = f"{type(error).__name__}:{error} from {type(context).__name__}:{context}"
        return log, outcome

    assert await run(_Operation) == await run(OperationContextManager)


@pytest.mark.parametrize(
    "accept",
    ["", "*/*", "application/json", 'multipart/mixed;subscriptionSpec="1.0"', "text/event-stream"],
)
def test_the_transport_an_accept_header_picks_is_strawberrys(accept):
    view = InboxGraphQL(Settings(database_url=""), EventBus("memory://"))
    headers = Headers({"accept": accept} if accept else {})
    expected = BaseView._get_stream_transport_from_headers(view, headers)
    for _ in range(2):  # the second time remembered
        assert view._get_stream_transport_from_headers(headers) is expected


def _view() -> InboxGraphQL:
    return InboxGraphQL(Settings(database_url=""), EventBus("memory://"))


def _post(content_type: str | None, body: bytes) -> StarletteRequestAdapter:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": headers,
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return StarletteRequestAdapter(Request(scope, receive))


async def _parsed(view: InboxGraphQL, content_type: str | None, body: bytes) -> object:
    try:
        return await view.parse_http_body(_post(content_type, body))
    except HTTPException as refused:
        return ("refused", refused.status_code, refused.reason, type(refused.__cause__))


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json; charset=latin-1",
    'application/json; charset="utf-8"; boundary=x',
    "Application/JSON",
    "APPLICATION/JSON; CHARSET=UTF-8",
    " application/json ",
    "application/json, text/plain",
    "application/jsonp",
    "application/graphql-response+json",
    "text/plain; x=application/json",
    "multipart/form-data; boundary=x",
    "text/plain",
    "",
    ";",
    None,
]
BODIES = [
    b'{"query": "{ __typename }"}',
    b'{"query": "query Q($a: Int) { __typename }", "variables": {"a": 1}, "operationName": "Q"}',
    b'{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1}}}',
    b'{"query": 7}',
    b'{"query": "{ __typename }", "variables": [1]}',
    b'{"query": "{ __typename }", "extensions": "x"}',
    b'{"query": "{ __typename }", "operationName": ""}',
    b'{"query": "{ __typename }", "operationName": 7}',
    b'[{"query": "{ __typename }"}, {"query": "{ __typename }"}]',
    b"[]",
    b"42",
    b"null",
    b"{",
    b'{"query": "\xff"}',
    b"",
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_a_post_body_is_read_as_strawberry_reads_it(monkeypatch, content_type):
    """A POST whose ``Content-Type`` strawberry reads as JSON is read without strawberry's
    header parsing (its media type remembered per header value): the same request data, or the
    same refusal, as strawberry's own reading, for every content type and body; but a media
    type in another case is read as in lower case (RFC 9110, section 8.3.1), which strawberry
    refuses ("Unsupported content type")."""
    view = _view()
    fast = [await _parsed(view, content_type, body) for body in BODIES]
    again = [await _parsed(view, content_type, body) for body in BODIES]  # remembered
    monkeypatch.setattr(app_module, "_mime_type", lambda header: "")  # strawberry's path only
    as_lower = content_type
    if content_type and content_type.lower().startswith("application/json"):
        as_lower = content_type.lower()
    general = [await _parsed(view, as_lower, body) for body in BODIES]
    assert fast == general
    assert again == general


class _Everything:
    def __contains__(self, name: object) -> bool:
        return True


def _sub_response(headers: list[tuple[bytes, bytes]]) -> Response:
    sub = Response()
    sub.status_code = None
    del sub.headers["content-length"]
    sub.headers.raw.extend(headers)
    return sub


RATE_LIMIT = [(b"ratelimit-limit", b"1000"), (b"ratelimit-remaining", b"999")]
ANSWERS = [
    {"data": {"__typename": "Query"}, "extensions": {"cost": {"requestedQueryCost": 1}}},
    {"data": None, "errors": [{"message": "no", "extensions": {"code": "UNAUTHENTICATED"}}]},
    {"errors": [{"message": "bad", "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]},
    {"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]},
    {"errors": [{"message": "s", "extensions": {"code": "RATE_LIMITED", "retryAfter": 2.5}}]},
    {"errors": [{"message": "d", "extensions": {"code": "SERVICE_UNAVAILABLE"}}]},
    [{"data": {"a": 1}}, {"errors": [{"message": "b", "extensions": {"code": "X"}}]}],
]


@pytest.mark.parametrize("media_type", [JSON, GRAPHQL_RESPONSE_JSON])
@pytest.mark.parametrize(
    "extra",
    [
        [],
        RATE_LIMIT,
        [*RATE_LIMIT, (b"vary", b"Origin")],
        [(b"content-type", b"text/plain")],
        [(b"retry-after", b"9")],
    ],
)
def test_a_response_is_built_as_strawberrys_with_its_headers_set(monkeypatch, media_type, extra):
    """The response built at once has the status, headers (in order) and body of strawberry's
    response with the media type, status headers and ``Vary`` set on it one by one."""
    view = _view()
    token = app_module._media_type.set(media_type)
    try:
        fast = [view.create_response(answer, _sub_response(extra)) for answer in ANSWERS]
        monkeypatch.setattr(app_module, "_SET_BELOW", _Everything())  # the general path only
        general = [view.create_response(answer, _sub_response(extra)) for answer in ANSWERS]
    finally:
        app_module._media_type.reset(token)
    seen = [(r.status_code, r.raw_headers, r.body) for r in fast]
    assert seen == [(r.status_code, r.raw_headers, r.body) for r in general]
    assert {status for status, _, _ in seen} >= {200}


@pytest.mark.parametrize(
    "present",
    [
        [],
        [(b"x-a", b"1")],
        [(b"ratelimit-limit", b"5"), (b"x-a", b"1"), (b"ratelimit-limit", b"6")],
    ],
)
def test_the_budgets_headers_are_set_as_starlette_sets_them(present):
    """The ``RateLimit-*`` headers on a sub-response: what ``MutableHeaders.update`` leaves,
    appended at once when none is there."""
    values = ThrottleStatus(1000, 990, 16.667, 59.5, 60).headers()
    ours, starlettes = _sub_response(list(present)), _sub_response(list(present))
    _set_headers(ours.headers, values)
    starlettes.headers.update(values)
    assert ours.headers.raw == starlettes.headers.raw
    assert ours.headers["ratelimit-remaining"] == "990"

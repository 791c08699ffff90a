"""What every request pays besides its fields (issue 23): the input check leaves no reference
cycle, the extension stages enter their hooks without an ``AsyncExitStack`` and keep its rules,
and the streaming transport an ``Accept`` header picks is strawberry's."""

from __future__ import annotations

import contextlib
import gc

import pytest
from starlette.datastructures import Headers
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import OperationContextManager
from strawberry.http.base import BaseView

from graph.app import InboxGraphQL
from graph.extensions import _Operation, unstorable_input
from graph.live import EventBus
from graph.schema import build_schema
from graph.settings import Settings


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

"""The generic connection: a list resolver's page, sliced once, and its connection."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import strawberry

from graph.relay import Page, PageRequest, decode_cursor, encode_cursor, encode_cursors
from graph.schema.core import Connection


def test_a_page_reads_one_row_more_than_it_shows() -> None:
    more = Page.of([1, 2, 3], PageRequest(2), lambda n: [n])
    assert (more.rows, more.keys, more.has_next, more.has_previous) == (
        [1, 2],
        [[1], [2]],
        True,
        False,
    )
    last = Page.of([3], PageRequest(2, after=(2,)), lambda n: [n])
    assert (last.rows, last.has_next, last.has_previous) == ([3], False, True)


def test_a_page_read_backwards_comes_back_in_the_list_order() -> None:
    # the last two before 9, read nearest first with one more: 8, 7, 6
    page = Page.of([8, 7, 6], PageRequest(2, before=(9,), backward=True), lambda n: [n])
    assert (page.rows, page.has_next, page.has_previous) == ([7, 8], True, True)
    start = Page.of([2, 1], PageRequest(2, backward=True), lambda n: [n])
    assert (start.rows, start.has_next, start.has_previous) == ([1, 2], False, False)


@strawberry.type
class Thing:
    number: int


@strawberry.type
class ThingConnection(Connection[Thing]):
    pass


def test_a_connection_is_named_after_its_node_and_carries_the_page() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def things(self) -> ThingConnection:
            page = Page.of([1, 2, 3], PageRequest(2), lambda n: [n])
            return ThingConnection.from_page(page, lambda n: Thing(number=n))

    schema = strawberry.Schema(query=Query)
    assert "type ThingEdge {" in schema.as_str()
    result = schema.execute_sync(
        "{ things { edges { cursor node { number } } pageInfo { hasNextPage hasPreviousPage"
        " startCursor endCursor } } }"
    )
    assert result.errors is None
    things = result.data["things"]
    assert [e["node"]["number"] for e in things["edges"]] == [1, 2]
    assert [decode_cursor(e["cursor"], (int,)) for e in things["edges"]] == [[1], [2]]
    info = things["pageInfo"]
    assert info["hasNextPage"] is True and info["hasPreviousPage"] is False
    assert (info["startCursor"], info["endCursor"]) == (
        things["edges"][0]["cursor"],
        things["edges"][1]["cursor"],
    )


def _cursor_of(values: list) -> str:
    """What a cursor of ``values`` must be: the URL-safe base64 (unpadded) of ``json.dumps``
    of them, datetimes as ``isoformat()``."""
    texts = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    text = json.dumps(texts, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_is_the_base64_of_its_values_json() -> None:
    """A cursor is the URL-safe base64 (unpadded) of ``json.dumps`` of its keyset values,
    datetimes as ``isoformat()``: whatever their zone (UTC as the databases return it, other
    offsets, offsets with seconds, naive), microseconds or none, with any integer or text."""
    zones = [
        UTC,
        ZoneInfo("UTC"),
        ZoneInfo("Europe/London"),
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-5, minutes=-30)),
        timezone(timedelta(hours=1, seconds=1)),
        None,
    ]
    seen = 0
    for zone in zones:
        for micro in (0, 1, 123456):
            for moment in (datetime(2026, 10, 25, 1, 30, 5, micro), datetime(1, 1, 1, 0, 0, 0)):
                at = moment.replace(tzinfo=zone)
                for last in (7, 2**63, -(2**63) - 1, "é"):
                    values = [at, last]
                    assert encode_cursor(values) == _cursor_of(values), values
                    seen += 1
    assert seen == len(zones) * 3 * 2 * 4


def test_a_pages_cursors_are_each_rows_cursor() -> None:
    """A page's cursors, made together (:func:`graph.relay.encode_cursors`), are each row's:
    rows of UTC instants and integers (as the databases return them), with microseconds or
    none, and pages holding one row of another shape (a zone, a text, a larger integer) among
    them, in any position."""

    usual = [
        [datetime(2026, 12, 8, 0, 47, 43, micro, tzinfo=zone), rank, row_id]
        for zone in (UTC, ZoneInfo("UTC"), ZoneInfo.no_cache("UTC"))  # asyncpg, tortoise
        for micro in (0, 1, 841132)
        for rank in (0, 1)
        for row_id in (1, 516494, 2**63 - 1, -(2**63))
    ]
    assert encode_cursors([]) == []
    assert encode_cursors(usual) == [_cursor_of(values) for values in usual]
    others = [
        [datetime(2026, 12, 8, tzinfo=timezone(timedelta(hours=2))), 1],
        [datetime(2026, 12, 8, tzinfo=ZoneInfo("Europe/London")), 1],
        [datetime(2026, 12, 8), 1],
        ["é", 1],
        [2**63, 1],
        [True, None],
    ]
    for other in others:
        for position in (0, 5, len(usual)):
            page = [*usual[:position], other, *usual[position:]]
            assert encode_cursors(page) == [_cursor_of(values) for values in page], other

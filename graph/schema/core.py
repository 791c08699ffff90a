"""The shared core of the schema: ``Node``, page information and page sizes.

Domains import the core; the core imports no domain. Global ids and cursors are
:mod:`graph.ids`'s (re-exported here for the schema modules).
"""

from __future__ import annotations

import strawberry

from graph.errors import BadUserInput
from graph.ids import decode_cursor, decode_id, encode_cursor, parse_global_id, to_global_id

MAX_PAGE_SIZE = 100


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Relay page information of a connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_size(first: int | None, *, field: str = "first") -> int:
    """``first`` checked to lie within 1..100 (``contract.graphql``: capped at 100).

    Raises:
        BadUserInput: outside that range.
    """
    if first is None:
        return 25
    if first < 1 or first > MAX_PAGE_SIZE:
        raise BadUserInput(f"`{field}` must be between 1 and {MAX_PAGE_SIZE}.", field=field)
    return first


def page_info(cursors: list[str], has_next: bool, has_previous: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


__all__ = [
    "MAX_PAGE_SIZE",
    "Node",
    "PageInfo",
    "decode_cursor",
    "decode_id",
    "encode_cursor",
    "page_info",
    "page_size",
    "parse_global_id",
    "to_global_id",
]

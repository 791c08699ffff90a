"""The shared core of the schema: ``Node`` and the generic Relay connection.

Domains import the core; the core imports no domain. Global ids, cursors, page sizes and the
:class:`~graph.relay.Page` a list resolver returns are in :mod:`graph.relay`.

Every list is a ``Connection`` of its node type, named after it as Relay names them
(``Connection[Call]`` is ``CallConnection``, its edges ``CallEdge``), and every list field
takes the same four arguments, described here once (:data:`First`, :data:`After`,
:data:`Last`, :data:`Before`) and read by :meth:`graph.relay.PageRequest.parse`::

    @strawberry.type(description="A page of calls, newest first.")
    class CallConnection(Connection[Call]):
        pass


    @connection_field(description="The call log, newest first.")
    async def calls(
        self, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> CallConnection:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        return CallConnection.from_page(await call_log(..., request), Call.from_row)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, Self, TypeVar

import strawberry

from graph.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_SIZE_METADATA, Page, encode_cursors

NodeType = TypeVar("NodeType")
Row = TypeVar("Row")

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page forwards: the first 1 to {MAX_PAGE_SIZE} items (after `after` when "
        "given). Without `first` and `last`, the field's default page from the start. Not with "
        "`last` (BAD_USER_INPUT)."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Only items after this cursor (an edge's `cursor` or "
        "`pageInfo.endCursor` of this list). BAD_USER_INPUT for a cursor of another list."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page backwards: the last 1 to {MAX_PAGE_SIZE} items (before `before` when "
        "given), still in the list's order. Not with `first` (BAD_USER_INPUT)."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="Only items before this cursor (an edge's `cursor` or "
        "`pageInfo.startCursor` of this list). BAD_USER_INPUT for a cursor of another list."
    ),
]


def connection_field(
    *, description: str, default_page_size: int = DEFAULT_PAGE_SIZE, **options: Any
) -> Any:
    """``strawberry.field`` for a list field taking :data:`First`, :data:`After`,
    :data:`Last` and :data:`Before`: its description says how the four page it, and its
    metadata holds ``default_page_size`` (items without ``first`` or ``last``), which
    :mod:`graph.cost` counts; pass the same number to :meth:`graph.relay.PageRequest.parse`.
    """
    return strawberry.field(
        description=f"{description} Paged both ways by keyset: `first`/`after` forwards, "
        f"`last`/`before` backwards, 1 to {MAX_PAGE_SIZE} items, {default_page_size} without "
        "`first` or `last`.",
        metadata={PAGE_SIZE_METADATA: default_page_size},
        **options,
    )


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The global id: opaque, stable, unique across types; pass it to "
        "`node(id:)` and to the arguments that take this object's id."
    )


@strawberry.type(description="Relay page information of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether items follow this page: exact when paging forwards (within "
        "`before` when given); when paging backwards, true when `before` was given."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether items precede this page: exact when paging backwards (within "
        "`after` when given); when paging forwards, true when `after` was given."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item (pass it as `before` for the page "
        "before); null for an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item (pass it as `after` for the page "
        "after); null for an empty page."
    )


@strawberry.type(description="An item of a connection's page and its cursor (Relay).")
class Edge(Generic[NodeType]):
    """A node of a connection and its cursor (``<Node>Edge`` in the schema)."""

    cursor: str = strawberry.field(
        description="Opaque and stable: where this item is in the list's order, for `after` "
        "and `before`."
    )
    node: NodeType = strawberry.field(description="The item.")


@strawberry.type
class Connection(Generic[NodeType]):
    """A page of a list (``<Node>Connection`` in the schema), made from the
    :class:`~graph.relay.Page` its resolver returns with :meth:`from_page`."""

    edges: list[Edge[NodeType]] = strawberry.field(
        description="The page's items with their cursors, in the list's order."
    )
    nodes: list[NodeType] = strawberry.field(
        description="The page's items without their edges (the same items as `edges`)."
    )
    page_info: PageInfo = strawberry.field(description="Where this page is in the list.")
    _total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="How many items the whole list holds (every page, whatever the cursors), "
        "counted when selected: one indexed count per list."
    )
    async def total_count(self) -> int:
        return await self._total()

    @classmethod
    def from_page(cls, page: Page[Row], node: Callable[[Row], NodeType], **fields: Any) -> Self:
        """The connection of ``page``: each row made a node by ``node``, its keyset values a
        cursor; ``fields``: those the subclass adds (e.g. ``refreshed_at``). The edges are one
        JSON text when ``node`` can write them (``write_edges``: nodes the database wrote,
        :func:`graph.schema.row_json.node_builder`), else an :class:`Edge` each."""
        cursors = encode_cursors(page.keys)
        nodes = [node(r) for r in page.rows]
        write_edges = getattr(node, "write_edges", None)
        return cls(
            edges=write_edges(cursors, nodes)
            if write_edges is not None
            else [Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            _total=page.total,
            **fields,
        )


__all__ = [
    "After",
    "Before",
    "Connection",
    "Edge",
    "First",
    "Last",
    "Node",
    "PageInfo",
    "connection_field",
]

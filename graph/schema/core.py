"""The shared core of the schema: ``Node`` and the generic Relay connection.

Domains import the core; the core imports no domain. Global ids, cursors, page sizes and the
:class:`~graph.relay.Page` a list resolver returns are in :mod:`graph.relay`.

Every list is a ``Connection`` of its node type, named after it as Relay names them
(``Connection[Call]`` is ``CallConnection``, its edges ``CallEdge``)::

    @strawberry.type(description="A page of calls, newest first.")
    class CallConnection(Connection[Call]):
        pass


    CallConnection.from_page(page, Call.from_row)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar

import strawberry

from graph.relay import Page, encode_cursor

NodeType = TypeVar("NodeType")
Row = TypeVar("Row")


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The global id: opaque, stable, unique across types; pass it to "
        "`node(id:)` and to the arguments that take this object's id."
    )


@strawberry.type(description="Relay page information of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether items follow this page: ask for them with `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether items precede this page (it started after a cursor)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null for an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor (pass it as `after` for the next page); null for "
        "an empty page."
    )


@strawberry.type(description="An item of a connection's page and its cursor (Relay).")
class Edge(Generic[NodeType]):
    """A node of a connection and its cursor (``<Node>Edge`` in the schema)."""

    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` to list what follows this item."
    )
    node: NodeType = strawberry.field(description="The item.")


@strawberry.type
class Connection(Generic[NodeType]):
    """A page of a list (``<Node>Connection`` in the schema), made from the
    :class:`~graph.relay.Page` its resolver returns with :meth:`from_page`."""

    edges: list[Edge[NodeType]] = strawberry.field(
        description="The page's items with their cursors, in the list's order."
    )
    page_info: PageInfo = strawberry.field(description="Where the page lies in the list.")

    @classmethod
    def from_page(cls, page: Page[Row], node: Callable[[Row], NodeType], **fields: Any) -> Self:
        """The connection of ``page``: each row made a node by ``node``, its keyset values a
        cursor; ``fields``: those the subclass adds (e.g. ``refreshed_at``)."""
        cursors = [encode_cursor(values) for values in page.keys]
        return cls(
            edges=[Edge(cursor=c, node=node(r)) for c, r in zip(cursors, page.rows, strict=True)],
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            **fields,
        )


__all__ = ["Connection", "Edge", "Node", "PageInfo"]

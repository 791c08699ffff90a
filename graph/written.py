"""JSON written already: an object's JSON text the database wrote (:mod:`graph.schema.row_json`),
which a selection plan keeps as the field's value (:mod:`graph.schema.plan`), the response's
encoder writes in its place, and the actual cost's walk counts by what it holds
(:mod:`graph.cost`): a module of its own, which both import without importing each other."""

from __future__ import annotations


class WrittenJson:
    """An object's JSON written already.

    Attributes:
        text: its JSON text.
        objects: what the actual cost's walk would count inside it (its objects, each a
            point: :func:`graph.cost.counted_below`), had it walked the object itself: the
            walk adds it where it meets this value in the response, so that an object the
            response dropped (a null propagated over it) is not counted.
    """

    __slots__ = ("objects", "text")

    def __init__(self, text: str, objects: int = 0) -> None:
        self.text = text
        self.objects = objects


__all__ = ["WrittenJson"]

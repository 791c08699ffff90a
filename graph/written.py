"""JSON written already: an object's JSON text the database wrote (:mod:`graph.schema.row_json`),
which a selection plan keeps as the field's value (:mod:`graph.schema.plan`), the response's
encoder writes in its place (:func:`written_fragment`, :func:`written_value`), and the actual cost's walk counts by what it holds
(:mod:`graph.cost`): a module of its own, which both import without importing each other."""

from __future__ import annotations

from typing import Any

import orjson


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


def written_fragment(value: Any) -> orjson.Fragment:
    """orjson's ``default``: a :class:`WrittenJson`'s text as it is.

    Raises:
        TypeError: anything else (what orjson raises for a type it cannot encode).
    """
    if type(value) is WrittenJson:
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def written_value(value: Any) -> Any:
    """``json.dumps``' ``default``: a :class:`WrittenJson`'s value (its text decoded, keys in
    their order), for the standard library to write as it writes the rest.

    Raises:
        TypeError: anything else (what ``json.dumps`` raises for a type it cannot encode).
    """
    if type(value) is WrittenJson:
        return orjson.loads(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


__all__ = ["WrittenJson", "written_fragment", "written_value"]

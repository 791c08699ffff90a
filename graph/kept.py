"""Values made once per parsed document (or schema, operation) and kept by the identity of
those objects: graphql-core's nodes hash by walking their whole tree, and a document is
parsed once per process (``graph.extensions``), so its objects are the key.

The selection plans, the actual-cost walks and the lean reads each keep such values
(:mod:`graph.schema.plan`, :mod:`graph.cost`, :mod:`graph.schema.lean`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

V = TypeVar("V")


class KeptByIdentity(Generic[V]):
    """The value of each tuple of objects, made by the first :meth:`get` of it and kept for
    the last ``size`` tuples made (the oldest dropped first). The objects are kept alive with
    their value, so their ids are not reused while it is kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[int, ...], tuple[tuple[Any, ...], V]] = OrderedDict()

    def get(self, objects: tuple[Any, ...], make: Callable[[], V]) -> V:
        """The value kept for ``objects`` (compared by identity), else ``make()``'s, kept."""
        key = tuple(map(id, objects))
        found = self._kept.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], objects, strict=True)):
            return found[1]
        value = make()
        self._kept[key] = (objects, value)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return value


__all__ = ["KeptByIdentity"]

"""Query helpers shared by the domains: keyset pagination."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q

if TYPE_CHECKING:
    from collections.abc import Sequence


def keyset_after(order: Sequence[tuple[str, bool]], values: Sequence[Any]) -> Q:
    """The rows strictly after ``values`` in ``order`` (no OFFSET scan).

    Args:
        order: ``(field, descending)`` pairs, the last one unique (usually ``id``).
        values: the cursor row's values for those fields.

    The first field is also bounded on its own (``<=`` or ``>=`` the cursor's value): the
    alternatives alone are an ``OR`` no database seeks an index with, the bound lets it start
    its index walk at the cursor instead of at the first row (what an OFFSET would cost).

    Example:
        ``keyset_after([("last_activity_at", True), ("id", True)], [t, 42])`` is
        ``last_activity_at <= t AND (last_activity_at < t OR (last_activity_at = t AND id < 42))``.
    """
    alternatives = []
    for i, (field, descending) in enumerate(order):
        equal = {f: v for (f, _), v in zip(order[:i], values[:i], strict=True)}
        op = "lt" if descending else "gt"
        alternatives.append(Q(**equal, **{f"{field}__{op}": values[i]}))
    first_field, first_descending = order[0]
    bound = Q(**{f"{first_field}__{'lte' if first_descending else 'gte'}": values[0]})
    return bound & Q(*alternatives, join_type="OR")


def ordering(order: Sequence[tuple[str, bool]]) -> list[str]:
    """``order`` as tortoise ``order_by`` arguments."""
    return [("-" if descending else "") + field for field, descending in order]


__all__ = ["keyset_after", "ordering"]

"""Checks shared by the domains' mutations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graph.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tortoise.models import Model


async def ids_in_workspace(
    model: type[Model], workspace_id: int, ids: Sequence[int] | None, *, field: str
) -> list[int] | None:
    """``ids`` without repeats, in order, once each names a ``model`` row of the workspace.

    Returns ``None`` for ``None`` (nothing given).

    Raises:
        NotFound: naming ``field``, when an id is unknown or belongs to another workspace.
    """
    if ids is None:
        return None
    unique = sorted(set(ids))
    if await model.filter(workspace_id=workspace_id, id__in=unique).count() != len(unique):
        raise NotFound(model.__name__, field=field)
    return unique


__all__ = ["ids_in_workspace"]

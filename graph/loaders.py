"""DataLoaders, one set per request (per event for subscriptions, never per connection).

Every loader is scoped to the viewer's workspace: an id from another workspace loads ``None``.
Visibility is decided by the caller with the policy; loaders only batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from db.models import (
    ActivityMention,
    Call,
    Channel,
    Contact,
    Conversation,
    Message,
    Team,
    User,
    Workspace,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tortoise.models import Model


def _by_id(model: type[Model], workspace_id: int) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = await model.filter(workspace_id=workspace_id, id__in=list(set(ids)))
        found = {row.pk: row for row in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _mentions(workspace_id: int) -> DataLoader[int, list[int]]:
    """Activity id -> the ids of the users it mentions, in mention order."""

    async def load(ids: Sequence[int]) -> list[list[int]]:
        rows = await ActivityMention.filter(
            activity_id__in=list(set(ids)), activity__workspace_id=workspace_id
        ).order_by("id").values_list("activity_id", "user_id")
        found: dict[int, list[int]] = {}
        for activity_id, user_id in rows:
            found.setdefault(activity_id, []).append(user_id)
        return [found.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


_MODELS: dict[str, type[Model]] = {
    "call": Call,
    "user": User,
    "team": Team,
    "channel": Channel,
    "contact": Contact,
    "conversation": Conversation,
    "message": Message,
}


class Loaders:
    """Batching loaders by primary key for the workspace ``workspace_id``: ``user``, ``team``,
    ``channel``, ``contact``, ``conversation``, ``message``, ``call``; ``mentions`` maps an activity id
    to the ids of the users it mentions. Each is made on first use (an
    open subscription holds a set it may never use)."""

    user: DataLoader[int, Any]
    team: DataLoader[int, Any]
    channel: DataLoader[int, Any]
    contact: DataLoader[int, Any]
    conversation: DataLoader[int, Any]
    message: DataLoader[int, Any]
    call: DataLoader[int, Any]

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self._workspace: Workspace | None = None

    def __getattr__(self, name: str) -> DataLoader[int, Any]:
        if name == "mentions":
            loader = _mentions(self.workspace_id)
            setattr(self, name, loader)
            return loader
        model = _MODELS.get(name)
        if model is None:
            raise AttributeError(name)
        loader = _by_id(model, self.workspace_id)
        setattr(self, name, loader)
        return loader

    async def workspace(self) -> Workspace:
        """The viewer's workspace row (settings such as phone-number masking), once."""
        if self._workspace is None:
            self._workspace = await Workspace.get(id=self.workspace_id)
        return self._workspace


__all__ = ["Loaders"]

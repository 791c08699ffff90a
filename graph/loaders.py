"""DataLoaders, one set per request (per event for subscriptions, never per connection).

Every loader is scoped to the viewer's workspace: an id from another workspace loads ``None``.
Visibility is decided by the caller with the policy; loaders only batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from db.models import Call, Channel, Contact, Conversation, Message, Team, User, Workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tortoise.models import Model


def _by_id(model: type[Model], workspace_id: int) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = await model.filter(workspace_id=workspace_id, id__in=list(set(ids)))
        found = {row.pk: row for row in rows}
        return [found.get(i) for i in ids]

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
    ``channel``, ``contact``, ``conversation``, ``message``, ``call``. Each is made on first use (an
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

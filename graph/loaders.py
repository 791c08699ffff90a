"""DataLoaders, one set per request (per event for subscriptions, never per connection).

Every loader is scoped to the viewer's workspace: an id from another workspace loads ``None``.
Visibility is decided by the caller with the policy; loaders only batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from db.models import Channel, Contact, Conversation, Message, Team, User, Workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tortoise.models import Model


def _by_id(model: type[Model], workspace_id: int) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = await model.filter(workspace_id=workspace_id, id__in=list(set(ids)))
        found = {row.pk: row for row in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


class Loaders:
    """Batching loaders by primary key for the workspace ``workspace_id``."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.user = _by_id(User, workspace_id)
        self.team = _by_id(Team, workspace_id)
        self.channel = _by_id(Channel, workspace_id)
        self.contact = _by_id(Contact, workspace_id)
        self.conversation = _by_id(Conversation, workspace_id)
        self.message = _by_id(Message, workspace_id)
        self._workspace: Workspace | None = None

    async def workspace(self) -> Workspace:
        """The viewer's workspace row (settings such as phone-number masking), once."""
        if self._workspace is None:
            self._workspace = await Workspace.get(id=self.workspace_id)
        return self._workspace


__all__ = ["Loaders"]

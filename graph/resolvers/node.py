"""``node(id)``: any object by global id, if the viewer may see it (``domain.md`` section 1).

Objects hanging off a contact (conversations, messages, activities) are visible exactly when
their contact is, calls also only to users with call access (section 5); users, teams and channels when they belong to the viewer's workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from db.models import CustomInbox
from graph.resolvers.contact import may_see
from graph.resolvers.access_token import tokens_visible_to

if TYPE_CHECKING:
    from graph.context import Context


async def _contact_visible(ctx: Context, contact_id: int) -> bool:
    return may_see(ctx.viewer, await ctx.loaders.contact.load(contact_id))


async def find_node(ctx: Context, type_name: str, pk: int) -> tuple[str, Any] | None:
    """``(type name, row)`` of a visible object, else ``None`` (unknown, foreign or hidden)."""
    viewer = ctx.viewer
    loaders = ctx.loaders
    row: Any = None
    if type_name == "Contact":
        row = await loaders.contact.load(pk)
        visible = row is not None and may_see(viewer, row)
    elif type_name in ("Conversation", "Message"):
        loader = loaders.conversation if type_name == "Conversation" else loaders.message
        row = await loader.load(pk)
        visible = row is not None and await _contact_visible(ctx, row.contact_id)
    elif type_name == "Call":
        row = await loaders.call.load(pk)
        visible = (
            row is not None and viewer.has_call_access and await _contact_visible(ctx, row.contact_id)
        )
    elif type_name == "Activity":
        row = await loaders.activity.load(pk)
        visible = row is not None and await _contact_visible(ctx, row.contact_id)
    elif type_name in ("User", "Team", "Channel"):
        row = await getattr(loaders, type_name.lower()).load(pk)
        visible = row is not None
    elif type_name == "Workspace":
        row = await loaders.workspace() if pk == viewer.workspace_id else None
        visible = row is not None
    elif type_name == "AccessToken":
        row = await tokens_visible_to(viewer).filter(id=pk).first()
        visible = row is not None
    elif type_name == "CustomInbox":
        row = await CustomInbox.filter(id=pk, workspace_id=viewer.workspace_id, creator_id=viewer.user_id).first()
        visible = row is not None
    else:
        return None
    return (type_name, row) if visible else None


__all__ = ["find_node"]

"""``node(id)``: any object by global id, if the viewer may see it (``domain.md`` section 1).

Objects hanging off a contact (conversations, messages, activities) are visible exactly when
their contact is, calls also only to users with call access (section 5); users, teams and
channels when they belong to the viewer's workspace; custom inboxes when the viewer created
them or they are shared with the viewer (section 2); access tokens as section 8 says;
webhook endpoints to owners (issue 20). Each rule
is :mod:`graph.permissions.visibility`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from db.models import CustomInbox, WebhookEndpoint
from graph.permissions.visibility import (
    custom_inbox_access,
    may_handle_calls,
    webhook_endpoint_access,
)
from graph.resolvers.access_token import tokens_visible_to
from graph.resolvers.contact import may_see

if TYPE_CHECKING:
    from db.models import Contact
    from graph.context import Context
    from graph.permissions.visibility import Viewer


CONTACT_TYPES = ("Contact", "Conversation", "Message", "Activity", "Call")
"""The types whose objects belong to a contact, visible with it."""


def shows(viewer: Viewer, type_name: str, contact: Contact | None) -> bool:
    """Whether ``viewer`` may see an object of ``type_name`` (one of :data:`CONTACT_TYPES`)
    belonging to ``contact``: exactly when ``node(id)`` returns it. Mutations that return an
    object the caller may not see (ingestion: ``receiveMessage``, ``receiveCall``,
    ``reportCallEnded``) return its ids only (``domain.md`` section 1)."""
    if not may_see(viewer, contact):
        return False
    return type_name != "Call" or may_handle_calls(viewer)


async def _contact_visible(ctx: Context, contact_id: int, type_name: str) -> bool:
    return shows(ctx.viewer, type_name, await ctx.loaders.contact.load(contact_id))


async def find_node(ctx: Context, type_name: str, pk: int) -> tuple[str, Any] | None:
    """``(type name, row)`` of a visible object, else ``None`` (unknown, foreign or hidden)."""
    viewer = ctx.viewer
    loaders = ctx.loaders
    row: Any = None
    if type_name == "Contact":
        row = await loaders.contact.load(pk)
        visible = row is not None and shows(viewer, type_name, row)
    elif type_name in ("Conversation", "Message", "Call", "Activity"):
        row = await getattr(loaders, type_name.lower()).load(pk)
        visible = row is not None and await _contact_visible(ctx, row.contact_id, type_name)
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
        row = await CustomInbox.filter(custom_inbox_access(viewer), id=pk).first()
        visible = row is not None
    elif type_name == "WebhookEndpoint":
        access = webhook_endpoint_access(viewer)
        row = await WebhookEndpoint.filter(access, id=pk).first() if access is not None else None
        visible = row is not None
    else:
        return None
    return (type_name, row) if visible else None


__all__ = ["CONTACT_TYPES", "find_node", "shows"]

"""``node(id)``: any object by its global id (Relay's object identification)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.relay import parse_global_id
from graph.resolvers.node import find_node
from graph.schema.call import Call
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.conversation import Activity, Conversation, Message
from graph.schema.core import Node
from graph.schema.inbox import CustomInbox
from graph.schema.user import AccessToken, Team, User, Workspace
from graph.schema.webhook import WebhookEndpoint

_TYPES = {
    "Call": Call,
    "Contact": Contact,
    "Conversation": Conversation,
    "Message": Message,
    "Activity": Activity,
    "User": User,
    "Team": Team,
    "Channel": Channel,
    "Workspace": Workspace,
    "AccessToken": AccessToken,
    "CustomInbox": CustomInbox,
    "WebhookEndpoint": WebhookEndpoint,
}
"""The types ``node(id)`` returns, by the type name of their global ids."""


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by global id; null when it does not exist or the viewer may not see it."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="A global id (BAD_USER_INPUT when malformed)."),
        ],
    ) -> Node | None:
        info.context.viewer  # noqa: B018 - authentication first
        parsed = parse_global_id(id)
        if parsed is None:
            raise BadUserInput("`id` is not a valid global id.", field="id")
        found = await find_node(info.context, *parsed)
        if found is None:
            return None
        type_name, row = found
        return _TYPES[type_name].from_row(row)


__all__ = ["NodeQueries"]

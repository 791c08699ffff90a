"""``node(id)``: any object by its global id (Relay's object identification)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.relay import parse_global_id
from graph.resolvers.conversation import timeline_specs
from graph.resolvers.node import find_node
from graph.resolvers.pages import Ahead
from graph.schema.ahead import alone, page_asked, selected_fields
from graph.schema.call import Call
from graph.schema.channel import Channel
from graph.schema.contact import Contact, panel_ahead
from graph.schema.conversation import (
    TIMELINE_MODELS,
    Activity,
    Conversation,
    Message,
    timeline_request,
)
from graph.schema.core import Node
from graph.schema.inbox import CustomInbox
from graph.schema.row_json import page_json
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
        ahead = (
            _timeline_ahead(info)
            if parsed[0] == "Conversation"
            else panel_ahead(info)
            if parsed[0] == "Contact"
            else None
        )
        found = await find_node(info.context, *parsed, ahead, alone=alone(info))
        if found is None:
            return None
        type_name, row = found
        return _TYPES[type_name].from_row(row)


def _timeline_ahead(info: Info) -> Ahead | None:
    """The pages of a conversation's timeline ``node``'s selection asks for (``... on
    Conversation { timeline(...) }``, once, without directives on the way: a screen's
    timeline), so that they are read with the conversation and its contact (one round trip);
    ``None`` for any other selection or arguments that are not a page (the timeline's own
    resolver reports those)."""
    found = selected_fields(info, "Conversation", ("timeline",))
    if found is None or len(found["timeline"]) != 1:
        return None
    field = found["timeline"][0]
    request = page_asked(info, "Conversation", field, timeline_request)
    if request is None:
        return None
    json = page_json(info, TIMELINE_MODELS, field, "Conversation")
    return Ahead(pages=timeline_specs(request), json=json)


__all__ = ["NodeQueries"]

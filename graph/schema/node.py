"""``node(id)``: any object by its global id (Relay's object identification)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast,
)
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.relay import parse_global_id
from graph.resolvers.conversation import timeline_specs
from graph.resolvers.node import find_node
from graph.schema.call import Call
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.conversation import Activity, Conversation, Message, timeline_request
from graph.schema.core import Node
from graph.schema.inbox import CustomInbox
from graph.schema.user import AccessToken, Team, User, Workspace
from graph.schema.webhook import WebhookEndpoint

if TYPE_CHECKING:
    from graph.resolvers.pages import PageSpec

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
        ahead = _timeline_ahead(info) if parsed[0] == "Conversation" else None
        found = await find_node(info.context, *parsed, ahead)
        if found is None:
            return None
        type_name, row = found
        return _TYPES[type_name].from_row(row)


def _timeline_ahead(info: Info) -> tuple[PageSpec, ...] | None:
    """The pages of a conversation's timeline ``node``'s selection asks for (``... on
    Conversation { timeline(...) }``, once, without directives on the way: a screen's
    timeline), so that they are read with the conversation and its contact (one round trip);
    ``None`` for any other selection or arguments that are not a page (the timeline's own
    resolver reports those)."""
    raw = info._raw_info
    found: list[FieldNode] = []

    def walk(selection_set: SelectionSetNode | None) -> bool:
        for selection in selection_set.selections if selection_set is not None else ():
            if selection.directives:
                return False
            if isinstance(selection, FieldNode):
                if selection.name.value == "timeline":
                    found.append(selection)
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = raw.fragments.get(selection.name.value)
                if fragment is None or fragment.directives:
                    return False
                condition, inner = fragment.type_condition, fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            else:
                return False
            if condition is not None and condition.name.value not in ("Conversation", "Node"):
                continue
            if not walk(inner):
                return False
        return True

    if not all(walk(node.selection_set) for node in raw.field_nodes) or len(found) != 1:
        return None
    field_def = raw.schema.get_type("Conversation").fields["timeline"]
    arguments: dict[str, Any] = {}
    try:
        for argument in found[0].arguments:
            value = argument.value
            if isinstance(value, VariableNode):
                arguments[argument.name.value] = raw.variable_values.get(value.name.value)
            else:
                arguments[argument.name.value] = value_from_ast(
                    value, field_def.args[argument.name.value].type
                )
        request = timeline_request(
            arguments.get("first"),
            arguments.get("after"),
            arguments.get("last"),
            arguments.get("before"),
        )
    except Exception:  # noqa: BLE001 - the timeline's own resolver reports it
        return None
    return timeline_specs(request)


__all__ = ["NodeQueries"]

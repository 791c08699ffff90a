"""Inboxes of the left panel: types and the inbox selector."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from db import models as m
from graph.fanout import depends_on_identity
from graph.loaders import related, then
from graph.permissions.visibility import StandardInboxKind as _StandardInboxKind
from graph.permissions.visibility import may_edit_custom_inbox
from graph.resolvers import indicators
from graph.resolvers import custom_inbox as custom_resolvers
from graph.resolvers import filter_conditions as conditions
from graph.resolvers import inbox as resolvers
from graph.errors import BadUserInput
from graph.schema.conversation import ConversationStatus
from graph.schema.core import Node, decode_id, to_global_id
from graph.schema.user import Team, User


def _users(rows: list[m.User]) -> list[User]:
    return [User.from_row(row) for row in rows]


def _teams(rows: list[m.Team]) -> list[Team]:
    return [Team.from_row(row) for row in rows]

StandardInboxKind = strawberry.enum(_StandardInboxKind, name="StandardInboxKind")


@strawberry.input(one_of=True, description="Exactly one member is set (a @oneOf input).")
class InboxSelector:
    standard: StandardInboxKind | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    custom_inbox_id: strawberry.ID | None = strawberry.UNSET
    blocked: bool | None = strawberry.UNSET


@strawberry.type
class _InboxIndicators:
    """The two indicators of standard and team inboxes (``domain.md`` section 3); counts the
    sidebar subscription computed already are reused."""

    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field(
        description="The dot: open conversations of this inbox with inbound messages the viewer "
        "has not seen in it (conversations, never messages). `markInboxSeen` clears it."
    )
    async def new_message_count(self, info: Info) -> int:
        if self.entry.counts is not None:
            return self.entry.counts[0]
        return await indicators.new_message_count(info.context.viewer, self.entry)

    @strawberry.field(description="Open conversations of this inbox for the viewer.")
    async def open_conversation_count(self, info: Info) -> int:
        if self.entry.counts is not None:
            return self.entry.counts[1]
        return await indicators.open_conversation_count(info.context.viewer, self.entry)


@strawberry.type(description="ALL, MINE or UNASSIGNED, as the viewer sees it.")
class StandardInbox(_InboxIndicators):
    kind: StandardInboxKind


@strawberry.type(description="A team's inbox: conversations whose contact is assigned to a member.")
class TeamInbox(_InboxIndicators):
    @strawberry.field
    def team(self, info: Info) -> Team:
        return related(info.context.loaders.team, self.entry.team_id, Team.from_row)


@strawberry.type(description="Conversations of blocked contacts.")
class BlockedInbox:
    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field
    async def conversation_count(self, info: Info) -> int:
        if self.entry.counts is not None:
            return self.entry.counts[1]
        viewer = info.context.viewer
        return await resolvers.conversations_in(viewer, self.entry.scope, None).count()


CustomInboxSharing = strawberry.enum(
    m.CustomInboxSharing,
    name="CustomInboxSharing",
    description="PRIVATE (its creator), EVERYONE in the workspace, or CHOSEN users and teams.",
)


@strawberry.enum
class CustomInboxOwnership(Enum):
    ALL = "ALL"
    BY_ME = "BY_ME"
    BY_OTHERS = "BY_OTHERS"


@strawberry.input(one_of=True, description="Exactly one of userIds, me: true or none: true.")
class AssigneeFilter:
    user_ids: list[strawberry.ID] | None = strawberry.UNSET
    me: bool | None = strawberry.UNSET
    none: bool | None = strawberry.UNSET


@strawberry.input(
    one_of=True,
    description="A custom inbox filter node: exactly one of a group (`all`, `any`; nest at most "
    "5 deep, 50 nodes in all) or one condition.",
)
class ConversationFilter:
    all: list[ConversationFilter] | None = strawberry.UNSET
    any: list[ConversationFilter] | None = strawberry.UNSET
    assignee: AssigneeFilter | None = strawberry.UNSET
    status: list[ConversationStatus] | None = strawberry.UNSET
    channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The contact has an identity on one of these channels."
    )
    last_channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The last message was on one of these channels."
    )
    country_codes: list[str] | None = strawberry.field(default=strawberry.UNSET, description="ISO 3166-1 alpha-2.")
    languages: list[str] | None = strawberry.field(default=strawberry.UNSET, description="BCP 47.")
    blocked: bool | None = strawberry.UNSET
    last_incoming_older_than_seconds: int | None = strawberry.UNSET
    last_incoming_within_seconds: int | None = strawberry.UNSET


@strawberry.input
class CustomInboxInput:
    name: str
    filter: ConversationFilter
    sharing: CustomInboxSharing = m.CustomInboxSharing.PRIVATE
    shared_with_user_ids: list[strawberry.ID] | None = None
    shared_with_team_ids: list[strawberry.ID] | None = None


def filter_spec(node: ConversationFilter, path: str = "filter", depth: int = 1) -> dict:
    """The stored shape of a filter input (ids decoded; checked by the resolver), condition by
    condition as :mod:`graph.resolvers.filter_conditions` says."""
    if depth > custom_resolvers.MAX_DEPTH:
        raise BadUserInput(f"Filter groups nest at most {custom_resolvers.MAX_DEPTH} deep.", field=path)
    chosen = {k: v for k, v in vars(node).items() if v is not None and v is not strawberry.UNSET}
    if len(chosen) != 1:
        raise BadUserInput("Each filter node sets exactly one of all, any or a condition.", field=path)
    (key, value), = chosen.items()
    if key in ("all", "any"):
        return {key: [filter_spec(child, f"{path}.{key}[{i}]", depth + 1) for i, child in enumerate(value)]}
    condition = conditions.BY_ATTRIBUTE[key]
    return {condition.stored: condition.from_input(value, path, decode_id)}


def filter_output(spec: dict) -> dict:
    """A stored filter with global ids, as the API shows it."""
    (key, value), = spec.items()
    if key in ("all", "any"):
        return {key: [filter_output(child) for child in value]}
    condition = conditions.BY_STORED[key]
    return {condition.api_name: condition.to_output(value, to_global_id)}


@strawberry.type(description="A saved filtered view of conversations.")
class CustomInbox(Node):
    id: strawberry.ID
    row: strawberry.Private[m.CustomInbox]

    @classmethod
    def from_row(cls, row: m.CustomInbox) -> CustomInbox:
        return cls(id=to_global_id("CustomInbox", row.id), row=row)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def creator(self, info: Info) -> User:
        return related(info.context.loaders.user, self.row.creator_id, User.from_row)

    @strawberry.field
    def sharing(self) -> CustomInboxSharing:
        return self.row.sharing

    @strawberry.field(description="The filter, in the shape of ConversationFilter (global ids).")
    def filter(self) -> JSON:
        return filter_output(self.row.filter_spec)

    # plain resolvers returning an awaitable (``then``), not ``async``: graphql-core calls them
    # for every inbox of a list in one pass, so their loads form one batch whatever the
    # timing (as coroutines, some started a tick later and read their teams apart)
    @strawberry.field(description="Users it is shared with (sharing CHOSEN).")
    def shared_with_users(self, info: Info) -> list[User]:
        return then(info.context.loaders.shared_users.load(self.row.id), _users)

    @strawberry.field(description="Teams it is shared with (sharing CHOSEN).")
    def shared_with_teams(self, info: Info) -> list[Team]:
        return then(info.context.loaders.shared_teams.load(self.row.id), _teams)

    @strawberry.field(description="Whether the viewer may edit, re-share or delete it (its creator).")
    def can_edit(self, info: Info) -> bool:
        depends_on_identity()
        return may_edit_custom_inbox(info.context.viewer, self.row)


@strawberry.type(description="The left panel: only the inboxes the viewer may see, with indicators.")
class InboxSidebar:
    standard: list[StandardInbox]
    teams: list[TeamInbox]
    custom: list[CustomInbox]
    blocked: BlockedInbox | None = strawberry.field(
        description="null when the viewer may not see blocked contacts or none exists."
    )

    @classmethod
    def from_sidebar(cls, sidebar: resolvers.Sidebar) -> InboxSidebar:
        return cls(
            standard=[StandardInbox(kind=e.kind, entry=e) for e in sidebar.standard],
            teams=[TeamInbox(entry=e) for e in sidebar.teams],
            custom=[CustomInbox.from_row(row) for row in sidebar.custom],
            blocked=BlockedInbox(entry=sidebar.blocked) if sidebar.blocked else None,
        )


__all__ = [
    "AssigneeFilter",
    "BlockedInbox",
    "ConversationFilter",
    "CustomInboxInput",
    "CustomInboxOwnership",
    "CustomInboxSharing",
    "filter_spec",
    "CustomInbox",
    "InboxSelector",
    "InboxSidebar",
    "StandardInbox",
    "StandardInboxKind",
    "TeamInbox",
]

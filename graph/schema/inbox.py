"""Inboxes of the left panel: types and the inbox selector."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db import models as m
from graph.fanout import depends_on_identity
from graph.permissions.visibility import StandardInboxKind as _StandardInboxKind
from graph.resolvers import indicators
from graph.resolvers import inbox as resolvers
from graph.schema.core import Node, to_global_id
from graph.schema.user import Team, User

StandardInboxKind = strawberry.enum(_StandardInboxKind, name="StandardInboxKind")


@strawberry.input(one_of=True, description="Exactly one member is set (a @oneOf input).")
class InboxSelector:
    standard: StandardInboxKind | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    custom_inbox_id: strawberry.ID | None = strawberry.UNSET
    blocked: bool | None = strawberry.UNSET


@strawberry.type(description="ALL, MINE or UNASSIGNED, as the viewer sees it.")
class StandardInbox:
    kind: StandardInboxKind
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
        return await resolvers.open_conversation_count(info.context.viewer, self.entry.scope)


@strawberry.type(description="A team's inbox: conversations whose contact is assigned to a member.")
class TeamInbox:
    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field
    async def team(self, info: Info) -> Team:
        return Team.from_row(await info.context.loaders.team.load(self.entry.team_id))

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
        return await resolvers.open_conversation_count(info.context.viewer, self.entry.scope)


@strawberry.type(description="Conversations of blocked contacts.")
class BlockedInbox:
    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field
    async def conversation_count(self, info: Info) -> int:
        if self.entry.counts is not None:
            return self.entry.counts[1]
        viewer = info.context.viewer
        return await resolvers.conversations_in(viewer, self.entry.scope, None).count()


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
    async def creator(self, info: Info) -> User:
        return User.from_row(await info.context.loaders.user.load(self.row.creator_id))

    @strawberry.field(description="Whether the viewer may edit, re-share or delete it (its creator).")
    def can_edit(self, info: Info) -> bool:
        depends_on_identity()
        return self.row.creator_id == info.context.viewer.user_id


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
            custom=[],
            blocked=BlockedInbox(entry=sidebar.blocked) if sidebar.blocked else None,
        )


__all__ = [
    "BlockedInbox",
    "CustomInbox",
    "InboxSelector",
    "InboxSidebar",
    "StandardInbox",
    "StandardInboxKind",
    "TeamInbox",
]

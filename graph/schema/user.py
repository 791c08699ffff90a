"""Users, teams, the workspace and access tokens: types, inputs and administration fields."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from db import models as m
from graph.loaders import related
from graph.permissions.fields import IsSelfOrAdmin
from graph.permissions.scopes import parse_scopes
from graph.relay import to_global_id
from graph.schema.core import Node, PageInfo

Role = strawberry.enum(m.Role, name="Role")
ContactVisibility = strawberry.enum(m.ContactVisibility, name="ContactVisibility")
ClosingNotesMode = strawberry.enum(
    m.ClosingNotesMode,
    name="ClosingNotesMode",
    description="What closing a conversation asks for.",
)


@strawberry.enum(description="Session tokens come from `login`; integration tokens from `createAccessToken`.")
class AccessTokenKind(Enum):
    SESSION = "SESSION"
    INTEGRATION = "INTEGRATION"


AccessTokenScope = strawberry.enum(
    m.AccessTokenScope,
    name="AccessTokenScope",
    description="What an access token may do, within what its user may do: INGEST channel "
    "ingestion only (receiveMessage, receiveCall, reportCallEnded, and `channels`); READ every "
    "query and subscription; READ_WRITE those and the inbox's mutations; ADMIN everything its "
    "user may do, administration and access tokens included. Sessions hold ADMIN.",
)


@strawberry.type(description="A teammate of the workspace.")
class User(Node):
    id: strawberry.ID
    row: strawberry.Private[m.User]

    @classmethod
    def from_row(cls, row: m.User) -> User:
        return cls(
            id=to_global_id("User", row.id),
            row=row,
            name=row.name,
            email=row.email,
            role=row.role,
            is_active=row.is_active,
        )

    name: str
    email: str
    role: Role
    is_active: bool

    @strawberry.field(
        permission_classes=[IsSelfOrAdmin],
        description="The agent's restriction (always ALL for owners and managers).",
    )
    def contact_visibility(self) -> ContactVisibility | None:
        return self.row.contact_visibility

    @strawberry.field(permission_classes=[IsSelfOrAdmin])
    def can_view_blocked_contacts(self) -> bool | None:
        return self.row.can_view_blocked_contacts

    @strawberry.field(permission_classes=[IsSelfOrAdmin])
    def has_call_access(self) -> bool | None:
        return self.row.has_call_access

    @strawberry.field(
        permission_classes=[IsSelfOrAdmin],
        description="May edit and merge contacts (always true for owners and managers).",
    )
    def can_edit_contacts(self) -> bool | None:
        return self.row.can_edit_contacts or self.row.role is not m.Role.AGENT

    @strawberry.field(description="The teams the user belongs to.")
    async def teams(self, info: Info) -> list[Team]:
        viewer = info.context.viewer
        ids = [t for t, members in viewer.team_members.items() if self.row.id in members]
        rows = await info.context.loaders.team.load_many(sorted(ids))
        return [Team.from_row(r) for r in rows if r is not None]


@strawberry.type(description="A named group of users.")
class Team(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Team]

    @classmethod
    def from_row(cls, row: m.Team) -> Team:
        return cls(id=to_global_id("Team", row.id), row=row, name=row.name)

    name: str

    @strawberry.field
    async def members(self, info: Info) -> list[User]:
        # the viewer's snapshot of every team's members, as for ``User.teams``: no query per team
        ids = info.context.viewer.team_members.get(self.row.id, frozenset())
        rows = await info.context.loaders.user.load_many(sorted(ids))
        return [User.from_row(r) for r in rows if r is not None]


@strawberry.type(description="The tenant and its settings.")
class Workspace(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Workspace]

    @classmethod
    def from_row(cls, row: m.Workspace) -> Workspace:
        return cls(id=to_global_id("Workspace", row.id), row=row)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Whether phone numbers are masked for everyone but owners.")
    def phone_number_masking(self) -> bool:
        return self.row.phone_number_masking

    @strawberry.field(description="Seconds a call rings before it is MISSED.")
    def call_ring_timeout_seconds(self) -> int:
        return self.row.call_ring_timeout_seconds

    @strawberry.field
    def closing_notes_mode(self) -> ClosingNotesMode:
        return self.row.closing_notes_mode


@strawberry.type(
    description="A session (from `login`) or integration token (from `createAccessToken`). Its "
    "secret is never readable after creation."
)
class AccessToken(Node):
    id: strawberry.ID
    row: strawberry.Private[m.AccessToken]

    @classmethod
    def from_row(cls, row: m.AccessToken) -> AccessToken:
        return cls(id=to_global_id("AccessToken", row.id), row=row)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def kind(self) -> AccessTokenKind:
        return AccessTokenKind(self.row.kind.value)

    @strawberry.field(
        description="The scopes it was given (ADMIN includes the others, READ_WRITE includes "
        "READ); sessions hold ADMIN."
    )
    def scopes(self) -> list[AccessTokenScope]:
        return sorted(parse_scopes(self.row.scopes), key=lambda s: list(m.AccessTokenScope).index(s))

    @strawberry.field(description="The user it acts as, who made it.")
    def created_by(self, info: Info) -> User:
        return related(info.context.loaders.user, self.row.user_id, User.from_row)

    @strawberry.field(
        description="The token that minted it (an ADMIN integration token), null when its user "
        "made it from a session or logged in. It is revoked with its parent."
    )
    async def parent(self, info: Info) -> AccessToken | None:
        if self.row.parent_id is None:
            return None
        row = await m.AccessToken.filter(id=self.row.parent_id).first()
        return AccessToken.from_row(row) if row is not None else None

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="UTC; null for tokens that do not expire.")
    def expires_at(self) -> datetime | None:
        return self.row.expires_at

    @strawberry.field(
        description="When it was last used to authenticate (UTC, to the minute: written at most "
        "once a minute); null when never used."
    )
    def last_used_at(self) -> datetime | None:
        return self.row.last_used_at

    @strawberry.field(description="Whether it was revoked (logout, revokeAccessToken, its "
                      "parent's revocation, its user's deactivation or password change).")
    def revoked(self) -> bool:
        return self.row.revoked_at is not None

    @strawberry.field
    def revoked_at(self) -> datetime | None:
        return self.row.revoked_at

    @strawberry.field(description="Whether this is the token of the request reading it.")
    def current(self, info: Info) -> bool:
        return info.context.viewer.token_id == self.row.id


@strawberry.type
class AccessTokenEdge:
    cursor: str
    node: AccessToken


@strawberry.type(description="A page of access tokens, newest first.")
class AccessTokenConnection:
    edges: list[AccessTokenEdge]
    page_info: PageInfo


@strawberry.type(description="A session: the bearer token to send as `Authorization: Bearer <token>`.")
class AuthPayload:
    token: str
    expires_at: datetime | None
    user: User


@strawberry.type(description="A new access token; `token` is shown this once only.")
class AccessTokenPayload:
    token: str
    access_token: AccessToken


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    password: str
    role: Role = m.Role.AGENT
    contact_visibility: ContactVisibility = m.ContactVisibility.ALL
    team_ids: list[strawberry.ID] | None = None
    can_view_blocked_contacts: bool = False
    has_call_access: bool = False
    can_edit_contacts: bool = True


@strawberry.input(description="Only the fields given change.")
class UpdateUserInput:
    name: str | None = None
    role: Role | None = None
    contact_visibility: ContactVisibility | None = None
    team_ids: list[strawberry.ID] | None = None
    can_view_blocked_contacts: bool | None = None
    has_call_access: bool | None = None
    can_edit_contacts: bool | None = None
    is_active: bool | None = None


@strawberry.input(description="Only the fields given change.")
class WorkspaceSettingsInput:
    phone_number_masking: bool | None = None
    call_ring_timeout_seconds: int | None = None
    closing_notes_mode: ClosingNotesMode | None = None


__all__ = [
    "AccessToken",
    "AccessTokenConnection",
    "AccessTokenEdge",
    "AccessTokenKind",
    "AccessTokenPayload",
    "AccessTokenScope",
    "AuthPayload",
    "ClosingNotesMode",
    "ContactVisibility",
    "CreateUserInput",
    "Role",
    "Team",
    "UpdateUserInput",
    "User",
    "Workspace",
    "WorkspaceSettingsInput",
]

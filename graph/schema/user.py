"""Users, teams, the workspace and access tokens: types, inputs and root fields."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from db import models as m
from graph.errors import FieldErrors
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.loaders import related
from graph.permissions.fields import IsSelfOrAdmin
from graph.permissions.scopes import parse_scopes
from graph.relay import PageRequest, decode_id, decode_ids, to_global_id
from graph.resolvers import access_token as token_resolvers
from graph.resolvers import user as user_resolvers
from graph.schema.core import After, Before, Connection, First, Last, Node, connection_field
from graph.schema.described import model_enum
from graph.schema.rows import from_row
from graph.secrets import SecretBox
from graph.throttle import login_attempt

Role = model_enum(
    m.Role,
    name="Role",
    description="A user's role in the workspace (domain.md, terms); what each may do is "
    "stated on each mutation.",
    values={
        "OWNER": "Administers the workspace: settings, channels, CRM connections, every user, "
        "team and access token; sees every contact, blocked ones included, and unmasked numbers.",
        "MANAGER": "Manages users and teams (granting nothing beyond their own role and "
        "permissions); sees every contact (blocked ones with `canViewBlockedContacts`).",
        "AGENT": "Handles conversations and calls, within their `contactVisibility`.",
    },
)
ContactVisibility = model_enum(
    m.ContactVisibility,
    name="ContactVisibility",
    description="Which contacts an agent sees (domain.md section 1, the visibility policy). "
    "Owners and managers are always ALL.",
    values={
        "ALL": "Every contact of the workspace (blocked ones only with `canViewBlockedContacts`).",
        "TEAM": "Contacts assigned to the user or to a member of one of the user's teams; not "
        "unassigned ones.",
        "SELF": "Contacts assigned to the user only.",
    },
)
ClosingNotesMode = model_enum(
    m.ClosingNotesMode,
    name="ClosingNotesMode",
    description="What closing a conversation asks for (`closeConversation(category:, "
    "summary:)`, domain.md terms: closing notes).",
    values={
        "OFF": "No closing notes: a category or summary given is refused (BAD_USER_INPUT).",
        "OPTIONAL": "A category and a summary may be given.",
        "CATEGORY_REQUIRED": "A category is required (BAD_USER_INPUT naming `category` without "
        "one); a summary is optional.",
        "CATEGORY_AND_SUMMARY_REQUIRED": "Both a category and a summary are required "
        "(BAD_USER_INPUT naming the missing one).",
    },
)


@strawberry.enum(
    description="Session tokens come from `login`; integration tokens from `createAccessToken`."
)
class AccessTokenKind(Enum):
    SESSION = strawberry.enum_value(
        "SESSION",
        description="A login session (`login`): scope ADMIN, lasts "
        "INBOX_GRAPH_SESSION_TTL_SECONDS, ended by `logout`.",
    )
    INTEGRATION = strawberry.enum_value(
        "INTEGRATION",
        description="A token for a connector or script (`createAccessToken`), with its scopes "
        "and optional expiry.",
    )


AccessTokenScope = model_enum(
    m.AccessTokenScope,
    name="AccessTokenScope",
    values={
        "INGEST": "Channel ingestion: receiveMessage, receiveCall, reportCallEnded and "
        "`channels`; reads no contact (answers carry ids).",
        "READ": "Every query and subscription.",
        "READ_WRITE": "READ, and the inbox's mutations (replies, assignment, comments, "
        "blocking, conversations, calls, contacts, custom inboxes, CRM records).",
        "ADMIN": "Everything the token's user may do: administration and access tokens too.",
    },
    description="What an access token may do, within what its user may do: INGEST channel "
    "ingestion only (receiveMessage, receiveCall, reportCallEnded, and `channels`); READ every "
    "query and subscription; READ_WRITE those and the inbox's mutations; ADMIN everything its "
    "user may do, administration and access tokens included. Sessions hold ADMIN.",
)


@from_row()
@strawberry.type(description="A teammate of the workspace.")
class User(Node):
    row: strawberry.Private[m.User]

    name: str = strawberry.field(description="The name shown to teammates and in mentions.")
    email: str = strawberry.field(description="The login e-mail, lower-cased; unique.")
    role: Role = strawberry.field(description="What the user may administer.")
    is_active: bool = strawberry.field(
        description="False once deactivated: the user can no longer log in and every token of "
        "theirs is revoked."
    )

    @strawberry.field(
        permission_classes=[IsSelfOrAdmin],
        description="The agent's restriction (always ALL for owners and managers).",
    )
    def contact_visibility(self) -> ContactVisibility | None:
        return self.row.contact_visibility

    @strawberry.field(
        permission_classes=[IsSelfOrAdmin],
        description="May see blocked contacts and their conversations (domain.md section 1). "
        "Readable by the user and by owners and managers (FORBIDDEN for others).",
    )
    def can_view_blocked_contacts(self) -> bool | None:
        return self.row.can_view_blocked_contacts

    @strawberry.field(
        permission_classes=[IsSelfOrAdmin],
        description="May see and handle calls (domain.md section 5). Readable by the user and by "
        "owners and managers (FORBIDDEN for others).",
    )
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


@from_row()
@strawberry.type(description="A named group of users.")
class Team(Node):
    row: strawberry.Private[m.Team]

    name: str = strawberry.field(description="Unique in the workspace.")

    @strawberry.field(description="The team's users, by name.")
    async def members(self, info: Info) -> list[User]:
        # the viewer's snapshot of every team's members, as for ``User.teams``: no query per team
        ids = info.context.viewer.team_members.get(self.row.id, frozenset())
        rows = await info.context.loaders.user.load_many(sorted(ids))
        return [User.from_row(r) for r in rows if r is not None]


@strawberry.type(description="The tenant and its settings.")
class Workspace(Node):
    row: strawberry.Private[m.Workspace]

    @classmethod
    def from_row(cls, row: m.Workspace) -> Workspace:
        return cls(id=to_global_id("Workspace", row.id), row=row)

    @strawberry.field(description="The workspace's name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Whether phone numbers are masked for everyone but owners.")
    def phone_number_masking(self) -> bool:
        return self.row.phone_number_masking

    @strawberry.field(description="Seconds a call rings before it is MISSED.")
    def call_ring_timeout_seconds(self) -> int:
        return self.row.call_ring_timeout_seconds

    @strawberry.field(description="What closing a conversation asks for.")
    def closing_notes_mode(self) -> ClosingNotesMode:
        return self.row.closing_notes_mode


@strawberry.type(
    description="A session (from `login`) or integration token (from `createAccessToken`). Its "
    "secret is never readable after creation."
)
class AccessToken(Node):
    row: strawberry.Private[m.AccessToken]

    @classmethod
    def from_row(cls, row: m.AccessToken) -> AccessToken:
        return cls(id=to_global_id("AccessToken", row.id), row=row)

    @strawberry.field(
        description="What it is for, as its maker named it; sessions are named `session`."
    )
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="A session or an integration token.")
    def kind(self) -> AccessTokenKind:
        return AccessTokenKind(self.row.kind.value)

    @strawberry.field(
        description="The scopes it was given (ADMIN includes the others, READ_WRITE includes "
        "READ); sessions hold ADMIN."
    )
    def scopes(self) -> list[AccessTokenScope]:
        return sorted(
            parse_scopes(self.row.scopes), key=lambda s: list(m.AccessTokenScope).index(s)
        )

    @strawberry.field(description="The user it acts as, who made it.")
    def created_by(self, info: Info) -> User:
        return related(info.context.loaders.user, self.row.user_id, User.from_row)

    @strawberry.field(
        description="The token that minted it (an ADMIN integration token), null when its user "
        "made it from a session or logged in. It is revoked with its parent."
    )
    async def parent(self, info: Info) -> AccessToken | None:
        row = await token_resolvers.parent_token(self.row)
        return AccessToken.from_row(row) if row is not None else None

    @strawberry.field(description="When it was made (UTC).")
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

    @strawberry.field(
        description="Whether it was revoked (logout, revokeAccessToken, its "
        "parent's revocation, its user's deactivation or password change)."
    )
    def revoked(self) -> bool:
        return self.row.revoked_at is not None

    @strawberry.field(description="When it was revoked (UTC); null while it is not.")
    def revoked_at(self) -> datetime | None:
        return self.row.revoked_at

    @strawberry.field(description="Whether this is the token of the request reading it.")
    def current(self, info: Info) -> bool:
        return info.context.viewer.token_id == self.row.id


@strawberry.type(description="A page of access tokens, newest first (`accessTokens`).")
class AccessTokenConnection(Connection[AccessToken]):
    pass


@strawberry.type(
    description="A session: the bearer token to send as `Authorization: Bearer <token>`."
)
class AuthPayload:
    token: str = strawberry.field(
        description="The session's secret bearer token, shown this once; stored hashed."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the session ends (UTC): INBOX_GRAPH_SESSION_TTL_SECONDS after login."
    )
    user: User = strawberry.field(description="The user who logged in.")


@strawberry.type(description="A new access token; `token` is shown this once only.")
class AccessTokenPayload:
    token: str = strawberry.field(
        description="The secret bearer token (`Authorization: Bearer <token>`); never readable "
        "again, except by a retry with the same idempotencyKey on a server with "
        "INBOX_GRAPH_SECRET_KEY."
    )
    access_token: AccessToken = strawberry.field(description="The token's details.")


@strawberry.input(
    description="A new teammate (`createUser`). Every invalid value is BAD_USER_INPUT naming "
    "its field; a grant beyond the caller's own is FORBIDDEN naming its field."
)
class CreateUserInput:
    email: str = strawberry.field(
        description="The login e-mail (RFC 5322), not used by any user yet (BAD_USER_INPUT "
        "otherwise)."
    )
    name: str = strawberry.field(description="The name shown to teammates, not blank.")
    password: str = strawberry.field(
        description="8 to 1024 characters; stored as an argon2id hash, never returned."
    )
    role: Role = strawberry.field(default=m.Role.AGENT, description="AGENT when omitted.")
    contact_visibility: ContactVisibility = strawberry.field(
        default=m.ContactVisibility.ALL,
        description="An agent's restriction (domain.md section 1); owners and managers are "
        "always ALL.",
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Team ids the user joins; none when omitted."
    )
    can_view_blocked_contacts: bool = strawberry.field(
        default=False, description="May see blocked contacts (domain.md section 1)."
    )
    has_call_access: bool = strawberry.field(
        default=False, description="May see and handle calls (domain.md section 5)."
    )
    can_edit_contacts: bool = strawberry.field(
        default=True,
        description="May edit and merge contacts (owners and managers always may).",
    )


@strawberry.input(description="Only the fields given change.")
class UpdateUserInput:
    name: str | None = strawberry.field(default=None, description="A new name, not blank.")
    role: Role | None = strawberry.field(default=None, description="A new role.")
    contact_visibility: ContactVisibility | None = strawberry.field(
        default=None, description="A new restriction (domain.md section 1)."
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The user's teams, replacing the current ones."
    )
    can_view_blocked_contacts: bool | None = strawberry.field(
        default=None, description="May see blocked contacts."
    )
    has_call_access: bool | None = strawberry.field(
        default=None, description="May see and handle calls."
    )
    can_edit_contacts: bool | None = strawberry.field(
        default=None, description="May edit and merge contacts."
    )
    is_active: bool | None = strawberry.field(
        default=None,
        description="false deactivates the user (every session and token revoked); true "
        "reactivates (they log in again).",
    )


@strawberry.input(description="Only the fields given change.")
class WorkspaceSettingsInput:
    phone_number_masking: bool | None = strawberry.field(
        default=None,
        description="Mask phone numbers for everyone but owners (domain.md section 5).",
    )
    call_ring_timeout_seconds: int | None = strawberry.field(
        default=None,
        description="Seconds a call rings before it is MISSED: at least "
        "INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS (5 by default), at most 600 (BAD_USER_INPUT "
        "otherwise).",
    )
    closing_notes_mode: ClosingNotesMode | None = strawberry.field(
        default=None, description="What closing a conversation asks for."
    )


@strawberry.type
class UserQueries:
    @strawberry.field(description="The authenticated user.")
    async def me(self, info: Info) -> User:
        return User.from_row(await info.context.loaders.user.load(info.context.viewer.user_id))

    @strawberry.field(description="The viewer's workspace and its settings.")
    async def workspace(self, info: Info) -> Workspace:
        return Workspace.from_row(await info.context.loaders.workspace())

    @strawberry.field(description="The users of the workspace, by name.")
    async def users(self, info: Info) -> list[User]:
        rows = await user_resolvers.list_users(info.context.viewer)
        return [User.from_row(r) for r in rows]

    @strawberry.field(description="The teams of the workspace, by name.")
    async def teams(self, info: Info) -> list[Team]:
        rows = await user_resolvers.list_teams(info.context.viewer)
        return [Team.from_row(r) for r in rows]


@strawberry.type
class AccessTokenQueries:
    @connection_field(
        description="Access tokens, newest first: every session and integration token of the "
        "workspace for owners, the viewer's own for everyone else; never their secrets. "
        "Errors: BAD_USER_INPUT for a bad page size or cursor."
    )
    async def access_tokens(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        active: Annotated[
            bool | None,
            strawberry.argument(
                description="true (the default): tokens that work now; false: revoked or "
                "expired ones; null: all."
            ),
        ] = True,
        kind: Annotated[
            AccessTokenKind | None,
            strawberry.argument(description="Only sessions or only integration tokens."),
        ] = None,
    ) -> AccessTokenConnection:
        request = PageRequest.parse(first, after, last, before, (int,))
        page = await token_resolvers.list_access_tokens(
            info.context.viewer,
            request,
            active=active,
            kind=m.AccessTokenKind(kind.value) if kind is not None else None,
        )
        return AccessTokenConnection.from_page(page, AccessToken.from_row)


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="Exchange e-mail and password for a bearer token. Errors: UNAUTHENTICATED; "
        "RATE_LIMITED (with `retryAfter` seconds) after repeated failures for the account or from "
        "the client's address, before the password is checked."
    )
    async def login(
        self,
        info: Info,
        email: Annotated[str, strawberry.argument(description="The user's e-mail.")],
        password: Annotated[str, strawberry.argument(description="The user's password.")],
    ) -> AuthPayload:
        async with login_attempt(info.context, email):  # RATE_LIMITED while backing off
            issued = await user_resolvers.login(
                email, password, ttl_seconds=info.context.settings.session_ttl_seconds
            )
        return AuthPayload(
            token=issued.token, expires_at=issued.row.expires_at, user=User.from_row(issued.user)
        )

    @strawberry.mutation(
        description="End the current session: revoke the token of this request (an integration "
        "token revokes itself), and the tokens it minted; their WebSockets close with 4403 (one "
        "with a subscription open at once, any other at its next `subscribe`). Returns whether a "
        "token was revoked now."
    )
    async def logout(self, info: Info) -> bool:
        ctx = info.context
        revoked = await token_resolvers.logout(ctx.bus, ctx.viewer)
        ctx.session_ended = True
        return revoked

    @strawberry.mutation(
        description="Change the viewer's password (sessions only: FORBIDDEN for access tokens) "
        "and end every other session of the user, whose WebSockets close with 4403 (as `logout`'s); "
        "this session and integration tokens stay. Errors: BAD_USER_INPUT for a wrong "
        "`currentPassword` or a `newPassword` not 8 to 1024 characters (nothing changes); "
        "RATE_LIMITED (with `retryAfter` seconds) after repeated wrong `currentPassword`s, as for "
        "`login`; CONFLICT when the password changed meanwhile."
    )
    async def change_password(
        self,
        info: Info,
        current_password: Annotated[
            str, strawberry.argument(description="The password the user has now.")
        ],
        new_password: Annotated[
            str, strawberry.argument(description="The new password, 8 to 1024 characters.")
        ],
    ) -> bool:
        ctx = info.context
        return await token_resolvers.change_password(
            ctx.bus,
            ctx.viewer,
            current_password,
            new_password,
            attempt=lambda email: login_attempt(ctx, email),  # RATE_LIMITED while backing off
        )

    @strawberry.mutation(
        description="Workspace administration (owners; managers for users and teams). Managers "
        "grant no role, visibility or permission beyond their own (owners grant any): "
        "FORBIDDEN naming the field. A retry with the same idempotencyKey is compared on every "
        "field but the password."
    )
    async def create_user(
        self,
        info: Info,
        input: Annotated[CreateUserInput, strawberry.argument(description="The new user.")],
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> User:
        ctx = info.context
        errors = FieldErrors()
        team_ids = None
        with errors.collect():
            team_ids = decode_ids(input.team_ids, "Team", field="teamIds")
        data = user_resolvers.NewUser(
            email=input.email,
            name=input.name,
            password=input.password,
            role=input.role,
            contact_visibility=input.contact_visibility,
            team_ids=team_ids,
            can_view_blocked_contacts=input.can_view_blocked_contacts,
            has_call_access=input.has_call_access,
            can_edit_contacts=input.can_edit_contacts,
        )
        user = await idempotent(
            info,
            idempotency_key,
            # the password stays out of the kept fingerprint (a fast hash)
            {"input": dataclasses.replace(input, password="")},
            CreatedRow(m.User),
            lambda once: user_resolvers.create_user(
                ctx.bus, ctx.viewer, data, once=once, errors=errors
            ),
        )
        return User.from_row(user)

    @strawberry.mutation(
        description="Change a teammate; only the fields given change. Nobody changes their own "
        "role, visibility or permissions, and managers grant nothing beyond their own: "
        "FORBIDDEN naming the field. Deactivating a user ends every session and access token "
        "of the user for good (reactivation does not revive them)."
    )
    async def update_user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The User's id.")],
        input: Annotated[UpdateUserInput, strawberry.argument(description="What changes.")],
    ) -> User:
        ctx = info.context
        user_id = decode_id(id, "User")
        errors = FieldErrors()
        team_ids = None
        with errors.collect():
            team_ids = decode_ids(input.team_ids, "Team", field="teamIds")
        data = user_resolvers.UserChanges(
            name=input.name,
            role=input.role,
            contact_visibility=input.contact_visibility,
            team_ids=team_ids,
            can_view_blocked_contacts=input.can_view_blocked_contacts,
            has_call_access=input.has_call_access,
            can_edit_contacts=input.can_edit_contacts,
            is_active=input.is_active,
        )
        return User.from_row(
            await user_resolvers.update_user(ctx.bus, ctx.viewer, user_id, data, errors=errors)
        )

    @strawberry.mutation(description="A new team with its members (owners and managers).")
    async def create_team(
        self,
        info: Info,
        name: Annotated[
            str,
            strawberry.argument(
                description="1 to 120 characters, unique in the workspace (BAD_USER_INPUT "
                "otherwise)."
            ),
        ],
        member_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="User ids; none when omitted."),
        ] = None,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Team:
        ctx = info.context
        errors = FieldErrors()
        members = None
        with errors.collect():
            members = decode_ids(member_ids, "User", field="memberIds")
        team = await idempotent(
            info,
            idempotency_key,
            {"name": name, "memberIds": member_ids},
            CreatedRow(m.Team),
            lambda once: user_resolvers.create_team(
                ctx.bus, ctx.viewer, name, members, once=once, errors=errors
            ),
        )
        return Team.from_row(team)

    @strawberry.mutation(description="Rename a team or replace its members.")
    async def update_team(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The Team's id.")],
        name: Annotated[
            str | None, strawberry.argument(description="A new name; unchanged when omitted.")
        ] = None,
        member_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(
                description="User ids replacing the members; unchanged when omitted."
            ),
        ] = None,
    ) -> Team:
        ctx = info.context
        team_id = decode_id(id, "Team")
        errors = FieldErrors()
        members = None
        with errors.collect():
            members = decode_ids(member_ids, "User", field="memberIds")
        team = await user_resolvers.update_team(
            ctx.bus, ctx.viewer, team_id, name, members, errors=errors
        )
        return Team.from_row(team)


@strawberry.type
class WorkspaceMutations:
    @strawberry.mutation(
        description="Change workspace settings (owners); only the fields given change."
    )
    async def update_workspace_settings(
        self,
        info: Info,
        input: Annotated[WorkspaceSettingsInput, strawberry.argument(description="What changes.")],
    ) -> Workspace:
        ctx = info.context
        data = user_resolvers.WorkspaceChanges(
            phone_number_masking=input.phone_number_masking,
            call_ring_timeout_seconds=input.call_ring_timeout_seconds,
            closing_notes_mode=input.closing_notes_mode,
        )
        workspace = await user_resolvers.update_workspace_settings(
            ctx.bus, ctx.viewer, data, shortest_ring_timeout=ctx.settings.min_ring_timeout_seconds
        )
        return Workspace.from_row(workspace)


@strawberry.type
class AccessTokenMutations:
    @strawberry.mutation(
        description="An integration access token acting as the viewer's user within `scopes`; "
        "the secret is returned once. Without `scopes`: INGEST and READ_WRITE (no "
        "administration, no minting). A token minted by a token (which needs ADMIN) is its "
        "child: it dies with it, holds no scope it lacks and expires no later. A retry "
        "with the same idempotencyKey returns the secret again only when the server has "
        "INBOX_GRAPH_SECRET_KEY (it keeps the secret encrypted until the key expires); "
        "otherwise it gets CONFLICT with the token's id in `extensions.accessTokenId`: revoke "
        "that token and create another. Errors: BAD_USER_INPUT (name, scopes: an empty list, "
        "expiresAt: in the past or after the minting token's expiry)."
    )
    async def create_access_token(
        self,
        info: Info,
        name: Annotated[
            str, strawberry.argument(description="What the token is for, 1 to 120 characters.")
        ],
        scopes: Annotated[
            list[AccessTokenScope] | None,
            strawberry.argument(
                description="What the token may do; INGEST and READ_WRITE when omitted."
            ),
        ] = None,
        expires_at: Annotated[
            datetime | None,
            strawberry.argument(description="When it stops working (UTC); never when omitted."),
        ] = None,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> AccessTokenPayload:
        ctx = info.context
        arguments: dict[str, Any] = {"name": name}  # as before scopes: keys recorded then match
        if scopes is not None:
            arguments["scopes"] = sorted(s.value for s in scopes)
        if expires_at is not None:
            arguments["expiresAt"] = expires_at.isoformat()
        if not ctx.viewer.is_session:
            # a token minted by a token is that token's (its expiry, revoked with it): another
            # token of the user retrying with the key must not get its secret
            arguments["mintedBy"] = ctx.viewer.token_id
        issued = await idempotent(
            info,
            idempotency_key,
            arguments,
            token_resolvers.IssuedTokenOutcome(SecretBox(ctx.settings.secret_keys)),
            lambda once: token_resolvers.create_access_token(
                ctx.bus, ctx.viewer, name, scopes=scopes, expires_at=expires_at, once=once
            ),
        )
        return AccessTokenPayload(token=issued.token, access_token=AccessToken.from_row(issued.row))

    @strawberry.mutation(
        description="Revoke an access token and the tokens it minted; returns its id. Owners "
        "revoke any token of the workspace, others their own. Their open subscriptions end "
        "(4403). Errors: NOT_FOUND for a token the viewer may not see."
    )
    async def revoke_access_token(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The AccessToken's id.")],
    ) -> strawberry.ID:
        ctx = info.context
        row = await token_resolvers.revoke_access_token(
            ctx.bus, ctx.viewer, decode_id(id, "AccessToken")
        )
        return to_global_id("AccessToken", row.id)


__all__ = [
    "AccessToken",
    "AccessTokenConnection",
    "AccessTokenKind",
    "AccessTokenMutations",
    "AccessTokenPayload",
    "AccessTokenQueries",
    "AccessTokenScope",
    "AuthPayload",
    "ClosingNotesMode",
    "ContactVisibility",
    "CreateUserInput",
    "Role",
    "Team",
    "UpdateUserInput",
    "User",
    "UserMutations",
    "UserQueries",
    "Workspace",
    "WorkspaceMutations",
    "WorkspaceSettingsInput",
]

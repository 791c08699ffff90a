"""The root schema: queries, mutations and subscriptions over the domain modules.

Resolvers stay thin: they read arguments, call the domain operation in ``graph.resolvers``
and wrap the returned rows in types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, ValidationContext, ValidationRule, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types import Info

from db import models as m
from graph.errors import BadUserInput
from graph.extensions import (
    CachedDocuments,
    Documents,
    CodedErrors,
    CostBudget,
    SingleOperation,
    is_expected,
    operation_name_given,
    unstorable_input,
)
from graph.fanout import Candidate
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.resolvers import access_token as token_resolvers
from graph.resolvers import call as call_resolvers
from graph.resolvers import activity as activity_resolvers
from graph.resolvers import contact as contact_resolvers
from graph.resolvers import crm as crm_resolvers
from graph.resolvers import custom_inbox as custom_resolvers
from graph.resolvers import conversation as conversation_resolvers
from graph.resolvers import inbox as inbox_resolvers
from graph.resolvers import merge as merge_resolvers
from graph.resolvers import indicators
from graph.resolvers import user as user_resolvers
from graph.resolvers.node import find_node, shows
from graph.schema.call import Call, CallConnection, IncomingCallTab, ReceiveCallInput, ReportCallEndedInput
from graph.schema.channel import Channel, ChannelType
from graph.schema.direct import resolve_directly
from graph.schema.contact import Contact, ContactField, MentionEvent, UpdateContactInput
from graph.schema.crm import ConnectCrmInput, CrmFieldInput, CrmIntegration, CrmProvider, CrmRecord
from graph.schema.conversation import (
    Activity,
    Conversation,
    ConversationChange,
    ConversationChangeReason,
    ConversationConnection,
    ConversationEvent,
    ConversationEdge,
    ConversationStatus,
    Message,
    MessageEvent,
    ReceiveMessageInput,
    ReceiveMessagePayload,
    SendMessageInput,
    SendMessagePayload,
)
from graph.schema.core import (
    Node,
    decode_cursor,
    decode_id,
    encode_cursor,
    page_info,
    page_size,
    parse_global_id,
    to_global_id,
)
from graph.schema.inbox import (
    CustomInbox,
    CustomInboxInput,
    CustomInboxOwnership,
    InboxSelector,
    InboxSidebar,
    filter_spec,
)
from graph.schema.user import (
    AccessToken,
    AccessTokenConnection,
    AccessTokenEdge,
    AccessTokenKind,
    AccessTokenPayload,
    AccessTokenScope,
    AuthPayload,
    CreateUserInput,
    Team,
    UpdateUserInput,
    User,
    Workspace,
    WorkspaceSettingsInput,
)
from graph.live import LiveEvent, write
from graph.permissions.scopes import require_scopes
from graph.permissions.visibility import contact_scope
from graph.secrets import SecretBox
from graph.settings import Settings
from graph.throttle import login_attempt
from graph.subscriptions import STREAM_STARTED, LiveScope, LiveStream, contact_events

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
}


def _ids(values: list[strawberry.ID] | None, type_name: str, field: str) -> list[int] | None:
    if values is None:
        return None
    return [decode_id(v, type_name, field=field) for v in values]


@strawberry.type
class Query:
    @strawberry.field(description="Any object by global id; null when it does not exist or the viewer may not see it.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        info.context.viewer  # noqa: B018 - authentication first
        parsed = parse_global_id(id)
        if parsed is None:
            raise BadUserInput("`id` is not a valid global id.", field="id")
        found = await find_node(info.context, *parsed)
        if found is None:
            return None
        type_name, row = found
        return _TYPES[type_name].from_row(row)

    @strawberry.field(description="The authenticated user.")
    async def me(self, info: Info) -> User:
        return User.from_row(await info.context.loaders.user.load(info.context.viewer.user_id))

    @strawberry.field(description="The viewer's workspace and its settings.")
    async def workspace(self, info: Info) -> Workspace:
        return Workspace.from_row(await info.context.loaders.workspace())

    @strawberry.field(description="The users of the workspace, by name.")
    async def users(self, info: Info) -> list[User]:
        rows = await m.User.filter(workspace_id=info.context.viewer.workspace_id).order_by("name", "id")
        return [User.from_row(r) for r in rows]

    @strawberry.field(description="The teams of the workspace, by name.")
    async def teams(self, info: Info) -> list[Team]:
        rows = await m.Team.filter(workspace_id=info.context.viewer.workspace_id).order_by("name", "id")
        return [Team.from_row(r) for r in rows]

    @strawberry.field(description="The connected channels of the workspace.")
    async def channels(self, info: Info) -> list[Channel]:
        rows = await m.Channel.filter(workspace_id=info.context.viewer.workspace_id).order_by("id")
        return [Channel.from_row(r) for r in rows]

    @strawberry.field(
        description="The CRMs the workspace connected: the CRM tabs to show in the contact panel "
        "(`Contact.crm`), for every user."
    )
    async def crm_integrations(self, info: Info) -> list[CrmIntegration]:
        rows = await crm_resolvers.connections(info.context.viewer.workspace_id)
        return [CrmIntegration(row=r) for r in rows]

    @strawberry.field(description="The left panel for the viewer: only the inboxes they may see, with indicators.")
    async def inbox_sidebar(self, info: Info) -> InboxSidebar:
        return InboxSidebar.from_sidebar(await inbox_resolvers.sidebar_with_counts(info.context.viewer))

    @strawberry.field(
        description="The conversations of one inbox, newest activity first. `first` is 1 to 100. "
        "Errors: FORBIDDEN for an inbox the viewer's restriction hides, NOT_FOUND for an unknown "
        "team or custom inbox, BAD_USER_INPUT for a malformed selector or cursor."
    )
    async def conversations(
        self,
        info: Info,
        inbox: InboxSelector,
        status: ConversationStatus | None = m.ConversationStatus.OPEN,
        first: int = 25,
        after: str | None = None,
        unseen: Annotated[
            bool,
            strawberry.argument(
                description="Only conversations with inbound messages the viewer has not seen in "
                "this standard or team inbox (what its newMessageCount counts, for status OPEN)."
            ),
        ] = False,
    ) -> ConversationConnection:
        viewer = info.context.viewer
        size = page_size(first)
        cursor = decode_cursor(after, (datetime, int)) if after is not None else None
        ref = await inbox_resolvers.resolve_inbox(viewer, inbox)
        page = await inbox_resolvers.list_conversations(viewer, ref, status, size, cursor, unseen=unseen)
        await info.context.loaders.preload(
            contact=[r.contact_id for r in page.rows], message=[r.last_message_id for r in page.rows]
        )
        cursors = [encode_cursor(inbox_resolvers.conversation_cursor_values(r)) for r in page.rows]
        return ConversationConnection(
            edges=[
                ConversationEdge(cursor=c, node=Conversation.from_row(r))
                for c, r in zip(cursors, page.rows, strict=True)
            ],
            page_info=page_info(cursors, page.has_next, page.has_previous),
            refreshed_at=page.refreshed_at,
        )

    @strawberry.field(description="Custom inboxes: ALL (mine and shared with me), BY_ME or BY_OTHERS, by name.")
    async def custom_inboxes(
        self, info: Info, ownership: CustomInboxOwnership = CustomInboxOwnership.ALL
    ) -> list[CustomInbox]:
        rows = await custom_resolvers.list_custom_inboxes(info.context.viewer, ownership.value)
        return [CustomInbox.from_row(r) for r in rows]

    @strawberry.field(
        description="Ringing inbound calls of one tab, longest ringing first (at most 100), within "
        "the viewer's visibility; blocked contacts' calls ring in no tab. Errors: FORBIDDEN without "
        "call access or for a tab the viewer's restriction does not allow."
    )
    async def incoming_calls(
        self, info: Info, tab: IncomingCallTab = IncomingCallTab.ALL
    ) -> list[Call]:
        rows = await call_resolvers.incoming_calls(info.context.viewer, tab)
        await info.context.loaders.preload(
            contact=[r.contact_id for r in rows], channel=[r.channel_id for r in rows]
        )
        return [Call.from_row(r) for r in rows]

    @strawberry.field(
        description="The call log (the CALLS view): calls of every direction and outcome, newest "
        "first (ringingAt), within the selected inbox (its contacts, as in the CHATS view), or "
        "every call the viewer may see without one. `first` is 1 to 100. Errors: FORBIDDEN "
        "without call access or for an inbox the viewer's restriction hides, NOT_FOUND for an "
        "unknown team or custom inbox, BAD_USER_INPUT for a malformed selector or cursor."
    )
    async def calls(
        self,
        info: Info,
        inbox: InboxSelector | None = None,
        first: int = 25,
        after: str | None = None,
    ) -> CallConnection:
        size = page_size(first)
        cursor = decode_cursor(after, (datetime, int)) if after is not None else None
        page = await call_resolvers.call_log(info.context.viewer, inbox, size, cursor)
        await info.context.loaders.preload(
            contact=[r.contact_id for r in page.rows], channel=[r.channel_id for r in page.rows]
        )
        await info.context.loaders.preload_users(page.rows)
        return CallConnection.from_page(page)

    @strawberry.field(description="A contact by id; null when unknown or not visible to the viewer.")
    async def contact(self, info: Info, id: strawberry.ID) -> Contact | None:
        found = await find_node(info.context, "Contact", decode_id(id, "Contact"))
        return Contact.from_row(found[1]) if found else None

    @strawberry.field(
        description="Access tokens, newest first: every session and integration token of the "
        "workspace for owners, the viewer's own for everyone else; never their secrets. "
        "`first` is 1 to 100. Errors: BAD_USER_INPUT for a malformed `first` or cursor."
    )
    async def access_tokens(
        self,
        info: Info,
        first: int = 25,
        after: str | None = None,
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
        size = page_size(first)
        cursor = decode_cursor(after, (int,)) if after is not None else None
        rows, has_next = await token_resolvers.list_access_tokens(
            info.context.viewer,
            size,
            cursor,
            active=active,
            kind=m.AccessTokenKind(kind.value) if kind is not None else None,
        )
        cursors = [encode_cursor([r.id]) for r in rows]
        return AccessTokenConnection(
            edges=[
                AccessTokenEdge(cursor=c, node=AccessToken.from_row(r))
                for c, r in zip(cursors, rows, strict=True)
            ],
            page_info=page_info(cursors, has_next, after is not None),
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Exchange e-mail and password for a bearer token. Errors: UNAUTHENTICATED; "
        "RATE_LIMITED (with `retryAfter` seconds) after repeated failures for the account or from "
        "the client's address, before the password is checked."
    )
    async def login(self, info: Info, email: str, password: str) -> AuthPayload:
        async with login_attempt(info.context, email):  # RATE_LIMITED while backing off
            issued = await user_resolvers.login(
                email, password, ttl_seconds=info.context.settings.session_ttl_seconds
            )
        return AuthPayload(
            token=issued.token, expires_at=issued.row.expires_at, user=User.from_row(issued.user)
        )

    @strawberry.mutation(
        description="End the current session: revoke the token of this request (an integration "
        "token revokes itself), and the tokens it minted; its open WebSockets close with 4403. "
        "Returns whether a token was revoked now."
    )
    async def logout(self, info: Info) -> bool:
        ctx = info.context
        revoked = await token_resolvers.logout(ctx.bus, ctx.viewer)
        ctx.session_ended = True
        return revoked

    @strawberry.mutation(
        description="Change the viewer's password (sessions only: FORBIDDEN for access tokens) "
        "and end every other session of the user, whose WebSockets close with 4403; this "
        "session and integration tokens stay. Errors: BAD_USER_INPUT for a wrong "
        "`currentPassword` or a `newPassword` not 8 to 1024 characters (nothing changes); "
        "RATE_LIMITED (with `retryAfter` seconds) after repeated wrong `currentPassword`s, as for "
        "`login`; CONFLICT when the password changed meanwhile."
    )
    async def change_password(self, info: Info, current_password: str, new_password: str) -> bool:
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
        self, info: Info, input: CreateUserInput, idempotency_key: IdempotencyKeyArgument = None
    ) -> User:
        ctx = info.context
        data = {
            "email": input.email,
            "name": input.name,
            "password": input.password,
            "role": input.role,
            "contact_visibility": input.contact_visibility,
            "team_ids": _ids(input.team_ids, "Team", "teamIds"),
            "can_view_blocked_contacts": input.can_view_blocked_contacts,
            "has_call_access": input.has_call_access,
            "can_edit_contacts": input.can_edit_contacts,
        }
        user = await idempotent(
            info,
            idempotency_key,
            # the password stays out of the kept fingerprint (a fast hash)
            {"input": dataclasses.replace(input, password="")},
            CreatedRow(m.User),
            lambda once: user_resolvers.create_user(ctx.bus, ctx.viewer, data, once=once),
        )
        return User.from_row(user)

    @strawberry.mutation(
        description="Change a teammate; only the fields given change. Nobody changes their own "
        "role, visibility or permissions, and managers grant nothing beyond their own: "
        "FORBIDDEN naming the field. Deactivating a user ends every session and access token "
        "of the user for good (reactivation does not revive them)."
    )
    async def update_user(self, info: Info, id: strawberry.ID, input: UpdateUserInput) -> User:
        ctx = info.context
        data = {
            "name": input.name,
            "role": input.role,
            "contact_visibility": input.contact_visibility,
            "team_ids": _ids(input.team_ids, "Team", "teamIds"),
            "can_view_blocked_contacts": input.can_view_blocked_contacts,
            "has_call_access": input.has_call_access,
            "can_edit_contacts": input.can_edit_contacts,
            "is_active": input.is_active,
        }
        user_id = decode_id(id, "User")
        return User.from_row(await user_resolvers.update_user(ctx.bus, ctx.viewer, user_id, data))

    @strawberry.mutation(description="A new team with its members (owners and managers).")
    async def create_team(
        self,
        info: Info,
        name: str,
        member_ids: list[strawberry.ID] | None = None,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Team:
        ctx = info.context
        members = _ids(member_ids, "User", "memberIds")
        team = await idempotent(
            info,
            idempotency_key,
            {"name": name, "memberIds": member_ids},
            CreatedRow(m.Team),
            lambda once: user_resolvers.create_team(ctx.bus, ctx.viewer, name, members, once=once),
        )
        return Team.from_row(team)

    @strawberry.mutation(description="Rename a team or replace its members.")
    async def update_team(
        self,
        info: Info,
        id: strawberry.ID,
        name: str | None = None,
        member_ids: list[strawberry.ID] | None = None,
    ) -> Team:
        ctx = info.context
        team = await user_resolvers.update_team(
            ctx.bus, ctx.viewer, decode_id(id, "Team"), name, _ids(member_ids, "User", "memberIds")
        )
        return Team.from_row(team)

    @strawberry.mutation(description="Connect a channel (owners).")
    async def connect_channel(
        self,
        info: Info,
        type: ChannelType,
        name: str,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Channel:
        ctx = info.context
        channel = await idempotent(
            info,
            idempotency_key,
            {"type": type, "name": name},
            CreatedRow(m.Channel),
            lambda once: user_resolvers.connect_channel(ctx.bus, ctx.viewer, type, name, once=once),
        )
        return Channel.from_row(channel)

    @strawberry.mutation(description="Change workspace settings (owners); only the fields given change.")
    async def update_workspace_settings(self, info: Info, input: WorkspaceSettingsInput) -> Workspace:
        ctx = info.context
        data = {
            "phone_number_masking": input.phone_number_masking,
            "call_ring_timeout_seconds": input.call_ring_timeout_seconds,
            "closing_notes_mode": input.closing_notes_mode,
        }
        workspace = await user_resolvers.update_workspace_settings(
            ctx.bus, ctx.viewer, data, shortest_ring_timeout=ctx.settings.min_ring_timeout_seconds
        )
        return Workspace.from_row(workspace)

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
        name: str,
        scopes: Annotated[
            list[AccessTokenScope] | None,
            strawberry.argument(description="What the token may do; INGEST and READ_WRITE when omitted."),
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
    async def revoke_access_token(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        ctx = info.context
        row = await token_resolvers.revoke_access_token(ctx.bus, ctx.viewer, decode_id(id, "AccessToken"))
        return to_global_id("AccessToken", row.id)

    @strawberry.mutation(description="Agent reply. Assigns an unassigned contact to the sender (first reply wins).")
    async def send_message(
        self, info: Info, input: SendMessageInput, idempotency_key: IdempotencyKeyArgument = None
    ) -> SendMessagePayload:
        ctx = info.context
        contact_id = decode_id(input.contact_id, "Contact", field="contactId")
        channel_id = (
            decode_id(input.channel_id, "Channel", field="channelId")
            if input.channel_id is not None
            else None
        )
        result = await idempotent(
            info,
            idempotency_key,
            {"input": input},
            conversation_resolvers.SENT_MESSAGE,
            lambda once: conversation_resolvers.send_message(
                ctx.bus, ctx.viewer, contact_id=contact_id, text=input.text, channel_id=channel_id,
                once=once,
            ),
        )
        return SendMessagePayload(
            message=Message.from_row(result.message),
            conversation=Conversation.from_row(result.conversation),
            contact=Contact.from_row(result.contact),
        )

    @strawberry.mutation(
        description="Channel ingestion (connectors, partners: an INGEST token; owners' and "
        "managers' sessions and tokens). Idempotent on (channelId, externalMessageId). The "
        "message, conversation and contact are null (their ids given) when the caller may not "
        "see the contact: always for a token without READ."
    )
    async def receive_message(self, info: Info, input: ReceiveMessageInput) -> ReceiveMessagePayload:
        ctx = info.context
        result = await conversation_resolvers.receive_message(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            sender=input.from_,
            external_message_id=input.external_message_id,
            text=input.text,
            first_name=input.first_name,
            last_name=input.last_name,
        )
        shown = shows(ctx.viewer, "Message", result.contact)  # duplicates as much as new ones
        return ReceiveMessagePayload(
            message_id=to_global_id("Message", result.message.id),
            conversation_id=to_global_id("Conversation", result.conversation.id),
            contact_id=to_global_id("Contact", result.contact.id),
            message=Message.from_row(result.message) if shown else None,
            conversation=Conversation.from_row(result.conversation) if shown else None,
            contact=Contact.from_row(result.contact) if shown else None,
            duplicate=result.duplicate,
        )

    @strawberry.mutation(description="Assign a contact to a user, or to nobody with a null assigneeId.")
    async def assign_contact(
        self, info: Info, contact_id: strawberry.ID, assignee_id: strawberry.ID | None = None
    ) -> Contact:
        ctx = info.context
        contact = await contact_resolvers.assign_contact(
            ctx.bus,
            ctx.viewer,
            decode_id(contact_id, "Contact", field="contactId"),
            decode_id(assignee_id, "User", field="assigneeId") if assignee_id is not None else None,
        )
        return Contact.from_row(contact)

    @strawberry.mutation(
        description="Clear the viewer's new-message dot of a standard or team inbox (theirs "
        "alone); returns the sidebar."
    )
    async def mark_inbox_seen(self, info: Info, inbox: InboxSelector) -> InboxSidebar:
        ctx = info.context
        viewer = ctx.viewer
        ref = await inbox_resolvers.resolve_inbox(viewer, inbox)
        if ref.key == "blocked" or ref.custom_inbox_id is not None:
            raise BadUserInput("Only standard and team inboxes have a new-message dot.", field="inbox")

        async def operation(tx):
            await indicators.mark_seen(tx, viewer, ref.key)

        await write(ctx.bus, viewer.workspace_id, operation)
        return InboxSidebar.from_sidebar(await inbox_resolvers.sidebar_with_counts(viewer))

    @strawberry.mutation(
        description="Save a filtered view of conversations. Errors: BAD_USER_INPUT (naming the "
        "filter path) for an empty, contradictory, too deep or invalid filter; NOT_FOUND for ids "
        "outside the workspace."
    )
    async def create_custom_inbox(
        self, info: Info, input: CustomInboxInput, idempotency_key: IdempotencyKeyArgument = None
    ) -> CustomInbox:
        row = await idempotent(
            info,
            idempotency_key,
            {"input": input},
            CreatedRow(m.CustomInbox),
            lambda once: _save_custom_inbox(info, None, input, once=once),
        )
        return CustomInbox.from_row(row)

    @strawberry.mutation(description="Replace a custom inbox's name, filter and sharing (its creator only: FORBIDDEN otherwise).")
    async def update_custom_inbox(self, info: Info, id: strawberry.ID, input: CustomInboxInput) -> CustomInbox:
        return CustomInbox.from_row(await _save_custom_inbox(info, decode_id(id, "CustomInbox"), input))

    @strawberry.mutation(description="Delete a custom inbox (its creator only); returns its id.")
    async def delete_custom_inbox(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        ctx = info.context
        deleted = await custom_resolvers.delete_custom_inbox(ctx.bus, ctx.viewer, decode_id(id, "CustomInbox"))
        return to_global_id("CustomInbox", deleted)

    @strawberry.mutation(
        description="Edit a contact's names, phone, e-mail, country and language; only the fields "
        "given change. Errors: BAD_USER_INPUT naming the first invalid field in "
        "`extensions.field` (nothing is changed); NOT_FOUND for a contact the viewer may not see; "
        "FORBIDDEN without the permission to edit contacts."
    )
    async def update_contact(self, info: Info, input: UpdateContactInput) -> Contact:
        ctx = info.context
        contact_pk = decode_id(input.contact_id, "Contact", field="contactId")
        given = {
            key: value
            for key, value in (
                ("first_name", input.first_name),
                ("last_name", input.last_name),
                ("phone", input.phone),
                ("email", input.email),
                ("country_code", input.country_code),
                ("language", input.language),
            )
            if value is not strawberry.UNSET
        }
        return Contact.from_row(await contact_resolvers.update_contact(ctx.bus, ctx.viewer, contact_pk, given))

    @strawberry.mutation(
        description="Fold the secondary contact into the primary, in one transaction: channel "
        "identities, conversations (two open ones become one), messages, calls and activities "
        "move; the primary's empty fields (and those in `takeFromSecondary`) take the "
        "secondary's values; the secondary is deleted; one CONTACTS_MERGED activity records it. "
        "Errors: BAD_USER_INPUT for a contact merged with itself (secondaryId) or a blocked and "
        "an unblocked contact without `blocked`; NOT_FOUND for a contact the viewer may not see "
        "or one merged meanwhile; FORBIDDEN without the permission to edit contacts."
    )
    async def merge_contacts(
        self,
        info: Info,
        primary_id: strawberry.ID,
        secondary_id: strawberry.ID,
        blocked: Annotated[
            bool | None,
            strawberry.argument(
                description="Whether the merged contact is blocked: required when exactly one "
                "of the two is."
            ),
        ] = None,
        take_from_secondary: Annotated[
            list[ContactField] | None,
            strawberry.argument(description="Fields where the secondary's value wins (when it has one)."),
        ] = None,
    ) -> Contact:
        ctx = info.context
        contact = await merge_resolvers.merge_contacts(
            ctx.bus,
            ctx.viewer,
            decode_id(primary_id, "Contact", field="primaryId"),
            decode_id(secondary_id, "Contact", field="secondaryId"),
            blocked=blocked,
            take_from_secondary=[f.value for f in take_from_secondary or ()],
        )
        return Contact.from_row(contact)

    @strawberry.mutation(
        description="An internal comment on a contact (never sent to the contact or a channel). "
        "Mention users as `@[Name](<User id>)`; each gets a `mentioned` event. Errors: "
        "BAD_USER_INPUT (field `text`) for empty or over-long text or a mention of anyone but an "
        "active user of the workspace; NOT_FOUND for a contact the viewer may not see."
    )
    async def add_comment(
        self,
        info: Info,
        contact_id: strawberry.ID,
        text: str,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Activity:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        activity = await idempotent(
            info,
            idempotency_key,
            {"contactId": contact_id, "text": text},
            CreatedRow(m.Activity, visible_if=contact_resolvers.visible_contact_of),
            lambda once: activity_resolvers.add_comment(ctx.bus, ctx.viewer, contact_pk, text, once=once),
        )
        return Activity.from_row(activity)

    @strawberry.mutation(description="Block a contact: its conversations leave every inbox but the blocked one.")
    async def block_contact(self, info: Info, contact_id: strawberry.ID) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(await contact_resolvers.set_blocked(ctx.bus, ctx.viewer, contact_pk, True))

    @strawberry.mutation(description="Unblock a contact (users who may view blocked contacts).")
    async def unblock_contact(self, info: Info, contact_id: strawberry.ID) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(await contact_resolvers.set_blocked(ctx.bus, ctx.viewer, contact_pk, False))

    @strawberry.mutation(description="Open a conversation with a contact (its open one if any). BAD_USER_INPUT for a blocked contact.")
    async def open_conversation(self, info: Info, contact_id: strawberry.ID) -> Conversation:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Conversation.from_row(await conversation_resolvers.open_conversation(ctx.bus, ctx.viewer, contact_pk))

    @strawberry.mutation(
        description="Close the contact's open conversation, with closing notes as the workspace's "
        "closingNotesMode asks. BAD_USER_INPUT for a blocked contact or missing notes."
    )
    async def close_conversation(
        self,
        info: Info,
        contact_id: strawberry.ID,
        category: str | None = None,
        summary: str | None = None,
    ) -> Conversation:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        conversation = await conversation_resolvers.close_conversation(
            ctx.bus, ctx.viewer, contact_pk, category, summary
        )
        return Conversation.from_row(conversation)

    @strawberry.mutation(
        description="Channel ingestion of a ringing inbound call (owners', managers' and their "
        "integration tokens). Idempotent on (channelId, externalCallId): a repeat returns the same "
        "call. A new number becomes a contact. A caller who may not see the call (a token "
        "without READ, no call access, a blocked contact without the permission) gets it "
        "without its numbers and recording, and its contact is NOT_FOUND (select `contactId`). "
        "Errors: "
        "BAD_USER_INPUT for a channel that carries no calls (channelId) or a malformed field; "
        "NOT_FOUND for an unknown channel; FORBIDDEN."
    )
    async def receive_call(self, info: Info, input: ReceiveCallInput) -> Call:
        ctx = info.context
        call = await call_resolvers.receive_call(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            sender=input.from_,
            external_call_id=input.external_call_id,
            to=input.to,
            first_name=input.first_name,
            last_name=input.last_name,
        )
        return await _ingested_call(ctx, call)

    @strawberry.mutation(
        description="Channel ingestion: the far end hung up or the call failed. RINGING becomes "
        "MISSED (FAILED with `failed`), ONGOING becomes ENDED; a finished call is returned "
        "unchanged (webhooks may be retried). The call comes back as receiveCall's does. "
        "Errors: NOT_FOUND for an unknown call (externalCallId) or channel; FORBIDDEN."
    )
    async def report_call_ended(self, info: Info, input: ReportCallEndedInput) -> Call:
        ctx = info.context
        call = await call_resolvers.report_call_ended(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            external_call_id=input.external_call_id,
            failed=input.failed,
        )
        return await _ingested_call(ctx, call)

    @strawberry.mutation(
        description="Answer a ringing inbound call; assigns an unassigned caller to the viewer. "
        "Errors: CONFLICT when it is no longer ringing (naming who took it) or the viewer is on "
        "another call; NOT_FOUND for a call the viewer may not see; FORBIDDEN without call access."
    )
    async def answer_call(self, info: Info, call_id: strawberry.ID) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.answer_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(description="Decline a ringing inbound call. Errors: CONFLICT when it is no longer ringing.")
    async def decline_call(self, info: Info, call_id: strawberry.ID) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.decline_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="End the viewer's ongoing call. Errors: CONFLICT when it is not ongoing; "
        "FORBIDDEN when someone else is on it."
    )
    async def end_call(self, info: Info, call_id: strawberry.ID) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.end_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Record the viewer's ongoing call (ready when it ends). Errors: CONFLICT when it "
        "is not ongoing or already recorded; FORBIDDEN when someone else is on it."
    )
    async def start_call_recording(self, info: Info, call_id: strawberry.ID) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.start_call_recording(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Call a contact on a WhatsApp or VoIP channel: the call is OUTBOUND and ONGOING "
        "at once, with the viewer on it; assigns an unassigned contact to the viewer. Errors: "
        "BAD_USER_INPUT for a messaging-only channel, a blocked contact or one without a number; "
        "CONFLICT when the viewer is on another call; NOT_FOUND; FORBIDDEN without call access."
    )
    async def place_call(
        self,
        info: Info,
        contact_id: strawberry.ID,
        channel_id: strawberry.ID,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Call:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        channel_pk = decode_id(channel_id, "Channel", field="channelId")
        call = await idempotent(
            info,
            idempotency_key,
            {"contactId": contact_id, "channelId": channel_id},
            CreatedRow(m.Call, visible_if=contact_resolvers.visible_contact_of),
            lambda once: call_resolvers.place_call(ctx.bus, ctx.viewer, contact_pk, channel_pk, once=once),
        )
        return Call.from_row(call)

    @strawberry.mutation(
        description="Connect (or reconnect) HubSpot or Salesforce (owners). The token is checked "
        "against the CRM, then stored encrypted; it is never returned. Errors: FORBIDDEN; "
        "BAD_USER_INPUT (accessToken, instanceUrl: https Salesforce domains only); "
        "CRM_AUTH_FAILED when the CRM refuses the token; CRM_UNAVAILABLE; NOT_CONFIGURED when "
        "the server has no INBOX_GRAPH_SECRET_KEY. Nothing is stored on error."
    )
    async def connect_crm(self, info: Info, input: ConnectCrmInput) -> CrmIntegration:
        ctx = info.context
        row = await crm_resolvers.connect_crm(
            ctx.settings, ctx.viewer, input.provider, input.access_token, input.instance_url
        )
        return CrmIntegration(row=row)

    @strawberry.mutation(
        description="Disconnect a CRM (owners): its token and record links are deleted and its "
        "tab disappears. Returns whether it was connected. Errors: FORBIDDEN."
    )
    async def disconnect_crm(self, info: Info, provider: CrmProvider) -> bool:
        return await crm_resolvers.disconnect_crm(info.context.viewer, provider)

    @strawberry.mutation(
        description="Edit the contact's record in a connected CRM and return it as the CRM has "
        "it now; records a CRM_RECORD_UPDATED activity. Values are checked first (nothing is "
        "sent otherwise): BAD_USER_INPUT naming the field (`extensions.field`) for an unknown, "
        "read-only or repeated field, a string over `maxLength`, a malformed e-mail, a value "
        "outside an ENUMERATION's options, or a value the CRM refuses; BAD_USER_INPUT "
        "(provider) when that CRM is not connected. NOT_FOUND for a contact the viewer may "
        "not see or without a CRM record. CRM_UNAVAILABLE, CRM_AUTH_FAILED."
    )
    async def update_crm_record(
        self,
        info: Info,
        contact_id: strawberry.ID,
        provider: CrmProvider,
        fields: list[CrmFieldInput],
    ) -> CrmRecord:
        ctx = info.context
        record = await crm_resolvers.update_crm_record(
            ctx.bus,
            ctx.settings,
            ctx.viewer,
            decode_id(contact_id, "Contact", field="contactId"),
            provider,
            [(f.name, f.value) for f in fields],
        )
        return CrmRecord.from_record(provider, record)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New messages in conversations the subscriber can see (optionally one inbox). "
        "Pass the last `sequence` received as `afterSequence` to replay what was missed."
    )
    async def new_message(
        self,
        info: Info,
        inbox: InboxSelector | None = None,
        after_sequence: int | None = None,
    ) -> AsyncGenerator[MessageEvent, None]:
        ctx = info.context

        async def build(event: LiveEvent) -> MessageEvent | None:
            loaders = ctx.loaders_for_event(event)
            message = await loaders.message.load(event.payload["message_id"])
            conversation = await loaders.conversation.load(event.payload["conversation_id"])
            if message is None or conversation is None:
                return None
            return MessageEvent(
                sequence=event.sequence,
                message=Message.from_row(message),
                conversation=Conversation.from_row(conversation),
            )

        return contact_events(
            ctx,
            event_type="message.created",
            compute_scope=partial(inbox_resolvers.subscription_scope, selector=inbox),
            build=build,
            after_sequence=after_sequence,
        )

    @strawberry.subscription(
        description="Ringing inbound calls the subscriber can see, as they start ringing: those "
        "of their widest incoming-calls tab (ALL, or ASSIGNED_TO_ME for SELF agents); blocked "
        "contacts' calls ring for nobody. Each call comes as it is at delivery, with the event's "
        "`sequence`: pass the last one received (of this or any subscription) as `afterSequence` "
        "to replay what was missed. FORBIDDEN without call access."
    )
    async def incoming_call(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[Call, None]:
        ctx = info.context
        return contact_events(
            ctx,
            event_type="call.received",
            compute_scope=call_resolvers.incoming_call_live_scope,
            build=partial(_call_of_event, ctx),
            after_sequence=after_sequence,
        )

    @strawberry.subscription(
        description="Status and recording changes of calls the subscriber can see (answered by "
        "someone, so it leaves the incoming lists; declined, ended, missed, failed), with the "
        "call as it is at delivery and the event's `sequence`: pass the last one received as "
        "`afterSequence` to replay what was missed. FORBIDDEN without call access."
    )
    async def call_updated(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[Call, None]:
        ctx = info.context
        return contact_events(
            ctx,
            event_type="call.updated",
            compute_scope=call_resolvers.call_update_live_scope,
            build=partial(_call_of_event, ctx),
            after_sequence=after_sequence,
        )

    @strawberry.subscription(
        description="Comments mentioning the subscriber, as they are written, while the "
        "subscriber may see the contact. Resume with `afterSequence`."
    )
    async def mentioned(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[MentionEvent, None]:
        ctx = info.context

        async def visible_contacts(viewer):
            return contact_scope(viewer)

        async def build(event: LiveEvent) -> MentionEvent | None:
            loaders = ctx.loaders_for_event(event)
            activity = await loaders.activity.load(event.payload["activity_id"])
            if activity is None:
                return None
            contact = await loaders.contact.load(activity.contact_id)
            if contact is None:
                return None
            return MentionEvent(
                sequence=event.sequence, activity=Activity.from_row(activity), contact=Contact.from_row(contact)
            )

        return contact_events(
            ctx,
            event_type="user.mentioned",
            compute_scope=visible_contacts,
            build=build,
            after_sequence=after_sequence,
            addressee="user_id",
        )

    @strawberry.subscription(
        description="The subscriber's left panel: sent once at the start, then whenever one of its "
        "counts changes (or an inbox appears or disappears)."
    )
    async def inbox_sidebar_changed(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[InboxSidebar, None]:
        ctx = info.context
        current = shown = None
        stale = False

        async def on_viewer(viewer) -> None:
            nonlocal stale
            stale = True

        async def build() -> InboxSidebar | None:
            # the panel as it is now, when it differs from the last one sent
            nonlocal current, shown, stale
            stale = False
            current = await inbox_resolvers.sidebar_with_counts(ctx.viewer)
            snapshot = inbox_resolvers.sidebar_snapshot(current)
            if snapshot == shown:
                return None
            shown = snapshot
            return InboxSidebar.from_sidebar(current)

        def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
            # the first panel is read once the stream's start is fixed: nothing falls between
            if event.type != STREAM_STARTED and not stale:
                mine = event.type == "inbox.seen" and event.payload.get("user_id") == ctx.viewer.user_id
                if not (mine or inbox_resolvers.touches(current, event.type, event.payload)):
                    return None
            return Candidate(event.sequence, build)

        # each panel is read for this subscriber alone, in order: no shared payloads
        return LiveStream(
            ctx, after_sequence=after_sequence, on_viewer=on_viewer, select=select, shared=False, announce_start=True
        )

    @strawberry.subscription(
        description="Conversations entering, leaving or changing in a standard, team or blocked "
        "inbox list (all the subscriber may see when no inbox is given), for conversations of "
        "`status` (default OPEN, like the list; null for any). Custom inboxes do not update live "
        "(BAD_USER_INPUT). Resume with `afterSequence`."
    )
    async def conversation_updated(
        self,
        info: Info,
        inbox: InboxSelector | None = None,
        status: ConversationStatus | None = m.ConversationStatus.OPEN,
        after_sequence: int | None = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        ctx = info.context
        status_value = status.value if status is not None else None

        async def scope_of(viewer):
            if inbox is not None and getattr(inbox, "custom_inbox_id", None):
                raise BadUserInput(
                    "Custom inboxes do not update live: refresh the list instead.", field="inbox"
                )
            return await inbox_resolvers.subscription_scope(viewer, selector=inbox)

        scope = LiveScope(scope_of)

        async def build(event: LiveEvent, change: str) -> ConversationEvent | None:
            conversation = None
            if change != "LEFT":
                row = await ctx.loaders_for_event(event).conversation.load(event.payload["conversation_id"])
                if row is None:
                    return None
                conversation = Conversation.from_row(row)
            return ConversationEvent(
                sequence=event.sequence,
                change=ConversationChange(change),
                reason=ConversationChangeReason(inbox_resolvers.LIST_EVENTS[event.type]),
                conversation_id=to_global_id("Conversation", event.payload["conversation_id"]),
                conversation=conversation,
            )

        def select(event: LiveEvent, facts: dict[str, Any]) -> Candidate | None:
            change = inbox_resolvers.list_change(scope.current, status_value, event.type, event.payload)
            if change is None:
                return None
            if change != "LEFT" and not scope.current.allows(facts.get("assignee_id"), bool(facts.get("blocked"))):
                return None  # it has left since: the later event says so
            return Candidate(event.sequence, partial(build, event, change), variant=change)

        return LiveStream(ctx, after_sequence=after_sequence, on_viewer=scope.refresh, select=select)


async def _ingested_call(ctx, row: m.Call) -> Call:
    """An ingested call as the caller may see it: without its numbers and recording, its
    contact ``NOT_FOUND``, when ``node(id)`` would not show the call
    (:func:`graph.resolvers.node.shows`)."""
    contact = await ctx.loaders.contact.load(row.contact_id)
    return Call.from_row(row, hidden=not shows(ctx.viewer, "Call", contact))


async def _call_of_event(ctx, event: LiveEvent) -> Call | None:
    """The call a call event is about, as it is now (``None``: it no longer exists), carrying
    the event's sequence (``Call.sequence``)."""
    row = await ctx.loaders_for_event(event).call.load(event.payload["call_id"])
    return Call.from_row(row, sequence=event.sequence) if row is not None else None


async def _save_custom_inbox(info: Info, custom_id: int | None, input: CustomInboxInput, *, once=None):
    ctx = info.context
    return await custom_resolvers.save_custom_inbox(
        ctx.bus,
        ctx.viewer,
        custom_id,
        name=input.name,
        filter_spec=filter_spec(input.filter),
        sharing=input.sharing,
        user_ids=_ids(input.shared_with_user_ids, "User", "sharedWithUserIds"),
        team_ids=_ids(input.shared_with_team_ids, "Team", "sharedWithTeamIds"),
        once=once,
    )


class InboxSchema(strawberry.Schema):
    """The schema, with two guards before any execution, over HTTP and WebSocket alike:

    - text no database stores (NUL, unpaired surrogates) is refused with ``BAD_USER_INPUT``;
    - subscriptions run only over WebSocket (over HTTP they are refused, not half-run).

    Only unexpected errors are logged (client errors are answered, not logged).

    Every operation is validated with :attr:`operation_rules` and parsed with at most
    :attr:`max_token_count` tokens, set on its execution context when strawberry creates it
    rather than by extensions (``AddValidationRules``, ``MaxTokensLimiter``): an extension's
    hook lives as long as its operation, which for a subscription is as long as it is open.
    """

    operation_rules: tuple[Any, ...] = tuple(specified_rules)
    """The validation rules of every operation (graphql-core's, then ours)."""
    max_token_count: int | None = None

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> Any:
        context = super()._create_execution_context(*args, **kwargs)
        context.validation_rules = self.operation_rules
        if self.max_token_count is not None:
            context.parse_options["max_tokens"] = self.max_token_count
        return context

    async def execute(self, query, variable_values=None, *args: Any, **kwargs: Any):
        operation_name_given.set(bool(kwargs.get("operation_name") or (args[2] if len(args) > 2 else None)))
        error = unstorable_input(query, variable_values)
        if error is not None:
            return PreExecutionError(data=None, errors=[error])
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = {t for t in allowed if t is not OperationType.SUBSCRIPTION}
        return await super().execute(query, variable_values, *args, **kwargs)

    async def stream(self, query, variable_values=None, *args: Any, **kwargs: Any):
        operation_name_given.set(bool(kwargs.get("operation_name") or (args[2] if len(args) > 2 else None)))
        error = unstorable_input(query, variable_values)
        if error is not None:

            async def refused():
                yield PreExecutionError(data=None, errors=[error])

            return refused()
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:  # an HTTP transport (multipart): no subscriptions there
            kwargs["allowed_operation_types"] = {t for t in allowed if t is not OperationType.SUBSCRIPTION}
        return await super().stream(query, variable_values, *args, **kwargs)

    def process_errors(self, errors, execution_context=None) -> None:
        super().process_errors([e for e in errors if not is_expected(e)], execution_context)


def _depth_limit(max_depth: int) -> type[ValidationRule]:
    """strawberry's depth limit rule, refusing documents it cannot measure.

    strawberry measures the depth when the rule is created, following fragment spreads by
    recursion, before graphql-core's own guard against long fragment chains runs: a chain of
    about 300 spreads overflowed the stack, answered with an uncoded, unmasked error and a
    traceback in the log. Such a document is now a validation error.
    """
    measured = depth_rule(max_depth, should_ignore=None)

    class DepthLimit(measured):  # type: ignore[misc, valid-type]
        def __init__(self, context: ValidationContext) -> None:
            try:
                super().__init__(context)
            except RecursionError:
                ValidationRule.__init__(self, context)
                context.report_error(
                    GraphQLError(
                        "The document's fragments nest too deeply.",
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                    )
                )

    return DepthLimit


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The executable schema with the production defaults of ``architecture.md``: depth, alias,
    token, field and field-overlap limits, bounded parser and validation caches, coded masked errors."""
    settings = settings or Settings(database_url="")
    # Factories: strawberry builds fresh extension instances per operation (sharing
    # `documents`, the schema's cache of valid documents).
    # strawberry's depth and alias limiters build a new rule class per operation, which an
    # open subscription keeps (about 8 KB each): build the rules once per schema instead
    rules = [
        *specified_rules,
        _depth_limit(settings.max_depth),
        aliases_rule(settings.max_aliases),
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    documents = Documents(settings.document_cache_bytes)  # one per schema: its rules
    extensions = [
        lambda: CachedDocuments(
            documents, max_fields=settings.max_fields, max_overlaps=settings.max_field_overlaps
        ),
        SingleOperation,  # after CachedDocuments, which sets the validation errors
        CostBudget,  # valid documents only: after CachedDocuments and SingleOperation
        CodedErrors,
    ]
    built = InboxSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
        types=[Activity, CustomInbox],
    )
    built.operation_rules = tuple(rules)
    built.max_token_count = settings.max_tokens
    resolve_directly(built)
    require_scopes(built)
    return built


schema = build_schema()

__all__ = ["Mutation", "Query", "Subscription", "build_schema", "schema"]

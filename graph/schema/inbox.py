"""Inboxes of the left panel: types, the inbox selector and root fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from db import models as m
from graph.errors import BadUserInput, FieldErrors
from graph.fanout import depends_on_identity
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.loaders import related, then
from graph.permissions.visibility import StandardInboxKind as _StandardInboxKind
from graph.permissions.visibility import may_edit_custom_inbox
from graph.relay import PageRequest, decode_id, decode_ids, to_global_id
from graph.resolvers import custom_inbox as custom_resolvers
from graph.resolvers import filter_conditions as conditions
from graph.resolvers import inbox as resolvers
from graph.resolvers import indicators
from graph.schema.conversation import (
    Conversation,
    ConversationChange,
    ConversationChangeReason,
    ConversationConnection,
    ConversationEvent,
    ConversationStatus,
)
from graph.schema.core import After, Before, First, Last, Node, connection_field
from graph.schema.described import AFTER_SEQUENCE, model_enum
from graph.schema.lean import unread_columns, unread_users
from graph.schema.row_json import node_builder, node_json
from graph.schema.user import Team, User

if TYPE_CHECKING:
    from graph.idempotency import Once


def _users(rows: list[m.User]) -> list[User]:
    return [User.from_row(row) for row in rows]


def _teams(rows: list[m.Team]) -> list[Team]:
    return [Team.from_row(row) for row in rows]


StandardInboxKind = model_enum(
    _StandardInboxKind,
    name="StandardInboxKind",
    description="The three standard inboxes (domain.md section 2): views of the conversations "
    "the viewer may see. TEAM and SELF agents have MINE only.",
    values={
        "ALL": "Every conversation the viewer may see (blocked contacts aside).",
        "MINE": "Conversations of contacts assigned to the viewer.",
        "UNASSIGNED": "Conversations of contacts with no assignee.",
    },
)


@strawberry.input(
    one_of=True,
    description="Which inbox (domain.md section 2). Exactly one member is set (a @oneOf input).",
)
class InboxSelector:
    standard: StandardInboxKind | None = strawberry.field(
        default=strawberry.UNSET, description="A standard inbox."
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="A Team's id: that team's inbox."
    )
    custom_inbox_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="A CustomInbox's id: its saved filter."
    )
    blocked: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="true: the blocked-contacts inbox (users who may view blocked contacts).",
    )


@strawberry.type
class _InboxIndicators:
    """The two indicators of standard and team inboxes (``domain.md`` section 3); counts the
    sidebar subscription computed already are reused."""

    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field(
        description="The dot: open conversations of this inbox with inbound messages the viewer "
        "has not seen in it (conversations, never messages). `markInboxSeen` clears it. A "
        "message counts in one inbox per user, the first of theirs that holds its "
        "conversation: MINE, their team inboxes, UNASSIGNED, then ALL."
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
    kind: StandardInboxKind = strawberry.field(description="Which standard inbox.")


@strawberry.type(description="A team's inbox: conversations whose contact is assigned to a member.")
class TeamInbox(_InboxIndicators):
    @strawberry.field(description="The team.")
    def team(self, info: Info) -> Team:
        return related(info.context.loaders.team, self.entry.team_id, Team.from_row)


@strawberry.type(description="Conversations of blocked contacts.")
class BlockedInbox:
    entry: strawberry.Private[resolvers.SidebarEntry]

    @strawberry.field(
        description="Open conversations of blocked contacts: the list "
        "`conversations(inbox: {blocked: true})` (status OPEN by default), counted, like every "
        "inbox's openConversationCount (domain.md section 3)."
    )
    async def open_conversation_count(self, info: Info) -> int:
        if self.entry.counts is not None:
            return self.entry.counts[1]
        return await indicators.open_conversation_count(info.context.viewer, self.entry)

    @strawberry.field(
        description="The same number as openConversationCount (open conversations; it used "
        "to count closed ones too, unlike the list).",
        deprecation_reason="Use openConversationCount, the name every inbox's count has.",
    )
    async def conversation_count(self, info: Info) -> int:
        return await self.open_conversation_count(info)


CustomInboxSharing = model_enum(
    m.CustomInboxSharing,
    name="CustomInboxSharing",
    description="PRIVATE (its creator), EVERYONE in the workspace, or CHOSEN users and teams. "
    "Whoever it is shared with sees only what they may see (domain.md section 2).",
    values={
        "PRIVATE": "Its creator only.",
        "EVERYONE": "Every user of the workspace.",
        "CHOSEN": "The users and teams of `sharedWithUserIds` and `sharedWithTeamIds`.",
    },
)


@strawberry.enum(description="Which custom inboxes to list (domain.md section 2).")
class CustomInboxOwnership(Enum):
    ALL = strawberry.enum_value("ALL", description="Mine and those shared with me.")
    BY_ME = strawberry.enum_value("BY_ME", description="Those I created.")
    BY_OTHERS = strawberry.enum_value(
        "BY_OTHERS", description="Those others created and shared with me."
    )


@strawberry.input(one_of=True, description="Exactly one of userIds, me: true or none: true.")
class AssigneeFilter:
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Assigned to one of these users (User ids)."
    )
    me: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="true: assigned to the viewer evaluating the filter (whoever opens it).",
    )
    none: bool | None = strawberry.field(default=strawberry.UNSET, description="true: unassigned.")


@strawberry.input(
    one_of=True,
    description="A custom inbox filter node: exactly one of a group (`all`, `any`; nest at most "
    "5 deep, 50 nodes in all) or one condition.",
)
class ConversationFilter:
    all: list[ConversationFilter] | None = strawberry.field(
        default=strawberry.UNSET, description="Every one of these filters matches (AND)."
    )
    any: list[ConversationFilter] | None = strawberry.field(
        default=strawberry.UNSET, description="At least one of these filters matches (OR)."
    )
    assignee: AssigneeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The contact's assignee."
    )
    status: list[ConversationStatus] | None = strawberry.field(
        default=strawberry.UNSET, description="The conversation has one of these statuses."
    )
    channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The contact has an identity on one of these channels.",
    )
    last_channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The last message was on one of these channels."
    )
    country_codes: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2."
    )
    languages: list[str] | None = strawberry.field(default=strawberry.UNSET, description="BCP 47.")
    blocked: bool | None = strawberry.field(
        default=strawberry.UNSET, description="The contact is (true) or is not (false) blocked."
    )
    last_incoming_older_than_seconds: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The last inbound message is at least this many seconds old (1 to "
        "31,622,400, a leap year).",
    )
    last_incoming_within_seconds: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The last inbound message is at most this many seconds old (1 to 31,622,400).",
    )


@strawberry.input(description="A custom inbox: its name, filter and sharing.")
class CustomInboxInput:
    name: str = strawberry.field(description="1 to 120 characters.")
    filter: ConversationFilter = strawberry.field(
        description="Which conversations it holds (structured conditions, never SQL)."
    )
    sharing: CustomInboxSharing = strawberry.field(
        default=m.CustomInboxSharing.PRIVATE, description="Who sees it; PRIVATE when omitted."
    )
    shared_with_user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="With sharing CHOSEN: User ids."
    )
    shared_with_team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="With sharing CHOSEN: Team ids."
    )


def filter_spec(
    node: ConversationFilter, path: str = "filter", errors: FieldErrors | None = None
) -> dict:
    """The stored shape of a filter input (ids decoded; checked by the resolver), condition by
    condition as :mod:`graph.resolvers.filter_conditions` says.

    With ``errors``, a malformed node is reported there and stands as ``None`` in the tree
    (:func:`graph.resolvers.custom_inbox.clean_filter` checks the rest); without, they are
    raised.

    Raises:
        BadUserInput: every malformed node at once (:class:`graph.errors.FieldErrors`),
            each naming its path in the API's names, when ``errors`` is not given; one for
            the whole filter past ``MAX_NODES`` nodes, met before the rest is read
            (:class:`graph.resolvers.custom_inbox.FilterSize`).
    """
    collected = errors if errors is not None else FieldErrors()
    size = custom_resolvers.FilterSize()

    def convert(node: ConversationFilter, path: str, depth: int) -> dict | None:
        size.count()
        if depth > custom_resolvers.MAX_DEPTH:
            raise BadUserInput(
                f"Filter groups nest at most {custom_resolvers.MAX_DEPTH} deep.", field=path
            )
        chosen = {
            k: v for k, v in vars(node).items() if v is not None and v is not strawberry.UNSET
        }
        if len(chosen) != 1:
            raise BadUserInput(
                "Each filter node sets exactly one of all, any or a condition.", field=path
            )
        ((key, value),) = chosen.items()
        if key in ("all", "any"):
            children = []
            for i, child in enumerate(value):
                converted = None
                with collected.collect():
                    converted = convert(child, f"{path}.{key}[{i}]", depth + 1)
                children.append(converted)
            return {key: children}
        condition = conditions.BY_ATTRIBUTE[key]
        return {condition.stored: condition.from_input(value, path, decode_id)}

    spec = None
    with size.refusing(path, collected), collected.collect():
        spec = convert(node, path, 1)
    if errors is None:
        collected.raise_if_any()
    return spec


def filter_output(spec: dict) -> dict:
    """A stored filter with global ids, as the API shows it."""
    ((key, value),) = spec.items()
    if key in ("all", "any"):
        return {key: [filter_output(child) for child in value]}
    condition = conditions.BY_STORED[key]
    return {condition.api_name: condition.to_output(value, to_global_id)}


@strawberry.type(description="A saved filtered view of conversations.")
class CustomInbox(Node):
    row: strawberry.Private[m.CustomInbox]

    @classmethod
    def from_row(cls, row: m.CustomInbox) -> CustomInbox:
        return cls(id=to_global_id("CustomInbox", row.id), row=row)

    @strawberry.field(description="Its name, 1 to 120 characters.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Who created it: the only user who may edit it.")
    def creator(self, info: Info) -> User:
        return related(info.context.loaders.user, self.row.creator_id, User.from_row)

    @strawberry.field(description="Who sees it.")
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

    @strawberry.field(
        description="Whether the viewer may edit, re-share or delete it (its creator)."
    )
    def can_edit(self, info: Info) -> bool:
        depends_on_identity()
        return may_edit_custom_inbox(info.context.viewer, self.row)


@strawberry.type(
    description="The left panel: only the inboxes the viewer may see, with indicators."
)
class InboxSidebar:
    standard: list[StandardInbox] = strawberry.field(
        description=(
            "The standard inboxes the viewer has: ALL, MINE and UNASSIGNED, or MINE alone "
            "for TEAM and SELF agents."
        )
    )
    teams: list[TeamInbox] = strawberry.field(
        description="Team inboxes: every team for owners and managers, the viewer's own teams "
        "for other agents, none for SELF agents."
    )
    custom: list[CustomInbox] = strawberry.field(
        description="The custom inboxes the viewer created or that are shared with them."
    )
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


@strawberry.type
class InboxQueries:
    @strawberry.field(
        description="The left panel for the viewer: only the inboxes they may see, with indicators."
    )
    async def inbox_sidebar(self, info: Info) -> InboxSidebar:
        return InboxSidebar.from_sidebar(
            await resolvers.sidebar_with_counts(info.context.viewer, info.context.loaders)
        )

    @connection_field(
        description="The conversations of one inbox, newest activity first. "
        "Errors: FORBIDDEN for an inbox the viewer's restriction hides, NOT_FOUND for an unknown "
        "team or custom inbox, BAD_USER_INPUT for a malformed selector or cursor."
    )
    async def conversations(
        self,
        info: Info,
        inbox: Annotated[InboxSelector, strawberry.argument(description="Which inbox.")],
        status: Annotated[
            ConversationStatus | None,
            strawberry.argument(description="OPEN (the default) or CLOSED; null: both."),
        ] = m.ConversationStatus.OPEN,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        unseen: Annotated[
            bool,
            strawberry.argument(
                description="Only conversations with inbound messages the viewer has not seen in "
                "this standard or team inbox (what its newMessageCount counts, for status OPEN)."
            ),
        ] = False,
    ) -> ConversationConnection:
        viewer = info.context.viewer
        refreshed_at = datetime.now(UTC)
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        ref = await resolvers.resolve_inbox(viewer, inbox)
        json = node_json(info, m.Conversation)
        page = await resolvers.list_conversations(
            viewer,
            ref,
            status,
            request,
            unseen=unseen,
            loaders=info.context.loaders,
            unread=unread_columns(info),
            unread_users=unread_users(info),
            node_json=json,
        )
        return ConversationConnection.from_page(
            page, node_builder(page.rows, Conversation.from_row, json), refreshed_at=refreshed_at
        )

    @strawberry.field(
        description="Custom inboxes: ALL (mine and shared with me), BY_ME or BY_OTHERS, by name."
    )
    async def custom_inboxes(
        self,
        info: Info,
        ownership: Annotated[
            CustomInboxOwnership, strawberry.argument(description="Whose; ALL when omitted.")
        ] = CustomInboxOwnership.ALL,
    ) -> list[CustomInbox]:
        rows = await custom_resolvers.list_custom_inboxes(info.context.viewer, ownership.value)
        return [CustomInbox.from_row(r) for r in rows]


@strawberry.type
class InboxMutations:
    @strawberry.mutation(
        description="Clear the viewer's new-message dot of a standard or team inbox (theirs "
        "alone); returns the sidebar."
    )
    async def mark_inbox_seen(
        self,
        info: Info,
        inbox: Annotated[
            InboxSelector,
            strawberry.argument(
                description="A standard or team inbox (BAD_USER_INPUT for others)."
            ),
        ],
    ) -> InboxSidebar:
        ctx = info.context
        sidebar = await resolvers.mark_inbox_seen(ctx.bus, ctx.viewer, inbox)
        return InboxSidebar.from_sidebar(sidebar)

    @strawberry.mutation(
        description="Save a filtered view of conversations. Errors: BAD_USER_INPUT (naming the "
        "filter path) for an empty, contradictory, too deep or invalid filter; NOT_FOUND for ids "
        "outside the workspace."
    )
    async def create_custom_inbox(
        self,
        info: Info,
        input: Annotated[CustomInboxInput, strawberry.argument(description="The new inbox.")],
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> CustomInbox:
        row = await idempotent(
            info,
            idempotency_key,
            {"input": input},
            CreatedRow(m.CustomInbox),
            lambda once: _save_custom_inbox(info, None, input, once=once),
        )
        return CustomInbox.from_row(row)

    @strawberry.mutation(
        description="Replace a custom inbox's name, filter and sharing (its creator only: FORBIDDEN otherwise)."
    )
    async def update_custom_inbox(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The CustomInbox's id.")],
        input: Annotated[
            CustomInboxInput, strawberry.argument(description="Its new name, filter and sharing.")
        ],
    ) -> CustomInbox:
        return CustomInbox.from_row(
            await _save_custom_inbox(info, decode_id(id, "CustomInbox"), input)
        )

    @strawberry.mutation(description="Delete a custom inbox (its creator only); returns its id.")
    async def delete_custom_inbox(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The CustomInbox's id.")],
    ) -> strawberry.ID:
        ctx = info.context
        deleted = await custom_resolvers.delete_custom_inbox(
            ctx.bus, ctx.viewer, decode_id(id, "CustomInbox")
        )
        return to_global_id("CustomInbox", deleted)


@strawberry.type
class InboxSubscriptions:
    @strawberry.subscription(
        description="The subscriber's left panel: sent once at the start, then whenever one of its "
        "counts changes (or an inbox appears or disappears)."
    )
    async def inbox_sidebar_changed(
        self,
        info: Info,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[InboxSidebar, None]:
        return resolvers.sidebar_changes(info.context, after_sequence, InboxSidebar.from_sidebar)

    @strawberry.subscription(
        description="Conversations entering, leaving or changing in a standard, team or blocked "
        "inbox list (all the subscriber may see when no inbox is given), for conversations of "
        "`status` (default OPEN, like the list; null for any). Custom inboxes do not update live "
        "(BAD_USER_INPUT). Resume with `afterSequence`."
    )
    async def conversation_updated(
        self,
        info: Info,
        inbox: Annotated[
            InboxSelector | None,
            strawberry.argument(
                description="A standard, team or blocked inbox; all the subscriber may see when "
                "omitted."
            ),
        ] = None,
        status: Annotated[
            ConversationStatus | None,
            strawberry.argument(description="OPEN (the default) or CLOSED; null: any."),
        ] = m.ConversationStatus.OPEN,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        return resolvers.conversation_list_changes(
            info.context, inbox, status, after_sequence, _conversation_event
        )


def _conversation_event(change: resolvers.ListChange) -> ConversationEvent:
    row = change.conversation
    return ConversationEvent(
        sequence=change.sequence,
        change=ConversationChange(change.change),
        reason=ConversationChangeReason(change.reason),
        conversation_id=to_global_id("Conversation", change.conversation_id),
        conversation=Conversation.from_row(row) if row is not None else None,
    )


async def _save_custom_inbox(
    info: Info, custom_id: int | None, input: CustomInboxInput, *, once: Once | None = None
) -> m.CustomInbox:
    ctx = info.context
    errors = FieldErrors()
    spec = filter_spec(input.filter, errors=errors)
    user_ids = team_ids = None
    with errors.collect():
        user_ids = decode_ids(input.shared_with_user_ids, "User", field="sharedWithUserIds")
    with errors.collect():
        team_ids = decode_ids(input.shared_with_team_ids, "Team", field="sharedWithTeamIds")
    return await custom_resolvers.save_custom_inbox(
        ctx.bus,
        ctx.viewer,
        custom_id,
        name=input.name,
        filter_spec=spec,
        sharing=input.sharing,
        user_ids=user_ids,
        team_ids=team_ids,
        once=once,
        errors=errors,
    )


__all__ = [
    "AssigneeFilter",
    "BlockedInbox",
    "ConversationFilter",
    "CustomInbox",
    "CustomInboxInput",
    "CustomInboxOwnership",
    "CustomInboxSharing",
    "InboxMutations",
    "InboxQueries",
    "InboxSelector",
    "InboxSidebar",
    "InboxSubscriptions",
    "StandardInbox",
    "StandardInboxKind",
    "TeamInbox",
    "filter_spec",
]

"""Contacts and the contact panel (``domain.md`` section 6): types, inputs and root fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info
from strawberry.types.lazy_type import LazyType
from strawberry.utils.await_maybe import await_maybe

from db import models as m
from graph.fanout import depends_on_identity
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.loaders import related
from graph.permissions.fields import number_as_seen
from graph.relay import PageRequest, decode_id, to_global_id
from graph.resolvers import activity as activity_resolvers
from graph.resolvers import call as call_resolvers
from graph.resolvers import contact as resolvers
from graph.resolvers import conversation as conversation_resolvers
from graph.resolvers import crm as crm_resolvers
from graph.resolvers import merge as merge_resolvers
from graph.resolvers.node import find_node
from graph.schema.activity import Activity, ActivityConnection
from graph.schema.channel import Channel
from graph.schema.core import After, Before, First, Last, Node, connection_field
from graph.schema.crm import CrmProvider, CrmRecord
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.schema.call import CallConnection
    from graph.schema.conversation import ConversationConnection

# A contact's calls and conversations are types of modules that import this one: the fields
# name them lazily (strawberry resolves them when it builds the schema), and so do the resolvers.
_CALL = LazyType("Call", "graph.schema.call")
_CALL_CONNECTION = LazyType("CallConnection", "graph.schema.call")
_CONVERSATION = LazyType("Conversation", "graph.schema.conversation")
_CONVERSATION_CONNECTION = LazyType("ConversationConnection", "graph.schema.conversation")


@strawberry.type(description="A channel of the workspace, and the contact's identity on it.")
class ContactChannel:
    channel: Channel
    rows: strawberry.Private[list[m.ChannelIdentity]]

    @strawberry.field(description="Whether the contact has an identity on this channel.")
    def has_identity(self) -> bool:
        return bool(self.rows)

    @strawberry.field(
        description="The contact's handle on the channel (E.164 number, e-mail address or the "
        "channel's id), its first when a merge gave it several; null without an identity. "
        "Numbers are masked like Contact.phone."
    )
    async def handle(self, info: Info) -> str | None:
        handles = await self.handles(info)
        return handles[0] if handles else None

    @strawberry.field(description="Every handle of the contact on the channel, oldest first.")
    async def handles(self, info: Info) -> list[str]:
        if self.channel.row.type.handle_is_phone:
            return [await await_maybe(number_as_seen(info, r.handle)) for r in self.rows]
        return [r.handle for r in self.rows]


@strawberry.type(description="A customer.")
class Contact(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Contact]

    @classmethod
    def from_row(cls, row: m.Contact) -> Contact:
        return cls(
            id=to_global_id("Contact", row.id),
            row=row,
            first_name=row.first_name,
            last_name=row.last_name,
            name=resolvers.display_name(row),
            email=row.email,
            country_code=row.country_code,
            language=row.language,
            blocked=row.blocked,
            created_at=row.created_at,
        )

    first_name: str | None
    last_name: str | None
    name: str = strawberry.field(
        description="The full name, else the e-mail, else 'Unknown contact'."
    )

    @strawberry.field(
        description="E.164. Masked (e.g. `+44 79•• •••456`) when the workspace masks numbers and "
        "the viewer is not an owner."
    )
    def phone(self, info: Info) -> str | None:
        return number_as_seen(info, self.row.phone)

    email: str | None
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2.")
    language: str | None = strawberry.field(description="BCP 47.")

    @strawberry.field
    def assignee(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.assignee_id, User.from_row)

    blocked: bool
    created_at: datetime

    @strawberry.field(
        description="The contact's record in a connected CRM (a CRM tab), found by e-mail, then "
        "phone, and remembered. Null when the workspace has not connected that CRM (no tab) or "
        "no record matches. Errors on this field alone: CRM_UNAVAILABLE (the CRM is down, slow "
        "or rate-limiting), CRM_AUTH_FAILED (it refuses the stored token: reconnect)."
    )
    async def crm(self, info: Info, provider: CrmProvider) -> CrmRecord | None:
        ctx = info.context
        record = await crm_resolvers.contact_record(ctx.settings, ctx.viewer, self.row, provider)
        return CrmRecord.from_record(provider, record) if record is not None else None

    @connection_field(
        description="Every call with this contact, inbound and outbound, newest first, with its "
        "outcome (status), direction, times, duration and who handled it. Empty for users "
        "without call access. Errors: BAD_USER_INPUT for a bad page size or cursor."
    )
    async def call_activities(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated[CallConnection, strawberry.lazy("graph.schema.call")]:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        ctx = info.context
        page = await call_resolvers.contact_calls(ctx.viewer, ctx.loaders, self.row, request)
        return _CALL_CONNECTION.resolve_type().from_page(page, _CALL.resolve_type().from_row)

    @strawberry.field(
        description="Every channel of the workspace (oldest first), with whether this contact "
        "has an identity on it and its handle there."
    )
    async def channels(self, info: Info) -> list[ContactChannel]:
        return [
            ContactChannel(channel=Channel.from_row(c.channel), rows=c.identities)
            for c in await resolvers.contact_channels(info.context.loaders, self.row)
        ]

    @strawberry.field(
        description="Other contacts of the workspace sharing this contact's phone number or "
        "e-mail address (compared normalised: E.164, case-insensitive), that the viewer may "
        "see; oldest first, at most 20."
    )
    async def merge_suggestions(self, info: Info) -> list[Contact]:
        if info.context.viewer.is_restricted:
            depends_on_identity()  # what a TEAM or SELF agent sees depends on who they are
        rows = await resolvers.merge_suggestions(
            info.context.viewer, info.context.loaders, self.row
        )
        return [Contact.from_row(r) for r in rows]

    @connection_field(
        description="The contact's conversations, open and closed, newest opened first. "
        "Errors: BAD_USER_INPUT for a bad page size or cursor."
    )
    async def conversations(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated[ConversationConnection, strawberry.lazy("graph.schema.conversation")]:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        page = await conversation_resolvers.list_contact_conversations(
            info.context.loaders, self.row, request
        )
        return _CONVERSATION_CONNECTION.resolve_type().from_page(
            page, _CONVERSATION.resolve_type().from_row, refreshed_at=datetime.now(UTC)
        )

    @connection_field(
        description="Comments and conversation events of this contact, newest first. Errors: "
        "BAD_USER_INPUT for a bad page size or cursor."
    )
    async def activities(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ActivityConnection:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        page = await activity_resolvers.list_activities(info.context.loaders, self.row, request)
        return ActivityConnection.from_page(page, Activity.from_row)


@strawberry.input(
    description="Edit a contact's details. Only the fields given change; null or an empty "
    "string clears one. Nothing changes when one value is invalid."
)
class UpdateContactInput:
    contact_id: strawberry.ID
    first_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="At most 120 characters."
    )
    last_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="At most 120 characters."
    )
    phone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Stored as E.164; a national number is read in the contact's country.",
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="An RFC 5322 address."
    )
    country_code: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2."
    )
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="A BCP 47 tag, e.g. `en-GB`."
    )


@strawberry.enum(description="A contact field a merge may take from the secondary contact.")
class ContactField(Enum):
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    PHONE = "phone"
    EMAIL = "email"
    COUNTRY_CODE = "country_code"
    LANGUAGE = "language"
    ASSIGNEE = "assignee_id"


@strawberry.type(description="A comment mentioning the subscriber.")
class MentionEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    activity: Activity
    contact: Contact


@strawberry.type
class ContactQueries:
    @strawberry.field(
        description="A contact by id; null when unknown or not visible to the viewer."
    )
    async def contact(self, info: Info, id: strawberry.ID) -> Contact | None:
        found = await find_node(info.context, "Contact", decode_id(id, "Contact"))
        return Contact.from_row(found[1]) if found else None


@strawberry.type
class AssignmentMutations:
    @strawberry.mutation(
        description="Assign a contact to a user, or to nobody with a null assigneeId."
    )
    async def assign_contact(
        self, info: Info, contact_id: strawberry.ID, assignee_id: strawberry.ID | None = None
    ) -> Contact:
        ctx = info.context
        contact = await resolvers.assign_contact(
            ctx.bus,
            ctx.viewer,
            decode_id(contact_id, "Contact", field="contactId"),
            decode_id(assignee_id, "User", field="assigneeId") if assignee_id is not None else None,
        )
        return Contact.from_row(contact)


@strawberry.type
class ContactMutations:
    @strawberry.mutation(
        description="Edit a contact's names, phone, e-mail, country and language; only the fields "
        "given change. Errors: BAD_USER_INPUT, one error per invalid field, each naming it in "
        "`extensions.field` and `extensions.inputPath` (nothing is changed); NOT_FOUND for a contact the viewer may not see; "
        "FORBIDDEN without the permission to edit contacts."
    )
    async def update_contact(self, info: Info, input: UpdateContactInput) -> Contact:
        ctx = info.context
        contact_pk = decode_id(input.contact_id, "Contact", field="contactId")
        given = resolvers.ContactDetails(
            first_name=input.first_name,
            last_name=input.last_name,
            phone=input.phone,
            email=input.email,
            country_code=input.country_code,
            language=input.language,
        )
        return Contact.from_row(
            await resolvers.update_contact(ctx.bus, ctx.viewer, contact_pk, given)
        )

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
            strawberry.argument(
                description="Fields where the secondary's value wins (when it has one)."
            ),
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
            CreatedRow(m.Activity, visible_if=resolvers.visible_contact_of),
            lambda once: activity_resolvers.add_comment(
                ctx.bus, ctx.viewer, contact_pk, text, once=once
            ),
        )
        return Activity.from_row(activity)

    @strawberry.mutation(
        description="Block a contact: its conversations leave every inbox but the blocked one."
    )
    async def block_contact(self, info: Info, contact_id: strawberry.ID) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(await resolvers.set_blocked(ctx.bus, ctx.viewer, contact_pk, True))

    @strawberry.mutation(description="Unblock a contact (users who may view blocked contacts).")
    async def unblock_contact(self, info: Info, contact_id: strawberry.ID) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(await resolvers.set_blocked(ctx.bus, ctx.viewer, contact_pk, False))


@strawberry.type
class ContactSubscriptions:
    @strawberry.subscription(
        description="Comments mentioning the subscriber, as they are written, while the "
        "subscriber may see the contact. Resume with `afterSequence`."
    )
    async def mentioned(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[MentionEvent, None]:
        return activity_resolvers.mention_events(info.context, after_sequence, _mention_event)


def _mention_event(sequence: int, activity: m.Activity, contact: m.Contact) -> MentionEvent:
    return MentionEvent(
        sequence=sequence, activity=Activity.from_row(activity), contact=Contact.from_row(contact)
    )


__all__ = [
    "AssignmentMutations",
    "Contact",
    "ContactChannel",
    "ContactField",
    "ContactMutations",
    "ContactQueries",
    "ContactSubscriptions",
    "MentionEvent",
    "UpdateContactInput",
]

"""Contacts and the contact panel (``domain.md`` section 6): types, inputs and root fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from datetime import UTC, datetime
from enum import Enum
from inspect import isawaitable
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info
from strawberry.types.lazy_type import LazyType
from strawberry.utils.await_maybe import await_maybe

from db import models as m
from graph.errors import FieldErrors
from graph.fanout import depends_on_identity
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.loaders import row_relation
from graph.permissions.fields import number_as_seen
from graph.relay import PageRequest, decode_id
from graph.resolvers import activity as activity_resolvers
from graph.resolvers import call as call_resolvers
from graph.resolvers import contact as resolvers
from graph.resolvers import contact_directory as directory
from graph.resolvers import conversation as conversation_resolvers
from graph.resolvers import crm as crm_resolvers
from graph.resolvers import erasure as erasure_resolvers
from graph.resolvers import merge as merge_resolvers
from graph.resolvers.node import find_node
from graph.resolvers.pages import Ahead
from graph.schema.activity import Activity, ActivityConnection
from graph.schema.ahead import alone, page_asked, selected_fields
from graph.schema.channel import Channel
from graph.schema.core import After, Before, Connection, First, Last, Node, connection_field
from graph.schema.crm import CrmProvider, CrmRecord
from graph.schema.described import AFTER_SEQUENCE
from graph.schema.row_json import node_builder, page_json
from graph.schema.rows import from_row
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.resolvers.pages import PageSpec
    from graph.schema.call import CallConnection
    from graph.schema.conversation import ConversationConnection

# A contact's calls and conversations are types of modules that import this one: the fields
# name them lazily (strawberry resolves them when it builds the schema), and so do the resolvers.
_CALL = LazyType("Call", "graph.schema.call")
_CALL_CONNECTION = LazyType("CallConnection", "graph.schema.call")
_CONVERSATION = LazyType("Conversation", "graph.schema.conversation")
_CONVERSATION_CONNECTION = LazyType("ConversationConnection", "graph.schema.conversation")


ContactIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")]


@strawberry.type(description="A channel of the workspace, and the contact's identity on it.")
class ContactChannel:
    channel: Channel = strawberry.field(description="The workspace's channel.")
    rows: strawberry.Private[list[m.ChannelIdentity]]

    @strawberry.field(description="Whether the contact has an identity on this channel.")
    def has_identity(self) -> bool:
        return bool(self.rows)

    @strawberry.field(
        description="The contact's handle on the channel (E.164 number, e-mail address or the "
        "channel's id), its first when a merge gave it several; null without an identity. "
        "Numbers are masked like Contact.phone."
    )
    def handle(self, info: Info) -> str | None:
        # plain (not async) resolvers: a value once the request read the workspace (every
        # channel of a panel but the first), else an awaitable (graph.loaders.then)
        if not self.rows:
            return None
        return self._seen(info, self.rows[0].handle)  # type: ignore[return-value]

    @strawberry.field(description="Every handle of the contact on the channel, oldest first.")
    def handles(self, info: Info) -> list[str]:
        if not self.channel.row.type.handle_is_phone:
            return [r.handle for r in self.rows]
        seen = [number_as_seen(info, r.handle) for r in self.rows]
        if not any(isawaitable(handle) for handle in seen):
            return seen  # type: ignore[return-value] - values, the workspace was read

        async def later() -> list[str]:
            return [await await_maybe(handle) for handle in seen]

        return later()  # type: ignore[return-value] - graphql-core awaits it

    def _seen(self, info: Info, handle: str) -> str | Awaitable[str]:
        """``handle`` as the viewer may read it (numbers masked like ``Contact.phone``)."""
        return number_as_seen(info, handle) if self.channel.row.type.handle_is_phone else handle


@strawberry.type(description="What eraseContact deleted of a contact, counted.")
class ErasedContactCounts:
    conversations: int = strawberry.field(description="Conversations deleted.")
    messages: int = strawberry.field(description="Messages deleted (their text with them).")
    calls: int = strawberry.field(description="Calls deleted (their numbers and recordings).")


def _phone(self: Contact, info: Info) -> str | None:
    """``Contact.phone``: the number as the viewer may see it (:func:`number_as_seen`)."""
    return number_as_seen(info, self.row.phone)


@from_row(name=resolvers.display_name)
@strawberry.type(description="A customer.")
class Contact(Node):
    row: strawberry.Private[m.Contact]

    first_name: str | None = strawberry.field(description="The given name, if known.")
    last_name: str | None = strawberry.field(description="The family name, if known.")
    name: str = strawberry.field(
        description="The full name, else the e-mail, else 'Unknown contact'."
    )

    email: str | None = strawberry.field(
        description="An e-mail address (RFC 5322), as given; compared case-insensitively."
    )
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2.")
    language: str | None = strawberry.field(description="BCP 47.")

    blocked: bool = strawberry.field(
        description="Blocked contacts show only in the blocked inbox, to users who may view "
        "them (domain.md sections 1 and 2); their conversations cannot be opened or closed."
    )
    created_at: datetime = strawberry.field(description="When the contact was created (UTC).")
    erased_at: datetime | None = strawberry.field(
        description="When an owner erased the contact (eraseContact, UTC); null while it is "
        "not. An erased contact keeps no personal data (its name reads 'Erased contact'), "
        "appears in no list and cannot be changed."
    )
    # the phone and the assignee after the plain fields, as the schema has always listed them
    phone: str | None = strawberry.field(
        description="E.164. Masked (e.g. `+44 79•• •••456`) when the workspace masks numbers and "
        "the viewer is not an owner.",
        resolver=_phone,
    )
    assignee: User | None = strawberry.field(
        description="The user the contact is assigned to; null: unassigned. Assignment belongs "
        "to the contact, not to a conversation, and survives closing (domain.md terms).",
        resolver=row_relation("user", "assignee_id", lambda: User.from_row),
    )

    @strawberry.field(
        description="What an erasure deleted, counted (the anonymised counts it keeps); null "
        "while the contact is not erased."
    )
    def erased_counts(self) -> ErasedContactCounts | None:
        counts = self.row.erased_counts
        if self.row.erased_at is None or counts is None:
            return None
        return ErasedContactCounts(
            conversations=counts.get("conversations", 0),
            messages=counts.get("messages", 0),
            calls=counts.get("calls", 0),
        )

    @strawberry.field(
        description="The contact's record in a connected CRM (a CRM tab), found by e-mail, then "
        "phone, and remembered. Null when the workspace has not connected that CRM (no tab) or "
        "no record matches. Errors on this field alone: CRM_UNAVAILABLE (the CRM is down, slow "
        "or rate-limiting), CRM_AUTH_FAILED (it refuses the stored token: reconnect)."
    )
    async def crm(
        self,
        info: Info,
        provider: Annotated[CrmProvider, strawberry.argument(description="Which CRM's record.")],
    ) -> CrmRecord | None:
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
        request = activities_request(first, after, last, before)
        json = page_json(info, ACTIVITY_MODELS)
        page = await activity_resolvers.list_activities(
            info.context.loaders, self.row, request, json
        )
        return ActivityConnection.from_page(page, node_builder(page.rows, Activity.from_row, json))


ACTIVITY_MODELS = {"": m.Activity}
"""The model of ``Contact.activities``' nodes (:func:`graph.schema.row_json.page_json`)."""


def activities_request(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """The page ``Contact.activities``' arguments ask for.

    Raises:
        graph.errors.BadUserInput: as :meth:`graph.relay.PageRequest.parse`.
    """
    return PageRequest.parse(first, after, last, before, (datetime, int))


def panel_ahead(info: Info) -> Ahead | None:
    """What a contact panel's selection of a contact (``contact(id)``, ``node(id)``) reads
    after the contact: its channels, its page of activities (asked for once, with a valid
    page) and its merge suggestions, so that they are read with the contact and its assignee
    (one statement: :func:`graph.resolvers.node.find_node`); ``None`` when it asks for none of
    them or a directive is on the way (:func:`graph.schema.ahead.selected_fields`)."""
    found = selected_fields(info, "Contact", ("channels", "activities", "mergeSuggestions"))
    if found is None:
        return None
    pages: tuple[PageSpec, ...] = ()
    json = None
    if len(found["activities"]) == 1:
        field = found["activities"][0]
        request = page_asked(info, "Contact", field, activities_request)
        if request is not None:
            pages = (activity_resolvers.activities_spec(request),)
            json = page_json(info, ACTIVITY_MODELS, field, "Contact")
    sharing = (
        resolvers.merge_suggestions_read(info.context.viewer) if found["mergeSuggestions"] else None
    )
    return Ahead(pages=pages, channels=bool(found["channels"]), sharing=sharing, json=json) or None


@strawberry.input(
    description="A contact's details, as every input that sets them takes them: a field not "
    "given is left as it is (UNSET); null or an empty string clears one. Validated by "
    "graph.resolvers.contact (one place for create, update and upsert)."
)
class ContactDetailsInput:
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


@strawberry.input(
    description="Edit a contact's details. Only the fields given change; null or an empty "
    "string clears one. Nothing changes when one value is invalid."
)
class UpdateContactInput(ContactDetailsInput):
    contact_id: strawberry.ID = strawberry.field(description="The Contact's id.")


@strawberry.type(description="A page of contacts, newest first.")
class ContactConnection(Connection[Contact]):
    pass


@strawberry.input(
    description="Narrows the contacts list; every condition given must hold (AND). Values are "
    "compared in their stored forms: a phone number in E.164, an e-mail lower-cased, a handle "
    "as its channel stores it."
)
class ContactFilter:
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only contacts assigned to this User."
    )
    unassigned: bool | None = strawberry.field(
        default=None,
        description="True: only contacts without an assignee; false: only assigned ones.",
    )
    blocked: bool | None = strawberry.field(
        default=None, description="Only blocked (true) or unblocked (false) contacts."
    )
    phone: str | None = strawberry.field(
        default=None,
        description="A phone number in any format, with its country code (`+44 7911 123456`, "
        "`447911123456`).",
    )
    email: str | None = strawberry.field(
        default=None, description="An e-mail address, compared case-insensitively."
    )
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="With `handle`: the Channel the handle is on."
    )
    handle: str | None = strawberry.field(
        default=None,
        description="With `channelId`: the contact's handle on that channel (a number, an "
        "e-mail address or the channel's id for the sender).",
    )


@strawberry.input(
    description="One identity of a contact: exactly one of `phone`, `email`, or `channelId` "
    "with `handle`."
)
class ContactIdentityInput:
    phone: str | None = strawberry.field(
        default=None,
        description="A phone number in any format with its country code; matched in E.164.",
    )
    email: str | None = strawberry.field(
        default=None, description="An RFC 5322 address; matched case-insensitively."
    )
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="With `handle`: the Channel of the handle."
    )
    handle: str | None = strawberry.field(
        default=None,
        description="With `channelId`: the contact's handle on that channel (E.164 number on "
        "phone channels, e-mail address on e-mail channels, the channel's sender id otherwise).",
    )


@strawberry.input(description="A channel and the contact's handle on it.")
class ChannelHandleInput:
    channel_id: strawberry.ID = strawberry.field(description="The Channel's id.")
    handle: str = strawberry.field(
        description="The handle on that channel (E.164 number on phone channels, e-mail "
        "address on e-mail channels, the channel's sender id otherwise)."
    )


@strawberry.input(
    description="A new contact. Every field is optional; values are validated as "
    "updateContact's. Nothing is created when one value is invalid."
)
class CreateContactInput(ContactDetailsInput):
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The User to assign it to (an active user). TEAM and SELF agents who give "
        "none get it assigned to themselves, and may name only someone whose contacts they see.",
    )
    identities: list[ChannelHandleInput] | None = strawberry.field(
        default=None,
        description="The contact's handles on the workspace's channels, at most "
        f"{directory.MAX_IDENTITIES}; each must be free. A phone or e-mail channel's handle "
        "fills `phone` or `email` when not given.",
    )


@strawberry.input(
    description="Find a contact by one identity and set these details, or create it. Only the "
    "detail fields given change; null or an empty string clears one."
)
class UpsertContactInput(ContactDetailsInput):
    identity: ContactIdentityInput = strawberry.field(
        description="What finds the contact: its phone, e-mail or handle on a channel. A new "
        "contact takes it (as its phone, e-mail or channel identity)."
    )


@strawberry.type(description="What upsertContact did.")
class UpsertContactPayload:
    contact: Contact = strawberry.field(description="The contact found or created.")
    created: bool = strawberry.field(
        description="True when the contact was created, false when an existing one was found."
    )


def _details(input: CreateContactInput | UpsertContactInput) -> resolvers.ContactDetails:
    return resolvers.ContactDetails(
        first_name=input.first_name,
        last_name=input.last_name,
        phone=input.phone,
        email=input.email,
        country_code=input.country_code,
        language=input.language,
    )


def _channel_pk(value: strawberry.ID | None, field: str, errors: FieldErrors) -> int | None:
    if value is None:
        return None
    with errors.collect():
        return decode_id(value, "Channel", field=field)
    return -1  # malformed: reported, and found nowhere


@strawberry.enum(description="A contact field a merge may take from the secondary contact.")
class ContactField(Enum):
    FIRST_NAME = strawberry.enum_value("first_name", description="`firstName`.")
    LAST_NAME = strawberry.enum_value("last_name", description="`lastName`.")
    PHONE = strawberry.enum_value("phone", description="`phone`.")
    EMAIL = strawberry.enum_value("email", description="`email`.")
    COUNTRY_CODE = strawberry.enum_value("country_code", description="`countryCode`.")
    LANGUAGE = strawberry.enum_value("language", description="`language`.")
    ASSIGNEE = strawberry.enum_value("assignee_id", description="`assignee`.")


@strawberry.type(description="A comment mentioning the subscriber.")
class MentionEvent:
    sequence: int = strawberry.field(
        description="The event's sequence in the workspace; resume after it."
    )
    activity: Activity = strawberry.field(description="The comment (kind COMMENT).")
    contact: Contact = strawberry.field(description="The contact the comment is about.")


@strawberry.type
class ContactQueries:
    @strawberry.field(
        description="A contact by id; null when unknown or not visible to the viewer."
    )
    async def contact(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
    ) -> Contact | None:
        pk = decode_id(id, "Contact")
        found = await find_node(info.context, "Contact", pk, panel_ahead(info), alone=alone(info))
        return Contact.from_row(found[1]) if found else None

    @connection_field(
        description="The contacts of the workspace the viewer may see (domain.md section 1; "
        "erased ones never), newest first, narrowed by `filter`. Errors: BAD_USER_INPUT for a "
        "malformed filter value (each naming it: `filter.phone` ...), page size or cursor; "
        "NOT_FOUND for an unknown channel (`filter.channelId`)."
    )
    async def contacts(
        self,
        info: Info,
        filter: Annotated[
            ContactFilter | None,
            strawberry.argument(description="Conditions on the contacts; none: all of them."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ContactConnection:
        where = filter or ContactFilter()
        errors = FieldErrors()
        request = None
        with errors.collect():
            request = PageRequest.parse(first, after, last, before, (datetime, int))
        assignee_id = None
        if where.assignee_id is not None:
            with errors.collect():
                assignee_id = decode_id(where.assignee_id, "User", field="filter.assigneeId")
        channel_id = _channel_pk(where.channel_id, "filter.channelId", errors)
        errors.raise_if_any()
        assert request is not None
        page = await directory.list_contacts(
            info.context.viewer,
            directory.ContactListFilter(
                assignee_id=assignee_id,
                unassigned=where.unassigned,
                blocked=where.blocked,
                phone=where.phone,
                email=where.email,
                channel_id=channel_id,
                handle=where.handle,
            ),
            request,
        )
        return ContactConnection.from_page(page, Contact.from_row)


@strawberry.type
class AssignmentMutations:
    @strawberry.mutation(
        description="Assign a contact to a user, or to nobody with a null assigneeId."
    )
    async def assign_contact(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
        assignee_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The User's id (an active user who may see the contact); null or "
                "omitted: unassign."
            ),
        ] = None,
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
    async def update_contact(
        self,
        info: Info,
        input: Annotated[
            UpdateContactInput, strawberry.argument(description="The contact and what changes.")
        ],
    ) -> Contact:
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
        description="Create a contact (before any message or call from it): its details, "
        "handles on channels and assignee, with a `contact.created` event. Errors: "
        "BAD_USER_INPUT, one error per invalid field (nothing is created); NOT_FOUND for an "
        "unknown channel or assignee; CONFLICT for a handle another contact holds "
        "(`identities[i].handle`: use upsertContact); FORBIDDEN without the permission to "
        "edit contacts."
    )
    async def create_contact(
        self,
        info: Info,
        input: Annotated[CreateContactInput, strawberry.argument(description="The contact.")],
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Contact:
        ctx = info.context
        resolvers.require_contact_editor(ctx.viewer)  # FORBIDDEN before anything about the input
        directory.check_identity_count(input.identities)  # before decoding their ids
        errors = FieldErrors()
        assignee_id = None
        if input.assignee_id is not None:
            with errors.collect():
                assignee_id = decode_id(input.assignee_id, "User", field="assigneeId")
        identities = [
            directory.ContactIdentity(
                channel_id=_channel_pk(h.channel_id, f"identities[{i}].channelId", errors),
                handle=h.handle,
            )
            for i, h in enumerate(input.identities or ())
        ]
        errors.raise_if_any()
        arguments = {
            "input": input,
        }
        contact = await idempotent(
            info,
            idempotency_key,
            arguments,
            CreatedRow(m.Contact, visible_if=_visible_created),
            lambda once: directory.create_contact(
                ctx.bus,
                ctx.viewer,
                _details(input),
                assignee_id=assignee_id,
                identities=identities,
                once=once,
            ),
        )
        return Contact.from_row(contact)

    @strawberry.mutation(
        description="Find the contact of one identity (phone, e-mail or channel handle, compared "
        "normalised) and set the details given, or create it: a partner's sync. Concurrent "
        "upserts of one identity create one contact. A phone or e-mail matches the oldest "
        "contact holding it. Errors: BAD_USER_INPUT for not exactly one identity (`identity`) "
        "or an invalid value, one error per field (nothing changes); NOT_FOUND for an unknown "
        "channel; CONFLICT when the identity belongs to a contact the viewer may not see; "
        "FORBIDDEN without the permission to edit contacts."
    )
    async def upsert_contact(
        self,
        info: Info,
        input: Annotated[
            UpsertContactInput,
            strawberry.argument(description="The identity, and the details to set."),
        ],
    ) -> UpsertContactPayload:
        ctx = info.context
        errors = FieldErrors()
        given = input.identity
        identity = directory.ContactIdentity(
            phone=given.phone,
            email=given.email,
            channel_id=_channel_pk(given.channel_id, "identity.channelId", errors),
            handle=given.handle,
        )
        errors.raise_if_any()
        result = await directory.upsert_contact(ctx.bus, ctx.viewer, identity, _details(input))
        return UpsertContactPayload(
            contact=Contact.from_row(result.contact), created=result.created
        )

    @strawberry.mutation(
        description="Erase a contact (the right to erasure; owners only): its conversations, "
        "messages, calls, activities, channel identities and CRM links are deleted and its "
        "details cleared, in one transaction; the contact stays as an anonymised record with "
        "`erasedAt`, `erasedCounts` and one CONTACT_ERASED activity naming no personal data. "
        "Live lists drop its conversations (conversationUpdated: LEFT, reason ERASED); later "
        "webhooks and subscriptions carry none of its data. Erasing it again returns it "
        "unchanged. Errors: NOT_FOUND for a contact the viewer may not see; FORBIDDEN for "
        "anyone but an owner; CONFLICT while it has a ringing or ongoing call."
    )
    async def erase_contact(self, info: Info, contact_id: ContactIdArgument) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(
            await erasure_resolvers.erase_contact(ctx.bus, ctx.viewer, contact_pk)
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
        primary_id: Annotated[
            strawberry.ID, strawberry.argument(description="The Contact's id that stays.")
        ],
        secondary_id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The Contact's id folded in, then deleted."),
        ],
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
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
        text: Annotated[
            str,
            strawberry.argument(
                description="The comment, 1 to 10,000 characters; mentions as `@[Name](<User id>)`."
            ),
        ],
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
    async def block_contact(self, info: Info, contact_id: ContactIdArgument) -> Contact:
        ctx = info.context
        contact_pk = decode_id(contact_id, "Contact", field="contactId")
        return Contact.from_row(await resolvers.set_blocked(ctx.bus, ctx.viewer, contact_pk, True))

    @strawberry.mutation(description="Unblock a contact (users who may view blocked contacts).")
    async def unblock_contact(self, info: Info, contact_id: ContactIdArgument) -> Contact:
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
        self,
        info: Info,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[MentionEvent, None]:
        return activity_resolvers.mention_events(info.context, after_sequence, _mention_event)


async def _visible_created(viewer: object, row: m.Contact) -> m.Contact:
    return await resolvers.visible_contact(viewer, row.id)  # type: ignore[arg-type]


def _mention_event(sequence: int, activity: m.Activity, contact: m.Contact) -> MentionEvent:
    return MentionEvent(
        sequence=sequence, activity=Activity.from_row(activity), contact=Contact.from_row(contact)
    )


__all__ = [
    "AssignmentMutations",
    "ChannelHandleInput",
    "Contact",
    "ContactChannel",
    "ContactConnection",
    "ContactField",
    "ContactFilter",
    "ContactIdentityInput",
    "ContactMutations",
    "ContactQueries",
    "ContactSubscriptions",
    "CreateContactInput",
    "ErasedContactCounts",
    "MentionEvent",
    "UpdateContactInput",
    "UpsertContactInput",
    "UpsertContactPayload",
    "activities_request",
    "panel_ahead",
]

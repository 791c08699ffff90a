"""Calls: types, enums, inputs and root fields (``domain.md`` section 5)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from db import models as m
from graph.errors import NotFound
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.loaders import related
from graph.permissions import visibility
from graph.permissions.fields import number_as_seen
from graph.relay import PageRequest, decode_id, to_global_id
from graph.resolvers import call as call_resolvers
from graph.resolvers import contact as contact_resolvers
from graph.resolvers.node import shows
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.core import After, Before, Connection, First, Last, Node, connection_field
from graph.schema.inbox import InboxSelector
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.context import Context

CallDirection = strawberry.enum(m.CallDirection, name="CallDirection")
CallStatus = strawberry.enum(
    m.CallStatus,
    name="CallStatus",
    description="RINGING → ONGOING (answered) → ENDED; or RINGING → DECLINED, MISSED (the caller "
    "hung up or nobody answered) or FAILED.",
)
RecordingState = strawberry.enum(m.RecordingState, name="RecordingState")
IncomingCallTab = strawberry.enum(
    visibility.IncomingCallTab,
    name="IncomingCallTab",
    description="Tabs of the incoming-calls list. Unrestricted users have all three, TEAM agents "
    "ALL and ASSIGNED_TO_ME, SELF agents ASSIGNED_TO_ME only.",
)


@strawberry.type(description="The recording of a call.")
class CallRecording:
    state: RecordingState = strawberry.field(
        description="RECORDING while the call goes on, READY once it ended, or FAILED."
    )
    id: str | None = strawberry.field(description="The recording's id at the call provider.")


@strawberry.type(description="A voice call on a WhatsApp or VoIP channel.")
class Call(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Call]
    event_sequence: strawberry.Private[int | None] = None
    hidden: strawberry.Private[bool] = False

    @classmethod
    def from_row(cls, row: m.Call, *, sequence: int | None = None, hidden: bool = False) -> Call:
        """The call of ``row``; ``sequence``: the live event that delivers it, if any;
        ``hidden``: the caller may not see it (an ingestion's answer, ``domain.md`` section 1):
        its numbers and recording read null, its contact ``NOT_FOUND``."""
        return cls(id=to_global_id("Call", row.id), row=row, event_sequence=sequence, hidden=hidden)

    @strawberry.field(
        description="In `incomingCall` and `callUpdated`: the sequence of the event that "
        "delivered this call in the workspace's event stream; pass the last one received as "
        "`afterSequence` to resume. null in queries and mutations."
    )
    def sequence(self) -> int | None:
        return self.event_sequence

    @strawberry.field(
        description="The caller, or the contact called. In what an ingestion (receiveCall, "
        "reportCallEnded) returns to a caller who may not see the contact (domain.md section "
        "1), it does not exist for them: NOT_FOUND (select contactId instead)."
    )
    def contact(self, info: Info) -> Contact:
        if self.hidden:
            raise NotFound("The call's contact")
        return related(info.context.loaders.contact, self.row.contact_id, Contact.from_row)

    @strawberry.field(description="The id of the caller, or of the contact called.")
    def contact_id(self) -> strawberry.ID:
        return to_global_id("Contact", self.row.contact_id)

    @strawberry.field
    def channel(self, info: Info) -> Channel:
        return related(info.context.loaders.channel, self.row.channel_id, Channel.from_row)

    @strawberry.field
    def direction(self) -> CallDirection:
        return self.row.direction

    @strawberry.field
    def status(self) -> CallStatus:
        return self.row.status

    @strawberry.field(description="The user who answered (inbound) or placed (outbound) the call.")
    def answered_by(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.answered_by_id, User.from_row)

    @strawberry.field(
        description="E.164 number of the calling side; masked like Contact.phone; null when "
        "the caller may not see the contact."
    )
    def from_number(self, info: Info) -> str | None:
        return None if self.hidden else number_as_seen(info, self.row.from_number)

    @strawberry.field(
        description="E.164 number of the called side; masked like Contact.phone; null when "
        "the caller may not see the contact."
    )
    def to_number(self, info: Info) -> str | None:
        return None if self.hidden else number_as_seen(info, self.row.to_number)

    @strawberry.field(description="When the call started ringing (server time, UTC).")
    def ringing_at(self) -> datetime:
        return self.row.ringing_at

    @strawberry.field(
        description="When the call was answered or placed (server time, UTC): clients render the "
        "running timer from it."
    )
    def answered_at(self) -> datetime | None:
        return self.row.answered_at

    @strawberry.field(
        description="When the call ended, was declined, missed or failed (server time, UTC)."
    )
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field(
        description="Whole seconds from answeredAt to endedAt; null until the call ended."
    )
    def duration_seconds(self) -> int | None:
        return self.row.duration_seconds

    @strawberry.field(
        description="null when the call was never recorded, or the caller may not see the contact."
    )
    def recording(self) -> CallRecording | None:
        if self.hidden or self.row.recording_state is m.RecordingState.NONE:
            return None
        return CallRecording(state=self.row.recording_state, id=self.row.recording_id)


@strawberry.type(description="A page of calls, newest first.")
class CallConnection(Connection[Call]):
    pass


@strawberry.input(description="A ringing inbound call reported by a channel connector.")
class ReceiveCallInput:
    channel_id: strawberry.ID = strawberry.field(description="A WhatsApp or VoIP channel.")
    from_: str = strawberry.field(name="from", description="The caller's number, E.164.")
    external_call_id: str = strawberry.field(
        description="The provider's call id; (channelId, externalCallId) identifies the call."
    )
    to: str | None = strawberry.field(
        default=None, description="The workspace number called, E.164."
    )
    first_name: str | None = strawberry.field(default=None, description="For a new contact.")
    last_name: str | None = strawberry.field(default=None, description="For a new contact.")


@strawberry.input(description="The far end of a call hung up, or the call failed.")
class ReportCallEndedInput:
    channel_id: strawberry.ID
    external_call_id: str
    failed: bool = strawberry.field(
        default=False,
        description="The call failed (a ringing call becomes FAILED instead of MISSED).",
    )


@strawberry.type
class CallQueries:
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

    @connection_field(
        description="The call log (the CALLS view): calls of every direction and outcome, newest "
        "first (ringingAt), within the selected inbox (its contacts, as in the CHATS view), or "
        "every call the viewer may see without one. Errors: FORBIDDEN "
        "without call access or for an inbox the viewer's restriction hides, NOT_FOUND for an "
        "unknown team or custom inbox, BAD_USER_INPUT for a malformed selector or cursor."
    )
    async def calls(
        self,
        info: Info,
        inbox: InboxSelector | None = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CallConnection:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        page = await call_resolvers.call_log(info.context.viewer, inbox, request)
        await info.context.loaders.preload(
            contact=[r.contact_id for r in page.rows], channel=[r.channel_id for r in page.rows]
        )
        await info.context.loaders.preload_users(page.rows)
        return CallConnection.from_page(page, Call.from_row)


@strawberry.type
class CallMutations:
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

    @strawberry.mutation(
        description="Decline a ringing inbound call. Errors: CONFLICT when it is no longer ringing."
    )
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
            lambda once: call_resolvers.place_call(
                ctx.bus, ctx.viewer, contact_pk, channel_pk, once=once
            ),
        )
        return Call.from_row(call)


@strawberry.type
class CallSubscriptions:
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
        return call_resolvers.incoming_call_events(info.context, after_sequence, _delivered_call)

    @strawberry.subscription(
        description="Status and recording changes of calls the subscriber can see (answered by "
        "someone, so it leaves the incoming lists; declined, ended, missed, failed), with the "
        "call as it is at delivery and the event's `sequence`: pass the last one received as "
        "`afterSequence` to replay what was missed. FORBIDDEN without call access."
    )
    async def call_updated(
        self, info: Info, after_sequence: int | None = None
    ) -> AsyncGenerator[Call, None]:
        return call_resolvers.call_update_events(info.context, after_sequence, _delivered_call)


def _delivered_call(row: m.Call, sequence: int) -> Call:
    """A call delivered by a live event, carrying the event's sequence (``Call.sequence``)."""
    return Call.from_row(row, sequence=sequence)


async def _ingested_call(ctx: Context, row: m.Call) -> Call:
    """An ingested call as the caller may see it: without its numbers and recording, its
    contact ``NOT_FOUND``, when ``node(id)`` would not show the call
    (:func:`graph.resolvers.node.shows`)."""
    contact = await ctx.loaders.contact.load(row.contact_id)
    return Call.from_row(row, hidden=not shows(ctx.viewer, "Call", contact))


__all__ = [
    "Call",
    "CallConnection",
    "CallDirection",
    "CallMutations",
    "CallQueries",
    "CallRecording",
    "CallStatus",
    "CallSubscriptions",
    "IncomingCallTab",
    "ReceiveCallInput",
    "RecordingState",
    "ReportCallEndedInput",
]

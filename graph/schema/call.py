"""Calls: types, enums, inputs and root fields (``domain.md`` section 5)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

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
from graph.schema.described import AFTER_SEQUENCE, model_enum
from graph.schema.inbox import InboxSelector
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.context import Context

CallDirection = model_enum(
    m.CallDirection,
    name="CallDirection",
    description="Who started the call.",
    values={
        "INBOUND": "The contact called the workspace (`receiveCall`).",
        "OUTBOUND": "A user called the contact (`placeCall`).",
    },
)
CallStatus = model_enum(
    m.CallStatus,
    name="CallStatus",
    description="RINGING → ONGOING (answered) → ENDED; or RINGING → DECLINED, MISSED (the caller "
    "hung up or nobody answered) or FAILED (domain.md section 5, the call lifecycle; a move it "
    "does not allow is CONFLICT with `extensions.status`).",
    values={
        "RINGING": "Not answered yet: an inbound call shows in the incoming-calls lists; an "
        "outbound call waits for the contact to pick up, its caller on the line (`activeCall`).",
        "ONGOING": "Answered (by a user, or by the contact an outbound call rang): a user is on "
        "it (`answeredBy`, `answeredAt`).",
        "ENDED": "An ongoing call ended (either side hung up).",
        "MISSED": "Nobody answered within the workspace's `callRingTimeoutSeconds`, or the "
        "caller hung up while it rang.",
        "DECLINED": "A user declined it while it rang (the contact, for an outbound call).",
        "FAILED": "The channel reported a failure.",
    },
)
RecordingState = model_enum(
    m.RecordingState,
    name="RecordingState",
    description="Where a call's recording is (`startCallRecording`).",
    values={
        "NONE": "Not recorded (`Call.recording` is null).",
        "RECORDING": "Being recorded while the call goes on.",
        "READY": "The call ended and the recording is available (`CallRecording.id`; "
        "`CallRecording.url` once the connector reported it).",
        "FAILED": "The recording could not be made.",
    },
)
IncomingCallTab = model_enum(
    visibility.IncomingCallTab,
    name="IncomingCallTab",
    description="Tabs of the incoming-calls list (domain.md section 5). Unrestricted users have "
    "all three, TEAM agents ALL and ASSIGNED_TO_ME, SELF agents ASSIGNED_TO_ME only (FORBIDDEN "
    "for another).",
    values={
        "ALL": "Every ringing call the viewer may see (for TEAM agents: their own and their "
        "teams' contacts).",
        "ASSIGNED_TO_ME": "Calls from contacts assigned to the viewer.",
        "UNASSIGNED": "Calls from contacts with no assignee (new numbers included).",
    },
)


CallIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The Call's id.")]


@strawberry.type(description="The recording of a call.")
class CallRecording:
    state: RecordingState = strawberry.field(
        description="RECORDING while the call goes on, READY once it ended, or FAILED."
    )
    id: str | None = strawberry.field(description="The recording's id at the call provider.")
    url: str | None = strawberry.field(
        description="Where to fetch the finished recording (an https URL the connector reported "
        "with `reportCallRecording`); null until then, and when it FAILED. Served only to "
        "those who may see the call."
    )


@strawberry.type(description="A voice call on a WhatsApp or VoIP channel.")
class Call(Node):
    row: strawberry.Private[m.Call]
    event_sequence: strawberry.Private[int | None] = None
    hidden: strawberry.Private[bool] = False

    @classmethod
    def from_row(cls, row: m.Call, *, sequence: int | None = None, hidden: bool = False) -> Call:
        """The call of ``row``; ``sequence``: the live event that delivers it, if any;
        ``hidden``: the caller may not see it (an ingestion's answer, or the call of the user
        on the line once its contact was hidden from them; ``domain.md`` section 1):
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

    @strawberry.field(description="The WhatsApp or VoIP channel the call is on.")
    def channel(self, info: Info) -> Channel:
        return related(info.context.loaders.channel, self.row.channel_id, Channel.from_row)

    @strawberry.field(description="Inbound (the contact called) or outbound (a user called).")
    def direction(self) -> CallDirection:
        return self.row.direction

    @strawberry.field(description="Where the call is in its lifecycle.")
    def status(self) -> CallStatus:
        return self.row.status

    @strawberry.field(
        description="The user who answered (inbound) or placed (outbound, from the moment it "
        "rings) the call."
    )
    def answered_by(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.answered_by_id, User.from_row)

    @strawberry.field(
        description="E.164 number of the calling side (the channel's `phoneNumber` on outbound "
        "calls); masked like Contact.phone; null when the caller may not see the contact, or "
        "an outbound call's channel has no number."
    )
    def from_number(self, info: Info) -> str | None:
        return None if self.hidden else number_as_seen(info, self.row.from_number)

    @strawberry.field(
        description="E.164 number of the called side (on inbound calls: `to` as reported, else "
        "the channel's `phoneNumber`); masked like Contact.phone; null when the caller may not "
        "see the contact, or neither is known."
    )
    def to_number(self, info: Info) -> str | None:
        return None if self.hidden else number_as_seen(info, self.row.to_number)

    @strawberry.field(
        description="When the call started ringing, or was placed (server time, UTC)."
    )
    def ringing_at(self) -> datetime:
        return self.row.ringing_at

    @strawberry.field(
        description="When the call was answered, by a user or by the contact an outbound call "
        "rang (server time, UTC): clients render the running timer from it. null until then."
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
        return CallRecording(
            state=self.row.recording_state, id=self.row.recording_id, url=self.row.recording_url
        )


@strawberry.type(description="A page of calls, newest first (by `ringingAt`).")
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


CHANNEL_OF_CALL = "The Channel id the call is on."
EXTERNAL_CALL_ID = (
    "The provider's call id, as given to `receiveCall` (or to `reportCallAnswered` for an "
    "outbound call). Give it or `callId`, exactly one (BAD_USER_INPUT otherwise)."
)
CALL_ID = (
    "The Call's id, for an outbound call (`placeCall`; the `call.placed` event names it). Give "
    "it or `externalCallId`, exactly one."
)


@strawberry.input(description="The far end of a call hung up, or the call failed.")
class ReportCallEndedInput:
    channel_id: strawberry.ID = strawberry.field(description=CHANNEL_OF_CALL)
    external_call_id: str | None = strawberry.field(default=None, description=EXTERNAL_CALL_ID)
    call_id: strawberry.ID | None = strawberry.field(default=None, description=CALL_ID)
    failed: bool = strawberry.field(
        default=False,
        description="The call failed (a ringing call becomes FAILED instead of MISSED).",
    )


@strawberry.input(description="The contact picked up an outbound call that rang.")
class ReportCallAnsweredInput:
    channel_id: strawberry.ID = strawberry.field(description=CHANNEL_OF_CALL)
    call_id: strawberry.ID | None = strawberry.field(default=None, description=CALL_ID)
    external_call_id: str | None = strawberry.field(default=None, description=EXTERNAL_CALL_ID)
    new_external_call_id: str | None = strawberry.field(
        default=None,
        description="The provider's id of this call (1 to 255 characters), recorded when the "
        "call has none yet: later reports may then name the call by `externalCallId`.",
    )


@strawberry.input(description="The contact declined an outbound call that rang.")
class ReportCallDeclinedInput:
    channel_id: strawberry.ID = strawberry.field(description=CHANNEL_OF_CALL)
    call_id: strawberry.ID | None = strawberry.field(default=None, description=CALL_ID)
    external_call_id: str | None = strawberry.field(default=None, description=EXTERNAL_CALL_ID)


@strawberry.input(description="An ended call's recording is ready at the provider, or failed.")
class ReportCallRecordingInput:
    channel_id: strawberry.ID = strawberry.field(description=CHANNEL_OF_CALL)
    call_id: strawberry.ID | None = strawberry.field(default=None, description=CALL_ID)
    external_call_id: str | None = strawberry.field(default=None, description=EXTERNAL_CALL_ID)
    url: str | None = strawberry.field(
        default=None,
        description="Where the recording is: an absolute https URL of at most 2048 characters. "
        "Required unless `failed`.",
    )
    failed: bool = strawberry.field(
        default=False, description="The recording could not be made (omit `url`)."
    )


def _call_pk(value: strawberry.ID | None) -> int | None:
    return None if value is None else decode_id(value, "Call", field="callId")


@strawberry.type
class CallQueries:
    @strawberry.field(
        description="Ringing inbound calls of one tab, longest ringing first (at most 100), within "
        "the viewer's visibility; blocked contacts' calls ring in no tab. Errors: FORBIDDEN without "
        "call access or for a tab the viewer's restriction does not allow."
    )
    async def incoming_calls(
        self,
        info: Info,
        tab: Annotated[
            IncomingCallTab, strawberry.argument(description="Which tab; ALL when omitted.")
        ] = IncomingCallTab.ALL,
    ) -> list[Call]:
        rows = await call_resolvers.incoming_calls(info.context.viewer, tab)
        await info.context.loaders.preload(
            contact=[r.contact_id for r in rows], channel=[r.channel_id for r in rows]
        )
        return [Call.from_row(r) for r in rows]

    @strawberry.field(
        description="The viewer's call in progress, for the active call card (domain.md "
        "section 5): the outbound call they placed while it rings, or the call they are on "
        "while it is ongoing; null when they are on no call. It stays theirs when its contact "
        "has since been hidden from them (reassigned away), so that they can hang up: its "
        "contact is then NOT_FOUND, its numbers and recording null. Errors: FORBIDDEN without "
        "call access."
    )
    async def active_call(self, info: Info) -> Call | None:
        row = await call_resolvers.active_call(info.context.viewer)
        return None if row is None else await _call_as_seen(info.context, row)

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
        inbox: Annotated[
            InboxSelector | None,
            strawberry.argument(
                description="The inbox whose contacts' calls to list; every call the viewer "
                "may see when omitted."
            ),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CallConnection:
        request = PageRequest.parse(first, after, last, before, (datetime, int))
        page = await call_resolvers.call_log(
            info.context.viewer, inbox, request, info.context.loaders
        )
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
    async def receive_call(
        self,
        info: Info,
        input: Annotated[ReceiveCallInput, strawberry.argument(description="The ringing call.")],
    ) -> Call:
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
        return await _call_as_seen(ctx, call)

    @strawberry.mutation(
        description="Channel ingestion: the far end hung up or the call failed. RINGING becomes "
        "MISSED (FAILED with `failed`), ONGOING becomes ENDED; a finished call is returned "
        "unchanged (webhooks may be retried). The call comes back as receiveCall's does. "
        "Errors: NOT_FOUND for an unknown call (externalCallId, callId) or channel; "
        "BAD_USER_INPUT unless exactly one of externalCallId and callId; FORBIDDEN."
    )
    async def report_call_ended(
        self,
        info: Info,
        input: Annotated[
            ReportCallEndedInput, strawberry.argument(description="Which call, and how it ended.")
        ],
    ) -> Call:
        ctx = info.context
        call = await call_resolvers.report_call_ended(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            external_call_id=input.external_call_id,
            call_id=_call_pk(input.call_id),
            failed=input.failed,
        )
        return await _call_as_seen(ctx, call)

    @strawberry.mutation(
        description="Channel ingestion: the contact picked up a ringing outbound call. It "
        "becomes ONGOING (answeredAt now) with its caller on it; a repeat, or a report about a "
        "call already ended, returns it unchanged. The call comes back as receiveCall's does. "
        "Errors: CONFLICT when it is MISSED, DECLINED or FAILED; BAD_USER_INPUT for an inbound "
        "call (callId) or unless exactly one of externalCallId and callId; NOT_FOUND; FORBIDDEN."
    )
    async def report_call_answered(
        self,
        info: Info,
        input: Annotated[
            ReportCallAnsweredInput, strawberry.argument(description="Which call was answered.")
        ],
    ) -> Call:
        ctx = info.context
        call = await call_resolvers.report_call_answered(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            external_call_id=input.external_call_id,
            call_id=_call_pk(input.call_id),
            new_external_call_id=input.new_external_call_id,
        )
        return await _call_as_seen(ctx, call)

    @strawberry.mutation(
        description="Channel ingestion: the contact declined a ringing outbound call. It "
        "becomes DECLINED and its caller is free; a repeat returns it unchanged. The call comes "
        "back as receiveCall's does. Errors: CONFLICT when it no longer rings; BAD_USER_INPUT "
        "for an inbound call (callId) or unless exactly one of externalCallId and callId; "
        "NOT_FOUND; FORBIDDEN."
    )
    async def report_call_declined(
        self,
        info: Info,
        input: Annotated[
            ReportCallDeclinedInput, strawberry.argument(description="Which call was declined.")
        ],
    ) -> Call:
        ctx = info.context
        call = await call_resolvers.report_call_declined(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            external_call_id=input.external_call_id,
            call_id=_call_pk(input.call_id),
        )
        return await _call_as_seen(ctx, call)

    @strawberry.mutation(
        description="Channel ingestion: an ended call's recording is ready at `url` (recording "
        "READY with its url), or failed (FAILED). A repeat changes nothing. The url is served "
        "only to those who may see the call; the call comes back as receiveCall's does. "
        "Errors: CONFLICT when the call has not ended; BAD_USER_INPUT for a url that is not an "
        "absolute https URL, or one given with failed, or unless exactly one of externalCallId "
        "and callId; NOT_FOUND; FORBIDDEN."
    )
    async def report_call_recording(
        self,
        info: Info,
        input: Annotated[
            ReportCallRecordingInput,
            strawberry.argument(description="Which call, and where its recording is."),
        ],
    ) -> Call:
        ctx = info.context
        call = await call_resolvers.report_call_recording(
            ctx.bus,
            ctx.viewer,
            channel_id=decode_id(input.channel_id, "Channel", field="channelId"),
            external_call_id=input.external_call_id,
            call_id=_call_pk(input.call_id),
            url=input.url,
            failed=input.failed,
        )
        return await _call_as_seen(ctx, call)

    @strawberry.mutation(
        description="Answer a ringing inbound call; assigns an unassigned caller to the viewer. "
        "Errors: CONFLICT when it is no longer ringing (naming who took it) or the viewer is on "
        "another call; NOT_FOUND for a call the viewer may not see; FORBIDDEN without call access."
    )
    async def answer_call(self, info: Info, call_id: CallIdArgument) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.answer_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Decline a ringing inbound call. Errors: CONFLICT when it is no longer "
        "ringing; BAD_USER_INPUT for an outbound call (hang it up with endCall)."
    )
    async def decline_call(self, info: Info, call_id: CallIdArgument) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.decline_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Hang up the viewer's call: an ongoing call ENDS; an outbound call they "
        "placed that still rings is MISSED. The user on the line may hang up even when the "
        "contact has since been hidden from them (its contact then NOT_FOUND, as in "
        "activeCall). Errors: CONFLICT when it is neither; FORBIDDEN when someone else is on "
        "it; NOT_FOUND."
    )
    async def end_call(self, info: Info, call_id: CallIdArgument) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return await _call_as_seen(ctx, await call_resolvers.end_call(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Record the viewer's ongoing call (ready when it ends). Errors: CONFLICT when it "
        "is not ongoing or already recorded; FORBIDDEN when someone else is on it."
    )
    async def start_call_recording(self, info: Info, call_id: CallIdArgument) -> Call:
        ctx = info.context
        pk = decode_id(call_id, "Call", field="callId")
        return Call.from_row(await call_resolvers.start_call_recording(ctx.bus, ctx.viewer, pk))

    @strawberry.mutation(
        description="Call a contact on a WhatsApp or VoIP channel, from the channel's number: the "
        "call is OUTBOUND and RINGING, with the viewer on the line (`activeCall`), until the "
        "contact answers (ONGOING), declines, the call fails or the ring timeout passes "
        "(reported by the connector: reportCallAnswered, reportCallDeclined, reportCallEnded); "
        "endCall gives it up (MISSED). Assigns an unassigned contact to the viewer. Errors: "
        "BAD_USER_INPUT for a messaging-only channel, a blocked contact or one without a number; "
        "CONFLICT when the viewer is on another call; NOT_FOUND; FORBIDDEN without call access."
    )
    async def place_call(
        self,
        info: Info,
        contact_id: Annotated[
            strawberry.ID, strawberry.argument(description="The Contact's id: whom to call.")
        ],
        channel_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The WhatsApp or VoIP Channel's id to call on (the contact's number "
                "is used)."
            ),
        ],
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
        self,
        info: Info,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[Call, None]:
        return call_resolvers.incoming_call_events(info.context, after_sequence, _delivered_call)

    @strawberry.subscription(
        description="Status and recording changes of calls the subscriber can see (answered by "
        "someone, so it leaves the incoming lists; declined, ended, missed, failed), with the "
        "call as it is at delivery and the event's `sequence`: pass the last one received as "
        "`afterSequence` to replay what was missed. FORBIDDEN without call access."
    )
    async def call_updated(
        self,
        info: Info,
        after_sequence: Annotated[
            int | None, strawberry.argument(description=AFTER_SEQUENCE)
        ] = None,
    ) -> AsyncGenerator[Call, None]:
        return call_resolvers.call_update_events(info.context, after_sequence, _delivered_call)


def _delivered_call(row: m.Call, sequence: int) -> Call:
    """A call delivered by a live event, carrying the event's sequence (``Call.sequence``)."""
    return Call.from_row(row, sequence=sequence)


async def _call_as_seen(ctx: Context, row: m.Call) -> Call:
    """A call as the caller may see it: without its numbers and recording, its contact
    ``NOT_FOUND``, when ``node(id)`` would not show the call
    (:func:`graph.resolvers.node.shows`): an ingestion's answer, or the call of the user on the
    line whose contact was since hidden from them."""
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
    "ReportCallAnsweredInput",
    "ReportCallDeclinedInput",
    "ReportCallEndedInput",
    "ReportCallRecordingInput",
]

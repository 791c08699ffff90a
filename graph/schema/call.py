"""Calls: types, enums and inputs (``domain.md`` section 5)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db import models as m
from graph.errors import NotFound
from graph.loaders import related
from graph.permissions import visibility
from graph.permissions.fields import number_as_seen
from graph.relay import encode_cursor, to_global_id
from graph.resolvers.call import CallPage, call_cursor_values
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.core import Node, PageInfo, page_info
from graph.schema.user import User

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

    @strawberry.field(description="When the call ended, was declined, missed or failed (server time, UTC).")
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field(description="Whole seconds from answeredAt to endedAt; null until the call ended.")
    def duration_seconds(self) -> int | None:
        return self.row.duration_seconds

    @strawberry.field(
        description="null when the call was never recorded, or the caller may not see the contact."
    )
    def recording(self) -> CallRecording | None:
        if self.hidden or self.row.recording_state is m.RecordingState.NONE:
            return None
        return CallRecording(state=self.row.recording_state, id=self.row.recording_id)


@strawberry.type
class CallEdge:
    cursor: str
    node: Call


@strawberry.type(description="A page of calls, newest first.")
class CallConnection:
    edges: list[CallEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: CallPage) -> CallConnection:
        cursors = [encode_cursor(call_cursor_values(row)) for row in page.rows]
        return cls(
            edges=[CallEdge(cursor=c, node=Call.from_row(r)) for c, r in zip(cursors, page.rows, strict=True)],
            page_info=page_info(cursors, page.has_next, page.has_previous),
        )


@strawberry.input(description="A ringing inbound call reported by a channel connector.")
class ReceiveCallInput:
    channel_id: strawberry.ID = strawberry.field(description="A WhatsApp or VoIP channel.")
    from_: str = strawberry.field(name="from", description="The caller's number, E.164.")
    external_call_id: str = strawberry.field(
        description="The provider's call id; (channelId, externalCallId) identifies the call."
    )
    to: str | None = strawberry.field(default=None, description="The workspace number called, E.164.")
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


__all__ = [
    "Call",
    "CallConnection",
    "CallEdge",
    "CallDirection",
    "CallRecording",
    "CallStatus",
    "IncomingCallTab",
    "ReceiveCallInput",
    "RecordingState",
    "ReportCallEndedInput",
]

"""Calls: ingestion, moves, automatic assignment, the incoming-calls list and the call log
(``domain.md`` section 5).

Every mutation of a call is a move of THE call lifecycle (:mod:`graph.resolvers.call_lifecycle`:
its table, its one transition function, its activities and events); this module checks who
may make it and on which call, then makes it. ``placeCall`` creates an ``OUTBOUND`` call that
rings, with its caller on the line, until the connector reports that the far end answered
(``reportCallAnswered``: ``ONGOING``, ``answeredAt`` is that moment), declined
(``reportCallDeclined``), failed or hung up (``reportCallEnded``), or the ring timeout passes
(``MISSED``); its caller may hang up meanwhile (``endCall``: ``MISSED``). Connectors name an
inbound call by its ``externalCallId``, an outbound one (which the workspace started) by its
``callId``, or by the ``externalCallId`` it reported when answered (``domain.md`` section 5).

A calling channel's own number (``Channel.phone_number``) fills the numbers a connector does
not give: the called number of an inbound call reported without ``to``, the calling number of
every outbound call.

Answering and placing lock the contact row first (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite
serialises writers). The unique ``call.ongoing_user_id`` keeps a user on at most one call: a
concurrent second answer or placement fails the constraint, and the retried transaction
reports the call the user is on.

All times are server times in UTC; durations are whole seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from tortoise.expressions import Subquery

from db.models import (
    CALL_ORDER,
    Call,
    CallDirection,
    CallStatus,
    Channel,
    ChannelIdentity,
    ChannelType,
    Contact,
    Conversation,
    RecordingState,
    Workspace,
)
from db.normalize import normalise_phone
from graph.errors import BadUserInput, Conflict, FieldErrors, Forbidden, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import (
    IncomingCallTab,
    call_scope,
    contact_scope,
    incoming_call_scope,
    incoming_call_subscription_scope,
    may_handle_calls,
    may_see_incoming_call_tab,
    require_call_access,
)
from graph.relay import MAX_PAGE_SIZE, Page, PageRequest, to_global_id
from graph.resolvers.call_lifecycle import (
    TRANSITIONS,
    Move,
    check_move,
    conflict,
    transition,
    user_name,
)
from graph.resolvers.contact import may_see, refuse_blocked, visible_contact
from graph.resolvers.conversation import contact_for_handle, normalise_handle
from graph.resolvers.inbox import resolve_inbox
from graph.subscriptions import contact_events

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.context import Context
    from graph.idempotency import Once
    from graph.live import EventBus, LiveEvent, Transaction
    from graph.loaders import Loaders
    from graph.permissions.visibility import Scope, Viewer
    from graph.subscriptions import LiveStream

T = TypeVar("T")

_CALL_REMEDY = "unblock it to call."
"""What a blocked contact's refusal to be called says (``refuse_blocked``)."""


async def visible_call(
    viewer: Viewer,
    call_id: int,
    *,
    connection: BaseDBAsyncClient | None = None,
    field: str = "callId",
    for_update: bool = False,
    on_the_line: bool = False,
) -> tuple[Call, Contact]:
    """The call ``call_id`` and its contact, if ``viewer`` may see them.

    A call is visible exactly when its contact is (``domain.md`` section 1) and the viewer has
    call access (section 5). With ``on_the_line``, the user on the call (``ongoing_user_id``)
    also finds it when its contact has since been hidden from them (reassigned away), so that
    they may hang up (:func:`end_call`). With ``for_update`` (in ``connection``'s transaction)
    the contact row is locked first and the call read after it: every move that races another
    locks the contact before the call, so that two of them never wait for each other.

    Raises:
        Forbidden: the viewer has no call access.
        NotFound: naming ``field``: the call does not exist, is in another workspace, or its
            contact is hidden from the viewer (who is not on the line, with ``on_the_line``).
    """
    require_call_access(viewer)

    def calls() -> Any:
        query = Call.filter(id=call_id, workspace_id=viewer.workspace_id)
        return query.using_db(connection) if connection is not None else query

    call = await calls().first()
    contact = None
    if call is not None:
        contacts = Contact.filter(id=call.contact_id)
        if connection is not None:
            contacts = contacts.using_db(connection)
        if for_update:
            contacts = contacts.select_for_update()
        contact = await contacts.first()
        if for_update:
            call = await calls().first()
    if call is None or contact is None:
        raise NotFound("Call", field=field)
    if not may_see(viewer, contact) and not (on_the_line and is_on_the_line(viewer, call)):
        raise NotFound("Call", field=field)
    return call, contact


def is_on_the_line(viewer: Viewer, call: Call) -> bool:
    """Whether ``viewer`` is the user on ``call``: on it while it is ongoing, or waiting on the
    outbound call they placed (``ongoing_user_id``; ``domain.md`` section 5)."""
    return call.ongoing_user_id == viewer.user_id


async def _ensure_free(tx: Transaction, viewer: Viewer, except_call_id: int | None = None) -> None:
    """Refuse when the viewer is already on an ongoing call (``domain.md`` section 5)."""
    busy = Call.filter(ongoing_user_id=viewer.user_id).using_db(tx.connection)
    if except_call_id is not None:
        busy = busy.exclude(id=except_call_id)
    current = await busy.first()
    if current is not None:
        raise Conflict(
            "You are already on a call: end it before taking another.",
            callId=to_global_id("Call", current.id),
        )


def _phone(raw: str, field: str) -> str:
    """``raw`` as an E.164 number.

    Raises:
        BadUserInput: naming ``field`` when it is not a valid international number.
    """
    try:
        return normalise_phone(raw)[0]
    except ValueError:
        raise BadUserInput(
            f"`{field}` is not a valid international phone number.", field=field
        ) from None


def channel_phone_number(channel_type: ChannelType, raw: str | None) -> str | None:
    """A calling channel's own number (``Channel.phone_number``), E.164; ``None`` for none.

    Raises:
        BadUserInput: naming ``phoneNumber``: not a valid international number, or a number
            for a channel that carries no calls.
    """
    if raw is None:
        return None
    if not channel_type.supports_calls:
        raise BadUserInput(
            f"{channel_type.value} channels carry no calls: they have no `phoneNumber`.",
            field="phoneNumber",
        )
    return _phone(raw, "phoneNumber")


async def _calling_channel(viewer: Viewer, channel_id: int) -> Channel:
    channel = await Channel.filter(id=channel_id, workspace_id=viewer.workspace_id).first()
    if channel is None:
        raise NotFound("Channel", field="channelId")
    if not channel.type.supports_calls:
        raise BadUserInput(
            f"{channel.type.value} channels carry no calls: use a WhatsApp or VoIP channel.",
            field="channelId",
        )
    return channel


def _external_id(value: str | None) -> str:
    value = (value or "").strip()
    if not value or len(value) > 255:
        raise BadUserInput("`externalCallId` must be 1 to 255 characters.", field="externalCallId")
    return value


async def receive_call(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    sender: str,
    external_call_id: str,
    to: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> Call:
    """Ingest a ringing inbound call from a channel connector (``domain.md`` section 5).

    Idempotent on ``(channel, externalCallId)``: a repeat returns the stored call, whatever
    its status, and changes nothing. A new caller number becomes a contact (its phone in
    E.164, country from the number). Concurrent deliveries are safe: the unique constraints
    on the call and the channel identity fail the later writer, whose transaction is retried
    and finds the first one's rows.

    Args:
        sender: the caller's number (E.164, spaces allowed), ``from`` in the API.
        to: the workspace number called (E.164); the channel's own number when omitted.

    Returns:
        The ``RINGING`` ``INBOUND`` call (``ringingAt`` is the server time, UTC).

    Raises:
        Forbidden: the caller is not an owner or manager (or their integration token).
        NotFound: the channel is not in the workspace (``channelId``).
        BadUserInput: a channel that carries no calls (``channelId``); a malformed number
            (``from``, ``to``), id (``externalCallId``) or name, every one at once.
    """
    if not viewer.is_admin:
        raise Forbidden("Only owners, managers and their integration tokens may ingest calls.")
    channel = await _calling_channel(viewer, channel_id)
    errors = FieldErrors()
    handle, implied, to_number = "", {}, None
    with errors.collect():
        external_call_id = _external_id(external_call_id)
    for name, value in (("firstName", first_name), ("lastName", last_name)):
        with errors.collect():
            if value is not None and len(value) > 120:
                raise BadUserInput(f"`{name}` must be at most 120 characters.", field=name)
    with errors.collect():
        handle, implied = normalise_handle(channel, sender)
    with errors.collect():
        to_number = _phone(to, "to") if to else None
    errors.raise_if_any()

    async def operation(tx: Transaction) -> Call:
        conn = tx.connection
        existing = (
            await Call.filter(channel_id=channel.id, external_call_id=external_call_id)
            .using_db(conn)
            .first()
        )
        if existing is not None:
            return existing
        contact = await contact_for_handle(
            tx, channel, handle, implied, first_name=first_name, last_name=last_name
        )
        now = datetime.now(UTC)
        call, _ = await transition(
            tx,
            Move.RECEIVE,
            contact=contact,
            at=now,
            workspace_id=viewer.workspace_id,
            contact_id=contact.id,
            channel_id=channel.id,
            direction=CallDirection.INBOUND,
            from_number=handle,
            to_number=to_number or channel.phone_number,
            external_call_id=external_call_id,
            ringing_at=now,
        )
        return call

    return await write(bus, viewer.workspace_id, operation)


def _call_reference(
    external_call_id: str | None, call_id: int | None
) -> tuple[str | None, int | None]:
    """A connector's reference to a call: its ``externalCallId`` or its ``callId``, exactly one.

    Raises:
        BadUserInput: neither or both (``externalCallId``), a malformed ``externalCallId``.
    """
    if (external_call_id is None) == (call_id is None):
        raise BadUserInput(
            "Name the call by its `externalCallId` or by its `callId`: exactly one of them.",
            field="externalCallId",
        )
    return (_external_id(external_call_id) if call_id is None else None), call_id


Decision = tuple[Move, int | None, dict[str, Any]] | None
"""What a connector's report does to a call: the move, its author (a user id or ``None``) and
the call's changes; ``None``: nothing (the report was already applied)."""


async def _report(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    external_call_id: str | None,
    call_id: int | None,
    decide: Callable[[Call, datetime, BaseDBAsyncClient], Awaitable[Decision]],
    checks: Callable[[], None] | None = None,
) -> Call:
    """Apply a channel connector's report about one call of the channel (``domain.md`` section
    5): ``decide(call, now, connection)`` says which move it makes, made on the call as it is once its
    contact is locked. When another writer moved the call meanwhile, the report is decided
    again on the call as it is then (a repeat is then a no-op, a contradiction a
    ``CONFLICT``).

    Raises:
        Forbidden: the caller is not an owner or manager (or their integration token).
        NotFound: the channel (``channelId``); no such call on it (``externalCallId`` or
            ``callId``).
        BadUserInput: a channel that carries no calls, a malformed or missing reference, what
            ``checks`` raise; all at once (:class:`graph.errors.FieldErrors`).
        Conflict: what ``decide`` raises.
    """
    if not viewer.is_admin:
        raise Forbidden("Only owners, managers and their integration tokens may report calls.")
    errors = FieldErrors()  # the channel, the call's reference and the report, together
    with errors.collect():
        channel = await _calling_channel(viewer, channel_id)
    with errors.collect():
        external_call_id, call_id = _call_reference(external_call_id, call_id)
    if checks is not None:
        with errors.collect():
            checks()
    errors.raise_if_any()
    if call_id is not None:
        lookup, field = {"id": call_id}, "callId"
    else:
        lookup, field = {"external_call_id": external_call_id}, "externalCallId"

    async def operation(tx: Transaction) -> Call:
        conn = tx.connection
        call = await Call.filter(channel_id=channel.id, **lookup).using_db(conn).first()
        if call is None:
            raise NotFound("Call", field=field)
        contact = (
            await Contact.filter(id=call.contact_id).using_db(conn).select_for_update().first()
        )
        for _ in range(2):  # the second time: another writer moved it first
            call = await Call.get(id=call.id).using_db(conn)
            decision = await decide(call, datetime.now(UTC), conn)
            if decision is None:
                return call
            move, author_id, changes = decision
            call, moved = await transition(
                tx,
                move,
                call=call,
                contact=contact,
                author_id=author_id,
                at=datetime.now(UTC),
                strict=False,
                **changes,
            )
            if moved:
                return call
        return call

    return await write(bus, viewer.workspace_id, operation)


async def report_call_ended(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    external_call_id: str | None = None,
    call_id: int | None = None,
    failed: bool = False,
) -> Call:
    """The channel connector reports that the far end hung up, or that the call failed.

    A ``RINGING`` call becomes ``MISSED`` (the caller hung up, or the called contact did not
    pick up; ``FAILED`` with ``failed``); an ``ONGOING`` call becomes ``ENDED`` (its duration
    counts until now) and frees the user who was on it. A call already final is returned
    unchanged, so connectors may retry their webhooks. ``endedAt`` is the server time, UTC.

    Raises:
        As :func:`_report`.
    """

    async def decide(call: Call, now: datetime, connection: BaseDBAsyncClient) -> Decision:
        if call.status is CallStatus.RINGING:
            return (Move.FAIL if failed else Move.MISS), None, {"ended_at": now}
        if call.status is CallStatus.ONGOING:
            return Move.END, call.answered_by_id, _ending(call, now)
        return None

    return await _report(
        bus,
        viewer,
        channel_id=channel_id,
        external_call_id=external_call_id,
        call_id=call_id,
        decide=decide,
    )


def _outbound(call: Call, how: str) -> None:
    if call.direction is not CallDirection.OUTBOUND:
        raise BadUserInput(
            f"Only outbound calls are reported {how} by the far end: users answer and decline "
            "inbound calls (answerCall, declineCall).",
            field="callId",
        )


async def report_call_answered(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    call_id: int | None = None,
    external_call_id: str | None = None,
    new_external_call_id: str | None = None,
) -> Call:
    """The channel connector reports that the contact picked up a ringing outbound call: it is
    ``ONGOING`` (``answeredAt`` = server time, UTC) with its caller on it, with a
    ``CALL_ANSWERED`` activity authored by the caller and a ``call.updated`` event. A repeat,
    or a report about a call already ended, returns it unchanged.

    Args:
        new_external_call_id: the provider's id of the call, recorded when the call has none
            yet, so that later reports may name it by ``externalCallId``.

    Raises:
        As :func:`_report`; and BadUserInput: an inbound call (``callId``), a malformed
        ``newExternalCallId``. Conflict: the call is already ``MISSED``, ``DECLINED`` or
        ``FAILED`` (``extensions.status``).
    """
    recorded: dict[str, Any] = {}

    def checks() -> None:
        if new_external_call_id is not None:
            try:
                recorded["external_call_id"] = _external_id(new_external_call_id)
            except BadUserInput as error:
                raise BadUserInput(
                    str(error).replace("`externalCallId`", "`newExternalCallId`"),
                    field="newExternalCallId",
                ) from None

    async def decide(call: Call, now: datetime, connection: BaseDBAsyncClient) -> Decision:
        _outbound(call, "answered")
        if call.status in (CallStatus.ONGOING, CallStatus.ENDED):
            return None
        if call.status is not CallStatus.RINGING:
            raise Conflict(
                f"This call is {call.status.value}: it cannot be answered.",
                status=call.status.value,
            )
        changes: dict[str, Any] = {"answered_at": now}
        if call.external_call_id is None and recorded:
            taken = Call.filter(
                channel_id=call.channel_id, external_call_id=recorded["external_call_id"]
            )
            if await taken.using_db(connection).exists():
                raise BadUserInput(
                    "`newExternalCallId` already names another call on this channel.",
                    field="newExternalCallId",
                )
            changes["external_call_id"] = recorded["external_call_id"]
        return Move.CONNECT, call.answered_by_id, changes

    return await _report(
        bus,
        viewer,
        channel_id=channel_id,
        external_call_id=external_call_id,
        call_id=call_id,
        decide=decide,
        checks=checks,
    )


async def report_call_declined(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    call_id: int | None = None,
    external_call_id: str | None = None,
) -> Call:
    """The channel connector reports that the contact declined a ringing outbound call: it is
    ``DECLINED`` (``endedAt`` = server time, UTC), its caller is free, with a ``CALL_DECLINED``
    activity without author and a ``call.updated`` event. A repeat returns it unchanged.

    Raises:
        As :func:`_report`; and BadUserInput: an inbound call (``callId``). Conflict: the call
        is no longer ringing (``extensions.status``).
    """

    async def decide(call: Call, now: datetime, connection: BaseDBAsyncClient) -> Decision:
        _outbound(call, "declined")
        if call.status is CallStatus.DECLINED:
            return None
        if call.status is not CallStatus.RINGING:
            raise Conflict(
                f"This call is {call.status.value}: it cannot be declined.",
                status=call.status.value,
            )
        return Move.DECLINE, None, {"ended_at": now}

    return await _report(
        bus,
        viewer,
        channel_id=channel_id,
        external_call_id=external_call_id,
        call_id=call_id,
        decide=decide,
    )


MAX_RECORDING_URL = 2048
"""The longest recording URL a connector may report (characters)."""


def _recording_url(url: str | None, failed: bool) -> str | None:
    """``url`` checked: an absolute ``https`` URL of at most :data:`MAX_RECORDING_URL`
    characters, given exactly when the recording did not fail.

    Raises:
        BadUserInput: naming ``url``.
    """
    if failed:
        if url is not None:
            raise BadUserInput("A failed recording has no `url`: omit it.", field="url")
        return None
    value = (url or "").strip()
    parts = urlsplit(value)
    if len(value) > MAX_RECORDING_URL or parts.scheme != "https" or not parts.netloc:
        raise BadUserInput(
            f"`url` must be an absolute https URL of at most {MAX_RECORDING_URL} characters.",
            field="url",
        )
    return value


async def report_call_recording(
    bus: EventBus,
    viewer: Viewer,
    *,
    channel_id: int,
    external_call_id: str | None = None,
    call_id: int | None = None,
    url: str | None = None,
    failed: bool = False,
) -> Call:
    """The channel connector reports an ended call's finished recording: its ``url``
    (``recording { state: READY, url }``), or that it could not be made (``FAILED``). A
    recording the provider made unasked gets an id too. One ``call.updated`` event, no
    activity; a repeat of the same report changes nothing.

    Raises:
        As :func:`_report`; and BadUserInput: a ``url`` that is not an absolute https URL, or
        one given with ``failed`` (``url``). Conflict: the call has not ended (a recording is
        reported once it has; ``extensions.status``).
    """
    clean: dict[str, str | None] = {}

    def checks() -> None:
        clean["url"] = _recording_url(url, failed)

    async def decide(call: Call, now: datetime, connection: BaseDBAsyncClient) -> Decision:
        state = RecordingState.FAILED if failed else RecordingState.READY
        if call.status is not CallStatus.ENDED:
            raise Conflict(
                f"This call is {call.status.value}: its recording is reported once it ended.",
                status=call.status.value,
            )
        if call.recording_state is state and call.recording_url == clean["url"]:
            return None
        changes: dict[str, Any] = {"recording_state": state, "recording_url": clean["url"]}
        if call.recording_id is None:
            changes["recording_id"] = _new_recording_id()
        return Move.RECORDING_DONE, None, changes

    return await _report(
        bus,
        viewer,
        channel_id=channel_id,
        external_call_id=external_call_id,
        call_id=call_id,
        decide=decide,
        checks=checks,
    )


def _new_recording_id() -> str:
    return f"REC{uuid.uuid4().hex}"


def _ending(call: Call, now: datetime) -> dict[str, Any]:
    """The changes that end an ongoing call: a recording in progress is then ready."""
    changes: dict[str, Any] = {"ended_at": now, "ongoing_user_id": None}
    if call.recording_state is RecordingState.RECORDING:
        changes["recording_state"] = RecordingState.READY
    return changes


async def answer_call(bus: EventBus, viewer: Viewer, call_id: int) -> Call:
    """Answer a ringing inbound call (``domain.md`` section 5).

    Exactly one of several users answering at once wins: the contact row is locked, then the
    call moves only if it is still ``RINGING`` (conditional UPDATE). The winner is on the call
    (``answeredBy``, ``answeredAt`` = server time, UTC); an unassigned contact is assigned to
    them in the same transaction (one ``CONTACT_ASSIGNED`` activity, one ``contact.assigned``
    event); an assigned contact keeps its assignee.

    Raises:
        Forbidden: no call access.
        NotFound: the call is unknown, foreign, or its contact hidden from the viewer
            (``callId``).
        BadUserInput: the caller is a blocked contact (``callId``).
        Conflict: the call is no longer ringing (``extensions.status``; when someone answered
            it, the message names them and ``extensions.answeredBy`` is their id), or the viewer
            is already on a call (``extensions.callId``).
    """
    call, _ = await visible_call(viewer, call_id)
    if call.direction is not CallDirection.INBOUND:
        raise BadUserInput("Only inbound calls are answered.", field="callId")
    await check_move(call, Move.ANSWER)

    async def operation(tx: Transaction) -> Call:
        conn = tx.connection
        locked = await Contact.filter(id=call.contact_id).using_db(conn).select_for_update().first()
        if not may_see(viewer, locked):
            raise NotFound("Call", field="callId")
        if locked.blocked:
            raise BadUserInput(
                "The caller is a blocked contact: unblock it to answer.", field="callId"
            )
        await _ensure_free(tx, viewer, except_call_id=call.id)
        now = datetime.now(UTC)
        current, _ = await transition(
            tx,
            Move.ANSWER,
            call=call,
            contact=locked,
            author_id=viewer.user_id,
            at=now,
            answered_by_id=viewer.user_id,
            ongoing_user_id=viewer.user_id,
            answered_at=now,
        )
        return current

    return await write(bus, viewer.workspace_id, operation)


async def decline_call(bus: EventBus, viewer: Viewer, call_id: int) -> Call:
    """Decline a ringing inbound call: it becomes ``DECLINED`` (``endedAt`` = server time, UTC),
    with a ``CALL_DECLINED`` activity authored by the viewer.

    Raises:
        Forbidden: no call access. NotFound: as :func:`answer_call`.
        BadUserInput: an outbound call (``callId``).
        Conflict: the call is no longer ringing (``extensions.status``).
    """
    call, _ = await visible_call(viewer, call_id)
    if call.direction is not CallDirection.INBOUND:
        raise BadUserInput(
            "Only inbound calls are declined: hang up an outbound call with endCall.",
            field="callId",
        )
    await check_move(call, Move.DECLINE)

    async def operation(tx: Transaction) -> Call:
        current, contact = await visible_call(
            viewer, call_id, connection=tx.connection, for_update=True
        )
        now = datetime.now(UTC)
        current, _ = await transition(
            tx,
            Move.DECLINE,
            call=current,
            contact=contact,
            author_id=viewer.user_id,
            at=now,
            ended_at=now,
        )
        return current

    return await write(bus, viewer.workspace_id, operation)


async def _own_ongoing(
    viewer: Viewer, call: Call, move: Move, connection: BaseDBAsyncClient | None = None
) -> None:
    """Only the user on the line (``ongoing_user_id``: on an ongoing call, or waiting on the
    outbound call they placed) may end or record the call.

    Raises:
        Conflict: ``move`` is not allowed from the call's status
            (:func:`graph.resolvers.call_lifecycle.check_move`).
        Forbidden: someone else is on the call.
    """
    await check_move(call, move, connection)
    if not is_on_the_line(viewer, call):
        who = await user_name(call.answered_by_id, connection)
        raise Forbidden(f"Only {who}, who is on this call, may have it {TRANSITIONS[move].action}.")


def _hang_up(call: Call) -> Move:
    """What ``endCall`` does: end an ongoing call, or give up an outbound call still ringing
    (``MISSED``: nobody answered)."""
    if call.status is CallStatus.RINGING and call.direction is CallDirection.OUTBOUND:
        return Move.MISS
    return Move.END


async def end_call(bus: EventBus, viewer: Viewer, call_id: int) -> Call:
    """Hang up the viewer's call. An ongoing call is ``ENDED``: ``endedAt`` = server time
    (UTC), ``durationSeconds`` from ``answeredAt``; a recording in progress becomes ``READY``.
    An outbound call the viewer placed that still rings is ``MISSED`` (nobody answered), with
    a ``CALL_MISSED`` activity authored by the viewer; when the contact picks up meanwhile,
    the call it then is is ended. Either way the viewer is free. The user on the line may
    hang up even when the contact has since been hidden from them (reassigned away): they are
    not left on a call they cannot end.

    Raises:
        Forbidden: no call access, or someone else is on the call.
        NotFound: as :func:`answer_call`, to anyone but the user on the line.
        Conflict: the call is neither ongoing nor an outbound call ringing
            (``extensions.status``).
    """
    call, _ = await visible_call(viewer, call_id, on_the_line=True)
    await _own_ongoing(viewer, call, _hang_up(call))

    async def operation(tx: Transaction) -> Call:
        current, contact = await visible_call(
            viewer, call_id, connection=tx.connection, for_update=True, on_the_line=True
        )
        # twice at most: the contact may pick up while the caller hangs up, which then ends
        # the call it finds ongoing
        for _ in range(2):
            move = _hang_up(current)
            await _own_ongoing(viewer, current, move, tx.connection)
            now = datetime.now(UTC)
            changes = _ending(current, now) if move is Move.END else {"ended_at": now}
            current, moved = await transition(
                tx,
                move,
                call=current,
                contact=contact,
                author_id=viewer.user_id,
                at=now,
                strict=False,
                **changes,
            )
            if moved:
                return current
        raise await conflict(current, TRANSITIONS[move].action, tx.connection)

    return await write(bus, viewer.workspace_id, operation)


async def start_call_recording(bus: EventBus, viewer: Viewer, call_id: int) -> Call:
    """Start recording the viewer's ongoing call: ``recording { state: RECORDING, id }``; the
    recording is ``READY`` when the call ends.

    Raises:
        Forbidden: no call access, or someone else is on the call.
        NotFound: as :func:`answer_call`.
        Conflict: the call is not ongoing (``extensions.status``), or already recorded
            (``extensions.recordingState``).
    """
    call, _ = await visible_call(viewer, call_id)
    await _own_ongoing(viewer, call, Move.RECORD)

    async def operation(tx: Transaction) -> Call:
        # the contact's lock orders this after an endCall under way, which read the recording
        # state to plan the end (``_ending``): a recording started beside it would stay
        # RECORDING on the ended call
        current, contact = await visible_call(
            viewer, call_id, connection=tx.connection, for_update=True
        )
        await _own_ongoing(viewer, current, Move.RECORD, tx.connection)
        if current.recording_state is not RecordingState.NONE:
            raise Conflict(
                f"This call's recording is already {current.recording_state.value}.",
                status=current.status.value,
                recordingState=current.recording_state.value,
            )
        current, _ = await transition(
            tx,
            Move.RECORD,
            call=current,
            contact=contact,
            at=datetime.now(UTC),
            when={"recording_state": RecordingState.NONE},
            recording_state=RecordingState.RECORDING,
            recording_id=_new_recording_id(),
        )
        return current

    return await write(bus, viewer.workspace_id, operation)


async def _number_to_call(contact: Contact, channel: Channel) -> str:
    handle = await ChannelIdentity.filter(contact_id=contact.id, channel_id=channel.id).values_list(
        "handle", flat=True
    )
    number = handle[0] if handle else contact.phone
    if not number:
        raise BadUserInput("The contact has no phone number to call.", field="contactId")
    return number


async def place_call(
    bus: EventBus, viewer: Viewer, contact_id: int, channel_id: int, *, once: Once | None = None
) -> Call:
    """Call a contact on a calling channel (``domain.md`` section 5).

    The call is ``OUTBOUND`` and ``RINGING`` (``ringingAt`` = server time, UTC), with the
    viewer on the line (``answeredBy``; :func:`active_call`) until the connector reports the
    far end's answer (``ONGOING``), decline, failure or hang-up, the ring timeout passes
    (``MISSED``) or the viewer hangs up (:func:`end_call`). The number called is the contact's
    handle on that channel, else its phone; the calling number is the channel's own. An
    unassigned contact is assigned to the viewer in the same
    transaction (one activity, one event); an assigned one keeps its assignee. ``once``: the
    request's idempotency key (:mod:`graph.idempotency`).

    Raises:
        Forbidden: no call access.
        NotFound: the contact is hidden or unknown (``contactId``), the channel unknown
            (``channelId``).
        BadUserInput: a messaging-only channel (``channelId``), a blocked contact or one
            without a phone number (``contactId``).
        InvalidInput: several of the above at once, one error per argument
            (:class:`graph.errors.FieldErrors`).
        Conflict: the viewer is already on a call (``extensions.callId``).
    """
    require_call_access(viewer)
    errors = FieldErrors()  # the contact and the channel reported together
    with errors.collect():
        contact = await visible_contact(viewer, contact_id)
        refuse_blocked(contact, _CALL_REMEDY)
    with errors.collect():
        channel = await _calling_channel(viewer, channel_id)
    errors.raise_if_any()
    number = await _number_to_call(contact, channel)

    async def operation(tx: Transaction) -> Call:
        locked = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        refuse_blocked(locked, _CALL_REMEDY)
        await _ensure_free(tx, viewer)
        now = datetime.now(UTC)
        call, _ = await transition(
            tx,
            Move.PLACE,
            contact=locked,
            author_id=viewer.user_id,
            at=now,
            workspace_id=viewer.workspace_id,
            contact_id=locked.id,
            channel_id=channel.id,
            direction=CallDirection.OUTBOUND,
            answered_by_id=viewer.user_id,
            ongoing_user_id=viewer.user_id,
            from_number=channel.phone_number,
            to_number=number,
            ringing_at=now,
        )
        return call

    return await write(bus, viewer.workspace_id, operation, once=once)


async def active_call(viewer: Viewer) -> Call | None:
    """The viewer's call in progress, for the active call card (``domain.md`` section 5): the
    outbound call they placed while it rings, or the call they are on while it is ongoing;
    ``None`` when they are on no call (a user is on at most one). The call stays theirs when
    its contact has since been hidden from them (reassigned away), so that they can hang up;
    what they then see of it is the caller's (``graph.schema.call``: the contact NOT_FOUND).

    Raises:
        Forbidden: no call access.
    """
    require_call_access(viewer)
    return await Call.filter(
        workspace_id=viewer.workspace_id, ongoing_user_id=viewer.user_id
    ).first()


async def incoming_calls(viewer: Viewer, tab: IncomingCallTab) -> list[Call]:
    """The ringing inbound calls of one tab, longest ringing first, at most 100
    (``domain.md`` section 5), within the visibility policy
    (:func:`graph.permissions.visibility.incoming_call_scope`).

    Raises:
        Forbidden: no call access, or a tab the viewer's restriction does not allow
            (``SELF`` agents: only ``ASSIGNED_TO_ME``; ``TEAM`` agents: not ``UNASSIGNED``).
    """
    require_call_access(viewer)
    if not may_see_incoming_call_tab(viewer, tab):
        raise Forbidden(
            f"The {tab.value} tab of incoming calls is not available to you.", field="tab"
        )
    scope = incoming_call_scope(viewer, tab)
    return await (
        Call.filter(
            workspace_id=viewer.workspace_id,
            status=CallStatus.RINGING,
            direction=CallDirection.INBOUND,
        )
        .filter(scope.q("contact__"))
        .order_by("ringing_at", "id")
        .limit(MAX_PAGE_SIZE)
    )


def call_cursor_values(row: Call) -> list[Any]:
    """A call's keyset values in :data:`db.models.CALL_ORDER` (what its cursor encodes)."""
    return [row.ringing_at, row.id]


async def call_log(
    viewer: Viewer, inbox: Any | None, request: PageRequest, loaders: Loaders | None = None
) -> Page[Call]:
    """The call log of the ``CALLS`` view (``domain.md`` sections 4 and 5): every call, inbound
    and outbound, whatever its status, newest first (``ringingAt``, then id), the page ``request``
    asks for (keyset, both ways), within the selected inbox; ``totalCount`` counts the
    same rows. With ``loaders``, each call's contact and channel and the users the calls and
    contacts name are read with the page (:meth:`graph.loaders.Loaders.read_with`).

    An inbox holds the calls of the contacts it holds for the viewer
    (:func:`graph.resolvers.inbox.resolve_inbox`, the same policy as the ``CHATS`` view): a
    standard or team inbox by assignee and never a blocked contact, the blocked inbox only
    blocked contacts, a custom inbox the contacts with a conversation its filter matches;
    without an inbox, every contact the viewer may see (``domain.md`` section 1).

    Raises:
        Forbidden: no call access; an inbox the viewer's restriction hides.
        NotFound: an unknown team or custom inbox.
        BadUserInput: a malformed selector.
    """
    require_call_access(viewer)
    query = Call.filter(workspace_id=viewer.workspace_id)
    if inbox is None:
        query = query.filter(contact_scope(viewer).q("contact__"))
    else:
        ref = await resolve_inbox(viewer, inbox)
        query = query.filter(ref.scope.q("contact__"))
        if ref.filter is not None:
            matching = Conversation.filter(workspace_id=viewer.workspace_id).filter(ref.filter)
            query = query.filter(contact_id__in=Subquery(matching.values("contact_id")))
    rows = await request.read(
        query, CALL_ORDER, loaders, contact="contact_id", channel="channel_id"
    )
    return Page.of(rows, request, call_cursor_values, query.count)


async def contact_calls(
    viewer: Viewer, loaders: Loaders, contact: Contact, request: PageRequest
) -> Page[Call]:
    """Every call of a contact the viewer sees, newest first, the page ``request`` asks for
    (``domain.md`` section 5, call activities: each with its outcome, direction, times and
    duration). Batched: the contacts of one response share one query
    (:meth:`Loaders.calls_of_contact`), and one count.

    Users without call access see no calls (an empty page), like ``node(id)`` shows them no call.
    """
    if not may_handle_calls(viewer):
        return Page.empty()
    rows = await loaders.calls_of_contact(request).load(contact.id)
    page = Page.of(
        rows,
        request,
        call_cursor_values,
        lambda: loaders.count_of(Call, "contact_id").load(contact.id),
    )
    await loaders.preload_users(page.rows)
    return page


MAX_RING_TIMEOUT_SECONDS = 600
"""The longest ring timeout a workspace may set. The shortest is a deployment setting
(``INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS``, 5 by default, :class:`graph.settings.Settings`)."""


def clean_ring_timeout(seconds: int, shortest: int) -> int:
    """A workspace's ``callRingTimeoutSeconds`` (``domain.md`` section 5), checked.

    Args:
        seconds: the timeout asked for.
        shortest: the deployment's shortest allowed timeout, in seconds.

    Raises:
        BadUserInput: outside ``shortest`` to :data:`MAX_RING_TIMEOUT_SECONDS` seconds
            (``callRingTimeoutSeconds``).
    """
    if not shortest <= seconds <= MAX_RING_TIMEOUT_SECONDS:
        raise BadUserInput(
            f"`callRingTimeoutSeconds` must be between {shortest} and {MAX_RING_TIMEOUT_SECONDS} seconds.",
            field="callRingTimeoutSeconds",
        )
    return seconds


async def miss_unanswered_calls(
    bus: EventBus | None, *, shortest_timeout: int, limit: int = 500
) -> int:
    """The ring-timeout sweep (``domain.md`` section 5): every call still ``RINGING`` after its
    workspace's ``callRingTimeoutSeconds`` (default 45) becomes ``MISSED`` (``endedAt`` = the
    sweep's server time, UTC), with one ``CALL_MISSED`` activity and one ``call.updated``
    event: an inbound call nobody answered, or an outbound call the contact did not pick up
    (its caller is then free).

    Args:
        shortest_timeout: the shortest timeout a workspace may have (the deployment's
            setting, seconds): calls ringing for less are not looked at.

    Safe with several server workers sweeping at once: each move is a conditional UPDATE, so
    exactly one sweep (or one answer, decline or connector report) moves a call; the others
    write nothing.

    Returns:
        How many calls this sweep moved.
    """
    now = datetime.now(UTC)
    workspace_ids = (
        await Call.filter(
            status=CallStatus.RINGING, ringing_at__lte=now - timedelta(seconds=shortest_timeout)
        )
        .distinct()
        .values_list("workspace_id", flat=True)
    )
    timeouts = dict(
        await Workspace.filter(id__in=set(workspace_ids)).values_list(
            "id", "call_ring_timeout_seconds"
        )
    )
    missed = 0
    for workspace_id, timeout in sorted(timeouts.items()):
        expired = (
            await Call.filter(
                workspace_id=workspace_id,
                status=CallStatus.RINGING,
                ringing_at__lte=now - timedelta(seconds=timeout),
            )
            .order_by("ringing_at", "id")
            .limit(limit)
            .values_list("id", flat=True)
        )
        for call_id in expired:

            async def operation(tx: Transaction, call_id: int = call_id) -> bool:
                call = await Call.filter(id=call_id).using_db(tx.connection).first()
                if call is None:
                    return False
                # the contact first, as every move that races this one locks it
                await (
                    Contact.filter(id=call.contact_id)
                    .using_db(tx.connection)
                    .select_for_update()
                    .first()
                )
                ended_at = datetime.now(UTC)
                # not moved: answered, declined or swept elsewhere meanwhile
                _, moved = await transition(
                    tx, Move.MISS, call=call, at=ended_at, strict=False, ended_at=ended_at
                )
                return moved

            missed += await write(bus, workspace_id, operation)
    return missed


async def incoming_call_live_scope(viewer: Viewer) -> Scope:
    """The contacts whose new ringing calls ``incomingCall`` pushes to ``viewer``.

    Raises:
        Forbidden: no call access (ends the subscription when the access is withdrawn).
    """
    require_call_access(viewer)
    return incoming_call_subscription_scope(viewer)


async def call_update_live_scope(viewer: Viewer) -> Scope:
    """The contacts whose call changes ``callUpdated`` pushes to ``viewer``: every contact
    they may see (``domain.md`` sections 1 and 7).

    Raises:
        Forbidden: no call access.
    """
    require_call_access(viewer)
    return call_scope(viewer)


def incoming_call_events(
    context: Context, after_sequence: int | None, present: Callable[[Call, int], T]
) -> LiveStream:
    """``incomingCall``: each new ringing call the subscriber may see
    (:func:`incoming_call_live_scope`), as it is at delivery, presented by
    ``present(call, sequence)``."""
    return contact_events(
        context,
        event_type=EventType.CALL_RECEIVED,
        compute_scope=incoming_call_live_scope,
        build=partial(_call_of_event, context, present),
        after_sequence=after_sequence,
    )


def call_update_events(
    context: Context, after_sequence: int | None, present: Callable[[Call, int], T]
) -> LiveStream:
    """``callUpdated``: each change of a call the subscriber may see
    (:func:`call_update_live_scope`), with the call as it is at delivery, presented by
    ``present(call, sequence)``."""
    return contact_events(
        context,
        event_type=EventType.CALL_UPDATED,
        compute_scope=call_update_live_scope,
        build=partial(_call_of_event, context, present),
        after_sequence=after_sequence,
    )


async def _call_of_event(
    context: Context, present: Callable[[Call, int], T], event: LiveEvent
) -> T | None:
    """The call a call event is about, as it is now (``None``: it no longer exists)."""
    row = await context.loaders_for_event(event).call.load(event.payload["call_id"])
    return present(row, event.sequence) if row is not None else None


__all__ = [
    "MAX_RECORDING_URL",
    "MAX_RING_TIMEOUT_SECONDS",
    "active_call",
    "answer_call",
    "call_cursor_values",
    "call_log",
    "call_update_events",
    "call_update_live_scope",
    "channel_phone_number",
    "clean_ring_timeout",
    "contact_calls",
    "decline_call",
    "end_call",
    "incoming_call_events",
    "incoming_call_live_scope",
    "incoming_calls",
    "miss_unanswered_calls",
    "place_call",
    "receive_call",
    "report_call_answered",
    "report_call_declined",
    "report_call_ended",
    "report_call_recording",
    "start_call_recording",
    "visible_call",
]

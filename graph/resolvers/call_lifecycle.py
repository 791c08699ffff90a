"""THE call lifecycle: the state machine of a call (``domain.md`` section 5, call lifecycle).

Every move of a call, from its creation to its end, is one row of :data:`TRANSITIONS` and
goes through :func:`transition`::

    (new) --receiveCall--------------------------> RINGING  (INBOUND)
    (new) --placeCall----------------------------> RINGING  (OUTBOUND: the agent waits on the line)
    RINGING --answerCall (inbound)---------------> ONGOING
    RINGING --reportCallAnswered (outbound)------> ONGOING  (the far end picked up)
    RINGING --declineCall / reportCallDeclined---> DECLINED (a user / the far end declined)
    RINGING --reportCallEnded / ring timeout /
              endCall (outbound, its caller)-----> MISSED   (the caller hung up; nobody answered)
    RINGING --reportCallEnded(failed: true)------> FAILED
    ONGOING --endCall / reportCallEnded----------> ENDED
    ONGOING --startCallRecording-----------------> ONGOING  (recording RECORDING)
    ENDED --reportCallRecording------------------> ENDED    (recording READY with its URL, or FAILED)

Any other move is refused with ``CONFLICT`` naming the call's current status
(``extensions.status``; :func:`conflict`). ``ENDED``, ``MISSED``, ``DECLINED`` and ``FAILED``
are final: they free the user who was on the line (``ongoing_user_id``), whichever move
reached them.

Races are decided by the database, not by reads: a move of an existing call is a conditional
``UPDATE ... WHERE status = <source>`` whose row count says whether it happened, inside a
:func:`graph.live.write` transaction (which the callers open after locking the contact row
where a race matters, before the call). The unique ``call.ongoing_user_id`` keeps a user on at
most one call (an outbound call holds its caller from the moment it is placed).

Each move, in the same transaction:

- writes its timeline activity (``domain.md``, terms: "call answered …"): ``CALL_ANSWERED``
  (answered by a user, or by the far end of an outbound call: authored by its caller),
  ``CALL_ENDED`` (with ``duration_seconds``), ``CALL_DECLINED``, ``CALL_MISSED``,
  ``CALL_FAILED``; its ``data`` holds ``call_id`` and ``direction``. Receiving or placing a
  call and recording it write none;
- assigns an unassigned contact to the user who answered or placed the call (automatic
  assignment, section 5), with the ``contact.assigned`` event of
  :func:`graph.resolvers.contact.record_assignment`;
- emits one event (:class:`graph.events.EventType`): ``call.received``, ``call.placed`` or
  ``call.updated``, carrying what a subscription needs to authorise it without a query: the
  call's facts (:func:`call_facts`), ``previous_status``, ``activity_id`` and the contact's
  ``contact_id``, ``assignee_id`` and ``blocked``.

All times are server times in UTC; durations are whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from db.models import Activity, ActivityKind, Call, CallStatus, Contact, User
from graph.errors import Conflict
from graph.events import EventType
from graph.relay import to_global_id
from graph.resolvers.contact import contact_facts, current_conversation, record_assignment

if TYPE_CHECKING:
    from datetime import datetime

    from tortoise.backends.base.client import BaseDBAsyncClient

    from graph.live import Transaction


class Move(Enum):
    """A move of the call lifecycle (one row of :data:`TRANSITIONS` each)."""

    RECEIVE = "receive"
    PLACE = "place"
    ANSWER = "answer"
    DECLINE = "decline"
    MISS = "miss"
    FAIL = "fail"
    CONNECT = "connect"
    END = "end"
    RECORD = "record"
    RECORDING_DONE = "recording_done"


@dataclass(frozen=True)
class Transition:
    """What one move does.

    Attributes:
        source: the status the call must have (``None``: the move creates the call).
        target: the status it has after the move.
        action: the move in words, for errors ("This call cannot be answered ...").
        event: the event it emits.
        activity: the timeline activity it writes, if any.
        assigns: the reason recorded when it assigns an unassigned contact to the author
            (automatic assignment); ``None``: it assigns nobody.
    """

    source: CallStatus | None
    target: CallStatus
    action: str
    event: EventType
    activity: ActivityKind | None = None
    assigns: str | None = None


TRANSITIONS: dict[Move, Transition] = {
    Move.RECEIVE: Transition(None, CallStatus.RINGING, "received", EventType.CALL_RECEIVED),
    Move.PLACE: Transition(
        None, CallStatus.RINGING, "placed", EventType.CALL_PLACED, assigns="call_placed"
    ),
    Move.ANSWER: Transition(
        CallStatus.RINGING,
        CallStatus.ONGOING,
        "answered",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_ANSWERED,
        assigns="call_answered",
    ),
    Move.DECLINE: Transition(
        CallStatus.RINGING,
        CallStatus.DECLINED,
        "declined",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_DECLINED,
    ),
    Move.MISS: Transition(
        CallStatus.RINGING,
        CallStatus.MISSED,
        "missed",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_MISSED,
    ),
    Move.FAIL: Transition(
        CallStatus.RINGING,
        CallStatus.FAILED,
        "failed",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_FAILED,
    ),
    Move.CONNECT: Transition(
        CallStatus.RINGING,
        CallStatus.ONGOING,
        "answered",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_ANSWERED,
    ),
    Move.END: Transition(
        CallStatus.ONGOING,
        CallStatus.ENDED,
        "ended",
        EventType.CALL_UPDATED,
        ActivityKind.CALL_ENDED,
    ),
    Move.RECORD: Transition(
        CallStatus.ONGOING, CallStatus.ONGOING, "recorded", EventType.CALL_UPDATED
    ),
    Move.RECORDING_DONE: Transition(
        CallStatus.ENDED, CallStatus.ENDED, "given a recording", EventType.CALL_UPDATED
    ),
}
"""The legal moves of the lifecycle, each from one status (or none: a new call) to one."""

FINAL: frozenset[CallStatus] = frozenset(
    {CallStatus.ENDED, CallStatus.MISSED, CallStatus.DECLINED, CallStatus.FAILED}
)
"""The statuses no move leaves (but a recording's report); reaching one frees the line."""


def call_facts(call: Call) -> dict[str, Any]:
    """The facts of a call that its events carry (see the module docstring)."""
    return {
        "call_id": call.id,
        "status": call.status.value,
        "direction": call.direction.value,
        "channel_id": call.channel_id,
        "answered_by_id": call.answered_by_id,
        "recording_state": call.recording_state.value,
    }


async def user_name(user_id: int | None, connection: BaseDBAsyncClient | None = None) -> str:
    """The name of ``user_id`` as errors show it ("another user" when it is gone)."""
    query = User.filter(id=user_id)
    if connection is not None:
        query = query.using_db(connection)
    user = await query.first()
    return user.name if user else "another user"


async def conflict(
    call: Call, action: str, connection: BaseDBAsyncClient | None = None
) -> Conflict:
    """The ``CONFLICT`` for acting on ``call`` in a status that does not allow ``action``
    (``extensions.status``); names who took the call when someone answered it (the message,
    and ``extensions.answeredBy``: their global id)."""
    extensions: dict[str, Any] = {"status": call.status.value}
    if call.answered_by_id is not None and call.status in (CallStatus.ONGOING, CallStatus.ENDED):
        who = await user_name(call.answered_by_id, connection)
        extensions["answeredBy"] = to_global_id("User", call.answered_by_id)
        verb = "is on" if call.status is CallStatus.ONGOING else "answered"
        return Conflict(
            f"This call cannot be {action}: {who} {verb} it (it is {call.status.value}).",
            **extensions,
        )
    return Conflict(f"This call is {call.status.value}: it cannot be {action}.", **extensions)


async def check_move(call: Call, move: Move, connection: BaseDBAsyncClient | None = None) -> None:
    """Refuse ``move`` when :data:`TRANSITIONS` does not allow it from the call's status.

    Raises:
        Conflict: as :func:`conflict`.
    """
    rule = TRANSITIONS[move]
    if call.status is not rule.source:
        raise await conflict(call, rule.action, connection)


async def transition(
    tx: Transaction,
    move: Move,
    *,
    call: Call | None = None,
    contact: Contact | None = None,
    author_id: int | None = None,
    at: datetime,
    when: dict[str, Any] | None = None,
    strict: bool = True,
    **changes: Any,
) -> tuple[Call, bool]:
    """Make ``move`` in ``tx``: the call's new status and ``changes``, then the move's
    automatic assignment, activity and event (:data:`TRANSITIONS`).

    Args:
        call: the call to move; ``None`` for a move that creates it (``changes`` are then its
            columns).
        contact: the call's contact as the transaction holds it (locked where a race
            matters); ``None``: read after the move.
        author_id: the user making the move (the activity's author, the assignee of automatic
            assignment), ``None`` for a connector or the ring-timeout sweep.
        at: when the move happens (the activity's time).
        when: further column values the call must still hold (e.g. no recording yet).
        strict: when the call is no longer in the move's source status (or ``when`` no longer
            holds): ``True`` raises, ``False`` returns it unmoved, writing nothing.

    Returns:
        The call as it is now, and whether this transaction moved it.

    Raises:
        Conflict: ``strict`` and another writer moved the call first (:func:`conflict`).
    """
    rule = TRANSITIONS[move]
    connection = tx.connection
    if rule.target in FINAL and rule.source is not rule.target:
        changes["ongoing_user_id"] = None  # the user on the line is free again
    if rule.source is None:
        current = await Call.create(status=rule.target, **changes, using_db=connection)
    else:
        if rule.target is not rule.source:
            changes["status"] = rule.target
        query = Call.filter(id=call.id, status=rule.source, **(when or {}))
        moved = bool(await query.using_db(connection).update(**changes))
        current = await Call.get(id=call.id).using_db(connection)
        if not moved:
            if strict:
                raise await conflict(current, rule.action, connection)
            return current, False
    if contact is None:
        contact = await Contact.filter(id=current.contact_id).using_db(connection).first()
    if rule.assigns is not None and contact.assignee_id is None:
        await record_assignment(tx, contact, author_id, author_id=author_id, reason=rule.assigns)
    activity_id = None
    if rule.activity is not None:
        conversation = await current_conversation(tx, contact)
        data: dict[str, Any] = {"call_id": current.id, "direction": current.direction.value}
        if rule.activity is ActivityKind.CALL_ENDED:
            data["duration_seconds"] = current.duration_seconds
        row = await Activity.create(
            workspace_id=contact.workspace_id,
            contact_id=contact.id,
            conversation_id=conversation.id if conversation else None,
            kind=rule.activity,
            author_id=author_id,
            data=data,
            created_at=at,
            using_db=connection,
        )
        activity_id = row.id
    tx.emit(
        rule.event,
        **contact_facts(contact),
        **call_facts(current),
        previous_status=rule.source.value if rule.source else None,
        activity_id=activity_id,
    )
    return current, True


__all__ = [
    "FINAL",
    "TRANSITIONS",
    "Move",
    "Transition",
    "call_facts",
    "check_move",
    "conflict",
    "transition",
    "user_name",
]

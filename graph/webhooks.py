"""Outbound webhook delivery (issue 20, part 2; ``domain.md`` section 8; ``architecture.md``:
outbound webhooks).

Source: the outbox (:class:`db.models.Event`): every committed event, numbered per workspace.
Each enabled endpoint (:class:`db.models.WebhookEndpoint`) has a cursor, the sequence of the
last event it received; its deliverer reads the events after it (of the endpoint's types),
delivers them one at a time in sequence order, and commits the cursor after each success. So
delivery is at least once (a worker that dies between a receiver's 2xx and the commit sends
that event again, with the same ``webhook-id``) and in order per endpoint, one event in flight
per endpoint; each endpoint has its own task, so a failing endpoint holds only its own queue.
An endpoint with nothing to deliver sleeps until its workspace commits an event (a
:class:`graph.live.Doorbell` on the worker's event bus, rung by any worker's commits), or
``INBOX_GRAPH_WEBHOOK_POLL_SECONDS`` at most (a safety net). The cursor is committed with the
attempt's record in one transaction, which the successes of the worker's endpoints arriving
while a commit runs share (group commit: :meth:`WebhookDeliverer._delivered`); each event's body
is built once per creator view for all the creator's endpoints (:class:`Views`).

Leases: a worker delivers an endpoint only while it holds its lease (``lease_owner``,
``lease_until``), taken and renewed by conditional ``UPDATE`` statements (atomic on SQLite and
PostgreSQL alike): with several workers each endpoint is delivered by one worker at a time;
when a worker dies, another takes its endpoints once the lease runs out
(``INBOX_GRAPH_WEBHOOK_LEASE_SECONDS``) and resumes from the cursor. The cursor is committed
only by the lease holder.

A request (Standard Webhooks, https://www.standardwebhooks.com, signed with its library):

- ``POST`` to the endpoint's URL, ``content-type: application/json``;
- ``webhook-id``: ``msg_<workspace id>_<sequence>``, the same on every retry of one event;
- ``webhook-timestamp``: the attempt's time (Unix seconds);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` with the endpoint's secret, and a second
  one with the previous secret while a rotation's grace period runs;
- body: ``{"type": "message.created", "timestamp": "<commit time, UTC ISO 8601>",
  "sequence": <workspace sequence>, "workspaceId": "<global id>", "data": {...}}`` where
  ``data`` holds the event's objects with global ids: ``contact`` always, and
  ``conversation``, ``message``, ``call``, ``activity`` when the event is about one
  (:func:`event_data`), as they are at the first attempt (read per page of events, again
  after :data:`FRESH_SECONDS`); retries send the same body, unless the event's contact was
  erased meanwhile (``eraseContact``, checked before every retry, and before a first attempt
  whose rows were read more than :data:`FRESH_SECONDS` ago or before an erasure in the
  workspace the worker heard on its bus): then it is built again, without the erased data.

Visibility: the data is what the endpoint's creator may see at the first attempt, decided by
:func:`graph.resolvers.node.shows` (the visibility policy of
:mod:`graph.permissions.visibility`); an event about a contact the creator may not see (or
a call without call access, or any event once the creator is deactivated) is not delivered:
the cursor passes it. Phone numbers are masked as for the creator
(:mod:`graph.permissions.fields`).

Retries: a timeout (``INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS``, 5 s by default, for the whole
request), a connection error or any answer but 2xx is retried after an exponential backoff
with jitter (``INBOX_GRAPH_WEBHOOK_RETRY_MIN_SECONDS`` doubling per failure up to
``…_MAX_SECONDS``, each wait a random 50 to 100 % of that); a 429 or 503's ``Retry-After``
is honoured (up to the maximum). When one event has failed for
``INBOX_GRAPH_WEBHOOK_RETRY_WINDOW_SECONDS`` (a day), the endpoint is disabled with a
``disabledReason``; re-enabling it resumes from its cursor. In production every connection
resolves the URL's host once, checks its addresses are public and connects to those
(:mod:`graph.webhook_http`: DNS rebinding); an answer's body is read up to 64 KB and dropped.

Attempts log: every try is recorded (:class:`db.models.WebhookDelivery`: status code or
error, duration, when the next try is due), listed by ``webhookDeliveries`` and pruned with
the outbox (``INBOX_GRAPH_EVENT_RETENTION_SECONDS``).

HTTP: each endpoint's queue sends through an httpx transport of its own, one httpcore
connection kept alive (no pool), on an asyncio network backend that writes a request in one
``send()`` (:mod:`graph.webhook_http`); what is sent outside the queues (:func:`redeliver`,
:func:`send_test`) goes through one :class:`httpx.AsyncClient` per worker. Redirects are not
followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks import Webhook
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from db.availability import is_unavailable, report_unavailable
from db.models import (
    Activity,
    Call,
    Contact,
    Conversation,
    Event,
    Message,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from db.models import Workspace as WorkspaceRow
from db.outbox import kept_history
from db.queries import columns, select_rows, select_values
from graph.auth import load_viewer
from graph.crm.base import retry_after_seconds
from graph.errors import BadUserInput, NotFound
from graph.events import EventType
from graph.live import Doorbell, LiveEvent, write
from graph.permissions.fields import mask_phone, sees_unmasked_numbers
from graph.relay import to_global_id
from graph.resolvers.contact import display_name
from graph.resolvers.node import shows
from graph.resolvers.webhook import refuse_non_public
from graph.webhook_http import EndpointTransport, PooledTransport, Refuse, Resolver, send

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tortoise.queryset import QuerySet

    from graph.live import EventBus, Subscriber, Transaction
    from graph.permissions.visibility import Viewer
    from graph.settings import Settings

log = logging.getLogger(__name__)

PAGE = 100
"""Events read from the outbox at a time per endpoint."""
USER_AGENT = "inbox-graph-webhooks/1"
GROUP_WAIT_SECONDS = 0.002
"""How long a group commit waits at most for the requests under way (of the worker's other
endpoints) to join it: fewer, larger transactions (on SQLite each statement is a hop to
aiosqlite's thread)."""
LISTEN_SECONDS = 5.0
"""How long an endpoint's task waits for the event bus to listen to its workspace before it
delivers without it (woken by the poll only)."""
FRESH_SECONDS = 1.0
"""The creator's permissions and the rows of a page of events are read once for the page,
and again when a delivery of it took longer than this: what is sent is what the creator may
see at most this long before the attempt."""


def message_id(workspace_id: int, sequence: int) -> str:
    """The ``webhook-id`` of an event: the same on every attempt and every worker."""
    return f"msg_{workspace_id}_{sequence}"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _gid(type_name: str, pk: int | None) -> str | None:
    return to_global_id(type_name, pk) if pk is not None else None


@dataclass(frozen=True)
class Audience:
    """Whom an endpoint's data is for: its creator's viewer (``None``: deactivated) and whether
    phone numbers are shown to them in full."""

    viewer: Viewer | None
    unmasked: bool

    def phone(self, e164: str | None) -> str | None:
        return e164 if self.unmasked else mask_phone(e164)


async def audience_of(endpoint: WebhookEndpoint) -> Audience:
    """The creator of ``endpoint`` as deliveries see the workspace now."""
    user = await User.filter(id=endpoint.created_by_id).first()
    if user is None or not user.is_active:
        return Audience(None, False)
    viewer = await load_viewer(user)
    workspace = await WorkspaceRow.get(id=endpoint.workspace_id)
    return Audience(viewer, sees_unmasked_numbers(viewer, workspace.phone_number_masking))


def _contact(row: Contact, audience: Audience) -> dict[str, Any]:
    return {
        "id": to_global_id("Contact", row.id),
        "name": display_name(row),
        "firstName": row.first_name,
        "lastName": row.last_name,
        "phone": audience.phone(row.phone),
        "email": row.email,
        "countryCode": row.country_code,
        "language": row.language,
        "assigneeId": _gid("User", row.assignee_id),
        "blocked": row.blocked,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
        "erasedAt": _iso(row.erased_at),
    }


def _conversation(row: Conversation) -> dict[str, Any]:
    return {
        "id": to_global_id("Conversation", row.id),
        "status": row.status.value,
        "openedAt": _iso(row.opened_at),
        "closedAt": _iso(row.closed_at),
        "closingCategory": row.closing_category,
        "closingSummary": row.closing_summary,
        "lastActivityAt": _iso(row.last_activity_at),
    }


def _message(row: Message) -> dict[str, Any]:
    return {
        "id": to_global_id("Message", row.id),
        "conversationId": to_global_id("Conversation", row.conversation_id),
        "channelId": to_global_id("Channel", row.channel_id),
        "direction": row.direction.value,
        "authorId": _gid("User", row.author_id),
        "text": row.text,
        "deliveryStatus": row.delivery_status.value,
        "externalMessageId": row.external_message_id,
        "createdAt": _iso(row.created_at),
        "sentAt": _iso(row.sent_at),
        "deliveredAt": _iso(row.delivered_at),
        "readAt": _iso(row.read_at),
        "failedAt": _iso(row.failed_at),
        "failureReason": row.failure_reason,
    }


def _call(row: Call, audience: Audience) -> dict[str, Any]:
    return {
        "id": to_global_id("Call", row.id),
        "channelId": to_global_id("Channel", row.channel_id),
        "direction": row.direction.value,
        "status": row.status.value,
        "fromNumber": audience.phone(row.from_number),
        "toNumber": audience.phone(row.to_number),
        "answeredById": _gid("User", row.answered_by_id),
        "ringingAt": _iso(row.ringing_at),
        "answeredAt": _iso(row.answered_at),
        "endedAt": _iso(row.ended_at),
        "recordingState": row.recording_state.value,
        "recordingId": row.recording_id,
        "recordingUrl": row.recording_url,
    }


def _activity(row: Activity) -> dict[str, Any]:
    return {
        "id": to_global_id("Activity", row.id),
        "kind": row.kind.value,
        "conversationId": _gid("Conversation", row.conversation_id),
        "authorId": _gid("User", row.author_id),
        "text": row.text,
        "createdAt": _iso(row.created_at),
    }


@dataclass(frozen=True)
class Rows:
    """The rows a run of events is about, as they are now: one query per kind of row."""

    contacts: dict[int, Contact]
    conversations: dict[int, Conversation]
    messages: dict[int, Message]
    calls: dict[int, Call]
    activities: dict[int, Activity]

    @classmethod
    async def load(cls, workspace_id: int, events: list[Event]) -> Rows:
        async def by_id(model: Any, key: str) -> dict[int, Any]:
            ids = {e.payload.get(key) for e in events if e.payload} - {None}
            if not ids:
                return {}
            rows = await model.filter(id__in=sorted(ids), workspace_id=workspace_id)
            return {row.id: row for row in rows}

        return cls(
            contacts=await by_id(Contact, "contact_id"),
            conversations=await by_id(Conversation, "conversation_id"),
            messages=await by_id(Message, "message_id"),
            calls=await by_id(Call, "call_id"),
            activities=await by_id(Activity, "activity_id"),
        )


def event_data(event: Event, audience: Audience, rows: Rows) -> dict[str, Any] | None:
    """The ``data`` of ``event``'s delivery to ``audience`` from ``rows``
    (:meth:`Rows.load`), or ``None`` when its creator may not see it (then it is not
    delivered)."""
    payload = event.payload or {}
    contact = rows.contacts.get(payload.get("contact_id"))
    if audience.viewer is None or contact is None:
        return None
    type_name = "Call" if payload.get("call_id") is not None else "Contact"
    if not shows(audience.viewer, type_name, contact):
        return None
    data: dict[str, Any] = {"contact": _contact(contact, audience)}

    def belonging(found: dict[int, Any], key: str) -> Any:
        row = found.get(payload.get(key))
        return row if row is not None and row.contact_id == contact.id else None

    if payload.get("conversation_id") is not None:
        row = belonging(rows.conversations, "conversation_id")
        data["conversation"] = _conversation(row) if row else None
    if payload.get("message_id") is not None:
        row = belonging(rows.messages, "message_id")
        data["message"] = _message(row) if row else None
    if payload.get("call_id") is not None:
        row = belonging(rows.calls, "call_id")
        data["call"] = _call(row, audience) if row else None
    if payload.get("activity_id") is not None:
        row = belonging(rows.activities, "activity_id")
        data["activity"] = _activity(row) if row else None
    return data


async def _body_after_erasure(endpoint: WebhookEndpoint, event: Event, body: bytes) -> bytes:
    """``body`` for an attempt of ``event``, unless its contact was erased since (issue 21,
    ``eraseContact``): then the body is built again from the rows as they are now, which hold
    none of the contact's data (empty when the event is no longer delivered)."""
    contact_id = (event.payload or {}).get("contact_id")
    if contact_id is None:
        return body
    erased = await Contact.filter(id=contact_id, erased_at__isnull=False).exists()
    if not erased:
        return body
    rows = await Rows.load(endpoint.workspace_id, [event])
    data = event_data(event, await audience_of(endpoint), rows)
    return body_of(event, data) if data is not None else b""


def body_of(event: Event, data: dict[str, Any]) -> bytes:
    """The JSON body of ``event``'s delivery (see the module docstring)."""
    return json.dumps(
        {
            "type": event.type,
            "timestamp": _iso(event.created_at),
            "sequence": event.sequence,
            "workspaceId": to_global_id("Workspace", event.workspace_id),
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    """The Standard Webhooks signer of ``secret``, built (its key decoded) once per secret."""
    return Webhook(secret)


def signature(endpoint: WebhookEndpoint, msg_id: str, at: datetime, body: bytes) -> str:
    """``webhook-signature``: with the current secret, and the previous one during a
    rotation's grace period (space-separated, as the specification allows)."""
    signatures = [_signer(endpoint.secret).sign(msg_id, at, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > at:
        signatures.append(_signer(endpoint.previous_secret).sign(msg_id, at, body))
    return " ".join(signatures)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 or 503 answer asks to wait (``Retry-After``: seconds or an HTTP date;
    :func:`graph.crm.base.retry_after_seconds`, which CRM answers are read with too)."""
    if response.status_code not in (429, 503):
        return None
    return retry_after_seconds(response.headers.get("retry-after"))


def new_client(settings: Settings, *, connections: int = 200) -> httpx.AsyncClient:
    """An HTTP client what is sent outside the endpoints' queues goes through: the timeout of
    ``INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS``, no redirects followed, connections reused (at most
    ``connections`` open, a quarter of them kept alive, at least one), hosts resolved, checked
    and connected to as the queues' are (:class:`graph.webhook_http.PooledTransport`)."""
    return httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        transport=PooledTransport(
            httpx.create_ssl_context(),
            address_check(settings),
            connections=connections,
            kept_alive=max(1, connections // 4),
        ),
        headers={"user-agent": USER_AGENT},
    )


def address_check(settings: Settings) -> Refuse | None:
    """What deliveries check of the addresses they connect to: in production, that each is
    public (:func:`graph.resolvers.webhook.refuse_non_public`); otherwise nothing (local
    receivers on loopback)."""
    return refuse_non_public if settings.production else None


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the receiver's ``status`` (``None``: no answer), the ``error``
    (``None`` on a 2xx), the seconds a ``Retry-After`` asked to wait, and the request's time
    in milliseconds."""

    status: int | None
    error: str | None
    wait: float | None
    duration_ms: int


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """``url`` parsed once per endpoint URL."""
    return httpx.URL(url)


async def post_once(
    via: httpx.AsyncClient | httpx.AsyncBaseTransport,
    settings: Settings,
    endpoint: WebhookEndpoint,
    msg_id: str,
    at: datetime,
    body: bytes,
) -> Outcome:
    """POST ``body`` to ``endpoint`` once, signed for ``msg_id`` at ``at`` (the headers of the
    module docstring), through a client or an endpoint's transport
    (:class:`graph.webhook_http.EndpointTransport`), within
    ``INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS`` (the whole request, the name's lookup and the
    connection included; in production only to public addresses: :func:`address_check`);
    never raises for the receiver's failures (they are the outcome's ``error``)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    status: int | None = None
    wait: float | None = None
    try:
        request = httpx.Request(
            "POST",
            _url(endpoint.url),
            content=body,
            headers=[
                ("user-agent", USER_AGENT),
                ("content-type", "application/json"),
                ("webhook-id", msg_id),
                ("webhook-timestamp", str(int(at.timestamp()))),
                ("webhook-signature", signature(endpoint, msg_id, at, body)),
            ],
        )
        async with asyncio.timeout(settings.webhook_timeout_seconds):  # the whole request
            response = await send(via, request)
        status = response.status_code
        error = None if 200 <= status < 300 else f"HTTP {status}"
        wait = retry_after(response)
    except (httpx.HTTPError, OSError) as exc:  # OSError: TimeoutError included
        error = f"{type(exc).__name__}: {exc}"
    return Outcome(status, error, wait, int((loop.time() - started) * 1000))


def attempt_row(
    endpoint_id: int,
    *,
    sequence: int,
    event_type: str,
    msg_id: str,
    attempt: int,
    outcome: Outcome,
    at: datetime,
    next_retry_at: datetime | None = None,
) -> WebhookDelivery:
    """One attempt's entry in the log (:class:`db.models.WebhookDelivery`), not saved yet."""
    return WebhookDelivery(
        endpoint_id=endpoint_id,
        sequence=sequence,
        event_type=event_type,
        webhook_id=msg_id,
        attempt=attempt,
        status_code=outcome.status,
        error=outcome.error[:500] if outcome.error else None,
        duration_ms=outcome.duration_ms,
        attempted_at=at,
        next_retry_at=next_retry_at,
    )


async def record_attempt(endpoint: WebhookEndpoint, **attempt: Any) -> WebhookDelivery | None:
    """Write one attempt to the log (``attempt``: the arguments of :func:`attempt_row` but
    its number), numbered after the event's attempts recorded before it: counted when it is
    recorded, under the endpoint's row lock (PostgreSQL; SQLite runs one transaction at a
    time), which the queue's group commit also takes and counts under
    (:data:`ATTEMPT_NUMBER`), so no two attempts of an event share a number (a redelivery
    sent while the queue's own attempt is under way or between its retries, two
    redeliveries at once). Left open on PostgreSQL: a group commit whose statement began
    while this transaction held the lock counts with its statement's snapshot, without this
    attempt (a window of this transaction's few statements, not of a request's answer).
    ``None`` when the endpoint was deleted meanwhile (it keeps no log)."""

    async def operation(tx: Transaction) -> WebhookDelivery | None:
        held = WebhookEndpoint.filter(id=endpoint.id).using_db(tx.connection)
        if await held.select_for_update().first() is None:
            return None
        log = WebhookDelivery.filter(endpoint_id=endpoint.id, webhook_id=attempt["msg_id"])
        earlier = await log.using_db(tx.connection).count()
        row = attempt_row(endpoint.id, attempt=earlier + 1, **attempt)
        await row.save(using_db=tx.connection)
        return row

    return await write(None, endpoint.workspace_id, operation)


ATTEMPT_NUMBER = (
    "(SELECT count(*) FROM webhook_delivery AS d "
    "WHERE d.endpoint_id = {endpoint} AND d.webhook_id = {webhook}) + 1"
)
"""A success's attempt number in the group commit's statements, as :func:`record_attempt`
numbers the others: one after the event's attempts recorded before it (``{endpoint}``,
``{webhook}``: the recorded row's columns)."""

_BATCH_NUMBER = ATTEMPT_NUMBER.format(endpoint="b.endpoint_id", webhook="b.webhook_id")

GROUP_ROWS = 500
"""Successes committed by one statement at most (SQLite binds at most 32,766 parameters)."""

_PG_GROUP_COMMIT = f"""
WITH batch AS (
    SELECT * FROM unnest(
        $1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[],
        $7::timestamptz[]
    ) AS b (endpoint_id, sequence, event_type, webhook_id, status_code, duration_ms,
            attempted_at)
), held AS MATERIALIZED (
    SELECT id FROM webhook_endpoint
    WHERE id = ANY($1::bigint[]) AND lease_owner = $8 AND enabled
    ORDER BY id
    FOR UPDATE
), moved AS (
    UPDATE webhook_endpoint AS e SET "cursor" = b.sequence, lease_until = $9
    FROM batch AS b JOIN held AS h ON h.id = b.endpoint_id
    WHERE e.id = b.endpoint_id
    RETURNING e.id
), recorded AS (
    INSERT INTO webhook_delivery (endpoint_id, sequence, event_type, webhook_id, attempt,
        status_code, error, duration_ms, attempted_at, next_retry_at)
    SELECT b.endpoint_id, b.sequence, b.event_type, b.webhook_id, {_BATCH_NUMBER},
        b.status_code, NULL, b.duration_ms, b.attempted_at, NULL
    FROM batch AS b JOIN moved AS m ON m.id = b.endpoint_id
)
SELECT id FROM moved
"""
"""A group commit on PostgreSQL (:meth:`WebhookDeliverer._commit_rows`): the successes'
columns as arrays ($1 to $7, as :func:`_success_row` orders them), the worker ($8), the
leases' new end ($9); the ids of the endpoints whose cursor moved. Each attempt is numbered
as :data:`ATTEMPT_NUMBER` counts."""

_PG_RECORD = f"""
INSERT INTO webhook_delivery (endpoint_id, sequence, event_type, webhook_id, attempt,
    status_code, error, duration_ms, attempted_at, next_retry_at)
SELECT b.endpoint_id, b.sequence, b.event_type, b.webhook_id, {_BATCH_NUMBER},
    b.status_code, NULL, b.duration_ms, b.attempted_at, NULL
FROM unnest(
    $1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[],
    $7::timestamptz[]
) AS b (endpoint_id, sequence, event_type, webhook_id, status_code, duration_ms,
        attempted_at)
WHERE EXISTS (SELECT 1 FROM webhook_endpoint AS e WHERE e.id = b.endpoint_id)
"""
"""Successes' attempts whose cursor did not move, of the endpoints that still exist."""

_SQLITE_RECORD = f"""
INSERT INTO webhook_delivery (endpoint_id, sequence, event_type, webhook_id, attempt,
    status_code, error, duration_ms, attempted_at, next_retry_at)
SELECT column1, column2, column3, column4,
    {ATTEMPT_NUMBER.format(endpoint="column1", webhook="column4")},
    column5, column6, column7, column8, column9
FROM (VALUES {{values}})
WHERE column1 IN (SELECT id FROM webhook_endpoint)
"""
_SQLITE_MOVE = """
UPDATE webhook_endpoint
SET "cursor" = CASE id {cases} ELSE "cursor" END, lease_until = ?
WHERE id IN ({ids}) AND lease_owner = ? AND enabled
RETURNING id
"""


def _success_row(
    endpoint_id: int,
    *,
    sequence: int,
    event_type: str,
    msg_id: str,
    outcome: Outcome,
    at: datetime,
) -> tuple[Any, ...]:
    """A success's attempt (the arguments of :func:`attempt_row` but its number) as the
    group commit's columns: endpoint, sequence, event type, ``webhook-id``, status code,
    duration (ms), time (``attempt`` is numbered by the statement, :data:`ATTEMPT_NUMBER`;
    ``error`` and ``next_retry_at`` are ``NULL``)."""
    return (
        endpoint_id,
        sequence,
        event_type,
        msg_id,
        outcome.status,
        outcome.duration_ms,
        at,
    )


_HEAD_SQL = "SELECT event_sequence FROM workspace WHERE id = {}"
"""A workspace's last event sequence (its head)."""


@functools.cache
def _held_sql() -> str:
    """The endpoint ``{}`` if the worker ``{}`` holds it (leased, enabled): its whole row."""
    return (
        f"SELECT {columns(WebhookEndpoint)} FROM webhook_endpoint "
        "WHERE id = {} AND lease_owner = {} AND enabled"
    )


@functools.cache
def _page_sql(types: int) -> str:
    """A page of a workspace's events (whole rows) after a sequence, of ``types`` types:
    parameters workspace, sequence, then the types; at most :data:`PAGE`, in sequence order."""
    marks = ", ".join(["{}"] * types)
    return (
        f"SELECT {columns(Event)} FROM event "
        f"WHERE workspace_id = {{}} AND sequence > {{}} AND type IN ({marks}) "
        f"ORDER BY sequence LIMIT {PAGE}"
    )


class LeaseLost(Exception):
    """The endpoint was deleted, disabled, or taken by another worker: stop delivering it."""


@dataclass
class _View:
    """The bodies built for one creator's view (:class:`Views`), read at ``read_at`` (event
    loop time) and ``read_wall`` (UTC)."""

    audience: Audience
    read_at: float
    read_wall: datetime
    bodies: dict[int, bytes | None]


class Views:
    """The bodies of a worker's deliveries, built once per event and creator view: every
    endpoint of one creator (in one workspace) gets the same body for an event, so the
    creator's permissions and the event's rows are read once for all of them. A view is read
    again after :data:`FRESH_SECONDS`, and for any event committed after it was read (what
    changed before an event was committed, e.g. the creator's role, shows in its body)."""

    def __init__(self) -> None:
        self._views: dict[tuple[int, int], _View] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}

    async def bodies(
        self, endpoint: WebhookEndpoint, events: list[Event]
    ) -> tuple[list[bytes | None], float]:
        """The body of each of ``events`` for ``endpoint`` (:func:`body_of`), or ``None`` for
        one its creator may not see (not delivered); and when (event loop time) the creator's
        view they were built in was read (their rows were read then or later)."""
        key = (endpoint.workspace_id, endpoint.created_by_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # the other endpoints of the creator wait, then reuse what was built
            now = asyncio.get_running_loop().time()
            view = self._views.get(key)
            newest = max(_utc(e.created_at) for e in events)
            if view is None or now - view.read_at > FRESH_SECONDS or newest >= view.read_wall:
                for old in [k for k, v in self._views.items() if now - v.read_at > FRESH_SECONDS]:
                    del self._views[old]
                read_wall = datetime.now(UTC)
                audience = await audience_of(endpoint)
                view = self._views[key] = _View(audience, now, read_wall, {})
            missing = [e for e in events if e.sequence not in view.bodies]
            if missing:
                rows = await Rows.load(endpoint.workspace_id, missing)
                for event in missing:
                    data = event_data(event, view.audience, rows)
                    view.bodies[event.sequence] = None if data is None else body_of(event, data)
            return [view.bodies[e.sequence] for e in events], view.read_at


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class WebhookDeliverer:
    """The deliverer of one worker: claims endpoints (leases) and delivers each on its task.

    :meth:`run` is the worker's background loop (started by :func:`graph.app.create_app`);
    cancelling it stops every endpoint's task and releases their leases. With ``bus`` (the
    worker's :class:`graph.live.EventBus`) an endpoint with nothing left to deliver sleeps
    until an event of its workspace is committed (by any worker) instead of reading the
    outbox every ``INBOX_GRAPH_WEBHOOK_POLL_SECONDS``, which stays a safety net; :meth:`nudge`
    makes it claim endpoints at once (one was created or enabled).
    """

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = new_client(settings)
        """Carries what is sent outside the endpoints' queues (:func:`redeliver`,
        :func:`send_test`)."""
        self.ssl_context = httpx.create_ssl_context()
        self.resolver = Resolver()
        """Looks up the endpoints' hosts for their queues' transports (closed at the stop)."""
        self.erasures: dict[int, float] = {}
        """Per workspace, when (event loop time) a contact erasure was last heard from the bus
        (or events may have been missed): bodies built before it are checked again."""
        self.transports: dict[int, EndpointTransport] = {}
        """Per endpoint held: the HTTP transport of its queue, one connection kept alive (one
        event is in flight per endpoint: a pool of its own is not searched through the others'
        connections on every request, a cost that grows with the endpoints of a shared pool)."""
        self.views = Views()
        self._pending: list[
            tuple[int, int, Callable[..., Awaitable[Any]], asyncio.Future[bool]]
        ] = []
        """Successes waiting for the next group commit (:meth:`_delivered`)."""
        self._committer: asyncio.Task[None] | None = None
        self._sending = 0
        """Requests of the endpoints' queues under way (:meth:`_commit_pending` waits for them
        a little)."""
        self._arrived = asyncio.Event()
        """Set when a success joins :attr:`_pending`."""
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.renew_at: dict[int, float] = {}
        """Per endpoint held: when (event loop time) its lease is renewed next."""
        self.wakers: dict[int, asyncio.Event] = {}
        """Per endpoint held: set when an event of its workspace was committed."""
        self.doorbells: dict[int, tuple[Subscriber, set[int]]] = {}
        """Per workspace with endpoints held: its bus subscriber and those endpoints."""
        self.claim_now = asyncio.Event()

    def nudge(self) -> None:
        """Claim endpoints now (one was created, enabled or replayed in this worker)."""
        self.claim_now.set()

    def _lease_until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.settings.webhook_lease_seconds)

    async def _claim(self, endpoint_id: int) -> bool:
        now = datetime.now(UTC)
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=self.owner)
        won = await WebhookEndpoint.filter(free, id=endpoint_id, enabled=True).update(
            lease_owner=self.owner, lease_until=self._lease_until()
        )
        return bool(won)

    def _renewed(self, endpoint_id: int) -> None:
        loop = asyncio.get_running_loop()
        self.renew_at[endpoint_id] = loop.time() + self.settings.webhook_lease_seconds / 3

    def _held(self, endpoint_id: int, connection: Any = None) -> QuerySet[WebhookEndpoint]:
        query = WebhookEndpoint.filter(id=endpoint_id, lease_owner=self.owner, enabled=True)
        return query if connection is None else query.using_db(connection)

    async def _commit(self, endpoint_id: int, **changes: Any) -> None:
        """Apply ``changes`` (the cursor, or disabling) and renew the lease, as its holder.

        Raises:
            LeaseLost: it is gone, disabled or leased by another worker.
        """
        if not await self._held(endpoint_id).update(lease_until=self._lease_until(), **changes):
            raise LeaseLost
        self._renewed(endpoint_id)

    async def _delivered(self, endpoint_id: int, attempt: dict[str, Any]) -> None:
        """After a success: record the ``attempt`` (the arguments of :func:`attempt_row`),
        move the cursor to its event and renew the lease, and return once that is committed.
        Group commit: the successes of the worker's endpoints that arrive while a commit runs
        wait for it and are committed together in the next one (:meth:`_commit_group`).

        Raises:
            LeaseLost: the endpoint is gone, disabled or leased by another worker (the attempt
                is recorded all the same while the endpoint exists).
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((endpoint_id, attempt, future))
        self._arrived.set()
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        if not await future:
            raise LeaseLost
        self._renewed(endpoint_id)

    async def _commit_pending(self) -> None:
        """Commit the waiting successes (:meth:`_delivered`), a group at a time, until none
        waits."""
        loop = asyncio.get_running_loop()
        while self._pending:
            # the requests under way are waited for a little (at most GROUP_WAIT_SECONDS):
            # their successes join this commit rather than start the next one
            await asyncio.sleep(0)  # the endpoints the last commit released send their next
            until = loop.time() + GROUP_WAIT_SECONDS
            while self._sending and (left := until - loop.time()) > 0:
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._arrived.wait()
            batch, self._pending = self._pending, []
            try:
                moved = await self._commit_group([(e, a) for e, a, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiter retries its event
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), done in zip(batch, moved, strict=True):
                if not future.done():
                    future.set_result(done)

    async def _commit_group(self, successes: list[tuple[int, dict[str, Any]]]) -> list[bool]:
        """Record each success's attempt (endpoint id, :func:`attempt_row`'s arguments) and
        move its endpoint's cursor to its event, renewing the lease, where this worker still
        holds the endpoint; whether each cursor moved. Hand-written statements (tortoise's
        query builder cost more than the database's work here), at most :data:`GROUP_ROWS`
        successes each; an endpoint with two successes in one group (not expected: one event
        is in flight per endpoint) has them committed one after the other.

        PostgreSQL: one statement (:data:`_PG_GROUP_COMMIT`), atomic: the endpoints' rows
        locked in the order of their ids, as pruning locks them (no deadlock), the cursors
        moved, the attempts of the moved ones recorded; the others' attempts after it.

        SQLite: one transaction (one disk flush: in its default ``synchronous=FULL`` a
        commit is an ``fsync``, about 1 ms here, longer than the three hops to aiosqlite's
        thread a transaction adds) of two statements: the attempts (of the endpoints that
        exist), then the cursors (``UPDATE … RETURNING``).

        Raises:
            Exception: the database failed (nothing committed: each event is delivered
                again).
        """
        result = [False] * len(successes)
        rest = list(range(len(successes)))
        while rest:
            group: list[int] = []
            later: list[int] = []
            seen: set[int] = set()
            for index in rest:
                endpoint_id = successes[index][0]
                if endpoint_id in seen or len(group) >= GROUP_ROWS:
                    later.append(index)
                else:
                    seen.add(endpoint_id)
                    group.append(index)
            done = await self._commit_rows([successes[index] for index in group])
            for index in group:
                result[index] = successes[index][0] in done
            rest = later
        return result

    async def _commit_rows(self, successes: list[tuple[int, dict[str, Any]]]) -> set[int]:
        """:meth:`_commit_group` for distinct endpoints: the ids of those whose cursor moved."""
        db = WebhookEndpoint._meta.db
        lease_until = self._lease_until()
        rows = [_success_row(endpoint_id, **attempt) for endpoint_id, attempt in successes]
        if db.capabilities.dialect == "postgres":
            columns = [list(column) for column in zip(*rows, strict=True)]
            found = await db.execute_query_dict(
                _PG_GROUP_COMMIT, [*columns, self.owner, lease_until]
            )
            done = {row["id"] for row in found}
            lost = [row for row in rows if row[0] not in done]
            if lost:  # their attempts are recorded all the same while the endpoint exists
                columns = [list(column) for column in zip(*lost, strict=True)]
                await db.execute_query_dict(_PG_RECORD, columns)
            return done
        to_db = WebhookEndpoint._meta.fields_map["lease_until"].to_db_value
        values = ", ".join(["(?, ?, ?, ?, ?, NULL, ?, ?, NULL)"] * len(rows))
        async with in_transaction() as connection:  # one disk flush for the group
            await connection.execute_query_dict(
                _SQLITE_RECORD.format(values=values),
                [value for row in rows for value in (*row[:6], to_db(row[6], WebhookDelivery))],
            )
            found = await connection.execute_query_dict(
                _SQLITE_MOVE.format(
                    cases=" ".join(["WHEN ? THEN ?"] * len(rows)),
                    ids=", ".join(["?"] * len(rows)),
                ),
                [
                    *(value for row in rows for value in row[:2]),
                    to_db(lease_until, WebhookEndpoint),
                    *(row[0] for row in rows),
                    self.owner,
                ],
            )
        return {row["id"] for row in found}

    async def _mine(self, endpoint_id: int) -> WebhookEndpoint:
        """Read the endpoint, renewing the lease once a third of it has passed (an idle
        endpoint costs one read per poll).

        Raises:
            LeaseLost: it is gone, disabled or leased by another worker.
        """
        if asyncio.get_running_loop().time() >= self.renew_at.get(endpoint_id, 0.0):
            await self._commit(endpoint_id)
        rows = await select_rows(WebhookEndpoint, _held_sql(), endpoint_id, self.owner)
        if not rows:
            raise LeaseLost
        return rows[0]

    async def _release(self, endpoint_id: int) -> None:
        with contextlib.suppress(Exception):
            await WebhookEndpoint.filter(id=endpoint_id, lease_owner=self.owner).update(
                lease_owner=None, lease_until=None
            )

    async def run(self) -> None:
        """Claim every enabled endpoint no live worker holds, every poll interval (or at once
        when nudged), and deliver each on its own task; forever (cancel to stop)."""
        if self.client.is_closed:  # run again after a stop
            self.client = new_client(self.settings)
        try:
            while True:
                self.claim_now.clear()
                try:
                    await self.claim_endpoints()
                except Exception as exc:  # noqa: BLE001 - retried at the next interval
                    self._report("claiming webhook endpoints failed", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.webhook_poll_seconds):
                        await self.claim_now.wait()
        finally:
            tasks = list(self.tasks.values())
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if self._committer is not None:
                self._committer.cancel()
            for subscriber, _ in self.doorbells.values():
                if self.bus is not None:
                    self.bus.remove(subscriber)
            self.doorbells.clear()
            await self.client.aclose()
            await self.resolver.aclose()

    async def claim_endpoints(self) -> None:
        """Take the lease of every enabled endpoint whose lease is free or ran out (its worker
        died), and start delivering each on a task of its own."""
        now = datetime.now(UTC)
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=self.owner)
        rows = await WebhookEndpoint.filter(free, enabled=True).values_list("id", "workspace_id")
        for endpoint_id, workspace_id in rows:
            task = self.tasks.get(endpoint_id)
            if task is not None and not task.done():
                continue
            if await self._claim(endpoint_id):
                self._renewed(endpoint_id)
                self.wakers[endpoint_id] = asyncio.Event()
                self.tasks[endpoint_id] = asyncio.create_task(
                    self._serve(endpoint_id, workspace_id)
                )

    def _report(self, what: str, exc: BaseException) -> None:
        if is_unavailable(exc):
            report_unavailable(exc)
        else:
            log.error(what, exc_info=exc)

    async def _listen(self, endpoint_id: int, workspace_id: int) -> None:
        """Have the endpoint woken by every event of its workspace (one bus subscriber per
        workspace and worker)."""
        if self.bus is None:
            return
        entry = self.doorbells.get(workspace_id)
        if entry is None:
            subscriber = await self.bus.add(workspace_id, Doorbell)
            entry = self.doorbells.setdefault(workspace_id, (subscriber, set()))
            if entry[0] is not subscriber:  # another endpoint's task added one meanwhile
                self.bus.remove(subscriber)
            else:
                subscriber.heard = functools.partial(self._heard, workspace_id)
                subscriber.wake = functools.partial(self._ring, workspace_id)
        entry[1].add(endpoint_id)

    def _heard(self, workspace_id: int, item: Any) -> None:
        """Note when the workspace's contact erasures are heard (or events may have been
        missed): a body built before one is checked again before it is sent
        (:meth:`_deliver`)."""
        if not isinstance(item, LiveEvent) or item.type == EventType.CONTACT_ERASED.value:
            self.erasures[workspace_id] = asyncio.get_running_loop().time()

    def _ring(self, workspace_id: int) -> None:
        for endpoint_id in self.doorbells.get(workspace_id, (None, ()))[1]:
            waker = self.wakers.get(endpoint_id)
            if waker is not None:
                waker.set()

    def _unlisten(self, endpoint_id: int, workspace_id: int) -> None:
        entry = self.doorbells.get(workspace_id)
        if entry is None:
            return
        entry[1].discard(endpoint_id)
        if not entry[1]:
            del self.doorbells[workspace_id]
            if self.bus is not None:
                self.bus.remove(entry[0])

    async def _idle(self, endpoint_id: int) -> None:
        """Wait for an event of the endpoint's workspace, or the poll interval."""
        waker = self.wakers[endpoint_id]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.webhook_poll_seconds):
                await waker.wait()

    async def _serve(self, endpoint_id: int, workspace_id: int) -> None:
        """Deliver one endpoint while this worker holds its lease."""
        self.transports[endpoint_id] = EndpointTransport(
            self.ssl_context, self.resolver, address_check(self.settings)
        )
        try:
            try:  # the broadcast may be away (Redis): then the poll alone wakes it
                async with asyncio.timeout(LISTEN_SECONDS):
                    await self._listen(endpoint_id, workspace_id)
            except Exception as exc:  # noqa: BLE001 - delivery goes on without the doorbell
                self._report(f"listening for events of workspace {workspace_id} failed", exc)
            while True:
                self.wakers[endpoint_id].clear()  # what is committed from now on rings again
                try:
                    if not await self._deliver_page(endpoint_id):
                        await self._idle(endpoint_id)
                except LeaseLost:
                    return
                except Exception as exc:  # noqa: BLE001 - the database is away, or a bug: retry
                    self._report(f"delivering webhook endpoint {endpoint_id} failed", exc)
                    await asyncio.sleep(max(1.0, self.settings.webhook_poll_seconds))
        finally:
            self._unlisten(endpoint_id, workspace_id)
            self.tasks.pop(endpoint_id, None)
            self.renew_at.pop(endpoint_id, None)
            self.wakers.pop(endpoint_id, None)
            transport = self.transports.pop(endpoint_id, None)
            await asyncio.shield(self._release(endpoint_id))
            if transport is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(transport.aclose())

    async def _deliver_page(self, endpoint_id: int) -> bool:
        """Deliver the next page of the endpoint's events; whether there were any."""
        endpoint = await self._mine(endpoint_id)
        # every event up to the workspace's head is committed (sequences are drawn under its
        # row's lock, in commit order): read it first, so the cursor may pass what was not due
        heads = await select_values(WorkspaceRow, _HEAD_SQL, endpoint.workspace_id)
        head = heads[0]["event_sequence"] if heads else None
        types = endpoint.event_types.split()
        events = (
            await select_rows(
                Event, _page_sql(len(types)), endpoint.workspace_id, endpoint.cursor, *types
            )
            if types
            else []
        )
        if not events:
            if head is not None and int(head) > endpoint.cursor:
                # none of its types up to the head: later reads start there, and pruning
                # does not keep those events for it
                await self._commit(endpoint_id, cursor=int(head))
            return False
        loop = asyncio.get_running_loop()
        bodies, read_at = await self.views.bodies(endpoint, events)
        passed = endpoint.cursor  # the cursor as committed
        for index, event in enumerate(events):
            if loop.time() - read_at > FRESH_SECONDS:  # a delivery took a while: read again
                endpoint = await self._mine(endpoint_id)
                bodies[index:], read_at = await self.views.bodies(endpoint, events[index:])
            body = bodies[index]
            if body is not None:  # else not due: the cursor passes it with the next commit
                await self._deliver(endpoint, event, body, read_at)
                passed = event.sequence
        if events[-1].sequence > passed:
            await self._commit(endpoint_id, cursor=events[-1].sequence)
        return True

    async def _deliver(
        self, endpoint: WebhookEndpoint, event: Event, body: bytes, read_at: float
    ) -> None:
        """POST ``body`` (built from rows read at ``read_at``, event loop time) until the
        receiver accepts it (2xx), then commit the cursor with the attempt (:meth:`_delivered`).
        The first try goes to ``endpoint`` as read for the page; each retry reads it again.
        Whether the event's contact was erased meanwhile is read before each retry, and before
        the first try when ``read_at`` is more than :data:`FRESH_SECONDS` ago or an erasure in
        the workspace was heard since (:meth:`_heard`; else the body's rows are that fresh
        already: one query per delivery saved).

        Raises:
            LeaseLost: the endpoint went away meanwhile, or was disabled (by an owner, or here
                after the retry window).
        """
        settings = self.settings
        endpoint_id = endpoint.id
        msg_id = message_id(event.workspace_id, event.sequence)
        first_failure: datetime | None = None
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            if failures:
                endpoint = await self._mine(endpoint_id)
            if (
                failures
                or loop.time() - read_at > FRESH_SECONDS
                or self.erasures.get(endpoint.workspace_id, -math.inf) >= read_at
            ):
                # the event's contact may have been erased since its body was built
                body = await _body_after_erasure(endpoint, event, body)
                if not body:
                    return  # nothing of it may be shown any more
            at = datetime.now(UTC)
            via = self.transports.get(endpoint_id) or self.client
            self._sending += 1
            try:
                outcome = await post_once(via, settings, endpoint, msg_id, at, body)
            finally:
                self._sending -= 1
                self._arrived.set()  # the group commit waits no longer for this one
            attempt = {
                "sequence": event.sequence,
                "event_type": event.type,
                "msg_id": msg_id,
                "outcome": outcome,
                "at": at,
            }
            if outcome.error is None:
                await self._delivered(endpoint_id, attempt)
                return
            record = functools.partial(record_attempt, endpoint, **attempt)
            error, wait = outcome.error, outcome.wait
            first_failure = first_failure or at
            delay = min(
                settings.webhook_retry_max_seconds,
                settings.webhook_retry_min_seconds * 2**failures,
            ) * random.uniform(0.5, 1.0)
            if wait is not None:
                delay = min(settings.webhook_retry_max_seconds, max(delay, wait))
            failing_for = (datetime.now(UTC) - first_failure).total_seconds()
            if failing_for + delay > settings.webhook_retry_window_seconds:
                await record()
                failures += 1
                reason = (
                    f"Deliveries of event {event.sequence} failed for {int(failing_for)} s "
                    f"({failures} attempts; last: {error})."
                )
                await self._commit(endpoint_id, enabled=False, disabled_reason=reason[:500])
                log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
                raise LeaseLost
            await record(next_retry_at=datetime.now(UTC) + timedelta(seconds=delay))
            failures += 1
            log.info(
                "webhook %s to endpoint %s failed (%s); retrying in %.2f s",
                msg_id,
                endpoint_id,
                error,
                delay,
            )
            await self._pause(endpoint_id, delay)

    async def _pause(self, endpoint_id: int, seconds: float) -> None:
        """Sleep ``seconds``, renewing the lease meanwhile."""
        step = max(0.05, self.settings.webhook_lease_seconds / 3)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(step, left))
            if end - loop.time() > 0:
                await self._mine(endpoint_id)


TEST_EVENT_TYPE = "webhook.test"
"""The ``type`` of ``sendTestWebhook``'s body; its ``sequence`` is 0 (no outbox event)."""


async def _send_now(
    settings: Settings,
    endpoint: WebhookEndpoint,
    *,
    sequence: int,
    event_type: str,
    msg_id: str,
    body: bytes,
    client: httpx.AsyncClient | None,
) -> WebhookDelivery:
    """POST once, outside the endpoint's ordered queue, through ``client`` (the deliverer's;
    ``None``: a client of its own), and record the attempt, numbered after the event's
    attempts recorded before it (:func:`record_attempt`).

    Raises:
        NotFound: the endpoint was deleted meanwhile (``endpointId``).
    """
    at = datetime.now(UTC)
    if client is not None:
        outcome = await post_once(client, settings, endpoint, msg_id, at, body)
    else:
        async with new_client(settings) as own:
            outcome = await post_once(own, settings, endpoint, msg_id, at, body)

    row = await record_attempt(
        endpoint, sequence=sequence, event_type=event_type, msg_id=msg_id, outcome=outcome, at=at
    )
    if row is None:
        raise NotFound("Webhook endpoint", field="endpointId")
    return row


async def redeliver(
    settings: Settings,
    endpoint: WebhookEndpoint,
    sequence: int,
    client: httpx.AsyncClient | None = None,
) -> WebhookDelivery:
    """Send the outbox event ``sequence`` to ``endpoint`` once more, now, outside its ordered
    queue (the cursor does not move), with its ``webhook-id`` and its data as the endpoint's
    creator may see it now; the attempt is recorded and returned (not retried).

    Raises:
        BadUserInput: no such event is kept (pruned, or not yet committed), it is not of the
            endpoint's types, or its creator may not see it (``sequence``).
        NotFound: the endpoint was deleted meanwhile.
    """
    event = await Event.filter(workspace_id=endpoint.workspace_id, sequence=sequence).first()
    if event is None:
        raise BadUserInput(
            f"No event {sequence} is kept in the outbox (pruned after "
            "INBOX_GRAPH_EVENT_RETENTION_SECONDS, or not committed yet).",
            field="sequence",
        )
    if event.type not in endpoint.event_types.split():
        raise BadUserInput(
            f"Event {sequence} is a `{event.type}`, which this endpoint does not receive.",
            field="sequence",
        )
    audience = await audience_of(endpoint)
    data = event_data(event, audience, await Rows.load(endpoint.workspace_id, [event]))
    if data is None:
        raise BadUserInput(
            f"Event {sequence} is not delivered to this endpoint: its creator may not see it.",
            field="sequence",
        )
    return await _send_now(
        settings,
        endpoint,
        sequence=sequence,
        event_type=event.type,
        msg_id=message_id(event.workspace_id, sequence),
        body=body_of(event, data),
        client=client,
    )


async def send_test(
    settings: Settings, endpoint: WebhookEndpoint, client: httpx.AsyncClient | None = None
) -> WebhookDelivery:
    """Send ``endpoint`` a signed ``webhook.test`` event now (``webhook-id``
    ``msg_test_<random>``, ``sequence`` 0, ``data``: ``{"webhookEndpointId": <global id>}``),
    once; the attempt is recorded and returned.

    Raises:
        NotFound: the endpoint was deleted meanwhile.
    """
    body = json.dumps(
        {
            "type": TEST_EVENT_TYPE,
            "timestamp": _iso(datetime.now(UTC)),
            "sequence": 0,
            "workspaceId": to_global_id("Workspace", endpoint.workspace_id),
            "data": {"webhookEndpointId": to_global_id("WebhookEndpoint", endpoint.id)},
        },
        separators=(",", ":"),
    ).encode()
    return await _send_now(
        settings,
        endpoint,
        sequence=0,
        event_type=TEST_EVENT_TYPE,
        msg_id=f"msg_test_{uuid.uuid4().hex}",
        body=body,
        client=client,
    )


async def replay(endpoint: WebhookEndpoint, from_sequence: int) -> WebhookEndpoint:
    """Move ``endpoint``'s cursor back so that its events from ``from_sequence`` on are
    delivered again, in order, through its queue (each with its ``webhook-id``, as before). The
    worker holding its lease loses it (an event in flight may still arrive); the next claim
    resumes from the new cursor.

    One transaction holding the endpoint's row (``FOR UPDATE``) from before it reads the
    oldest event kept until the cursor is committed: the outbox's pruning
    (:func:`db.outbox.prune_events`) locks every endpoint's row before it reads the cursors,
    so it either deleted its events before this reads the oldest, or waits for the new cursor
    and keeps the events after it.

    Raises:
        BadUserInput: ``from_sequence`` is before the oldest event the outbox keeps, or after
            the workspace's last one (``fromSequence``; ``extensions.oldestSequence`` names the
            oldest kept).
        NotFound: the endpoint was deleted meanwhile.
    """

    async def operation(tx: Transaction) -> WebhookEndpoint | None:
        query = WebhookEndpoint.filter(id=endpoint.id).using_db(tx.connection)
        if await query.select_for_update().first() is None:
            return None
        oldest, head = await kept_history(tx.connection, endpoint.workspace_id)
        if from_sequence < oldest or from_sequence > head + 1:
            raise BadUserInput(
                f"`fromSequence` must be between {oldest}, the oldest event the outbox keeps, "
                f"and {head + 1}.",
                field="fromSequence",
                oldestSequence=oldest,
            )
        await query.update(
            cursor=from_sequence - 1,
            lease_owner=None,
            lease_until=None,
            updated_at=datetime.now(UTC),
        )
        return await query.first()

    row = await write(None, endpoint.workspace_id, operation)
    if row is None:
        raise NotFound("Webhook endpoint", field="endpointId")
    return row


__all__ = [
    "TEST_EVENT_TYPE",
    "Audience",
    "LeaseLost",
    "Rows",
    "Views",
    "WebhookDeliverer",
    "attempt_row",
    "audience_of",
    "body_of",
    "event_data",
    "message_id",
    "new_client",
    "post_once",
    "record_attempt",
    "redeliver",
    "replay",
    "retry_after",
    "send_test",
    "signature",
]

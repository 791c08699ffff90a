"""Outbound webhook endpoints (issue 20): the event catalogue, the endpoint type and its root
fields. Rules: :mod:`graph.resolvers.webhook`; delivery: :mod:`graph.webhooks`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from db import models as m
from graph.events import WEBHOOK_EVENTS, EventType
from graph.idempotency import IdempotencyKeyArgument, idempotent
from graph.loaders import related
from graph.relay import PageRequest, decode_id, to_global_id
from graph.resolvers import webhook as webhook_resolvers
from graph.schema.core import After, Before, Connection, First, Last, Node, connection_field
from graph.schema.user import User
from graph.secrets import SecretBox
from graph.webhooks import redeliver, replay, send_test

WebhookEventType = strawberry.enum(
    Enum(  # type: ignore[misc]
        "WebhookEventType",
        {
            e.name: strawberry.enum_value(
                e.value, description=f"Outbox events of type `{e.value}` (the body's `type`)."
            )
            for e in WEBHOOK_EVENTS
        },
    ),
    name="WebhookEventType",
    description="The events a webhook endpoint may receive: the outbox's conversation, "
    "message, contact, activity and call events (graph/events.py). The delivered body's "
    "`type` is the value shown on each member, e.g. `message.created`.",
)


def _event_type(value: object) -> EventType:
    return EventType(getattr(value, "value", value))


@strawberry.type(
    description="A partner's HTTPS endpoint receiving the workspace's events, signed per the "
    "Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature), in "
    "sequence order, with the data its creator may see. Its signing secret is shown only by "
    "createWebhookEndpoint and rotateWebhookEndpointSecret."
)
class WebhookEndpoint(Node):
    row: strawberry.Private[m.WebhookEndpoint]

    @classmethod
    def from_row(cls, row: m.WebhookEndpoint) -> WebhookEndpoint:
        return cls(id=to_global_id("WebhookEndpoint", row.id), row=row)

    @strawberry.field(description="Where events are POSTed.")
    def url(self) -> str:
        return self.row.url

    @strawberry.field(description="Free text for people (at most 500 characters).")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The event types it receives, in the catalogue's order.")
    def event_types(self) -> list[WebhookEventType]:  # type: ignore[valid-type]
        wanted = set(webhook_resolvers.event_types_of(self.row))
        return [WebhookEventType[e.name] for e in WEBHOOK_EVENTS if e in wanted]

    @strawberry.field(
        description="Whether events are delivered to it. A disabled endpoint's events wait "
        "(from its last delivered sequence) until it is enabled again."
    )
    def enabled(self) -> bool:
        return self.row.enabled

    @strawberry.field(
        description="Why the server disabled it (its deliveries kept failing for "
        "INBOX_GRAPH_WEBHOOK_RETRY_WINDOW_SECONDS); null when an owner did, or it is enabled."
    )
    def disabled_reason(self) -> str | None:
        return self.row.disabled_reason

    @strawberry.field(
        description="The workspace sequence of the last event it received or was not due "
        "(not of its types, or about a contact its creator may not see); the next delivery is "
        "of a later one."
    )
    def last_delivered_sequence(self) -> int:
        return self.row.cursor

    @strawberry.field(
        description="Where its history starts after a gap: set when it was last enabled again "
        "after the outbox had pruned events it had not received (it was disabled for longer "
        "than INBOX_GRAPH_EVENT_RETENTION_SECONDS, a day by default). The workspace sequence "
        "of the oldest event kept then, from which its deliveries resumed: the events between "
        "its lastDeliveredSequence before that and this one were never delivered and cannot "
        "be replayed (read what changed through the API). Null when it lost nothing; "
        "updateWebhookEndpoint's result shows it at once."
    )
    def history_starts_at_sequence(self) -> int | None:
        return self.row.history_starts_at

    @strawberry.field(
        description="The owner who created it: deliveries carry what this user may see, phone "
        "numbers masked as for this user."
    )
    def created_by(self, info: Info) -> User:
        return related(info.context.loaders.user, self.row.created_by_id, User.from_row)

    @strawberry.field(
        description="Until when (UTC) the secret replaced by the last rotation still signs "
        "deliveries (a second signature); null when there is none."
    )
    def previous_secret_expires_at(self) -> datetime | None:
        return self.row.previous_secret_expires_at

    @strawberry.field(description="UTC.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="UTC: the last change by an owner or by the deliverer.")
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.type(description="A page of webhook endpoints, newest first.")
class WebhookEndpointConnection(Connection[WebhookEndpoint]):
    pass


@strawberry.type(
    description="One attempt to deliver an event to a webhook endpoint, as the deliverer "
    "recorded it. Attempts are kept as long as the outbox keeps events "
    "(INBOX_GRAPH_EVENT_RETENTION_SECONDS, a day by default)."
)
class WebhookDelivery:
    row: strawberry.Private[m.WebhookDelivery]

    @strawberry.field(description="The event's workspace sequence (the body's `sequence`).")
    def sequence(self) -> int:
        return self.row.sequence

    @strawberry.field(description="The event's type (the body's `type`), e.g. `message.created`.")
    def event_type(self) -> str:
        return self.row.event_type

    @strawberry.field(
        description="The webhook-id header sent: the same on every attempt of one event."
    )
    def webhook_id(self) -> str:
        return self.row.webhook_id

    @strawberry.field(description="1 for the event's first attempt, counting up per retry.")
    def attempt(self) -> int:
        return self.row.attempt

    @strawberry.field(
        description="The receiver's HTTP status code; null when no answer came (timeout, "
        "connection error: see `error`)."
    )
    def status_code(self) -> int | None:
        return self.row.status_code

    @strawberry.field(
        description="Why the attempt failed (e.g. `HTTP 500`, a timeout or connection error); "
        "null when the receiver accepted it (2xx)."
    )
    def error(self) -> str | None:
        return self.row.error

    @strawberry.field(description="Whether the receiver accepted it (a 2xx answer).")
    def succeeded(self) -> bool:
        return self.row.error is None

    @strawberry.field(description="How long the request took, in milliseconds.")
    def duration_ms(self) -> int:
        return self.row.duration_ms

    @strawberry.field(description="When the attempt started (UTC).")
    def attempted_at(self) -> datetime:
        return self.row.attempted_at

    @strawberry.field(
        description="When the next attempt of this event is due (UTC); null after a success, "
        "or when the failure disabled the endpoint."
    )
    def next_retry_at(self) -> datetime | None:
        return self.row.next_retry_at


@strawberry.type(description="A page of a webhook endpoint's delivery attempts, newest first.")
class WebhookDeliveryConnection(Connection[WebhookDelivery]):
    pass


@strawberry.type(description="A webhook endpoint and its new signing secret, shown this once.")
class WebhookEndpointSecretPayload:
    secret: str = strawberry.field(
        description="The signing secret in the Standard Webhooks format (`whsec_` and base64): "
        "give it to the receiver's verifier. Never readable again."
    )
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https:// URL; in production not a loopback, private or link-local address; "
        "outside production http:// to a loopback host is allowed."
    )
    event_types: list[WebhookEventType] = strawberry.field(  # type: ignore[valid-type]
        description="At least one event type to receive."
    )
    description: str | None = strawberry.field(
        default=None, description="Free text for people (at most 500 characters)."
    )
    enabled: bool = strawberry.field(default=True, description="Deliver from now on.")


@strawberry.input(description="Only the fields given change.")
class UpdateWebhookEndpointInput:
    url: str | None = strawberry.field(default=None, description="As on creation.")
    event_types: list[WebhookEventType] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="At least one event type to receive."
    )
    description: str | None = strawberry.field(
        default=None, description="Free text for people (at most 500 characters)."
    )
    enabled: bool | None = strawberry.field(
        default=None,
        description="false disables it (its events wait, as long as the outbox keeps them); "
        "true enables it again, resuming after its last delivered sequence (or, when events "
        "it had not received were pruned meanwhile, from the oldest kept: see "
        "`historyStartsAtSequence`), and clears `disabledReason`.",
    )


def _nudge(info: Info) -> None:
    """This worker's deliverer claims endpoints now (one was created, enabled or replayed)
    instead of at its next poll."""
    if info.context.webhooks is not None:
        info.context.webhooks.nudge()


_ERRORS = (
    "Owners only (tokens: ADMIN scope): FORBIDDEN for anyone else; NOT_FOUND for an id that is "
    "not an endpoint of the workspace."
)


@strawberry.type
class WebhookQueries:
    @connection_field(
        description="The workspace's webhook endpoints, newest first; never their secrets. "
        f"{_ERRORS} BAD_USER_INPUT for a bad page size or cursor."
    )
    async def webhook_endpoints(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookEndpointConnection:
        request = PageRequest.parse(first, after, last, before, (int,))
        page = await webhook_resolvers.list_endpoints(info.context.viewer, request)
        return WebhookEndpointConnection.from_page(page, WebhookEndpoint.from_row)

    @connection_field(
        description="The delivery attempts of one webhook endpoint, newest first: each try of "
        "each event with its status code or error, duration and next retry; kept as long as "
        "the outbox keeps events (INBOX_GRAPH_EVENT_RETENTION_SECONDS). "
        f"{_ERRORS} BAD_USER_INPUT for a bad endpointId, page size or cursor."
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID, strawberry.argument(description="The endpoint's global id.")
        ],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookDeliveryConnection:
        endpoint = decode_id(endpoint_id, "WebhookEndpoint", field="endpointId")
        request = PageRequest.parse(first, after, last, before, (int,))
        page = await webhook_resolvers.list_deliveries(info.context.viewer, endpoint, request)
        return WebhookDeliveryConnection.from_page(page, lambda row: WebhookDelivery(row=row))


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="A new webhook endpoint created by the viewer; it receives the events "
        "committed from now on. The signing secret is generated by the server and returned "
        "this once. A retry with the same idempotencyKey returns it again only when the server "
        "has INBOX_GRAPH_SECRET_KEY; otherwise CONFLICT with the endpoint's id in "
        "`extensions.webhookEndpointId` (rotate its secret). "
        f"{_ERRORS} BAD_USER_INPUT (url, eventTypes, description)."
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[
            CreateWebhookEndpointInput, strawberry.argument(description="The new endpoint.")
        ],
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> WebhookEndpointSecretPayload:
        ctx = info.context
        issued = await idempotent(
            info,
            idempotency_key,
            {"input": input},
            webhook_resolvers.IssuedSecretOutcome(SecretBox(ctx.settings.secret_keys)),
            lambda once: webhook_resolvers.create_endpoint(
                ctx.viewer,
                url=input.url,
                event_types=[_event_type(e) for e in input.event_types],
                description=input.description,
                enabled=input.enabled,
                production=ctx.settings.production,
                once=once,
            ),
        )
        _nudge(info)
        return WebhookEndpointSecretPayload(
            secret=issued.secret, webhook_endpoint=WebhookEndpoint.from_row(issued.row)
        )

    @strawberry.mutation(
        description="Change a webhook endpoint: its URL, event types, description, or enable "
        f"and disable it. {_ERRORS} BAD_USER_INPUT as on creation."
    )
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's global id.")],
        input: Annotated[
            UpdateWebhookEndpointInput, strawberry.argument(description="What changes.")
        ],
    ) -> WebhookEndpoint:
        ctx = info.context
        row = await webhook_resolvers.update_endpoint(
            ctx.viewer,
            decode_id(id, "WebhookEndpoint"),
            url=input.url,
            event_types=(
                [_event_type(e) for e in input.event_types]
                if input.event_types is not None
                else None
            ),
            description=input.description,
            enabled=input.enabled,
            production=ctx.settings.production,
        )
        _nudge(info)
        return WebhookEndpoint.from_row(row)

    @strawberry.mutation(
        description="A new signing secret for the endpoint, returned this once; the previous "
        "one also signs deliveries (a second signature in webhook-signature) for "
        f"INBOX_GRAPH_WEBHOOK_SECRET_GRACE_SECONDS (a day by default). {_ERRORS}"
    )
    async def rotate_webhook_endpoint_secret(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's global id.")],
    ) -> WebhookEndpointSecretPayload:
        ctx = info.context
        issued = await webhook_resolvers.rotate_secret(
            ctx.viewer,
            decode_id(id, "WebhookEndpoint"),
            grace_seconds=ctx.settings.webhook_secret_grace_seconds,
        )
        return WebhookEndpointSecretPayload(
            secret=issued.secret, webhook_endpoint=WebhookEndpoint.from_row(issued.row)
        )

    @strawberry.mutation(
        description="Delete a webhook endpoint: nothing more is delivered to it (a delivery in "
        f"flight may still arrive). Returns its id. {_ERRORS}"
    )
    async def delete_webhook_endpoint(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's global id.")],
    ) -> strawberry.ID:
        endpoint_id = await webhook_resolvers.delete_endpoint(
            info.context.viewer, decode_id(id, "WebhookEndpoint")
        )
        return to_global_id("WebhookEndpoint", endpoint_id)

    @strawberry.mutation(
        description="Send one outbox event to the endpoint again, now, outside its ordered "
        "queue (its lastDeliveredSequence does not move), with the same webhook-id and the "
        "data its creator may see now; sent once, not retried. Returns the attempt. "
        f"{_ERRORS} BAD_USER_INPUT (sequence) when the outbox no longer keeps that event "
        "(INBOX_GRAPH_EVENT_RETENTION_SECONDS), it is not of the endpoint's types, or its "
        "creator may not see it."
    )
    async def redeliver_webhook_event(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID, strawberry.argument(description="The endpoint's global id.")
        ],
        sequence: Annotated[
            int,
            strawberry.argument(description="The event's workspace sequence (the body's)."),
        ],
    ) -> WebhookDelivery:
        ctx = info.context
        endpoint = await webhook_resolvers.get_endpoint(
            ctx.viewer, decode_id(endpoint_id, "WebhookEndpoint", field="endpointId"), "endpointId"
        )
        client = ctx.webhooks.client if ctx.webhooks is not None else None
        return WebhookDelivery(row=await redeliver(ctx.settings, endpoint, sequence, client))

    @strawberry.mutation(
        description="Deliver the endpoint's events again from `fromSequence` on, in order, "
        "through its queue (each with its webhook-id, as before): its lastDeliveredSequence "
        "becomes fromSequence - 1. An event in flight meanwhile may still arrive. "
        f"{_ERRORS} BAD_USER_INPUT (fromSequence) before the oldest event the outbox keeps "
        "(named by the message and `extensions.oldestSequence`) or after the workspace's last."
    )
    async def replay_webhook_endpoint(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID, strawberry.argument(description="The endpoint's global id.")
        ],
        from_sequence: Annotated[
            int,
            strawberry.argument(description="The workspace sequence of the first event to send."),
        ],
    ) -> WebhookEndpoint:
        ctx = info.context
        endpoint = await webhook_resolvers.get_endpoint(
            ctx.viewer, decode_id(endpoint_id, "WebhookEndpoint", field="endpointId"), "endpointId"
        )
        row = await replay(endpoint, from_sequence)
        _nudge(info)
        return WebhookEndpoint.from_row(row)

    @strawberry.mutation(
        description="Send the endpoint a signed `webhook.test` event now (webhook-id "
        "`msg_test_…`, sequence 0, data `{webhookEndpointId}`), once, even while it is "
        f"disabled; returns the attempt's outcome (status code or error). {_ERRORS}"
    )
    async def send_test_webhook(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID, strawberry.argument(description="The endpoint's global id.")
        ],
    ) -> WebhookDelivery:
        ctx = info.context
        endpoint = await webhook_resolvers.get_endpoint(
            ctx.viewer, decode_id(endpoint_id, "WebhookEndpoint", field="endpointId"), "endpointId"
        )
        client = ctx.webhooks.client if ctx.webhooks is not None else None
        return WebhookDelivery(row=await send_test(ctx.settings, endpoint, client))


__all__ = [
    "CreateWebhookEndpointInput",
    "UpdateWebhookEndpointInput",
    "WebhookDelivery",
    "WebhookDeliveryConnection",
    "WebhookEndpoint",
    "WebhookEndpointConnection",
    "WebhookEndpointSecretPayload",
    "WebhookEventType",
    "WebhookMutations",
    "WebhookQueries",
]

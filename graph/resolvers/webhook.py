"""Webhook endpoints: who manages them and what a valid one is (issue 20, part 1;
``domain.md`` section 8). Delivery is :mod:`graph.webhooks`.

- Owners manage the workspace's endpoints (:func:`graph.permissions.visibility.webhook_endpoint_access`);
  a token needs the ``ADMIN`` scope (:mod:`graph.permissions.scopes`). Anyone else gets
  ``FORBIDDEN``; an endpoint of another workspace is ``NOT_FOUND``.
- The signing secret is generated here (:func:`new_secret`, Standard Webhooks' ``whsec_`` +
  base64 of 32 random bytes), returned by ``createWebhookEndpoint`` and
  ``rotateWebhookEndpointSecret`` only. After a rotation the previous secret keeps signing
  (a second signature in ``webhook-signature``) for ``INBOX_GRAPH_WEBHOOK_SECRET_GRACE_SECONDS``.
- URLs (:func:`clean_url`): ``https://`` only, no credentials; in production
  (``INBOX_GRAPH_ENV=production``) no host that is a loopback, private, link-local or otherwise
  non-public address (checked again at every connection against the addresses the name resolves
  to, which the connection then uses: :func:`refuse_non_public`); outside production ``http://`` is allowed to loopback hosts,
  for local receivers.
- A new endpoint receives the events committed after its creation: its cursor starts at the
  workspace's current sequence.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from db.models import WebhookDelivery, WebhookEndpoint, Workspace
from db.outbox import kept_history
from graph.errors import (
    BadUserInput,
    Conflict,
    FieldErrors,
    Forbidden,
    NotFound,
)
from graph.events import WEBHOOK_EVENTS, EventType
from graph.live import write
from graph.permissions.visibility import webhook_endpoint_access
from graph.relay import Page, to_global_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tortoise.queryset import QuerySet

    from graph.idempotency import Once
    from graph.live import Transaction
    from graph.permissions.visibility import Viewer
    from graph.relay import PageRequest
    from graph.secrets import SecretBox

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
ENDPOINT_ORDER = (("id", True),)
"""``webhookEndpoints`` lists the newest first."""
DELIVERY_ORDER = (("id", True),)
"""``webhookDeliveries`` lists the newest attempt first (ids grow with time)."""
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def new_secret() -> str:
    """A new signing secret in the Standard Webhooks format: ``whsec_`` and the base64 of 32
    random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""IPv6 addresses a NAT64 gateway translates to the IPv4 address in their last 32 bits."""
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
"""Deprecated site-local IPv6 addresses (private in practice; Python calls them global)."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is a public unicast address (not loopback, private, link-local,
    shared, reserved, multicast or unspecified). An IPv6 address that carries an IPv4 one
    (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``)
    is public when that IPv4 address is; a site-local one (``fec0::/10``) is not."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _SITE_LOCAL:
            return False
        if address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        else:
            address = address.ipv4_mapped or address.sixtofour or address
    return address.is_global and not address.is_multicast


def _is_loopback_host(host: str) -> bool:
    address = _address(host)
    if address is not None:
        return address.is_loopback
    host = host.rstrip(".").lower()
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def clean_url(value: str | None, *, production: bool, field: str = "url") -> str:
    """``value`` if it may be a webhook endpoint's URL.

    Args:
        production: whether the server runs in production (``Settings.production``): then
            only ``https://`` to a host that is not a non-public address literal or a
            ``localhost`` name; otherwise also ``http://`` to a loopback host.

    Raises:
        BadUserInput: otherwise, naming ``field``.
    """
    value = (value or "").strip()
    if not value or len(value) > MAX_URL_LENGTH:
        raise BadUserInput(
            f"`{field}` must be a URL of 1 to {MAX_URL_LENGTH} characters.", field=field
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise BadUserInput(f"`{field}` is not a valid URL.", field=field) from None
    if parts.scheme not in ("https", "http") or not host:
        raise BadUserInput(f"`{field}` must be an https:// URL with a host.", field=field)
    if parts.username is not None or parts.password is not None:
        raise BadUserInput(f"`{field}` must not carry credentials.", field=field)
    if parts.fragment:
        raise BadUserInput(f"`{field}` must not have a #fragment.", field=field)
    loopback = _is_loopback_host(host)
    if parts.scheme == "http" and (production or not loopback):
        raise BadUserInput(
            f"`{field}` must use https:// (http:// only to a loopback host outside production).",
            field=field,
        )
    if production:
        address = _address(host)
        if loopback or (address is not None and not is_public(address)):
            raise BadUserInput(
                f"`{field}` must not point at a loopback, private or link-local address.",
                field=field,
            )
    return value


def refuse_non_public(host: str, addresses: Iterable[str]) -> None:
    """Refuse to connect to ``host`` when an address it resolved to is not public
    (:func:`is_public`): production deliveries check the very addresses they connect to, at
    every connection (:class:`graph.webhook_http.AsyncioBackend`), against DNS rebinding and
    names that resolve to internal hosts. The message names no address: an endpoint's owner
    reads it (``webhookDeliveries``), and internal DNS answers are not theirs to learn.

    Raises:
        ConnectionRefusedError: an address is not public.
    """
    for text in addresses:
        address = _address(text)
        if address is None or not is_public(address):
            raise ConnectionRefusedError(f"{host} resolves to a non-public address")


def clean_event_types(values: Iterable[EventType] | None, field: str = "eventTypes") -> str:
    """The event types an endpoint wants, as stored (values separated by spaces, in the
    catalogue's order).

    Raises:
        BadUserInput: an empty list, or a type outside :data:`graph.events.WEBHOOK_EVENTS`.
    """
    wanted = {EventType(v) for v in values or ()}
    if not wanted:
        raise BadUserInput(f"`{field}` must name at least one event type.", field=field)
    if wanted - set(WEBHOOK_EVENTS):
        raise BadUserInput(f"`{field}` names an event type webhooks do not carry.", field=field)
    return " ".join(e.value for e in WEBHOOK_EVENTS if e in wanted)


def event_types_of(row: WebhookEndpoint) -> list[EventType]:
    """The event types ``row`` receives, in the catalogue's order."""
    return [EventType(v) for v in row.event_types.split()]


def _clean_description(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise BadUserInput(
            f"`description` must be at most {MAX_DESCRIPTION_LENGTH} characters.",
            field="description",
        )
    return value


def endpoints_visible_to(viewer: Viewer) -> QuerySet[WebhookEndpoint]:
    """The endpoints ``viewer`` manages.

    Raises:
        Forbidden: the viewer is not an owner.
    """
    access = webhook_endpoint_access(viewer)
    if access is None:
        raise Forbidden("Only owners manage webhook endpoints.")
    return WebhookEndpoint.filter(access)


@dataclass
class IssuedSecret:
    """An endpoint and its new signing secret (shown once)."""

    secret: str
    row: WebhookEndpoint


@dataclass(frozen=True)
class IssuedSecretOutcome:
    """How ``createWebhookEndpoint``'s result is kept with its idempotency key
    (:mod:`graph.idempotency`): the endpoint's id and, when the server has
    ``INBOX_GRAPH_SECRET_KEY``, its secret encrypted with it, as ``createAccessToken`` keeps its
    token (:class:`graph.resolvers.access_token.IssuedTokenOutcome`). A retry gets the endpoint
    as it is now with its secret; without a stored secret it cannot be shown twice:
    ``CONFLICT`` naming the endpoint (``extensions.webhookEndpointId``)."""

    box: SecretBox

    def keep(self, result: IssuedSecret) -> dict[str, Any]:
        kept: dict[str, Any] = {"id": result.row.id}
        if self.box.configured:
            kept["secret"] = self.box.encrypt(result.secret)
        return kept

    async def restore(self, kept: dict[str, Any], viewer: Viewer) -> IssuedSecret:
        """The endpoint a recorded key created, with its secret.

        Raises:
            NotFound: the endpoint was deleted since.
            Conflict: its secret was not kept, or was rotated since.
        """
        row = await endpoints_visible_to(viewer).filter(id=kept["id"]).first()
        if row is None:
            raise NotFound("Webhook endpoint")
        secret = self.box.decrypt_kept(kept.get("secret"))
        if secret is None or secret != row.secret:
            raise Conflict(
                "This idempotencyKey created a webhook endpoint already; its secret is shown "
                "once only. Rotate that endpoint's secret (extensions.webhookEndpointId).",
                field="idempotencyKey",
                webhookEndpointId=to_global_id("WebhookEndpoint", row.id),
            )
        return IssuedSecret(secret, row)


async def create_endpoint(
    viewer: Viewer,
    *,
    url: str,
    event_types: Iterable[EventType],
    description: str | None = None,
    enabled: bool = True,
    production: bool,
    once: Once | None = None,
) -> IssuedSecret:
    """A new endpoint of the viewer's workspace, created by the viewer, receiving the events
    committed from now on; ``once``: the request's idempotency key (:mod:`graph.idempotency`).

    Raises:
        Forbidden: the viewer is not an owner.
        BadUserInput: ``url``, ``eventTypes`` or ``description`` (see :func:`clean_url`,
            :func:`clean_event_types`; description: at most 500 characters); several bad
            fields are reported together (:class:`graph.errors.FieldErrors`).
    """
    endpoints_visible_to(viewer)
    values: dict[str, Any] = {"enabled": bool(enabled)}
    errors = FieldErrors()
    with errors.collect():
        values["url"] = clean_url(url, production=production)
    with errors.collect():
        values["event_types"] = clean_event_types(event_types)
    with errors.collect():
        values["description"] = _clean_description(description)
    errors.raise_if_any()  # every bad field at once
    secret = new_secret()

    async def operation(tx: Transaction) -> IssuedSecret:
        sequence = await (
            Workspace.filter(id=viewer.workspace_id)
            .using_db(tx.connection)
            .first()
            .values_list("event_sequence", flat=True)
        )
        row = await WebhookEndpoint.create(
            workspace_id=viewer.workspace_id,
            created_by_id=viewer.user_id,
            secret=secret,
            cursor=int(sequence or 0),
            using_db=tx.connection,
            **values,
        )
        return IssuedSecret(secret, row)

    return await write(None, viewer.workspace_id, operation, once=once)


async def _find(viewer: Viewer, endpoint_id: int, field: str = "id") -> WebhookEndpoint:
    row = await endpoints_visible_to(viewer).filter(id=endpoint_id).first()
    if row is None:
        raise NotFound("Webhook endpoint", field=field)
    return row


async def get_endpoint(viewer: Viewer, endpoint_id: int, field: str = "id") -> WebhookEndpoint:
    """The endpoint ``endpoint_id`` of the viewer's workspace.

    Raises:
        Forbidden: the viewer is not an owner.
        NotFound: no such endpoint in the workspace (``field``: the argument naming it).
    """
    return await _find(viewer, endpoint_id, field)


async def update_endpoint(
    viewer: Viewer,
    endpoint_id: int,
    *,
    url: str | None = None,
    event_types: Iterable[EventType] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    production: bool,
) -> WebhookEndpoint:
    """Change the fields given (``None``: unchanged). Enabling an endpoint clears the reason
    it was disabled; it resumes after the last event it received, or, when the outbox pruned
    events it had not received while it was disabled (``INBOX_GRAPH_EVENT_RETENTION_SECONDS``,
    ``domain.md`` section 8), from the oldest event kept, which its ``history_starts_at``
    names from then on (:func:`_resumption`).

    Raises:
        Forbidden: the viewer is not an owner.
        NotFound: no such endpoint in the workspace (``id``).
        BadUserInput: as :func:`create_endpoint`.
    """
    await _find(viewer, endpoint_id)
    changes: dict[str, Any] = {}
    errors = FieldErrors()
    if url is not None:
        with errors.collect():
            changes["url"] = clean_url(url, production=production)
    if event_types is not None:
        with errors.collect():
            changes["event_types"] = clean_event_types(event_types)
    if description is not None:
        with errors.collect():
            changes["description"] = _clean_description(description)
    errors.raise_if_any()  # every bad field at once
    if enabled is not None:
        changes["enabled"] = bool(enabled)
        if enabled:
            changes["disabled_reason"] = None

    async def operation(tx: Transaction) -> WebhookEndpoint | None:
        query = WebhookEndpoint.filter(id=endpoint_id).using_db(tx.connection)
        row = await query.select_for_update().first()
        if row is None:
            return None
        now = {**changes}
        if enabled and not row.enabled:
            now.update(await _resumption(tx, row))
        if now:
            await query.update(**now, updated_at=datetime.now(UTC))
        return await query.first()

    row = await write(None, viewer.workspace_id, operation)
    if row is None:
        raise NotFound("Webhook endpoint", field="id")
    return row


async def _resumption(tx: Transaction, row: WebhookEndpoint) -> dict[str, Any]:
    """Where a disabled endpoint resumes when enabled again: after its cursor, or from the
    oldest event the outbox keeps when events after its cursor were pruned meanwhile (then
    ``history_starts_at`` is that sequence, and the cursor moves to just before it). The
    outbox keeps a workspace's events from its oldest kept one to its head without a gap
    (pruning drops the oldest first: :func:`db.outbox.prune_events`). Returns the changes."""
    oldest, _ = await kept_history(tx.connection, row.workspace_id)
    if oldest > row.cursor + 1:
        return {"history_starts_at": oldest, "cursor": oldest - 1}
    return {"history_starts_at": None}


async def rotate_secret(viewer: Viewer, endpoint_id: int, *, grace_seconds: float) -> IssuedSecret:
    """Give the endpoint a new signing secret; the current one keeps signing for
    ``grace_seconds`` (both signatures are sent meanwhile).

    Raises:
        Forbidden: the viewer is not an owner.
        NotFound: no such endpoint in the workspace (``id``).
    """
    await _find(viewer, endpoint_id)
    secret = new_secret()

    async def operation(tx: Transaction) -> WebhookEndpoint | None:
        row = (
            await WebhookEndpoint.filter(id=endpoint_id)
            .using_db(tx.connection)
            .select_for_update()
            .first()
        )
        if row is None:
            return None
        now = datetime.now(UTC)
        await (
            WebhookEndpoint.filter(id=endpoint_id)
            .using_db(tx.connection)
            .update(
                secret=secret,
                previous_secret=row.secret,
                previous_secret_expires_at=now + timedelta(seconds=grace_seconds),
                updated_at=now,
            )
        )
        return await WebhookEndpoint.filter(id=endpoint_id).using_db(tx.connection).first()

    row = await write(None, viewer.workspace_id, operation)
    if row is None:
        raise NotFound("Webhook endpoint", field="id")
    return IssuedSecret(secret, row)


async def delete_endpoint(viewer: Viewer, endpoint_id: int) -> int:
    """Delete the endpoint; nothing more is delivered to it. Returns its id.

    Raises:
        Forbidden: the viewer is not an owner.
        NotFound: no such endpoint in the workspace (``id``).
    """
    await _find(viewer, endpoint_id)

    async def operation(tx: Transaction) -> int:
        return await WebhookEndpoint.filter(id=endpoint_id).using_db(tx.connection).delete()

    if not await write(None, viewer.workspace_id, operation):
        raise NotFound("Webhook endpoint", field="id")
    return endpoint_id


async def list_endpoints(viewer: Viewer, request: PageRequest) -> Page[WebhookEndpoint]:
    """A page of the workspace's endpoints, newest first (keyset ``[id]``, both ways;
    ``totalCount`` counts them all).

    Raises:
        Forbidden: the viewer is not an owner.
    """
    query = endpoints_visible_to(viewer)
    rows = await request.read(query, ENDPOINT_ORDER)
    return Page.of(rows, request, lambda row: [row.id], query.count)


async def list_deliveries(
    viewer: Viewer, endpoint_id: int, request: PageRequest
) -> Page[WebhookDelivery]:
    """A page of the endpoint's delivery attempts (:class:`db.models.WebhookDelivery`), newest
    first (keyset ``[id]``, both ways; ``totalCount`` counts those kept: the outbox's
    retention, ``INBOX_GRAPH_EVENT_RETENTION_SECONDS``).

    Raises:
        Forbidden: the viewer is not an owner.
        NotFound: no such endpoint in the workspace (``endpointId``).
    """
    await _find(viewer, endpoint_id, "endpointId")
    query = WebhookDelivery.filter(endpoint_id=endpoint_id)
    rows = await request.read(query, DELIVERY_ORDER)
    return Page.of(rows, request, lambda r: [r.id], query.count)


__all__ = [
    "IssuedSecret",
    "IssuedSecretOutcome",
    "clean_event_types",
    "clean_url",
    "create_endpoint",
    "delete_endpoint",
    "endpoints_visible_to",
    "event_types_of",
    "get_endpoint",
    "is_public",
    "list_deliveries",
    "list_endpoints",
    "new_secret",
    "refuse_non_public",
    "rotate_secret",
    "update_endpoint",
]

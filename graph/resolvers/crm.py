"""CRM tabs: connecting HubSpot and Salesforce, the record linked to a contact, and edits
written back to the CRM (``domain.md`` section 6, CRM tabs).

- Owners connect and disconnect each CRM; the access token is checked against the CRM first
  and stored encrypted (:mod:`graph.secrets`), never returned.
- A contact's record is found by e-mail, then phone, and the link remembered (``CrmLink``);
  a linked record that disappeared from the CRM is matched again.
- Whoever may see the contact (``domain.md`` section 1) sees and edits its CRM record, when
  the workspace connected that CRM. Edits are validated before anything is sent, written with
  the CRM's PATCH, and recorded as a ``CRM_RECORD_UPDATED`` activity.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError

from db.models import ActivityKind, Contact, CrmConnection, CrmLink, CrmProvider, Workspace
from graph.crm import LABELS, check_instance_url, crm_for
from graph.crm.base import FieldKind, Record, RecordGone, validate_edit
from graph.crm.hubspot import HubSpot
from graph.crm.salesforce import Salesforce
from graph.errors import BadUserInput, CrmAuthFailed, CrmUnavailable, FieldErrors, NotFound
from graph.events import EventType
from graph.live import write
from graph.permissions.fields import mask_phone, sees_unmasked_numbers
from graph.resolvers.contact import current_conversation, record_change, visible_contact
from graph.resolvers.user import require_owner
from graph.secrets import SecretBox, SecretUnreadable

if TYPE_CHECKING:
    from graph.crm.base import Crm
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer
    from graph.settings import Settings

MAX_TOKEN_LENGTH = 4096


def _clean_token(value: str | None) -> str:
    token = (value or "").strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise BadUserInput(
            f"`accessToken` must be 1 to {MAX_TOKEN_LENGTH} characters without spaces.",
            field="accessToken",
        )
    return token


async def connect_crm(
    settings: Settings,
    viewer: Viewer,
    provider: CrmProvider,
    access_token: str,
    instance_url: str | None = None,
) -> CrmConnection:
    """Connect (or reconnect) the workspace's HubSpot or Salesforce.

    Args:
        access_token: a HubSpot private-app token (scopes ``crm.objects.contacts.read`` and
            ``.write``), or a Salesforce OAuth access token.
        instance_url: Salesforce only: the org's base URL (:func:`graph.crm.check_instance_url`).

    Returns:
        The stored connection. Reconnecting replaces the token; links to records are kept
        when the CRM account stays the same.

    Raises:
        Forbidden: the viewer is not an owner.
        BadUserInput: a malformed token, a missing or disallowed ``instanceUrl`` (or one given
            for HubSpot).
        NotConfigured: the server has no ``INBOX_GRAPH_SECRET_KEY`` (nothing is sent).
        CrmAuthFailed: the CRM refused the token (nothing is stored).
        CrmUnavailable: the CRM could not be reached (nothing is stored).
    """
    require_owner(viewer, "Only owners connect and disconnect CRM integrations.")
    errors = FieldErrors()  # the token and the instance reported together
    token = instance = None
    with errors.collect():
        token = _clean_token(access_token)
    with errors.collect():
        if provider is CrmProvider.SALESFORCE:
            instance = check_instance_url(settings, instance_url)
        elif instance_url:
            raise BadUserInput("HubSpot takes no `instanceUrl`.", field="instanceUrl")
    errors.raise_if_any()
    assert token is not None
    crm: Crm = (
        Salesforce(settings, token, instance_url=instance)
        if provider is CrmProvider.SALESFORCE
        else HubSpot(settings, token)
    )
    encrypted = SecretBox(settings.secret_keys).encrypt(token)
    facts = await crm.verify()

    async def operation(tx: Transaction) -> CrmConnection:
        existing = await (
            CrmConnection.filter(workspace_id=viewer.workspace_id, provider=provider)
            .using_db(tx.connection)
            .select_for_update()
            .first()
        )
        now = datetime.now(UTC)
        if existing is None:
            return await CrmConnection.create(
                workspace_id=viewer.workspace_id,
                provider=provider,
                instance_url=instance,
                account_id=facts.account_id,
                app_url=facts.app_url,
                encrypted_token=encrypted,
                connected_by_id=viewer.user_id,
                connected_at=now,
                using_db=tx.connection,
            )
        if (existing.instance_url, existing.account_id) != (instance, facts.account_id):
            await (
                CrmLink.filter(workspace_id=viewer.workspace_id, provider=provider)
                .using_db(tx.connection)
                .delete()
            )
        existing.instance_url = instance
        existing.account_id = facts.account_id
        existing.app_url = facts.app_url
        existing.encrypted_token = encrypted
        existing.connected_by_id = viewer.user_id
        existing.connected_at = now
        await existing.save(using_db=tx.connection)
        return existing

    return await write(None, viewer.workspace_id, operation)


async def disconnect_crm(viewer: Viewer, provider: CrmProvider) -> bool:
    """Forget the workspace's connection to a CRM, its stored token and its record links.

    Returns:
        Whether it was connected (disconnecting twice is not an error).

    Raises:
        Forbidden: the viewer is not an owner.
    """
    require_owner(viewer, "Only owners connect and disconnect CRM integrations.")

    async def operation(tx: Transaction) -> bool:
        await (
            CrmLink.filter(workspace_id=viewer.workspace_id, provider=provider)
            .using_db(tx.connection)
            .delete()
        )
        removed = (
            await CrmConnection.filter(workspace_id=viewer.workspace_id, provider=provider)
            .using_db(tx.connection)
            .delete()
        )
        return bool(removed)

    return await write(None, viewer.workspace_id, operation)


async def connections(workspace_id: int) -> list[CrmConnection]:
    """The workspace's connected CRMs (the CRM tabs to show), HubSpot first."""
    rows = await CrmConnection.filter(workspace_id=workspace_id)
    order = list(CrmProvider)
    return sorted(rows, key=lambda r: order.index(r.provider))


async def _crm(settings: Settings, workspace_id: int, provider: CrmProvider) -> Crm | None:
    connection = await CrmConnection.get_or_none(workspace_id=workspace_id, provider=provider)
    if connection is None:
        return None
    try:
        token = SecretBox(settings.secret_keys).decrypt(connection.encrypted_token)
    except SecretUnreadable:
        raise CrmAuthFailed(
            f"The stored {LABELS[provider]} token cannot be read with the server's "
            "INBOX_GRAPH_SECRET_KEY: an owner must reconnect the integration.",
            provider=provider.value,
        ) from None
    return crm_for(settings, connection, token)


async def _linked_record(crm: Crm, contact: Contact, provider: CrmProvider) -> Record | None:
    """The contact's record: the remembered link if it still exists, else a new match (by
    e-mail, then phone), remembered."""
    link = await CrmLink.get_or_none(contact_id=contact.id, provider=provider)
    if link is not None:
        try:
            return await crm.fetch(link.object_type, link.record_id)
        except RecordGone:
            await CrmLink.filter(id=link.id).delete()
    match = await crm.find(
        contact.email_normalized or contact.email, contact.phone, contact.country_code
    )
    if match is None:
        return None
    try:
        record = await crm.fetch(match.object_type, match.record_id)
    except RecordGone:
        return None
    values = {
        "workspace_id": contact.workspace_id,
        "object_type": match.object_type,
        "record_id": match.record_id,
        "matched_by": match.matched_by,
        "linked_at": datetime.now(UTC),
    }
    try:
        await CrmLink.create(contact_id=contact.id, provider=provider, **values)
    except IntegrityError:  # linked meanwhile by a concurrent request: the latest match wins
        await CrmLink.filter(contact_id=contact.id, provider=provider).update(**values)
    return record


async def _as_seen_by(viewer: Viewer, record: Record) -> Record:
    """The record as ``viewer`` may see it: phone numbers follow the masking rule of
    ``Contact.phone`` (``graph.permissions.fields``), and a number the viewer sees masked is
    read-only for them (a masked value must never be written back)."""
    workspace = await Workspace.get(id=viewer.workspace_id)
    if sees_unmasked_numbers(viewer, workspace.phone_number_masking):
        return record
    phones = {s.name for s in record.specs if s.kind is FieldKind.PHONE}
    return replace(
        record,
        specs=tuple(replace(s, editable=False) if s.name in phones else s for s in record.specs),
        values={k: mask_phone(v) if k in phones else v for k, v in record.values.items()},
    )


async def contact_record(
    settings: Settings, viewer: Viewer, contact: Contact, provider: CrmProvider
) -> Record | None:
    """The CRM record of a contact the viewer sees (the caller checked visibility).

    Returns:
        ``None`` when the workspace has not connected ``provider`` (no tab to show) or no
        record matches the contact's e-mail or phone.

    Raises:
        CrmUnavailable, CrmAuthFailed: the CRM is down, slow, or refuses the stored token.

    Phone numbers are masked as for ``Contact.phone`` (:func:`_as_seen_by`).
    """
    crm = await _crm(settings, viewer.workspace_id, provider)
    if crm is None:
        return None
    record = await _linked_record(crm, contact, provider)
    return await _as_seen_by(viewer, record) if record is not None else None


async def update_crm_record(
    bus: EventBus,
    settings: Settings,
    viewer: Viewer,
    contact_id: int,
    provider: CrmProvider,
    changes: list[tuple[str, str | None]],
) -> Record:
    """Edit the contact's CRM record; returns it as the CRM has it after the edit.

    Args:
        changes: ``(field name, value)`` pairs; ``null`` or ``""`` clears a field.

    A ``CRM_RECORD_UPDATED`` activity (naming the fields, not their values) records each edit
    that changed something, once the CRM took it; an edit repeating the current values sends
    nothing. When the record cannot be read back after the edit, it is returned as it was with
    the edit applied.

    Raises:
        NotFound: the contact is not visible (``contactId``), or no CRM record matches it.
        BadUserInput: ``provider`` is not connected; a field is unknown, read-only, too long,
            outside its options, or refused by the CRM (``extensions.field`` names it).
            Nothing is sent to the CRM when the edit is invalid here.
        CrmUnavailable, CrmAuthFailed: the CRM is down, slow, or refuses the stored token.
    """
    contact = await visible_contact(viewer, contact_id)
    crm = await _crm(settings, viewer.workspace_id, provider)
    if crm is None:
        raise BadUserInput(f"{LABELS[provider]} is not connected.", field="provider")
    record = await _linked_record(crm, contact, provider)
    if record is None:
        raise NotFound(f"{LABELS[provider]} record of this contact", field="contactId")
    cleaned = validate_edit((await _as_seen_by(viewer, record)).specs, changes)
    changed = {k: v for k, v in cleaned.items() if record.values.get(k) != v}
    if not changed:
        return await _as_seen_by(viewer, record)
    try:
        await crm.update(record.object_type, record.record_id, changed)
    except RecordGone:
        await CrmLink.filter(contact_id=contact.id, provider=provider).delete()
        raise NotFound(f"{LABELS[provider]} record of this contact", field="contactId") from None
    labels = {s.name: s.label for s in record.specs}

    async def operation(tx: Transaction) -> None:
        current = await visible_contact(viewer, contact_id, connection=tx.connection)
        conversation = await current_conversation(tx, current)
        await record_change(
            tx,
            current,
            conversation,
            ActivityKind.CRM_RECORD_UPDATED,
            EventType.CONTACT_CRM_UPDATED,
            author_id=viewer.user_id,
            data={
                "provider": provider.value,
                "object_type": record.object_type,
                "record_id": record.record_id,
                "fields": sorted(changed),
            },
            text=f"Updated the {LABELS[provider]} record: "
            + ", ".join(labels[name] for name in changed),
        )

    # the CRM took the edit: it is recorded before the record is read back, so that a read
    # that fails does not lose it (sent again, the edit changes nothing and records nothing)
    await write(bus, viewer.workspace_id, operation)
    try:
        after = await crm.fetch(record.object_type, record.record_id)
    except (CrmUnavailable, RecordGone):  # as the CRM took it
        after = replace(record, values={**record.values, **changed})
    return await _as_seen_by(viewer, after)


__all__ = ["connect_crm", "connections", "contact_record", "disconnect_crm", "update_crm_record"]

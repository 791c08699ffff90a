"""CRM integrations of a workspace and the CRM records linked to its contacts (``domain.md``
section 6, CRM tabs).

The access token is stored encrypted (:mod:`graph.secrets`); nothing else here is secret.
"""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class CrmProvider(str, Enum):
    HUBSPOT = "HUBSPOT"
    SALESFORCE = "SALESFORCE"


class CrmConnection(Model):
    """One connected CRM of a workspace (at most one per provider).

    ``instance_url``: Salesforce's instance (``https://acme.my.salesforce.com``), null for
    HubSpot. ``account_id``: HubSpot's portal id or Salesforce's organisation id.
    ``app_url``: where records open in the CRM's web app (HubSpot's ``uiDomain``).
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="crm_connections", on_delete=fields.CASCADE
    )
    provider = fields.CharEnumField(CrmProvider, max_length=16)
    instance_url = fields.CharField(max_length=255, null=True)
    account_id = fields.CharField(max_length=64, null=True)
    app_url = fields.CharField(max_length=255, null=True)
    encrypted_token = fields.TextField(description="Fernet token of the CRM access token")
    connected_by = fields.ForeignKeyField(
        "models.User", related_name="crm_connections", null=True, on_delete=fields.SET_NULL
    )
    connected_at = fields.DatetimeField()

    class Meta:
        table = "crm_connection"
        unique_together = (("workspace", "provider"),)


class CrmLink(Model):
    """The CRM record a contact was matched to (by e-mail, then phone), remembered so later
    reads fetch it by id. ``object_type``: ``contacts`` (HubSpot), ``Contact`` or ``Lead``
    (Salesforce)."""

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="crm_links", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="crm_links", on_delete=fields.CASCADE
    )
    provider = fields.CharEnumField(CrmProvider, max_length=16)
    object_type = fields.CharField(max_length=32)
    record_id = fields.CharField(max_length=64)
    matched_by = fields.CharField(max_length=8, description="EMAIL or PHONE")
    linked_at = fields.DatetimeField()

    class Meta:
        table = "crm_link"
        unique_together = (("contact", "provider"),)


__all__ = ["CrmConnection", "CrmLink", "CrmProvider"]

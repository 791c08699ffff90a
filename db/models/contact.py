"""Contacts and their channel identities (``domain.md``, terms and section 6)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Contact(Model):
    """A customer. The assignee belongs to the contact, not to a conversation.

    ``phone`` is E.164. ``email_normalized`` is the lower-cased e-mail, indexed with
    ``phone`` for merge suggestions. ``erased_at`` is set by ``eraseContact`` (the right to
    erasure): the row stays as an anonymised tombstone holding only its counts
    (``erased_counts``: conversations, messages, calls) and its assignment.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="contacts", on_delete=fields.CASCADE
    )
    first_name = fields.CharField(max_length=120, null=True)
    last_name = fields.CharField(max_length=120, null=True)
    phone = fields.CharField(max_length=20, null=True)
    email = fields.CharField(max_length=254, null=True)
    email_normalized = fields.CharField(max_length=254, null=True)
    country_code = fields.CharField(max_length=2, null=True)
    language = fields.CharField(max_length=35, null=True)
    assignee = fields.ForeignKeyField(
        "models.User", related_name="assigned_contacts", null=True, on_delete=fields.SET_NULL
    )
    blocked = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    erased_at = fields.DatetimeField(null=True)
    erased_counts = fields.JSONField(null=True)

    class Meta:
        table = "contact"
        indexes = (
            Index(fields=("workspace_id", "assignee_id")),
            Index(fields=("workspace_id", "phone")),
            Index(fields=("workspace_id", "email_normalized")),
            Index(fields=("workspace_id", "blocked")),
            Index(fields=("workspace_id", "created_at", "id")),
        )


class ChannelIdentity(Model):
    """The contact's handle on one channel (phone number, e-mail, page-scoped id ...).

    Unique per (channel, handle): two inbound messages from a new sender create one contact.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="channel_identities", on_delete=fields.CASCADE
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="channel_identities", on_delete=fields.CASCADE
    )
    channel = fields.ForeignKeyField(
        "models.Channel", related_name="identities", on_delete=fields.CASCADE
    )
    handle = fields.CharField(max_length=254)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_identity"
        unique_together = (("channel", "handle"),)
        indexes = (Index(fields=("contact_id",)),)


class ContactKeyKind(str, Enum):
    """What a :class:`ContactKey` holds: an E.164 phone number or a lower-cased e-mail."""

    PHONE = "PHONE"
    EMAIL = "EMAIL"


class ContactKey(Model):
    """A phone number or e-mail address ``upsertContact`` matched a contact by, unique per
    workspace: the row that makes concurrent upserts of one identity create one contact.

    An upsert inserts (or locks) the key before it looks for a contact with that value: a
    concurrent second insert waits for the first transaction, then fails on the unique
    constraint, and :func:`graph.live.write` runs it again, which now finds the contact. The key
    names the contact it last led to; it moves with a merge and is deleted with an erasure.
    """

    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="contact_keys", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ContactKeyKind, max_length=10)
    value = fields.CharField(max_length=254)
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="keys", on_delete=fields.CASCADE
    )

    class Meta:
        table = "contact_key"
        unique_together = (("workspace", "kind", "value"),)
        indexes = (Index(fields=("contact_id",)),)


__all__ = ["ChannelIdentity", "Contact", "ContactKey", "ContactKeyKind"]

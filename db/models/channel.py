"""Connected messaging and calling channels (``domain.md``, terms)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class ChannelType(str, Enum):
    WHATSAPP = "WHATSAPP"
    MESSENGER = "MESSENGER"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBCHAT = "WEBCHAT"
    VIBER = "VIBER"
    LINE = "LINE"
    VOIP = "VOIP"

    @property
    def supports_calls(self) -> bool:
        """WhatsApp and VoIP channels carry voice calls (``domain.md`` section 5)."""
        return self in (ChannelType.WHATSAPP, ChannelType.VOIP)

    @property
    def handle_is_phone(self) -> bool:
        """Whether a contact's handle on this channel is a phone number."""
        return self in (ChannelType.WHATSAPP, ChannelType.SMS, ChannelType.VOIP, ChannelType.VIBER)

    @property
    def handle_is_email(self) -> bool:
        return self is ChannelType.EMAIL


class Channel(Model):
    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="channels", on_delete=fields.CASCADE
    )
    type = fields.CharEnumField(ChannelType)
    name = fields.CharField(max_length=120)
    phone_number = fields.CharField(max_length=20, null=True)
    """The channel's own number (E.164) on calling channels: the called number of its inbound
    calls, the calling number of its outbound calls (``domain.md`` section 5)."""
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel"


__all__ = ["Channel", "ChannelType"]

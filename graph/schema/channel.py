"""Channels: types."""

from __future__ import annotations

import strawberry

from db import models as m
from graph.relay import to_global_id
from graph.schema.core import Node

ChannelType = strawberry.enum(m.ChannelType, name="ChannelType")


@strawberry.type(description="A connected messaging or calling channel.")
class Channel(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Channel]

    @classmethod
    def from_row(cls, row: m.Channel) -> Channel:
        return cls(
            id=to_global_id("Channel", row.id), row=row, type=row.type, name=row.name, supports_calls=row.type.supports_calls
        )

    type: ChannelType
    name: str
    supports_calls: bool = strawberry.field(description="Whether the channel carries voice calls (WhatsApp, VoIP).")


__all__ = ["Channel", "ChannelType"]

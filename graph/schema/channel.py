"""Channels: types and root fields."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db import models as m
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.relay import to_global_id
from graph.resolvers import user as user_resolvers
from graph.schema.core import Node

ChannelType = strawberry.enum(m.ChannelType, name="ChannelType")


@strawberry.type(description="A connected messaging or calling channel.")
class Channel(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Channel]

    @classmethod
    def from_row(cls, row: m.Channel) -> Channel:
        return cls(
            id=to_global_id("Channel", row.id),
            row=row,
            type=row.type,
            name=row.name,
            supports_calls=row.type.supports_calls,
        )

    type: ChannelType
    name: str
    supports_calls: bool = strawberry.field(
        description="Whether the channel carries voice calls (WhatsApp, VoIP)."
    )


@strawberry.type
class ChannelQueries:
    @strawberry.field(description="The connected channels of the workspace.")
    async def channels(self, info: Info) -> list[Channel]:
        rows = await user_resolvers.list_channels(info.context.viewer)
        return [Channel.from_row(r) for r in rows]


@strawberry.type
class ChannelMutations:
    @strawberry.mutation(description="Connect a channel (owners).")
    async def connect_channel(
        self,
        info: Info,
        type: ChannelType,
        name: str,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Channel:
        ctx = info.context
        channel = await idempotent(
            info,
            idempotency_key,
            {"type": type, "name": name},
            CreatedRow(m.Channel),
            lambda once: user_resolvers.connect_channel(ctx.bus, ctx.viewer, type, name, once=once),
        )
        return Channel.from_row(channel)


__all__ = ["Channel", "ChannelMutations", "ChannelQueries", "ChannelType"]

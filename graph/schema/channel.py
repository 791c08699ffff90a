"""Channels: types and root fields."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from db import models as m
from graph.idempotency import CreatedRow, IdempotencyKeyArgument, idempotent
from graph.resolvers import user as user_resolvers
from graph.schema.core import Node
from graph.schema.described import model_enum
from graph.schema.rows import from_row

ChannelType = model_enum(
    m.ChannelType,
    name="ChannelType",
    description="The kind of a connected channel (domain.md terms: channel). A contact's "
    "handle on it: an E.164 phone number on WHATSAPP, SMS and VOIP, an e-mail address on "
    "EMAIL, the platform's opaque id elsewhere.",
    values={
        "WHATSAPP": "WhatsApp Business: messages and calls.",
        "MESSENGER": "Facebook Messenger.",
        "INSTAGRAM": "Instagram direct messages.",
        "TELEGRAM": "Telegram.",
        "EMAIL": "E-mail.",
        "SMS": "SMS text messages.",
        "WEBCHAT": "The website chat widget.",
        "VIBER": "Viber.",
        "LINE": "LINE.",
        "VOIP": "Voice over IP telephony: calls.",
    },
)


@from_row(supports_calls=lambda row: row.type.supports_calls)
@strawberry.type(description="A connected messaging or calling channel.")
class Channel(Node):
    row: strawberry.Private[m.Channel]

    type: ChannelType = strawberry.field(description="The platform.")
    name: str = strawberry.field(description="The name the workspace gave it.")
    supports_calls: bool = strawberry.field(
        description="Whether the channel carries voice calls (WhatsApp, VoIP)."
    )
    phone_number: str | None = strawberry.field(
        description="A calling channel's own number (E.164): the called number (`toNumber`) of "
        "its inbound calls reported without `to`, the calling number (`fromNumber`) of its "
        "outbound calls. null when none was given (`connectChannel`)."
    )


@strawberry.type
class ChannelQueries:
    @strawberry.field(description="The connected channels of the workspace.")
    async def channels(self, info: Info) -> list[Channel]:
        rows = await user_resolvers.list_channels(info.context.viewer)
        return [Channel.from_row(r) for r in rows]


@strawberry.type
class ChannelMutations:
    @strawberry.mutation(
        description="Connect a channel (owners). Errors: BAD_USER_INPUT for a malformed name, "
        "or a phoneNumber that is no international number or is given for a channel that "
        "carries no calls (every one at once); FORBIDDEN."
    )
    async def connect_channel(
        self,
        info: Info,
        type: Annotated[ChannelType, strawberry.argument(description="The platform.")],
        name: Annotated[
            str, strawberry.argument(description="A name for it, 1 to 120 characters.")
        ],
        phone_number: Annotated[
            str | None,
            strawberry.argument(
                description="A WhatsApp or VoIP channel's own number, international (any "
                "format; stored E.164): its calls are made from and to it."
            ),
        ] = None,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> Channel:
        ctx = info.context
        channel = await idempotent(
            info,
            idempotency_key,
            {"type": type, "name": name, "phoneNumber": phone_number},
            CreatedRow(m.Channel),
            lambda once: user_resolvers.connect_channel(
                ctx.bus, ctx.viewer, type, name, phone_number=phone_number, once=once
            ),
        )
        return Channel.from_row(channel)


__all__ = ["Channel", "ChannelMutations", "ChannelQueries", "ChannelType"]

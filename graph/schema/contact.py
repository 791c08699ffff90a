"""Contacts: types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models as m
from graph.permissions.fields import mask_phone, sees_unmasked_numbers
from graph.resolvers import crm as crm_resolvers
from graph.schema.core import Node, decode_cursor, page_size, to_global_id
from graph.schema.crm import CrmProvider, CrmRecord
from graph.schema.user import User

if TYPE_CHECKING:
    from graph.schema.call import CallConnection


@strawberry.type(description="A customer.")
class Contact(Node):
    id: strawberry.ID
    row: strawberry.Private[m.Contact]

    @classmethod
    def from_row(cls, row: m.Contact) -> Contact:
        return cls(id=to_global_id("Contact", row.id), row=row)

    @strawberry.field
    def first_name(self) -> str | None:
        return self.row.first_name

    @strawberry.field
    def last_name(self) -> str | None:
        return self.row.last_name

    @strawberry.field(description="The full name, else the e-mail, else 'Unknown contact'.")
    def name(self) -> str:
        full = " ".join(p for p in (self.row.first_name, self.row.last_name) if p)
        return full or self.row.email or "Unknown contact"

    @strawberry.field(
        description="E.164. Masked (e.g. `+44 79•• •••456`) when the workspace masks numbers and "
        "the viewer is not an owner."
    )
    async def phone(self, info: Info) -> str | None:
        workspace = await info.context.loaders.workspace()
        if sees_unmasked_numbers(info.context.viewer, workspace.phone_number_masking):
            return self.row.phone
        return mask_phone(self.row.phone)

    @strawberry.field
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(description="ISO 3166-1 alpha-2.")
    def country_code(self) -> str | None:
        return self.row.country_code

    @strawberry.field(description="BCP 47.")
    def language(self) -> str | None:
        return self.row.language

    @strawberry.field
    async def assignee(self, info: Info) -> User | None:
        if self.row.assignee_id is None:
            return None
        user = await info.context.loaders.user.load(self.row.assignee_id)
        return User.from_row(user) if user else None

    @strawberry.field
    def blocked(self) -> bool:
        return self.row.blocked

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="The contact's record in a connected CRM (a CRM tab), found by e-mail, then "
        "phone, and remembered. Null when the workspace has not connected that CRM (no tab) or "
        "no record matches. Errors on this field alone: CRM_UNAVAILABLE (the CRM is down, slow "
        "or rate-limiting), CRM_AUTH_FAILED (it refuses the stored token: reconnect)."
    )
    async def crm(self, info: Info, provider: CrmProvider) -> CrmRecord | None:
        ctx = info.context
        record = await crm_resolvers.contact_record(ctx.settings, ctx.viewer, self.row, provider)
        return CrmRecord.from_record(provider, record) if record is not None else None

    @strawberry.field(
        description="Every call with this contact, inbound and outbound, newest first, with its "
        "outcome (status), direction, times, duration and who handled it. `first` is 1 to 100. "
        "Empty for users without call access. Errors: BAD_USER_INPUT for a malformed cursor."
    )
    async def call_activities(
        self, info: Info, first: int = 25, after: str | None = None
    ) -> Annotated[CallConnection, strawberry.lazy("graph.schema.call")]:
        from graph.resolvers.call import contact_calls
        from graph.schema.call import CallConnection

        size = page_size(first)
        cursor = decode_cursor(after, (datetime, int)) if after is not None else None
        ctx = info.context
        return CallConnection.from_page(await contact_calls(ctx.viewer, ctx.loaders, self.row, size, cursor))


__all__ = ["Contact"]

"""CRM tabs: types and root fields (``domain.md`` section 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db import models as m
from graph.crm.base import FieldKind, Record
from graph.loaders import related
from graph.relay import decode_id
from graph.resolvers import crm as crm_resolvers
from graph.schema.described import model_enum
from graph.schema.user import User

CrmProvider = model_enum(
    m.CrmProvider,
    name="CrmProvider",
    description="A CRM the workspace may connect (domain.md section 6, CRM tabs).",
    values={
        "HUBSPOT": "HubSpot: its contacts, through a private-app access token.",
        "SALESFORCE": "Salesforce: its Contacts, then Leads, through an OAuth access token and "
        "the org's instance URL.",
    },
)
CrmFieldType = model_enum(
    FieldKind,
    name="CrmFieldType",
    description="TEXT, EMAIL, PHONE (free text in the CRM), or ENUMERATION (one of `options`).",
    values={
        "TEXT": "Free text, at most `maxLength` characters.",
        "EMAIL": "An e-mail address (checked before it is sent).",
        "PHONE": "A phone number as the CRM keeps it (masked like `Contact.phone`).",
        "ENUMERATION": "One of the field's `options` (by `value`).",
    },
)


@strawberry.type(
    description="An allowed value of an ENUMERATION field (HubSpot option, Salesforce picklist value)."
)
class CrmFieldOption:
    value: str = strawberry.field(description="The value to send in `updateCrmRecord`.")
    label: str = strawberry.field(description="What the CRM shows for it.")


@strawberry.type(description="A supported field of a CRM record, described by the CRM.")
class CrmField:
    name: str = strawberry.field(
        description="The CRM's API name (`jobtitle`, `Title`, `Account.Name` …): the name to edit with."
    )
    label: str = strawberry.field(description="The CRM's label for it.")
    type: CrmFieldType = strawberry.field(description="What values it takes.")
    value: str | None = strawberry.field(
        description="The value, as text. PHONE values are masked like `Contact.phone` (and then "
        "not editable)."
    )
    editable: bool = strawberry.field(description="Whether `updateCrmRecord` may change it.")
    max_length: int | None = strawberry.field(
        description="Characters; null when the CRM states none."
    )
    options: list[CrmFieldOption] | None = strawberry.field(
        description="The allowed values of an ENUMERATION field (null for other types)."
    )


@strawberry.type(description="The CRM record linked to a contact (found by e-mail, then phone).")
class CrmRecord:
    provider: CrmProvider = strawberry.field(description="The CRM it is in.")
    record_id: str = strawberry.field(description="The record's id in the CRM.")
    object_type: str = strawberry.field(
        description="`contacts` (HubSpot), `Contact` or `Lead` (Salesforce)."
    )
    url: str = strawberry.field(description="Where the record opens in the CRM's web app.")
    fields: list[CrmField] = strawberry.field(description="The supported fields, in display order.")

    @classmethod
    def from_record(cls, provider: m.CrmProvider, record: Record) -> CrmRecord:
        fields = []
        for spec in record.specs:
            fields.append(
                CrmField(
                    name=spec.name,
                    label=spec.label,
                    type=spec.kind,
                    value=record.values.get(spec.name),
                    editable=spec.editable,
                    max_length=spec.max_length,
                    options=[CrmFieldOption(value=o.value, label=o.label) for o in spec.options]
                    if spec.options is not None
                    else None,
                )
            )
        return cls(
            provider=provider,
            record_id=record.record_id,
            object_type=record.object_type,
            url=record.url,
            fields=fields,
        )


@strawberry.type(description="A CRM the workspace connected. Its access token is never readable.")
class CrmIntegration:
    row: strawberry.Private[m.CrmConnection]

    @strawberry.field(description="Which CRM.")
    def provider(self) -> CrmProvider:
        return self.row.provider

    @strawberry.field(description="Salesforce's instance URL; null for HubSpot.")
    def instance_url(self) -> str | None:
        return self.row.instance_url

    @strawberry.field(description="HubSpot's portal id; null for Salesforce.")
    def account_id(self) -> str | None:
        return self.row.account_id

    @strawberry.field(description="When it was (re)connected, UTC.")
    def connected_at(self) -> datetime:
        return self.row.connected_at

    @strawberry.field(description="The owner who connected it; null once that user is deleted.")
    def connected_by(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.connected_by_id, User.from_row)


@strawberry.input(description='A new value for one CRM field; null or "" clears it.')
class CrmFieldInput:
    name: str = strawberry.field(description="The field's `CrmField.name`.")
    value: str | None = strawberry.field(
        description="The new value as text (an ENUMERATION's option `value`); null or an empty "
        "string clears the field."
    )


@strawberry.input(description="Credentials of a CRM to connect.")
class ConnectCrmInput:
    provider: CrmProvider = strawberry.field(description="Which CRM.")
    access_token: str = strawberry.field(
        description="HubSpot: a private-app access token (scopes crm.objects.contacts.read and "
        ".write). Salesforce: an OAuth access token. Stored encrypted, never returned."
    )
    instance_url: str | None = strawberry.field(
        default=None,
        description="Salesforce only: the org's base URL, e.g. https://acme.my.salesforce.com.",
    )


@strawberry.type
class CrmQueries:
    @strawberry.field(
        description="The CRMs the workspace connected: the CRM tabs to show in the contact panel "
        "(`Contact.crm`), for every user."
    )
    async def crm_integrations(self, info: Info) -> list[CrmIntegration]:
        rows = await crm_resolvers.connections(info.context.viewer.workspace_id)
        return [CrmIntegration(row=r) for r in rows]


@strawberry.type
class CrmMutations:
    @strawberry.mutation(
        description="Connect (or reconnect) HubSpot or Salesforce (owners). The token is checked "
        "against the CRM, then stored encrypted; it is never returned. Errors: FORBIDDEN; "
        "BAD_USER_INPUT (accessToken, instanceUrl: https Salesforce domains only); "
        "CRM_AUTH_FAILED when the CRM refuses the token; CRM_UNAVAILABLE; NOT_CONFIGURED when "
        "the server has no INBOX_GRAPH_SECRET_KEY. Nothing is stored on error."
    )
    async def connect_crm(
        self,
        info: Info,
        input: Annotated[
            ConnectCrmInput, strawberry.argument(description="The CRM and its credentials.")
        ],
    ) -> CrmIntegration:
        ctx = info.context
        row = await crm_resolvers.connect_crm(
            ctx.settings, ctx.viewer, input.provider, input.access_token, input.instance_url
        )
        return CrmIntegration(row=row)

    @strawberry.mutation(
        description="Disconnect a CRM (owners): its token and record links are deleted and its "
        "tab disappears. Returns whether it was connected. Errors: FORBIDDEN."
    )
    async def disconnect_crm(
        self,
        info: Info,
        provider: Annotated[CrmProvider, strawberry.argument(description="Which CRM.")],
    ) -> bool:
        return await crm_resolvers.disconnect_crm(info.context.viewer, provider)

    @strawberry.mutation(
        description="Edit the contact's record in a connected CRM and return it as the CRM has "
        "it now; records a CRM_RECORD_UPDATED activity. Values are checked first (nothing is "
        "sent otherwise): BAD_USER_INPUT naming the field (`extensions.field`) for an unknown, "
        "read-only or repeated field, a string over `maxLength`, a malformed e-mail, a value "
        "outside an ENUMERATION's options, or a value the CRM refuses; BAD_USER_INPUT "
        "(provider) when that CRM is not connected. NOT_FOUND for a contact the viewer may "
        "not see or without a CRM record. CRM_UNAVAILABLE, CRM_AUTH_FAILED."
    )
    async def update_crm_record(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The Contact's id.")],
        provider: Annotated[
            CrmProvider, strawberry.argument(description="Which CRM's record to edit.")
        ],
        fields: Annotated[
            list[CrmFieldInput],
            strawberry.argument(description="The fields to change, each at most once."),
        ],
    ) -> CrmRecord:
        ctx = info.context
        record = await crm_resolvers.update_crm_record(
            ctx.bus,
            ctx.settings,
            ctx.viewer,
            decode_id(contact_id, "Contact", field="contactId"),
            provider,
            [(f.name, f.value) for f in fields],
        )
        return CrmRecord.from_record(provider, record)


__all__ = [
    "ConnectCrmInput",
    "CrmField",
    "CrmFieldInput",
    "CrmFieldOption",
    "CrmFieldType",
    "CrmIntegration",
    "CrmMutations",
    "CrmProvider",
    "CrmQueries",
    "CrmRecord",
]

"""CRM tabs: types (``domain.md`` section 6)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db import models as m
from graph.crm.base import FieldKind, Record
from graph.loaders import related
from graph.schema.user import User

CrmProvider = strawberry.enum(m.CrmProvider, name="CrmProvider")
CrmFieldType = strawberry.enum(
    FieldKind,
    name="CrmFieldType",
    description="TEXT, EMAIL, PHONE (free text in the CRM), or ENUMERATION (one of `options`).",
)


@strawberry.type(description="An allowed value of an ENUMERATION field (HubSpot option, Salesforce picklist value).")
class CrmFieldOption:
    value: str
    label: str


@strawberry.type(description="A supported field of a CRM record, described by the CRM.")
class CrmField:
    name: str = strawberry.field(
        description="The CRM's API name (`jobtitle`, `Title`, `Account.Name` …): the name to edit with."
    )
    label: str = strawberry.field(description="The CRM's label for it.")
    type: CrmFieldType
    value: str | None = strawberry.field(
        description="The value, as text. PHONE values are masked like `Contact.phone` (and then "
        "not editable)."
    )
    editable: bool = strawberry.field(description="Whether `updateCrmRecord` may change it.")
    max_length: int | None = strawberry.field(description="Characters; null when the CRM states none.")
    options: list[CrmFieldOption] | None = strawberry.field(
        description="The allowed values of an ENUMERATION field (null for other types)."
    )


@strawberry.type(description="The CRM record linked to a contact (found by e-mail, then phone).")
class CrmRecord:
    provider: CrmProvider
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

    @strawberry.field
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

    @strawberry.field
    def connected_by(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.connected_by_id, User.from_row)


@strawberry.input(description="A new value for one CRM field; null or \"\" clears it.")
class CrmFieldInput:
    name: str = strawberry.field(description="The field's `CrmField.name`.")
    value: str | None


@strawberry.input(description="Credentials of a CRM to connect.")
class ConnectCrmInput:
    provider: CrmProvider
    access_token: str = strawberry.field(
        description="HubSpot: a private-app access token (scopes crm.objects.contacts.read and "
        ".write). Salesforce: an OAuth access token. Stored encrypted, never returned."
    )
    instance_url: str | None = strawberry.field(
        default=None,
        description="Salesforce only: the org's base URL, e.g. https://acme.my.salesforce.com.",
    )


__all__ = [
    "ConnectCrmInput",
    "CrmField",
    "CrmFieldInput",
    "CrmFieldOption",
    "CrmFieldType",
    "CrmIntegration",
    "CrmProvider",
    "CrmRecord",
]

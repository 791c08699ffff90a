"""Salesforce: Contacts and Leads through the REST API with an OAuth access token.

Endpoints used, under the instance URL given when connecting
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/):

- ``GET /services/data/vXX.X/sobjects/{Contact,Lead}/describe``: labels, lengths, whether a
  field is updateable, picklist values (also the credential check when connecting);
- ``GET /services/data/vXX.X/query?q=SOQL``: find by e-mail then phone, over Contact then
  (unconverted) Lead, following ``nextRecordsUrl``; read a record by id;
- ``PATCH /services/data/vXX.X/sobjects/{Contact,Lead}/{id}``: write (answers 204).

Error answers are ``[{"message": ..., "errorCode": ..., "fields": [...]}]``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from graph.crm.base import (
    AccountFacts,
    Crm,
    CrmHttpClient,
    FieldKind,
    FieldSpec,
    Match,
    Option,
    Record,
    RecordGone,
    metadata_cache,
    payload,
    phone_tail,
    phone_variants,
    same_phone,
)
from graph.errors import BadUserInput, CrmAuthFailed, CrmUnavailable

if TYPE_CHECKING:
    import httpx

    from graph.settings import Settings

API_VERSION = "v61.0"
CONTACT, LEAD = "Contact", "Lead"
ACCOUNT_NAME = "Account.Name"
FIELDS = {
    CONTACT: ("FirstName", "LastName", "Email", "Phone", "Title", ACCOUNT_NAME, "LeadSource"),
    LEAD: ("FirstName", "LastName", "Email", "Phone", "Title", "Company", "LeadSource"),
}
"""The supported fields per object, in display order (``domain.md`` section 6). A Contact's
account name is read-only here (it belongs to the Account); a Lead has a Company instead."""

MAX_MATCH_CANDIDATES = 1000
_KINDS = {
    "picklist": FieldKind.ENUMERATION,
    "email": FieldKind.EMAIL,
    "phone": FieldKind.PHONE,
}
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_AUTH_ERRORS = {
    "INVALID_SESSION_ID",
    "INVALID_AUTH_HEADER",
    "API_DISABLED_FOR_ORG",
    "INSUFFICIENT_ACCESS",
}
_GONE_ERRORS = {"NOT_FOUND", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"}


class SalesforceClient(CrmHttpClient):
    """HTTP to the org's instance URL with Salesforce's errors."""

    name = "Salesforce"

    def error_for(self, response: httpx.Response) -> Exception:
        body = payload(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        if isinstance(body, dict):
            first = body
        code = str(first.get("errorCode") or first.get("error") or "")
        message = str(
            first.get("message") or first.get("error_description") or response.reason_phrase
        )
        fields = first.get("fields") or []
        if response.status_code == 401 or code in _AUTH_ERRORS:
            return CrmAuthFailed(
                f"Salesforce refused the access token: {message}",
                provider="SALESFORCE",
                errorCode=code,
            )
        if response.status_code == 404 or code in _GONE_ERRORS:
            return RecordGone(message)
        if response.status_code == 400:
            return BadUserInput(
                f"Salesforce refused the value: {message}",
                field=str(fields[0]) if fields else None,
                provider="SALESFORCE",
                errorCode=code,
            )
        return CrmUnavailable(
            f"Salesforce answered {response.status_code} ({code or 'error'}): {message}",
            provider="SALESFORCE",
        )


def soql_literal(value: str) -> str:
    """``value`` as a SOQL string literal (quotes and backslashes escaped)."""
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f"'{escaped}'"


class Salesforce(Crm):
    """A Salesforce org (see the module docstring)."""

    provider = "SALESFORCE"
    object_types = (CONTACT, LEAD)

    def __init__(
        self, settings: Settings, token: str, *, instance_url: str, cache_key: Any = None
    ) -> None:
        self.settings = settings
        self.instance_url = instance_url.rstrip("/")
        self.http = SalesforceClient(settings, self.instance_url, token)
        self.cache_key = cache_key

    def _data(self, path: str) -> str:
        return f"/services/data/{API_VERSION}{path}"

    async def _describe(self, object_type: str) -> dict[str, Any]:
        response = await self.http.request("GET", self._data(f"/sobjects/{object_type}/describe"))
        return payload(response) or {}

    async def verify(self) -> AccountFacts:
        try:
            await self._describe(CONTACT)
        except RecordGone:
            raise CrmAuthFailed(
                "This Salesforce org does not expose the REST API at that instance URL.",
                provider="SALESFORCE",
            ) from None
        return AccountFacts(account_id=None, app_url=self.instance_url)

    async def specs(self, object_type: str) -> tuple[FieldSpec, ...]:
        async def load() -> tuple[FieldSpec, ...]:
            described = {
                f.get("name"): f for f in (await self._describe(object_type)).get("fields") or ()
            }
            specs = []
            for name in FIELDS[object_type]:
                if name == ACCOUNT_NAME:
                    specs.append(
                        FieldSpec(ACCOUNT_NAME, "Account Name", FieldKind.TEXT, editable=False)
                    )
                    continue
                field = described.get(name)
                if field is None:
                    continue
                kind = _KINDS.get(str(field.get("type")), FieldKind.TEXT)
                options = None
                if kind is FieldKind.ENUMERATION:
                    options = tuple(
                        Option(
                            value=str(p.get("value")), label=str(p.get("label") or p.get("value"))
                        )
                        for p in field.get("picklistValues") or ()
                        if p.get("active", True)
                    )
                specs.append(
                    FieldSpec(
                        name=name,
                        label=str(field.get("label") or name),
                        kind=kind,
                        editable=bool(field.get("updateable")),
                        max_length=int(field["length"]) if field.get("length") else None,
                        options=options,
                    )
                )
            return tuple(specs)

        key = ("SALESFORCE", self.cache_key, object_type)
        return await metadata_cache.get(key, self.settings.crm_metadata_ttl_seconds, load)

    async def query(self, soql: str, limit: int = MAX_MATCH_CANDIDATES):
        """The records of a SOQL query, following ``nextRecordsUrl`` (at most ``limit``)."""
        page = (
            payload(await self.http.request("GET", self._data("/query"), params={"q": soql})) or {}
        )
        seen = 0
        while True:
            for record in page.get("records") or ():
                yield record
                seen += 1
                if seen >= limit:
                    return
            next_url = page.get("nextRecordsUrl")
            if (
                page.get("done", True)
                or not next_url
                or not str(next_url).startswith("/services/data/")
            ):
                return
            page = payload(await self.http.request("GET", str(next_url))) or {}

    async def find(self, email: str | None, phone: str | None, region: str | None) -> Match | None:
        unconverted = {CONTACT: "", LEAD: " AND IsConverted = false"}
        if email:
            for object_type in (CONTACT, LEAD):
                soql = (
                    f"SELECT Id FROM {object_type} WHERE Email = {soql_literal(email)}"
                    f"{unconverted[object_type]} ORDER BY CreatedDate ASC LIMIT 1"
                )
                async for record in self.query(soql, limit=1):
                    return Match(object_type, str(record["Id"]), "EMAIL")
        if phone:
            # numbers are free text in Salesforce: a loose filter, then an exact check here
            variants = ", ".join(soql_literal(v) for v in phone_variants(phone))
            tail = soql_literal(f"%{phone_tail(phone)}")
            for object_type in (CONTACT, LEAD):
                soql = (
                    f"SELECT Id, Phone, MobilePhone FROM {object_type} WHERE (Phone IN ({variants}) "
                    f"OR MobilePhone IN ({variants}) OR Phone LIKE {tail} OR MobilePhone LIKE {tail})"
                    f"{unconverted[object_type]} ORDER BY CreatedDate ASC LIMIT {MAX_MATCH_CANDIDATES}"
                )
                async for record in self.query(soql):
                    if same_phone(record.get("Phone"), phone, region) or same_phone(
                        record.get("MobilePhone"), phone, region
                    ):
                        return Match(object_type, str(record["Id"]), "PHONE")
        return None

    async def fetch(self, object_type: str, record_id: str) -> Record:
        specs = await self.specs(object_type)
        if not _ID.match(record_id):
            raise RecordGone(f"not a Salesforce id: {record_id!r}")
        columns = ", ".join(["Id", *(s.name for s in specs)])
        soql = f"SELECT {columns} FROM {object_type} WHERE Id = {soql_literal(record_id)}"
        async for record in self.query(soql, limit=1):
            return Record(
                object_type=object_type,
                record_id=record_id,
                url=self.url(object_type, record_id),
                specs=specs,
                values={s.name: _value(record, s.name) for s in specs},
            )
        raise RecordGone(f"{object_type} {record_id} not found")

    async def update(
        self, object_type: str, record_id: str, changes: dict[str, str | None]
    ) -> None:
        if not _ID.match(record_id):
            raise RecordGone(f"not a Salesforce id: {record_id!r}")
        await self.http.request(
            "PATCH", self._data(f"/sobjects/{object_type}/{record_id}"), json=changes
        )

    def url(self, object_type: str, record_id: str) -> str:
        """Where the record opens in Salesforce (Lightning Experience)."""
        return f"{self.instance_url}/lightning/r/{object_type}/{record_id}/view"


def _value(record: dict[str, Any], path: str) -> str | None:
    """A (possibly relationship, ``Account.Name``) field of a SOQL record, as text."""
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return None if value is None or value == "" else str(value)


__all__ = ["API_VERSION", "FIELDS", "Salesforce", "SalesforceClient", "soql_literal"]

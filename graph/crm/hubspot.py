"""HubSpot: contacts through the CRM v3 REST API with a private-app access token.

Endpoints used (https://developers.hubspot.com/docs/api/crm/contacts):

- ``GET /account-info/v3/details``: the portal id and UI domain (when connecting);
- ``GET /crm/v3/objects/contacts?limit=1``: the token may read contacts (when connecting);
- ``GET /crm/v3/properties/contacts/{name}``: a property's label, type and options;
- ``POST /crm/v3/objects/contacts/search``: find by e-mail, then phone (pages followed
  through ``paging.next.after``);
- ``GET`` and ``PATCH /crm/v3/objects/contacts/{id}``: read and write a record.

Error answers are ``{"status": "error", "message": ..., "category": ...}``.
"""

from __future__ import annotations

import asyncio
import json
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

OBJECT_TYPE = "contacts"
FIELDS = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "company",
    "jobtitle",
    "lifecyclestage",
    "hs_lead_status",
)
"""The supported fields, in display order (``domain.md`` section 6)."""

MAX_STRING_LENGTH = 65_536
"""HubSpot's limit on a string property value, in characters."""

SEARCH_PAGE_SIZE = 100
MAX_SEARCH_PAGES = 5
_KINDS = {"email": FieldKind.EMAIL, "phone": FieldKind.PHONE}


class HubSpotClient(CrmHttpClient):
    """HTTP to ``https://api.hubapi.com`` (``INBOX_GRAPH_HUBSPOT_URL``) with HubSpot's errors."""

    name = "HubSpot"

    def error_for(self, response: httpx.Response) -> Exception:
        body = payload(response)
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or response.reason_phrase or "error")
        category = body.get("category")
        if response.status_code == 401 or category == "INVALID_AUTHENTICATION":
            return CrmAuthFailed(f"HubSpot refused the access token: {message}", provider="HUBSPOT")
        if response.status_code == 403:
            return CrmAuthFailed(
                f"HubSpot refused the request (check the private app's scopes): {message}",
                provider="HUBSPOT",
                category=category,
            )
        if response.status_code == 404:
            return RecordGone(message)
        if response.status_code in (400, 409, 422):
            name, detail = _invalid_property(message)
            return BadUserInput(
                f"HubSpot refused the value: {detail}", field=name, provider="HUBSPOT"
            )
        return CrmUnavailable(
            f"HubSpot answered {response.status_code}: {message}", provider="HUBSPOT"
        )


def _invalid_property(message: str) -> tuple[str | None, str]:
    """The property HubSpot names in a ``VALIDATION_ERROR`` message, and its explanation.

    HubSpot writes ``Property values were not valid: [{"isValid":false,"message":...,
    "name":"lifecyclestage",...}]``.
    """
    _, sep, rest = message.partition("Property values were not valid: ")
    if sep:
        try:
            first = json.loads(rest)[0]
            return str(first.get("name")) or None, str(first.get("message") or message)
        except (ValueError, IndexError, AttributeError, TypeError):
            pass
    return None, message


class HubSpot(Crm):
    """A HubSpot portal (see the module docstring)."""

    provider = "HUBSPOT"
    object_types = (OBJECT_TYPE,)

    def __init__(
        self,
        settings: Settings,
        token: str,
        *,
        account_id: str | None = None,
        app_url: str | None = None,
        cache_key: Any = None,
    ) -> None:
        self.settings = settings
        self.http = HubSpotClient(settings, settings.hubspot_url, token)
        self.account_id = account_id
        self.app_url = (app_url or "https://app.hubspot.com").rstrip("/")
        self.cache_key = cache_key

    async def verify(self) -> AccountFacts:
        details = payload(await self.http.request("GET", "/account-info/v3/details")) or {}
        await self.http.request("GET", f"/crm/v3/objects/{OBJECT_TYPE}", params={"limit": 1})
        portal = details.get("portalId")
        domain = details.get("uiDomain") or "app.hubspot.com"
        return AccountFacts(
            account_id=str(portal) if portal is not None else None, app_url=f"https://{domain}"
        )

    async def specs(self, object_type: str = OBJECT_TYPE) -> tuple[FieldSpec, ...]:
        async def load() -> tuple[FieldSpec, ...]:
            found = await asyncio.gather(*(self._property(name) for name in FIELDS))
            return tuple(spec for spec in found if spec is not None)

        key = ("HUBSPOT", self.cache_key, object_type)
        return await metadata_cache.get(key, self.settings.crm_metadata_ttl_seconds, load)

    async def _property(self, name: str) -> FieldSpec | None:
        try:
            response = await self.http.request("GET", f"/crm/v3/properties/{OBJECT_TYPE}/{name}")
        except RecordGone:
            return None  # not defined in this portal
        prop = payload(response) or {}
        enumeration = prop.get("type") == "enumeration"
        options = tuple(
            Option(value=str(o.get("value")), label=str(o.get("label") or o.get("value")))
            for o in prop.get("options") or ()
            if not o.get("hidden")
        )
        read_only = bool((prop.get("modificationMetadata") or {}).get("readOnlyValue")) or bool(
            prop.get("calculated")
        )
        return FieldSpec(
            name=name,
            label=str(prop.get("label") or name),
            kind=FieldKind.ENUMERATION if enumeration else _KINDS.get(name, FieldKind.TEXT),
            editable=not read_only,
            max_length=None if enumeration else MAX_STRING_LENGTH,
            options=options if enumeration else None,
        )

    async def _search(self, filter_groups: list[dict[str, Any]], accept) -> str | None:
        """The id of the first result ``accept`` takes, oldest record first, following
        ``paging.next.after`` for at most :data:`MAX_SEARCH_PAGES` pages."""
        body: dict[str, Any] = {
            "filterGroups": filter_groups,
            "properties": list(FIELDS) + ["mobilephone"],
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "limit": SEARCH_PAGE_SIZE,
        }
        for _ in range(MAX_SEARCH_PAGES):
            page = (
                payload(
                    await self.http.request(
                        "POST", f"/crm/v3/objects/{OBJECT_TYPE}/search", json=body
                    )
                )
                or {}
            )
            for result in page.get("results") or ():
                if accept(result.get("properties") or {}):
                    return str(result["id"])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return None
            body["after"] = after
        return None

    async def find(self, email: str | None, phone: str | None, region: str | None) -> Match | None:
        if email:
            found = await self._search(
                [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
                lambda props: True,
            )
            if found:
                return Match(OBJECT_TYPE, found, "EMAIL")
        if phone:
            # numbers are free text in HubSpot: a loose search, then an exact check here
            variants = phone_variants(phone)
            groups = [
                {"filters": [{"propertyName": p, "operator": "IN", "values": variants}]}
                for p in ("phone", "mobilephone")
            ] + [
                {
                    "filters": [
                        {
                            "propertyName": p,
                            "operator": "CONTAINS_TOKEN",
                            "value": f"*{phone_tail(phone)}",
                        }
                    ]
                }
                for p in ("phone", "mobilephone")
            ]
            found = await self._search(
                groups,
                lambda props: (
                    same_phone(props.get("phone"), phone, region)
                    or same_phone(props.get("mobilephone"), phone, region)
                ),
            )
            if found:
                return Match(OBJECT_TYPE, found, "PHONE")
        return None

    async def fetch(self, object_type: str, record_id: str) -> Record:
        specs = await self.specs(object_type)
        response = await self.http.request(
            "GET",
            f"/crm/v3/objects/{OBJECT_TYPE}/{_safe_id(record_id)}",
            params={"properties": ",".join(s.name for s in specs)},
        )
        props = (payload(response) or {}).get("properties") or {}
        return Record(
            object_type=OBJECT_TYPE,
            record_id=record_id,
            url=self.url(record_id),
            specs=specs,
            values={s.name: _text(props.get(s.name)) for s in specs},
        )

    async def update(
        self, object_type: str, record_id: str, changes: dict[str, str | None]
    ) -> None:
        await self.http.request(
            "PATCH",
            f"/crm/v3/objects/{OBJECT_TYPE}/{_safe_id(record_id)}",
            json={"properties": {k: ("" if v is None else v) for k, v in changes.items()}},
        )

    def url(self, record_id: str) -> str:
        """Where the record opens in HubSpot's web app."""
        return f"{self.app_url}/contacts/{self.account_id}/record/0-1/{record_id}"


def _safe_id(record_id: str) -> str:
    if not record_id.isdigit():
        raise RecordGone(f"not a HubSpot record id: {record_id!r}")
    return record_id


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


__all__ = ["FIELDS", "HubSpot", "HubSpotClient"]

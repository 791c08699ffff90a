"""A local stand-in for HubSpot's and Salesforce's REST APIs, served by uvicorn on a loopback
port in a thread of the test process.

It reproduces the request and response shapes the API server relies on (see
``graph/crm/hubspot.py`` and ``graph/crm/salesforce.py``): bearer-token checks with each
CRM's error payload, HubSpot's search (EQ, IN, CONTAINS_TOKEN with a leading ``*``; filter
groups ORed) with ``paging.next.after``, HubSpot property definitions, Salesforce describe,
a SOQL subset (``SELECT … FROM … WHERE … ORDER BY … LIMIT``; conditions on ``IsConverted``
ANDed, the others ORed) with ``nextRecordsUrl`` batches, PATCH validation errors, and
scripted failures (429 with ``Retry-After``, 500, slowness). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import free_port

SF = "/services/data/v61.0"

HUBSPOT_PROPERTIES: dict[str, dict[str, Any]] = {
    "firstname": {"label": "First Name", "type": "string", "fieldType": "text"},
    "lastname": {"label": "Last Name", "type": "string", "fieldType": "text"},
    "email": {"label": "Email", "type": "string", "fieldType": "text"},
    "phone": {"label": "Phone Number", "type": "string", "fieldType": "phonenumber"},
    "mobilephone": {"label": "Mobile Phone Number", "type": "string", "fieldType": "phonenumber"},
    "company": {"label": "Company Name", "type": "string", "fieldType": "text"},
    "jobtitle": {"label": "Job Title", "type": "string", "fieldType": "text"},
    "lifecyclestage": {
        "label": "Lifecycle Stage",
        "type": "enumeration",
        "fieldType": "radio",
        "options": [
            {"label": "Subscriber", "value": "subscriber", "displayOrder": 0, "hidden": False},
            {"label": "Lead", "value": "lead", "displayOrder": 1, "hidden": False},
            {"label": "Customer", "value": "customer", "displayOrder": 2, "hidden": False},
            {"label": "Legacy stage", "value": "legacy", "displayOrder": 3, "hidden": True},
        ],
    },
    "hs_lead_status": {
        "label": "Lead Status",
        "type": "enumeration",
        "fieldType": "select",
        "options": [
            {"label": "New", "value": "NEW", "displayOrder": 0, "hidden": False},
            {"label": "Open", "value": "OPEN", "displayOrder": 1, "hidden": False},
            {"label": "Connected", "value": "CONNECTED", "displayOrder": 2, "hidden": False},
        ],
    },
}

_PICKLIST = [
    {"active": True, "defaultValue": False, "label": "Web", "validFor": None, "value": "Web"},
    {
        "active": True,
        "defaultValue": False,
        "label": "Phone Inquiry",
        "validFor": None,
        "value": "Phone Inquiry",
    },
    {
        "active": True,
        "defaultValue": False,
        "label": "Partner Referral",
        "validFor": None,
        "value": "Partner Referral",
    },
    {"active": False, "defaultValue": False, "label": "Fax", "validFor": None, "value": "Fax"},
]


def _sf_field(
    name: str, label: str, type_: str, length: int = 0, updateable: bool = True, **extra: Any
):
    return {
        "name": name,
        "label": label,
        "type": type_,
        "length": length,
        "updateable": updateable,
        "nillable": True,
        "picklistValues": extra.pop("picklistValues", []),
        "restrictedPicklist": extra.pop("restrictedPicklist", False),
        **extra,
    }


SF_DESCRIBE: dict[str, list[dict[str, Any]]] = {
    "Contact": [
        _sf_field("Id", "Contact ID", "id", 18, updateable=False),
        _sf_field("FirstName", "First Name", "string", 40),
        _sf_field("LastName", "Last Name", "string", 80),
        _sf_field("Email", "Email", "email", 80),
        _sf_field("Phone", "Business Phone", "phone", 40),
        _sf_field("MobilePhone", "Mobile Phone", "phone", 40),
        _sf_field("Title", "Title", "string", 128),
        _sf_field("AccountId", "Account ID", "reference", 18),
        _sf_field(
            "LeadSource",
            "Lead Source",
            "picklist",
            255,
            picklistValues=_PICKLIST,
            restrictedPicklist=True,
        ),
        _sf_field("CreatedDate", "Created Date", "datetime", updateable=False),
    ],
    "Lead": [
        _sf_field("Id", "Lead ID", "id", 18, updateable=False),
        _sf_field("FirstName", "First Name", "string", 40),
        _sf_field("LastName", "Last Name", "string", 80),
        _sf_field("Email", "Email", "email", 80),
        _sf_field("Phone", "Phone", "phone", 40),
        _sf_field("MobilePhone", "Mobile Phone", "phone", 40),
        _sf_field("Title", "Title", "string", 128),
        _sf_field("Company", "Company", "string", 255),
        _sf_field(
            "LeadSource",
            "Lead Source",
            "picklist",
            255,
            picklistValues=_PICKLIST,
            restrictedPicklist=True,
        ),
        _sf_field("IsConverted", "Converted", "boolean", updateable=False),
        _sf_field("CreatedDate", "Created Date", "datetime", updateable=False),
    ],
}


@dataclass
class Rule:
    """A scripted answer for requests whose ``METHOD path`` contains ``match``."""

    match: str
    status: int
    times: int | None  # None: forever
    headers: dict[str, str]
    body: Any
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the bytes of an answer sent a byte at a time
    skip: int = 0  # matching requests let through before the rule applies


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float


@dataclass
class FakeCrm:
    """State of both fake CRMs; tests arrange records and failures and read ``requests``."""

    url: str = ""
    hubspot_tokens: set[str] = field(default_factory=set)
    salesforce_tokens: set[str] = field(default_factory=set)
    hubspot_contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sf_records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"Contact": {}, "Lead": {}}
    )
    sf_accounts: dict[str, str] = field(default_factory=dict)
    hubspot_page_size: int = 2
    sf_batch_size: int = 2
    rules: list[Rule] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1001))
    _cursors: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)

    # --- arranging ---------------------------------------------------------------------

    def reset(self) -> None:
        self.rules.clear()
        self.requests.clear()

    def fail(
        self,
        match: str,
        status: int,
        *,
        times: int | None = None,
        retry_after: str | None = None,
        body: Any = None,
        delay: float = 0.0,
        trickle: float = 0.0,
        skip: int = 0,
    ) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.rules.append(Rule(match, status, times, headers, body, delay, trickle, skip))

    def add_hubspot_contact(self, **properties: Any) -> str:
        record_id = str(next(self._ids))
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        self.hubspot_contacts[record_id] = {
            "properties": {k: v for k, v in properties.items()},
            "createdAt": f"{now}#{record_id.zfill(8)}",
        }
        return record_id

    def add_salesforce(self, object_type: str, *, account: str | None = None, **values: Any) -> str:
        prefix = {"Contact": "003", "Lead": "00Q"}[object_type]
        record_id = f"{prefix}5g00000{next(self._ids):08d}"[:18].ljust(18, "A")
        record = {
            "Id": record_id,
            "CreatedDate": f"2026-01-01T00:00:00.{next(self._ids):06d}+0000",
            **values,
        }
        if object_type == "Lead":
            record.setdefault("IsConverted", False)
        if account is not None:
            account_id = f"0015g00000{next(self._ids):08d}"
            self.sf_accounts[account_id] = account
            record["AccountId"] = account_id
        self.sf_records[object_type][record_id] = record
        return record_id

    def writes(self, method: str = "PATCH") -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def seen(self, needle: str) -> list[Recorded]:
        return [r for r in self.requests if needle in f"{r.method} {r.path}"]


async def _trickled(seconds: float):
    """A JSON answer's bytes, one every ``seconds``: a minute of spaces, then ``{}``."""
    for _ in range(int(60 / seconds)):
        yield b" "
        await asyncio.sleep(seconds)
    yield b"{}"


def _hubspot_error(status: int, message: str, category: str) -> JSONResponse:
    return JSONResponse(
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
        status_code=status,
    )


def _sf_error(
    status: int, message: str, code: str, fields: list[str] | None = None
) -> JSONResponse:
    return JSONResponse(
        [{"message": message, "errorCode": code, "fields": fields or []}], status_code=status
    )


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:] if header.startswith("Bearer ") else ""


def _hubspot_object(record_id: str, stored: dict[str, Any], names: list[str]) -> dict[str, Any]:
    props = stored["properties"]
    shown = {n: props.get(n) for n in names}
    shown.update(
        {
            "hs_object_id": record_id,
            "createdate": stored["createdAt"],
            "lastmodifieddate": stored["createdAt"],
        }
    )
    return {
        "id": record_id,
        "properties": shown,
        "createdAt": stored["createdAt"],
        "updatedAt": stored["createdAt"],
        "archived": False,
    }


def _filter_matches(props: dict[str, Any], f: dict[str, Any]) -> bool:
    value = props.get(f.get("propertyName"))
    text = "" if value is None else str(value).lower()
    operator = f.get("operator")
    if operator == "EQ":
        return value is not None and text == str(f.get("value")).lower()
    if operator == "IN":
        return value is not None and text in {str(v).lower() for v in f.get("values") or ()}
    if operator == "CONTAINS_TOKEN":
        wanted = str(f.get("value")).lower()
        tokens = [text, *text.split()]
        if wanted.startswith("*"):
            return value is not None and any(t.endswith(wanted[1:]) for t in tokens)
        return wanted in tokens
    raise ValueError(f"operator {operator} not supported by the fake")


_CONDITION = re.compile(
    r"(\w+(?:\.\w+)?) (=|IN|LIKE) ('(?:[^'\\]|\\.)*'|\((?:'(?:[^'\\]|\\.)*'(?:, )?)+\)|true|false)"
)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_SOQL = re.compile(
    r"^SELECT (?P<cols>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>\w+) (?P<dir>ASC|DESC))?(?: LIMIT (?P<limit>\d+))?$"
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


def _condition_holds(record: dict[str, Any], name: str, operator: str, raw: str) -> bool:
    value = record.get(name)
    if raw in ("true", "false"):
        return bool(value) == (raw == "true")
    literals = [_unescape(x) for x in _LITERAL.findall(raw)]
    if value is None:
        return False
    text = str(value).lower()
    if operator == "=":
        return text == literals[0].lower()
    if operator == "IN":
        return text in {x.lower() for x in literals}
    pattern = "^" + ".*".join(re.escape(part) for part in literals[0].lower().split("%")) + "$"
    return re.match(pattern, text, re.DOTALL) is not None


def build_app(fake: FakeCrm) -> Starlette:
    async def scripted(request: Request) -> Response | None:
        body: Any = None
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        fake.requests.append(
            Recorded(
                request.method, request.url.path, dict(request.query_params), body, time.monotonic()
            )
        )
        line = f"{request.method} {request.url.path}"
        for rule in fake.rules:
            if rule.match in line and (rule.times is None or rule.times > 0):
                if rule.skip:
                    rule.skip -= 1
                    continue
                if rule.times is not None:
                    rule.times -= 1
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                if rule.trickle:
                    return StreamingResponse(
                        _trickled(rule.trickle), status_code=rule.status, headers=rule.headers
                    )
                if rule.status == 200:
                    return None  # only slowed down
                return JSONResponse(
                    rule.body
                    if rule.body is not None
                    else {"status": "error", "message": "scripted"},
                    status_code=rule.status,
                    headers=rule.headers,
                )
        return None

    # --- HubSpot -------------------------------------------------------------------------

    async def hubspot(request: Request) -> Response:
        answer = await scripted(request)
        if answer is not None:
            return answer
        if _token(request) not in fake.hubspot_tokens:
            return _hubspot_error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        path = request.url.path
        if path == "/account-info/v3/details":
            return JSONResponse(
                {
                    "portalId": 4242,
                    "accountType": "STANDARD",
                    "timeZone": "Europe/London",
                    "companyCurrency": "GBP",
                    "additionalCurrencies": [],
                    "utcOffset": "+00:00",
                    "utcOffsetMilliseconds": 0,
                    "uiDomain": "app-eu1.hubspot.com",
                    "dataHostingLocation": "eu1",
                }
            )
        if path.startswith("/crm/v3/properties/contacts/"):
            name = path.rsplit("/", 1)[1]
            definition = HUBSPOT_PROPERTIES.get(name)
            if definition is None:
                return _hubspot_error(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
            return JSONResponse(
                {
                    "name": name,
                    "groupName": "contactinformation",
                    "description": "",
                    "options": definition.get("options", []),
                    "displayOrder": -1,
                    "calculated": False,
                    "externalOptions": False,
                    "hasUniqueValue": False,
                    "hidden": False,
                    "modificationMetadata": {
                        "archivable": True,
                        "readOnlyDefinition": True,
                        "readOnlyValue": False,
                    },
                    "formField": True,
                    **{k: v for k, v in definition.items() if k != "options"},
                }
            )
        if path == "/crm/v3/objects/contacts/search" and request.method == "POST":
            body = json.loads(await request.body())
            groups = body.get("filterGroups") or []
            if len(groups) > 5:
                return _hubspot_error(400, "Too many filter groups (max 5)", "VALIDATION_ERROR")
            found = [
                (rid, stored)
                for rid, stored in fake.hubspot_contacts.items()
                if any(
                    all(_filter_matches(stored["properties"], f) for f in g.get("filters") or ())
                    for g in groups
                )
            ]
            found.sort(key=lambda item: item[1]["createdAt"])
            limit = min(int(body.get("limit") or 10), 200, fake.hubspot_page_size)
            start = int(body.get("after") or 0)
            page = found[start : start + limit]
            answer: dict[str, Any] = {
                "total": len(found),
                "results": [
                    _hubspot_object(rid, stored, body.get("properties") or [])
                    for rid, stored in page
                ],
            }
            if start + limit < len(found):
                answer["paging"] = {
                    "next": {"after": str(start + limit), "link": f"?after={start + limit}"}
                }
            return JSONResponse(answer)
        if path == "/crm/v3/objects/contacts" and request.method == "GET":
            first = list(fake.hubspot_contacts.items())[
                : int(request.query_params.get("limit", 10))
            ]
            return JSONResponse(
                {"results": [_hubspot_object(rid, s, ["email"]) for rid, s in first]}
            )
        match = re.fullmatch(r"/crm/v3/objects/contacts/([^/]+)", path)
        if match:
            record_id = match.group(1)
            stored = fake.hubspot_contacts.get(record_id)
            if stored is None:
                return _hubspot_error(404, "resource not found", "OBJECT_NOT_FOUND")
            if request.method == "GET":
                names = (request.query_params.get("properties") or "").split(",")
                return JSONResponse(_hubspot_object(record_id, stored, [n for n in names if n]))
            if request.method == "PATCH":
                properties = (json.loads(await request.body()) or {}).get("properties") or {}
                problems = []
                for name, value in properties.items():
                    definition = HUBSPOT_PROPERTIES.get(name)
                    if definition is None:
                        problems.append(
                            {
                                "isValid": False,
                                "message": f'Property "{name}" does not exist',
                                "error": "PROPERTY_DOESNT_EXIST",
                                "name": name,
                            }
                        )
                    elif (
                        definition["type"] == "enumeration"
                        and value not in ("", None)
                        and value not in {o["value"] for o in definition["options"]}
                    ):
                        problems.append(
                            {
                                "isValid": False,
                                "message": f"{value} was not one of the allowed options",
                                "error": "INVALID_OPTION",
                                "name": name,
                            }
                        )
                if problems:
                    return _hubspot_error(
                        400,
                        "Property values were not valid: " + json.dumps(problems),
                        "VALIDATION_ERROR",
                    )
                for name, value in properties.items():
                    stored["properties"][name] = None if value == "" else value
                return JSONResponse(_hubspot_object(record_id, stored, list(properties)))
        return _hubspot_error(404, "Not found", "OBJECT_NOT_FOUND")

    # --- Salesforce ----------------------------------------------------------------------

    def sf_select(object_type: str, record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "attributes": {
                "type": object_type,
                "url": f"{SF}/sobjects/{object_type}/{record['Id']}",
            }
        }
        for column in columns:
            if column == "Account.Name":
                account = fake.sf_accounts.get(record.get("AccountId") or "")
                row["Account"] = (
                    None
                    if account is None
                    else {
                        "attributes": {
                            "type": "Account",
                            "url": f"{SF}/sobjects/Account/{record['AccountId']}",
                        },
                        "Name": account,
                    }
                )
            else:
                row[column] = record.get(column)
        return row

    def sf_page(records: list[dict[str, Any]], start: int) -> dict[str, Any]:
        batch = records[start : start + fake.sf_batch_size]
        answer: dict[str, Any] = {
            "totalSize": len(records),
            "done": start + len(batch) >= len(records),
            "records": batch,
        }
        if not answer["done"]:
            cursor = f"01g5g00000{uuid.uuid4().hex[:8]}"
            fake._cursors[cursor] = (records, start + len(batch))
            answer["nextRecordsUrl"] = f"{SF}/query/{cursor}-{start + len(batch)}"
        return answer

    async def salesforce(request: Request) -> Response:
        answer = await scripted(request)
        if answer is not None:
            return answer
        if _token(request) not in fake.salesforce_tokens:
            return _sf_error(401, "Session expired or invalid", "INVALID_SESSION_ID")
        path = request.url.path
        match = re.fullmatch(rf"{SF}/sobjects/(\w+)/describe", path)
        if match:
            fields = SF_DESCRIBE.get(match.group(1))
            if fields is None:
                return _sf_error(404, "The requested resource does not exist", "NOT_FOUND")
            return JSONResponse(
                {
                    "name": match.group(1),
                    "label": match.group(1),
                    "updateable": True,
                    "fields": fields,
                }
            )
        if path == f"{SF}/query":
            parsed = _SOQL.match(request.query_params.get("q", ""))
            if parsed is None or parsed["obj"] not in fake.sf_records:
                return _sf_error(400, "unexpected token", "MALFORMED_QUERY")
            columns = [c.strip() for c in parsed["cols"].split(",")]
            conditions = _CONDITION.findall(parsed["where"] or "")
            anded = [c for c in conditions if c[0] == "IsConverted"]
            ored = [c for c in conditions if c[0] != "IsConverted"]
            rows = [
                r
                for r in fake.sf_records[parsed["obj"]].values()
                if all(_condition_holds(r, *c) for c in anded)
                and (not ored or any(_condition_holds(r, *c) for c in ored))
            ]
            if parsed["order"]:
                rows.sort(
                    key=lambda r: str(r.get(parsed["order"]) or ""), reverse=parsed["dir"] == "DESC"
                )
            if parsed["limit"]:
                rows = rows[: int(parsed["limit"])]
            return JSONResponse(sf_page([sf_select(parsed["obj"], r, columns) for r in rows], 0))
        match = re.fullmatch(rf"{SF}/query/([\w]+)-(\d+)", path)
        if match:
            cursor = fake._cursors.get(match.group(1))
            if cursor is None:
                return _sf_error(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
            return JSONResponse(sf_page(cursor[0], cursor[1]))
        match = re.fullmatch(rf"{SF}/sobjects/(\w+)/(\w+)", path)
        if match and request.method == "PATCH":
            object_type, record_id = match.groups()
            record = fake.sf_records.get(object_type, {}).get(record_id)
            if record is None:
                return _sf_error(404, "The requested resource does not exist", "NOT_FOUND")
            changes = json.loads(await request.body())
            described = {f["name"]: f for f in SF_DESCRIBE[object_type]}
            for name, value in changes.items():
                spec = described.get(name)
                if spec is None:
                    return _sf_error(
                        400,
                        f"No such column '{name}' on sobject of type {object_type}",
                        "INVALID_FIELD",
                    )
                if not spec["updateable"]:
                    return _sf_error(
                        400,
                        f"Unable to create/update fields: {name}.",
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        [name],
                    )
                if isinstance(value, str) and spec["length"] and len(value) > spec["length"]:
                    return _sf_error(
                        400,
                        f"{spec['label']}: data value too large: {value[:20]}... (max length={spec['length']})",
                        "STRING_TOO_LONG",
                        [name],
                    )
                if (
                    spec["type"] == "picklist"
                    and value is not None
                    and value not in {p["value"] for p in spec["picklistValues"] if p["active"]}
                ):
                    return _sf_error(
                        400,
                        f"{spec['label']}: bad value for restricted picklist field: {value}",
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        [name],
                    )
            record.update(changes)
            return Response(status_code=204)
        return _sf_error(404, "The requested resource does not exist", "NOT_FOUND")

    return Starlette(
        routes=[
            Route("/services/{rest:path}", salesforce, methods=["GET", "POST", "PATCH", "DELETE"]),
            Route("/{rest:path}", hubspot, methods=["GET", "POST", "PATCH", "DELETE"]),
        ],
        # as HubSpot and Salesforce do for a client that accepts it (httpx does): gzip
        middleware=[Middleware(GZipMiddleware, minimum_size=0)],
    )


class FakeCrmServer:
    """Runs :func:`build_app` with uvicorn in a daemon thread on a free loopback port."""

    def __init__(self) -> None:
        self.fake = FakeCrm()
        port = free_port()
        self.fake.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            build_app(self.fake), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> FakeCrm:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake CRM server did not start")
            time.sleep(0.05)
        return self.fake

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

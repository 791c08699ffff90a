"""The raw-SQL baseline of ``bench/queries``: the same JSON as the GraphQL operations, from
hand-written SQL on the same driver, served by the same uvicorn process.

Mounted at ``POST /bench/raw/{operation}`` only when the server runs with
``INBOX_GRAPH_BENCH_BASELINE=1`` (``bench.queries`` sets it; production never does). A request
carries the same ``Authorization: Bearer`` header and the operation's GraphQL variables as its
JSON body, and is answered with the body the GraphQL endpoint returns (``{"data": ...}``), built
by hand: a token lookup, the viewer's teams, then as few statements as a careful engineer
would write for that screen, through tortoise's client for the database (aiosqlite or asyncpg,
the driver the API uses), with no ORM models, no GraphQL and no DataLoaders.

It is a yardstick, not a second implementation: it serves one kind of viewer, unrestricted
(contact visibility ``ALL``) and allowed to see blocked contacts, as the benchmark's agent is,
and answers 400 for anyone else. ``bench.queries`` checks that its JSON equals the API's.

Adding an operation: write ``async def name(db, viewer, variables) -> dict`` returning the
``data`` object and list it in :data:`OPERATIONS` (and its GraphQL text in ``bench.queries``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise import connections

from db.models.channel import ChannelType
from db.security import hash_token
from graph.permissions.fields import mask_phone
from graph.relay import encode_cursor, parse_global_id, to_global_id


@dataclass
class RawViewer:
    user_id: int
    workspace_id: int
    role: str
    team_ids: list[int]
    members: dict[int, list[int]]  # every team of the workspace -> member ids


class Db:
    """``?`` placeholders on both dialects; rows as dicts."""

    def __init__(self) -> None:
        self.client = connections.get("default")
        self.postgres = self.client.capabilities.dialect == "postgres"

    async def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        if self.postgres:
            parts = sql.split("?")
            sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
        return [dict(row) for row in await self.client.execute_query_dict(sql, list(params))]


def iso(value: Any) -> str:
    """A timestamp as the API serialises it (ISO 8601, UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).isoformat()


def moment(value: Any) -> datetime:
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(UTC)


def name_of(first: str | None, last: str | None, email: str | None) -> str:
    full = " ".join(p for p in (first, last) if p)
    return full or email or "Unknown contact"


def gid(type_name: str, pk: int | None) -> str | None:
    return None if pk is None else str(to_global_id(type_name, pk))


def in_list(values: list[int]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


async def viewer_of(db: Db, request: Request) -> RawViewer | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    found = await db.rows(
        "SELECT u.id, u.workspace_id, u.role, u.contact_visibility, u.can_view_blocked_contacts "
        'FROM access_token t JOIN "user" u ON u.id = t.user_id '
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.is_active = ? "
        "AND (t.expires_at IS NULL OR t.expires_at > ?)",
        hash_token(token.strip()),
        True,
        datetime.now(UTC),
    )
    if not found:
        return None
    user = found[0]
    if user["contact_visibility"] != "ALL" or not user["can_view_blocked_contacts"]:
        raise ValueError("the baseline serves unrestricted viewers who may see blocked contacts")
    members: dict[int, list[int]] = {}
    for row in await db.rows(
        "SELECT t.id AS team_id, m.user_id FROM team t LEFT JOIN team_membership m ON m.team_id = t.id "
        "WHERE t.workspace_id = ?",
        user["workspace_id"],
    ):
        members.setdefault(row["team_id"], [])
        if row["user_id"] is not None:
            members[row["team_id"]].append(row["user_id"])
    admin = user["role"] in ("OWNER", "MANAGER")
    team_ids = (
        sorted(members) if admin else sorted(t for t, ids in members.items() if user["id"] in ids)
    )
    return RawViewer(user["id"], user["workspace_id"], user["role"], team_ids, members)


# --------------------------------------------------------------------------------------------
# operations


async def sidebar(db: Db, viewer: RawViewer, variables: dict[str, Any]) -> dict[str, Any]:
    ws = viewer.workspace_id
    open_by_assignee = {
        row["assignee_key"] or None: row["count"]
        for row in await db.rows(
            "SELECT assignee_key, count FROM open_conversation_count WHERE workspace_id = ? AND blocked = ?",
            ws,
            False,
        )
    }
    unseen: dict[tuple[str, Any], int] = {}
    for row in await db.rows(
        "SELECT m.inbox_key, c.contact_assignee_id, COUNT(*) AS n FROM unseen_mark m "
        "JOIN conversation c ON c.id = m.conversation_id "
        "WHERE m.user_id = ? AND c.workspace_id = ? AND c.status = 'OPEN' AND c.contact_blocked = ? "
        "GROUP BY m.inbox_key, c.contact_assignee_id",
        viewer.user_id,
        ws,
        False,
    ):
        unseen[(row["inbox_key"], row["contact_assignee_id"])] = row["n"]

    def counts(key: str, allowed: Any) -> dict[str, int]:
        return {
            "newMessageCount": sum(n for (k, a), n in unseen.items() if k == key and allowed(a)),
            "openConversationCount": sum(n for a, n in open_by_assignee.items() if allowed(a)),
        }

    standard = [
        {"kind": "ALL", **counts("ALL", lambda a: True)},
        {"kind": "MINE", **counts("MINE", lambda a: a == viewer.user_id)},
        {"kind": "UNASSIGNED", **counts("UNASSIGNED", lambda a: a is None)},
    ]
    names = (
        {
            row["id"]: row["name"]
            for row in await db.rows(
                f"SELECT id, name FROM team WHERE id IN ({in_list(viewer.team_ids)})",
                *viewer.team_ids,
            )
        }
        if viewer.team_ids
        else {}
    )
    teams = [
        {
            "team": {"id": gid("Team", t), "name": names[t]},
            **counts(f"team:{t}", lambda a, m=set(viewer.members[t]): a in m),
        }
        for t in viewer.team_ids
    ]
    blocked = await db.rows(
        "SELECT COUNT(*) AS n FROM conversation WHERE workspace_id = ? AND status = 'OPEN' "
        "AND contact_blocked = ?",
        ws,
        True,
    )
    blocked_exists = await db.rows(
        "SELECT 1 AS x FROM contact WHERE workspace_id = ? AND blocked = ? LIMIT 1", ws, True
    )
    custom = await db.rows(
        "SELECT id, name FROM custom_inbox ci WHERE workspace_id = ? AND (creator_id = ? "
        "OR sharing = 'EVERYONE' OR (sharing = 'CHOSEN' AND id IN (SELECT custom_inbox_id "
        f"FROM custom_inbox_share WHERE user_id = ? OR team_id IN ({in_list(viewer.team_ids)})))) "
        "ORDER BY name, id",
        ws,
        viewer.user_id,
        viewer.user_id,
        *viewer.team_ids,
    )
    return {
        "inboxSidebar": {
            "standard": standard,
            "teams": teams,
            "custom": [{"id": gid("CustomInbox", r["id"]), "name": r["name"]} for r in custom],
            "blocked": {"openConversationCount": blocked[0]["n"]} if blocked_exists else None,
        }
    }


CONVERSATION_COLUMNS = (
    "c.id, c.status, c.last_activity_at, c.contact_id, c.last_message_id, "
    "k.first_name, k.last_name, k.email, k.assignee_id, u.name AS assignee_name, "
    "m.text AS message_text, m.created_at AS message_created_at, m.direction AS message_direction"
)


async def conversations(db: Db, viewer: RawViewer, variables: dict[str, Any]) -> dict[str, Any]:
    """A standard inbox's page: ``first`` from the start, or ``last`` from the end (read
    backwards: ``ORDER BY`` reversed, ``LIMIT``, then reversed here)."""
    kind = variables["inbox"]["standard"]
    backward = variables.get("last") is not None
    size = variables["last"] if backward else variables.get("first", 25)
    where = "c.workspace_id = ? AND c.status = 'OPEN' AND c.contact_blocked = ?"
    params: list[Any] = [viewer.workspace_id, False]
    if kind == "MINE":
        where += " AND c.contact_assignee_id = ?"
        params.append(viewer.user_id)
    elif kind == "UNASSIGNED":
        where += " AND c.contact_assignee_id IS NULL"
    direction = "ASC" if backward else "DESC"
    rows = await db.rows(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversation c JOIN contact k ON k.id = c.contact_id "
        'LEFT JOIN "user" u ON u.id = k.assignee_id LEFT JOIN message m ON m.id = c.last_message_id '
        f"WHERE {where} ORDER BY c.last_activity_at {direction}, c.id {direction} LIMIT ?",
        *params,
        size + 1,
    )
    page = rows[:size]
    if backward:
        page.reverse()
    cursors = [encode_cursor([moment(r["last_activity_at"]), r["id"]]) for r in page]
    edges = [
        {
            "cursor": cursor,
            "node": {
                "id": gid("Conversation", r["id"]),
                "status": r["status"],
                "lastActivityAt": iso(r["last_activity_at"]),
                "contact": {
                    "id": gid("Contact", r["contact_id"]),
                    "name": name_of(r["first_name"], r["last_name"], r["email"]),
                    "assignee": {"id": gid("User", r["assignee_id"]), "name": r["assignee_name"]}
                    if r["assignee_id"] is not None
                    else None,
                },
                "lastMessage": {
                    "id": gid("Message", r["last_message_id"]),
                    "text": r["message_text"],
                    "direction": r["message_direction"],
                    "createdAt": iso(r["message_created_at"]),
                }
                if r["last_message_id"] is not None
                else None,
            },
        }
        for cursor, r in zip(cursors, page, strict=True)
    ]
    if backward:
        page_info = {
            "hasPreviousPage": len(rows) > size,
            "startCursor": cursors[0] if cursors else None,
        }
    else:
        page_info = {"hasNextPage": len(rows) > size, "endCursor": cursors[-1] if cursors else None}
    return {"conversations": {"edges": edges, "pageInfo": page_info}}


async def _visible_conversation(db: Db, viewer: RawViewer, node_id: str) -> int | None:
    parsed = parse_global_id(node_id)
    if parsed is None or parsed[0] != "Conversation":
        return None
    found = await db.rows(
        "SELECT id FROM conversation WHERE id = ? AND workspace_id = ?",
        parsed[1],
        viewer.workspace_id,
    )
    return found[0]["id"] if found else None


async def timeline(db: Db, viewer: RawViewer, variables: dict[str, Any]) -> dict[str, Any]:
    conversation_id = await _visible_conversation(db, viewer, variables["id"])
    if conversation_id is None:
        return {"node": None}
    first = variables.get("first", 50)
    messages = await db.rows(
        "SELECT m.id, m.text, m.direction, m.created_at, m.author_id, u.name AS author_name FROM message m "
        'LEFT JOIN "user" u ON u.id = m.author_id WHERE m.conversation_id = ? '
        "ORDER BY m.created_at, m.id LIMIT ?",
        conversation_id,
        first + 1,
    )
    activities = await db.rows(
        "SELECT a.id, a.kind, a.text, a.created_at, a.author_id, u.name AS author_name FROM activity a "
        'LEFT JOIN "user" u ON u.id = a.author_id WHERE a.conversation_id = ? '
        "ORDER BY a.created_at, a.id LIMIT ?",
        conversation_id,
        first + 1,
    )
    merged = sorted(
        [(moment(r["created_at"]), 0, r["id"], r) for r in messages]
        + [(moment(r["created_at"]), 1, r["id"], r) for r in activities],
        key=lambda item: item[:3],
    )
    page = merged[:first]
    edges = []
    for at, rank, row_id, r in page:
        author = (
            {"id": gid("User", r["author_id"]), "name": r["author_name"]}
            if r["author_id"] is not None
            else None
        )
        if rank == 0:
            node = {
                "__typename": "Message",
                "id": gid("Message", row_id),
                "text": r["text"],
                "direction": r["direction"],
                "createdAt": iso(at),
                "author": author,
            }
        else:
            node = {
                "__typename": "Activity",
                "id": gid("Activity", row_id),
                "kind": r["kind"],
                "text": r["text"],
                "createdAt": iso(at),
                "author": author,
            }
        edges.append({"cursor": encode_cursor([at, rank, row_id]), "node": node})
    return {
        "node": {
            "timeline": {
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": len(merged) > first,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                },
            }
        }
    }


async def _details(db: Db, viewer: RawViewer, contact_id: int) -> dict[str, Any] | None:
    found = await db.rows(
        "SELECT k.id, k.first_name, k.last_name, k.phone, k.email, k.country_code, k.language, "
        "k.blocked, k.assignee_id, u.name AS assignee_name, w.phone_number_masking "
        'FROM contact k JOIN workspace w ON w.id = k.workspace_id LEFT JOIN "user" u ON u.id = k.assignee_id '
        "WHERE k.id = ? AND k.workspace_id = ?",
        contact_id,
        viewer.workspace_id,
    )
    if not found:
        return None
    r = found[0]
    masked = bool(r["phone_number_masking"]) and viewer.role != "OWNER"
    return {
        "id": gid("Contact", r["id"]),
        "firstName": r["first_name"],
        "lastName": r["last_name"],
        "name": name_of(r["first_name"], r["last_name"], r["email"]),
        "phone": mask_phone(r["phone"]) if masked else r["phone"],
        "email": r["email"],
        "countryCode": r["country_code"],
        "language": r["language"],
        "blocked": bool(r["blocked"]),
        "assignee": {"id": gid("User", r["assignee_id"]), "name": r["assignee_name"]}
        if r["assignee_id"] is not None
        else None,
    }


async def _channels(db: Db, viewer: RawViewer, contact_id: int) -> dict[str, Any]:
    rows = await db.rows(
        "SELECT c.id, c.type, c.name, i.handle, w.phone_number_masking FROM channel c "
        "JOIN workspace w ON w.id = c.workspace_id "
        "LEFT JOIN channel_identity i ON i.channel_id = c.id AND i.contact_id = ? "
        "WHERE c.workspace_id = ? ORDER BY c.id, i.id",
        contact_id,
        viewer.workspace_id,
    )
    channels: dict[int, dict[str, Any]] = {}
    for r in rows:
        channel = channels.setdefault(
            r["id"],
            {
                "channel": {"id": gid("Channel", r["id"]), "type": r["type"], "name": r["name"]},
                "hasIdentity": False,
                "handle": None,
                "handles": [],
            },
        )
        if r["handle"] is None:
            continue
        masked = (
            bool(r["phone_number_masking"])
            and viewer.role != "OWNER"
            and ChannelType(r["type"]).handle_is_phone
        )
        channel["handles"].append(mask_phone(r["handle"]) if masked else r["handle"])
        channel["hasIdentity"], channel["handle"] = True, channel["handles"][0]
    return {"channels": list(channels.values())}


async def _activities(db: Db, viewer: RawViewer, contact_id: int) -> dict[str, Any]:
    first = 10
    rows = await db.rows(
        "SELECT a.id, a.kind, a.text, a.created_at, a.author_id, u.name AS author_name FROM activity a "
        'LEFT JOIN "user" u ON u.id = a.author_id WHERE a.contact_id = ? AND a.workspace_id = ? '
        "ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        contact_id,
        viewer.workspace_id,
        first + 1,
    )
    edges = [
        {
            "cursor": encode_cursor([moment(r["created_at"]), r["id"]]),
            "node": {
                "id": gid("Activity", r["id"]),
                "kind": r["kind"],
                "text": r["text"],
                "createdAt": iso(r["created_at"]),
                "author": {"id": gid("User", r["author_id"]), "name": r["author_name"]}
                if r["author_id"] is not None
                else None,
            },
        }
        for r in rows[:first]
    ]
    return {
        "activities": {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": len(rows) > first,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }
    }


async def _merge_suggestions(db: Db, viewer: RawViewer, contact_id: int) -> dict[str, Any]:
    # the viewer sees every contact (RawViewer): no visibility condition
    rows = await db.rows(
        "SELECT o.id, o.first_name, o.last_name, o.email FROM contact k JOIN contact o "
        "ON o.workspace_id = k.workspace_id AND o.id <> k.id "
        "AND (o.phone = k.phone OR o.email_normalized = k.email_normalized) "
        "WHERE k.id = ? AND k.workspace_id = ? ORDER BY o.created_at, o.id LIMIT 20",
        contact_id,
        viewer.workspace_id,
    )
    return {
        "mergeSuggestions": [
            {
                "id": gid("Contact", r["id"]),
                "name": name_of(r["first_name"], r["last_name"], r["email"]),
            }
            for r in rows
        ]
    }


PANEL_SECTIONS = {
    "details": _details,
    "channels": _channels,
    "activities": _activities,
    "mergeSuggestions": _merge_suggestions,
}
"""The contact panel's sections (``bench.queries.CONTACT_PANEL`` selects the same): each
returns its fields of the contact, ``details`` first (``None``: no such contact)."""


async def contact_panel(db: Db, viewer: RawViewer, variables: dict[str, Any]) -> dict[str, Any]:
    parsed = parse_global_id(variables["id"])
    if parsed is None or parsed[0] != "Contact":
        return {"contact": None}
    contact: dict[str, Any] = {}
    for section in PANEL_SECTIONS.values():
        fields = await section(db, viewer, parsed[1])
        if fields is None:
            return {"contact": None}
        contact.update(fields)
    return {"contact": contact}


OPERATIONS = {
    "sidebar": sidebar,
    "conversations": conversations,
    "timeline": timeline,
    "contact_panel": contact_panel,
}


async def endpoint(request: Request) -> Response:
    operation = OPERATIONS.get(request.path_params["operation"])
    if operation is None:
        return JSONResponse({"errors": [{"message": "unknown operation"}]}, status_code=404)
    db = Db()
    try:
        viewer = await viewer_of(db, request)
    except ValueError as exc:
        return JSONResponse({"errors": [{"message": str(exc)}]}, status_code=400)
    if viewer is None:
        return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
    variables = json.loads(await request.body() or b"{}")
    return JSONResponse({"data": await operation(db, viewer, variables)})


routes = [Route("/bench/raw/{operation}", endpoint, methods=["POST"])]

__all__ = ["OPERATIONS", "PANEL_SECTIONS", "routes"]

"""urql, a client nobody here wrote, as a frontend sets it up (``tests/clients/urql-screens.mjs``):
its queries go as GET with ``__typename`` added to every selection set and an Accept header
that also offers ``text/event-stream`` and ``multipart/mixed``; its mutations as POST; its
subscriptions over graphql-ws. Every screen must answer it what it answers any client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.api.test_graphql_over_http import log_size, no_traceback_since
from tests.clients import run_node
from tests.support import receive

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCUMENTS = {
    "SIDEBAR": "{ inboxSidebar { standard { kind newMessageCount openConversationCount } } }",
    "LIST": """query Inbox($first: Int) {
      conversations(inbox: {standard: ALL}, first: $first) {
        totalCount
        edges { cursor node { id status contact { id name assignee { id name } }
          lastMessage { id text createdAt } } }
        pageInfo { hasNextPage endCursor }
      }
    }""",
    "TIMELINE": """query Timeline($id: ID!) {
      node(id: $id) { ... on Conversation { id timeline(first: 20) {
        edges { cursor node { ... on Message { id text direction } ... on Activity { id kind } } }
      } } }
    }""",
}


def _without_typename(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_typename(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [_without_typename(v) for v in value]
    return value


async def test_urql_reads_the_screens_subscribes_and_sends_as_any_client(world) -> None:
    await receive(world, "c_all", "Hello from the web chat")
    owner = world.client("owner")
    try:  # what any client reads before urql (whose message then changes the list)
        sidebar = await owner(DOCUMENTS["SIDEBAR"])
        listed = await owner(DOCUMENTS["LIST"], {"first": 5})
        first = listed["conversations"]["edges"][0]["node"]
        timeline = await owner(DOCUMENTS["TIMELINE"], {"id": first["id"]})
    finally:
        await owner.aclose()
    offset = log_size(world.served)
    printed = await asyncio.to_thread(
        run_node,
        "urql-screens.mjs",
        json.dumps(
            {
                "url": world.served.http_url,
                "wsUrl": world.served.ws_url,
                "token": world.tokens["owner"],
                "documents": DOCUMENTS,
            }
        ),
    )

    # queries as GET (under urql's URL limit), the mutation as POST; each answered as JSON
    assert [r["method"] for r in printed["requests"]] == ["GET"] * 4 + ["POST"], printed
    assert "text/event-stream" in printed["requests"][0]["accept"]
    assert _without_typename(printed["sidebar"]) == {"data": sidebar}
    assert _without_typename(printed["list"]) == {"data": listed}
    assert _without_typename(printed["timeline"]) == {"data": timeline}
    assert timeline["node"]["timeline"]["edges"], timeline
    assert printed["malformed"] == {"errors": ["BAD_USER_INPUT"], "network": None}

    sent = printed["sent"]["data"]["sendMessage"]
    assert sent["message"]["text"] == "Sent by urql"
    assert sent["conversation"]["id"] == first["id"]
    assert printed["event"] == {
        "data": {
            "newMessage": {
                "message": {"id": sent["message"]["id"], "text": "Sent by urql"},
                "conversation": {"id": first["id"]},
            }
        }
    }, printed["event"]
    no_traceback_since(world.served, offset)

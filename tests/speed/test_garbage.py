"""No request of the product leaves cyclic garbage (issue 23).

A request whose objects form a cycle (a recursive closure holding its resolve info, an
executor holding its own bound methods) is not freed when it is answered: its executor,
context, loaders and rows wait for the cyclic garbage collector, whose youngest generation
runs every 20,000 allocations once serving (``graph.app.settle_startup_heap``), at several
milliseconds a collection. Here the real app (:func:`graph.app.create_app`, its lifespan run)
serves, in the test process, the screens of ``test_screens`` (the bench's sidebar, lists,
timelines and contact panels, ``node`` lookups, the call log), search, mutations and refused
requests, through ``httpx.ASGITransport``; each is sent once to warm its caches, then a few
times under ``gc.DEBUG_SAVEALL``: a collection must then find nothing.

The world is built by the suite's server (``world``, ``screens``); the app here reads the same
database, so the users' tokens are good. Its heap is not frozen (``settle_startup_heap`` is a
no-op here): what a request leaves is in the collector's sight."""

from __future__ import annotations

import gc
import json
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

import graph.app
from bench.queries import (
    CONVERSATIONS,
    SEARCH_CONTACTS,
    SEARCH_MESSAGES,
    SIDEBAR,
    contact_panel_query,
)
from graph.app import create_app
from graph.errors import BadUserInput, FieldErrors
from graph.settings import Settings
from tests.calls.common import RECEIVE_CALL
from tests.conftest import ASSIGN
from tests.conversation.test_messages import SEND
from tests.speed.test_screens import LIST_PAGE, operations, screens  # noqa: F401 - a fixture
from tests.speed.test_statement_counts import COMMENT
from tests.support import NODE_CONTACT, RECEIVE, Client, new_number

SENDS = 2
"""How often each request is sent while the collector saves what it finds."""

URL = "http://inbox.test/graphql"


@pytest.fixture(scope="module")
async def app(server_env):
    """The app as ``inbox-graph serve`` builds it for the suite's server, in this process."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server_env.items():
            patch.setenv(name, value)
        patch.setattr(graph.app, "settle_startup_heap", lambda: None)
        built = create_app(Settings.from_env())
        async with built.router.lifespan_context(built):
            yield built


class InProcess:
    """HTTP requests to the in-process app through ``httpx.ASGITransport`` as one user (or
    anonymous). Sent by the transport itself: ``httpx.AsyncClient`` binds each response's
    stream to the response (``BoundAsyncStream``), a cycle of the client's own."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.transport = httpx.ASGITransport(app=app)
        self.token = token

    async def request(
        self,
        body: bytes = b"",
        content_type: str = "application/json",
        method: str = "POST",
        url: str = URL,
        token: str | None = None,
    ) -> httpx.Response:
        """The answer to one request (its body read); ``token`` instead of the user's."""
        headers = {"Content-Type": content_type} if body else {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        request = httpx.Request(method, url, headers=headers, content=body)
        response = await self.transport.handle_async_request(request)
        await response.aread()
        return response

    async def post(self, query: str, variables: dict | None = None) -> dict:
        """The body of one GraphQL request (200, errors or not)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        response = await self.request(body)
        assert response.status_code == 200, response.text
        return response.json()


def _name(value: object) -> str:
    """A garbage object as the report names it: its type, and its code's name for a
    function, frame or coroutine."""
    kind = type(value).__name__
    code = getattr(value, "__code__", None) or getattr(value, "f_code", None)
    code = code or getattr(value, "cr_code", None) or getattr(value, "gi_code", None)
    if code is not None:
        return f"{kind} {code.co_qualname}"
    return kind


def _link(holder: object, held: object) -> str:
    """How ``holder`` refers to ``held`` (a key's or attribute's name), when it can be told."""
    if isinstance(holder, dict):
        for key, value in holder.items():
            if value is held:
                return f"[{key!r}]"
    return ""


def cycle_through(garbage: list[Any]) -> str:
    """A cycle of ``garbage`` (breadth first over :func:`gc.get_referents`, within it),
    from one of its first objects that are no plain container, as
    ``a -> ['key'] b -> ... -> a``."""
    ids = {id(value): value for value in garbage}
    plain = (dict, list, tuple, set, frozenset)
    starts = [v for v in garbage if not isinstance(v, plain)] or garbage
    for start in starts[:20]:
        came_from: dict[int, int] = {}
        queue = deque([id(start)])
        while queue:
            current = queue.popleft()
            for referent in gc.get_referents(ids[current]):
                if id(referent) not in ids:
                    continue
                if referent is start:
                    path = [current]
                    while path[-1] != id(start):
                        path.append(came_from[path[-1]])
                    path.reverse()
                    names = [_name(start)]
                    for holder, held in zip(path, [*path[1:], id(start)], strict=True):
                        names.append(f"{_link(ids[holder], ids[held])} {_name(ids[held])}".strip())
                    return " -> ".join(names)
                if id(referent) not in came_from:
                    came_from[id(referent)] = current
                    queue.append(id(referent))
    return "none found"


def described(garbage: list[Any]) -> str:
    """The garbage's size, its commonest kinds and one of its cycles."""
    kinds = Counter(_name(value) for value in garbage)
    return f"{len(garbage)} objects: {dict(kinds.most_common(12))}; cycle: {cycle_through(garbage)}"


Send = Callable[[], Awaitable[Any]]


async def garbage_of(sends: list[Send]) -> list[Any]:
    """What the cyclic collector finds after each of ``sends`` ran :data:`SENDS` times (each
    once before, to fill the caches a first request fills)."""
    for send in sends:
        await send()
    gc.collect()
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        for _ in range(SENDS):
            for send in sends:
                await send()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()


async def assert_no_garbage(labelled: dict[str, Send]) -> None:
    """None of ``labelled``'s requests leaves garbage; those that do are named, each with
    what it left (checked one by one once the group left some)."""
    if not await garbage_of(list(labelled.values())):
        return
    found = {}
    for label, send in labelled.items():
        garbage = await garbage_of([send])
        if garbage:
            found[label] = described(garbage)
    assert not found, json.dumps(found or "only together", indent=1)


def posting(client: InProcess, query: str, variables: dict | Callable[[], dict] | None = None):
    """A send of one GraphQL request; ``variables`` may be made anew for each."""

    async def send() -> None:
        await client.post(query, variables() if callable(variables) else variables)

    return send


@pytest.fixture(scope="module")
def users(screens, app):  # noqa: F811 - the imported fixture
    """A sender to the in-process app per user of the world, and ``None`` (anonymous)."""
    return {who: InProcess(app, token) for who, token in [(None, None), *screens.tokens.items()]}


async def test_the_screens_leave_no_garbage(screens, app, users):  # noqa: F811
    """The screens ``test_screens`` compares (sidebar, lists both ways, timelines, contact
    panels, ``node`` of every kind, the call log, rows that do not exist), as the owner."""
    owner = Client(
        screens.served,
        screens.tokens["owner"],
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30),
    )
    wanted = await operations(owner, screens)
    await owner.aclose()
    assert len(wanted) > 60
    await assert_no_garbage({f"{q[:60]!r} {v}": posting(users["owner"], q, v) for q, v in wanted})


async def test_search_and_mutations_leave_no_garbage(screens, users):  # noqa: F811
    """Search (contacts by name and number, messages by a word, as the owner and a restricted
    agent) and the mutations of an agent's day: a reply, a comment, an assignment, an
    inbound message and an inbound call (the integration)."""
    contact = screens.contact_ids["c_team"]
    owner, agent, integration = users["owner"], users["agent_team"], users["integration"]
    searches = {
        f"{name} {q!r} as {who}": posting(users[who], query, {"q": q, "first": 25})
        for who in ("owner", "agent_team")
        for name, query, q in (
            ("searchContacts", SEARCH_CONTACTS, "c_"),
            ("searchContacts", SEARCH_CONTACTS, "7400"),
            ("searchMessages", SEARCH_MESSAGES, "Hello"),
        )
    }
    mutations = {
        "sendMessage": posting(
            agent, SEND, lambda: {"i": {"contactId": contact, "text": uuid.uuid4().hex}}
        ),
        "addComment": posting(owner, COMMENT, {"c": contact, "t": "A note"}),
        "assignContact": posting(
            owner, ASSIGN, {"c": contact, "a": screens.user_ids["agent_team"]}
        ),
        "receiveMessage": posting(
            integration,
            RECEIVE,
            lambda: {
                "i": {
                    "channelId": screens.channel_ids["WEBCHAT"],
                    "from": "visitor-c_team",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": "Hello again",
                }
            },
        ),
        "receiveCall": posting(
            integration,
            RECEIVE_CALL,
            lambda: {
                "i": {
                    "channelId": screens.channel_ids["WHATSAPP"],
                    "from": new_number(),
                    "externalCallId": uuid.uuid4().hex,
                }
            },
        ),
    }
    await assert_no_garbage({**searches, **mutations})


def refused(client: InProcess, **request: Any) -> Send:
    """A send of one request the app refuses (a 4xx, never a 5xx)."""

    async def send() -> None:
        response = await client.request(**request)
        assert response.status_code < 500, response.text

    return send


def graphql_body(query: str, variables: dict | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


async def test_refused_requests_leave_no_garbage(screens, users):  # noqa: F811
    """Errors: ids that are no ids or name nothing, another team's inbox and a contact out of
    sight (a restricted agent), bad cursors and page sizes, no token or a wrong one, invalid
    documents and variables, and bodies that are no GraphQL request."""
    owner, agent = users["owner"], users["agent_self"]
    beta_inbox = {"inbox": {"teamId": screens.team_ids["Beta"]}, "first": 5}
    panel = contact_panel_query()
    labelled = {
        "node of a malformed id": posting(owner, NODE_CONTACT, {"id": "bm90IGFuIGlk"}),
        "contact panel of a malformed id": posting(owner, panel, {"id": "nope"}),
        "contact panel of a contact out of sight": posting(
            agent, panel, {"id": screens.contact_ids["c_beta"]}
        ),
        "another team's inbox": posting(agent, CONVERSATIONS, beta_inbox),
        "a bad cursor": posting(
            owner, LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 2, "after": "bm8="}
        ),
        "first and last, both out of range": posting(
            owner, LIST_PAGE, {"inbox": {"standard": "ALL"}, "first": 0, "last": 500}
        ),
        "no token": posting(users[None], SIDEBAR),
        "a wrong token": refused(owner, body=graphql_body(SIDEBAR), token="not-a-token"),
        "a missing variable": refused(owner, body=graphql_body(panel)),
        "a variable of the wrong type": refused(owner, body=graphql_body(panel, {"id": 3})),
        "malformed JSON": refused(owner, body=b'{"query": '),
        "JSON too deep": refused(owner, body=b"[" * 2000 + b"]" * 2000),
        "not UTF-8": refused(owner, body=b'{"query": "\xff"}'),
        "not an object": refused(owner, body=b"[1, 2]"),
        "a content type it does not read": refused(
            owner, body=b"{ __typename }", content_type="text/plain"
        ),
        "a path it does not serve": refused(owner, url="http://inbox.test/nope"),
    }
    await assert_no_garbage(labelled)


@pytest.mark.xfail(
    strict=True,
    reason="graphql-core's cycles, left (issue 23): a parsed document's tokens link both ways "
    "(Token.prev, Token.next), and validation's visitors hold their own bound methods",
)
async def test_documents_refused_before_execution_leave_no_garbage(users):
    """Documents parsed or validated anew at every request, because they are refused (a
    syntax error, an unknown field: never cached, ``graph.extensions.Documents``) or read by
    strawberry's own parse (a mutation sent over GET). Strawberry's execution context, which
    kept a syntax error's traceback (through its parse's frame), is no longer part of it."""
    owner = users["owner"]
    await assert_no_garbage(
        {
            "a syntax error": refused(owner, body=graphql_body("{ node(")),
            "an unknown field": refused(owner, body=graphql_body("{ nope }")),
            "a mutation over GET": refused(
                owner, method="GET", url=URL + "?query=mutation%20%7B%20logout%20%7D"
            ),
        }
    )


async def test_a_syntax_error_leaves_only_its_tokens(users):
    """A document that does not parse: strawberry keeps the syntax error in its execution
    context, and the error's traceback held the frame of strawberry's parse, which names the
    context (with the request's loaders): a cycle until its errors' frames are cleared once
    answered (``graph.extensions.CodedErrors``). What is left is graphql-core's tokens."""
    garbage = await garbage_of([refused(users["owner"], body=graphql_body("{ node("))])
    others = [value for value in garbage if type(value).__name__ != "Token"]
    assert not others, described(others)


def _refuse(errors: FieldErrors) -> None:
    with errors.collect():
        raise BadUserInput("`a` is wrong.", field="a")
    errors.raise_if_any()


def test_an_inputs_errors_are_freed_without_the_cyclic_collector():
    """An input's errors, gathered by ``FieldErrors`` and raised at once: the raised error's
    traceback holds the frame that gathered it, which holds the ``FieldErrors``. When that
    still held the error (a cycle), a refused input (a bad cursor, a page size out of range)
    kept its request's executor, context and rows for the cyclic garbage collector."""
    gc.collect()
    gc.disable()
    try:
        errors = FieldErrors()
        gone = weakref.ref(errors)
        try:
            _refuse(errors)
        except BadUserInput as refusal:
            assert refusal.extensions["field"] == "a"
        del errors
        assert gone() is None
    finally:
        gc.enable()

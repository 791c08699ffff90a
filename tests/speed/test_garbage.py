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
no-op here): what a request leaves is in the collector's sight.

A leak of objects still reachable (a table keyed weakly by the request's loaders whose values
held their key) is no garbage: the ``keep_nothing`` tests count the live objects by type
(:func:`census`) after warming each request, send each :data:`GROWTH_SENDS` times more, count
again, and name the types that grew with the chain of references from a module (or the app,
or the event loop) to one of their new objects."""

from __future__ import annotations

import asyncio
import base64
import gc
import heapq
import itertools
import json
import sqlite3
import sys
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
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
        # the ring-timeout sweep once, at startup, not every second: a census taken while it
        # awaited its statement counted what it held then as the requests' growth (a flake)
        patch.setenv("INBOX_GRAPH_RING_SWEEP_INTERVAL_SECONDS", "3600")
        patch.setattr(graph.app, "settle_startup_heap", lambda: None)
        built = create_app(Settings.from_env())
        async with built.router.lifespan_context(built):
            # what an app of an earlier module left as it ended (its connections' transports,
            # closed a loop iteration or more later; its fixture's context) is collected now,
            # not in this module's first measurement
            await asyncio.sleep(0.2)
            gc.collect()
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


@pytest.fixture(scope="module")
async def screen_operations(screens, app) -> list[tuple[str, dict]]:  # noqa: F811
    """The screens ``test_screens`` compares (sidebar, lists both ways, timelines, contact
    panels, ``node`` of every kind, the call log, rows that do not exist), as documents and
    variables."""
    owner = Client(
        screens.served,
        screens.tokens["owner"],
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30),
    )
    wanted = await operations(owner, screens)
    await owner.aclose()
    assert len(wanted) > 60
    return wanted


def _label(query: str, variables: dict) -> str:
    return f"{query[:60]!r} {variables}"


@pytest.fixture(scope="module")
def screen_requests(screen_operations, users) -> dict[str, Send]:
    """The screens, as the owner."""
    return {_label(q, v): posting(users["owner"], q, v) for q, v in screen_operations}


def _shape(query: str, variables: dict) -> str:
    """A screen's document with its variables' names and the type its ``id`` names (a
    conversation, message, activity or contact: each ``node`` reads its own)."""
    named = ""
    try:
        given = variables.get("id", "")
        named = base64.b64decode(given + "=" * (-len(given) % 4)).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        pass
    return f"{query[:60]!r} {sorted(variables)} {named}"


@pytest.fixture(scope="module")
def screen_shapes(screen_operations, users) -> dict[str, Send]:
    """One screen of each :func:`_shape` (of about 300, about 60), as the owner: sent
    :data:`GROWTH_SENDS` times each, all of them would take half a minute."""
    shapes: dict[str, Send] = {}
    for q, v in screen_operations:
        shapes.setdefault(_shape(q, v), posting(users["owner"], q, v))
    return shapes


async def test_the_screens_leave_no_garbage(screen_requests):
    await assert_no_garbage(screen_requests)


def search_requests(screens, users) -> dict[str, Send]:  # noqa: F811
    """Search: contacts by name and number, messages by a word, as the owner and a restricted
    agent."""
    return {
        f"{name} {q!r} as {who}": posting(users[who], query, {"q": q, "first": 25})
        for who in ("owner", "agent_team")
        for name, query, q in (
            ("searchContacts", SEARCH_CONTACTS, "c_"),
            ("searchContacts", SEARCH_CONTACTS, "7400"),
            ("searchMessages", SEARCH_MESSAGES, "Hello"),
        )
    }


def mutation_requests(screens, users) -> dict[str, Send]:  # noqa: F811
    """The mutations of an agent's day: a reply, a comment, an assignment, an inbound message
    and an inbound call (the integration; from a new number each: a new contact)."""
    contact = screens.contact_ids["c_team"]
    owner, agent, integration = users["owner"], users["agent_team"], users["integration"]
    return {
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


async def test_search_and_mutations_leave_no_garbage(screens, users):  # noqa: F811
    await assert_no_garbage(
        {**search_requests(screens, users), **mutation_requests(screens, users)}
    )


def refused(client: InProcess, **request: Any) -> Send:
    """A send of one request the app refuses (a 4xx, never a 5xx)."""

    async def send() -> None:
        response = await client.request(**request)
        assert response.status_code < 500, response.text

    return send


def graphql_body(query: str, variables: dict | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def refused_requests(screens, users) -> dict[str, Send]:  # noqa: F811
    """Errors: ids that are no ids or name nothing, another team's inbox and a contact out of
    sight (a restricted agent), bad cursors and page sizes, no token or a wrong one, invalid
    documents and variables, and bodies that are no GraphQL request."""
    owner, agent = users["owner"], users["agent_self"]
    beta_inbox = {"inbox": {"teamId": screens.team_ids["Beta"]}, "first": 5}
    panel = contact_panel_query()
    return {
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


async def test_refused_requests_leave_no_garbage(screens, users):  # noqa: F811
    await assert_no_garbage(refused_requests(screens, users))


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


# Growth: what requests keep reachable (a leak the cyclic collector cannot see)

WARMING = 3
"""How often each request is sent before the first count: its caches filled (documents,
plans, statements, the viewer) and the app's lazily made objects made."""

GROWTH_SENDS = 20
"""How often each request is sent between the two counts: a request keeping even one object
grows that object's type by this much (by this much times the requests of a group sharing
it), far above :data:`SETTLING`."""

SETTLING = 4
"""How much any type may grow between the counts without a leak: what a bounded cache or an
LRU adds while it fills."""

SQLITE_CURSORS = "weakref.ReferenceType (a sqlite3 connection's dead cursor)"
"""How :func:`census` names those."""

BOUNDED: dict[str, tuple[int, str]] = {
    SQLITE_CURSORS: (
        200,
        (
            "CPython's sqlite3 prunes a connection's dead cursor references once every 200"
            " cursors (Modules/_sqlite/connection.c)"
        ),
    ),
}
"""Types that grow by more than :data:`SETTLING` without a leak, by type: how much, and why."""

MEASURES = 3
"""Measures at most, while asyncpg's statement caches grew during one (PostgreSQL): each
pooled connection prepares a statement (an entry, its columns, a timer to expire it) the
first time it runs it, and which connection runs which request is the pool's choice; the
caches are bounded (``statement_cache_size`` a connection) and fuller at each measure."""


PRODUCT = ("graph.", "db.")
"""The product's own modules: their types are named first in a report."""


def _kind(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def drop_cancelled_timers() -> None:
    """Drop the cancelled timers from the running event loop's heap, as asyncio does itself
    once they are more than half of it (``BaseEventLoop._run_once``): a request's timeouts
    (``asyncio.timeout``, asyncpg's per statement), cancelled once answered, each with its
    context (a transaction's connection, on PostgreSQL), stay there until then."""
    loop = asyncio.get_running_loop()
    kept = []
    for timer in loop._scheduled:  # type: ignore[attr-defined]
        if timer._cancelled:
            timer._scheduled = False
        else:
            kept.append(timer)
    heapq.heapify(kept)
    loop._scheduled = kept  # type: ignore[attr-defined]
    loop._timer_cancelled_count = 0  # type: ignore[attr-defined]


def asyncpg_connections() -> list[asyncpg.Connection]:
    """Every asyncpg connection of the process (none on SQLite), not its pool's proxies."""
    return [value for value in gc.get_objects() if issubclass(type(value), asyncpg.Connection)]


def statements_cached() -> int:
    """Statements in asyncpg's caches, all connections (0 on SQLite)."""
    return sum(len(connection._stmt_cache) for connection in asyncpg_connections())


def cached_statements_since(old: set[int]) -> Counter[str]:
    """The objects made since ``old`` (their ids) that asyncpg's statement caches hold, by
    type (as :func:`census` counts them): each entry added, its statement (columns, types),
    the timer that expires it (a 300 s ``call_later``), with its arguments and the context it
    copied, the request's that prepared it. A pooled connection prepares a statement the first
    time it runs it, and which connection runs which request (or a background loop's
    statement) is the pool's choice: the caches (bounded, ``statement_cache_size`` entries a
    connection) still fill after the warming sends, and what an entry holds is theirs, not a
    request's leak. Empty on SQLite."""
    counted: Counter[str] = Counter()
    seen: set[int] = set()
    stack = [
        entry
        for connection in asyncpg_connections()
        for entry in connection._stmt_cache._entries.values()
    ]
    while stack:
        value = stack.pop()
        if id(value) in seen or id(value) in old:
            continue
        seen.add(id(value))
        if gc.is_tracked(value):
            counted[_kind(value)] += 1
        stack.extend(gc.get_referents(value))
    return counted


def census() -> Counter[str]:
    """The objects the collector tracks (every container and instance: what a leak keeps),
    by type, after a full collection (cancelled timers dropped first,
    :func:`drop_cancelled_timers`). A sqlite3 connection's references to its cursors,
    dead ones kept until it prunes them (every 200 cursors), are counted apart
    (:data:`SQLITE_CURSORS`)."""
    drop_cancelled_timers()
    gc.collect()
    objects = gc.get_objects()
    counted = Counter(map(_kind, objects))
    for connection in objects:
        if isinstance(connection, sqlite3.Connection):
            for held in gc.get_referents(connection):
                if isinstance(held, list):
                    dead = sum(1 for r in held if isinstance(r, weakref.ref) and r() is None)
                    counted["weakref.ReferenceType"] -= dead
                    counted[SQLITE_CURSORS] += dead
    return counted


def _attribute(holder: object, held: object) -> str:
    """``held``'s name in ``holder`` (a key, an attribute, a slot, a closure's cell), or ''."""
    if isinstance(holder, dict):
        for key, value in holder.items():
            if value is held:
                return f"[{key!r}]"[:80]
    if isinstance(holder, (list, tuple)):
        for index, value in enumerate(holder):
            if value is held:
                return f"[{index}]"
    if type(holder).__name__ == "cell":
        return ".cell_contents"
    for name, value in getattr(holder, "__dict__", {}).items():
        if value is held:
            return f".{name}"
    for kind in type(holder).__mro__:
        for name in getattr(kind, "__slots__", ()):
            if getattr(holder, name, None) is held:
                return f".{name}"
    return ""


def chain_to(targets: set[int], roots: dict[str, object]) -> str:
    """The shortest chain of references from one of ``roots`` (modules by name, and others)
    to an object whose id is in ``targets``, breadth first over :func:`gc.get_referents`, as
    ``module graph.x -> ['_TABLE'] dict -> ... Loaders``."""
    came_from: dict[int, tuple[int, object] | None] = {}
    seen: dict[int, object] = {}
    queue: deque[object] = deque()
    for value in roots.values():
        if id(value) not in seen:
            seen[id(value)] = value
            came_from[id(value)] = None
            queue.append(value)
    names = {id(value): name for name, value in roots.items()}
    while queue:
        current = queue.popleft()
        if id(current) in targets:
            steps = [current]
            while came_from[id(steps[-1])] is not None:
                steps.append(came_from[id(steps[-1])][1])
            steps.reverse()
            said = [names[id(steps[0])]]
            for holder, held in itertools.pairwise(steps):
                said.append(f"{_attribute(holder, held)} {_name(held)}".strip())
            return " -> ".join(said)
        for referent in gc.get_referents(current):
            if id(referent) not in seen:
                seen[id(referent)] = referent
                came_from[id(referent)] = (id(current), current)
                queue.append(referent)
    return "none found from the modules, the app or the event loop (a frame or a task's?)"


async def growth_of(sends: list[Send], app: Any, held: bool) -> dict[str, Any]:
    """The types that grew by more than they may (:data:`SETTLING`, :data:`BOUNDED`) while
    each of ``sends`` ran :data:`GROWTH_SENDS` times (each :data:`WARMING` times before the
    first count; measured again while asyncpg's statement caches grew, :data:`MEASURES`;
    what their new entries hold left out, :func:`cached_statements_since`),
    and when ``held``, the chain holding one new object of them (the product's
    types first)."""
    for _ in range(WARMING):
        for send in sends:
            await send()
    census()  # once before: the first (of a process, or after new classes) fills CPython's
    # ABC caches with about 40 weak references to classes (``_abc``'s ``_destroy``)
    for _ in range(MEASURES):
        before, cached = census(), statements_cached()
        old = {id(value) for value in gc.get_objects()}
        for _ in range(GROWTH_SENDS):
            for send in sends:
                await send()
        after = census() - cached_statements_since(old)
        grown = {
            kind: n
            for kind, n in (after - before).items()
            if n > BOUNDED.get(kind, (SETTLING, ""))[0]
        }
        if not grown or statements_cached() == cached:
            break
    if not grown or not held:
        return grown and {"grown": grown}
    ordered = sorted(grown, key=lambda kind: (not kind.startswith(PRODUCT), -grown[kind]))
    for kind in ordered:
        targets = {id(v) for v in gc.get_objects() if _kind(v) == kind and id(v) not in old}
        if targets:
            break
    roots: dict[str, object] = {f"module {name}": m for name, m in list(sys.modules.items())}
    roots.update({"the app": app, "the event loop": asyncio.get_running_loop()})
    return {
        "grown": dict(sorted(grown.items(), key=lambda item: (-item[1], item[0]))[:20]),
        "held": f"{kind}: {chain_to(targets, roots)}",
    }


async def assert_no_growth(
    labelled: dict[str, Send], app: Any, kinds: Callable[[str], str] = str
) -> None:
    """None of ``labelled``'s requests keeps objects once answered. When the group grows,
    its requests are sent again by kind (``kinds`` of a label; each label its own by
    default) and those that grow are named, each with the types it grew; the first three
    with the chain holding one of its objects (the group's own, when none grows alone)."""
    together = await growth_of(list(labelled.values()), app, held=True)
    if not together:
        return
    by_kind: dict[str, list[Send]] = {}
    for label, send in labelled.items():
        by_kind.setdefault(kinds(label), []).append(send)
    found = {}
    for kind, sends in by_kind.items():
        grown = await growth_of(sends, app, held=len(found) < 3)
        if grown:
            found[kind] = grown
    assert not together, json.dumps(found or {"only together": together}, indent=1)


async def test_the_screens_keep_nothing(screen_shapes, app):
    """The screens (``screen_requests``), each sent many times: no type of object grows with
    them. A timeline or a contact panel kept its request's loaders, futures and rows (about
    130 objects a request) in the tables of ``graph.resolvers.node`` and ``.pages``."""
    await assert_no_growth(screen_shapes, app)


async def test_search_keeps_nothing(screens, users, app):  # noqa: F811
    """Search (``search_requests``), each sent many times: no type of object grows."""
    await assert_no_growth(search_requests(screens, users), app)


async def test_mutations_keep_nothing(screens, users, app):  # noqa: F811
    """The mutations (``mutation_requests``), each sent many times: no type of object grows.
    Each reply, inbound message and call kept its variables in ``graph.cost``'s table of
    requested costs (up to 1,024 of them, each a document and its variables)."""
    await assert_no_growth(mutation_requests(screens, users), app)


async def test_refused_requests_keep_nothing(screens, users, app):  # noqa: F811
    """The refused requests (``refused_requests``), each sent many times: no type of object
    grows."""
    await assert_no_growth(refused_requests(screens, users), app)

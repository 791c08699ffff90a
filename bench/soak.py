"""Soak benchmark: a mixed workload with hundreds of live subscribers, under faults, for minutes.

    python -m bench.soak [--backends embedded scaleout] [--minutes 10] [--subscribers 300]
                         [--rate 5] [--read-rate 5] [--json FILE] [--keep]

For each backend it serves a fresh workspace (``embedded``: SQLite + ``memory://``, one worker;
``scaleout``: a private PostgreSQL cluster + a private redis-server, ``--workers 2``), opens
``--subscribers`` WebSockets spread over seven users (five who see every contact, one TEAM and
one SELF agent), each with a ``newMessage`` subscription (some also ``conversationUpdated`` or
``inboxSidebarChanged``), then for ``--minutes`` ingests messages from many contacts, sends
agents' replies, reassigns contacts and reads lists, the sidebar and contact panels, all through
the public API, while faults happen at 25 %, 50 % and 75 % of the run: a ``kill -9`` of a
worker, a Redis restart and a database restart (``pg_ctl -m immediate``) on scaleout; a
``kill -9`` of the server (restarted by the bench, as systemd would) and a graceful restart on
embedded, which has no database server and no Redis to restart.

Writers behave like partners' scripts: a transport error or a 503 is retried with the same input
(the same ``externalMessageId`` for ingestion) after the advised ``Retry-After``. Subscribers
behave like dashboards: a socket that closes (any code, or a reset) is reopened with backoff and
subscribes again with ``afterSequence`` = the last sequence it received.

At the end it waits until every subscriber has every message it should have (``--drain-timeout``)
and counts, per subscriber: expected (every message acknowledged to a writer that the
subscriber's user may see: all of them for users who see every contact; for the TEAM and SELF
agents, the messages of the contacts pinned to them, which the workload never reassigns),
received, lost, duplicates, out-of-order deliveries, and messages it should not have seen. The
server's 5xx answers (503 counted apart: expected while the database is down), reconnections by
close code, the server's RSS every 30 s, and the tracebacks and ERROR lines of the server log
complete the report. Nothing here is part of ``pytest`` or ``.ci/run``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import UNTHROTTLED
from bench.fanout import (
    Server,
    SetupFailed,
    Subscriber,
    cpu_seconds,
    descendants,
    free_port,
    launch_redis,
    log,
    open_subscription,
    postgres_database,
    raise_fd_limit,
    recv_from,
    run_cli,
    start_server,
    stop_process_group,
    table,
)

OWNER_EMAIL = "owner@soak.inbox-graph.test"
PASSWORD = "soak-password-1"

RECEIVE = (
    "mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) "
    "{ duplicate message { id } contact { id } } }"
)
SEND = (
    "mutation($i: SendMessageInput!, $k: String) "
    "{ sendMessage(input: $i, idempotencyKey: $k) { message { id } contact { id } } }"
)
ASSIGN = (
    "mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) "
    "{ id assignee { id } } }"
)
LIST = (
    "query($inbox: InboxSelector!) { conversations(inbox: $inbox, first: 25) { edges { node "
    "{ id status lastActivityAt contact { id name assignee { name } } "
    "lastMessage { text direction } } } } }"
)
SIDEBAR = (
    "{ inboxSidebar { standard { kind newMessageCount openConversationCount } "
    "teams { team { name } newMessageCount openConversationCount } } }"
)
PANEL = (
    "query($id: ID!) { contact(id: $id) { id name email assignee { name } "
    "channels { channel { type name } hasIdentity } mergeSuggestions { id } "
    "conversations(first: 5) { edges { node { id status } } } "
    "activities(first: 10) { edges { node { id kind createdAt author { name } } } } } }"
)
NEW_MESSAGE = (
    "subscription($after: Int) { newMessage(afterSequence: $after) "
    "{ sequence message { id text direction createdAt } conversation { id } } }"
)
CONVERSATION_UPDATED = (
    "subscription($after: Int) { conversationUpdated(afterSequence: $after) "
    "{ sequence change reason conversationId conversation { id lastActivityAt } } }"
)
SIDEBAR_CHANGED = (
    "subscription { inboxSidebarChanged { standard { kind newMessageCount openConversationCount } "
    "teams { team { id } openConversationCount } } }"
)


@dataclass(frozen=True)
class UserSpec:
    key: str
    role: str
    visibility: str
    in_team: bool

    @property
    def sees(self) -> str:
        """Which messages this user's subscriptions must receive: ``all``, ``team`` or ``self``."""
        return {"ALL": "all", "TEAM": "team", "SELF": "self"}[self.visibility]


USERS = [
    UserSpec("owner", "OWNER", "ALL", False),
    UserSpec("manager", "MANAGER", "ALL", False),
    UserSpec("agent1", "AGENT", "ALL", False),
    UserSpec("agent2", "AGENT", "ALL", False),
    UserSpec("agent3", "AGENT", "ALL", False),
    UserSpec("agent_team", "AGENT", "TEAM", True),
    UserSpec("agent_self", "AGENT", "SELF", True),
]
ROTATING_ASSIGNEES = ("owner", "manager", "agent1", "agent2", "agent3")
"""Who the workload assigns the rotating contacts to (nobody in the team of the restricted
agents, so what those agents may see never changes)."""
PINNED_PER_USER = 8
VISIBLE_TO = {"all": {"rotating", "team", "self"}, "team": {"team", "self"}, "self": {"self"}}
"""Contact classes whose messages each kind of subscriber must receive: the TEAM agent sees the
contacts of its team (itself and the SELF agent), the SELF agent its own."""


# --------------------------------------------------------------------------------------------
# subscriber processes


@dataclass
class SubSpec:
    index: int
    user: str
    sees: str
    token: str
    extra: str  # "", "conversationUpdated" or "inboxSidebarChanged"


@dataclass
class ClientConfig:
    port: int
    after: int
    specs: list[SubSpec]
    connect_rate: float
    setup_timeout: float
    seed: int


class Book:
    """The process's message ids, numbered (a subscriber keeps a count per number)."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.sequences: dict[int, int] = {}

    def number(self, message_id: str) -> int:
        return self.numbers.setdefault(message_id, len(self.numbers))


def _error_code(errors: Any) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = (errors[0].get("extensions") or {}).get("code")
        return code or str(errors[0].get("message", ""))[:60]
    return str(errors)[:60]


class Sub:
    """One dashboard: a WebSocket with a ``newMessage`` subscription (and maybe another),
    reopened with backoff whenever it closes, resuming after the last sequence received."""

    def __init__(self, spec: SubSpec, after: int, book: Book) -> None:
        self.spec = spec
        self.book = book
        self.last = after
        self.extra_last = after
        self.counts = bytearray()
        self.received = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.examples: list[str] = []
        self.extra_events = 0
        self.closes: collections.Counter[str] = collections.Counter()
        self.failed_attempts: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.subscribed = 0
        self.connected = False
        self.socket: SoakSocket | None = None

    def has(self, number: int) -> bool:
        return number < len(self.counts) and self.counts[number] > 0

    def on_operation(self, sock: SoakSocket, message: dict[str, Any]) -> None:
        op, kind = message.get("id"), message.get("type")
        if kind == "next":
            payload = message.get("payload") or {}
            if payload.get("errors"):
                self.errors[f"{op} next: {_error_code(payload['errors'])}"] += 1
            data = payload.get("data") or {}
            if op == "nm" and data.get("newMessage"):
                self.on_message(data["newMessage"])
            elif op == "extra" and data:
                self.extra_events += 1
                sequence = (data.get("conversationUpdated") or {}).get("sequence")
                if sequence is not None:
                    self.extra_last = max(self.extra_last, sequence)
        elif kind == "error":
            code = _error_code(message.get("payload"))
            self.errors[f"{op} error: {code}"] += 1
            sock.hang_up(f"after error {code}")
        elif kind == "complete":
            self.errors[f"{op} complete"] += 1
            sock.hang_up("after complete")

    def on_message(self, event: dict[str, Any]) -> None:
        sequence, message_id = event["sequence"], event["message"]["id"]
        number = self.book.number(message_id)
        self.book.sequences[number] = sequence
        if number >= len(self.counts):
            self.counts.extend(bytes(number - len(self.counts) + 256))
        seen = self.counts[number]
        self.counts[number] = min(255, seen + 1)
        if seen:
            self.duplicates += 1
            if len(self.examples) < 5:
                self.examples.append(
                    f"duplicate {message_id} (sequence {sequence}, last {self.last})"
                )
            return
        self.received += 1
        if sequence <= self.last:
            self.out_of_order += 1
            if len(self.examples) < 5:
                self.examples.append(f"out of order: sequence {sequence} after {self.last}")
        else:
            self.last = sequence

    async def run(self, config: ClientConfig, stopping: asyncio.Event, rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        timeout = config.setup_timeout
        attempt = 0
        while not stopping.is_set():
            sock: SoakSocket | None = None
            failure = None
            try:
                _, sock = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: SoakSocket(config.port, self), "127.0.0.1", config.port
                    ),
                    timeout,
                )
                self.socket = sock
                await asyncio.wait_for(sock.upgraded, timeout)
                sock.send_json(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.spec.token}"},
                    }
                )
                ack = await sock.receive_json(timeout)
                if ack.get("type") != "connection_ack":
                    raise SetupFailed(f"no connection_ack: {str(ack)[:80]}")
                sock.send_json(
                    {
                        "id": "nm",
                        "type": "subscribe",
                        "payload": {"query": NEW_MESSAGE, "variables": {"after": self.last}},
                    }
                )
                if self.spec.extra == "conversationUpdated":
                    sock.send_json(
                        {
                            "id": "extra",
                            "type": "subscribe",
                            "payload": {
                                "query": CONVERSATION_UPDATED,
                                "variables": {"after": self.extra_last},
                            },
                        }
                    )
                elif self.spec.extra == "inboxSidebarChanged":
                    sock.send_json(
                        {"id": "extra", "type": "subscribe", "payload": {"query": SIDEBAR_CHANGED}}
                    )
                self.subscribed += 1
                self.connected = True
                opened = loop.time()
                await sock.done
                if loop.time() - opened > 5:  # it worked for a while: back to a short backoff
                    attempt = 0
            except (TimeoutError, OSError) as exc:
                failure = (
                    "refused" if isinstance(exc, ConnectionRefusedError) else type(exc).__name__
                )
            except SetupFailed:
                code = sock.close_code if sock is not None else None
                failure = f"setup closed {code}" if code else "setup cut off (1006)"
            finally:
                self.connected = False
            if stopping.is_set():
                break
            if failure is not None:
                self.failed_attempts[failure] += 1
            elif sock is not None:
                self.closes[sock.reason or str(sock.close_code or "1006")] += 1
            if sock is not None and not sock.closed:
                sock.close()
            delay = min(8.0, 0.5 * 2**attempt) * rng.uniform(0.5, 1.0)
            attempt += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    def result(self, expected: list[int], acked: set[int]) -> dict[str, Any]:
        wanted = set(expected)
        missing = [n for n in expected if not self.has(n)]
        unacked = leaks = 0
        for number, count in enumerate(self.counts):
            if count and number not in wanted:
                if number in acked:
                    leaks += 1
                else:
                    unacked += 1
        names = {n: m for m, n in self.book.numbers.items()} if missing or leaks else {}
        return {
            "index": self.spec.index,
            "user": self.spec.user,
            "sees": self.spec.sees,
            "extra": self.spec.extra,
            "expected": len(wanted),
            "received": len(wanted) - len(missing),
            "lost": len(missing),
            "missing_examples": [
                f"{names[n]} (sequence {self.book.sequences.get(n, '?')})" for n in missing[:5]
            ],
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "unacknowledged": unacked,
            "leaks": leaks,
            "examples": self.examples,
            "closes": dict(self.closes),
            "failed_attempts": dict(self.failed_attempts),
            "errors": dict(self.errors),
            "subscribed": self.subscribed,
            "connected": self.connected,
            "last_sequence": self.last,
            "extra_events": self.extra_events,
        }


class SoakSocket(Subscriber):
    """fanout's minimal WebSocket client, decoding each frame as it comes and handing the
    operations' messages to its :class:`Sub`."""

    def __init__(self, port: int, sub: Sub) -> None:
        super().__init__(port, "browser")  # dashboards are browsers (bench.fanout)
        self.sub = sub
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reason: str | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)

    def _message(self, now: float, payload: bytes, compressed: bool) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            self.sub.errors["undecodable frame"] += 1
            return
        kind = message.get("type")
        if kind in ("next", "error", "complete"):
            self.sub.on_operation(self, message)
        elif kind == "ping":
            self.send_json({"type": "pong"})
        else:
            self.inbox.put_nowait((now, payload, False))

    def hang_up(self, reason: str) -> None:
        self.reason = reason
        self.close()


def client_process(pipe: Any, config: ClientConfig) -> None:
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(_client(pipe, config))
    except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
        with contextlib.suppress(Exception):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))


async def _client(pipe: Any, config: ClientConfig) -> None:
    loop = asyncio.get_running_loop()
    book = Book()
    rng = random.Random(config.seed)
    stopping = asyncio.Event()
    subs = [Sub(spec, config.after, book) for spec in config.specs]
    tasks = []
    for sub in subs:
        tasks.append(asyncio.create_task(sub.run(config, stopping, rng)))
        await asyncio.sleep(1.0 / config.connect_rate)
    deadline = loop.time() + 120
    while loop.time() < deadline and not all(s.subscribed for s in subs):
        await asyncio.sleep(0.1)
    pipe.send(("ready", {"subscribed": sum(1 for s in subs if s.subscribed), "total": len(subs)}))

    def stats() -> dict[str, Any]:
        return {
            "connected": sum(s.connected for s in subs),
            "received": sum(s.received for s in subs),
            "duplicates": sum(s.duplicates for s in subs),
            "closes": sum(sum(s.closes.values()) for s in subs),
            "errors": sum(sum(s.errors.values()) for s in subs),
            "cpu_ms": round(time.process_time() * 1000),
        }

    while True:
        order = await loop.run_in_executor(None, pipe.recv)
        if order[0] == "stats":
            pipe.send(("stats", stats()))
            continue
        break
    _, expected_ids, acked_ids, deadline_at = order  # ("drain", {sees: [ids]}, [ids], deadline)
    expected = {sees: [book.number(m) for m in ids] for sees, ids in expected_ids.items()}
    acked = {book.number(m) for m in acked_ids}
    started = time.time()
    missing = {id(s): [n for n in expected[s.spec.sees] if not s.has(n)] for s in subs}
    while time.time() < deadline_at and any(missing.values()):
        await asyncio.sleep(0.5)
        for s in subs:
            if missing[id(s)]:
                missing[id(s)] = [n for n in missing[id(s)] if not s.has(n)]
    caught_up = time.time() - started
    results = [s.result(expected[s.spec.sees], acked) for s in subs]  # before closing: connected
    stopping.set()
    for s in subs:
        if s.socket is not None:
            s.socket.close()
    await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(("results", {"subscribers": results, "drain_seconds": caught_up, "stats": stats()}))


# --------------------------------------------------------------------------------------------
# HTTP: one client for every writer and reader, counting every answer


class Http:
    def __init__(self, url: str, t0: float) -> None:
        import httpx

        self.httpx = httpx
        self.url = url
        self.t0 = t0
        self.client = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=64, keepalive_expiry=5)
        )
        self.statuses: collections.Counter[str] = collections.Counter()
        self.transport_errors: collections.Counter[str] = collections.Counter()
        self.graphql_errors: collections.Counter[str] = collections.Counter()
        self.unavailable_at: list[float] = []
        self.server_errors: list[dict[str, Any]] = []

    async def call(
        self, kind: str, query: str, variables: dict[str, Any] | None, token: str
    ) -> tuple[int, dict[str, Any] | None, float]:
        """(the status, the body, the advised wait in seconds); the status is -1 when the
        request could not be sent (no connection), 0 when it was and no answer came."""
        try:
            response = await self.client.post(
                self.url,
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"} if token else {},
            )
        except self.httpx.TransportError as exc:
            self.transport_errors[f"{kind} {type(exc).__name__}"] += 1
            unsent = isinstance(exc, (self.httpx.ConnectError, self.httpx.ConnectTimeout))
            return (-1 if unsent else 0), None, 0.0
        status = response.status_code
        self.statuses[f"{kind} {status}"] += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        wait = 0.0
        with contextlib.suppress(KeyError, ValueError):
            wait = float(response.headers["retry-after"])
        if status == 503:
            self.unavailable_at.append(time.monotonic() - self.t0)
        elif status >= 500:
            self.server_errors.append(
                {
                    "at": round(time.monotonic() - self.t0, 1),
                    "kind": kind,
                    "status": status,
                    "body": response.text[:300],
                }
            )
        if body and body.get("errors"):
            self.graphql_errors[f"{kind} {status} {_error_code(body['errors'])}"] += 1
        return status, body, wait

    async def close(self) -> None:
        await self.client.aclose()


# --------------------------------------------------------------------------------------------
# the workload


@dataclass
class World:
    url: str
    port: int
    tokens: dict[str, str]
    user_ids: dict[str, str]
    team_id: str
    channels: dict[str, str]
    integration: str
    run_id: str


class Workload:
    """Ingestion, replies, assignments and reads at steady rates (open loop), each write
    retried like a partner's script until acknowledged."""

    WRITES = (("receiveMessage", 0.6), ("sendMessage", 0.25), ("assignContact", 0.15))

    def __init__(
        self, world: World, http: Http, args: argparse.Namespace, rng: random.Random
    ) -> None:
        self.world, self.http, self.args, self.rng = world, http, args, rng
        self.acked: dict[str, str] = {}  # message id -> contact class
        self.contacts: dict[str, list[str]] = {"rotating": [], "team": [], "self": []}
        self.contact_class: dict[str, str] = {}
        self.ingested = 0
        self.acks: collections.Counter[str] = collections.Counter()
        self.retries: collections.Counter[str] = collections.Counter()
        self.gave_up: collections.Counter[str] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
        self.duplicate_acks = 0
        self.send_retried_after_transport_error = 0
        self.reads: collections.Counter[str] = collections.Counter()
        self.tasks: set[asyncio.Task] = set()

    # writes
    async def write(
        self, kind: str, query: str, variables: dict[str, Any], token: str
    ) -> dict | None:
        started = time.monotonic()
        attempt = 0
        transport_failed = False
        while True:
            status, body, wait = await self.http.call(kind, query, variables, token)
            errors = (body or {}).get("errors")
            if status == 200 and body and not errors and body.get("data"):
                if transport_failed and kind == "sendMessage":
                    self.send_retried_after_transport_error += 1
                self.acks[kind] += 1
                return body["data"]
            retryable = status <= 0 or status >= 500 or _error_code(errors) == "SERVICE_UNAVAILABLE"
            if not retryable:
                self.refused[f"{kind} {status} {_error_code(errors)}"] += 1
                return None
            if time.monotonic() - started > self.args.write_timeout:
                self.gave_up[kind] += 1
                return None
            transport_failed = transport_failed or status == 0
            after = {-1: "connect error", 0: "lost answer"}.get(status, status)
            self.retries[f"{kind} after {after}"] += 1
            if status == 503 and wait:
                delay = wait
            else:
                delay = min(5.0, 0.5 * 2**attempt) * self.rng.uniform(0.5, 1.0)
            attempt += 1
            await asyncio.sleep(delay)

    def handle(self, index: int) -> tuple[str, str]:
        """(channel, handle) of a rotating contact; the pool grows as messages come."""
        if index % 2:
            return self.world.channels[
                "EMAIL"
            ], f"visitor{index}.{self.world.run_id}@soak.example.com"
        return self.world.channels["WEBCHAT"], f"soak-{self.world.run_id}-visitor-{index}"

    async def ingest(self, n: int, who: str | None = None) -> None:
        if who is None:
            roll = self.rng.random()
            who = "self" if roll < 0.075 else "team" if roll < 0.15 else "rotating"
        if who == "rotating":
            pool = 60 + self.ingested // 8
            channel, handle = self.handle(self.rng.randrange(pool))
        else:
            channel = self.world.channels["WEBCHAT"]
            handle = f"soak-{self.world.run_id}-{who}-{self.rng.randrange(PINNED_PER_USER)}"
        self.ingested += 1
        data = await self.write(
            "receiveMessage",
            RECEIVE,
            {
                "i": {
                    "channelId": channel,
                    "from": handle,
                    "externalMessageId": f"soak-{self.world.run_id}-{n}",
                    "text": f"soak message {n} from {handle}",
                }
            },
            self.world.integration,
        )
        if data is None:
            return
        payload = data["receiveMessage"]
        if payload["duplicate"]:
            self.duplicate_acks += 1
        contact = payload["contact"]["id"]
        if contact not in self.contact_class:
            self.contact_class[contact] = who
            self.contacts[who].append(contact)
        self.acked[payload["message"]["id"]] = self.contact_class[contact]

    async def reply(self, n: int) -> None:
        roll = self.rng.random()
        who = "self" if roll < 0.1 else "team" if roll < 0.2 else "rotating"
        if not self.contacts[who]:
            return
        contact = self.rng.choice(self.contacts[who])
        if who == "rotating":
            author = self.rng.choice(ROTATING_ASSIGNEES)
        elif who == "self":
            author = self.rng.choice(("agent_self", "agent_team"))
        else:
            author = "agent_team"
        data = await self.write(
            "sendMessage",
            SEND,
            # a retry after a lost answer sends the same key: written once whatever happened
            {"i": {"contactId": contact, "text": f"soak reply {n}"}, "k": uuid.uuid4().hex},
            self.world.tokens[author],
        )
        if data is not None:
            self.acked[data["sendMessage"]["message"]["id"]] = who

    async def assign(self, n: int) -> None:
        if not self.contacts["rotating"]:
            return
        contact = self.rng.choice(self.contacts["rotating"])
        assignee = self.rng.choice((*ROTATING_ASSIGNEES, None))
        await self.write(
            "assignContact",
            ASSIGN,
            {
                "c": contact,
                "a": self.world.user_ids[assignee] if assignee else None,
            },
            self.world.tokens["manager"],
        )

    # reads
    async def read(self, n: int) -> None:
        spec = self.rng.choice(USERS)
        token = self.world.tokens[spec.key]
        roll = self.rng.random()
        if roll < 0.45:
            if spec.sees == "all":
                inbox = {"standard": self.rng.choice(("ALL", "MINE", "UNASSIGNED"))}
            elif spec.sees == "team" and self.rng.random() < 0.5:
                inbox = {"teamId": self.world.team_id}
            else:
                inbox = {"standard": "MINE"}
            kind, query, variables = "conversations", LIST, {"inbox": inbox}
        elif roll < 0.75:
            kind, query, variables = "inboxSidebar", SIDEBAR, {}
        else:
            pool = self.contacts["rotating"] + self.contacts["team"] + self.contacts["self"]
            if spec.sees != "all":
                pool = self.contacts["self"] + (
                    self.contacts["team"] if spec.sees == "team" else []
                )
            if not pool:
                return
            kind, query, variables = "contact", PANEL, {"id": self.rng.choice(pool)}
        status, body, _ = await self.http.call(kind, query, variables, token)
        ok = status == 200 and body is not None and not body.get("errors")
        self.reads[f"{kind} {'ok' if ok else 'failed'}"] += 1

    # pacing
    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        kinds = [k for k, _ in self.WRITES]
        weights = [w for _, w in self.WRITES]
        writes = reads = 0
        while (now := loop.time()) < start + seconds:
            due_writes = int((now - start) * self.args.rate)
            while writes < due_writes:
                kind = self.rng.choices(kinds, weights)[0]
                action = {
                    "receiveMessage": self.ingest,
                    "sendMessage": self.reply,
                    "assignContact": self.assign,
                }[kind]
                self.spawn(action(writes))
                writes += 1
            due_reads = int((now - start) * self.args.read_rate)
            while reads < due_reads:
                self.spawn(self.read(reads))
                reads += 1
            await asyncio.sleep(0.05)

    async def finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


# --------------------------------------------------------------------------------------------
# deployments and their faults


class Deployment:
    """The served API of one backend, with the processes the faults act on."""

    def __init__(
        self,
        name: str,
        workers: int,
        env: dict[str, str],
        stack: contextlib.ExitStack,
        workdir: Path,
    ) -> None:
        self.name, self.workers, self.env, self.stack, self.workdir = (
            name,
            workers,
            env,
            stack,
            workdir,
        )
        self.port = free_port()
        self.starts = 0
        self.server: Server | None = None
        self.redis: subprocess.Popen | None = None
        self.redis_port: int | None = None
        self.postgres: Any = None

    def start(self) -> Server:
        self.starts += 1
        self.server = start_server(
            self.stack,
            self.env,
            self.workers,
            self.workdir,
            f"{self.name}-{self.starts}",
            None,
            port=self.port,
        )
        return self.server

    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob(f"server-{self.name}-*.log"))

    async def kill_worker(self) -> str:
        server = self.server
        assert server is not None
        victim = server.pids()[0]
        started = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        if self.workers == 1:  # the server itself: restart it, as systemd would
            await asyncio.to_thread(server.process.wait, 30)
            await asyncio.to_thread(self.start)
            return (
                f"kill -9 of the server (pid {victim}); restarted by the bench in "
                f"{time.monotonic() - started:.1f} s (pid {self.server.process.pid})"
            )
        deadline = started + 60
        while time.monotonic() < deadline:
            pids = server.pids()
            if victim not in pids and len(pids) >= self.workers:
                new = sorted(set(pids) - {victim})
                return (
                    f"kill -9 of worker {victim}; uvicorn's supervisor started a new one in "
                    f"{time.monotonic() - started:.1f} s (workers now {new})"
                )
            await asyncio.sleep(0.2)
        return f"kill -9 of worker {victim}; NOT RESTARTED within 60 s (workers {server.pids()})"

    async def graceful_restart(self) -> str:
        server = self.server
        assert server is not None
        started = time.monotonic()
        await asyncio.to_thread(stop_process_group, server.process, 15.0)
        await asyncio.to_thread(self.start)
        return (
            f"graceful restart (SIGTERM, as a deploy does; sockets closed with 1012): "
            f"back in {time.monotonic() - started:.1f} s"
        )

    def start_redis(self) -> str:
        self.redis_port = self.redis_port or free_port()
        self.redis = launch_redis(self.redis_port, self.workdir)
        process = self.redis
        self.stack.callback(stop_process_group, process, 5.0)
        return f"redis://127.0.0.1:{self.redis_port}"

    async def restart_redis(self, down: float) -> str:
        assert self.redis is not None
        await asyncio.to_thread(stop_process_group, self.redis, 5.0)
        await asyncio.sleep(down)
        await asyncio.to_thread(self.start_redis)
        return f"Redis stopped (SIGTERM), down {down:g} s, started again on the same port"

    async def restart_database(self, down: float) -> str:
        await asyncio.to_thread(self.postgres.stop, "immediate")
        await asyncio.sleep(down)
        await asyncio.to_thread(self.postgres.start)
        return f"PostgreSQL stopped with pg_ctl -m immediate, down {down:g} s, started again"


# --------------------------------------------------------------------------------------------
# one backend


async def gql(
    http: Http, query: str, variables: dict[str, Any] | None, token: str
) -> dict[str, Any]:
    status, body, _ = await http.call("setup", query, variables, token)
    if status != 200 or not body or body.get("errors"):
        raise RuntimeError(f"setup request failed ({status}): {json.dumps(body)[:400]}")
    return body["data"]


async def login(http: Http, email: str) -> str:
    status, body, _ = await http.call(
        "setup",
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": PASSWORD},
        "",
    )
    if status != 200 or not body or body.get("errors"):
        raise RuntimeError(f"login of {email} failed: {json.dumps(body)[:300]}")
    return body["data"]["login"]["token"]


async def build_world(http: Http, port: int) -> World:
    owner = await login(http, OWNER_EMAIL)
    team = (await gql(http, 'mutation { createTeam(name: "Soak team") { id } }', None, owner))[
        "createTeam"
    ]["id"]
    tokens, user_ids = {"owner": owner}, {}
    user_ids["owner"] = (await gql(http, "{ me { id } }", None, owner))["me"]["id"]
    for spec in USERS[1:]:
        email = f"{spec.key}@soak.inbox-graph.test"
        data = await gql(
            http,
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {
                "i": {
                    "email": email,
                    "name": spec.key.replace("_", " ").title(),
                    "password": PASSWORD,
                    "role": spec.role,
                    "contactVisibility": spec.visibility,
                    "teamIds": [team] if spec.in_team else [],
                }
            },
            owner,
        )
        user_ids[spec.key] = data["createUser"]["id"]
        tokens[spec.key] = await login(http, email)
    channels = {}
    for kind in ("WEBCHAT", "EMAIL"):
        data = await gql(
            http,
            "mutation($t: ChannelType!, $n: String!) { connectChannel(type: $t, name: $n) { id } }",
            {"t": kind, "n": f"Soak {kind.lower()}"},
            owner,
        )
        channels[kind] = data["connectChannel"]["id"]
    integration = (
        await gql(http, 'mutation { createAccessToken(name: "soak") { token } }', None, owner)
    )["createAccessToken"]["token"]
    return World(
        http.url, port, tokens, user_ids, team, channels, integration, uuid.uuid4().hex[:6]
    )


async def pin_contacts(workload: Workload) -> None:
    """Contacts assigned to the TEAM and the SELF agent before the run, never reassigned."""
    world = workload.world
    for who, assignee in (("team", "agent_team"), ("self", "agent_self")):
        for i in range(PINNED_PER_USER):
            data = await gql(
                workload.http,
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channels["WEBCHAT"],
                        "from": f"soak-{world.run_id}-{who}-{i}",
                        "externalMessageId": f"soak-{world.run_id}-pin-{who}-{i}",
                        "text": "hello",
                    }
                },
                world.integration,
            )
            contact = data["receiveMessage"]["contact"]["id"]
            await gql(
                workload.http,
                ASSIGN,
                {"c": contact, "a": world.user_ids[assignee]},
                world.tokens["manager"],
            )
            workload.contact_class[contact] = who
            workload.contacts[who].append(contact)


async def resume_point(world: World, http: Http) -> int:
    """The sequence of a warm-up message: every subscriber starts after it."""
    probe = await open_subscription(
        world.port,
        world.tokens["owner"],
        NEW_MESSAGE,
        {"after": None},
        client="browser",
        timeout=30,
    )
    try:
        await asyncio.sleep(0.5)
        for attempt in range(3):
            await gql(
                http,
                RECEIVE,
                {
                    "i": {
                        "channelId": world.channels["WEBCHAT"],
                        "from": f"soak-{world.run_id}-warmup",
                        "externalMessageId": f"soak-{world.run_id}-warmup-{attempt}",
                        "text": "warm-up",
                    }
                },
                world.integration,
            )
            deadline = time.monotonic() + 10
            while not probe.frames and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if probe.frames:
                return json.loads(probe.frames[0][1])["payload"]["data"]["newMessage"]["sequence"]
        raise RuntimeError("the probe subscriber received nothing")
    finally:
        probe.close()


def subscriber_specs(world: World, args: argparse.Namespace) -> list[SubSpec]:
    specs = []
    for i in range(args.subscribers):
        user = USERS[i % len(USERS)]
        slot = (i // len(USERS)) % 20
        extra = (
            "inboxSidebarChanged"
            if slot == 0
            else "conversationUpdated"
            if slot in (1, 5, 9, 13)
            else ""
        )
        specs.append(SubSpec(i, user.key, user.sees, world.tokens[user.key], extra))
    return specs


FAULTS = ("kill", "restart", "redis", "database")
NO_DATABASE_SERVER = "none: SQLite is a file in the server's process, there is no database server"


def fault_plan(backend: str, deployment: Deployment, args: argparse.Namespace) -> list[tuple]:
    """(what, the coroutine function doing it, or why there is nothing to do) per fault of
    ``--faults``, or the backend's default: kill, redis, database on scaleout; kill, restart,
    database on embedded (which has no database server and no Redis)."""
    names = args.faults or (
        ["kill", "restart", "database"] if backend == "embedded" else ["kill", "redis", "database"]
    )
    down = args.fault_seconds
    plan = []
    for name in names:
        if name == "kill":
            what = "kill -9 of the server" if deployment.workers == 1 else "kill -9 of a worker"
            plan.append((what, deployment.kill_worker))
        elif name == "restart":
            plan.append(("graceful restart", deployment.graceful_restart))
        elif name == "redis":
            plan.append(
                (
                    "Redis restart",
                    (lambda: deployment.restart_redis(down))
                    if deployment.redis is not None
                    else "none: events go through memory://, no Redis",
                )
            )
        elif name == "database":
            plan.append(
                (
                    "database restart",
                    (lambda: deployment.restart_database(down))
                    if deployment.postgres is not None
                    else NO_DATABASE_SERVER,
                )
            )
    return plan


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _copy(source: Path, target: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copy(source, target)


def scan_logs(paths: list[Path]) -> dict[str, Any]:
    tracebacks = errors = 0
    lines: collections.Counter[str] = collections.Counter()
    excerpts: list[str] = []
    for path in paths:
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace")
            tracebacks += text.count("Traceback (most recent call last)")
            for line in text.splitlines():
                if re.search(r"\bERROR\b", line):
                    errors += 1
                    if len(excerpts) < 10:
                        excerpts.append(f"{path.name}: {line[:200]}")
                if line and not line.startswith((" ", "\t", "Traceback")):
                    lines[re.sub(r"\d+", "N", line)[:160]] += 1
    return {
        "tracebacks": tracebacks,
        "error_lines": errors,
        "error_excerpts": excerpts,
        "top_lines": lines.most_common(12),
        "files": [str(p) for p in paths],
    }


async def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "faults": [], "rss": []}
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        env = {
            **os.environ,
            "INBOX_GRAPH_ENV": "production",
            "INBOX_GRAPH_ALLOWED_ORIGINS": "*",
            **UNTHROTTLED,
        }
        if backend == "embedded":
            deployment = Deployment(backend, 1, env, stack, workdir)
            env["DATABASE_URL"] = f"sqlite://{workdir / 'embedded.db'}"
            env["BROADCAST_URL"] = "memory://"
            result["description"] = "SQLite + memory://, 1 worker"
        else:
            from tests.support import PrivatePostgres

            deployment = Deployment(backend, args.workers, env, stack, workdir)
            log(f"[{backend}] starting a private PostgreSQL cluster and redis-server")
            postgres = await asyncio.to_thread(PrivatePostgres)
            deployment.postgres = postgres
            stack.callback(postgres.destroy)
            stack.callback(_copy, Path(postgres.directory) / "log", workdir / "postgres.log")
            env["DATABASE_URL"] = postgres_database(stack, postgres.url)
            env["BROADCAST_URL"] = deployment.start_redis()
            result["description"] = (
                f"PostgreSQL (private cluster, port {postgres.port}) + Redis "
                f"(private, port {deployment.redis_port}), {args.workers} workers"
            )
        log(f"[{backend}] {result['description']}: creating the workspace")
        run_cli(
            env,
            "create-workspace",
            "--name",
            "Soak",
            "--owner-email",
            OWNER_EMAIL,
            "--owner-password",
            PASSWORD,
        )
        await asyncio.to_thread(deployment.start)
        url = f"http://127.0.0.1:{deployment.port}/graphql"
        t0 = time.monotonic()
        http = Http(url, t0)
        procs: list[Any] = []
        try:
            world = await build_world(http, deployment.port)
            workload = Workload(world, http, args, rng)
            await pin_contacts(workload)
            after = await resume_point(world, http)
            log(
                f"[{backend}] serving on port {deployment.port} (pids {deployment.server.pids()}); "
                f"subscribers resume after sequence {after}"
            )

            specs = subscriber_specs(world, args)
            ctx = mp.get_context("spawn")
            pipes = []
            nprocs = max(1, min(args.client_procs, len(specs)))
            for p in range(nprocs):
                parent, child = ctx.Pipe()
                config = ClientConfig(
                    deployment.port,
                    after,
                    specs[p::nprocs],
                    args.connect_rate / nprocs,
                    30.0,
                    rng.randrange(1 << 30),
                )
                process = ctx.Process(target=client_process, args=(child, config), daemon=True)
                process.start()
                pipes.append(parent)
                procs.append(process)
            subscribed = 0
            for pipe in pipes:
                kind, info = await recv_from(pipe, 300)
                if kind != "ready":
                    raise RuntimeError(f"subscriber process failed: {info}")
                subscribed += info["subscribed"]
            log(
                f"[{backend}] {subscribed}/{len(specs)} subscribers subscribed; running "
                f"{args.minutes:g} min at {args.rate:g} writes/s and {args.read_rate:g} reads/s"
            )

            async def client_stats() -> dict[str, int]:
                total: collections.Counter[str] = collections.Counter()
                for pipe in pipes:
                    pipe.send(("stats",))
                    kind, info = await recv_from(pipe, 60)
                    if kind != "stats":
                        raise RuntimeError(f"subscriber process failed: {info}")
                    total.update(info)
                return dict(total)

            seconds = args.minutes * 60
            t_start = time.monotonic()
            http.t0 = t_start

            ongoing: list[str] = []  # the fault under way, if any

            previous: dict[str, Any] = {}

            async def sample(label: str) -> None:
                t = time.monotonic() - t_start
                server = deployment.server
                rss = server.rss_kib()
                pids = [server.process.pid, *descendants(server.process.pid)]
                server_cpu = {pid: cpu_seconds(pid) for pid in pids}
                label = label or "; ".join(f"during the {what}" for what in ongoing)
                stats = await client_stats()
                # CPU since the previous sample, in % of one core (the server's per process: a
                # process that died meanwhile is left out, a new one counted from its start)
                elapsed = t - previous.get("t", 0.0)
                server_share = client_share = math.nan
                if previous and elapsed > 0:
                    client_share = (stats["cpu_ms"] / 1000 - previous["client"]) / elapsed * 100
                    before = previous["server"]
                    used = sum(cpu - before.get(pid, 0.0) for pid, cpu in server_cpu.items())
                    server_share = used / elapsed * 100
                previous.update(t=t, client=stats["cpu_ms"] / 1000, server=server_cpu)
                row = {
                    "t": round(t),
                    "label": label,
                    "rss_kib": rss,
                    "acked": len(workload.acked),
                    **stats,
                    "server_cpu_percent": _percent(server_share),
                    "client_cpu_percent": _percent(client_share),
                    "5xx": len(http.server_errors),
                    "503": len(http.unavailable_at),
                    "transport_errors": sum(http.transport_errors.values()),
                }
                result["rss"].append(row)
                log(
                    f"[{backend}] +{t:4.0f}s RSS {rss / 1024:6.1f} MiB | "
                    f"messages acked {row['acked']} | delivered {stats['received']} | "
                    f"sockets open {stats['connected']}/{len(specs)} | "
                    f"reconnections {stats['closes']} | 5xx {row['5xx']} | 503 {row['503']} | "
                    f"transport errors {row['transport_errors']} | CPU % of a core: server "
                    f"{_percent(server_share)}, subscribers {_percent(client_share)}"
                    + (f" | {label}" if label else "")
                )

            stop_sampling = asyncio.Event()

            async def sampler() -> None:
                # stopped by an event, never cancelled: a reply left in a pipe would be read as
                # the next order's
                n = 0
                while True:
                    n += 1
                    delay = max(0.0, t_start + n * args.sample_seconds - time.monotonic())
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop_sampling.wait(), delay)
                    if stop_sampling.is_set():
                        return
                    await sample("")

            async def faults() -> None:
                plan = fault_plan(backend, deployment, args)
                for n, (what, action) in enumerate(plan, 1):
                    fraction = n / (len(plan) + 1)
                    await asyncio.sleep(max(0.0, t_start + fraction * seconds - time.monotonic()))
                    at = time.monotonic() - t_start
                    if isinstance(action, str):  # nothing to do on this backend: say why
                        log(f"[{backend}] +{at:.0f}s {what}: {action}")
                        result["faults"].append({"at": round(at), "what": what, "detail": action})
                        continue
                    log(f"[{backend}] +{at:.0f}s {what}")
                    ongoing.append(what)
                    try:
                        detail = await action()
                    except Exception as exc:  # noqa: BLE001 - reported; the run goes on
                        detail = f"FAILED: {type(exc).__name__}: {exc}"
                    finally:
                        ongoing.remove(what)
                    end = time.monotonic() - t_start
                    log(f"[{backend}] +{end:.0f}s {what}: {detail}")
                    result["faults"].append(
                        {"at": round(at, 1), "until": round(end, 1), "what": what, "detail": detail}
                    )

            background = [asyncio.create_task(sampler()), asyncio.create_task(faults())]
            try:
                await workload.run(seconds)
                in_flight = len(workload.tasks)
                log(f"[{backend}] writes stopped; waiting for {in_flight} requests in flight")
                await workload.finish()
            finally:
                stop_sampling.set()
                # a fault under way finishes (Redis or the database must come back)
                await asyncio.gather(*background, return_exceptions=True)
            last_write = time.monotonic()
            await sample("end of writes")

            # drain: every subscriber must catch up
            ids = {
                sees: [m for m, c in workload.acked.items() if c in VISIBLE_TO[sees]]
                for sees in ("all", "team", "self")
            }
            deadline = time.time() + args.drain_timeout
            log(
                f"[{backend}] {len(workload.acked)} messages acknowledged; waiting up to "
                f"{args.drain_timeout:g} s for every subscriber to catch up"
            )
            for pipe in pipes:
                pipe.send(("drain", ids, list(workload.acked), deadline))
            reports = []
            for pipe in pipes:
                kind, info = await recv_from(pipe, args.drain_timeout + 120)
                if kind != "results":
                    raise RuntimeError(f"subscriber process failed: {info}")
                reports.append(info)
            result["drain_seconds"] = round(time.monotonic() - last_write, 1)
            t_end = time.monotonic() - t_start
            rss = deployment.server.rss_kib()
            result["rss"].append(
                {
                    "t": round(t_end),
                    "label": "after the drain",
                    "rss_kib": rss,
                    "acked": len(workload.acked),
                }
            )
            summarise(result, workload, http, reports, deployment, args)
        finally:
            await http.close()
            for process in procs:
                process.join(10)
                if process.is_alive():
                    process.kill()
                    process.join(5)
        result["log"] = scan_logs(deployment.logs())
    return result


def summarise(
    result: dict[str, Any],
    workload: Workload,
    http: Http,
    reports: list[dict[str, Any]],
    deployment: Deployment,
    args: argparse.Namespace,
) -> None:
    subs = [s for r in reports for s in r["subscribers"]]
    total: collections.Counter[str] = collections.Counter()
    by_sees: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    closes: collections.Counter[str] = collections.Counter()
    attempts: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for s in subs:
        for key in (
            "expected",
            "received",
            "lost",
            "duplicates",
            "out_of_order",
            "unacknowledged",
            "leaks",
            "extra_events",
        ):
            total[key] += s[key]
            by_sees[s["sees"]][key] += s[key]
        by_sees[s["sees"]]["subscribers"] += 1
        closes.update(s["closes"])
        attempts.update(s["failed_attempts"])
        errors.update(s["errors"])
    behind = [s for s in subs if s["lost"]]
    result["deliveries"] = dict(total)
    result["by_visibility"] = {k: dict(v) for k, v in by_sees.items()}
    result["subscribers"] = len(subs)
    result["behind"] = len(behind)
    result["behind_examples"] = [
        {
            k: s[k]
            for k in (
                "index",
                "user",
                "extra",
                "lost",
                "missing_examples",
                "connected",
                "last_sequence",
                "closes",
                "errors",
            )
        }
        for s in behind[:5]
    ]
    result["anomalies"] = [
        f"subscriber {s['index']} ({s['user']}): {e}" for s in subs for e in s["examples"]
    ][:10]
    result["reconnections"] = dict(closes.most_common())
    result["failed_attempts"] = dict(attempts.most_common())
    result["subscription_errors"] = dict(errors.most_common())
    result["writes"] = {
        "acknowledged": dict(workload.acks),
        "messages_acknowledged": len(workload.acked),
        "retries": dict(workload.retries),
        "gave_up": dict(workload.gave_up),
        "refused": dict(workload.refused),
        "duplicate_true_acks": workload.duplicate_acks,
        "send_retried_after_transport_error": workload.send_retried_after_transport_error,
    }
    result["reads"] = dict(workload.reads)
    database_windows = [
        (f["at"] - 1, f["until"] + 30)
        for f in result["faults"]
        if f["what"] == "database restart" and "until" in f
    ]
    during = [t for t in http.unavailable_at if any(a <= t <= b for a, b in database_windows)]
    result["http"] = {
        "statuses": dict(sorted(http.statuses.items())),
        "5xx": len(http.server_errors),
        "5xx_examples": http.server_errors[:5],
        "503": len(http.unavailable_at),
        "503_during_database_restart": len(during),
        "503_outside": sorted(round(t) for t in http.unavailable_at if t not in during)[:20],
        "transport_errors": dict(http.transport_errors),
        "graphql_errors": dict(http.graphql_errors),
    }
    result["processes"] = {"server_starts": deployment.starts}


# --------------------------------------------------------------------------------------------
# report


def checks(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    if result.get("error"):
        return [("the run completed", "FAIL", result["error"])]
    d, h, lg = result["deliveries"], result["http"], result["log"]
    failed_faults = [f for f in result["faults"] if re.search("FAILED|NOT RESTARTED", f["detail"])]
    found = [
        (
            "lost = 0",
            d["lost"] == 0,
            (
                f"{d['lost']:,} lost of {d['expected']:,} expected "
                f"({result['behind']} subscribers behind)"
            ),
        ),
        ("duplicates = 0", d["duplicates"] == 0, f"{d['duplicates']:,}"),
        (
            "5xx = 0",
            h["5xx"] == 0,
            (
                f"{h['5xx']} (503: {h['503']}, "
                f"{h['503_during_database_restart']} during the database restart)"
            ),
        ),
        (
            "503 only while the database is down",
            not h["503_outside"],
            f"{h['503'] - h['503_during_database_restart']} outside",
        ),
        ("out of order = 0", d["out_of_order"] == 0, f"{d['out_of_order']:,}"),
        ("no message seen by a user who may not see it", d["leaks"] == 0, f"{d['leaks']:,}"),
        (
            "no traceback in the server log",
            lg["tracebacks"] == 0,
            f"{lg['tracebacks']} tracebacks, {lg['error_lines']} ERROR lines",
        ),
        (
            "every fault recovered",
            not failed_faults,
            "; ".join(f["detail"] for f in failed_faults) or "yes",
        ),
    ]
    return [(label, "PASS" if ok else "FAIL", detail) for label, ok, detail in found]


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = []
    for r in results:
        out.append(
            f"== {r['backend']}: {r.get('description', '')}; {args.minutes:g} min, "
            f"{args.subscribers} subscribers, {args.rate:g} writes/s, {args.read_rate:g} reads/s"
        )
        if r.get("error"):
            out.append(f"  ERROR: {r['error']}")
        for f in r.get("faults", []):
            span = f"+{f['at']}s" + (f"..+{f['until']}s" if "until" in f else "")
            out.append(f"  fault {span} {f['what']}: {f['detail']}")
        if "deliveries" in r:
            w, h, d = r["writes"], r["http"], r["deliveries"]
            out.append(
                f"  writes acknowledged: {w['acknowledged']} "
                f"({w['messages_acknowledged']:,} messages); retries {w['retries'] or 0}; "
                f"gave up {w['gave_up'] or 0}; refused {w['refused'] or 0}; "
                f"receiveMessage answered duplicate=true {w['duplicate_true_acks']}; sendMessage "
                f"acknowledged after a lost answer {w['send_retried_after_transport_error']} "
                "(retried with the same idempotency key)"
            )
            out.append(f"  reads: {r['reads']}")
            out.append(
                f"  HTTP: 5xx {h['5xx']}; 503 {h['503']} "
                f"({h['503_during_database_restart']} during the "
                f"database restart, outside at {h['503_outside'] or '-'}); transport errors "
                f"{sum(h['transport_errors'].values())} {h['transport_errors'] or ''}"
            )
            for example in h["5xx_examples"]:
                out.append(f"    5xx: {example}")
            out.append(
                f"  deliveries: expected {d['expected']:,}, received {d['received']:,}, "
                f"lost {d['lost']:,}, duplicates {d['duplicates']:,}, "
                f"out of order {d['out_of_order']:,}; never acknowledged "
                f"{d['unacknowledged']:,}; seen without visibility {d['leaks']:,}; other events "
                f"(conversationUpdated, inboxSidebarChanged) {d['extra_events']:,}"
            )
            for sees, v in sorted(r["by_visibility"].items()):
                out.append(
                    f"    {sees:>4}: {v['subscribers']} subscribers, expected {v['expected']:,}, "
                    f"received {v['received']:,}, lost {v['lost']:,}"
                )
            out.append(
                f"  caught up: {r['subscribers'] - r['behind']}/{r['subscribers']} subscribers, "
                f"{r['drain_seconds']} s after the last write"
            )
            for b in r["behind_examples"]:
                out.append(f"    behind: {b}")
            for a in r["anomalies"]:
                out.append(f"    {a}")
            out.append(f"  reconnections by close code: {r['reconnections'] or '-'}")
            out.append(f"  failed connection attempts: {r['failed_attempts'] or '-'}")
            out.append(f"  subscription errors: {r['subscription_errors'] or '-'}")
        if "log" in r:
            lg = r["log"]
            out.append(
                f"  server log: {lg['tracebacks']} tracebacks, {lg['error_lines']} ERROR lines"
            )
            for line in lg["error_excerpts"]:
                out.append(f"    {line}")
            for line, n in lg["top_lines"]:
                out.append(f"    {n:>5} x {line}")
        if r.get("rss"):
            rows = [
                [
                    f"+{s['t']}",
                    f"{s['rss_kib'] / 1024:.1f}",
                    s["acked"],
                    s.get("received", ""),
                    s.get("connected", ""),
                    s.get("closes", ""),
                    s.get("5xx", ""),
                    s.get("503", ""),
                    s.get("server_cpu_percent", ""),
                    s.get("client_cpu_percent", ""),
                    s.get("label", ""),
                ]
                for s in r["rss"]
            ]
            out.append(
                "  "
                + table(
                    rows,
                    [
                        "t s",
                        "RSS MiB",
                        "acked",
                        "delivered",
                        "open",
                        "reconnections",
                        "5xx",
                        "503",
                        "server CPU %",
                        "subscribers CPU %",
                        "",
                    ],
                ).replace("\n", "\n  ")
            )
        for label, verdict, detail in checks(r):
            out.append(f"  [{verdict}] {label}: {detail}")
        out.append("")
    out.append("Reproduce with:")
    out.append("  " + reproduce(args))
    return "\n".join(out)


def reproduce(args: argparse.Namespace) -> str:
    options = {
        "--minutes": f"{args.minutes:g}",
        "--subscribers": args.subscribers,
        "--rate": f"{args.rate:g}",
        "--read-rate": f"{args.read_rate:g}",
        "--workers": args.workers,
        "--client-procs": args.client_procs,
        "--fault-seconds": f"{args.fault_seconds:g}",
        "--sample-seconds": f"{args.sample_seconds:g}",
        "--drain-timeout": f"{args.drain_timeout:g}",
        "--seed": args.seed,
    }
    parts = ["python", "-m", "bench.soak", "--backends", *args.backends]
    if args.faults:
        parts += ["--faults", *args.faults]
    for option, value in options.items():
        parts += [option, str(value)]
    checkout = shlex.quote(str(Path(__file__).resolve().parents[1]))
    return f"cd {checkout} && . .venv/bin/activate && {shlex.join(parts)}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--backends", nargs="+", choices=("embedded", "scaleout"), default=["embedded", "scaleout"]
    )
    p.add_argument("--minutes", type=float, default=10.0, help="workload duration per backend")
    p.add_argument(
        "--subscribers",
        type=int,
        default=300,
        help="WebSockets, each with a newMessage subscription",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="writes per second (60%% ingestion, 25%% replies, 15%% assignments)",
    )
    p.add_argument("--read-rate", type=float, default=5.0, help="reads per second")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers on scaleout")
    p.add_argument("--client-procs", type=int, default=2, help="subscriber processes")
    p.add_argument(
        "--connect-rate", type=float, default=100.0, help="new subscribers per second at the start"
    )
    p.add_argument(
        "--faults",
        nargs="+",
        choices=FAULTS,
        default=None,
        help="faults, spaced evenly over the run (default: kill redis database on scaleout, "
        "kill restart database on embedded)",
    )
    p.add_argument(
        "--fault-seconds", type=float, default=5.0, help="how long Redis and the database stay down"
    )
    p.add_argument(
        "--write-timeout",
        type=float,
        default=120.0,
        help="a writer gives up after retrying this long",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="after the last write, how long to wait for every subscriber to catch up",
    )
    p.add_argument("--sample-seconds", type=float, default=30.0, help="RSS sampling interval")
    p.add_argument(
        "--seed", type=int, default=None, help="random seed of the workload (default: random)"
    )
    p.add_argument("--json", metavar="FILE", default=None, help="also write every figure as JSON")
    p.add_argument(
        "--keep", action="store_true", help="keep the work directory (server logs, SQLite file)"
    )
    return p


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="inbox-graph-soak-"))
    log(f"work directory {workdir}; seed {args.seed}")
    results = []
    try:
        for backend in args.backends:
            try:
                results.append(await run_backend(backend, args, workdir))
            except Exception as exc:  # noqa: BLE001 - reported; go on with the next backend
                log(f"[{backend}] FAILED: {type(exc).__name__}: {exc}")
                results.append({"backend": backend, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1 << 20)
    results = asyncio.run(amain(args))
    print(report(results, args))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": reproduce(args),
                    "results": results,
                    "checks": {r["backend"]: checks(r) for r in results},
                },
                indent=1,
                default=str,
            )
        )
    return 1 if any(v == "FAIL" for r in results for _, v, _ in checks(r)) else 0


if __name__ == "__main__":
    sys.exit(main())

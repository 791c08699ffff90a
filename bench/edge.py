"""Edge benchmark: what abusive clients do to a well-behaved one.

    python -m bench.edge [--phase-seconds 10] [--attacks validation login body slowloris]
                         [--json FILE] [--keep]

It serves a fresh workspace (``inbox-graph serve``, one worker, embedded SQLite and
``memory://`` by default, ``INBOX_GRAPH_ENV=production``, the production defaults for every
limit except the budget of tokens, so that the well-behaved client is never rate-limited), logs
in a well-behaved user before any attack, and starts that user's client in a process of its
own: sequential ``{ me { id } }`` and a small inbox query over one keep-alive HTTP connection
at a fixed pace (``--rate``, 20 a second), and one graphql-transport-ws socket with a
subscription open whose ``ping``/``pong`` round trip is timed at the same pace. It runs for
the whole run; the orchestrator only says which of its requests fall in which phase.

Phases: a baseline (no attack), then for each attack the attack (its own process, started
fresh, given ``--ramp-seconds`` to get going before measuring), a cooldown until the server
is idle again, and the next baseline; a last baseline ends the run, so drift shows. For each
attack, the well-behaved client's p50 and p99 during the attack are divided by those of the
baseline just before it (the same run, the same machine state). Target on a 2-core machine:
at most 2x for every attack (HTTP p50 and p99). The attacks:

- ``validation``: anonymous POSTs of a ~10 KB document, ``{ me { id } me { id } ... }``
  (``--bomb-fields`` 998 selections) with a unique ``# <uuid>`` comment and a unique alias on
  its first selection each time so no document cache helps (``--bomb-unique comment``: the
  comment alone, which a validation cache keyed by the parsed document sees through), sent
  back to back by ``--bomb-connections`` (4) connections;
- ``login``: bursts of ``--login-burst`` (16) concurrent ``login`` mutations with wrong
  passwords, half for a real account, half for random addresses, one burst after another;
- ``body``: POSTs of ``--body-mb`` (20) MB without a token, back to back on
  ``--body-connections`` (3) connections, and one of ``--big-body-mb`` (60) MB; the server's
  resident memory before, at its peak and after is reported;
- ``slowloris``: ``--slow-connections`` (300) connections sending a request head one byte every
  ``--slow-interval`` (3) seconds, ``--idle-connections`` (100) keep-alive connections idle
  after one request and ``--idle-websockets`` (100) WebSockets that never send
  ``connection_init``; each is opened again as soon as the server closes it.

Every attacker answer is counted by status and GraphQL error code (or by how the connection
ended), so the report shows whether an attack was refused or merely slow. Nothing here is part
of ``pytest``.
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
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fanout import (
    cpu_seconds,
    log,
    percentile,
    postgres_database,
    raise_fd_limit,
    recv_from,
    rss_kib,
    run_cli,
    start_server,
    table,
)

ATTACKS = ("validation", "login", "body", "slowloris")
ATTACK_TITLES = {
    "validation": "validation bomb",
    "login": "login flood",
    "body": "large body",
    "slowloris": "slow clients",
}
OWNER_EMAIL = "owner@edge.inbox-graph.test"
USER_EMAIL = "agent@edge.inbox-graph.test"
VICTIM_EMAIL = "victim@edge.inbox-graph.test"
PASSWORD = "edge-password-1"
TARGET_RATIO = 2.0

ME = "{ me { id } }"
INBOX = "{ conversations(inbox: {standard: ALL}, first: 10) { edges { node { id } } } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
SUBSCRIPTION = "subscription { newMessage(inbox: {standard: ALL}) { sequence message { id } } }"

ENV = {
    # The well-behaved client's token must never be rate-limited: its 20 requests a second
    # cost about 200 points a second, four times a token's restore rate. Anonymous callers
    # (every attacker) keep the default budget of their address: it is part of the defence.
    "INBOX_GRAPH_RATE_LIMIT_POINTS": "1000000000",
}


def pin(cpus: list[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def outcome_of(status: int, body: bytes) -> str:
    """``"<status> <first error code>"`` of an answer (``"200 ok"`` without errors)."""
    code = "ok"
    try:
        errors = json.loads(body).get("errors")
    except (ValueError, AttributeError):
        errors = None
        code = "not json" if body else "empty"
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else {}
        code = (first.get("extensions") or {}).get("code") or str(first.get("message"))[:40]
    return f"{status} {code}"


# --------------------------------------------------------------------------------------------
# the well-behaved client (its own process, for the whole run)


@dataclass
class ProbeConfig:
    port: int
    token: str
    rate: float
    cpus: list[int] | None


def probe_process(pipe: Any, config: ProbeConfig) -> None:
    pin(config.cpus)
    install_uvloop()
    try:
        asyncio.run(_probe(pipe, config))
    except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
        with contextlib.suppress(Exception):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))


async def _probe(pipe: Any, config: ProbeConfig) -> None:
    import httpx
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    samples: list[tuple[float, str, float, str]] = []  # (start, kind, seconds, outcome)
    stopping = asyncio.Event()
    ready = {"http": asyncio.Event(), "ws": asyncio.Event()}
    url = f"http://127.0.0.1:{config.port}/graphql"
    interval = 1.0 / config.rate

    async def paced(step: Any) -> None:
        """Call ``step`` every ``interval`` seconds, one at a time; a slot missed while the
        previous call was still running is skipped (sequential, never a burst to catch up)."""
        due = loop.time()
        n = 0
        while not stopping.is_set():
            await step(n)
            n += 1
            due += interval
            now = loop.time()
            if due < now:
                due = now
            else:
                await asyncio.sleep(due - now)

    async def http_client() -> None:
        async with httpx.AsyncClient(
            timeout=60,
            trust_env=False,
            headers={"Authorization": f"Bearer {config.token}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:

            async def step(n: int) -> None:
                kind, query = ("me", ME) if n % 2 == 0 else ("inbox", INBOX)
                started = time.monotonic()
                try:
                    response = await client.post(url, json={"query": query})
                    outcome = outcome_of(response.status_code, response.content)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                samples.append((started, kind, time.monotonic() - started, outcome))
                if outcome == "200 ok":
                    ready["http"].set()

            await paced(step)

    pong: dict[str, asyncio.Future[float]] = {}  # the ping awaiting its pong

    async def ws_reader(ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            waiting = pong.get("ping")
            if message.get("type") == "pong" and waiting is not None and not waiting.done():
                waiting.set_result(time.monotonic())
            elif message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))

    async def ws_ping(ws: Any, reading: asyncio.Task) -> None:
        if reading.done():
            raise ConnectionError("the WebSocket closed")
        waiting = pong["ping"] = loop.create_future()
        started = time.monotonic()
        await ws.send(json.dumps({"type": "ping"}))
        try:
            answered = await asyncio.wait_for(asyncio.shield(waiting), 60)
            samples.append((started, "ws", answered - started, "pong"))
            ready["ws"].set()
        except TimeoutError:
            samples.append((started, "ws", time.monotonic() - started, "timeout"))

    async def ws_client() -> None:
        while not stopping.is_set():
            try:
                async with connect(
                    f"ws://127.0.0.1:{config.port}/graphql",
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    origin=f"http://127.0.0.1:{config.port}",  # type: ignore[arg-type]
                    compression=None,
                    proxy=None,
                    ping_interval=None,
                    open_timeout=30,
                ) as ws:
                    init = {"authorization": f"Bearer {config.token}"}
                    await ws.send(json.dumps({"type": "connection_init", "payload": init}))
                    ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if ack.get("type") != "connection_ack":
                        raise RuntimeError(f"no connection_ack: {ack}")
                    subscribe = {"query": SUBSCRIPTION}
                    await ws.send(
                        json.dumps({"id": "s", "type": "subscribe", "payload": subscribe})
                    )
                    reading = asyncio.create_task(ws_reader(ws))
                    try:
                        await paced(lambda _, ws=ws, reading=reading: ws_ping(ws, reading))
                    finally:
                        reading.cancel()
            except Exception as exc:  # noqa: BLE001 - counted; reconnect
                samples.append((time.monotonic(), "ws", math.nan, f"closed {type(exc).__name__}"))
                await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(http_client()), asyncio.create_task(ws_client())]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 60)
    except TimeoutError:
        pipe.send(("failed", f"not ready in 60 s: {samples[-3:]}"))
        return
    pipe.send(("ready", None))
    await loop.run_in_executor(None, pipe.recv)  # ("stop",)
    stopping.set()
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()
    pipe.send(("samples", {"samples": samples, "cpu_seconds": time.process_time()}))


# --------------------------------------------------------------------------------------------
# attackers (a process per attack)


@dataclass
class AttackConfig:
    attack: str
    port: int
    victim: str
    cpus: list[int] | None
    bomb_fields: int
    bomb_connections: int
    bomb_unique: str
    login_burst: int
    login_addresses: int
    body_mb: float
    big_body_mb: float
    body_connections: int
    slow_connections: int
    slow_interval: float
    idle_connections: int
    idle_websockets: int
    connect_rate: float


@dataclass
class Tally:
    """What the attacker saw: answers by status and code, transport failures, and for
    connections, how they ended and how long they lived."""

    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    opened: collections.Counter[str] = field(default_factory=collections.Counter)
    open_now: collections.Counter[str] = field(default_factory=collections.Counter)
    written_mb: list[float] = field(default_factory=list)  # of each large body
    sent: int = 0
    answered: int = 0
    notes: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self, status: int, body: bytes, seconds: float) -> None:
        self.answered += 1
        key = outcome_of(status, body)
        self.outcomes[key] += 1
        self.seconds[key].append(seconds)

    def failure(self, exc: BaseException, seconds: float) -> None:
        key = type(exc).__name__
        self.outcomes[key] += 1
        self.seconds[key].append(seconds)

    def report(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "outcomes": dict(self.outcomes.most_common()),
            "seconds_p50": {k: round(percentile(v, 50), 3) for k, v in self.seconds.items()},
            "opened": dict(self.opened),
            "open_at_stop": dict(self.open_now),
            "written_mb_p50": percentile(self.written_mb, 50),
            "written_mb_max": max(self.written_mb, default=math.nan),
            "notes": self.notes,
        }


def attacker_process(pipe: Any, config: AttackConfig) -> None:
    pin(config.cpus)
    raise_fd_limit()
    install_uvloop()
    try:
        asyncio.run(_attacker(pipe, config))
    except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
        with contextlib.suppress(Exception):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))


async def _attacker(pipe: Any, config: AttackConfig) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally()
    stopping = asyncio.Event()
    run = {
        "validation": validation_bomb,
        "login": login_flood,
        "body": large_bodies,
        "slowloris": slow_clients,
    }[config.attack]
    task = asyncio.create_task(run(config, tally, stopping))
    ready = asyncio.create_task(tally.ready.wait())
    await asyncio.wait({task, ready}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises what stopped it
    pipe.send(("ready", tally.report()))
    await loop.run_in_executor(None, pipe.recv)  # ("stop",)
    stopping.set()
    _, pending = await asyncio.wait({task}, timeout=5)
    if pending:
        tally.notes.append("requests still unanswered 5 s after the stop were abandoned")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    report = tally.report()
    report["cpu_seconds"] = time.process_time()
    pipe.send(("stats", report))


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client on one connection (asyncio streams): an attacker
    that costs its machine far less CPU per request than httpx, so that the well-behaved
    client competes with the server, not with its attacker, for the client machine's cores."""

    def __init__(self, port: int, local_address: str | None = None) -> None:
        self.port = port
        self.local_address = local_address
        self.reader: Any = None
        self.writer: Any = None

    async def post(self, payload: Any, tally: Tally) -> str:
        """POST ``payload`` (JSON) to /graphql and count the answer; returns its outcome."""
        body = json.dumps(payload).encode()
        tally.sent += 1
        started = time.monotonic()
        try:
            if self.writer is None:
                local = (self.local_address, 0) if self.local_address else None
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port, local_addr=local), 10
                )
            self.writer.write(
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            data = await asyncio.wait_for(_read_answer(self.reader), 120)
        except (OSError, TimeoutError) as exc:
            self.close()
            tally.failure(exc, time.monotonic() - started)
            return type(exc).__name__
        seconds = time.monotonic() - started
        head, _, content = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            self.close()
            key = "closed without an answer"
            tally.outcomes[key] += 1
            tally.seconds[key].append(seconds)
            return key
        if b"connection: close" in head.lower():
            self.close()
        status = int(head[9:12])
        tally.answer(status, content, seconds)
        return outcome_of(status, content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _workers(count: int, work: Any, stopping: asyncio.Event) -> None:
    async def worker(index: int) -> None:
        while not stopping.is_set():
            await work(index)

    await asyncio.gather(*(worker(i) for i in range(count)))


def bomb_document(fields: int, unique: str) -> str:
    """``{ me { id } me { id } ... }`` with ``fields`` selections, made unique by a
    ``# <uuid>`` comment and, with ``unique="alias"``, by a unique alias on the first
    selection: a fixed-length comment leaves every node at the same offsets, and graphql-core's
    nodes compare equal on their fields and offsets, so strawberry's validation cache (keyed by
    the parsed document) would answer every request after the first; only the parser cache
    (keyed by the text) would miss."""
    first = f"u{uuid.uuid4().hex}: me {{ id }} " if unique == "alias" else "me { id } "
    return f"# {uuid.uuid4()}\n{{ {first}{'me { id } ' * (fields - 1)}}}"


async def validation_bomb(config: AttackConfig, tally: Tally, stopping: asyncio.Event) -> None:
    sample = bomb_document(config.bomb_fields, config.bomb_unique)
    tally.notes.append(
        f"{config.bomb_connections} connections, documents of {len(sample):,} bytes "
        f"({config.bomb_fields} selections, unique by {config.bomb_unique})"
    )
    connections = [RawHttp(config.port) for _ in range(config.bomb_connections)]
    tally.ready.set()

    async def work(index: int) -> None:
        document = bomb_document(config.bomb_fields, config.bomb_unique)
        await connections[index].post({"query": document}, tally)

    try:
        await _workers(config.bomb_connections, work, stopping)
    finally:
        for connection in connections:
            connection.close()


async def login_flood(config: AttackConfig, tally: Tally, stopping: asyncio.Event) -> None:
    spread = max(1, config.login_addresses)
    addresses = ["127.0.0.1"] + [f"127.0.{2 + i // 250}.{2 + i % 250}" for i in range(spread - 1)]
    tally.notes.append(
        f"bursts of {config.login_burst}, half for {config.victim}, half for random addresses, "
        + (f"from {spread} loopback addresses" if spread > 1 else "from 127.0.0.1")
    )
    # one keep-alive connection per call of a burst, each from its address (round robin)
    connections = [
        RawHttp(config.port, addresses[i % len(addresses)]) for i in range(config.login_burst)
    ]

    async def login(connection: RawHttp, real: bool) -> None:
        address = config.victim if real else f"{uuid.uuid4().hex[:12]}@edge.example.com"
        variables = {"e": address, "p": f"wrong-{uuid.uuid4().hex}"}
        await connection.post({"query": LOGIN, "variables": variables}, tally)

    bursts = 0
    tally.ready.set()
    try:
        while not stopping.is_set():
            await asyncio.gather(*(login(c, i % 2 == 0) for i, c in enumerate(connections)))
            bursts += 1
            if spread > len(connections):  # move the burst on to the next addresses
                for i, connection in enumerate(connections):
                    connection.close()
                    connection.local_address = addresses[
                        (bursts * len(connections) + i) % len(addresses)
                    ]
    finally:
        for connection in connections:
            connection.close()
    tally.notes.append(f"{bursts} bursts")


def _padded_body(megabytes: float) -> bytes:
    head = b'{"query": "{ me { id } }", "variables": {"pad": "'
    tail = b'"}}'
    size = int(megabytes * 1_000_000)
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


async def _read_answer(reader: Any) -> bytes:
    """A whole HTTP response (by its content-length), or what came before the connection
    closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await reader.read(1 << 16)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


async def post_large(port: int, body: bytes, tally: Tally) -> str:
    """POST ``body`` on a new connection, writing it while reading: a server that answers
    before the body is in (413) is heard, and the writing stops. Returns the outcome, with how
    much of the body went out before the answer."""
    tally.sent += 1
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, TimeoutError) as exc:
        tally.failure(exc, time.monotonic() - started)
        return f"connect {type(exc).__name__}"
    answer = asyncio.create_task(_read_answer(reader))
    sent = 0
    try:
        writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        view = memoryview(body)
        try:
            while sent < len(body) and not answer.done():
                piece = view[sent : sent + (1 << 20)]
                writer.write(piece)
                sent += len(piece)
                with contextlib.suppress(TimeoutError):  # drained, or the answer came first
                    await asyncio.wait_for(asyncio.shield(writer.drain()), 5)
        except OSError:
            pass  # the server closed its side: its answer, if any, is read below
        data = await asyncio.wait_for(answer, 120)
    except (OSError, TimeoutError) as exc:
        answer.cancel()
        tally.failure(exc, time.monotonic() - started)
        return type(exc).__name__
    finally:
        writer.close()
    seconds = time.monotonic() - started
    tally.written_mb.append(sent / 1e6)
    if not data.startswith(b"HTTP/1.1 "):
        key = "closed without an answer"
        tally.outcomes[key] += 1
        tally.seconds[key].append(seconds)
        return key
    status, content = int(data[9:12]), data.partition(b"\r\n\r\n")[2]
    tally.answer(status, content, seconds)
    return f"{outcome_of(status, content)}, {sent / 1e6:.1f} MB written"


async def large_bodies(config: AttackConfig, tally: Tally, stopping: asyncio.Event) -> None:
    body = _padded_body(config.body_mb)
    big = _padded_body(config.big_body_mb) if config.big_body_mb else b""
    tally.notes.append(
        f"{config.body_connections} connections sending {len(body) / 1e6:.0f} MB bodies, a new "
        f"connection each" + (f", and one of {len(big) / 1e6:.0f} MB" if big else "")
    )
    tally.ready.set()

    async def work(_: int) -> None:
        await post_large(config.port, body, tally)

    async def once() -> None:
        if big:
            started = time.monotonic()
            outcome = await post_large(config.port, big, tally)
            tally.notes.append(
                f"the {len(big) / 1e6:.0f} MB request: {outcome}, "
                f"after {time.monotonic() - started:.2f} s"
            )

    await asyncio.gather(once(), _workers(config.body_connections, work, stopping))


async def _open(port: int, tally: Tally, kind: str) -> tuple[Any, Any] | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, TimeoutError) as exc:
        tally.outcomes[f"{kind}: connect {type(exc).__name__}"] += 1
        await asyncio.sleep(1)
        return None
    tally.opened[kind] += 1
    tally.open_now[kind] += 1
    return reader, writer


def _ended(tally: Tally, kind: str, data: bytes, lived: float, how: str = "") -> None:
    tally.open_now[kind] -= 1
    if not how:
        first = data.split(b"\r\n", 1)[0]
        if first.startswith(b"HTTP/1.1 "):
            how = "closed after " + first[9:12].decode(errors="replace")
        elif data:
            how = "closed after data"
        else:
            how = "closed without an answer"
    key = f"{kind}: {how}"
    tally.outcomes[key] += 1
    tally.seconds[key].append(lived)


async def _wait_closed(
    reader: Any, stopping: asyncio.Event, until_frame: bool = False
) -> bytes | None:
    """What the server sent until it closed the connection (or, ``until_frame``, until it
    sent something); None when the run stopped first."""
    received = b""
    stop = asyncio.create_task(stopping.wait())
    try:
        while True:
            read = asyncio.create_task(reader.read(1 << 16))
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                return None
            try:
                chunk = read.result()
            except OSError:
                return received
            if not chunk:
                return received
            received += chunk[: max(0, 4096 - len(received))]
            if until_frame:
                return received
    finally:
        stop.cancel()


async def slow_clients(config: AttackConfig, tally: Tally, stopping: asyncio.Event) -> None:
    port = config.port
    host = f"Host: 127.0.0.1:{port}\r\n".encode()

    async def slow_head(_: int) -> None:
        """A request head sent one byte every ``slow_interval`` seconds, never finished."""
        opened = await _open(port, tally, "slow head")
        if opened is None:
            return
        reader, writer = opened
        started = time.monotonic()
        stop = asyncio.create_task(stopping.wait())
        read = asyncio.create_task(reader.read(4096))
        try:
            writer.write(b"POST /graphql HTTP/1.1\r\n" + host + b"X-Padding: ")
            while True:
                await asyncio.wait(
                    {read, stop}, timeout=config.slow_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if read.done() or stop.done():
                    break
                try:
                    writer.write(b"a")
                    await writer.drain()
                except OSError:
                    break
            if stop.done() and not read.done():
                tally.open_now["slow head"] -= 1
                return
            with contextlib.suppress(asyncio.CancelledError, OSError, TimeoutError):
                await asyncio.wait_for(read, 1)
            data = read.result() if read.done() and not read.exception() else b""
            _ended(tally, "slow head", data, time.monotonic() - started)
        finally:
            stop.cancel()
            read.cancel()
            writer.close()

    async def idle_keep_alive(_: int) -> None:
        """One complete request, then nothing: how long does the server keep it open?"""
        opened = await _open(port, tally, "idle keep-alive")
        if opened is None:
            return
        reader, writer = opened
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\n" + host + b"\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await asyncio.wait_for(reader.readexactly(length), 30)
            answered = time.monotonic()
            data = await _wait_closed(reader, stopping)
            if data is None:
                tally.open_now["idle keep-alive"] -= 1
                return
            how = "closed by the server while idle" if not data else ""
            _ended(tally, "idle keep-alive", data, time.monotonic() - answered, how)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            tally.open_now["idle keep-alive"] -= 1
            tally.outcomes[f"idle keep-alive: {type(exc).__name__}"] += 1
        finally:
            writer.close()

    async def idle_websocket(_: int) -> None:
        """A WebSocket handshake, then never a ``connection_init``."""
        opened = await _open(port, tally, "idle WebSocket")
        if opened is None:
            return
        reader, writer = opened
        try:
            writer.write(
                b"GET /graphql HTTP/1.1\r\n"
                + host
                + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                + b"Sec-WebSocket-Key: "
                + os.urandom(16).hex()[:22].encode()
                + b"==\r\nSec-WebSocket-Version: 13\r\n"
                + b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
                + f"Origin: http://127.0.0.1:{port}\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            upgraded = time.monotonic()
            if not head.startswith(b"HTTP/1.1 101"):
                _ended(tally, "idle WebSocket", head, 0.0)
                return
            # the server's close frame, then (it waits for ours, which never comes) the end of
            # the connection: both timed, from the upgrade
            data = await _wait_closed(reader, stopping, until_frame=True)
            if data is None:
                tally.open_now["idle WebSocket"] -= 1
                return
            if len(data) >= 4 and data[0] == 0x88:
                key = f"idle WebSocket: close frame {int.from_bytes(data[2:4], 'big')}"
                tally.outcomes[key] += 1
                tally.seconds[key].append(time.monotonic() - upgraded)
                data = await _wait_closed(reader, stopping)
                if data is None:
                    tally.open_now["idle WebSocket"] -= 1
                    return
                how = "connection closed after the close frame"
            else:
                how = "closed without a close frame"
            _ended(tally, "idle WebSocket", data, time.monotonic() - upgraded, how)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            tally.open_now["idle WebSocket"] -= 1
            tally.outcomes[f"idle WebSocket: {type(exc).__name__}"] += 1
        finally:
            writer.close()

    tally.notes.append(
        f"{config.slow_connections} slow heads (a byte every {config.slow_interval:g} s), "
        f"{config.idle_connections} idle keep-alive connections, "
        f"{config.idle_websockets} idle WebSockets; each reopened when closed"
    )
    kinds = (
        [slow_head] * config.slow_connections
        + [idle_keep_alive] * config.idle_connections
        + [idle_websocket] * config.idle_websockets
    )
    tasks = []
    for index, kind in enumerate(kinds):
        if stopping.is_set():
            break

        async def loop_forever(kind: Any = kind, index: int = index) -> None:
            while not stopping.is_set():
                await kind(index)

        tasks.append(asyncio.create_task(loop_forever()))
        await asyncio.sleep(1.0 / config.connect_rate)
    tally.notes.append(f"open when ready: {dict(tally.open_now)}")
    tally.ready.set()
    await asyncio.gather(*tasks)


# --------------------------------------------------------------------------------------------
# orchestration


@dataclass
class Phase:
    name: str
    attack: str | None
    start: float = 0.0
    end: float = 0.0
    rss_before_kib: int = 0
    rss_peak_kib: int = 0
    rss_after_kib: int = 0
    server_cpu_percent: float = math.nan
    attacker_cpu_percent: float = math.nan
    attacker: dict[str, Any] = field(default_factory=dict)
    cooldown_seconds: float = 0.0
    load_average: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


class Watch:
    """The server's RSS sampled every quarter second while a phase runs (its peak)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.25)

    def start(self) -> None:
        self.peak = rss_kib(self.pid)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.peak = max(self.peak, rss_kib(self.pid))
        return self.peak


async def cooldown(pid: int, quiet_percent: float, limit: float) -> float:
    """Wait until the server used less than ``quiet_percent`` of a core over half a second
    (at least one second, at most ``limit``); how long it took."""
    started = time.monotonic()
    await asyncio.sleep(1.0)
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pid) - before) / 0.5 * 100 < quiet_percent:
            break
    return time.monotonic() - started


async def measure(phase: Phase, pid: int, seconds: float) -> None:
    watch = Watch(pid)
    watch.start()
    cpu = cpu_seconds(pid)
    phase.start = time.monotonic()
    await asyncio.sleep(seconds)
    phase.end = time.monotonic()
    phase.server_cpu_percent = (cpu_seconds(pid) - cpu) / (phase.end - phase.start) * 100
    phase.rss_peak_kib = await watch.stop()
    phase.load_average = " ".join(Path("/proc/loadavg").read_text().split()[:3])


def attack_config(args: argparse.Namespace, attack: str, port: int) -> AttackConfig:
    return AttackConfig(
        attack=attack,
        port=port,
        victim=VICTIM_EMAIL,
        cpus=args.client_cpus,
        bomb_fields=args.bomb_fields,
        bomb_connections=args.bomb_connections,
        bomb_unique=args.bomb_unique,
        login_burst=args.login_burst,
        login_addresses=args.login_addresses,
        body_mb=args.body_mb,
        big_body_mb=args.big_body_mb,
        body_connections=args.body_connections,
        slow_connections=args.slow_connections,
        slow_interval=args.slow_interval,
        idle_connections=args.idle_connections,
        idle_websockets=args.idle_websockets,
        connect_rate=args.connect_rate,
    )


async def gql(client: Any, url: str, query: str, variables: Any = None, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"setup request failed ({response.status_code}): {response.text[:400]}")
    return body["data"]


async def setup_world(url: str) -> str:
    """The well-behaved user (an agent who sees every contact), the login flood's victim and
    a few conversations; returns the well-behaved user's session token. Two logins, before
    any attack: the anonymous budget of 127.0.0.1 is the attackers' to spend."""
    import httpx

    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        owner = (await gql(client, url, LOGIN, {"e": OWNER_EMAIL, "p": PASSWORD}))["login"]["token"]
        for email, name in ((USER_EMAIL, "Edge Agent"), (VICTIM_EMAIL, "Edge Victim")):
            await gql(
                client,
                url,
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                {
                    "i": {
                        "email": email,
                        "name": name,
                        "password": PASSWORD,
                        "role": "AGENT",
                        "contactVisibility": "ALL",
                    }
                },
                owner,
            )
        channel = (
            await gql(
                client,
                url,
                'mutation { connectChannel(type: WEBCHAT, name: "Chat") { id } }',
                None,
                owner,
            )
        )["connectChannel"]["id"]
        integration = (
            await gql(
                client, url, 'mutation { createAccessToken(name: "edge") { token } }', None, owner
            )
        )["createAccessToken"]["token"]
        for n in range(12):
            await gql(
                client,
                url,
                "mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { duplicate } }",
                {
                    "i": {
                        "channelId": channel,
                        "from": f"edge-visitor-{n}",
                        "externalMessageId": f"edge-{n}",
                        "text": f"Hello {n}",
                    }
                },
                integration,
            )
        user = (await gql(client, url, LOGIN, {"e": USER_EMAIL, "p": PASSWORD}))["login"]["token"]
        await gql(client, url, "mutation { logout }", None, owner)
    return user


def figures(samples: list[tuple[float, str, float, str]], start: float, end: float) -> dict:
    # a request counts in the phase when it was out during it: one started before the phase
    # that ended inside it counts too (a stalled client sends few requests, and the slowest
    # would otherwise escape every phase)
    inside = [s for s in samples if s[0] < end and (s[0] >= start or s[0] + (s[2] or 0) >= start)]
    http = [s for s in inside if s[1] in ("me", "inbox")]
    ws = [s for s in inside if s[1] == "ws"]
    http_ok = [s[2] for s in http if s[3] == "200 ok"]
    ws_ok = [s[2] for s in ws if s[3] == "pong"]
    return {
        "http_requests": len(http),
        "http_failed": collections.Counter(s[3] for s in http if s[3] != "200 ok"),
        "http_p50": percentile(http_ok, 50),
        "http_p99": percentile(http_ok, 99),
        "http_max": max(http_ok, default=math.nan),
        "me_p50": percentile([s[2] for s in http if s[1] == "me" and s[3] == "200 ok"], 50),
        "inbox_p50": percentile([s[2] for s in http if s[1] == "inbox" and s[3] == "200 ok"], 50),
        "ws_pings": len(ws),
        "ws_failed": collections.Counter(s[3] for s in ws if s[3] != "pong"),
        "ws_p50": percentile(ws_ok, 50),
        "ws_p99": percentile(ws_ok, 99),
        "ws_max": max(ws_ok, default=math.nan),
        # requests fail when slower than a timeout: a failure counts as the slowest answer
        "http_ms": [round(s[2] * 1000, 2) for s in http],
        "ws_ms": [round(s[2] * 1000, 2) for s in ws],
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import httpx  # noqa: F401 - fail early when missing

    result: dict[str, Any] = {"phases": [], "attacks": args.attacks}
    with contextlib.ExitStack() as stack:
        if args.postgres_url:
            database = postgres_database(stack, args.postgres_url)
        else:
            database = f"sqlite://{workdir / 'edge.db'}"
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "BROADCAST_URL": "memory://",
            "INBOX_GRAPH_ENV": "production",
            "INBOX_GRAPH_ALLOWED_ORIGINS": "*",
            **ENV,
        }
        result["database"] = database.split("://")[0]
        log(f"database {result['database']}: creating the workspace")
        run_cli(
            env,
            "create-workspace",
            "--name",
            "Edge",
            "--owner-email",
            OWNER_EMAIL,
            "--owner-password",
            PASSWORD,
        )
        server = start_server(stack, env, 1, workdir, "edge", args.server_cpus)
        pid = server.process.pid
        url = f"http://127.0.0.1:{server.port}/graphql"
        result["log"] = str(server.log)
        log(f"serving on port {server.port} (pid {pid})")
        token = await setup_world(url)

        ctx = mp.get_context("spawn")
        probe_pipe, child = ctx.Pipe()
        probe = ctx.Process(
            target=probe_process,
            args=(child, ProbeConfig(server.port, token, args.rate, args.client_cpus)),
            daemon=True,
        )
        probe.start()
        stack.callback(probe.kill)
        kind, info = await recv_from(probe_pipe, 90)
        if kind != "ready":
            raise RuntimeError(f"the well-behaved client failed: {info}")
        log(f"well-behaved client running ({args.rate:g} requests/s and pings/s); warming up")
        await asyncio.sleep(args.ramp_seconds)

        phases: list[Phase] = []
        baselines = 0

        async def baseline() -> None:
            nonlocal baselines
            baselines += 1
            phase = Phase(f"baseline {baselines}", None)
            phase.rss_before_kib = rss_kib(pid)
            await measure(phase, pid, args.phase_seconds)
            phase.rss_after_kib = rss_kib(pid)
            phases.append(phase)
            log(f"{phase.name}: done")

        for attack in args.attacks:
            await baseline()
            phase = Phase(ATTACK_TITLES[attack], attack)
            phase.rss_before_kib = rss_kib(pid)
            pipe, child = ctx.Pipe()
            attacker = ctx.Process(
                target=attacker_process,
                args=(child, attack_config(args, attack, server.port)),
                daemon=True,
            )
            log(f"{phase.name}: starting the attacker")
            attacker.start()
            started = time.monotonic()
            try:
                kind, info = await recv_from(pipe, 180)
                if kind != "ready":
                    raise RuntimeError(f"the {attack} attacker failed: {info}")
                await asyncio.sleep(args.ramp_seconds)
                log(f"{phase.name}: measuring for {args.phase_seconds:g} s")
                await measure(phase, pid, args.phase_seconds)
                pipe.send(("stop",))
                kind, info = await recv_from(pipe, 60)
                if kind != "stats":
                    raise RuntimeError(f"the {attack} attacker failed: {info}")
                phase.attacker = info
                phase.attacker_cpu_percent = (
                    info["cpu_seconds"] / (time.monotonic() - started) * 100
                )
            finally:
                attacker.join(10)
                if attacker.is_alive():
                    attacker.kill()
                    attacker.join(5)
            phase.cooldown_seconds = await cooldown(pid, args.quiet_percent, 120)
            phase.rss_after_kib = rss_kib(pid)
            phases.append(phase)
            log(
                f"{phase.name}: done; server busy {phase.cooldown_seconds:.1f} s after the stop; "
                f"attacker {info['outcomes']}"
            )
        await baseline()

        probe_pipe.send(("stop",))
        kind, info = await recv_from(probe_pipe, 60)
        if kind != "samples":
            raise RuntimeError(f"the well-behaved client failed: {info}")
        samples = [tuple(s) for s in info["samples"]]
        probe.join(10)
        for phase in phases:
            phase.figures = figures(samples, phase.start, phase.end)
        result["phases"] = [phase.__dict__ for phase in phases]
        text = server.log.read_text(errors="replace")
        result["server_log"] = {
            "tracebacks": text.count("Traceback (most recent call last)"),
            "error_lines": sum(1 for line in text.splitlines() if "ERROR" in line),
            "excerpts": [line[:200] for line in text.splitlines() if "ERROR" in line][:5],
        }
    return result


# --------------------------------------------------------------------------------------------
# report


def ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 1000:.1f}"


def ratio(value: float, base: float) -> float:
    if value is None or base is None or math.isnan(value) or math.isnan(base) or base <= 0:
        return math.nan
    return value / base


def rx(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def _baseline_before(phases: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    for phase in reversed(phases[:index]):
        if phase["attack"] is None:
            return phase
    return None


def ratios(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per attack: its figures over the baseline just before it."""
    found = []
    phases = result["phases"]
    for index, phase in enumerate(phases):
        if phase["attack"] is None:
            continue
        base = _baseline_before(phases, index)
        f, b = phase["figures"], (base or {}).get("figures", {})
        found.append(
            {
                "attack": phase["attack"],
                "http_p50": ratio(f["http_p50"], b.get("http_p50", math.nan)),
                "http_p99": ratio(f["http_p99"], b.get("http_p99", math.nan)),
                "ws_p50": ratio(f["ws_p50"], b.get("ws_p50", math.nan)),
                "ws_p99": ratio(f["ws_p99"], b.get("ws_p99", math.nan)),
                "failed": sum(f["http_failed"].values()),
            }
        )
    return found


def _outcomes(phase: dict[str, Any]) -> str:
    a = phase["attacker"]
    if not a:
        return ""
    parts = [f"{n} x {k}" for k, n in a["outcomes"].items()]
    head = f"sent {a['sent']}, answered {a['answered']}: " if a["sent"] else ""
    return head + "; ".join(parts)


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    out: list[str] = []
    phases = result["phases"]
    if result.get("error"):
        out.append(f"ERROR: {result['error']}")
    first = next((p for p in phases if p["attack"] is None), None)
    by_attack = {r["attack"]: r for r in ratios(result)}
    rows = []
    for index, phase in enumerate(phases):
        f = phase["figures"]
        if phase["attack"] is None:
            base = (first or phase)["figures"]
            r = {
                "http_p50": ratio(f["http_p50"], base["http_p50"]),
                "http_p99": ratio(f["http_p99"], base["http_p99"]),
                "ws_p50": ratio(f["ws_p50"], base["ws_p50"]),
                "ws_p99": ratio(f["ws_p99"], base["ws_p99"]),
            }
        else:
            r = by_attack[phase["attack"]]
        failed = sum(f["http_failed"].values()) + sum(f["ws_failed"].values())
        rows.append(
            [
                phase["name"],
                f"{ms(f['http_p50'])} ({rx(r['http_p50'])})",
                f"{ms(f['http_p99'])} ({rx(r['http_p99'])})",
                f"{ms(f['ws_p50'])}/{ms(f['ws_p99'])} ({rx(r['ws_p50'])}/{rx(r['ws_p99'])})",
                f"{f['http_requests']}/{f['ws_pings']}" + (f" ({failed} failed)" if failed else ""),
                "/".join(
                    f"{phase[k] / 1024:.0f}"
                    for k in ("rss_before_kib", "rss_peak_kib", "rss_after_kib")
                ),
                f"{phase['server_cpu_percent']:.0f}",
                ""
                if math.isnan(phase["attacker_cpu_percent"])
                else f"{phase['attacker_cpu_percent']:.0f}",
                f"{phase['cooldown_seconds']:.1f}" if phase["attack"] else "",
            ]
        )
    out.append(
        f"Well-behaved client: {args.rate:g} requests/s (me, inbox) on one keep-alive HTTP "
        f"connection and {args.rate:g} pings/s on one WebSocket; {args.phase_seconds:g} s per "
        f"phase. Ratios: an attack over the baseline just before it; a baseline over the first."
    )
    out.append(
        table(
            rows,
            [
                "phase",
                "p50 ms (ratio)",
                "p99 ms (ratio)",
                "ws ping p50/p99 ms (ratio)",
                "requests/pings",
                "server RSS MiB before/peak/after",
                "server CPU %",
                "attacker CPU %",
                "busy after s",
            ],
        )
    )
    out.append("")
    out.append("Attacker outcomes (status and first error code, or how the connection ended):")
    for phase in phases:
        if phase["attack"] is None:
            continue
        a = phase["attacker"]
        out.append(f"  {phase['name']}: {_outcomes(phase)}")
        for note in a.get("notes", []):
            out.append(f"    {note}")
        if a.get("seconds_p50"):
            took = ", ".join(f"{k} {v:g} s" for k, v in a["seconds_p50"].items())
            out.append(f"    median time to the answer (or to the close): {took}")
        if a.get("written_mb_p50") is not None and not math.isnan(a["written_mb_p50"]):
            out.append(
                f"    body written before the answer: median {a['written_mb_p50']:.1f} MB, "
                f"most {a['written_mb_max']:.1f} MB"
            )
        f = phase["figures"]
        if f["http_failed"] or f["ws_failed"]:
            out.append(
                f"    well-behaved client failures: {dict(f['http_failed'])} {dict(f['ws_failed'])}"
            )
    out.append("")
    out.append(f"Load average at the end of each phase: {[p['load_average'] for p in phases]}")
    if "server_log" in result:
        lg = result["server_log"]
        out.append(f"Server log: {lg['tracebacks']} tracebacks, {lg['error_lines']} ERROR lines")
        out.extend(f"  {line}" for line in lg["excerpts"])
    for label, verdict, detail in checks(result):
        out.append(f"[{verdict}] {label}: {detail}")
    out.append("")
    out.append("Reproduce with:")
    out.append("  " + reproduce(args))
    return "\n".join(out)


def checks(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    if result.get("error"):
        return [("the run completed", "FAIL", result["error"])]
    found = []
    for r in ratios(result):
        worst = max(r["http_p50"], r["http_p99"])
        ok = worst <= TARGET_RATIO and r["failed"] == 0
        found.append(
            (
                f"{ATTACK_TITLES[r['attack']]}: p50 and p99 at most {TARGET_RATIO:g}x",
                "PASS" if ok else "FAIL",
                (
                    f"p50 {rx(r['http_p50'])}, p99 {rx(r['http_p99'])}, {r['failed']} failed "
                    f"(ws ping {rx(r['ws_p50'])}/{rx(r['ws_p99'])}, not a target)"
                ),
            )
        )
    return found


def reproduce(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "bench.edge", "--attacks", *args.attacks]
    for option in (
        "phase_seconds",
        "ramp_seconds",
        "rate",
        "bomb_fields",
        "bomb_connections",
        "login_burst",
        "login_addresses",
        "body_mb",
        "big_body_mb",
        "body_connections",
        "slow_connections",
        "slow_interval",
        "idle_connections",
        "idle_websockets",
    ):
        parts += [f"--{option.replace('_', '-')}", f"{getattr(args, option):g}"]
    parts += ["--bomb-unique", args.bomb_unique]
    if args.postgres_url:
        parts += ["--postgres-url", args.postgres_url]
    checkout = shlex.quote(str(Path(__file__).resolve().parents[1]))
    return f"cd {checkout} && . .venv/bin/activate && {shlex.join(parts)}"


def cpu_list(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__.split("\n\n")[0])
    p.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    p.add_argument("--phase-seconds", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument(
        "--ramp-seconds",
        type=float,
        default=2.0,
        help="seconds an attack runs before its measurement starts",
    )
    p.add_argument(
        "--rate", type=float, default=20.0, help="well-behaved requests (and pings) per second"
    )
    p.add_argument(
        "--bomb-fields",
        type=int,
        default=998,
        help="selections per bomb document (998: 3,999 tokens with the comment and the alias, "
        "just under the default limit of 4,000)",
    )
    p.add_argument("--bomb-connections", type=int, default=4)
    p.add_argument(
        "--bomb-unique",
        choices=("alias", "comment"),
        default="alias",
        help="what makes each bomb document unique: a comment and an alias (no cache helps), "
        "or the comment alone (the validation cache answers)",
    )
    p.add_argument("--login-burst", type=int, default=16, help="concurrent logins per burst")
    p.add_argument(
        "--login-addresses",
        type=int,
        default=1,
        help="spread the login flood over this many loopback source addresses (127.0.0.1, "
        "127.0.0.2, ...): a distributed flood, which per-address limits do not stop",
    )
    p.add_argument("--body-mb", type=float, default=20.0)
    p.add_argument(
        "--big-body-mb", type=float, default=60.0, help="one request this large (0: none)"
    )
    p.add_argument("--body-connections", type=int, default=3)
    p.add_argument("--slow-connections", type=int, default=300)
    p.add_argument("--slow-interval", type=float, default=3.0, help="seconds between bytes")
    p.add_argument("--idle-connections", type=int, default=100)
    p.add_argument("--idle-websockets", type=int, default=100)
    p.add_argument(
        "--connect-rate", type=float, default=100.0, help="slow connections opened per second"
    )
    p.add_argument(
        "--quiet-percent",
        type=float,
        default=15.0,
        help="after an attack, wait until the server uses less than this %% of a core",
    )
    p.add_argument(
        "--postgres-url",
        default=None,
        help="serve from a new database on this PostgreSQL (admin URL) instead of SQLite",
    )
    p.add_argument("--server-cpus", type=cpu_list, default=None, help="pin the server, e.g. 0")
    p.add_argument(
        "--client-cpus", type=cpu_list, default=None, help="pin the clients and attackers, e.g. 1"
    )
    p.add_argument("--json", metavar="FILE", default=None, help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true", help="keep the work directory (server log)")
    return p


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="inbox-graph-edge-"))
    log(f"work directory {workdir}")
    try:
        return await run(args, workdir)
    except Exception as exc:  # noqa: BLE001 - reported
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return {"phases": [], "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = asyncio.run(amain(args))
    print(report(result, args))
    if args.json:
        result["command"] = reproduce(args)
        result["checks"] = checks(result)
        result["ratios"] = ratios(result)
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return 1 if any(v == "FAIL" for _, v, _ in checks(result)) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Webhook delivery benchmark (issue 20): outbox events to N endpoints on a local receiver.

    python -m bench.webhooks [--events 10000] [--endpoints 10] [--rate 100]

It serves the API (``inbox-graph serve``, one worker, SQLite + ``memory://`` by default,
``--postgres`` for PostgreSQL + a private Redis) with a local receiver started by the bench
(a minimal HTTP/1.1 server in a process of its own that answers 200 at once, notes when each
request arrived and checks a sample of them with the Standard Webhooks library), and runs
three phases, each on endpoints of its own wanting ``message.created``:

1. **backlog**: the endpoints are created disabled, ``--events`` messages are ingested, then
   all are enabled at once: deliveries per second while the deliverer drains the backlog
   (its throughput, not bounded by the ingestion rate).
2. **healthy**: ``--events`` messages ingested at ``--rate`` per second (open loop) while every
   endpoint is enabled: deliveries per second and the commit-to-delivery p50/p99.
3. **one down**: the same with the first endpoint's URL at a closed port (every attempt a
   connection error, retried with backoff): the healthy endpoints' p99 and its ratio to
   phase 2's.

Commit-to-delivery: the body's ``timestamp`` is the event's commit time (the server's UTC
clock inside the write's transaction, just before the commit) compared with the receiver's
wall clock when the request's body was read (same machine, same clock). Every delivery is
checked: each endpoint must get every event once, in sequence order (repeats, gaps and
reorderings are counted and printed). Nothing here is part of ``pytest``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import UNTHROTTLED
from bench.fanout import (
    Resources,
    Server,
    free_port,
    gql,
    log,
    parse_time,
    percentile,
    postgres_database,
    run_cli,
    start_redis,
    start_server,
    table,
)

OWNER_EMAIL = "owner@bench.inbox-graph.test"
OWNER_PASSWORD = "bench-password-1"
RECEIVE = "mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { message { id } } }"
CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { secret webhookEndpoint { id } } }"""
ENABLE = """mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) { id } }"""
DELETE = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }"
SAMPLE_EVERY = 100
"""One request in this many is kept whole and verified with the Standard Webhooks library."""

TARGET_THROUGHPUT = 1000.0
TARGET_P99_SECONDS = 1.0
TARGET_DOWN_RATIO = 1.5


# --------------------------------------------------------------------------------------------
# the receiver: its own process, a minimal HTTP/1.1 server (keep-alive, Content-Length bodies)


class _Receiving(asyncio.Protocol):
    def __init__(self, notes: list[tuple[str, str, float, bytes]], samples: list[Any]) -> None:
        self.notes = notes
        self.samples = samples
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            arrived = time.time()
            start = body.find(b'"timestamp":"') + 13
            stamp = body[start : body.find(b'"', start)]
            path = head[0].split(" ")[1]
            self.notes.append((path, headers.get("webhook-id", ""), arrived, stamp))
            if len(self.notes) % SAMPLE_EVERY == 1:
                self.samples.append((path, headers, body))
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


def receiver_process(pipe: Any, port: int) -> None:
    """Serve on ``port`` until told ``"stop"``; ``"take"`` hands over (and forgets) what
    arrived since the last take: ``(notes, samples)``."""

    async def main() -> None:
        notes: list[tuple[str, str, float, bytes]] = []
        samples: list[Any] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Receiving(notes, samples), "127.0.0.1", port, backlog=1024
        )
        pipe.send("ready")
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "stop":
                break
            pipe.send((list(notes), list(samples)))
            notes.clear()
            samples.clear()
        server.close()

    asyncio.run(main())


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.pipe, child = mp.Pipe()
        self.process = mp.get_context("spawn").Process(
            target=receiver_process, args=(child, self.port), daemon=True
        )

    def start(self) -> None:
        self.process.start()
        if not self.pipe.poll(30) or self.pipe.recv() != "ready":
            raise RuntimeError("the receiver did not start")

    def take(self) -> tuple[list[tuple[str, str, float, bytes]], list[Any]]:
        self.pipe.send("take")
        return self.pipe.recv()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.pipe.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


# --------------------------------------------------------------------------------------------
# phases


@dataclass
class Phase:
    name: str
    endpoints: int
    events: int
    down: int = 0
    deliveries: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    repeats: int = 0
    missing: int = 0
    out_of_order: int = 0
    unverified: int = 0
    verified: int = 0
    cpu_seconds: float = 0.0
    """The server's CPU time (user + system) during the phase."""

    @property
    def throughput(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


class Bench:
    def __init__(
        self, args: argparse.Namespace, url: str, receiver: Receiver, server: Server
    ) -> None:
        import httpx

        self.args = args
        self.url = url
        self.receiver = receiver
        self.server = server
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50))
        self.run_id = uuid.uuid4().hex[:8]
        self.sent = 0
        self.owner = ""
        self.integration = ""
        self.channel = ""
        self.phases = 0
        self.secrets: dict[str, str] = {}

    async def setup(self) -> None:
        login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
        data = await gql(self.http, self.url, login, {"e": OWNER_EMAIL, "p": OWNER_PASSWORD})
        self.owner = data["login"]["token"]
        connect = 'mutation { connectChannel(type: WEBCHAT, name: "Site chat") { id } }'
        self.channel = (await gql(self.http, self.url, connect, token=self.owner))[
            "connectChannel"
        ]["id"]
        token = 'mutation { createAccessToken(name: "bench") { token } }'
        self.integration = (await gql(self.http, self.url, token, token=self.owner))[
            "createAccessToken"
        ]["token"]

    async def endpoints(self, count: int, *, enabled: bool, down: int) -> dict[str, str]:
        """``count`` endpoints, the first ``down`` at a closed port: {global id: path}, with
        their secrets kept for the verification of samples."""
        made: dict[str, str] = {}
        self.phases += 1
        closed = free_port()
        for index in range(count):
            path = f"/{self.run_id}/{self.phases}-{index}"
            port = closed if index < down else self.receiver.port
            created = await gql(
                self.http,
                self.url,
                CREATE,
                {
                    "i": {
                        "url": f"http://127.0.0.1:{port}{path}",
                        "eventTypes": ["MESSAGE_CREATED"],
                        "enabled": enabled,
                    }
                },
                token=self.owner,
            )
            data = created["createWebhookEndpoint"]
            made[data["webhookEndpoint"]["id"]] = path
            self.secrets[path] = data["secret"]
        return made

    async def ingest(self, count: int, rate: float | None) -> None:
        """``count`` messages with ``receiveMessage``: at ``rate`` per second (open loop, at most
        ``--inflight`` at once), or as fast as ``--inflight`` concurrent calls go."""
        gate = asyncio.Semaphore(self.args.inflight)
        start = time.monotonic()

        async def one(index: int) -> None:
            async with gate:
                await gql(
                    self.http,
                    self.url,
                    RECEIVE,
                    {
                        "i": {
                            "channelId": self.channel,
                            "from": f"bench-visitor-{self.run_id}-{index % 50}",
                            "externalMessageId": f"bench-{self.run_id}-{self.sent + index}",
                            "text": f"bench message {index}",
                        }
                    },
                    token=self.integration,
                )

        tasks = []
        for index in range(count):
            if rate:
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await gate.acquire()
                gate.release()
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
        self.sent += count
        took = time.monotonic() - start
        log(f"ingested {count} messages in {took:.1f} s ({count / took:.0f}/s)")

    async def collect(
        self, phase: Phase, paths: dict[str, str], healthy: set[str], since: float
    ) -> None:
        """Wait until every healthy endpoint has every event (or ``--drain-timeout``), then
        read what the receiver noted."""
        notes: list[tuple[str, str, float, bytes]] = []
        samples: list[Any] = []
        want = phase.events * len(healthy)
        deadline = time.monotonic() + self.args.drain_timeout
        while True:
            more, more_samples = self.receiver.take()
            notes += more
            samples += more_samples
            got = {(p, w) for p, w, _, _ in notes if p in healthy}
            if len(got) >= want or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # anything late (a repeat) arrives too
        more, more_samples = self.receiver.take()
        notes += more
        samples += more_samples
        mine = [n for n in notes if n[0] in healthy]
        phase.deliveries = len(mine)
        phase.seconds = max((n[2] for n in mine), default=since) - since
        seen: dict[str, list[int]] = {p: [] for p in healthy}
        unique: set[tuple[str, str]] = set()
        for path, msg_id, arrived, stamp in mine:
            if (path, msg_id) in unique:
                phase.repeats += 1
                continue
            unique.add((path, msg_id))
            seen[path].append(int(msg_id.rsplit("_", 1)[1]))
            phase.latencies.append(arrived - parse_time(stamp.decode()))
        for sequences in seen.values():
            phase.out_of_order += sum(1 for a, b in itertools.pairwise(sequences) if b < a)
        phase.missing = want - len(unique)
        from standardwebhooks import Webhook, WebhookVerificationError

        for path, headers, body in samples:
            if path not in self.secrets:
                continue
            try:
                Webhook(self.secrets[path]).verify(body, headers)
                phase.verified += 1
            except WebhookVerificationError:
                phase.unverified += 1

    async def run_phase(self, name: str, *, down: int, backlog: bool) -> Phase:
        args = self.args
        phase = Phase(name, args.endpoints, args.events, down)
        paths = await self.endpoints(args.endpoints, enabled=not backlog, down=down)
        healthy = set(list(paths.values())[down:])
        self.receiver.take()  # forget anything earlier
        log(f"[{name}] {args.endpoints} endpoints ({down} down), {args.events} events")
        cpu = self.server.cpu_seconds()
        if backlog:
            await self.ingest(args.events, None)
            cpu = self.server.cpu_seconds()  # deliveries only
            since = time.time()
            await asyncio.gather(
                *(gql(self.http, self.url, ENABLE, {"id": e}, token=self.owner) for e in paths)
            )
        else:
            since = time.time()
            await self.ingest(args.events, args.rate)
        await self.collect(phase, paths, healthy, since)
        phase.cpu_seconds = self.server.cpu_seconds() - cpu
        for endpoint in paths:
            await gql(self.http, self.url, DELETE, {"id": endpoint}, token=self.owner)
        log(
            f"[{name}] {phase.deliveries} deliveries in {phase.seconds:.1f} s "
            f"({phase.throughput:.0f}/s), p50 {phase.p(50) * 1000:.0f} ms, "
            f"p99 {phase.p(99) * 1000:.0f} ms, missing {phase.missing}, repeats {phase.repeats}"
        )
        await asyncio.sleep(1.0)
        return phase


def report(phases: list[Phase], args: argparse.Namespace, database: str) -> str:
    rows = [
        [
            p.name,
            str(p.endpoints - p.down),
            str(p.deliveries),
            f"{p.seconds:.1f}",
            f"{p.throughput:.0f}",
            f"{p.p(50) * 1000:.0f}",
            f"{p.p(99) * 1000:.0f}",
            f"{max(p.latencies, default=float('nan')) * 1000:.0f}",
            f"{p.cpu_seconds / p.deliveries * 1000:.2f}" if p.deliveries else "-",
            str(p.missing),
            str(p.repeats),
            str(p.out_of_order),
            f"{p.verified}/{p.verified + p.unverified}",
        ]
        for p in phases
    ]
    lines = [
        (
            f"bench/webhooks: {args.events} events to {args.endpoints} endpoints, "
            f"{database}, {args.workers} worker(s), ingestion at {args.rate}/s in the live "
            f"phases, {os.cpu_count()} cores"
        ),
        (
            "CPU ms/delivery: the server's CPU time per delivery (backlog: deliveries only; live "
            "phases: the ingestion's requests included)"
        ),
        "",
        table(
            rows,
            [
                "phase",
                "healthy",
                "deliveries",
                "s",
                "per s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "CPU ms/delivery",
                "missing",
                "repeats",
                "reordered",
                "verified",
            ],
        ),
        "",
    ]
    by_name = {p.name: p for p in phases}
    checks = []
    best = max((p.throughput for p in phases), default=0.0)
    checks.append(
        (f"throughput >= {TARGET_THROUGHPUT:.0f}/s", f"{best:.0f}/s", best >= TARGET_THROUGHPUT)
    )
    if "healthy" in by_name:
        p99 = by_name["healthy"].p(99)
        checks.append((f"p99 < {TARGET_P99_SECONDS} s", f"{p99 * 1000:.0f} ms", p99 < 1.0))
        if "one down" in by_name:
            ratio = by_name["one down"].p(99) / p99 if p99 else float("nan")
            checks.append(
                (
                    f"healthy p99 with one down within {TARGET_DOWN_RATIO}x",
                    f"{ratio:.2f}x",
                    ratio <= TARGET_DOWN_RATIO,
                )
            )
    lost = sum(p.missing + p.repeats + p.out_of_order + p.unverified for p in phases)
    checks.append(("every event once, in order, verified", str(lost), lost == 0))
    lines.append(
        table(
            [[what, got, "ok" if ok else "MISSED"] for what, got, ok in checks],
            ["target", "measured", ""],
        )
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    resources = Resources(workdir)
    receiver = Receiver()
    try:
        receiver.start()
        resources.stack.callback(receiver.stop)
        if args.postgres:
            database = postgres_database(resources.stack, args.postgres_url)
            broadcast = start_redis(resources)
        else:
            database, broadcast = f"sqlite://{workdir / 'bench.db'}", "memory://"
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "BROADCAST_URL": broadcast,
            "INBOX_GRAPH_ALLOWED_ORIGINS": "*",
            **UNTHROTTLED,
        }
        env.pop("INBOX_GRAPH_ENV", None)  # loopback receivers are allowed outside production
        run_cli(
            env,
            "create-workspace",
            "--name",
            "Bench",
            "--owner-email",
            OWNER_EMAIL,
            "--owner-password",
            OWNER_PASSWORD,
        )
        server = start_server(resources.stack, env, args.workers, workdir, "webhooks", None)
        log(f"serving on port {server.port} ({database.split(':')[0]}), receiver {receiver.port}")
        bench = Bench(args, f"http://127.0.0.1:{server.port}/graphql", receiver, server)
        await bench.setup()
        await bench.ingest(20, None)  # warm up
        phases = []
        for name in args.phases:
            phases.append(
                await bench.run_phase(
                    name, down=1 if name == "one down" else 0, backlog=name == "backlog"
                )
            )
        await bench.http.aclose()
        kind = "PostgreSQL + Redis" if args.postgres else "SQLite + memory://"
        return report(phases, args, kind)
    finally:
        resources.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=10_000, help="events per phase")
    parser.add_argument("--endpoints", type=int, default=10, help="endpoints per phase")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="messages per second in the live phases"
    )
    parser.add_argument("--inflight", type=int, default=20, help="ingestion calls at once")
    parser.add_argument(
        "--phases",
        nargs="+",
        default=["backlog", "healthy", "one down"],
        choices=["backlog", "healthy", "one down"],
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL + a private Redis")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes (more than one: with --postgres; they share the "
        "endpoints through their leases)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.workers < 1 or (args.workers > 1 and not args.postgres):
        parser.error("--workers: 1, or more with --postgres (SQLite serves one worker)")
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    sys.exit(main())

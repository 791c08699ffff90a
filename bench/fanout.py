"""Live fan-out benchmark: N graphql-transport-ws subscribers, messages ingested at a steady rate.

    python -m bench.fanout [--subscribers 1000 5000 10000] [--workers 1 2] [--events 20]
                           [--rate 5] [--baseline-subscribers 1000]

For every (workers, subscribers) pair it serves the API (``inbox-graph serve``) on a fresh
database (SQLite + ``memory://`` for one worker; a new PostgreSQL database + a private Redis
for more), opens the subscribers (one ``newMessage`` subscription per WebSocket, as a
dashboard does) as the workspace owner, who sees every message, measures the servers'
resident memory before and after they are all open and idle, then ingests ``--events``
messages with ``receiveMessage`` at ``--rate`` per second and records when each subscriber
receives each one. The naive baseline is the same run with
``INBOX_GRAPH_SHARED_FANOUT=0`` (every subscription resolves, serialises and sends each event
on its own task, with its own database reads), at ``--baseline-subscribers`` on one worker.
``--node-subscribers`` runs the same scenario against the Node graphql-ws reference server
(``bench/peers/graphql-ws``, started by :mod:`bench.peers.reference`: graphql-js executing every
subscriber's selection) serving the sockets, inbox-graph taking the writes, on PostgreSQL and a
private Redis; its server CPU and memory are both processes'. ``python -m bench.peers`` prints
the ratios.

Latency is measured from the write's commit to delivery: ``message.createdAt`` is the server's
UTC clock taken inside the write's transaction just before its commit (so the figures slightly
overstate), compared with the subscriber process's wall clock when the frame is read from its
socket (same machine, same clock). Per event it takes the latency at the p50, p99 and last
subscriber; the table summarises those over the events, and the p50/p99/max over all
(event, subscriber) deliveries. Every subscriber must receive every message exactly once:
anything missing (including subscribers that could not connect or were cut off) is "lost".

Every scenario runs once per ``--clients`` handshake: ``plain`` (no extension offered) and
``browser`` (what Chromium sends: every browser offers ``permessage-deflate``, whose state can
cost the server more than the rest of the socket). ``--rounds`` opens and closes the
subscribers again and reads the server's memory with none open after each round.

The subscribers run in ``--client-procs`` processes with a minimal WebSocket client on
asyncio (uvloop when available) that only timestamps and stores frames while events flow and
decodes them afterwards, so that the clients disturb the server as little as possible on a
shared machine; their CPU use is reported. Nothing here is part of ``pytest``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import resource
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import UNTHROTTLED

SUBSCRIPTION = (
    "subscription($after: Int) { newMessage(afterSequence: $after) "
    "{ sequence message { id text createdAt } } }"
)
RECEIVE = (
    "mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) "
    "{ duplicate message { id createdAt } } }"
)
OWNER_EMAIL = "owner@bench.inbox-graph.test"
OWNER_PASSWORD = "bench-password-1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TARGET_P99_SECONDS = 1.0
TARGET_P99_SUBSCRIBERS = 10_000
TARGET_SPEEDUP = 5.0
TARGET_SPEEDUP_SUBSCRIBERS = 1_000
TARGET_KB_PER_SUBSCRIPTION = 30.0
TARGET_RATCHET_SHARE = 0.1
# per worker process: dicts, sets and caches grow once to their peak size and never shrink,
# 3 to 7 MiB per process over the first rounds whatever the number of subscribers, then flat
# (a ratchet grows with the subscribers, round after round)
TARGET_RATCHET_MIB = 8


# --------------------------------------------------------------------------------------------
# helpers


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def parse_time(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree[ppid].append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# --------------------------------------------------------------------------------------------
# a minimal graphql-transport-ws client (RFC 6455 client side, optional permessage-deflate)


class SetupFailed(Exception):
    pass


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(
        n, "little"
    )


def ws_frame(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + key + _mask(payload, key)


# What Chromium sends to open a WebSocket (Chrome 120-131, minus cookies): every browser offers
# permessage-deflate, Chromium with exactly this parameter (Firefox and Safari offer it bare).
# The server keeps the request's headers for the socket's lifetime (the ASGI scope), so the
# whole set is sent, not only the extension.
BROWSER_HEADERS = (
    "Connection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:{port}\r\n"
    "Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\nSec-WebSocket-Key: {key}\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
)
PLAIN_HEADERS = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)
CLIENTS = ("plain", "browser")


def parse_deflate_response(header: str) -> dict[str, Any] | None:
    """The permessage-deflate parameters the server accepted (``Sec-WebSocket-Extensions`` of
    its 101), or None when it accepted none."""
    for element in header.split(","):
        name, *params = [part.strip() for part in element.split(";")]
        if name != "permessage-deflate":
            continue
        accepted: dict[str, Any] = {}
        for param in params:
            key, _, value = param.partition("=")
            accepted[key.strip()] = int(value.strip().strip('"')) if value else True
        return accepted
    return None


class Subscriber(asyncio.Protocol):
    """One WebSocket with one subscription.

    Until :attr:`live` it decodes every text frame into :attr:`inbox` for the setup dialogue;
    once live it only stores ``(time.time(), payload, compressed)`` per data frame (decoded
    after the run) and counts them, answering WebSocket pings and closes as it goes.
    """

    def __init__(self, port: int, client: str) -> None:
        self.port = port
        self.browser = client == "browser"
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox: asyncio.Queue[tuple[float, bytes, bool]] = asyncio.Queue()
        self.buffer = bytearray()
        self.handshake_done = False
        self.live = False
        self.frames: list[tuple[float, bytes, bool]] = []
        self.data_frames = 0
        self.closed = False
        self.close_code: int | None = None
        self.inflater: Any = None
        self.reset_inflater = False
        self.fragments: list[bytes] = []
        self.fragment_compressed = False
        self.extensions = ""  # the server's Sec-WebSocket-Extensions
        self.deflater: Any = None
        self.deflate_bits: int | None = None  # compress what we send, as a browser does
        self.reset_deflater = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        headers = (BROWSER_HEADERS if self.browser else PLAIN_HEADERS).format(
            port=self.port, key=self.key
        )
        transport.write(  # type: ignore[attr-defined]
            (
                f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{headers}"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(
                SetupFailed(f"connection lost during the handshake: {exc!r}")
            )
        self.inbox.put_nowait((time.time(), b"", False))  # wakes a waiting setup

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.handshake_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            self.handshake_done = True
            self._check_handshake(head)
        self._parse(now)

    # internals
    def _check_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1((self.key + WS_GUID).encode()).digest()).decode()
        if " 101 " not in lines[0] + " " or headers.get("sec-websocket-accept") != accept:
            self.upgraded.set_exception(SetupFailed(f"handshake refused: {head!r}"))
            self.transport.close()  # type: ignore[union-attr]
            return
        self.extensions = headers.get("sec-websocket-extensions", "")
        accepted = parse_deflate_response(self.extensions)
        if accepted is not None:
            self.inflater = zlib.decompressobj(wbits=-15)
            self.reset_inflater = bool(accepted.get("server_no_context_takeover"))
            # like Chromium: compress every data frame sent, with the window the server allows
            # (memLevel 8, zlib's default), and a fresh compressor per message if it asks
            self.deflate_bits = max(9, int(accepted.get("client_max_window_bits", 15)))
            self.reset_deflater = bool(accepted.get("client_no_context_takeover"))
        self.upgraded.set_result(None)

    def _parse(self, now: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                offset = 10
            mask = b""
            if b1 & 0x80:
                mask = bytes(buf[offset : offset + 4])
                offset += 4
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if mask:
                payload = _mask(payload, mask)
            opcode, fin, rsv1 = b0 & 0x0F, b0 & 0x80, bool(b0 & 0x40)
            if opcode == 0x9:  # ping
                self.transport.write(ws_frame(0xA, payload))  # type: ignore[union-attr]
            elif opcode == 0x8:  # close
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed:
                    with contextlib.suppress(Exception):
                        self.transport.write(ws_frame(0x8, payload[:2]))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
            elif opcode in (0x1, 0x2, 0x0):
                if opcode != 0x0:
                    self.fragment_compressed = rsv1
                if not fin:
                    self.fragments.append(payload)
                    continue
                if self.fragments:
                    payload = b"".join([*self.fragments, payload])
                    self.fragments = []
                self._message(now, payload, self.fragment_compressed)

    def _message(self, now: float, payload: bytes, compressed: bool) -> None:
        if self.live:
            self.frames.append((now, payload, compressed))
            self.data_frames += 1
        else:
            self.inbox.put_nowait((now, self.inflate(payload, compressed), False))

    def inflate(self, payload: bytes, compressed: bool) -> bytes:
        if not compressed:
            return payload
        data = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
        if self.reset_inflater:
            self.inflater = zlib.decompressobj(wbits=-15)
        return data

    def send_json(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        if self.deflate_bits is None:
            self.transport.write(ws_frame(0x1, data))  # type: ignore[union-attr]
            return
        if self.deflater is None:
            self.deflater = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.deflate_bits
            )
        body = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        if self.reset_deflater:
            self.deflater = None
        self.transport.write(ws_frame(0x1, body[:-4], rsv1=True))  # type: ignore[union-attr]

    async def receive_json(self, timeout: float) -> dict[str, Any]:
        _, payload, _ = await asyncio.wait_for(self.inbox.get(), timeout)
        if not payload:
            raise SetupFailed(f"closed during setup (code {self.close_code})")
        return json.loads(payload)

    def go_live(self) -> None:
        """From now on, only timestamp and store frames (what arrived meanwhile included)."""
        self.live = True
        while not self.inbox.empty():
            now, payload, _ = self.inbox.get_nowait()
            if payload:
                self.frames.append((now, payload, False))
                self.data_frames += 1

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            with contextlib.suppress(Exception):
                self.transport.write(ws_frame(0x8, struct.pack("!H", 1000)))
            self.transport.close()

    def decoded(self) -> list[tuple[float, bytes]]:
        return [(t, self.inflate(p, c)) for t, p, c in self.frames]


async def open_subscription(
    port: int, token: str, query: str, variables: dict[str, Any], *, client: str, timeout: float
) -> Subscriber:
    """Connect, authenticate, subscribe; returns once a ping sent after the subscribe came back."""
    loop = asyncio.get_running_loop()
    _, sub = await asyncio.wait_for(
        loop.create_connection(lambda: Subscriber(port, client), "127.0.0.1", port), timeout
    )
    try:
        await asyncio.wait_for(sub.upgraded, timeout)
        sub.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        ack = await sub.receive_json(timeout)
        if ack.get("type") != "connection_ack":
            raise SetupFailed(f"no connection_ack: {ack}")
        sub.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        sub.send_json({"type": "ping"})
        while True:
            message = await sub.receive_json(timeout)
            if message.get("type") == "pong":
                break
            if message.get("type") in ("error", "complete"):
                raise SetupFailed(f"subscription refused: {message}")
            if message.get("type") == "next":
                # an event that was committed meanwhile: keep it for the results
                sub.frames.append((time.time(), json.dumps(message).encode(), False))
                sub.data_frames += 1
        sub.go_live()
        return sub
    except BaseException:
        sub.close()
        raise


# --------------------------------------------------------------------------------------------
# subscriber processes


@dataclass
class ClientConfig:
    index: int
    port: int
    token: str
    count: int
    after_sequence: int
    connect_rate: float
    inflight: int
    setup_timeout: float
    client: str  # "plain" or "browser" (see CLIENTS)
    cpus: list[int] | None
    wait_for_go: bool = False  # say "waiting" once imported, connect on "go" (bench.storm)


def client_process(pipe: Any, config: ClientConfig) -> None:
    """A subscriber process: open ``config.count`` subscriptions, then follow ``pipe``'s orders."""
    raise_fd_limit()
    if config.cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, config.cpus)
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
    gate = asyncio.Semaphore(config.inflight)
    failures: collections.Counter[str] = collections.Counter()
    setup_times: list[float] = []
    variables = {"after": config.after_sequence}
    if config.wait_for_go:
        pipe.send(("waiting", None))
        await loop.run_in_executor(None, pipe.recv)

    async def one() -> Subscriber | None:
        for attempt in range(3):
            async with gate:
                started = time.monotonic()
                try:
                    sub = await open_subscription(
                        config.port,
                        config.token,
                        SUBSCRIPTION,
                        variables,
                        client=config.client,
                        timeout=config.setup_timeout,
                    )
                except (TimeoutError, OSError, SetupFailed, ValueError) as exc:
                    failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                else:
                    setup_times.append(time.monotonic() - started)
                    return sub
            await asyncio.sleep(0.5 * (attempt + 1))
        return None

    started = loop.time()
    interval = 1.0 / config.connect_rate
    tasks = []
    for i in range(config.count):
        delay = started + i * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    opened = [s for s in await asyncio.gather(*tasks) if s is not None]
    pipe.send(
        (
            "ready",
            {
                "opened": len(opened),
                "failed": config.count - len(opened),
                "failures": dict(failures),
                "setup_p50": percentile(setup_times, 50),
                "setup_p99": percentile(setup_times, 99),
                "connect_seconds": loop.time() - started,
                "extensions": dict(collections.Counter(s.extensions or "none" for s in opened)),
            },
        )
    )

    usage_start = resource.getrusage(resource.RUSAGE_SELF)
    order = await loop.run_in_executor(None, pipe.recv)
    if order[0] == "collect":
        # ("collect", expected, deadline[, hold]): with ``hold``, say when every subscriber
        # has its events and wait for ("report",) before closing them (the server's CPU is
        # read in between: delivering, not closing 10,000 sockets)
        _, expected, deadline, *hold = order
        while time.time() < deadline:
            if all(s.closed or s.data_frames >= expected for s in opened):
                break
            await asyncio.sleep(0.05)
        usage_end = resource.getrusage(resource.RUSAGE_SELF)
        ended = time.time()
        if hold and hold[0]:
            pipe.send(("collected", None))
            await loop.run_in_executor(None, pipe.recv)
        for s in opened:
            s.close()
        await asyncio.sleep(0.2)
        pipe.send(("results", _results(opened, usage_end, usage_start, ended)))
    else:  # "close": close them all (a close frame, then the TCP connection), and say so
        for s in opened:
            s.close()
        await asyncio.sleep(0.2)
        with contextlib.suppress(Exception):
            pipe.send(("closed", len(opened)))


def _results(subs: list[Subscriber], end: Any, start: Any, ended: float) -> dict[str, Any]:
    deliveries: dict[str, list[float]] = collections.defaultdict(list)
    duplicates = 0
    errors: collections.Counter[str] = collections.Counter()
    close_codes: collections.Counter[int] = collections.Counter()
    for sub in subs:
        seen: set[str] = set()
        if sub.close_code is not None:
            close_codes[sub.close_code] += 1
        for received_at, payload in sub.decoded():
            try:
                message = json.loads(payload)
            except ValueError:
                errors["undecodable frame"] += 1
                continue
            kind = message.get("type")
            if kind == "next":
                body = message.get("payload") or {}
                if body.get("errors"):
                    errors[json.dumps(body["errors"])[:160]] += 1
                    continue
                message_id = body["data"]["newMessage"]["message"]["id"]
                if message_id in seen:
                    duplicates += 1
                    continue
                seen.add(message_id)
                deliveries[message_id].append(received_at)
            elif kind in ("error", "complete"):
                errors[json.dumps(message)[:160]] += 1
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    return {
        "deliveries": dict(deliveries),
        "duplicates": duplicates,
        "errors": dict(errors),
        "close_codes": dict(close_codes),
        "cpu_seconds": cpu,  # since the subscribers were all open
        "ended_at": ended,
    }


# --------------------------------------------------------------------------------------------
# servers and databases


@dataclass
class Scenario:
    workers: int
    subscribers: int
    # "shared" (per-event loaders shared in the process), "naive" (baseline) or "node" (the
    # Node graphql-ws reference serves the sockets: bench/peers/reference.py)
    mode: str
    client: str = "plain"  # "plain" (no extension offered) or "browser" (Chromium's handshake)

    @property
    def name(self) -> str:
        return f"{self.mode}-{self.client}-w{self.workers}-n{self.subscribers}"


@dataclass
class Result:
    scenario: Scenario
    database: str = ""
    opened: int = 0
    failed_to_open: int = 0
    connect_failures: dict[str, int] = field(default_factory=dict)
    connect_seconds: float = math.nan
    setup_p99: float = math.nan
    events_sent: int = 0
    ingest_errors: int = 0
    ingest_ack_p50: float = math.nan
    ingest_seconds: float = math.nan
    lat_p50: float = math.nan
    lat_p99: float = math.nan
    lat_max: float = math.nan
    ev_p50_median: float = math.nan
    ev_p99_median: float = math.nan
    ev_p99_worst: float = math.nan
    ev_last_p50: float = math.nan
    ev_last_p99: float = math.nan
    ev_last_max: float = math.nan
    from_send_p99: float = math.nan
    lost: int = 0
    duplicates: int = 0
    subscription_errors: dict[str, int] = field(default_factory=dict)
    close_codes: dict[str, int] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    kib_per_subscription: float = math.nan
    server_cpu_seconds: float = math.nan
    server_cpu_per_event_ms: float = math.nan
    """From the first write until every subscriber has every event (none closed yet)."""
    server_cpu_with_closes_ms: float = math.nan
    """The same, until the subscribers have closed too (what the column measured before
    2026-12-05: 10,000 closes are about a fifth of it)."""
    client_cpu_share: float = math.nan
    extensions: dict[str, int] = field(default_factory=dict)  # negotiated -> sockets
    rss_closed_kib: list[int] = field(default_factory=list)  # after each round, none open
    rss_open_kib: list[int] = field(default_factory=list)  # each round, all open and idle
    per_event: list[dict[str, float]] = field(default_factory=list)
    error: str = ""
    log: str = ""


class Resources:
    """Everything the run started, torn down in reverse order even on failure."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stack = contextlib.ExitStack()

    def close(self) -> None:
        self.stack.close()


def stop_process_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the group ``process`` leads (started with ``start_new_session``), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def start_redis(resources: Resources) -> str:
    """A private redis-server on a free loopback port (pub/sub is global to a server, so a
    shared Redis would mix our channels with another run's)."""
    port = free_port()
    process = launch_redis(port, resources.workdir)
    resources.stack.callback(stop_process_group, process, 5.0)
    return f"redis://127.0.0.1:{port}"


def launch_redis(port: int, directory: Path) -> subprocess.Popen:
    """Start a redis-server on ``port`` (its own process group; no persistence) and return
    once it answers PING; the caller stops it (``stop_process_group``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: pass --redis-url")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1) as s,
        ):
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return process
        time.sleep(0.1)
    stop_process_group(process, 1.0)
    raise RuntimeError("private redis-server did not start")


def postgres_database(stack: contextlib.ExitStack, admin_url: str) -> str:
    from urllib.parse import urlparse, urlunparse

    parsed = urlparse(admin_url)
    name = f"inbox_graph_bench_{uuid.uuid4().hex[:10]}"
    psql = [
        "psql",
        "-h",
        parsed.hostname or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        "-d",
        "postgres",
        "-qc",
    ]
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, timeout=60)
    stack.callback(
        subprocess.run,
        [*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=False,
        timeout=60,
    )
    return urlunparse(parsed._replace(path=f"/{name}"))


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "graph.cli", *args],
        env=env,
        capture_output=True,
        check=False,  # the return code is read below
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"inbox-graph {args[0]} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    workers: int
    log: Path

    def pids(self) -> list[int]:
        """The processes that hold connections: the server itself, or its worker processes."""
        if self.workers == 1:
            return [self.process.pid]
        return [p for p in descendants(self.process.pid) if "resource_tracker" not in cmdline(p)]

    def rss_kib(self) -> int:
        return sum(rss_kib(p) for p in self.pids())

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p) for p in [self.process.pid, *descendants(self.process.pid)])


def start_server(
    stack: contextlib.ExitStack,
    env: dict[str, str],
    workers: int,
    workdir: Path,
    name: str,
    cpus: list[int] | None,
    port: int | None = None,
) -> Server:
    """``inbox-graph serve`` on ``port`` (a free one by default), logging to
    ``workdir/server-<name>.log``; returns once it is healthy with all its workers."""
    import httpx

    port = port or free_port()
    log = workdir / f"server-{name}.log"
    handle = open(log, "w")  # noqa: SIM115 - closed by the stack
    stack.callback(handle.close)
    command = [
        sys.executable,
        "-m",
        "graph.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    process = subprocess.Popen(
        command,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=pin,  # noqa: PLW1509 - sets the CPU affinity before exec; no threads yet
    )
    stack.callback(stop_process_group, process)
    server = Server(process, port, workers, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            if healthy and (workers == 1 or len(server.pids()) >= workers):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not become healthy; see {log}")


# --------------------------------------------------------------------------------------------
# one scenario


class GraphQLFailure(RuntimeError):
    pass


async def gql(
    http: Any,
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = response.json()
    if body.get("errors"):
        raise GraphQLFailure(json.dumps(body["errors"])[:400])
    return body["data"]


def distribute(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def recv_from(pipe: Any, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    ready = await loop.run_in_executor(None, pipe.poll, timeout)
    if not ready:
        raise TimeoutError("a subscriber process did not answer in time")
    return pipe.recv()


async def run_scenario(
    scenario: Scenario, args: argparse.Namespace, resources: Resources, redis_url: str | None
) -> Result:
    import httpx

    result = Result(scenario)
    with contextlib.ExitStack() as stack:
        if scenario.workers == 1 and not args.postgres_for_one_worker and scenario.mode != "node":
            database = f"sqlite://{resources.workdir / (scenario.name + '.db')}"
            broadcast = "memory://"
        else:
            database = postgres_database(stack, args.postgres_url)
            broadcast = redis_url or "memory://"
        result.database = database.split("://")[0] + " + " + broadcast.split("://")[0]
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "BROADCAST_URL": broadcast,
            "INBOX_GRAPH_ENV": "production",
            "INBOX_GRAPH_ALLOWED_ORIGINS": "*",
            "INBOX_GRAPH_SUBSCRIBER_QUEUE": str(args.queue),
            "INBOX_GRAPH_SHARED_FANOUT": "1" if scenario.mode == "shared" else "0",
            **UNTHROTTLED,
        }
        if args.ws_compression:
            env["INBOX_GRAPH_WS_COMPRESSION"] = args.ws_compression
        log(f"[{scenario.name}] database {result.database}: creating the workspace")
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
        server = start_server(
            stack,
            env,
            scenario.workers,
            resources.workdir,
            scenario.name,
            args.server_cpus if scenario.workers == 1 else None,
        )
        result.log = str(server.log)
        url = f"http://127.0.0.1:{server.port}/graphql"
        log(f"[{scenario.name}] serving on port {server.port} (pids {server.pids()})")
        if scenario.mode == "node":
            from bench.peers.reference import WithReference, start_reference

            reference = start_reference(
                stack, database, broadcast, resources.workdir, scenario.name
            )
            server = WithReference(server, reference)  # type: ignore[assignment]
            log(f"[{scenario.name}] the graphql-ws reference serves the sockets on {server.port}")

        http = httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=20, keepalive_expiry=2)
        )
        try:
            owner = (
                await gql(
                    http,
                    url,
                    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                    {"e": OWNER_EMAIL, "p": OWNER_PASSWORD},
                )
            )["login"]["token"]
            channel = (
                await gql(
                    http,
                    url,
                    'mutation { connectChannel(type: WEBCHAT, name: "Site chat") { id } }',
                    token=owner,
                )
            )["connectChannel"]["id"]
            integration = (
                await gql(
                    http,
                    url,
                    'mutation { createAccessToken(name: "bench") { token } }',
                    token=owner,
                )
            )["createAccessToken"]["token"]
            run_id = uuid.uuid4().hex[:8]

            async def ingest(index: int) -> dict[str, Any]:
                sent = time.time()
                data = await gql(
                    http,
                    url,
                    RECEIVE,
                    {
                        "i": {
                            "channelId": channel,
                            "from": f"bench-visitor-{run_id}",
                            "externalMessageId": f"bench-{run_id}-{index}",
                            "text": json.dumps({"bench": index, "sent": sent}),
                        }
                    },
                    token=integration,
                )
                message = data["receiveMessage"]["message"]
                return {
                    "index": index,
                    "id": message["id"],
                    "sent": sent,
                    "acked": time.time(),
                    "committed": parse_time(message["createdAt"]),
                }

            # warm up: one probe subscriber sees a message, whose sequence is the resume point
            # of every subscriber (so none misses an event, however late it registers)
            probe = await open_subscription(
                server.port, owner, SUBSCRIPTION, {"after": None}, client="plain", timeout=30
            )
            await asyncio.sleep(0.5)
            for attempt in range(3):
                await ingest(-1 - attempt)
                deadline = time.monotonic() + 10
                while not probe.frames and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                if probe.frames:
                    break
            else:
                raise RuntimeError("the probe subscriber received nothing")
            after = json.loads(probe.frames[0][1])["payload"]["data"]["newMessage"]["sequence"]
            probe.close()
            await asyncio.sleep(1.0)
            result.rss_before_kib = server.rss_kib()

            # subscribers
            pipes = await open_subscribers(stack, scenario, args, result, server.port, owner, after)
            await asyncio.sleep(args.settle)
            result.rss_idle_kib = server.rss_kib()
            result.rss_open_kib.append(result.rss_idle_kib)
            if result.opened:
                result.kib_per_subscription = (
                    result.rss_idle_kib - result.rss_before_kib
                ) / result.opened

            # ingestion at a steady rate (open loop: each write starts on schedule)
            profiler = None
            if args.profile:
                profiler = start_profiler(server, args, resources.workdir, scenario.name)
            cpu_start = server.cpu_seconds()
            log(f"[{scenario.name}] ingesting {args.events} messages at {args.rate:g}/s")
            started = time.monotonic()
            ingest_started = time.time()

            async def scheduled(index: int) -> dict[str, Any] | None:
                await asyncio.sleep(max(0.0, started + index / args.rate - time.monotonic()))
                try:
                    return await ingest(index)
                except (GraphQLFailure, httpx.HTTPError, ValueError) as exc:
                    log(f"[{scenario.name}] ingest {index} failed: {exc}")
                    return None

            writes = await asyncio.gather(*(scheduled(i) for i in range(args.events)))
            result.ingest_seconds = time.monotonic() - started
            written = [w for w in writes if w is not None]
            result.events_sent = len(written)
            result.ingest_errors = args.events - len(written)
            result.ingest_ack_p50 = percentile([w["acked"] - w["sent"] for w in written], 50)
            collect_deadline = time.time() + args.drain_timeout
            for pipe in pipes:
                pipe.send(("collect", len(written), collect_deadline, True))
            for pipe in pipes:
                kind, info = await recv_from(pipe, args.drain_timeout + 120)
                if kind != "collected":
                    raise RuntimeError(f"subscriber process failed: {info}")
            # every subscriber has its events (or the deadline passed), none closed yet
            result.server_cpu_seconds = server.cpu_seconds() - cpu_start
            if profiler is not None:
                stop_profiler(profiler)
            reports = []
            for pipe in pipes:
                pipe.send(("report",))
            for pipe in pipes:
                kind, info = await recv_from(pipe, args.drain_timeout + 120)
                if kind != "results":
                    raise RuntimeError(f"subscriber process failed: {info}")
                reports.append(info)
            closing_cpu = server.cpu_seconds() - cpu_start  # and the subscribers closing
            result.rss_after_kib = server.rss_kib()
            if written:
                result.server_cpu_per_event_ms = result.server_cpu_seconds / len(written) * 1000
                result.server_cpu_with_closes_ms = closing_cpu / len(written) * 1000
            summarise(result, written, reports, scenario.subscribers)
            window = max(r["ended_at"] for r in reports) - ingest_started
            result.client_cpu_share = sum(r["cpu_seconds"] for r in reports) / window
            await open_close_rounds(scenario, args, result, server, owner, after)
        finally:
            await http.aclose()
        log(
            f"[{scenario.name}] done: p99 {result.lat_p99:.3f} s, last-subscriber p50 "
            f"{result.ev_last_p50:.3f} s, lost {result.lost}, {result.kib_per_subscription:.1f} KiB/sub"
        )
    return result


async def open_subscribers(
    stack: contextlib.ExitStack,
    scenario: Scenario,
    args: argparse.Namespace,
    result: Result,
    port: int,
    token: str,
    after: int,
) -> list[Any]:
    """Start the subscriber processes and wait until they have opened ``scenario.subscribers``
    subscriptions; adds what they report to ``result``; returns their pipes."""
    procs_count = max(1, min(args.client_procs, scenario.subscribers))
    counts = distribute(scenario.subscribers, procs_count)
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for index, count in enumerate(counts):
        parent, child = ctx.Pipe()
        config = ClientConfig(
            index,
            port,
            token,
            count,
            after,
            args.connect_rate / procs_count,
            max(1, args.inflight // procs_count),
            args.setup_timeout,
            scenario.client,
            args.client_cpus,
        )
        process = ctx.Process(target=client_process, args=(child, config), daemon=True)
        process.start()
        pipes.append(parent)
        procs.append(process)

    def reap() -> None:
        for process in procs:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    stack.callback(reap)
    log(
        f"[{scenario.name}] opening {scenario.subscribers} subscriptions "
        f"({procs_count} processes, up to {args.connect_rate:g}/s)"
    )
    connect_budget = scenario.subscribers / args.connect_rate * 4 + 3 * args.setup_timeout + 60
    setup_times, opened, failed, seconds = [], 0, 0, 0.0
    extensions: collections.Counter[str] = collections.Counter()
    for pipe in pipes:
        kind, info = await recv_from(pipe, connect_budget)
        if kind != "ready":
            raise RuntimeError(f"subscriber process failed: {info}")
        opened += info["opened"]
        failed += info["failed"]
        for reason, n in info["failures"].items():
            result.connect_failures[reason] = result.connect_failures.get(reason, 0) + n
        extensions.update(info["extensions"])
        setup_times.append(info["setup_p99"])
        seconds = max(seconds, info["connect_seconds"])
    if not result.opened:  # the first round's figures are the scenario's
        result.opened, result.failed_to_open, result.connect_seconds = opened, failed, seconds
        result.setup_p99 = max((t for t in setup_times if not math.isnan(t)), default=math.nan)
        result.extensions = dict(extensions)
    log(
        f"[{scenario.name}] {opened} open, {failed} failed, in {seconds:.1f} s; "
        f"negotiated {dict(extensions)}; settling {args.settle:g} s"
    )
    return pipes


async def close_subscribers(pipes: list[Any]) -> None:
    """Have the subscriber processes close all their sockets (they exit afterwards)."""
    for pipe in pipes:
        pipe.send(("close",))
    for pipe in pipes:
        kind, info = await recv_from(pipe, 120)
        if kind != "closed":
            raise RuntimeError(f"subscriber process failed: {info}")


async def open_close_rounds(
    scenario: Scenario,
    args: argparse.Namespace,
    result: Result,
    server: Server,
    token: str,
    after: int,
) -> None:
    """RSS with none open after the first round (its subscribers have just closed), then
    ``--rounds`` - 1 more rounds of opening every subscriber, idling, and closing them all:
    the server must give the memory back, not ratchet up round after round."""
    await asyncio.sleep(args.settle)
    result.rss_closed_kib.append(server.rss_kib())
    log(f"[{scenario.name}] round 1 closed: RSS {result.rss_closed_kib[-1] / 1024:.0f} MiB")
    for round_number in range(2, args.rounds + 1):
        with contextlib.ExitStack() as stack:
            pipes = await open_subscribers(stack, scenario, args, result, server.port, token, after)
            await asyncio.sleep(args.settle)
            result.rss_open_kib.append(server.rss_kib())
            await close_subscribers(pipes)
        await asyncio.sleep(args.settle)
        result.rss_closed_kib.append(server.rss_kib())
        log(
            f"[{scenario.name}] round {round_number}: RSS open {result.rss_open_kib[-1] / 1024:.0f} MiB, "
            f"closed {result.rss_closed_kib[-1] / 1024:.0f} MiB"
        )


def summarise(
    result: Result, written: list[dict[str, Any]], reports: list[dict[str, Any]], wanted: int
) -> None:
    deliveries: dict[str, list[float]] = collections.defaultdict(list)
    for report in reports:
        for message_id, times in report["deliveries"].items():
            deliveries[message_id].extend(times)
        result.duplicates += report["duplicates"]
        for reason, n in report["errors"].items():
            result.subscription_errors[reason] = result.subscription_errors.get(reason, 0) + n
        for code, n in report["close_codes"].items():
            result.close_codes[str(code)] = result.close_codes.get(str(code), 0) + n
    pooled, from_send = [], []
    received = 0
    for write in written:
        times = deliveries.get(write["id"], [])
        received += len(times)
        latencies = sorted(t - write["committed"] for t in times)
        pooled.extend(latencies)
        from_send.extend(t - write["sent"] for t in times)
        result.per_event.append(
            {
                "index": write["index"],
                "received": len(times),
                "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99),
                "last": latencies[-1] if latencies else math.nan,
                "ack": write["acked"] - write["sent"],
            }
        )
    result.lost = wanted * len(written) - received
    result.lat_p50, result.lat_p99 = percentile(pooled, 50), percentile(pooled, 99)
    result.lat_max = max(pooled, default=math.nan)
    result.from_send_p99 = percentile(from_send, 99)
    events = [e for e in result.per_event if e["received"]]
    result.ev_p50_median = percentile([e["p50"] for e in events], 50)
    result.ev_p99_median = percentile([e["p99"] for e in events], 50)
    result.ev_p99_worst = max((e["p99"] for e in events), default=math.nan)
    lasts = [e["last"] for e in events]
    result.ev_last_p50, result.ev_last_p99 = percentile(lasts, 50), percentile(lasts, 99)
    result.ev_last_max = max(lasts, default=math.nan)


def start_profiler(
    server: Server, args: argparse.Namespace, workdir: Path, name: str
) -> subprocess.Popen | None:
    spy = shutil.which("py-spy")
    if spy is None:
        log("py-spy not found: no profile")
        return None
    target = server.pids()[0]
    output = Path(args.profile) / f"{name}.txt"
    output.parent.mkdir(parents=True, exist_ok=True)
    duration = int(args.events / args.rate + args.drain_timeout + 5)
    log(f"profiling pid {target} into {output}")
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(target),
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(duration),
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_profiler(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        stop_process_group(process, 1)


# --------------------------------------------------------------------------------------------
# report


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f}"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def find(
    results: list[Result], mode: str, workers: int, subscribers: int, client: str = "plain"
) -> Result | None:
    for r in results:
        s = r.scenario
        if (s.mode, s.client, s.workers, s.subscribers) == (
            mode,
            client,
            workers,
            subscribers,
        ) and not r.error:
            return r
    return None


def targets(results: list[Result]) -> list[tuple[str, str, str]]:
    checks = []
    label = f"{TARGET_P99_SUBSCRIBERS:,} subscribers on 1 worker, p99 <= {TARGET_P99_SECONDS:g} s"
    bigs = [
        r for r in (find(results, "shared", 1, TARGET_P99_SUBSCRIBERS, c) for c in CLIENTS) if r
    ]
    if not bigs:
        checks.append((label, "NOT RUN", "run with --subscribers 10000 --workers 1"))
    for big in bigs:
        ok = (
            big.lat_p99 <= TARGET_P99_SECONDS
            and big.lost == 0
            and big.opened == TARGET_P99_SUBSCRIBERS
        )
        checks.append(
            (
                f"{label} ({big.scenario.client} clients)",
                "PASS" if ok else "FAIL",
                (
                    f"p99 {ms(big.lat_p99)} ms over all deliveries (worst event's p99 "
                    f"{ms(big.ev_p99_worst)} ms), {big.opened:,} open, lost {big.lost}"
                ),
            )
        )
    shared = find(results, "shared", 1, TARGET_SPEEDUP_SUBSCRIBERS)
    naive = find(results, "naive", 1, TARGET_SPEEDUP_SUBSCRIBERS)
    label = f">= {TARGET_SPEEDUP:g}x faster than the naive baseline at {TARGET_SPEEDUP_SUBSCRIBERS:,} subscribers"
    if shared is None or naive is None:
        checks.append(
            (label, "NOT RUN", "needs --subscribers 1000 --workers 1 --baseline-subscribers 1000")
        )
    else:
        # both must hold: latency alone flatters the shared path once the baseline saturates
        # (its queue grows with every event), server CPU per event does not depend on the rate
        speedup = naive.ev_last_p50 / shared.ev_last_p50
        cpu = naive.server_cpu_per_event_ms / shared.server_cpu_per_event_ms
        checks.append(
            (
                label,
                "PASS" if min(speedup, cpu) >= TARGET_SPEEDUP else "FAIL",
                (
                    f"{speedup:.1f}x on the median event's last delivery ({ms(naive.ev_last_p50)} vs "
                    f"{ms(shared.ev_last_p50)} ms) and {cpu:.1f}x on server CPU per event "
                    f"({naive.server_cpu_per_event_ms:.0f} vs {shared.server_cpu_per_event_ms:.0f} ms)"
                ),
            )
        )
    ours = [r for r in results if r.scenario.mode != "node"]  # the reference's are its own
    measured = [r for r in ours if not r.error and not math.isnan(r.kib_per_subscription)]
    if not measured:
        checks.append(
            (f"<= {TARGET_KB_PER_SUBSCRIPTION:g} KB per idle subscription", "NOT RUN", "")
        )
    else:
        worst = max(measured, key=lambda r: r.kib_per_subscription)
        checks.append(
            (
                f"<= {TARGET_KB_PER_SUBSCRIPTION:g} KB per idle subscription",
                "PASS"
                if worst.kib_per_subscription * 1.024 <= TARGET_KB_PER_SUBSCRIPTION
                else "FAIL",
                f"worst {worst.kib_per_subscription * 1.024:.1f} KB ({worst.scenario.name})",
            )
        )
    label = (
        f"open/close rounds do not ratchet RSS (none open: last round within "
        f"{TARGET_RATCHET_SHARE:.0%} of one round's subscribers, or {TARGET_RATCHET_MIB} MiB per "
        f"worker, of the first)"
    )
    rounds = [r for r in ours if not r.error and len(r.rss_closed_kib) >= 2]
    if not rounds:
        checks.append((label, "NOT RUN", "run with --rounds 3"))
    else:
        details, ok = [], True
        for r in rounds:
            growth = r.rss_closed_kib[-1] - r.rss_closed_kib[0]
            allowed = max(
                TARGET_RATCHET_SHARE * (r.rss_idle_kib - r.rss_before_kib),
                TARGET_RATCHET_MIB * 1024 * r.scenario.workers,
            )
            ok = ok and growth <= allowed
            details.append(f"{r.scenario.name} {growth / 1024:+.0f} MiB")
        checks.append((label, "PASS" if ok else "FAIL", ", ".join(details)))
    ran = [r for r in ours if not r.error]
    lost = sum(r.lost for r in ran) + sum(r.duplicates for r in ran)
    checks.append(
        (
            "no event lost or duplicated",
            "PASS" if ran and lost == 0 else ("FAIL" if ran else "NOT RUN"),
            f"{sum(r.lost for r in ran)} lost, {sum(r.duplicates for r in ran)} duplicated",
        )
    )
    failed = [r.scenario.name for r in results if r.error]
    if failed:
        checks.append(("every scenario completed", "FAIL", ", ".join(failed)))
    return checks


def report(results: list[Result], args: argparse.Namespace) -> str:
    out = []
    latency_rows, resource_rows = [], []
    for r in results:
        s = r.scenario
        if r.error:
            latency_rows.append(
                [s.mode, s.client, s.workers, f"{s.subscribers:,}", "error: " + r.error[:90]]
                + [""] * 11
            )
            continue
        latency_rows.append(
            [
                s.mode,
                s.client,
                s.workers,
                f"{r.opened:,}/{s.subscribers:,}",
                f"{r.events_sent}@{args.rate:g}/s",
                ms(r.lat_p50),
                ms(r.lat_p99),
                ms(r.lat_max),
                ms(r.ev_p50_median),
                ms(r.ev_p99_median),
                ms(r.ev_p99_worst),
                ms(r.ev_last_p50),
                ms(r.ev_last_p99),
                ms(r.ev_last_max),
                r.lost,
                r.duplicates,
            ]
        )
        resource_rows.append(
            [
                s.mode,
                s.client,
                s.workers,
                f"{s.subscribers:,}",
                r.database,
                f"{r.rss_before_kib / 1024:.0f}",
                f"{r.rss_idle_kib / 1024:.0f}",
                f"{r.rss_after_kib / 1024:.0f}",
                f"{r.kib_per_subscription * 1.024:.1f}",
                "-"
                if math.isnan(r.server_cpu_per_event_ms)
                else f"{r.server_cpu_per_event_ms:.0f}",
                "-"
                if math.isnan(r.server_cpu_with_closes_ms)
                else f"{r.server_cpu_with_closes_ms:.0f}",
                "-" if math.isnan(r.client_cpu_share) else f"{r.client_cpu_share * 100:.0f}%",
                f"{r.connect_seconds:.0f}",
                ms(r.setup_p99),
                ms(r.ingest_ack_p50),
            ]
        )
    out.append(
        "Latency from the write's commit to delivery, ms (all = over every (event, subscriber) "
        "delivery; per event = that event's p50/p99/last subscriber, summarised over events)"
    )
    out.append(
        table(
            latency_rows,
            [
                "mode",
                "client",
                "workers",
                "subscribers",
                "events",
                "all p50",
                "all p99",
                "all max",
                "ev p50 (med)",
                "ev p99 (med)",
                "ev p99 (worst)",
                "last (p50)",
                "last (p99)",
                "last (max)",
                "lost",
                "dup",
            ],
        )
    )
    out.append("")
    out.append("Resources (RSS of the server process, or the sum of its workers; KB = 1000 bytes)")
    out.append(
        table(
            resource_rows,
            [
                "mode",
                "client",
                "workers",
                "subscribers",
                "backends",
                "RSS before MiB",
                "RSS idle MiB",
                "RSS after MiB",
                "KB/idle sub",
                "server CPU ms/event",
                "with closes",
                "client CPU",
                "connect s",
                "setup p99 ms",
                "write ack p50 ms",
            ],
        )
    )
    out.append("")
    out.append("Negotiated Sec-WebSocket-Extensions (sockets of the first round)")
    for r in results:
        if not r.error:
            out.append(
                f"  {r.scenario.name}: "
                + "; ".join(f"{e!r} x {n:,}" for e, n in r.extensions.items())
            )
    rounds = [r for r in results if not r.error and r.rss_closed_kib]
    if rounds:
        out.append("")
        out.append(
            f"Open/close rounds: server RSS MiB with all open and idle / with none open "
            f"(--settle {args.settle:g} s after closing), per round"
        )
        count = max(len(r.rss_closed_kib) for r in rounds)
        rows = []
        for r in rounds:
            cells = [
                f"{o / 1024:.0f} / {c / 1024:.0f}" for o, c in zip(r.rss_open_kib, r.rss_closed_kib)
            ]
            rows.append(
                [
                    r.scenario.name,
                    f"{r.rss_before_kib / 1024:.0f}",
                    *cells,
                    *[""] * (count - len(cells)),
                ]
            )
        out.append(table(rows, ["scenario", "before", *(f"round {i + 1}" for i in range(count))]))
    problems = [
        r
        for r in results
        if r.connect_failures or r.subscription_errors or r.close_codes or r.ingest_errors
    ]
    for r in problems:
        out.append(
            f"  {r.scenario.name}: connect failures {r.connect_failures or '-'}; subscription errors "
            f"{r.subscription_errors or '-'}; close codes {r.close_codes or '-'}; ingest errors {r.ingest_errors}"
        )
    out.append("")
    out.append("Targets (2-core machine)")
    for label, verdict, detail in targets(results):
        out.append(f"  [{verdict:<7}] {label}: {detail}")
    out.append("")
    out.append("Reproduce with:")
    out.append("  " + reproduce(args))
    return "\n".join(out)


def reproduce(args: argparse.Namespace) -> str:
    parts = [
        "python",
        "-m",
        "bench.fanout",
        "--subscribers",
        *map(str, args.subscribers),
        "--workers",
        *map(str, args.workers),
        "--events",
        str(args.events),
        "--rate",
        f"{args.rate:g}",
        "--baseline-subscribers",
        *map(str, args.baseline_subscribers),
        "--client-procs",
        str(args.client_procs),
        "--connect-rate",
        f"{args.connect_rate:g}",
        "--drain-timeout",
        f"{args.drain_timeout:g}",
        "--settle",
        f"{args.settle:g}",
    ]
    parts += ["--clients", *args.clients]
    if args.rounds != 1:
        parts += ["--rounds", str(args.rounds)]
    if args.ws_compression:
        parts += ["--ws-compression", args.ws_compression]
    if args.server_cpus:
        parts += ["--server-cpus", ",".join(map(str, args.server_cpus))]
    if args.client_cpus:
        parts += ["--client-cpus", ",".join(map(str, args.client_cpus))]
    if args.postgres_for_one_worker:
        parts.append("--postgres-for-one-worker")
    if args.node_subscribers:
        parts += ["--node-subscribers", *map(str, args.node_subscribers)]
    return (
        "cd " + shlex.quote(str(Path(__file__).resolve().parents[1])) + " && " + shlex.join(parts)
    )


# --------------------------------------------------------------------------------------------
# main


def cpu_list(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, nargs="+", default=[1000, 5000, 10000])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--events", type=int, default=20, help="messages ingested per scenario")
    p.add_argument("--rate", type=float, default=1.0, help="messages per second")
    p.add_argument(
        "--baseline-subscribers",
        type=int,
        nargs="*",
        default=[1000],
        help="subscriber counts of the naive baseline (1 worker); none to skip it",
    )
    p.add_argument(
        "--node-subscribers",
        type=int,
        nargs="*",
        default=[],
        help="subscriber counts served by the Node graphql-ws reference (bench/peers/graphql-ws; "
        "PostgreSQL and a private Redis, plain client); none by default",
    )
    p.add_argument("--client-procs", type=int, default=2, help="subscriber processes")
    p.add_argument(
        "--connect-rate", type=float, default=500.0, help="new connections per second, in all"
    )
    p.add_argument("--inflight", type=int, default=100, help="connection setups in flight, in all")
    p.add_argument("--setup-timeout", type=float, default=30.0, help="seconds per connection setup")
    p.add_argument("--settle", type=float, default=5.0, help="idle seconds before measuring memory")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds after the last write to wait for every delivery",
    )
    p.add_argument("--queue", type=int, default=1000, help="INBOX_GRAPH_SUBSCRIBER_QUEUE")
    p.add_argument(
        "--clients",
        nargs="+",
        choices=CLIENTS,
        default=list(CLIENTS),
        help="subscriber handshakes to run every scenario with: plain (no extension "
        "offered) and/or browser (Chromium's headers, permessage-deflate offered, "
        "data frames compressed when the server accepts)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="open and close the subscribers this many times per scenario (the first "
        "with the events), reading the server's RSS after each with none open",
    )
    p.add_argument(
        "--ws-compression",
        default=None,
        help="INBOX_GRAPH_WS_COMPRESSION of the served API (default: the API's default)",
    )
    p.add_argument(
        "--server-cpus", type=cpu_list, default=None, help="pin a 1-worker server, e.g. 0"
    )
    p.add_argument(
        "--client-cpus", type=cpu_list, default=None, help="pin the subscriber processes, e.g. 1"
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server for multi-worker runs (a fresh database is created and dropped)",
    )
    p.add_argument(
        "--redis-url", default=None, help="use this Redis instead of a private redis-server"
    )
    p.add_argument(
        "--postgres-for-one-worker", action="store_true", help="PostgreSQL + Redis for 1 worker too"
    )
    p.add_argument(
        "--profile", metavar="DIR", default=None, help="py-spy raw profiles of the server into DIR"
    )
    p.add_argument("--json", metavar="FILE", default=None, help="also write every figure as JSON")
    p.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, SQLite files)"
    )
    return p


def scenarios_for(args: argparse.Namespace) -> list[Scenario]:
    planned = [
        Scenario(w, n, "shared", c)
        for w in args.workers
        for n in args.subscribers
        for c in args.clients
    ]
    # the baseline is about fan-out CPU, with the plain client (as its figures always were)
    planned += [Scenario(1, n, "naive") for n in args.baseline_subscribers]
    planned += [Scenario(1, n, "node") for n in args.node_subscribers]
    return sorted(
        planned,
        key=lambda s: (s.workers, s.subscribers, s.mode != "shared", CLIENTS.index(s.client)),
    )


async def amain(args: argparse.Namespace) -> list[Result]:
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="inbox-graph-fanout-"))
    resources = Resources(workdir)
    if not args.keep:
        resources.stack.callback(shutil.rmtree, workdir, True)
    results: list[Result] = []
    try:
        plan = scenarios_for(args)
        redis_url = args.redis_url
        if redis_url is None and (
            args.postgres_for_one_worker or any(s.workers > 1 or s.mode == "node" for s in plan)
        ):
            redis_url = start_redis(resources)
        log(f"work directory {workdir}; {len(plan)} scenarios: {', '.join(s.name for s in plan)}")
        for scenario in plan:
            try:
                results.append(await run_scenario(scenario, args, resources, redis_url))
            except Exception as exc:  # noqa: BLE001 - reported in the table; go on with the next
                log(f"[{scenario.name}] FAILED: {type(exc).__name__}: {exc}")
                results.append(Result(scenario, error=f"{type(exc).__name__}: {exc}"))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        resources.close()
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = asyncio.run(amain(args))
    print(report(results, args))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": reproduce(args),
                    "results": [asdict(r) for r in results],
                    "targets": [
                        {"target": t, "verdict": v, "detail": d} for t, v, d in targets(results)
                    ],
                },
                indent=1,
                default=str,
            )
        )
    verdicts = [v for _, v, _ in targets(results)]
    return 1 if "FAIL" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())

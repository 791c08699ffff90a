"""Black-box clients: GraphQL over HTTP (httpx) and over graphql-transport-ws (websockets),
a served app in a subprocess (``inbox-graph serve``), and the helpers every test module
shares (ingesting a message, fresh phone numbers, opaque ids and cursors)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import itertools
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import websockets
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    """A running ``inbox-graph serve`` process."""

    process: subprocess.Popen
    port: int
    env: dict[str, str]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def log_path(self) -> str:
        """The file the server writes its log to (stdout and stderr)."""
        return log_path(self.env, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``inbox-graph <args>`` with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
    )


def log_path(env: dict[str, str], port: int | str) -> str:
    """Where the server on ``port`` started with ``env`` writes its log (``TEST_LOG_DIR``);
    ``"*"``: the pattern of every server's."""
    return os.path.join(env.get("TEST_LOG_DIR", "/tmp"), f"inbox-graph-{port}.log")


def server_logs(env: dict[str, str], lines: int = 40) -> str:
    """The last ``lines`` lines of the log of every server started with ``env``'s
    ``TEST_LOG_DIR`` (a session's servers share one database): what an assertion about
    background work (webhook deliveries, ring timeouts) shows when it fails."""
    said = []
    for path in sorted(glob.glob(log_path(env, "*"))):
        with open(path, errors="replace") as log:
            tail = log.readlines()[-lines:]
        said.append(f"== {os.path.basename(path)}\n{''.join(tail) or '(empty)'}")
    return "\n".join(said) or f"no server log matches {log_path(env, '*')}"


def serve(env: dict[str, str], *extra: str) -> Served:
    """Start the API on a free loopback port and wait until ``/healthz`` answers."""
    port = free_port()
    full_env = {**os.environ, **env}
    log = open(log_path(env, port), "w")  # noqa: SIM115 - the server process writes it until it stops
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graph.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Served(process, port, env)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become healthy")


class GraphQLError(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(json.dumps(errors, indent=1))
        self.errors = errors

    @property
    def codes(self) -> list[str | None]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class Client:
    """GraphQL over HTTP as one user (or anonymous)."""

    def __init__(
        self, served: Served, token: str | None = None, http: httpx.AsyncClient | None = None
    ) -> None:
        """``http``: the client to send with (e.g. one on ``httpx.ASGITransport``, to an app
        in the test process); by default one of its own, to ``served``."""
        self.served = served
        self.token = token
        # uvicorn closes a keep-alive connection idle for 5 s; reusing one at that moment fails
        # the request (a reset), so this client lets its idle connections go sooner
        self.http = http or httpx.AsyncClient(timeout=30, limits=httpx.Limits(keepalive_expiry=2))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            self.served.http_url,
            json={"query": query, "variables": variables or {}},
            headers=self.headers(),
        )

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The full response body (``data`` and ``errors``)."""
        response = await self.raw(query, variables)
        assert response.status_code in (200, 400), response.text
        return response.json()

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """``data`` of a successful operation; raises :class:`GraphQLError` otherwise."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    async def error_codes(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        body = await self.execute(query, variables)
        assert body.get("errors"), f"expected an error, got {body}"
        return [e.get("extensions", {}).get("code") for e in body["errors"]]

    async def aclose(self) -> None:
        await self.http.aclose()


class Subscription:
    """One graphql-transport-ws subscription on its own socket."""

    def __init__(self, socket: Any, operation_id: str, early: list[dict] | None = None) -> None:
        self.socket = socket
        self.operation_id = operation_id
        self.early = early or []
        """Payloads that arrived before the subscription was known started (a replay)."""

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``next`` payload (raises on ``error``/``complete`` or timeout)."""
        if self.early:
            return self.early.pop(0)
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
            if message["type"] == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "pong":
                continue
            if message.get("id") != self.operation_id:
                continue
            if message["type"] == "next":
                if message["payload"].get("errors"):
                    raise GraphQLError(message["payload"]["errors"])
                return message["payload"]
            raise AssertionError(f"subscription ended: {message}")

    async def nothing(self, within: float = 0.7) -> None:
        """Assert that no event arrives within ``within`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            payload = await self.next(timeout=within)
            raise AssertionError(f"unexpected event: {payload}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.send(json.dumps({"id": self.operation_id, "type": "complete"}))
        with contextlib.suppress(Exception):
            await self.socket.close()


async def connect_ws(
    served: Served,
    token: str | None,
    *,
    origin: str | None = None,
    payload: Any = "default",
    **options: Any,
):
    """Open a graphql-transport-ws socket and send ``connection_init`` with the token.

    ``options`` go to ``websockets.connect``; by default it offers permessage-deflate exactly
    as Chromium does (``permessage-deflate; client_max_window_bits``)."""
    headers = {"Origin": origin} if origin else None
    socket = await websockets.connect(
        served.ws_url,
        subprotocols=["graphql-transport-ws"],
        additional_headers=headers,
        open_timeout=10,
        **options,
    )
    init_payload = {"authorization": f"Bearer {token}"} if payload == "default" else payload
    await socket.send(json.dumps({"type": "connection_init", "payload": init_payload}))
    return socket


async def subscribe(
    served: Served,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    payload_extensions: dict[str, Any] | None = None,
    **options: Any,
) -> Subscription:
    """Connect, authenticate and start one subscription; returns once acknowledged
    (``payload_extensions``: the ``subscribe`` payload's ``extensions``, e.g. a
    ``persistedQuery``; ``options``: see :func:`connect_ws`, ``extensions`` among them:
    the WebSocket's)."""
    socket = await connect_ws(served, token, **options)
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    operation_id = uuid.uuid4().hex
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if payload_extensions is not None:
        payload["extensions"] = payload_extensions
    await socket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
    # the server has registered the subscription once a ping round-trips after it; its first
    # events may come before the pong (a replay with afterSequence; a subscription that sends
    # its current state at once, inboxSidebarChanged, on a loaded machine): they are kept, in
    # order
    await socket.send(json.dumps({"type": "ping"}))
    early = []
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] == "pong":
            break
        if message.get("id") == operation_id:
            if message["type"] == "error":
                raise GraphQLError(message["payload"])
            if message["type"] == "next" and message["payload"].get("errors"):
                raise GraphQLError(message["payload"]["errors"])
            if message["type"] == "next":
                early.append(message["payload"])
                continue
            raise AssertionError(f"unexpected message before the subscription started: {message}")
    await asyncio.sleep(0.15)
    return Subscription(socket, operation_id, early)


class RawWebSocket:
    """A bare-bones blocking WebSocket client over a plain socket with a small, fixed receive
    buffer: it reads nothing until asked, so a server writing to it really fills up (client
    libraries read ahead into memory). For back-pressure tests, and for frame bits no client
    library shows (``headers``: extra handshake lines; :attr:`compressed`)."""

    def __init__(self, served: Served, *, receive_buffer: int = 8192, headers: str = "") -> None:
        import base64
        import os
        import socket as stdlib_socket

        self.sock = stdlib_socket.socket()
        self.sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(15)
        self.sock.connect(("127.0.0.1", served.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n{headers}\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response
        self.response = response.decode("latin-1")
        self.buffer = b""
        self.compressed = False  # whether the last frame read had RSV1 (permessage-deflate) set

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(json.dumps(message).encode())

    def send_frame(self, data: bytes, *, deflated: bool = False, opcode: int = 1) -> None:
        """One masked, unfragmented frame (``opcode``: 1 text, 9 ping) carrying ``data`` as is;
        ``deflated`` sets RSV1 (``data`` is then a permessage-deflate body, without its
        ``00 00 ff ff`` tail)."""
        import os

        mask = os.urandom(4)
        length = len(data)
        if length < 126:
            size = bytes([0x80 | length])
        elif length < 1 << 16:
            size = bytes([0x80 | 126]) + length.to_bytes(2, "big")
        else:
            size = bytes([0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        first = 0x80 | (0x40 if deflated else 0) | opcode
        self.sock.sendall(bytes([first]) + size + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload (1 text, 8 close: payload starts with the code).

        The server's keep-alive pings (opcode 9) are skipped, unanswered, like a client that
        stopped reading would.
        """
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            opcode, payload = first & 0x0F, self._read(length)
            self.compressed = bool(first & 0x40)
            if opcode != 9:
                return opcode, payload

    def close(self) -> None:
        self.sock.close()


class PrivatePostgres:
    """A PostgreSQL cluster of the tests' own (the machine's binaries, a temporary data
    directory, a free loopback port), so a test can stop and restart it without disturbing
    anything else. As root, the server runs as the ``postgres`` user (``initdb`` refuses root),
    in a directory of its own under the system's temporary folder (pytest's are private to
    root)."""

    def __init__(self) -> None:
        import glob
        import shutil
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
        if not found or not found[-1]:
            raise RuntimeError("PostgreSQL's initdb is not installed")
        self.bin = os.path.dirname(found[-1])
        self.directory = tempfile.mkdtemp(prefix="inbox-graph-pg-")
        self.data = os.path.join(self.directory, "data")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.directory, "postgres")
        self._run(
            "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        self.start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, os.path.join(self.bin, tool), *args],
            capture_output=True,
            check=False,  # the return code is read below
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            os.path.join(self.directory, "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as if it crashed)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


NEW_MESSAGE = """subscription($inbox: InboxSelector, $after: Int) {
  newMessage(inbox: $inbox, afterSequence: $after) {
    sequence
    message { id text }
    conversation { contact { name } }
  } }"""

NODE_CONTACT = "query($id: ID!) { node(id: $id) { id ... on Contact { name assignee { id } } } }"


def global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


RECEIVE = """
mutation($i: ReceiveMessageInput!) {
  receiveMessage(input: $i) {
    duplicate
    message { id text direction }
    conversation { id status }
    contact { id name }
  }
}"""


async def receive(world, contact: str, text: str, client: Client | None = None) -> dict:
    """An inbound webchat message from the world's contact ``contact`` (``visitor-<contact>``),
    ingested with ``client`` or the world's integration token; ``receiveMessage``'s payload."""
    own = client is None
    client = client or world.client("integration")
    try:
        data = await client(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WEBCHAT"],
                    "from": f"visitor-{contact}",
                    "externalMessageId": uuid.uuid4().hex,
                    "text": text,
                }
            },
        )
    finally:
        if own:
            await client.aclose()
    return data["receiveMessage"]


_numbers = itertools.count(random.randrange(0, 900_000, 1000))


def new_number() -> str:
    """A fresh valid UK mobile number in E.164, never the same twice in a test run (the 07400
    range is allocated throughout)."""
    return f"+447400{next(_numbers):06d}"


async def open_socket(served, token: str):
    """An acknowledged graphql-transport-ws socket."""
    socket = await connect_ws(served, token)
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    return socket


async def close_code(socket, timeout: float = 10.0) -> int | None:
    """The code the server closes ``socket`` with, the frames before it read (fails if no
    frame or close comes within ``timeout`` seconds); ``None`` for a close without a frame."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), timeout)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def ws_operation(
    socket, query: str, variables: dict | None = None, timeout: float = 5.0
) -> dict:
    """Run one query/mutation over an open socket.

    Returns ``{"closed": code}`` when the server closed the socket, else
    ``{"payload": <first next payload or error list>}``.
    """
    operation_id = uuid.uuid4().hex
    try:
        await socket.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            if message.get("id") != operation_id:
                continue
            if message["type"] == "next":
                return {"payload": message["payload"]}
            if message["type"] == "error":
                return {"payload": {"errors": message["payload"]}}
            if message["type"] == "complete":
                return {"payload": {}}
    except websockets.ConnectionClosed as closed:
        return {"closed": closed.rcvd.code if closed.rcvd else None}


def rejected(outcome: dict) -> bool:
    """The server refused: closed the socket with an auth code, or answered UNAUTHENTICATED
    with no data."""
    if "closed" in outcome:
        return outcome["closed"] in (4401, 4403, 4400, 1008)
    payload = outcome["payload"]
    codes = [e.get("extensions", {}).get("code") for e in payload.get("errors") or []]
    data = payload.get("data")
    return "UNAUTHENTICATED" in codes and not any((data or {}).values())


def sql(database_url: str, statement: str) -> Any:
    """Run one SQL statement straight on the test database (SQLite file or PostgreSQL, through
    ``psql``); the first value of its first row, or ``None``. For checking what was stored and
    for planting what the API cannot write (a hash made with older parameters)."""
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as db:
            row = db.execute(statement).fetchone()
            return row[0] if row else None
    parsed = urlparse(database_url)
    out = subprocess.run(
        [
            "psql",
            "-h",
            parsed.hostname or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            "-d",
            parsed.path.lstrip("/"),
            "-qtAc",
            statement,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not out:
        return None
    return int(out) if out.lstrip("-").isdigit() else out


@contextlib.asynccontextmanager
async def models_on(config: str | dict[str, Any], *, every_task: bool = False):
    """tortoise's models connected in this process to a database URL (or a tortoise config),
    closed on exit. tortoise caches each table's insert statement per process whatever the
    database it was built for: a SQLite one reused on PostgreSQL is a syntax error, so the
    cache is emptied both ways (a test process may meet both). ``every_task``: reachable from
    tasks started with a fresh context too (``graph.live.SharedReads``' loads), as in the
    served app (``RegisterTortoise``)."""
    from db.config import tortoise_config

    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        config=tortoise_config(config) if isinstance(config, str) else config,
        _enable_global_fallback=every_task,
    )
    try:
        yield
    finally:
        await Tortoise.close_connections()
        EXECUTOR_CACHE.clear()

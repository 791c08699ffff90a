"""The Node graphql-ws reference server (``bench/peers/graphql-ws/server.mjs``), started for
``bench.fanout`` (``--node-subscribers``) and ``bench.storm`` (``--node``).

It serves the WebSocket side only: inbox-graph (the same database, the same private Redis)
still takes the writes, publishes their events on its Redis channel, and keeps the outbox
the reference replays ``afterSequence`` from. Its dependencies are pinned by
``bench/peers/graphql-ws/package-lock.json`` (``npm ci`` there when ``node_modules`` is
missing).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from db.config import database_name

HERE = Path(__file__).resolve().parent / "graphql-ws"


@dataclass
class ReferenceServer:
    """The Node process and its port; measured like ``bench.fanout.Server`` (one process)."""

    process: subprocess.Popen
    port: int
    log: Path

    def pids(self) -> list[int]:
        return [self.process.pid]

    def rss_kib(self) -> int:
        from bench.fanout import rss_kib

        return rss_kib(self.process.pid)

    def cpu_seconds(self) -> float:
        from bench.fanout import cpu_seconds

        return cpu_seconds(self.process.pid)


@dataclass
class WithReference:
    """inbox-graph taking the writes and the reference serving the sockets, as one server for
    the harness: ``port`` is the reference's (where subscribers connect), memory and CPU are
    both processes' (the writes and their publication are part of each event's cost)."""

    graph: object  # bench.fanout.Server
    reference: ReferenceServer

    @property
    def port(self) -> int:
        return self.reference.port

    @property
    def log(self) -> Path:
        return self.reference.log

    @property
    def workers(self) -> int:
        return 1

    def pids(self) -> list[int]:
        return self.reference.pids()  # the profiler's target: the process holding the sockets

    def rss_kib(self) -> int:
        return self.graph.rss_kib() + self.reference.rss_kib()  # type: ignore[attr-defined]

    def cpu_seconds(self) -> float:
        return self.graph.cpu_seconds() + self.reference.cpu_seconds()  # type: ignore[attr-defined]


def npm_ci() -> None:
    from bench.fanout import log

    if not (HERE / "node_modules" / "graphql-ws").exists():
        log("npm ci (bench/peers/graphql-ws) ...")
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def start_reference(
    stack: contextlib.ExitStack, database_url: str, redis_url: str, workdir: Path, name: str
) -> ReferenceServer:
    """Start the reference on a free port for inbox-graph's PostgreSQL ``database_url`` and
    Redis ``redis_url`` (the channel namespace is inbox-graph's default: the database's name);
    returns once ``/healthz`` answers. Raises RuntimeError if it exits or does not answer in
    60 seconds."""
    import httpx

    from bench.fanout import free_port, stop_process_group

    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url.startswith(
        "redis"
    ):
        raise RuntimeError("the graphql-ws reference needs PostgreSQL and Redis")
    npm_ci()
    port = free_port()
    log_path = workdir / f"reference-{name}.log"
    handle = open(log_path, "w")  # noqa: SIM115 - closed by the stack
    stack.callback(handle.close)
    process = subprocess.Popen(
        [
            "node",
            str(HERE / "server.mjs"),
            str(port),
            database_url,
            redis_url,
            database_name(database_url),
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=HERE,
    )
    stack.callback(stop_process_group, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the graphql-ws reference exited; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return ReferenceServer(process, port, log_path)
        time.sleep(0.2)
    raise RuntimeError(f"the graphql-ws reference did not start; see {log_path}")


__all__ = ["ReferenceServer", "WithReference", "start_reference"]

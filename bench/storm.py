"""Reconnect storm benchmark: N dashboards resubscribe at once with ``afterSequence``.

    python -m bench.storm [--subscribers 10000] [--events 20] [--live-rate 2]
                          [--baseline-tree /work/main]

After a deploy every dashboard reconnects at once and resumes where it stopped. A run serves
the API (``inbox-graph serve``, one worker, SQLite + ``memory://`` by default; PostgreSQL +
a private Redis with ``--postgres``), writes ``--events`` messages, then opens ``--subscribers``
WebSockets as fast as the server takes them (``--inflight`` setups in flight, no pacing), each
``connection_init`` with the owner's token and one ``newMessage(afterSequence:)`` subscription
resuming from before those messages, while ``--live-rate`` messages a second keep being
written. It reports how long the storm took, from the first connection to the moment the last
subscriber had every message (replayed and live), the subscriptions per second that makes,
every message lost or duplicated, and the server's CPU seconds per 1,000 subscriptions.

``--baseline-tree DIR`` serves the same scenario from another checkout (e.g. ``/work/main``)
too, interleaved with this one (``--repeat`` times each), and prints the ratios: on a shared
machine only figures measured in the same minutes compare. ``--node`` does the same with the
Node graphql-ws reference server serving the sockets (``bench/peers/reference.py``; this
tree takes the writes; PostgreSQL and a private Redis for both, its CPU is both processes').

The subscriber processes and their client are ``bench.fanout``'s. Target (2-core machine):
10,000 subscriptions resumed in at most 10 seconds (1,000 a second), none lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench import UNTHROTTLED
from bench.fanout import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    RECEIVE,
    SUBSCRIPTION,
    ClientConfig,
    GraphQLFailure,
    Resources,
    client_process,
    distribute,
    gql,
    log,
    open_subscription,
    percentile,
    postgres_database,
    raise_fd_limit,
    recv_from,
    run_cli,
    start_profiler,
    start_redis,
    start_server,
    stop_profiler,
)

TARGET_SUBSCRIPTIONS_PER_SECOND = 1000.0
TARGET_SUBSCRIBERS = 10_000


@dataclass
class StormResult:
    tree: str
    subscribers: int
    opened: int = 0
    failed: int = 0
    connect_seconds: float = math.nan
    storm_seconds: float = math.nan
    setup_p50: float = math.nan
    setup_p99: float = math.nan
    events: int = 0
    lost: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu_seconds: float = math.nan
    error: str = ""

    @property
    def per_second(self) -> float:
        return self.subscribers / self.storm_seconds if self.storm_seconds else math.nan


async def run_storm(
    tree: str, args: argparse.Namespace, resources: Resources, redis_url: str | None, name: str
) -> StormResult:
    import httpx

    result = StormResult(tree, args.subscribers)
    with contextlib.ExitStack() as stack:
        if args.postgres:
            database = postgres_database(stack, args.postgres_url)
            broadcast = redis_url or "memory://"
        else:
            database = f"sqlite://{resources.workdir / (name + '.db')}"
            broadcast = "memory://"
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "BROADCAST_URL": broadcast,
            "INBOX_GRAPH_ENV": "production",
            "INBOX_GRAPH_ALLOWED_ORIGINS": "*",
            **UNTHROTTLED,
        }
        if tree not in (".", "node"):
            env["PYTHONPATH"] = str(Path(tree).resolve())
            # `python -m` puts the working directory (this checkout) first on sys.path,
            # before PYTHONPATH: without this, the "baseline" served this tree's code too
            env["PYTHONSAFEPATH"] = "1"
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
        server = start_server(stack, env, 1, resources.workdir, name, args.server_cpus)
        url = f"http://127.0.0.1:{server.port}/graphql"
        if tree == "node":
            from bench.peers.reference import WithReference, start_reference

            reference = start_reference(stack, database, broadcast, resources.workdir, name)
            server = WithReference(server, reference)  # type: ignore[assignment]
        http = httpx.AsyncClient(timeout=60)
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

            async def ingest(index: int) -> str:
                data = await gql(
                    http,
                    url,
                    RECEIVE,
                    {
                        "i": {
                            "channelId": channel,
                            "from": f"bench-visitor-{run_id}",
                            "externalMessageId": f"bench-{run_id}-{index}",
                            "text": f"storm {index}",
                        }
                    },
                    token=integration,
                )
                return data["receiveMessage"]["message"]["id"]

            probe = await open_subscription(
                server.port, owner, SUBSCRIPTION, {"after": None}, client="plain", timeout=30
            )
            await asyncio.sleep(0.3)
            await ingest(-1)
            deadline = time.monotonic() + 10
            while not probe.frames and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if not probe.frames:
                raise RuntimeError("the probe subscriber received nothing")
            after = json.loads(probe.frames[0][1])["payload"]["data"]["newMessage"]["sequence"]
            probe.close()
            written = [await ingest(i) for i in range(args.events)]  # what the storm replays

            procs_count = max(1, args.client_procs)
            ctx = mp.get_context("spawn")
            pipes, procs = [], []
            for index, count in enumerate(distribute(args.subscribers, procs_count)):
                parent, child = ctx.Pipe()
                config = ClientConfig(
                    index,
                    server.port,
                    owner,
                    count,
                    after,
                    args.connect_rate / procs_count,
                    max(1, args.inflight // procs_count),
                    args.setup_timeout,
                    "plain",
                    args.client_cpus,
                    wait_for_go=True,
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
            for pipe in pipes:  # their imports done, waiting for the signal
                kind, info = await recv_from(pipe, 120)
                if kind != "waiting":
                    raise RuntimeError(f"subscriber process failed: {info}")
            profiler = None
            if args.profile:
                args.rate, args.drain_timeout = 1.0, args.subscribers / 500
                profiler = start_profiler(server, args, resources.workdir, name)
            cpu_start = server.cpu_seconds()
            log(f"[{name}] storm: {args.subscribers} subscriptions resuming after {after}")
            started = time.time()
            for pipe in pipes:
                pipe.send(("go",))
            live_stop = asyncio.Event()

            async def live_writes() -> None:
                index = args.events
                while not live_stop.is_set() and args.live_rate > 0:
                    try:
                        written.append(await ingest(index))
                    except (GraphQLFailure, httpx.HTTPError, ValueError) as exc:
                        log(f"[{name}] live write {index} failed: {exc}")
                    index += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(live_stop.wait(), 1 / args.live_rate)

            writer = asyncio.create_task(live_writes())
            budget = args.subscribers / 100 + 3 * args.setup_timeout + 60
            for pipe in pipes:
                kind, info = await recv_from(pipe, budget)
                if kind != "ready":
                    raise RuntimeError(f"subscriber process failed: {info}")
                result.opened += info["opened"]
                result.failed += info["failed"]
                for reason, n in info["failures"].items():
                    result.errors[reason] = result.errors.get(reason, 0) + n
                result.setup_p50 = max(result.setup_p50, info["setup_p50"], key=_nan_low)
                result.setup_p99 = max(result.setup_p99, info["setup_p99"], key=_nan_low)
            result.connect_seconds = time.time() - started
            live_stop.set()
            await writer
            result.events = len(written)
            collect_deadline = time.time() + args.drain_timeout
            for pipe in pipes:
                pipe.send(("collect", len(written), collect_deadline))
            last_delivery = started
            received = 0
            for pipe in pipes:
                kind, info = await recv_from(pipe, args.drain_timeout + 120)
                if kind != "results":
                    raise RuntimeError(f"subscriber process failed: {info}")
                result.duplicates += info["duplicates"]
                for reason, n in info["errors"].items():
                    result.errors[reason] = result.errors.get(reason, 0) + n
                for message_id, times in info["deliveries"].items():
                    if message_id in written:
                        received += len(times)
                        last_delivery = max(last_delivery, *times)
            result.lost = args.subscribers * len(written) - received
            result.storm_seconds = last_delivery - started
            result.server_cpu_seconds = server.cpu_seconds() - cpu_start
            if profiler is not None:
                stop_profiler(profiler)
        finally:
            await http.aclose()
    log(
        f"[{name}] {result.opened} open in {result.connect_seconds:.1f} s, all delivered after "
        f"{result.storm_seconds:.1f} s ({result.per_second:.0f}/s), lost {result.lost}, "
        f"dup {result.duplicates}, server CPU {result.server_cpu_seconds:.1f} s"
    )
    return result


def _nan_low(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def report(results: list[StormResult], args: argparse.Namespace) -> str:
    header = [
        "tree",
        "subscribers",
        "events",
        "opened",
        "all subscribed s",
        "all delivered s",
        "subscriptions/s",
        "setup p50/p99 ms",
        "server CPU ms/1000 subs",
        "lost",
        "dup",
    ]
    rows = []
    for r in results:
        if r.error:
            rows.append([r.tree, str(r.subscribers), "-", r.error[:60], *["-"] * 7])
            continue
        rows.append(
            [
                r.tree,
                str(r.subscribers),
                str(r.events),
                str(r.opened),
                f"{r.connect_seconds:.1f}",
                f"{r.storm_seconds:.1f}",
                f"{r.per_second:.0f}",
                f"{r.setup_p50 * 1000:.0f}/{r.setup_p99 * 1000:.0f}",
                f"{r.server_cpu_seconds / r.subscribers * 1e6:.0f}",
                str(r.lost),
                str(r.duplicates),
            ]
        )
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) for c, w in zip(r, widths))
    lines = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    errors: dict[str, int] = {}
    for r in results:
        for reason, n in r.errors.items():
            errors[reason] = errors.get(reason, 0) + n
    if errors:
        lines += ["", "errors:", *(f"  {n} x {reason}" for reason, n in errors.items())]
    mine = [r for r in results if r.tree == "." and not r.error]
    for other in dict.fromkeys(r.tree for r in results if r.tree != "." and not r.error):
        base = [r for r in results if r.tree == other and not r.error]
        if not mine:
            break
        ratio = lambda f, base=base: (
            percentile([f(r) for r in base], 50) / percentile([f(r) for r in mine], 50)
        )
        lines += [
            "",
            (
                f"ratios (median of {other} / median of this tree; above 1: this tree "
                f"is better): all delivered {ratio(lambda r: r.storm_seconds):.2f}x, "
                f"server CPU {ratio(lambda r: r.server_cpu_seconds):.2f}x"
            ),
        ]
    lines.append("")
    for r in mine:
        ok = (
            r.subscribers >= TARGET_SUBSCRIBERS
            and r.per_second >= TARGET_SUBSCRIPTIONS_PER_SECOND
            and r.lost == 0
            and r.duplicates == 0
            and r.failed == 0
        )
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: {TARGET_SUBSCRIBERS:,} subscriptions resumed at "
            f">= {TARGET_SUBSCRIPTIONS_PER_SECOND:.0f}/s, none lost "
            f"({r.subscribers} at {r.per_second:.0f}/s, lost {r.lost}, dup {r.duplicates})"
        )
    lines += ["", "reproduce: " + reproduce(args)]
    return "\n".join(lines)


def reproduce(args: argparse.Namespace) -> str:
    parts = ["python -m bench.storm"]
    for name, value in sorted(vars(args).items()):
        if value in (None, False):
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(flag + " " + ",".join(map(str, value)))
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=TARGET_SUBSCRIBERS)
    p.add_argument("--events", type=int, default=20, help="messages written before the storm")
    p.add_argument(
        "--live-rate", type=float, default=2.0, help="messages a second written during the storm"
    )
    p.add_argument("--client-procs", type=int, default=2, help="subscriber processes")
    p.add_argument(
        "--connect-rate",
        type=float,
        default=1e6,
        help="new connections a second (default: unpaced)",
    )
    p.add_argument("--inflight", type=int, default=1000, help="connection setups in flight, in all")
    p.add_argument("--setup-timeout", type=float, default=60.0, help="seconds per connection setup")
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument(
        "--baseline-tree", default=None, help="also serve from this checkout, interleaved"
    )
    p.add_argument(
        "--node",
        action="store_true",
        help="also run the Node graphql-ws reference (bench/peers/graphql-ws), interleaved; "
        "implies --postgres",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per tree")
    p.add_argument(
        "--together",
        action="store_true",
        help="with --baseline-tree (SQLite only): run both trees' storms at the same time, not "
        "one after the other (on a shared machine both then see the same load)",
    )
    p.add_argument("--postgres", action="store_true", help="PostgreSQL + a private Redis")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    p.add_argument("--server-cpus", type=lambda t: [int(c) for c in t.split(",")], default=None)
    p.add_argument("--client-cpus", type=lambda t: [int(c) for c in t.split(",")], default=None)
    p.add_argument("--profile", metavar="DIR", default=None, help="py-spy raw profile into DIR")
    p.add_argument("--json", metavar="FILE", default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    return p


async def amain(args: argparse.Namespace) -> list[StormResult]:
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="inbox-graph-storm-"))
    resources = Resources(workdir)
    if not args.keep:
        resources.stack.callback(shutil.rmtree, workdir, True)
    results: list[StormResult] = []
    try:
        args.postgres = args.postgres or args.node
        redis_url = start_redis(resources) if args.postgres else None
        trees = ["."] + ([args.baseline_tree] if args.baseline_tree else [])
        trees += ["node"] if args.node else []
        if args.together and (args.postgres or not args.baseline_tree):
            # two servers on one private Redis would see each other's workspace channels
            raise SystemExit("--together needs --baseline-tree, and runs on SQLite only")
        if args.together:
            for run in range(args.repeat):
                runs = [(".", f"storm-{run}-this"), (args.baseline_tree, f"storm-{run}-baseline")]
                done = await asyncio.gather(
                    *(run_storm(tree, args, resources, redis_url, name) for tree, name in runs),
                    return_exceptions=True,
                )
                for (tree, name), outcome in zip(runs, done, strict=True):
                    if isinstance(outcome, BaseException):
                        log(f"[{name}] FAILED: {type(outcome).__name__}: {outcome}")
                        outcome = StormResult(
                            tree, args.subscribers, error=f"{type(outcome).__name__}: {outcome}"
                        )
                    results.append(outcome)
            return results
        for run in range(args.repeat):
            for i, tree in enumerate(trees if run % 2 == 0 else trees[::-1]):
                label = {".": "this", "node": "node"}.get(tree, "baseline")
                name = f"storm-{run}-{label}"
                try:
                    results.append(await run_storm(tree, args, resources, redis_url, name))
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    log(f"[{name}] FAILED: {type(exc).__name__}: {exc}")
                    results.append(
                        StormResult(tree, args.subscribers, error=f"{type(exc).__name__}: {exc}")
                    )
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
                {"command": reproduce(args), "results": [vars(r) for r in results]},
                indent=1,
                default=str,
            )
        )
    ours = [r for r in results if r.tree != "node"]  # the reference's losses are its own
    return 0 if all(not r.error and r.lost == 0 for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Peers benchmark: the inbox list against PostGraphile v4, side by side, on one PostgreSQL.

    python -m bench.peers --postgres-database inbox_bench_peers [--contacts 100000]
                          [--requests 300] [--concurrency 1 8] [--first 25 100]

It seeds the demo workspace (``inbox-graph seed-demo --contacts N``) into a fresh PostgreSQL
database, or reuses one (``--postgres-database``), then serves the same database three ways:

- **inbox-graph**: ``inbox-graph serve`` (one uvicorn worker, ``INBOX_GRAPH_ENV=production``),
  the ``conversations`` list as the demo's unrestricted agent ``agent.all`` sees it;
- **PostGraphile** v4, pinned by ``bench/peers/package-lock.json`` (``npm ci`` here when
  ``node_modules`` is missing), one Node process (``postgraphile-server.js``), with the two
  computed columns a user adds for this screen (:data:`COMPUTED_COLUMNS`: the contact's name,
  the conversation's last message); no row-level security, the workspace passed as a condition;
- **raw SQL**: ``POST /bench/raw/conversations`` of the same inbox-graph process
  (``bench/raw_sql.py``, hand-written SQL on the same driver).

Before timing it checks that PostGraphile's rows are inbox-graph's (the same conversations in
the same order, the same contact, name, assignee and last message; PostGraphile's cursors and
ids are its own and are mapped, not compared). Then one client harness (httpx, closed loop,
``--concurrency`` clients) sends each scenario's three requests in turn, so all three are timed
at the same moments of a shared machine, and prints p50, p99, requests per second and the
ratios inbox-graph / PostGraphile and inbox-graph / raw SQL, with the command line that
reproduces the run. With ``--no-raw`` (the baseline left out: it shares inbox-graph's process)
it also prints each server's CPU time per request (``/proc``: user + system, warm-up
included), which a busy shared machine disturbs far less than latency. Nothing here is part of
``pytest``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.fanout import free_port, log, stop_process_group, table
from bench.queries import (
    CONVERSATIONS,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    Api,
    Figures,
    first_difference,
    load,
    measure,
    prepare,
    start_server,
)
from bench.raw_sql import gid, iso

HERE = Path(__file__).resolve().parent


def ms(seconds: float) -> str:
    """Milliseconds with one decimal: PostGraphile's p50s are a few milliseconds."""
    return f"{seconds * 1000:.1f}"


# What a PostGraphile user writes for the inbox list: a computed column for the contact's name
# (domain.md: first and last name, else the email, else "Unknown contact") and one for the
# conversation's last message (``last_message_id`` is a plain column, not a foreign key).
COMPUTED_COLUMNS = """
CREATE OR REPLACE FUNCTION contact_name(k contact) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT COALESCE(NULLIF(concat_ws(' ', NULLIF(k.first_name, ''), NULLIF(k.last_name, '')), ''),
                  k.email, 'Unknown contact')
$$;
CREATE OR REPLACE FUNCTION conversation_last_message(c conversation) RETURNS message
  LANGUAGE sql STABLE AS $$ SELECT * FROM message WHERE id = c.last_message_id $$;
"""

POSTGRAPHILE_CONVERSATIONS = """query($condition: ConversationCondition!, $first: Int) {
  allConversations(condition: $condition, orderBy: [LAST_ACTIVITY_AT_DESC, ID_DESC], first: $first) {
    edges { cursor node {
      id status lastActivityAt
      contact: contactByContactId { id name assignee: userByAssigneeId { id name } }
      lastMessage { id text direction createdAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@dataclass
class Scenario:
    inbox: str  # MINE or ALL
    first: int
    concurrency: int

    @property
    def name(self) -> str:
        return f"conversations {self.inbox} first {self.first}, {self.concurrency} client(s)"


@dataclass
class Row:
    scenario: str
    graph: Figures
    peer: Figures
    raw: Figures
    same: bool
    graph_cpu: float  # server CPU seconds per request (NaN unless --no-raw: it serves raw too)
    peer_cpu: float

    @property
    def cpu_ratio(self) -> float:
        return self.graph_cpu / self.peer_cpu if self.peer_cpu else math.nan

    @property
    def p50_ratio(self) -> float:
        return self.graph.p50 / self.peer.p50

    @property
    def rps_ratio(self) -> float:
        return self.graph.per_second / self.peer.per_second

    @property
    def raw_ratio(self) -> float:
        return self.graph.p50 / self.raw.p50 if self.raw.p50 else math.nan


def as_inbox_graph(body: dict[str, Any]) -> list[dict[str, Any]]:
    """PostGraphile's nodes in inbox-graph's shape (global ids, ISO UTC timestamps)."""
    nodes = []
    for edge in body["data"]["allConversations"]["edges"]:
        n = edge["node"]
        contact, message = n["contact"], n["lastMessage"]
        assignee = contact["assignee"]
        nodes.append(
            {
                "id": gid("Conversation", n["id"]),
                "status": n["status"],
                "lastActivityAt": iso(n["lastActivityAt"]),
                "contact": {
                    "id": gid("Contact", contact["id"]),
                    "name": contact["name"],
                    "assignee": None
                    if assignee is None
                    else {"id": gid("User", assignee["id"]), "name": assignee["name"]},
                },
                "lastMessage": None
                if message is None
                else {
                    "id": gid("Message", message["id"]),
                    "text": message["text"],
                    "direction": message["direction"],
                    "createdAt": iso(message["createdAt"]),
                },
            }
        )
    return nodes


def npm_ci() -> None:
    if not (HERE / "node_modules" / "postgraphile").exists():
        log("npm ci (bench/peers) ...")
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def start_postgraphile(
    stack: contextlib.ExitStack, url: str, workdir: Path, started: list[subprocess.Popen]
) -> int:
    import httpx

    port = free_port()
    log_path = workdir / "postgraphile.log"
    handle = open(log_path, "w")  # noqa: SIM115 - closed by the stack
    stack.callback(handle.close)
    process = subprocess.Popen(
        ["node", str(HERE / "postgraphile-server.js"), str(port), url],
        env={**os.environ, "NODE_ENV": "production"},
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=HERE,
    )
    stack.callback(stop_process_group, process)
    started.append(process)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgraphile exited with {process.returncode}; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"}, timeout=5
            )
            if answer.status_code == 200:
                return port
        time.sleep(0.3)
    raise RuntimeError(f"postgraphile did not start; see {log_path}")


def cpu_seconds(process: subprocess.Popen) -> float:
    """User + system CPU time of ``process`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{process.pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def psql_in(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True, timeout=120
    ).stdout.strip()


async def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], dict[str, str]]:
    import httpx

    notes: dict[str, str] = {}
    args.databases = ["postgres"]
    npm_ci()
    with contextlib.ExitStack() as stack:
        url, notes["workspace"] = prepare("postgres", args, stack, workdir)
        psql_in(url, COMPUTED_COLUMNS)
        notes["contacts"] = f"{int(psql_in(url, 'SELECT count(*) FROM contact')):,}"
        notes["conversations"] = f"{int(psql_in(url, 'SELECT count(*) FROM conversation')):,}"
        processes: list[subprocess.Popen] = []
        graph_port = start_server(stack, url, workdir, "postgres", processes)
        peer_port = start_postgraphile(stack, url, workdir, processes)
        peer_url = f"http://127.0.0.1:{peer_port}/graphql"
        most = max(args.concurrency)
        limits = httpx.Limits(max_connections=2 * most, max_keepalive_connections=2 * most)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            login = await http.post(
                f"http://127.0.0.1:{graph_port}/graphql",
                json={
                    "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                    "variables": {"e": VIEWER_EMAIL, "p": VIEWER_PASSWORD},
                },
            )
            found = login.json()["data"]["login"]
            api = Api(http, graph_port, found["token"])
            viewer = int(psql_in(url, f"SELECT id FROM \"user\" WHERE email = '{VIEWER_EMAIL}'"))
            workspace = int(psql_in(url, f'SELECT workspace_id FROM "user" WHERE id = {viewer}'))

            async def peer(variables: dict[str, Any]) -> dict[str, Any]:
                answer = await http.post(
                    peer_url, json={"query": POSTGRAPHILE_CONVERSATIONS, "variables": variables}
                )
                body = answer.json()
                if body.get("errors"):
                    raise RuntimeError(json.dumps(body["errors"])[:600])
                return body

            notes["load before"] = load()
            rows: list[Row] = []
            for concurrency in args.concurrency:
                for first in args.first:
                    for inbox in args.inboxes:
                        scenario = Scenario(inbox, first, concurrency)
                        ours = {"inbox": {"standard": inbox}, "first": first}
                        condition: dict[str, Any] = {
                            "workspaceId": workspace,
                            "status": "OPEN",
                            "contactBlocked": False,
                        }
                        if inbox == "MINE":
                            condition["contactAssigneeId"] = viewer
                        theirs = {"condition": condition, "first": first}
                        graph_body = await api.graph(CONVERSATIONS, ours)
                        difference = first_difference(
                            [e["node"] for e in graph_body["data"]["conversations"]["edges"]],
                            as_inbox_graph(await peer(theirs)),
                            "nodes",
                        )
                        if difference:
                            log(f"{scenario.name}: PostGraphile's rows differ: {difference}")
                        sends = [
                            lambda ours=ours: api.graph(CONVERSATIONS, ours),
                            lambda theirs=theirs: peer(theirs),
                        ]
                        if not args.no_raw:
                            sends.append(lambda ours=ours: api.raw("conversations", ours))
                        before = [cpu_seconds(p) for p in processes]
                        graph, their, *raw_figures = await measure(
                            sends, args.requests, args.warmup, concurrency
                        )
                        spent = [cpu_seconds(p) - b for p, b in zip(processes, before, strict=True)]
                        measured = args.requests + args.warmup
                        raw = raw_figures[0] if raw_figures else Figures()
                        row = Row(
                            scenario.name,
                            graph,
                            their,
                            raw,
                            difference is None,
                            spent[0] / measured if args.no_raw else math.nan,
                            spent[1] / measured,
                        )
                        rows.append(row)
                        log(
                            f"{scenario.name}: p50 {ms(graph.p50)} ms, PostGraphile "
                            f"{ms(their.p50)} ms, raw {ms(raw.p50)} ms"
                        )
            notes["load after"] = load()
    return rows, notes


def reproduce(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "bench.peers", "--contacts", str(args.contacts)]
    parts += ["--requests", str(args.requests), "--warmup", str(args.warmup)]
    parts += ["--concurrency", *map(str, args.concurrency), "--first", *map(str, args.first)]
    parts += ["--inboxes", *args.inboxes]
    if args.no_raw:
        parts.append("--no-raw")
    if args.postgres_database:
        parts += ["--postgres-database", args.postgres_database]
    return "cd " + shlex.quote(str(HERE.parents[1])) + " && " + shlex.join(parts)


def report(rows: list[Row], notes: dict[str, str], args: argparse.Namespace) -> str:
    out = [
        (
            f"The inbox list on PostgreSQL, {args.requests} requests per scenario and side after "
            f"{args.warmup} warm-up, clients in a closed loop each sending inbox-graph, PostGraphile "
            "and raw SQL in turn; ms as the client sees them; ratios are inbox-graph's over the "
            "peer's (below 1: inbox-graph is faster; req/s above 1: inbox-graph serves more)"
        ),
        table(
            [
                [
                    r.scenario,
                    ms(r.graph.p50),
                    ms(r.graph.p99),
                    f"{r.graph.per_second:.0f}",
                    ms(r.peer.p50),
                    ms(r.peer.p99),
                    f"{r.peer.per_second:.0f}",
                    ms(r.raw.p50),
                    f"{r.p50_ratio:.2f}x",
                    f"{r.rps_ratio:.2f}x",
                    f"{r.raw_ratio:.2f}x",
                    ms(r.graph_cpu),
                    ms(r.peer_cpu),
                    f"{r.cpu_ratio:.2f}x",
                    "yes" if r.same else "NO",
                ]
                for r in rows
            ],
            [
                "scenario",
                "p50",
                "p99",
                "req/s",
                "PG p50",
                "PG p99",
                "PG req/s",
                "raw p50",
                "p50 / PG",
                "req/s / PG",
                "p50 / raw",
                "CPU ms/req",
                "PG CPU ms/req",
                "CPU / PG",
                "same rows",
            ],
        ),
        "",
        "postgres: " + "; ".join(f"{k}: {v}" for k, v in notes.items()),
        "",
        "Targets (issue 23: at most PostGraphile's p50, at least its req/s, at most 1.5x raw SQL)",
    ]
    for label, verdict, detail in targets(rows):
        out.append(f"  [{verdict:<4}] {label}: {detail}")
    out += ["", "Reproduce with:", "  " + reproduce(args)]
    return "\n".join(out)


def targets(rows: list[Row]) -> list[tuple[str, str, str]]:
    if not rows:
        return [("ran", "FAIL", "no figures")]
    checks = []
    for label, bad in (
        ("p50 at most PostGraphile's", [r for r in rows if not r.p50_ratio <= 1]),
        ("req/s at least PostGraphile's", [r for r in rows if not r.rps_ratio >= 1]),
        (
            "p50 at most 1.5x raw SQL",
            [r for r in rows if not math.isnan(r.raw.p50) and not r.raw_ratio <= 1.5],
        ),
        ("the same rows as PostGraphile", [r for r in rows if not r.same]),
    ):
        checks.append(
            (label, "FAIL" if bad else "PASS", ", ".join(r.scenario for r in bad) or "all")
        )
    return checks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    p.add_argument("--contacts", type=int, default=100_000, help="demo contacts when seeding")
    p.add_argument("--requests", type=int, default=300, help="measured requests per side")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    p.add_argument("--first", type=int, nargs="+", default=[25, 100])
    p.add_argument("--inboxes", nargs="+", choices=["ALL", "MINE"], default=["ALL"])
    p.add_argument(
        "--no-raw",
        action="store_true",
        help="leave the raw-SQL baseline out: it shares inbox-graph's process, which then "
        "serves two requests for PostGraphile's one (at --concurrency 8 that is half its time)",
    )
    p.add_argument(
        "--postgres-database", default=None, help="reuse this seeded PostgreSQL database"
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server (a fresh database is created and dropped unless reused)",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true", help="keep the work directory and database")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="inbox-graph-peers-"))
    try:
        rows, notes = asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, True)
    print(report(rows, notes, args))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": reproduce(args),
                    "notes": notes,
                    "rows": [
                        asdict(r)
                        | {
                            "p50_ratio": r.p50_ratio,
                            "rps_ratio": r.rps_ratio,
                            "raw_ratio": r.raw_ratio,
                        }
                        for r in rows
                    ],
                },
                indent=1,
            )
        )
    return 1 if any(v == "FAIL" for _, v, _ in targets(rows)) else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMPUTED_COLUMNS", "POSTGRAPHILE_CONVERSATIONS", "main"]

"""The ``inbox-graph`` command.

- ``inbox-graph serve [--host] [--port] [--workers] [--seed-demo-if-empty] [--demo-traffic
  [--demo-traffic-every SECONDS]]``: migrate, then serve (with the demo's live traffic,
  :mod:`graph.demo_traffic`).
- ``inbox-graph seed-demo [--contacts N]``: build the demo workspace; print its logins.
- ``inbox-graph create-workspace --name --owner-email [--owner-password]``: a real tenant; the
  password comes from ``--owner-password``, else ``INBOX_GRAPH_OWNER_PASSWORD``, else a prompt.
- ``inbox-graph export-schema [--output schema.graphql]``: write the SDL.
- ``inbox-graph migrate``: apply migrations only.
- ``inbox-graph register-documents MANIFEST [MANIFEST ...]``: register the documents of client
  manifests (``{sha256: document}``) for trusted documents (:mod:`graph.persisted`).
- ``inbox-graph --version``: the installed version (:data:`graph.__version__`).

A user mistake (a bad option, a bad ``DATABASE_URL``, a database that does not exist or cannot be
reached, a re-seed of a non-empty database) prints one line on stderr saying what is wrong and
what to do, and exits with code 2 (:func:`main`, :func:`user_error`); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path

from db.config import database_url, tortoise_config

OWNER_PASSWORD_ENV = "INBOX_GRAPH_OWNER_PASSWORD"


async def _with_orm(coro_factory):
    from tortoise import Tortoise

    from db.migrate import apply_migrations

    await apply_migrations()
    await Tortoise.init(config=tortoise_config())
    try:
        return await coro_factory()
    finally:
        await Tortoise.close_connections()


def _print_logins(logins) -> None:
    print(f"{'email':<38} {'password':<18} {'role':<8} {'visibility':<10} blocked calls teams")
    for login in logins:
        print(
            f"{login.email:<38} {login.password:<18} {login.role:<8} {login.contact_visibility:<10} "
            f"{'yes' if login.can_view_blocked_contacts else 'no':<7} "
            f"{'yes' if login.has_call_access else 'no':<5} {', '.join(login.teams)}"
        )


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from db.seed import seed_demo

    started = time.monotonic()

    async def run():
        return await seed_demo(args.contacts, progress=lambda text: print(text, file=sys.stderr))

    logins = asyncio.run(_with_orm(run))
    print(f"Demo workspace ready in {time.monotonic() - started:.1f} s ({database_url()}).")
    _print_logins(logins)
    return 0


def cmd_create_workspace(args: argparse.Namespace) -> int:
    from db.tenants import check_workspace_input, create_workspace
    from graph.relay import to_global_id

    check_workspace_input(args.name, args.owner_email)  # before asking for a password
    password = _owner_password(args)

    async def run():
        return await create_workspace(args.name, args.owner_email, password)

    workspace, owner = asyncio.run(_with_orm(run))
    print(f"Workspace {workspace.name!r} created (id {to_global_id('Workspace', workspace.pk)}).")
    print(f"Owner: {owner.email} (role OWNER).")
    query = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
    body = {"query": query, "variables": {"e": owner.email, "p": "YOUR-PASSWORD"}}
    print("Log in with the login mutation, e.g. against a server on :8000:")
    print(
        "  curl -s http://127.0.0.1:8000/graphql -H 'Content-Type: application/json' "
        f"-d '{json.dumps(body)}'"
    )
    return 0


def _owner_password(args: argparse.Namespace) -> str:
    """``--owner-password``, else ``INBOX_GRAPH_OWNER_PASSWORD``, else asked twice on the
    terminal (getpass); ValueError when there is no terminal to ask on or the two differ."""
    if args.owner_password is not None:
        return args.owner_password
    if os.environ.get(OWNER_PASSWORD_ENV):
        return os.environ[OWNER_PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise ValueError(
            f"No owner password: give --owner-password or set {OWNER_PASSWORD_ENV} "
            "(or run on a terminal to be asked)."
        )
    password = getpass.getpass("Owner password: ")
    if getpass.getpass("Owner password again: ") != password:
        raise ValueError("The two passwords differ; run the command again.")
    return password


def cmd_export_schema(args: argparse.Namespace) -> int:
    from graph.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:  # not the database's: user_error would blame DATABASE_URL
            raise ValueError(
                f"Cannot write {args.output} ({exc.strerror or exc}): fix --output (- for stdout)."
            ) from exc
        print(f"Wrote {args.output}.")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from db.migrate import apply_migrations

    asyncio.run(apply_migrations())
    print("Migrations applied.")
    return 0


def cmd_register_documents(args: argparse.Namespace) -> int:
    """Check every manifest first (JSON, SHA-256 keys, documents valid against the schema);
    register nothing unless all are good (exit 2 with each problem on stderr)."""
    from graph.persisted import ManifestError, read_manifest, register_documents
    from graph.schema import build_schema
    from graph.settings import Settings

    settings = Settings.from_env()
    graphql_schema = build_schema(settings)._schema
    documents: dict[str, str] = {}
    problems: list[str] = []
    for path in args.manifests:
        try:
            text = Path(path).read_text(encoding="utf-8")
            documents.update(read_manifest(text, graphql_schema, settings.max_document_characters))
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
        except (ManifestError, UnicodeDecodeError) as exc:
            found = exc.problems if isinstance(exc, ManifestError) else [str(exc)]
            problems.extend(f"{path}: {problem}" for problem in found)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("Nothing was registered.", file=sys.stderr)
        return 2

    async def run():
        return await register_documents(documents)

    new = asyncio.run(_with_orm(run))
    print(
        f"Registered {new} new documents ({len(documents) - new} already registered; "
        f"{database_url()})."
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from functools import partial

    import uvicorn

    from db.migrate import apply_migrations
    from graph.server import GuardedHttpProtocol, connection_limit, raise_open_files_limit
    from graph.settings import Settings
    from graph.ws_compression import uvicorn_options

    if args.demo_traffic and args.workers != 1:
        raise ValueError("--demo-traffic runs in one worker; drop --workers.")
    settings = Settings.from_env()
    if args.workers > 1 and settings.broadcast_url == "memory://":
        # workers could not tell each other of a user's, team's or token's change
        os.environ["INBOX_GRAPH_VIEWER_CACHE_SECONDS"] = "0"
    # idle and slow clients: header timeout, keep-alive timeout, open connections per worker
    max_connections = connection_limit(settings.max_connections, raise_open_files_limit())
    http = partial(
        GuardedHttpProtocol,
        header_timeout=settings.header_timeout_seconds,
        max_connections=max_connections,
    )
    websocket = uvicorn_options(settings.ws_compression)
    asyncio.run(apply_migrations())
    if args.seed_demo_if_empty:
        from db.models import Workspace
        from db.seed import seed_demo

        async def seed_if_empty():
            if await Workspace.all().exists():
                return None
            return await seed_demo(args.contacts, progress=lambda t: print(t, file=sys.stderr))

        logins = asyncio.run(_with_orm(seed_if_empty))
        if logins:
            _print_logins(logins)
    app: object = "graph.app:create_app"
    if args.demo_traffic:
        from graph import demo_traffic

        app = partial(demo_traffic.create_app, every=args.demo_traffic_every)
    if args.port:  # where to look, before uvicorn's own lines (port 0: uvicorn names it)
        base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
        places = [f"the API on {base}/graphql"]
        if settings.graphql_ide:
            places[0] += " (GraphiQL in a browser)"
        if settings.live_page:
            places.append(f"the live page on {base}/")
        print(f"inbox-graph: {'; '.join(places)}", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        http=http,
        timeout_keep_alive=settings.keep_alive_seconds,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        ws_max_size=settings.max_frame_bytes,  # a bigger message closes its socket with 1009
        # a peer that does not answer a ping in time is dropped (graph.ws_compression)
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        # uvicorn's wsproto protocol, with permessage-deflate off or bounded
        # (INBOX_GRAPH_WS_COMPRESSION, graph.ws_compression)
        **websocket,
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (what is wrong, where to read more) and defaults in help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer(low: int, high: int | None = None, what: str = "a whole number"):
    """An argparse type: an int from ``low`` to ``high`` (inclusive; no upper bound if None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} {bound}")
        return value

    return parse


_port = _integer(0, 65535, "a port")  # 0: any free port
_count = _integer(0)
_workers = _integer(1)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    from graph import __version__

    parser = _Parser(
        prog="inbox-graph",
        description="The GraphQL API of an omnichannel customer inbox: serve it, seed the demo, "
        "bootstrap a workspace, export the schema. The database is DATABASE_URL's (default "
        "sqlite://inbox-graph.db); README.md has the rest.",
        epilog="Each command's options: inbox-graph COMMAND --help.",
    )
    parser.add_argument("--version", action="version", version=f"inbox-graph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        """A command whose help line is its ``--help`` description too."""
        return commands.add_parser(name, description=kwargs["help"], **kwargs)

    serve = command("serve", help="apply migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (0: any free port)")
    serve.add_argument("--workers", type=_workers, default=1, help="worker processes")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn's log level",
    )
    serve.add_argument(
        "--seed-demo-if-empty",
        action="store_true",
        help="seed the demo workspace first when the database has none",
    )
    serve.add_argument("--contacts", type=_count, default=2000, help="demo contacts when seeding")
    serve.add_argument(
        "--demo-traffic",
        action="store_true",
        help="keep the demo workspace alive: messages, replies, assignments, closes and calls "
        "through the API's own paths, one log line each (graph/demo_traffic.py; one worker)",
    )
    serve.add_argument(
        "--demo-traffic-every",
        type=_seconds,
        default=4.0,
        metavar="SECONDS",
        help="average pause between two demo-traffic actions",
    )
    serve.set_defaults(func=cmd_serve)

    seed = command("seed-demo", help="build the demo workspace and print its logins")
    seed.add_argument("--contacts", type=_count, default=2000, help="demo contacts")
    seed.set_defaults(func=cmd_seed_demo)

    create = command("create-workspace", help="bootstrap a tenant and its owner")
    create.add_argument("--name", required=True, help="the workspace's name (1 to 120 characters)")
    create.add_argument("--owner-email", required=True, help="the owner's login e-mail")
    create.add_argument(
        "--owner-password",
        help=f"the owner's password; default: ${OWNER_PASSWORD_ENV}, else asked on the terminal",
    )
    create.set_defaults(func=cmd_create_workspace)

    export = command("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql", help="file to write; - for stdout")
    export.set_defaults(func=cmd_export_schema)

    migrate = command("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    register = command(
        "register-documents",
        help="register the documents of client manifests ({sha256: document} JSON) for "
        "INBOX_GRAPH_TRUSTED_DOCUMENTS",
    )
    register.add_argument(
        "manifests", nargs="+", metavar="MANIFEST", help="JSON files {sha256: document}"
    )
    register.set_defaults(func=cmd_register_documents)
    return parser


def user_error(exc: BaseException) -> str | None:
    """The one-line message for a known user mistake ``exc``, or None for a bug.

    Known: ValueError (bad input found by the code: :class:`db.config.DatabaseUrlError`,
    :mod:`db.seed`, :mod:`db.tenants`, :mod:`graph.settings`); a PostgreSQL database that does
    not exist; a database that cannot be reached (refused, unknown host).
    """
    from tortoise.exceptions import DBConnectionError

    url = database_url()
    if isinstance(exc, ValueError):
        return str(exc)
    cause = exc.__cause__ if isinstance(exc, DBConnectionError) else exc
    if type(cause).__name__ == "InvalidCatalogNameError":  # asyncpg: no such database
        from db.config import database_name

        name = database_name(url)
        return (
            f"The database {name!r} does not exist: create it (createdb {name}) "
            "or fix DATABASE_URL."
        )
    if isinstance(cause, OSError):
        reason = cause.strerror or str(cause)
        return (
            f"Cannot reach the database of DATABASE_URL ({reason}): start it or fix DATABASE_URL."
        )
    if isinstance(exc, DBConnectionError):
        return f"Cannot connect to the database of DATABASE_URL ({exc}): check DATABASE_URL."
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command; exit code 2 with one line on stderr for a user mistake
    (:func:`user_error`), 130 on Ctrl-C."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # name the command whose --help lists the options, not the top level's
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = user_error(exc)
        if message is None:
            raise
        print(f"inbox-graph: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["OWNER_PASSWORD_ENV", "build_parser", "main", "user_error"]

"""The ``inbox-graph`` command.

- ``inbox-graph serve [--host] [--port] [--workers] [--seed-demo-if-empty] [--demo-traffic
  [--demo-traffic-every SECONDS]]``: migrate, then serve (with the demo's live traffic,
  :mod:`graph.demo_traffic`).
- ``inbox-graph seed-demo [--contacts N]``: build the demo workspace; print its logins.
- ``inbox-graph create-workspace --name --owner-email --owner-password``: a real tenant.
- ``inbox-graph export-schema [--output schema.graphql]``: write the SDL.
- ``inbox-graph migrate``: apply migrations only.
- ``inbox-graph register-documents MANIFEST [MANIFEST ...]``: register the documents of client
  manifests (``{sha256: document}``) for trusted documents (:mod:`graph.persisted`).
- ``inbox-graph --version``: the installed version (:data:`graph.__version__`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from db.config import database_url, tortoise_config


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
    from db.tenants import create_workspace

    async def run():
        return await create_workspace(args.name, args.owner_email, args.owner_password)

    try:
        workspace, owner = asyncio.run(_with_orm(run))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Workspace {workspace.name!r} created; owner {owner.email} can log in.")
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from graph.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
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

    graphql_schema = build_schema(Settings.from_env())._schema
    documents: dict[str, str] = {}
    problems: list[str] = []
    for path in args.manifests:
        try:
            documents.update(read_manifest(Path(path).read_text(encoding="utf-8"), graphql_schema))
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
        print("error: --demo-traffic runs in one worker; drop --workers.", file=sys.stderr)
        return 2
    if args.demo_traffic and not args.demo_traffic_every > 0:
        print("error: --demo-traffic-every takes a number of seconds above 0.", file=sys.stderr)
        return 2
    settings = Settings.from_env()
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
        # uvicorn's wsproto protocol, with permessage-deflate off or bounded
        # (INBOX_GRAPH_WS_COMPRESSION, graph.ws_compression)
        **websocket,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from graph import __version__

    parser = argparse.ArgumentParser(prog="inbox-graph", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"inbox-graph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--seed-demo-if-empty",
        action="store_true",
        help="seed the demo workspace first when the database has none",
    )
    serve.add_argument("--contacts", type=int, default=2000, help="demo contacts when seeding")
    serve.add_argument(
        "--demo-traffic",
        action="store_true",
        help="keep the demo workspace alive: messages, replies, assignments, closes and calls "
        "through the API's own paths, one log line each (graph/demo_traffic.py; one worker)",
    )
    serve.add_argument(
        "--demo-traffic-every",
        type=float,
        default=4.0,
        metavar="SECONDS",
        help="average pause between two demo-traffic actions (default: 4)",
    )
    serve.set_defaults(func=cmd_serve)

    seed = commands.add_parser("seed-demo", help="build the demo workspace and print its logins")
    seed.add_argument("--contacts", type=int, default=2000)
    seed.set_defaults(func=cmd_seed_demo)

    create = commands.add_parser("create-workspace", help="bootstrap a tenant and its owner")
    create.add_argument("--name", required=True)
    create.add_argument("--owner-email", required=True)
    create.add_argument("--owner-password", required=True)
    create.set_defaults(func=cmd_create_workspace)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql")
    export.set_defaults(func=cmd_export_schema)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    register = commands.add_parser(
        "register-documents",
        help="register the documents of client manifests ({sha256: document} JSON) for "
        "INBOX_GRAPH_TRUSTED_DOCUMENTS",
    )
    register.add_argument("manifests", nargs="+", metavar="MANIFEST")
    register.set_defaults(func=cmd_register_documents)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["build_parser", "main"]

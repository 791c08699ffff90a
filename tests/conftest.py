"""Fixtures: a fresh database (SQLite file, or a new PostgreSQL database when
``DATABASE_URL`` points at a server), the app served by ``inbox-graph serve`` on a loopback
port, and a small workspace built through the public API."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.support import RECEIVE, Client, Served, cli, serve

ALLOWED_ORIGIN = "http://app.inbox.test"


def _postgres_admin_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    name = f"inbox_graph_test_{uuid.uuid4().hex[:10]}"
    return name, urlunparse(parsed._replace(path=f"/{name}"))


def _psql(configured: str, statement: str, check: bool = True) -> None:
    """Run ``statement`` on the maintenance database of the server ``configured`` names."""
    parsed = urlparse(configured)
    subprocess.run(
        [
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
            statement,
        ],
        check=check,
    )


_templates: dict[str, str] = {}
"""Per test process: the URL of the migrated database each fresh one is copied from, by
database kind (``postgres``, ``sqlite``)."""


def _migrated_template(kind: str, configured: str) -> str:
    """A database migrated once per test process (``inbox-graph migrate`` on an empty one, so
    migrating from nothing is exercised by every run), removed when the process exits. A
    fresh database copied from it (``CREATE DATABASE ... TEMPLATE``, SQLite's backup) takes
    well under a second where migrating one took several."""
    if kind in _templates:
        return _templates[kind]
    if kind == "postgres":
        name, url = _postgres_admin_url(configured)
        name, url = name.replace("_test_", "_template_"), url.replace("_test_", "_template_")
        _psql(configured, f'CREATE DATABASE "{name}"')
        atexit.register(_psql, configured, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', False)
    else:
        folder = tempfile.mkdtemp(prefix="inbox-graph-template-")
        atexit.register(shutil.rmtree, folder, True)
        url = f"sqlite://{folder}/template.db"
    cli({"DATABASE_URL": url, "BROADCAST_URL": "memory://"}, "migrate")
    _templates[kind] = url
    return url


@contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """A new database holding the migrated schema and no rows: a SQLite file in ``folder``,
    or a new PostgreSQL database (dropped afterwards) when ``DATABASE_URL`` points at a server;
    both copies of :func:`_migrated_template`."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        template = urlparse(_migrated_template("postgres", configured)).path.lstrip("/")
        name, url = _postgres_admin_url(configured)
        _psql(configured, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield url
        finally:
            _psql(configured, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)
    else:
        template = _migrated_template("sqlite", "").removeprefix("sqlite://")
        path = folder / "inbox-graph.db"
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
        yield f"sqlite://{path}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory):
    """A fresh, empty database for the session."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


GENEROUS_LIMITS = {
    "INBOX_GRAPH_RATE_LIMIT_POINTS": "10000000",
    "INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS": "10000000",
    "INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER": "100000",
    "INBOX_GRAPH_MAX_SOCKETS_PER_USER": "100000",
    "INBOX_GRAPH_LOGIN_ADDRESS_FAILURES": "100000",
    "INBOX_GRAPH_LOGIN_ACCOUNT_FAILURES": "100000",
}
"""Rate limits no test of the suite reaches but those that test them."""


@pytest.fixture(scope="session")
def server_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": os.environ.get("BROADCAST_URL") or "memory://",
        "INBOX_GRAPH_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        # this deployment lets a workspace ring for 1 second (tests/calls/test_ring_timeout.py)
        "INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS": "1",
        # the suite's servers answer many requests quickly with a few tokens and one address;
        # tests/limits/test_rate_limits.py serves its own with small budgets
        **GENEROUS_LIMITS,
        "TEST_LOG_DIR": str(tmp_path_factory.mktemp("logs")),
    }


@pytest.fixture(scope="session")
def served(server_env: dict[str, str]):
    server = serve(server_env)
    yield server
    server.stop()


@dataclass
class World:
    """A workspace built through the API: who is who, and their tokens."""

    served: Served
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    team_ids: dict[str, str] = field(default_factory=dict)
    channel_ids: dict[str, str] = field(default_factory=dict)
    contact_ids: dict[str, str] = field(default_factory=dict)
    integration_token: str = ""
    domain: str = "acme.test"

    def client(self, who: str | None) -> Client:
        return Client(self.served, self.tokens[who] if who else None)


OWNER_EMAIL = "owner@acme.test"
PASSWORD = "correct horse battery"

# name: (role, visibility, teams, can view blocked)
PEOPLE = {
    "manager": ("MANAGER", "ALL", ["Alpha"], False),
    "agent_all": ("AGENT", "ALL", ["Alpha"], False),
    "agent_team": ("AGENT", "TEAM", ["Alpha"], False),
    "agent_self": ("AGENT", "SELF", ["Alpha"], False),
    "agent_beta": ("AGENT", "TEAM", ["Beta"], False),
    "agent_free": ("AGENT", "ALL", [], False),
}

# contact: assignee
CONTACTS = {
    "c_all": "agent_all",
    "c_team": "agent_team",
    "c_self": "agent_self",
    "c_beta": "agent_beta",
    "c_manager": "manager",
    "c_free": "agent_free",
    "c_none": None,
}


async def login(served: Served, email: str, password: str) -> str:
    client = Client(served)
    data = await client(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": password},
    )
    await client.aclose()
    return data["login"]["token"]


@pytest.fixture(scope="module")
async def world(served: Served) -> World:
    """A new workspace per test module: owner (from ``inbox-graph create-workspace``), a
    manager, agents of each visibility, two teams, three channels, an integration token and
    one contact per assignee."""
    domain = f"{uuid.uuid4().hex[:8]}.acme.test"
    owner_email = OWNER_EMAIL.replace("acme.test", domain)
    cli(
        served.env,
        "create-workspace",
        "--name",
        "Acme",
        "--owner-email",
        owner_email,
        "--owner-password",
        PASSWORD,
    )
    w = World(served)
    w.domain = domain
    w.tokens["owner"] = await login(served, owner_email, PASSWORD)
    owner = w.client("owner")
    for team in ("Alpha", "Beta"):
        data = await owner("mutation($n: String!) { createTeam(name: $n) { id } }", {"n": team})
        w.team_ids[team] = data["createTeam"]["id"]
    for name, (role, visibility, teams, blocked) in PEOPLE.items():
        data = await owner(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            {
                "i": {
                    "email": f"{name}@{domain}",
                    "name": name.replace("_", " ").title(),
                    "password": PASSWORD,
                    "role": role,
                    "contactVisibility": visibility,
                    "teamIds": [w.team_ids[t] for t in teams],
                    "canViewBlockedContacts": blocked,
                }
            },
        )
        w.user_ids[name] = data["createUser"]["id"]
        w.tokens[name] = await login(served, f"{name}@{domain}", PASSWORD)
    me = await owner("{ me { id } }")
    w.user_ids["owner"] = me["me"]["id"]
    for channel_type, name in (
        ("WHATSAPP", "WhatsApp UK"),
        ("EMAIL", "Support mail"),
        ("WEBCHAT", "Site chat"),
    ):
        data = await owner(
            "mutation($t: ChannelType!, $n: String!) { connectChannel(type: $t, name: $n) { id } }",
            {"t": channel_type, "n": name},
        )
        w.channel_ids[channel_type] = data["connectChannel"]["id"]
    data = await owner('mutation { createAccessToken(name: "connector") { token } }')
    w.integration_token = data["createAccessToken"]["token"]
    w.tokens["integration"] = w.integration_token
    integration = w.client("integration")
    for contact, assignee in CONTACTS.items():
        data = await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": w.channel_ids["WEBCHAT"],
                    "from": f"visitor-{contact}",
                    "externalMessageId": f"seed-{contact}",
                    "text": f"Hello from {contact}",
                    "firstName": contact,
                }
            },
        )
        contact_id = data["receiveMessage"]["contact"]["id"]
        w.contact_ids[contact] = contact_id
        if assignee:
            await owner(ASSIGN, {"c": contact_id, "a": w.user_ids[assignee]})
    await owner.aclose()
    await integration.aclose()
    return w


ASSIGN = """
mutation($c: ID!, $a: ID) { assignContact(contactId: $c, assigneeId: $a) { id assignee { id } } }"""

"""``inbox-graph`` speaks to people: every user mistake is one line on stderr saying what is
wrong and what to do, exit code 2, no traceback and no hang (graph/cli.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from tests.support import Client, free_port

POSTGRES = "postgres://postgres@127.0.0.1:5432"


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``inbox-graph <args>`` as a subprocess; a hang fails the test (timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *args],
        env={**os.environ, "BROADCAST_URL": "memory://", **env},
        input=stdin if stdin is not None else "",
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]


def postgres_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite://{tmp_path / 'cli.db'}"}


def test_a_negative_contact_count_is_refused(sqlite_env):
    assert_one_line_error(run(sqlite_env, "seed-demo", "--contacts", "-5"), "--contacts", "'-5'")


def test_reseeding_a_seeded_database_is_refused(sqlite_env):
    assert run(sqlite_env, "seed-demo", "--contacts", "0").returncode == 0
    assert_one_line_error(
        run(sqlite_env, "seed-demo", "--contacts", "0"), "already exists", "empty database"
    )


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/inbox", "inbox.db"])
def test_an_unsupported_database_url_is_refused(url):
    assert_one_line_error(run({"DATABASE_URL": url}, "migrate"), "is not supported", "sqlite://")


def test_a_sqlite_file_in_a_missing_folder_is_refused_at_once(tmp_path):
    folder = tmp_path / "no" / "such"
    env = {"DATABASE_URL": f"sqlite://{folder / 'x.db'}"}
    for command in (["migrate"], ["serve", "--port", str(free_port())]):
        assert_one_line_error(run(env, *command), str(folder), "mkdir -p")
    assert not folder.exists()  # refused, not created


def test_a_sqlite_path_that_cannot_be_opened_is_refused_at_once(tmp_path):
    folder = tmp_path / "inbox.db"  # a folder where the database file should be
    folder.mkdir()
    env = {"DATABASE_URL": f"sqlite://{folder}"}
    for command in (["migrate"], ["serve", "--port", str(free_port())]):
        assert_one_line_error(run(env, *command), f"Cannot open the SQLite database {folder}")


def test_a_new_sqlite_file_is_created_by_the_first_migration(tmp_path):
    path = tmp_path / "new.db"
    assert run({"DATABASE_URL": f"sqlite://{path}"}, "migrate").returncode == 0
    assert path.stat().st_size > 0


def test_an_unreachable_database_is_refused():
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/postgres"}
    assert_one_line_error(run(env, "migrate"), "Cannot reach the database", "DATABASE_URL")


@pytest.mark.skipif(not postgres_listening(), reason="no PostgreSQL on 127.0.0.1:5432")
@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "postgres://postgres@127.0.0.1/x"])
def test_an_unsupported_broadcast_url_is_refused(sqlite_env, url):
    result = run({**sqlite_env, "BROADCAST_URL": url}, "serve", "--port", str(free_port()))
    assert_one_line_error(result, f"BROADCAST_URL {url!r} is not supported", "redis://")


def test_an_unwritable_schema_output_names_the_file_not_the_database(tmp_path):
    output = tmp_path / "no" / "such" / "schema.graphql"
    result = run({}, "export-schema", "--output", str(output))
    assert_one_line_error(result, f"Cannot write {output}", "--output")
    assert "DATABASE_URL" not in result.stderr


def test_a_postgres_database_that_does_not_exist_is_refused():
    name = f"missing_{uuid.uuid4().hex[:12]}"
    result = run({"DATABASE_URL": f"{POSTGRES}/{name}"}, "migrate")
    assert_one_line_error(result, f"'{name}' does not exist", f"createdb {name}")


@pytest.mark.parametrize("port", ["abc", "-1", "65536", "99999"])
def test_a_bad_port_is_refused(sqlite_env, port):
    assert_one_line_error(run(sqlite_env, "serve", "--port", port), "--port", "--help")


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--workers", "0"],
        ["serve", "--demo-traffic-every", "0"],
        ["serve", "--log-level", "loud"],
        ["no-such-command"],
        ["create-workspace", "--name", "Acme"],
    ],
)
def test_other_bad_options_are_one_line(sqlite_env, args):
    assert_one_line_error(run(sqlite_env, *args), "--help")


def test_help_names_the_defaults(sqlite_env):
    text = run(sqlite_env, "serve", "--help").stdout
    assert "(default: 8000)" in text and "(default: 127.0.0.1)" in text
    assert "(default: 2000)" in run(sqlite_env, "seed-demo", "--help").stdout
    assert "INBOX_GRAPH_OWNER_PASSWORD" in run(sqlite_env, "create-workspace", "--help").stdout


def test_create_workspace_without_a_password_or_terminal_is_refused(sqlite_env):
    env = {**sqlite_env, "INBOX_GRAPH_OWNER_PASSWORD": ""}
    result = run(env, "create-workspace", "--name", "Acme", "--owner-email", "o@acme.test")
    assert_one_line_error(result, "--owner-password", "INBOX_GRAPH_OWNER_PASSWORD")


@pytest.mark.asyncio(loop_scope="session")
async def test_create_workspace_takes_the_password_from_the_environment_and_says_how_to_log_in(
    served,
):
    email = f"owner-{uuid.uuid4().hex[:8]}@cli.test"
    password = "a long enough password"
    env = {**served.env, "INBOX_GRAPH_OWNER_PASSWORD": password}
    result = run(env, "create-workspace", "--name", "Cli Co", "--owner-email", email)
    assert result.returncode == 0, result.stderr
    assert "Workspace 'Cli Co' created (id " in result.stdout
    assert email in result.stdout and "login(email:" in result.stdout and "curl" in result.stdout
    assert password not in result.stdout
    anonymous = Client(served)
    data = await anonymous(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": password},
    )
    assert data["login"]["token"]
    # a user mistake in create-workspace is one line too, and changes nothing
    again = run(env, "create-workspace", "--name", "Cli Co", "--owner-email", email)
    assert_one_line_error(again, "already in use")


@pytest.mark.parametrize(
    ("args", "command"),
    [(["serve", "--prot", "8000"], "serve"), (["migrate", "extra"], "migrate")],
)
def test_an_unknown_option_points_at_its_commands_help(sqlite_env, args, command):
    result = run(sqlite_env, *args)
    assert_one_line_error(result, "unrecognized arguments", f"inbox-graph {command} --help")


def test_help_says_what_the_program_and_each_command_do(sqlite_env):
    text = run(sqlite_env, "--help").stdout
    assert "``" not in text  # no docstring markup
    assert "customer inbox" in text and "DATABASE_URL" in text and "COMMAND --help" in text
    assert "apply database migrations" in run(sqlite_env, "migrate", "--help").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--name", "Acme", "--owner-email", "not-an-email"], "Invalid owner e-mail"),
        (["--name", " ", "--owner-email", "owner@acme.test"], "1 to 120 characters"),
    ],
)
def test_create_workspace_refuses_a_bad_name_or_e_mail_before_asking_for_a_password(
    sqlite_env, args, expected
):
    # no password given and no terminal: the bad input is named, not the missing password
    assert_one_line_error(run(sqlite_env, "create-workspace", *args), expected)


def test_serve_says_where_the_api_and_the_live_page_are(sqlite_env):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
        env={**os.environ, "BROADCAST_URL": "memory://", **sqlite_env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stderr.readline()  # printed before the server starts: no wait needed
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"the API on http://127.0.0.1:{port}/graphql" in first
    assert f"the live page on http://127.0.0.1:{port}/" in first

#!/usr/bin/env bash
# One-command set-ups for a newcomer (see README.md).
#   scripts/dev.sh demo   create .venv, install, seed the demo workspace if empty, serve on :8000
#                         with live demo traffic (scripts/dev.sh demo --no-traffic: without);
#                         the live page on http://127.0.0.1:8000/
#   scripts/dev.sh test   create .venv, install with test extras, run the test suite on every
#                         core (pytest-xdist: -n auto, each test file on one worker, which keeps
#                         the file's module fixtures; each worker its own server and database:
#                         SQLite, or PostgreSQL with DATABASE_URL=postgres…). `-n N` after
#                         `test` overrides.
# The package is (re)installed only when pyproject.toml is newer than the venv's stamp file
# ($VENV/.installed, $VENV/.installed-test), so a restart starts at once; pip is upgraded only
# when the venv is created. pip (24+) relays setuptools' "Editable installation." notice box
# even with --quiet; it is a UserWarning (setuptools.warnings.InformationOnly), so the install
# runs with PYTHONWARNINGS=ignore::UserWarning (editable_mode=compat would add a
# SetuptoolsDeprecationWarning box instead of removing it). --no-compile: pip byte-compiled
# every installed module (faker's locales, hypothesis ...), 60 % of the install's CPU time;
# Python compiles the modules a run imports, once, when it first imports them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
# install TARGET STAMP...: pip install -e TARGET unless STAMP is newer than pyproject.toml;
# then touch every STAMP (the test extras include everything the demo needs)
install() {
  local target="$1"
  shift
  if [ "$1" -nt pyproject.toml ]; then
    return
  fi
  echo "Installing $target into $VENV (pyproject.toml changed since the last install)..." >&2
  PYTHONWARNINGS=ignore::UserWarning \
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
      -e "$target"
  touch "$@"
}
# The browser assets the API serves itself, each folder from its package-lock.json, installed
# when the lock file changed: GraphiQL's (graph/ide.py) and the live page's graphql-ws
# client (graph/page.py)
if command -v npm >/dev/null; then
  for assets in graph/ide graph/page; do
    if [ ! "$assets/node_modules/.package-lock.json" -nt "$assets/package-lock.json" ]; then
      (cd "$assets" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    fi
  done
else
  echo "npm not found: GraphiQL will load its assets from unpkg.com (see graph/ide.py)," \
    "and the live page on / cannot go live (see graph/page.py)" >&2
fi
case "${1:-}" in
  demo)
    traffic=(--demo-traffic)
    case "${2:-}" in
      "") ;;
      --no-traffic) traffic=() ;;
      *) echo "usage: scripts/dev.sh demo [--no-traffic]" >&2; exit 2 ;;
    esac
    install . "$VENV/.installed"
    exec "$VENV/bin/inbox-graph" serve --seed-demo-if-empty "${traffic[@]}" \
      --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
    ;;
  test)
    install '.[test]' "$VENV/.installed-test" "$VENV/.installed"
    shift
    exec "$VENV/bin/python" -m pytest -n auto --dist loadfile "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh demo [--no-traffic] | test [pytest args]" >&2
    exit 2
    ;;
esac

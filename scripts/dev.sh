#!/usr/bin/env bash
# One-command set-ups for a newcomer (see README.md).
#   scripts/dev.sh demo   create .venv, install, seed the demo workspace if empty, serve on :8000
#                         with live demo traffic (scripts/dev.sh demo --no-traffic: without)
#   scripts/dev.sh test   create .venv, install with test extras, run the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# GraphiQL's assets, served by the API itself (graph/ide.py), from graph/ide/package-lock.json
if command -v npm >/dev/null; then
  if [ ! graph/ide/node_modules/.package-lock.json -nt graph/ide/package-lock.json ]; then
    (cd graph/ide && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  fi
else
  echo "npm not found: GraphiQL will load its assets from unpkg.com (see graph/ide.py)" >&2
fi
case "${1:-}" in
  demo)
    traffic=(--demo-traffic)
    case "${2:-}" in
      "") ;;
      --no-traffic) traffic=() ;;
      *) echo "usage: scripts/dev.sh demo [--no-traffic]" >&2; exit 2 ;;
    esac
    "$VENV/bin/python" -m pip install --quiet -e .
    exec "$VENV/bin/inbox-graph" serve --seed-demo-if-empty "${traffic[@]}" \
      --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
    ;;
  test)
    "$VENV/bin/python" -m pip install --quiet -e '.[test]'
    shift
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh demo [--no-traffic] | test [pytest args]" >&2
    exit 2
    ;;
esac

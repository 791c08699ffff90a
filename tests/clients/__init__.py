"""Running clients nobody here wrote (Node packages pinned by ``tests/clients/package-lock.json``)
from the Python tests.

``node_clients()`` installs the pinned packages with ``npm ci`` once per session when
``node_modules`` is missing or older than the lock file; ``run_node(script, ...)`` runs a
script of this folder with Node and returns what it printed as JSON on its last line. Where
Node is missing the tests that need it skip, except under CI (``CI`` set), where they fail: CI
runs on a machine that has Node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
MODULES = HERE / "node_modules"


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is needed by this test and missing on a CI machine")
    pytest.skip(f"{what} is not installed")


def npm_ci(folder: Path) -> None:
    """``npm ci`` in ``folder`` when its ``node_modules`` is missing or older than its lock
    file (what ``scripts/dev.sh`` does for the assets the API serves: ``graph/ide``,
    ``graph/page``)."""
    if shutil.which("npm") is None:
        _missing("npm")
    marker = folder / "node_modules" / ".package-lock.json"
    if (
        not marker.exists()
        or marker.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime
    ):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=600,
        )


def node_clients() -> Path:
    """The folder of the installed client packages (``npm ci`` first when needed)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _missing("Node.js with npm")
    marker = MODULES / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < LOCK.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            timeout=600,
        )
    return HERE


def run_node(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> Any:
    """Run ``tests/clients/<script>`` with Node; the JSON value of its last output line.

    Fails the test with the script's output when it exits non-zero."""
    node_clients()
    done = subprocess.run(
        ["node", str(HERE / script), *args],
        cwd=HERE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"node {script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None

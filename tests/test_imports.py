"""The modules of ``graph`` and ``db`` import without cycles.

Each module is imported on its own, with none of the project's modules loaded before it (one
fresh interpreter runs them all, dropping the project's modules from ``sys.modules`` between
two imports): a module that only imports when another one was imported first fails here with
Python's "partially initialized module" error. Imports inside functions must not hide a cycle
either: only the command line's lazy imports and the app's optional parts are allowed there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graph", "db")

# Function-local imports of project modules that hide no cycle: each command of the CLI
# imports what it runs (a quick `--help`), and the app imports its optional parts when enabled.
LOCAL_IMPORTS_ALLOWED = {"graph.cli", "graph.app"}

_SCRIPT = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in {packages!r}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ":\\n" + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def test_every_module_imports_on_its_own() -> None:
    modules = _modules()
    assert "graph.resolvers.inbox" in modules and "db.models" in modules
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(packages=set(PACKAGES)), *modules],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _local_project_imports(path: Path) -> list[str]:
    found = []
    for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [f"{n} (line {node.lineno})" for n in names if n.split(".")[0] in PACKAGES]
    return found


def test_no_function_imports_a_project_module() -> None:
    offenders = {}
    for name in _modules():
        if name in LOCAL_IMPORTS_ALLOWED:
            continue
        parts = name.split(".")
        path = ROOT.joinpath(*parts).with_suffix(".py")
        if not path.exists():
            path = ROOT.joinpath(*parts, "__init__.py")
        local = _local_project_imports(path)
        if local:
            offenders[name] = local
    assert offenders == {}

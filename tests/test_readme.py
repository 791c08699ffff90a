"""The README a newcomer reads top to bottom (issue 22, item 5): set-up in exactly two commands,
then the five-minute tour, then reference; every link stays inside the repository and names a
file that exists; the benchmark tables live in ``bench/README.md``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "bench/README.md", "docs/architecture.md")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_link_is_a_file_of_the_repository():
    for doc in DOCS:
        path = ROOT / doc
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if target.startswith("<"):  # @[Name](<User id>): a comment's mention markup
                continue
            assert "://" not in target and not target.startswith("//"), (doc, target)
            assert (path.parent / target.split("#")[0]).exists(), (doc, target)


def test_set_up_is_two_commands_then_the_tour_then_reference():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", readme, flags=re.MULTILINE)
    assert headings[:3] == ["Set up", "A five-minute tour", "Using it"], headings
    commands = re.findall(r"^    (\S.*)$", _section(readme, "Set up"), flags=re.MULTILINE)
    assert commands == ["scripts/dev.sh demo", "scripts/dev.sh test"]
    tour = _section(readme, "A five-minute tour")
    assert "TOKEN=$(curl" in tour  # how $TOKEN gets its value
    for step in ("inboxSidebar", "conversations(", "subscription {", "receiveMessage"):
        assert step in tour, step
    assert "http://127.0.0.1:8000/" in tour  # the live page


def test_benchmark_tables_live_in_bench_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    measured = _section(readme, "Measured")
    assert "| --- |" not in measured
    for bench in ("bench/fanout", "bench/queries", "bench/edge", "bench/soak", "bench/peers"):
        assert f"`{bench}`" in measured, bench
    figures = (ROOT / "bench/README.md").read_text(encoding="utf-8").split("# Latest figures")[1]
    for bench in ("bench/fanout", "bench/queries", "bench/edge", "bench/soak", "bench/peers"):
        assert f"## {bench}," in figures, bench


def test_every_global_id_in_the_docs_is_written_as_the_api_writes_it():
    """An example id a reader copies (a webhook body's ``workspaceId``) is one the API accepts:
    ``graph/relay.py``'s URL-safe base64 of ``Type:pk`` without ``=`` padding."""
    import base64

    from graph.relay import to_global_id

    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for token in re.findall(r"[\"'`]([A-Za-z0-9_-]{8,}=*)[\"'`]", text):
            try:
                plain = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            except ValueError:
                continue
            match = re.fullmatch(r"([A-Z][A-Za-z]+):(\d+)", plain)
            if match:
                found.append(token)
                assert token == to_global_id(match[1], int(match[2])), (doc, token)
    assert found  # the webhook body's example holds one

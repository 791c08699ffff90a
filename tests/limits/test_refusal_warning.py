"""Refusals a server makes often (connections over ``INBOX_GRAPH_MAX_CONNECTIONS``, WebSockets
over ``INBOX_GRAPH_MAX_SOCKETS_PER_USER``) are logged once a minute at most, with how many
there were since (``graph.errors.RefusalWarning``): a flood of refusals floods no log."""

from __future__ import annotations

import logging

from graph import errors
from graph.errors import RefusalWarning


def test_one_warning_a_minute_with_the_count_since(caplog, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(errors.time, "monotonic", lambda: now[0])
    warning = RefusalWarning(logging.getLogger("refusals"), "at %d: refused (%d since)")
    with caplog.at_level(logging.WARNING, logger="refusals"):
        for _ in range(5):
            warning.refused_one(7)
        now[0] += 59.9
        warning.refused_one(7)
        now[0] += 0.1
        warning.refused_one(7)
    assert [r.getMessage() for r in caplog.records] == [
        "at 7: refused (1 since)",
        "at 7: refused (6 since)",
    ]

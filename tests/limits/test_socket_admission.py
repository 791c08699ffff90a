"""A user's sockets at the maximum (``graph.websocket.admit_socket``): a revoked token's socket
that takes its close slowly (its client reads nothing, so its writes are backed up until its
keep-alive gives up, 40 seconds) holds no new ``connection_init`` up. The served behaviour
(1013, 4403, places given back) is ``tests/limits/test_rate_limits.py``'s."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from graph import websocket
from graph.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


class StalledSocket:
    """A socket whose close waits until the test lets it go."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()
        self.closed_with: tuple[int, str] | None = None
        self.release = asyncio.Event()

    async def close(self, code: int, reason: str) -> None:
        self.closing.set()
        await self.release.wait()
        self.closed_with = (code, reason)


def socket_context(user_id: int, token_id: int, request: object) -> SimpleNamespace:
    viewer = SimpleNamespace(user_id=user_id, token_id=token_id)
    return SimpleNamespace(
        settings=Settings(database_url="sqlite://:memory:", max_sockets_per_user=1),
        current_viewer=viewer,
        admitted_user=None,
        request=request,
    )


async def test_a_revoked_socket_closing_slowly_holds_no_one_up(monkeypatch):
    revoked_token, valid_token, user_id = 9_001, 9_002, 9_000

    async def recheck(viewer):  # the database's answer: the first token was revoked
        return None if viewer.token_id == revoked_token else viewer

    monkeypatch.setattr(websocket, "recheck_viewer", recheck)
    stalled = StalledSocket()
    old = socket_context(user_id, revoked_token, stalled)
    new = socket_context(user_id, valid_token, None)
    await websocket.admit_socket(old, old.current_viewer)
    try:
        # at the maximum: the revoked one gives its place at once, its close goes on apart
        await asyncio.wait_for(websocket.admit_socket(new, new.current_viewer), 1)
        assert new.admitted_user == user_id and old.admitted_user is None
        await asyncio.wait_for(stalled.closing.wait(), 1)
        assert stalled.closed_with is None  # still closing
        stalled.release.set()
        for _ in range(10):
            await asyncio.sleep(0)
        assert stalled.closed_with == (websocket.CLOSE_FORBIDDEN, "Forbidden")
    finally:
        stalled.release.set()
        websocket._release_socket(old)
        websocket._release_socket(new)
    assert user_id not in websocket._admitted

"""Every call test module's world gets call access and a VoIP channel."""

from __future__ import annotations

import pytest

from tests.calls.common import grant_call_access


@pytest.fixture(scope="module")
async def call_world(world):
    await grant_call_access(world)
    return world

"""A workspace always keeps an owner: the only owner cannot demote themself (channels,
settings and the owner role itself are owner-only, so nobody could ever repair it).
Own module: when the bug is present it leaves this module's workspace without an owner."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPDATE = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id role } }"


async def test_the_only_owner_cannot_demote_themself(world):
    role = "AGENT"
    owner = world.client("owner")
    try:
        body = await owner.execute(UPDATE, {"id": world.user_ids["owner"], "i": {"role": role}})
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
        me = (await owner("{ me { role } }"))["me"]["role"]
        assert (
            codes and codes[0] in ("BAD_USER_INPUT", "FORBIDDEN", "CONFLICT") and me == "OWNER"
        ), f"the workspace's only owner became {me}: {body}"
    finally:
        await owner.aclose()

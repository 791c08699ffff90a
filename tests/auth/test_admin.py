"""Administration limits (``contract.graphql``: workspace administration is for owners;
managers for users and teams. ``graph/resolvers/user.py``: only owners grant or change the
owner role)."""

from __future__ import annotations

import pytest

from tests.support import Client

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_manager_cannot_revoke_or_inspect_the_owners_tokens(world):
    """Managers may not touch an owner (updateUser on an owner is FORBIDDEN), yet
    revokeAccessToken lets any admin revoke any token of the workspace, the owner's
    integration tokens and sessions included, and node(id) shows them their metadata."""
    owner = world.client("owner")
    manager = world.client("manager")
    data = await owner(
        'mutation { createAccessToken(name: "owner connector") { token accessToken { id } } }'
    )
    token_id = data["createAccessToken"]["accessToken"]["id"]
    owners_token = Client(world.served, data["createAccessToken"]["token"])
    try:
        body = await manager.execute(
            "mutation($id: ID!) { revokeAccessToken(id: $id) }", {"id": token_id}
        )
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
        assert codes in (["NOT_FOUND"], ["FORBIDDEN"]), (
            f"a manager revoked the owner's token: {body}"
        )
        assert (await owners_token("{ me { id } }"))["me"]["id"] == world.user_ids["owner"]
        seen = await manager("query($id: ID!) { node(id: $id) { id } }", {"id": token_id})
        assert seen["node"] is None, "a manager reads the owner's access-token metadata"
    finally:
        await owners_token.aclose()
        await owner.aclose()
        await manager.aclose()

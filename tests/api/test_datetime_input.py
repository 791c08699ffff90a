"""Instants a client sends (``DateTime`` arguments and input fields) whose UTC value Python
cannot hold, years past 9999 or before 1 once the offset is applied: a coded error naming the
value, nothing written, no traceback (``graph/schema/scalars.py``). They were a 500 with an
``OverflowError`` in the log (a helper's review)."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_graphql_over_http import log_size, no_traceback_since
from tests.conversation.test_delivery_status import MESSAGE, REPORT, report, send

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAST_9999 = "9999-12-31T23:59:59-01:00"  # 10000-01-01T00:59:59 in UTC
BEFORE_1 = "0001-01-01T00:00:00+01:00"  # year 0 in UTC
TOKENS = "{ accessTokens(first: 100) { totalCount } }"
MINT = """mutation($at: DateTime) { createAccessToken(name: "far", scopes: [READ], expiresAt: $at) {
  token accessToken { expiresAt } } }"""


def _codes(body: dict) -> list[str]:
    assert "data" not in body or body["data"] is None, body
    return [error["extensions"]["code"] for error in body["errors"]]


async def test_an_instant_outside_years_1_to_9999_in_utc_is_refused_and_changes_nothing(world):
    offset = log_size(world.served)
    owner, integration = world.client("owner"), world.client("integration")
    try:
        before = (await owner(TOKENS))["accessTokens"]["totalCount"]
        for value in (PAST_9999, BEFORE_1):
            refused = await owner.execute(MINT, {"at": value})
            assert _codes(refused) == ["BAD_USER_INPUT"], refused
            assert value in refused["errors"][0]["message"]
            literal = MINT.replace("$at: DateTime", "").replace("$at", f'"{value}"')
            assert _codes(await owner.execute(literal.replace("()", ""))) == [
                "GRAPHQL_VALIDATION_FAILED"
            ]
        assert (await owner(TOKENS))["accessTokens"]["totalCount"] == before
        # the last instant of year 9999 in UTC is one
        kept = await owner(MINT, {"at": "9999-12-31T23:59:59+00:00"})
        assert kept["createAccessToken"]["accessToken"]["expiresAt"].startswith("9999-12-31")

        message_id, _ = await send(world)
        external = f"wamid.{uuid.uuid4().hex}"
        for value in (BEFORE_1, PAST_9999):
            variables = report(world, external, "SENT", messageId=message_id)
            variables["i"]["occurredAt"] = value
            refused = await integration.execute(REPORT, variables)
            assert _codes(refused) == ["BAD_USER_INPUT"], refused
        shown = (await owner(MESSAGE, {"id": message_id}))["node"]
        assert shown["deliveryStatus"] == "QUEUED" and shown["sentAt"] is None
    finally:
        await owner.aclose()
        await integration.aclose()
    no_traceback_since(world.served, offset)

"""``graph.throttle.Throttle.charge`` without the budget's status (a subscription's start,
whose answers carry no cost): the charge is the same, only the status is left unread while the
charge is allowed."""

from __future__ import annotations

from graph.settings import Settings
from graph.throttle import Throttle


def _throttle() -> Throttle:
    return Throttle(Settings(database_url="", rate_limit_points=100, rate_limit_window_seconds=60))


async def test_an_allowed_charge_without_status_spends_the_same_points():
    with_status, without = _throttle(), _throttle()
    for throttle, status in ((with_status, True), (without, False)):
        charge = await throttle.charge("token:1", 30, status=status)
        assert charge.allowed
        assert (charge.status is not None) is status
    after = [(await t.status("token:1")).currently_available for t in (with_status, without)]
    assert after[0] == after[1] == 70


async def test_a_refused_charge_without_status_still_says_how_long_to_wait():
    throttle = _throttle()
    assert (await throttle.charge("token:1", 80, status=False)).allowed
    refused = await throttle.charge("token:1", 30, status=False)
    assert not refused.allowed
    assert refused.status is not None and refused.status.currently_available == 20
    assert refused.retry_after is not None and refused.retry_after > 0

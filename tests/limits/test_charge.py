"""``graph.throttle.Throttle.charge`` without the budget's status (a subscription's start,
whose answers carry no cost): the charge is the same, only the status is left unread while the
charge is allowed; on Redis the charges of one budget arriving together go as one storage call,
allowed and refused as one by one."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

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


ON_REDIS = pytest.mark.skipif(
    not os.environ.get("BROADCAST_URL", "").startswith("redis://"),
    reason="charges go together on a shared storage (Redis), in the suite's Redis run",
)


def _shared(points: int) -> Throttle:
    """A throttle on the suite's Redis, in a namespace of its own (budgets start full)."""
    return Throttle(
        Settings(
            database_url="",
            rate_limit_url=os.environ["BROADCAST_URL"],
            channel_namespace=f"test-{uuid.uuid4().hex}",
            rate_limit_points=points,
            rate_limit_window_seconds=60,
        )
    )


def _counting_hits(throttle: Throttle) -> list[int]:
    """The cost of each storage call spending points (``limiter.hit``) from now on."""
    costs: list[int] = []
    hit = throttle.limiter.hit

    async def counted(item, *identifiers, cost: int = 1):
        costs.append(cost)
        return await hit(item, *identifiers, cost=cost)

    throttle.limiter.hit = counted  # type: ignore[method-assign]
    return costs


@ON_REDIS
async def test_charges_arriving_together_spend_one_storage_call():
    """A reconnect storm's subscribes (one token, no status read): those arriving while a
    charge is under way go as one call; each is allowed and the budget spent their sum."""
    throttle = _shared(1000)
    hits = _counting_hits(throttle)
    charges = await asyncio.gather(
        *(throttle.charge("token:1", 10, status=False) for _ in range(15))
    )
    assert [c.allowed for c in charges] == [True] * 15
    assert sum(hits) == 150 and len(hits) < 15
    assert (await throttle.status("token:1")).currently_available == 850
    # later ones, arriving while a call is under way, wait for it and go as the next one
    first = asyncio.ensure_future(throttle.charge("token:1", 10, status=False))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(throttle.charge("token:1", 10, status=False)) for _ in range(5)]
    assert all(c.allowed for c in await asyncio.gather(first, *rest))
    assert (await throttle.status("token:1")).currently_available == 790


@pytest.mark.parametrize("storage", ["memory", pytest.param("redis", marks=ON_REDIS)])
async def test_charges_over_the_budget_together_are_refused_as_one_by_one(storage):
    """15 charges of 10 at once on a budget of 100: the first 10 in arrival order are allowed
    and the other 5 refused, each with its wait, as if sent one after the other."""
    throttle = _throttle() if storage == "memory" else _shared(100)
    charges = await asyncio.gather(
        *(throttle.charge("token:1", 10, status=False) for _ in range(15))
    )
    assert [c.allowed for c in charges] == [True] * 10 + [False] * 5
    for refused in charges[10:]:
        assert refused.status is not None and refused.status.currently_available == 0
        assert refused.retry_after is not None and refused.retry_after > 0
    assert (await throttle.status("token:1")).currently_available == 0
    # another budget is another group: untouched
    assert (await throttle.charge("token:2", 10, status=False)).allowed


def _grouping(points: int) -> Throttle:
    """A throttle in memory that groups its charges as it does on Redis."""
    throttle = Throttle(
        Settings(database_url="", rate_limit_points=points, rate_limit_window_seconds=60)
    )
    throttle._shared = True
    return throttle


async def test_a_caller_gone_while_it_waits_is_not_charged():
    throttle = _grouping(100)
    waiting = [
        asyncio.ensure_future(throttle.charge("token:1", 10, status=False)) for _ in range(3)
    ]
    await asyncio.sleep(0)  # queued; the group's call has not started
    waiting[1].cancel()
    charges = await asyncio.gather(*waiting, return_exceptions=True)
    assert [getattr(c, "allowed", None) for c in charges] == [True, None, True]
    assert (await throttle.status("token:1")).currently_available == 80


async def test_a_charging_task_cancelled_before_it_ran_strands_nobody():
    throttle = _grouping(100)
    first = asyncio.ensure_future(throttle.charge("token:1", 10, status=False))
    await asyncio.sleep(0)  # queued, its group's task created
    throttle._charging["token:1"].cancel()  # e.g. a loop's cancel-all at shutdown
    await asyncio.sleep(0)
    later = await asyncio.wait_for(throttle.charge("token:1", 10, status=False), 5)
    assert later.allowed
    assert (await asyncio.wait_for(first, 5)).allowed  # served by the next group
    assert (await throttle.status("token:1")).currently_available == 80

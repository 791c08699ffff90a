"""The embedded rate-limit storage (``memory://``, :class:`graph.throttle.SweptMemoryStorage`):
``limits``' sweep of expired counters walks every budget of the worker, so it runs at most every
:data:`graph.throttle.SWEEP_SECONDS`, not after every charge; budgets read the same, and
expired counters still go."""

from __future__ import annotations

import asyncio

from graph import throttle as throttle_module
from graph.settings import Settings
from graph.throttle import Throttle


def _throttle(window: int = 60) -> Throttle:
    return Throttle(
        Settings(database_url="", rate_limit_points=100, rate_limit_window_seconds=window)
    )


def _counting_sweeps(throttle: Throttle) -> list[int]:
    """How many sweeps ``limits`` ran on ``throttle``'s storage (its own sweep, counted)."""
    storage = throttle.storage
    sweep = storage._MemoryStorage__expire_events
    ran = [0]

    async def counted() -> None:
        ran[0] += 1
        await sweep()

    storage._MemoryStorage__expire_events = counted
    return ran


async def test_charges_of_many_budgets_sweep_once_in_a_second():
    throttle = _throttle()
    sweeps = _counting_sweeps(throttle)
    for n in range(200):  # 200 requests of 200 tokens, the loop turning between them
        assert (await throttle.charge(f"token:{n}", 1)).allowed
        await asyncio.sleep(0)
    assert sweeps[0] == 1, f"{sweeps[0]} sweeps of every budget for 200 charges"
    assert len(throttle.storage.expirations) == 200


async def test_an_expired_budget_is_whole_again_before_any_sweep(monkeypatch):
    monkeypatch.setattr(throttle_module, "SWEEP_SECONDS", 3600)
    throttle = _throttle(window=1)
    sweeps = _counting_sweeps(throttle)
    assert (await throttle.charge("token:1", 100)).allowed
    assert not (await throttle.charge("token:1", 1)).allowed
    await asyncio.sleep(2.1)  # both windows of the sliding counter are over
    charge = await throttle.charge("token:1", 100)
    assert charge.allowed and charge.status.currently_available == 0
    assert sweeps[0] == 1  # the first charge's, before the budget was spent


async def test_expired_counters_are_still_swept_out():
    throttle = _throttle(window=1)
    for n in range(50):
        await throttle.charge(f"token:{n}", 1)
    await asyncio.sleep(2.1)  # their counters expire (twice the window) and a sweep is due
    await throttle.charge("token:new", 1)
    await asyncio.sleep(0.05)  # the sweep runs
    held = set(throttle.storage.expirations)
    assert held and all("token:new" in key for key in held), held

"""Throttle benchmark: what a query's charge to its budget costs as a worker's budgets grow.

    python -m bench.throttle [--budgets 1 1000 10000] [--charges 5000]

Each query charges its cost to its token's budget (:class:`graph.throttle.Throttle`, the
embedded ``memory://`` storage) and reads the budget back for the response. For each number
of budgets (tokens and client addresses seen within the window), that many are charged once,
then one budget is charged ``--charges`` times, the event loop turning between charges as it
does between requests; the microseconds per charge are printed for this tree's storage
(:class:`graph.throttle.SweptMemoryStorage`) and for ``limits``' own ``MemoryStorage``, whose
sweep of expired counters walks every budget after each charge, and their ratio. Nothing here
is part of ``pytest``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from limits.aio.storage import MemoryStorage

from graph.settings import Settings
from graph.throttle import Throttle


async def per_charge(budgets: int, charges: int, plain: bool) -> float:
    """Microseconds per charge of one budget among ``budgets``."""
    throttle = Throttle(
        Settings(database_url="", rate_limit_points=10**9, rate_limit_window_seconds=60)
    )
    if plain:
        throttle.storage = MemoryStorage(wrap_exceptions=True)
        throttle.limiter.storage = throttle.storage
    for n in range(budgets):
        await throttle.charge(f"token:{n}", 1)
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    for _ in range(charges):
        await throttle.charge("token:0", 5)
        await asyncio.sleep(0)
    return (time.perf_counter() - started) / charges * 1e6


async def run(args: argparse.Namespace) -> None:
    print(f"µs per charge (with the budget read back), {args.charges} charges, loop turning")
    print(f"{'budgets':>8}  {'this tree':>10}  {'limits alone':>12}  {'ratio':>6}")
    for budgets in args.budgets:
        ours = await per_charge(budgets, args.charges, plain=False)
        plain = await per_charge(budgets, args.charges, plain=True)
        print(f"{budgets:>8,}  {ours:>10.1f}  {plain:>12.1f}  {plain / ours:>5.1f}x")
    print(
        f"\nReproduce with:\n  python -m bench.throttle --budgets "
        f"{' '.join(map(str, args.budgets))} --charges {args.charges}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.throttle", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--budgets", type=int, nargs="+", default=[1, 1000, 10000])
    p.add_argument("--charges", type=int, default=5000)
    asyncio.run(run(p.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

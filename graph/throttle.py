"""Rate limits: query cost budgets per token (or client address) and login backoff, kept by the
``limits`` library in memory or in Redis.

``domain.md`` section 8: "Every operation has a cost; budgets per token restore over time; the
response reports both". The cost of an operation is :mod:`graph.cost`'s; what a client sees and
does is the README's "Rate limits and query cost".

**Budgets.** Each token has ``INBOX_GRAPH_RATE_LIMIT_POINTS`` points (each client address
``INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS`` for calls without a valid token), spent by every
operation's requested cost before it runs and restored over
``INBOX_GRAPH_RATE_LIMIT_WINDOW_SECONDS``: ``limits``' sliding window counter, which weighs the
previous window's spending by how much of it still overlaps, so points come back steadily (at
about points / window a second) instead of all at once. An operation the budget cannot pay for
is refused with ``RATE_LIMITED`` and the seconds after which it can (``retryAfter``); one that
costs more than the whole budget never can, and is refused as invalid.

**Login.** Failed logins are counted per (account, client address), per address and per
account over ``INBOX_GRAPH_LOGIN_FAILURE_WINDOW_SECONDS``. Past each threshold every further
try waits 1 second, doubling with each further failure, up to
``INBOX_GRAPH_LOGIN_MAX_BACKOFF_SECONDS``; a try during the wait is answered ``RATE_LIMITED``
before the password is checked (a right password waits too: no oracle) and is not counted. The
per-address and per-account counts spare the (account, address) pairs that logged in before
(for a session's lifetime): an attacker elsewhere cannot lock the real user out, nor an
attacker sharing an address its users. A successful login clears its pair's count.

**Storage.** ``memory://`` keeps the counters in the worker; ``redis://…`` shares them between
every worker and host (keys prefixed with the channel namespace, so deployments sharing a Redis
do not share budgets); there the charges of one budget that need no status back (a
subscription's start) and arrive while its call is under way go as one call
(:meth:`Throttle.charge`: a reconnect storm of one token's dashboards made one Redis script
per ``subscribe``). While the storage cannot be reached nothing is enforced (the API must not
fail because Redis did): one log line when it goes away, one when it answers again; it is tried
again at most every :data:`RETRY_STORAGE_SECONDS`. In memory, expired counters are dropped
when next read, and swept out at most every :data:`SWEEP_SECONDS` (:class:`SweptMemoryStorage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from graph.errors import RateLimited, Unauthenticated, WrongPassword

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from graph.settings import Settings

log = logging.getLogger("graph.throttle")

RETRY_STORAGE_SECONDS = 1.0
"""While the storage is unreachable, how often a request tries it again (seconds)."""
STORAGE_TIMEOUT_SECONDS = 0.5
"""How long one Redis call may take before the storage counts as unreachable (seconds)."""
SWEEP_SECONDS = 1.0
"""How often, at most, the memory storage sweeps out expired counters (seconds)."""


class _NotDue:
    """What :attr:`SweptMemoryStorage.timer` shows ``limits`` while its last sweep is recent:
    a task not done yet, so ``limits`` starts no other."""

    def done(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False


_NOT_DUE = _NotDue()


class SweptMemoryStorage(MemoryStorage):
    """``limits``' in-memory storage whose sweep of expired counters runs at most every
    :data:`SWEEP_SECONDS`.

    ``limits`` starts a sweep (a task walking every key it holds) at each write once the
    previous one has finished: each request's charge walked every budget of the worker, which
    made a charge cost 16 µs with one budget and 656 µs with 10,000 live ones (tokens and
    client addresses seen within the window; ``python -m bench.throttle``). Nothing else
    changes: an expired counter reads as zero whether or not it was swept (``limits`` drops it
    when it reads it), and sweeps only bound the memory of counters never read again. The
    sweep is ``limits``' own, started by ``limits``: this class only shows it, through the
    ``timer`` attribute it keeps its last sweep's task in, a task not yet done while that
    sweep is recent."""

    _sweep: Any = None
    _swept_at = -math.inf

    @property
    def timer(self) -> Any:
        """``limits``' last sweep, or :data:`_NOT_DUE` while it is recent and done."""
        sweep = self._sweep
        if (sweep is None or sweep.done()) and time.monotonic() - self._swept_at < SWEEP_SECONDS:
            return _NOT_DUE
        return sweep

    @timer.setter
    def timer(self, sweep: Any) -> None:
        self._sweep = sweep
        if sweep is not None:
            self._swept_at = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        """As ``limits`` pickles its storage: without the sweep's task nor the locks."""
        state = self.__dict__.copy()
        for name in ("_sweep", "_swept_at", "locks"):
            state.pop(name, None)
        return state


# limits' base classes wrap the storage methods (errors made StorageError) again for each
# subclass, a second wrapper on every call: MemoryStorage's wrapped ones are inherited instead
for _name, _method in list(vars(SweptMemoryStorage).items()):
    if _name != "__getstate__" and callable(_method) and _name in vars(MemoryStorage):
        delattr(SweptMemoryStorage, _name)


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """A budget as the response reports it (Shopify's ``throttleStatus``).

    Attributes:
        maximum_available: the budget, in points.
        currently_available: points left now.
        restore_rate: points restored a second (on average: the budget over the window).
        full_in: seconds until the budget is whole again, if nothing more is spent.
        window: the window's length in seconds.
    """

    maximum_available: int
    currently_available: int
    restore_rate: float
    full_in: float
    window: int

    def as_extension(self) -> dict[str, Any]:
        """``{"maximumAvailable", "currentlyAvailable", "restoreRate"}``."""
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": self.currently_available,
            "restoreRate": self.restore_rate,
        }

    def headers(self) -> dict[str, str]:
        """The IETF draft's ``RateLimit-*`` headers (draft-ietf-httpapi-ratelimit-headers-07):
        ``RateLimit-Limit`` and ``RateLimit-Remaining`` (points), ``RateLimit-Reset`` (whole
        seconds until the budget is whole again) and ``RateLimit-Policy``
        (``<points>;w=<window seconds>``)."""
        return {
            "RateLimit-Limit": str(self.maximum_available),
            "RateLimit-Remaining": str(self.currently_available),
            "RateLimit-Reset": str(math.ceil(self.full_in)),
            "RateLimit-Policy": f"{self.maximum_available};w={self.window}",
        }


@dataclass(frozen=True, slots=True)
class Charge:
    """The outcome of charging an operation's cost to a budget.

    Attributes:
        allowed: whether the operation may run (always, while the storage is unreachable).
        status: the budget after the charge; ``None`` while the storage is unreachable, and
            for an allowed charge whose caller did not ask for it (:meth:`Throttle.charge`).
        retry_after: when refused, seconds until the budget can pay the cost; ``None`` when it
            never can (the cost exceeds the whole budget).
    """

    allowed: bool
    status: ThrottleStatus | None
    retry_after: float | None = None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Throttle:
    """The budgets and login counters of one worker, on the storage of
    ``settings.rate_limit_url``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.rate_limit_url
        if url.startswith(("redis://", "rediss://")):
            self.storage: Any = RedisStorage(
                f"async+{url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=f"inbox-graph:{settings.channel_namespace}:limits",
                socket_timeout=STORAGE_TIMEOUT_SECONDS,
                socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            )
        else:
            self.storage = SweptMemoryStorage(wrap_exceptions=True)
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self._shared = not isinstance(self.storage, MemoryStorage)
        self._waiting: dict[str, list[tuple[int, asyncio.Future[Charge]]]] = {}
        self._charging: dict[str, asyncio.Task[None]] = {}
        window = settings.rate_limit_window_seconds
        self.token_budget = RateLimitItemPerSecond(settings.rate_limit_points, window)
        self.address_budget = RateLimitItemPerSecond(settings.anonymous_rate_limit_points, window)
        self._down = False
        self._retry_at = 0.0

    # storage availability

    async def _call(self, call: Awaitable[Any]) -> Any:
        """Run a storage call; ``None`` (and a log line when it starts) while the storage is
        unreachable, so that limits fail open."""
        if self._down and time.monotonic() < self._retry_at:
            call.close()  # type: ignore[attr-defined] - a coroutine never awaited
            return None
        try:
            result = await call
        except (StorageError, OSError, TimeoutError) as exc:
            self._retry_at = time.monotonic() + RETRY_STORAGE_SECONDS
            if not self._down:
                self._down = True
                log.warning("rate-limit storage unreachable (%s); limits are not enforced", exc)
            return None
        if self._down:
            self._down = False
            log.warning("rate-limit storage reachable again; limits are enforced")
        return result

    # budgets

    def _budget(self, key: str) -> Any:
        return self.address_budget if key.startswith("address:") else self.token_budget

    async def charge(self, key: str, cost: int, *, status: bool = True) -> Charge:
        """Spend ``cost`` points of the budget ``key`` (:func:`budget_key`), if it has them.

        Args:
            key: ``token:<id>`` or ``address:<client address>``.
            cost: the operation's requested cost in points (:mod:`graph.cost`).
            status: whether an allowed charge reads the budget after it too (one storage call
                more); a refused one always does. ``False`` for a subscription, whose answers
                carry no cost (:class:`graph.extensions.CostBudget`); on a shared storage such
                charges of one budget may go together (:meth:`_charge_together`).

        Returns:
            Whether the operation may run, the budget after the charge (see ``status``) and,
            when refused, the seconds to wait.
        """
        budget = self._budget(key)
        if cost > budget.amount:
            return Charge(False, await self.status(key), None)
        if not status and self._shared:
            return await self._charge_together(key, cost)
        return await self._charge(key, cost, status)

    async def _charge(self, key: str, cost: int, status: bool) -> Charge:
        """:meth:`charge` of one cost on its own (one storage call, two with ``status`` or
        when refused)."""
        budget = self._budget(key)
        allowed = await self._call(self.limiter.hit(budget, key, cost=cost))
        if allowed is None or (allowed and not status):
            return Charge(True, None)
        window = await self._call(
            self.storage.get_sliding_window(budget.key_for(key), budget.get_expiry())
        )
        if window is None:
            return Charge(bool(allowed), None, None if allowed else float(budget.get_expiry()))
        after = _status(budget, *window)
        return Charge(bool(allowed), after, None if allowed else _wait(budget, cost, *window))

    async def _charge_together(self, key: str, cost: int) -> Charge:
        """:meth:`charge` without status on a shared storage (Redis): the charges of one
        budget that arrive while its storage call is under way wait for it, then go as one
        call spending their sum (a reconnect storm's subscribes, all of one token, took one
        Redis script each). The sum allowed is each allowed, as one by one; refused, each is
        charged alone, in arrival order, as if none had waited: the same points spent, the
        same ones refused, each with its wait. A caller cancelled while it waits (its socket
        went) is not charged."""
        future: asyncio.Future[Charge] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((cost, future))
        running = self._charging.get(key)
        if running is None or running.done():  # done: cancelled before it ever ran
            # the task outlives a caller: it must not keep the caller's context variables
            self._charging[key] = asyncio.create_task(
                self._charge_waiting(key), context=contextvars.Context()
            )
        return await future

    async def _charge_waiting(self, key: str) -> None:
        """Charge the waiting costs of ``key`` (:meth:`_charge_together`), a group at a time,
        until none waits."""
        budget = self._budget(key)
        batch: list[tuple[int, asyncio.Future[Charge]]] = []
        try:
            while batch := self._waiting.pop(key, []):
                # a caller cancelled while it waited (its socket went) is not charged
                batch = [(cost, future) for cost, future in batch if not future.done()]
                if not batch:
                    continue
                total = sum(cost for cost, _ in batch)
                allowed = await self._call(self.limiter.hit(budget, key, cost=total))
                if allowed is None or allowed:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(Charge(True, None))
                    continue
                for cost, future in batch:
                    if future.done():  # cancelled meanwhile: not charged
                        continue
                    charge = await self._charge(key, cost, False)
                    if not future.done():
                        future.set_result(charge)
        except BaseException as exc:  # every waiter learns of it (cancelled: cancelled too)
            for _, future in [*batch, *self._waiting.pop(key, [])]:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
        finally:
            if self._charging.get(key) is asyncio.current_task():
                del self._charging[key]

    async def admit(self, key: str) -> float | None:
        """Whether the budget ``key`` has a point left for one more document: ``None`` when it
        has (or while the storage is unreachable), else the seconds until it will. Nothing is
        spent: a document the server has not seen yet is admitted before it is parsed, and a
        client whose budget is spent is refused at the cost of this lookup."""
        budget = self._budget(key)
        if await self._call(self.limiter.test(budget, key, cost=1)) is not False:
            return None
        window = await self._call(
            self.storage.get_sliding_window(budget.key_for(key), budget.get_expiry())
        )
        return float(budget.get_expiry()) if window is None else _wait(budget, 1, *window)

    async def status(self, key: str) -> ThrottleStatus | None:
        """The budget ``key`` as it is now (``None`` while the storage is unreachable)."""
        budget = self._budget(key)
        window = await self._call(
            self.storage.get_sliding_window(budget.key_for(key), budget.get_expiry())
        )
        return None if window is None else _status(budget, *window)

    # login

    def _login_keys(self, email: str, address: str) -> dict[str, str]:
        account = _digest((email or "").strip().lower())
        where = _digest(address)
        return {
            "pair": f"login:pair:{account}:{where}",
            "address": f"login:address:{where}",
            "account": f"login:account:{account}",
            "known": f"login:known:{account}:{where}",
        }

    def _thresholds(self) -> dict[str, int]:
        s = self.settings
        return {
            "pair": s.login_failures_before_backoff,
            "address": s.login_address_failures,
            "account": s.login_account_failures,
        }

    async def login_wait(self, email: str, address: str) -> float | None:
        """Seconds the next ``login`` for ``email`` from ``address`` must still wait, or ``None``."""
        keys = self._login_keys(email, address)
        known = await self._call(self.storage.get(keys["known"]))
        waits = []
        for scope in ("pair", "address", "account") if not known else ("pair",):
            failures = await self._call(self.storage.get(keys[scope]))
            if not failures or failures < self._thresholds()[scope]:
                continue
            until_ms = await self._call(self.storage.get(f"{keys[scope]}:until:{failures}"))
            if until_ms:
                waits.append(until_ms / 1000 - time.time())
        wait = max(waits, default=0.0)
        return wait if wait > 0 else None

    async def login_failed(self, email: str, address: str) -> None:
        """Count a failed ``login``; past a threshold, start (or double) its backoff."""
        keys = self._login_keys(email, address)
        window = self.settings.login_failure_window_seconds
        for scope, threshold in self._thresholds().items():
            failures = await self._call(self.storage.incr(keys[scope], window))
            if failures is None or failures < threshold:
                continue
            backoff = min(2.0 ** (failures - threshold), self.settings.login_max_backoff_seconds)
            until_ms = int((time.time() + backoff) * 1000)
            # a key per failure count: concurrent failures never add up their deadlines
            await self._call(
                self.storage.incr(
                    f"{keys[scope]}:until:{failures}", math.ceil(backoff) + 1, until_ms
                )
            )

    async def login_succeeded(self, email: str, address: str) -> None:
        """Clear the (account, address) count and remember the pair as known."""
        keys = self._login_keys(email, address)
        await self._call(self.storage.clear(keys["pair"]))
        if not await self._call(self.storage.get(keys["known"])):
            await self._call(self.storage.incr(keys["known"], self.settings.session_ttl_seconds))


def _status(
    budget: Any, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> ThrottleStatus:
    window = budget.get_expiry()
    spent = math.floor(previous * previous_ttl / window) + current
    left = max(0.0, current_ttl - window)  # of the current window
    return ThrottleStatus(
        maximum_available=budget.amount,
        currently_available=max(0, budget.amount - spent),
        restore_rate=round(budget.amount / window, 3),
        full_in=left + window if current else (left if previous else 0.0),
        window=window,
    )


def _wait(
    budget: Any, cost: int, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> float:
    """Seconds until the sliding window (``limits``' counts: the previous window's hits and
    the current one's, with the seconds left of each) can pay ``cost``, if nothing else is
    spent meanwhile."""
    limit, window = budget.amount, budget.get_expiry()
    left = max(0.0, current_ttl - window)  # of the current window
    if current + cost <= limit:
        # the previous window's weight fades until its share fits
        wait = left - (limit - cost - current) * window / previous if previous else 0.0
    else:
        # once the current window is the previous one, its weight fades in turn
        wait = left + (window - (limit - cost) * window / current if current else 0.0)
    return math.ceil(max(wait, 0.0) * 1000 + 10) / 1000


def client_address(request: Any) -> str:
    """The client's address of an HTTP request or WebSocket (uvicorn takes it from
    ``X-Forwarded-For`` when the proxy is trusted: its ``FORWARDED_ALLOW_IPS``)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def address_key(request: Any) -> str:
    """The budget of calls without a valid token from ``request``'s client address."""
    return f"address:{client_address(request)}"


def budget_key(context: Any) -> str:
    """The budget an operation is charged to: its token's, else its client address's."""
    viewer = getattr(context, "current_viewer", None)
    if viewer is not None:
        return (
            f"token:{viewer.token_id}" if viewer.token_id is not None else f"user:{viewer.user_id}"
        )
    return address_key(getattr(context, "request", None))


HOLD_REFUSAL_SECONDS = 1.0
"""The longest an HTTP refusal for a spent budget is held before it is answered (a login
backoff's refusal is not held: it would wait the backoff out)."""


async def hold(request: Any, wait: float) -> float:
    """Wait out up to :data:`HOLD_REFUSAL_SECONDS` of ``wait`` before an HTTP request is
    refused for its budget (``RATE_LIMITED``, ``limit: "cost"``), and return what is left of it (the ``retryAfter`` to
    answer). A client that sends again as soon as it is answered (a flood) then sends a few
    requests a second per connection, not thousands; a client that waits ``retryAfter`` waits
    no longer in all. WebSocket refusals are not held (the socket's other operations go on)."""
    if getattr(request, "scope", {}).get("type") != "http":
        return wait
    held = min(wait, HOLD_REFUSAL_SECONDS)
    await asyncio.sleep(held)
    return max(0.0, round(wait - held, 3))


def budget_spent(wait: float) -> RateLimited:
    """The refusal of a client whose budget cannot pay a point (``limit``: ``cost``), to retry
    after ``wait`` seconds."""
    return RateLimited(
        "The budget is spent: retry after `retryAfter` seconds.", retryAfter=wait, limit="cost"
    )


async def admit_document(context: Any) -> None:
    """Admit a document the server has not parsed yet, before it is parsed: its client's
    budget must have a point left (:meth:`Throttle.admit`).

    Raises:
        RateLimited: the budget is spent (``limit``: ``cost``; ``retryAfter`` seconds).
    """
    throttle: Throttle | None = getattr(context, "throttle", None)
    if throttle is None:
        return
    wait = await throttle.admit(budget_key(context))
    if wait is not None:
        raise budget_spent(await hold(getattr(context, "request", None), wait))


async def spend_point(context: Any) -> None:
    """Spend one point of the client's budget for a document that did not parse, was over a
    limit or did not validate: sending new documents costs, valid or not."""
    throttle: Throttle | None = getattr(context, "throttle", None)
    if throttle is not None:  # nothing reports the budget after it: not read
        await throttle.charge(budget_key(context), 1, status=False)


@contextlib.asynccontextmanager
async def login_attempt(context: Any, email: str) -> AsyncIterator[None]:
    """Guard one password check of ``email``'s account (``login``, ``changePassword``):
    refuse it while its backoff runs, count it when the password is wrong
    (:class:`~graph.errors.Unauthenticated`, :class:`~graph.errors.WrongPassword`), clear the
    count when it is right.

    Raises:
        RateLimited: while a backoff of this account and client address runs (``retryAfter``
            seconds); the password is not checked.
    """
    throttle: Throttle | None = getattr(context, "throttle", None)
    if throttle is None:
        yield
        return
    address = client_address(getattr(context, "request", None))
    wait = await throttle.login_wait(email, address)
    if wait is not None:
        raise RateLimited(
            "Too many failed logins: retry after `retryAfter` seconds.",
            retryAfter=math.ceil(wait * 1000) / 1000,
            limit="login",
        )
    try:
        yield
    except (Unauthenticated, WrongPassword):
        await throttle.login_failed(email, address)
        raise
    await throttle.login_succeeded(email, address)


__all__ = [
    "HOLD_REFUSAL_SECONDS",
    "RETRY_STORAGE_SECONDS",
    "Charge",
    "Throttle",
    "ThrottleStatus",
    "address_key",
    "admit_document",
    "budget_key",
    "budget_spent",
    "client_address",
    "hold",
    "login_attempt",
    "spend_point",
]

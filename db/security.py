"""Password and access-token hashing.

Passwords are hashed with argon2id (argon2-cffi), off the event loop: argon2 costs tens of
milliseconds of CPU per hash by design, which on the loop would hold every other request and
WebSocket of the worker (16 concurrent failed logins held a worker for about 3 s). Hashing and
verification run in a small thread pool of their own (:data:`PASSWORD_THREADS`; argon2-cffi
releases the GIL while it hashes), at a lower CPU priority than the loop
(:data:`PASSWORD_THREAD_NICENESS`), so a burst of logins waits its turn there while the loop
answers everyone else. The hash parameters are OWASP's first argon2id configuration
(:data:`PASSWORD_HASH_PARAMETERS`): one thread and 19 MiB per hash, where argon2-cffi's
default (RFC 9106's low-memory profile) spreads each hash over four threads and 64 MiB, which
on a small machine took both cores from the loop during a login flood. Hashes made with other
parameters still verify, and are rehashed with these at the user's next successful login
(:func:`password_needs_rehash`). Bearer tokens are random, high-entropy
strings returned once to their owner; only their SHA-256 hex digest is stored, which makes
lookup a single indexed equality and a leaked table useless.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TOKEN_PREFIX = "igt_"

PASSWORD_HASH_PARAMETERS = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,
    parallelism=1,
)
"""argon2id with m = 19 MiB (``memory_cost`` in KiB), t = 2 passes, p = 1 lane: the first
configuration of the OWASP Password Storage Cheat Sheet. About 20 ms of one core per hash
here; a single lane keeps one hash on one thread, so the pool's threads are all the CPU that
logins can take."""

_hasher = PasswordHasher.from_parameters(PASSWORD_HASH_PARAMETERS)
# A valid hash of a random password, verified against when the e-mail is unknown so that a
# login answers in the same time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


PASSWORD_THREADS = max(1, min(4, (os.cpu_count() or 2) - 1))
"""Threads that hash and verify passwords, per worker process: one core's worth or so left
for the event loop; logins beyond it queue in the pool, not on the loop."""

PASSWORD_THREAD_NICENESS = 10
"""How much lower than the event loop's the password threads' CPU priority is (Linux ``nice``
of each thread): when the cores are busy, the loop answers first and hashing waits."""


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_THREAD_NICENESS)


_pool = ThreadPoolExecutor(
    max_workers=PASSWORD_THREADS, thread_name_prefix="argon2", initializer=_lower_priority
)


_turns = asyncio.Semaphore(PASSWORD_THREADS)


@contextlib.asynccontextmanager
async def password_turn() -> AsyncIterator[None]:
    """Wait, on the event loop, for one of :data:`PASSWORD_THREADS` turns at a password check,
    before reading the account it needs. The pool checks no more passwords at once than that
    anyway; waiting here instead of in its queue keeps a burst of logins from also queueing
    their account lookups ahead of everyone else's database reads (a single SQLite connection
    serves them in order)."""
    async with _turns:
        yield


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed in the password thread pool)."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (checked in the password thread pool).
    A ``None`` hash never matches, and costs the same time as a wrong password (unknown
    e-mails answer like wrong passwords)."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with parameters other than
    :data:`PASSWORD_HASH_PARAMETERS` (an older default); cheap, reads only the hash's header."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def new_token() -> str:
    """A fresh opaque bearer token (``igt_`` and 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a bearer token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


__all__ = [
    "PASSWORD_HASH_PARAMETERS",
    "PASSWORD_THREADS",
    "hash_password",
    "hash_token",
    "new_token",
    "password_needs_rehash",
    "password_turn",
    "verify_password",
]

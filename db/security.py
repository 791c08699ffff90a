"""Password and access-token hashing.

Passwords are hashed with argon2id (argon2-cffi). Bearer tokens are random, high-entropy
strings returned once to their owner; only their SHA-256 hex digest is stored, which makes
lookup a single indexed equality and a leaked table useless.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "igt_"

_hasher = PasswordHasher()
# A valid hash of a random password, verified against when the e-mail is unknown so that a
# login answers in the same time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; ``None`` hashes never match."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh opaque bearer token (``igt_`` and 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a bearer token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


__all__ = ["hash_password", "hash_token", "new_token", "verify_password"]

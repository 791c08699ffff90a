"""Secrets at rest: integration credentials (CRM access tokens) encrypted with Fernet.

The key comes from the environment (``INBOX_GRAPH_SECRET_KEY``, :mod:`graph.settings`), never
from the code or the database. Several comma-separated keys rotate: the first encrypts, every
one decrypts (``cryptography``'s ``MultiFernet``). Without a key, nothing can be encrypted:
operations that store a secret refuse with ``NOT_CONFIGURED`` (in development and tests
alike, so no secret is ever stored in the clear or under a well-known key).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from graph.errors import NotConfigured


class SecretUnreadable(Exception):
    """A stored secret no configured key decrypts (the key was changed without rotation)."""


class SecretBox:
    """Encrypts and decrypts short secrets with the configured keys."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    @property
    def configured(self) -> bool:
        """Whether a key is configured (else :meth:`encrypt` and :meth:`decrypt` raise)."""
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise NotConfigured(
                "Integration secrets cannot be stored: the server has no INBOX_GRAPH_SECRET_KEY. "
                "Ask its operator to set one."
            )
        return self._fernet

    def encrypt(self, secret: str) -> str:
        """The Fernet token (ASCII) of ``secret``.

        Raises:
            NotConfigured: no key is configured.
        """
        return self._require().encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The secret in a token made by :meth:`encrypt` (with any configured key).

        Raises:
            NotConfigured: no key is configured.
            SecretUnreadable: no configured key decrypts it.
        """
        try:
            return self._require().decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable() from None

    def decrypt_kept(self, token: str | None) -> str | None:
        """The secret in a token kept for a retry (an idempotency key's record), or ``None``
        when none was kept, no key is configured, or no configured key decrypts it now: a
        secret shown once that cannot be shown again."""
        if not token:
            return None
        try:
            return self.decrypt(token)
        except (NotConfigured, SecretUnreadable):
            return None


__all__ = ["SecretBox", "SecretUnreadable"]

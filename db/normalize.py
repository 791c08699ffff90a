"""Canonical forms of values users type: e-mail addresses."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalise_email(value: str) -> str:
    """The lower-cased, normalised form of an RFC 5322 address (no DNS look-up).

    Special-use domains such as ``.test`` are accepted, for sandboxes and demos.

    Raises:
        ValueError: the address is not valid, with the reason.
    """
    try:
        result = validate_email(value or "", check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


__all__ = ["normalise_email"]

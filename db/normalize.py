"""Canonical forms of values users type: e-mail addresses and phone numbers."""

from __future__ import annotations

import phonenumbers
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


def normalise_phone(value: str) -> tuple[str, str | None]:
    """The E.164 form of an international number (``+`` optional, spaces allowed), and the
    ISO 3166-1 region it belongs to (``None`` for non-geographic numbers).

    Example: ``"+44 7911 123456"`` gives ``("+447911123456", "GB")``.

    Raises:
        ValueError: the number is not a valid international phone number.
    """
    raw = (value or "").strip()
    try:
        number = phonenumbers.parse(raw if raw.startswith("+") else f"+{raw}", None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    region = phonenumbers.region_code_for_number(number)
    if not (region and len(region) == 2 and region.isalpha()):
        region = None  # "001": a non-geographic number
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region


__all__ = ["normalise_email", "normalise_phone"]

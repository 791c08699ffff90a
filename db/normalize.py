"""Canonical forms of values users type: e-mail addresses, phone numbers, countries and
languages. Every write path that stores one of them goes through these functions, so one
value has one stored form (and merge suggestions compare like with like)."""

from __future__ import annotations

import langcodes
import phonenumbers
import pycountry
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


def normalise_phone(value: str, default_region: str | None = None) -> tuple[str, str | None]:
    """The E.164 form of a phone number (spaces and punctuation allowed), and the ISO 3166-1
    region it belongs to (``None`` for non-geographic numbers).

    Without ``default_region`` the number must be international (``+`` optional). With it
    (an ISO 3166-1 alpha-2 code, e.g. the contact's country), a national number of that
    region is accepted too; an international one still parses as such.

    Examples: ``"+44 7911 123456"`` and ``"447911123456"`` give ``"+447911123456"`` (and its region);
    ``"07911 123456"`` with ``default_region="GB"`` gives the same.

    Raises:
        ValueError: the number is not a valid phone number.
    """
    raw = (value or "").strip()
    if not raw or len(raw) > 40:
        raise ValueError("not a valid phone number")
    number = None
    if default_region and not raw.startswith("+"):
        try:
            candidate = phonenumbers.parse(raw, default_region.upper())
            if phonenumbers.is_valid_number(candidate):
                number = candidate
        except phonenumbers.NumberParseException:
            pass
    if number is None:
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


def normalise_country(value: str) -> str:
    """The ISO 3166-1 alpha-2 code of a country, upper-cased (``"gb"`` gives ``"GB"``).

    Raises:
        ValueError: not an assigned alpha-2 code.
    """
    code = (value or "").strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


MAX_LANGUAGE_TAG_LENGTH = 35


def normalise_language(value: str) -> str:
    """The canonical BCP 47 form of a language tag (``"EN-gb"`` gives ``"en-GB"``).

    Raises:
        ValueError: not a valid BCP 47 tag of a known language, or longer than 35 characters.
    """
    tag = (value or "").strip()
    if not tag or len(tag) > MAX_LANGUAGE_TAG_LENGTH or not langcodes.tag_is_valid(tag):
        raise ValueError("not a valid BCP 47 language tag")
    try:
        return langcodes.standardize_tag(tag)
    except (ValueError, LookupError):
        raise ValueError("not a valid BCP 47 language tag") from None


__all__ = ["normalise_country", "normalise_email", "normalise_language", "normalise_phone"]

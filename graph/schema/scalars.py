"""The schema's scalars where strawberry's own would let a value through that the API cannot
use: ``DateTime`` refuses an instant whose UTC value falls outside years 1 to 9999.

strawberry parses ``DateTime`` with ``dateutil``'s ``isoparse``, which accepts
``9999-12-31T23:59:59-01:00``: a valid text whose UTC instant is in year 10000, which Python
cannot hold. Every resolver reads instants in UTC, so such a value reached one and its
``astimezone(UTC)`` raised ``OverflowError``: a 500 with a traceback (``createAccessToken``'s
``expiresAt``, ``reportMessageStatus``'s ``occurredAt``; a helper's review). Refused here,
once for every argument and input field, it is a coded error naming the value, and nothing
runs.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser

DATETIME_DESCRIPTION = (
    "Date with time, ISO 8601 with its UTC offset (answers are UTC: `+00:00`); a value sent "
    "must fall within years 1 to 9999 once in UTC."
)


def _instant(text: str) -> datetime:
    """``text`` as a datetime whose UTC instant Python can hold.

    Raises:
        ValueError: ``text`` is not ISO 8601.
        OverflowError: its UTC instant falls outside years 1 to 9999.
    """
    value = dateutil.parser.isoparse(text)
    if value.tzinfo is not None:
        value.astimezone(UTC)
    return value


SCALAR_OVERRIDES = {
    datetime: dataclasses.replace(
        DateTimeDefinition,
        description=DATETIME_DESCRIPTION,
        parse_value=wrap_parser(_instant, "DateTime", (ValueError, OverflowError)),
    )
}
"""``strawberry.Schema(scalar_overrides=...)``."""

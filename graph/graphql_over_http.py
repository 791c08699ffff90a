"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the media type a
response is written in, and the status it is answered with.

Media type (the spec's "Body"): the client's ``Accept`` header picks
``application/graphql-response+json`` or ``application/json`` by quality (q-values, parsed by
python-mimeparse); between two of equal quality, the one the header names first, and for a
wildcard (``*/*``, ``application/*``) ``application/json``. Without an ``Accept`` header the
answer is ``application/json`` (the spec's rule before its 2025 watershed, kept for the curl
and legacy clients that send none, and what graphql-http's audit "SHOULD assume
application/json content-type when accept is missing" checks). An ``Accept`` header naming
neither (``text/html`` alone, or one that does not parse) is answered ``406 Not Acceptable``
(the spec's RECOMMENDED choice) before anything runs. Every answer says ``charset=utf-8``.

Status (the spec's "Status Codes"), :func:`response_status`:

- a response with non-null ``data`` is 200, whatever errors it holds (a MUST for both types);
- a response without ``data`` (a *request error*: the document did not parse or validate, the
  operation could not be determined, its variables could not be coerced, a limit refused it
  before it ran) is 400 under ``application/graphql-response+json`` (500 for a masked
  ``INTERNAL_SERVER_ERROR``) and 200 under ``application/json``;
- whatever the media type, ``SERVICE_UNAVAILABLE`` answers 503 with ``Retry-After`` and
  ``RATE_LIMITED`` 429 with ``Retry-After`` (whole seconds, rounded up from
  ``extensions.retryAfter``) when ``data`` is absent or null. These, and the refusals of the
  HTTP layer (413 body too large, 408/504 time limit, 405 mutation over GET, 415 a POST body
  that is not ``application/json``, 406), are deliberate: clients, proxies and load balancers
  retry and back off on them; the spec allows 4xx/5xx for ``application/json`` to legacy
  servers and asks for them under ``application/graphql-response+json``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import mimeparse

from db.availability import RETRY_AFTER_SECONDS
from graph.errors import ErrorCode

JSON = "application/json"
"""The legacy media type: every well-formed request is answered 200 (bar the limits above)."""
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
"""The spec's media type: the status says whether the request ran."""
MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)
"""The response media types served, the preferred first when a wildcard leaves the choice."""
MAX_MEDIA_RANGES = 32
"""Media ranges of an ``Accept`` header read (the first ones); the rest are ignored."""
MAX_MEDIA_RANGE_LENGTH = 200
"""Characters of one media range (its parameters included); a longer one is ignored. With
both bounds, reading any header costs well under a millisecond: parsing all of a 52 KB
header of ranges held the event loop for 44 ms."""


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer a request with.

    Args:
        accept: the request's ``Accept`` header, or ``None`` when it has none.

    Returns:
        :data:`GRAPHQL_RESPONSE_JSON` or :data:`JSON` (see the module's docstring for the
        choice), or ``None`` when the header accepts neither (answer 406). Only its first
        :data:`MAX_MEDIA_RANGES` media ranges of at most :data:`MAX_MEDIA_RANGE_LENGTH`
        characters are read.

    Example:
        >>> response_media_type("application/graphql-response+json, application/json;q=0.9")
        'application/graphql-response+json'
        >>> response_media_type("*/*")
        'application/json'
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = [
        item.strip()
        for item in accept.split(",", MAX_MEDIA_RANGES)[:MAX_MEDIA_RANGES]
        if item.strip() and len(item) <= MAX_MEDIA_RANGE_LENGTH
    ]
    # media types are case-insensitive (RFC 9110, section 8.3.1): ``APPLICATION/JSON`` too
    return _negotiate(",".join(ranges).lower()) if ranges else None


@functools.lru_cache(maxsize=128)  # clients send the same few headers over and over
def _negotiate(accept: str) -> str | None:
    """:func:`response_media_type` of a header of at most :data:`MAX_MEDIA_RANGES` ranges."""
    try:
        qualities = {
            media_type: mimeparse.quality(media_type, accept) for media_type in MEDIA_TYPES
        }
        named = ["/".join(mimeparse.parse_media_range(item)[:2]) for item in accept.split(",")]
    except (mimeparse.MimeTypeParseException, ValueError):
        return None
    best = max(qualities.values())
    if best <= 0:
        return None
    chosen = [media_type for media_type in MEDIA_TYPES if qualities[media_type] == best]
    # equal quality: the one named first in the header; named by a wildcard only: ours
    chosen.sort(key=lambda media_type: named.index(media_type) if media_type in named else 99)
    return chosen[0]


def content_type(media_type: str) -> str:
    """The ``Content-Type`` header of a response in ``media_type``."""
    return f"{media_type}; charset=utf-8"


def response_status(body: Any, media_type: str) -> tuple[int, dict[str, str]]:
    """The status of a GraphQL response and the headers that go with it.

    Args:
        body: the response as sent (a dict with ``data`` when the operation ran, ``errors``,
            ``extensions``), or a list of them for a batch.
        media_type: :data:`JSON` or :data:`GRAPHQL_RESPONSE_JSON`.

    Returns:
        ``(status, headers)``; see the module's docstring for the rules.
    """
    if isinstance(body, list):
        answers = [response_status(item, media_type) for item in body]
        return max(answers, key=lambda answer: answer[0]) if answers else (200, {})
    if body.get("data") is not None:
        return 200, {}
    errors = body.get("errors") or ()
    codes = [(error.get("extensions") or {}).get("code") for error in errors]
    if ErrorCode.SERVICE_UNAVAILABLE in codes:
        return 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if ErrorCode.RATE_LIMITED in codes:
        waits = [
            (error.get("extensions") or {}).get("retryAfter") or 0
            for error, code in zip(errors, codes, strict=True)
            if code == ErrorCode.RATE_LIMITED
        ]
        return 429, {"Retry-After": str(max(1, math.ceil(max(waits))))}
    if "data" in body or media_type == JSON:
        return 200, {}
    return (500 if ErrorCode.INTERNAL_SERVER_ERROR in codes else 400), {}


__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "JSON",
    "MEDIA_TYPES",
    "content_type",
    "response_media_type",
    "response_status",
]

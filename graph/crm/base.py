"""What every CRM client shares: field specifications, validation of edits, the HTTP client
with timeouts and retries, phone matching and the metadata cache.

``domain.md`` section 6 (CRM tabs): each CRM shows a fixed set of supported fields, with
label, type, value and whether it is editable; edits are validated here, before anything is
sent, so a bad value never reaches the CRM.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import httpx
import phonenumbers
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from db.normalize import normalise_email
from graph.errors import BadUserInput, CrmUnavailable, FieldErrors
from graph.request_scope import current_request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from tenacity import RetryCallState

    from graph.settings import Settings

log = logging.getLogger("graph.crm")

MAX_FIELDS_PER_EDIT = 50


class FieldKind(str, Enum):
    """How a client renders and validates a CRM field."""

    TEXT = "TEXT"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    ENUMERATION = "ENUMERATION"


@dataclass(frozen=True)
class Option:
    """One allowed value of an enumeration (HubSpot option, Salesforce picklist value)."""

    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """A supported field of a CRM object, as the CRM describes it.

    ``max_length``: characters (``None``: the CRM states none). ``options``: the allowed
    values of an enumeration (``None`` for other kinds).
    """

    name: str
    label: str
    kind: FieldKind
    editable: bool
    max_length: int | None = None
    options: tuple[Option, ...] | None = None


@dataclass(frozen=True)
class Match:
    """A CRM record found for a contact: its object type, id, and how it matched."""

    object_type: str
    record_id: str
    matched_by: str  # "EMAIL" or "PHONE"


@dataclass(frozen=True)
class Record:
    """A CRM record as the CRM has it now: its supported fields and their values."""

    object_type: str
    record_id: str
    url: str
    specs: tuple[FieldSpec, ...]
    values: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountFacts:
    """What connecting learns about the CRM account (nothing secret)."""

    account_id: str | None
    app_url: str | None


class RecordGone(Exception):
    """The linked record no longer exists in the CRM (deleted, merged away, converted)."""


def validate_edit(
    specs: Iterable[FieldSpec], changes: list[tuple[str, str | None]]
) -> dict[str, str | None]:
    """Check an edit against the CRM's field specifications before anything is sent.

    Args:
        specs: the object's supported fields (:class:`FieldSpec`).
        changes: ``(field name, new value)`` pairs; ``None`` or ``""`` clears the field.

    Returns:
        The changes by field name, values trimmed (e-mail addresses normalised).

    Raises:
        BadUserInput: naming the field (``extensions.field``, the CRM's name;
            ``extensions.inputPath`` ``["fields", i, "name" or "value"]``) for an empty edit, a
            field given twice, an unknown or read-only field, a string over the field's maximum
            length, a malformed e-mail address, or a value outside an enumeration's options;
            every bad field at once (:class:`graph.errors.FieldErrors`).
    """
    by_name = {s.name: s for s in specs}
    if not changes:
        raise BadUserInput("`fields` must name at least one field.", field="fields")
    if len(changes) > MAX_FIELDS_PER_EDIT:
        raise BadUserInput(f"At most {MAX_FIELDS_PER_EDIT} fields per edit.", field="fields")
    cleaned: dict[str, str | None] = {}
    errors = FieldErrors()
    for position, (name, raw) in enumerate(changes):
        with errors.collect():
            cleaned[name] = _checked(by_name, cleaned, position, name, raw)
    errors.raise_if_any()
    return cleaned


def _checked(
    by_name: dict[str, FieldSpec],
    cleaned: dict[str, str | None],
    position: int,
    name: str,
    raw: str | None,
) -> str | None:
    """The value of the ``position``-th change of an edit (:func:`validate_edit`), checked."""

    def refuse(message: str, part: str = "value") -> BadUserInput:
        return BadUserInput(message, field=name, inputPath=["fields", position, part])

    spec = by_name.get(name)
    if spec is None:
        known = ", ".join(s.name for s in by_name.values())
        raise refuse(f"`{name}` is not a supported field (one of: {known}).", "name")
    if name in cleaned:
        raise refuse(f"`{name}` is given twice.", "name")
    if not spec.editable:
        raise refuse(f"`{name}` ({spec.label}) is read-only.", "name")
    value = raw.strip() if raw is not None else None
    value = value or None
    if value is None:
        return None
    if spec.max_length is not None and len(value) > spec.max_length:
        raise refuse(f"`{name}` ({spec.label}) is at most {spec.max_length} characters.")
    if spec.kind is FieldKind.EMAIL:
        try:
            value = normalise_email(value)
        except ValueError as exc:
            raise refuse(f"`{name}` is not a valid e-mail address: {exc}") from None
    if spec.kind is FieldKind.ENUMERATION and value not in {o.value for o in spec.options or ()}:
        allowed = ", ".join(o.value for o in spec.options or ())
        raise refuse(f"`{name}` ({spec.label}) must be one of: {allowed}.")
    return value


# --- phone matching ---------------------------------------------------------------------


def phone_variants(e164: str) -> list[str]:
    """The usual ways a CRM user types ``e164``: E.164, international and national format.

    Example: ``+447911123456`` gives ``["+447911123456", "+44 7911 123456", "07911 123456"]``.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [e164]
    formats = (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    )
    return list(dict.fromkeys(phonenumbers.format_number(number, f) for f in formats))


def phone_tail(e164: str, digits: int = 4) -> str:
    """The last ``digits`` digits of a number: a loose CRM-side filter, checked exactly after."""
    return "".join(c for c in e164 if c.isdigit())[-digits:]


def same_phone(typed: str | None, e164: str, region: str | None) -> bool:
    """Whether a number typed in a CRM (any format) is ``e164``; a national format is read in
    ``region`` (the contact's country), else in the country of ``e164``."""
    if not typed:
        return False
    try:
        default = region or phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
        number = phonenumbers.parse(typed, default)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == e164


# --- metadata cache ---------------------------------------------------------------------


class TtlCache:
    """A small per-worker cache of CRM metadata (field labels, options), bounded in size.

    Concurrent misses for one key share one load.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}
        self._max_entries = max_entries

    async def get(self, key: Any, ttl_seconds: float, load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(value)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (now + ttl_seconds, value)
        return value


metadata_cache = TtlCache()


# --- HTTP -------------------------------------------------------------------------------


class _Retryable(Exception):
    """A 429 or 5xx answer, or a failed connection: worth another try."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None``
    for a missing or unreadable one, a date past what Python holds included (a receiver's
    ``+99999999999999999999`` offset raised ``OverflowError`` out of the delivery loop: a
    helper's review). CRM answers and webhook receivers' are read with it
    (:func:`graph.webhooks.retry_after`)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit, not to float
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


CALL_SHARE = 0.75
"""The share of its request's time (``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` from the request's
start, :mod:`graph.request_scope`) by which every CRM call a request makes has ended."""
_ENCODING_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})
MAX_ANSWER_BYTES = 8 * 2**20
"""The largest CRM answer read (a page of search results or a record is a few KB)."""

_http: httpx.AsyncClient | None = None


def shared_http() -> httpx.AsyncClient:
    """The worker's HTTP connection pool for CRM calls (credentials go per request). Redirects
    are not followed: a CRM URL never sends the server elsewhere."""
    global _http
    if _http is None or _http.is_closed:
        _http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "inbox-graph"})
    return _http


async def close_http() -> None:
    """Close the pool (application shutdown)."""
    global _http
    if _http is not None:
        await _http.aclose()
        _http = None


class CrmHttpClient:
    """A small JSON-over-HTTPS client for one CRM account.

    Each try, its whole answer included, takes at most ``crm_timeout_seconds`` (a timeout is
    not tried again), and the calls of one request, their tries and the waits between them,
    end by :data:`CALL_SHARE` of the request's time from its start. A CRM trickling its
    answer a byte at a time kept a try going for as long as it liked (httpx's timeout bounds
    each read), and slow tries or calls outlasted the request's time limit: the whole answer
    timed out, where the ``crm`` field alone should be ``CRM_UNAVAILABLE`` (a helper's
    review). A 429 or 5xx answer, or a failed connection, is
    tried again up to ``crm_max_attempts`` times in all, waiting the answer's ``Retry-After``
    when it gives one (else exponential backoff with jitter). A ``Retry-After`` longer than
    ``crm_retry_max_wait_seconds`` is not waited for. When the tries or the time run out the
    CRM is unavailable (``CRM_UNAVAILABLE``); so is an answer larger than
    :data:`MAX_ANSWER_BYTES`. Other error answers become coded errors through
    :meth:`error_for` (each CRM reads its own error payloads).
    """

    name = "CRM"

    def __init__(self, settings: Settings, base_url: str, token: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _unavailable(self, what: str) -> CrmUnavailable:
        """``CRM_UNAVAILABLE``: "<the CRM's name> <what>"."""
        return CrmUnavailable(f"{self.name} {what}", provider=self.name.upper())

    def error_for(self, response: httpx.Response) -> Exception:
        """The coded error (or :class:`RecordGone`) for a non-success, non-retryable answer."""
        raise NotImplementedError

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return error.retry_after
        return wait_exponential_jitter(initial=0.5, max=4.0)(state)

    def _stop(self, state: RetryCallState) -> bool:
        if stop_after_attempt(self.settings.crm_max_attempts)(state):
            return True
        error = state.outcome.exception() if state.outcome else None
        return (
            isinstance(error, _Retryable)
            and error.retry_after is not None
            and error.retry_after > self.settings.crm_retry_max_wait_seconds
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request (``path`` relative to the base URL, or absolute on it) and return
        the successful (2xx) answer.

        Raises:
            CrmUnavailable: timeouts, and 429/5xx/connection failures once tries run out.
            CrmAuthFailed, BadUserInput, RecordGone: from :meth:`error_for`.
        """
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        seconds = self.settings.crm_timeout_seconds
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=self._stop,
            reraise=True,
        )
        request = current_request()
        until = request.until(CALL_SHARE) if request is not None else None
        try:
            async with asyncio.timeout_at(until):
                async for attempt in retrying:
                    with attempt:
                        try:
                            async with asyncio.timeout(seconds):
                                response = await self._send(method, url, params, json, headers)
                        except httpx.TimeoutException:
                            raise TimeoutError from None  # not tried again
                        except (httpx.TransportError, httpx.DecodingError) as exc:
                            raise _Retryable(
                                f"could not reach {self.name}: {type(exc).__name__}"
                            ) from None
                        if response.status_code == 429 or response.status_code >= 500:
                            raise _Retryable(
                                f"{self.name} answered {response.status_code}",
                                retry_after_seconds(response.headers.get("Retry-After")),
                            )
        except TimeoutError:  # a try's, or the request's share (httpx's becomes one above)
            raise self._unavailable(f"did not answer within {seconds:g} seconds.") from None
        except _Retryable as exc:
            log.warning("%s unavailable: %s", self.name, exc.reason)
            raise self._unavailable(f"is unavailable ({exc.reason}); try again later.") from None
        if response.is_success:
            return response
        raise self.error_for(response)

    async def _send(
        self, method: str, url: str, params: Any, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        """One try: the answer with its body read, at most :data:`MAX_ANSWER_BYTES` of it.

        Raises:
            CrmUnavailable: the answer is larger.
            httpx.TransportError: as httpx.
        """
        client = shared_http()
        timeout = httpx.Timeout(self.settings.crm_timeout_seconds)
        request = client.build_request(
            method, url, params=params, json=json, headers=headers, timeout=timeout
        )
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():  # decoded (gzip …)
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise self._unavailable(f"answered more than {MAX_ANSWER_BYTES // 2**20} MB.")
        finally:
            await response.aclose()
        # the body as read, decoded: without the headers that described it as sent
        decoded = httpx.Headers(
            [(k, v) for k, v in response.headers.raw if k.lower() not in _ENCODING_HEADERS]
        )
        return httpx.Response(
            response.status_code, headers=decoded, content=bytes(body), request=request
        )


class Crm:
    """One CRM account, as the CRM tabs use it (implemented per provider).

    ``connection`` facts (account id, app URL) come from :meth:`verify` at connection time.
    """

    provider: str
    object_types: tuple[str, ...]

    async def verify(self) -> AccountFacts:
        """Check the credentials against the CRM and learn the account's facts.

        Raises:
            CrmAuthFailed: the CRM refuses the credentials (or lacks the needed scopes).
            CrmUnavailable: the CRM cannot be reached.
        """
        raise NotImplementedError

    async def specs(self, object_type: str) -> tuple[FieldSpec, ...]:
        """The supported fields of ``object_type``, with the CRM's labels and options."""
        raise NotImplementedError

    async def find(self, email: str | None, phone: str | None, region: str | None) -> Match | None:
        """The record matching an e-mail address, else a phone number (E.164), or ``None``."""
        raise NotImplementedError

    async def fetch(self, object_type: str, record_id: str) -> Record:
        """The record as the CRM has it now.

        Raises:
            RecordGone: it no longer exists.
        """
        raise NotImplementedError

    async def update(
        self, object_type: str, record_id: str, changes: dict[str, str | None]
    ) -> None:
        """Write validated changes (``None`` clears a field).

        Raises:
            RecordGone: it no longer exists.
            BadUserInput: the CRM refused a value (naming the field when the CRM does).
        """
        raise NotImplementedError


def payload(response: httpx.Response) -> Any:
    """The JSON body of an answer, or ``None`` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


__all__ = [
    "AccountFacts",
    "Crm",
    "CrmHttpClient",
    "FieldKind",
    "FieldSpec",
    "Match",
    "Option",
    "Record",
    "RecordGone",
    "close_http",
    "metadata_cache",
    "payload",
    "phone_tail",
    "phone_variants",
    "retry_after_seconds",
    "same_phone",
    "shared_http",
    "validate_edit",
]

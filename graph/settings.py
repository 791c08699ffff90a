"""Settings from the environment, in one place.

| variable | default | meaning |
| --- | --- | --- |
| ``DATABASE_URL`` | ``sqlite://inbox-graph.db`` | SQLite file or ``postgres://…`` |
| ``BROADCAST_URL`` | ``memory://`` | broadcaster backend; ``redis://…`` to share events across workers; any other scheme is refused at start |
| ``INBOX_GRAPH_ENV`` | ``development`` | ``production`` turns introspection and the IDE off by default, and allows no loopback origin it does not list |
| ``INBOX_GRAPH_ALLOWED_ORIGINS`` | ``http://localhost:3000`` | comma-separated browser origins allowed to call the API (CORS) and open a WebSocket (``*`` for any); outside production every loopback origin (``http://localhost:*``, ``http://127.0.0.1:*``, ``http://[::1]:*``) is allowed too (:mod:`graph.origins`) |
| ``INBOX_GRAPH_INTROSPECTION`` | on in development | ``0``/``1``; off, validation errors suggest no names ("Did you mean …?") either |
| ``INBOX_GRAPH_IDE`` | on in development | ``0``/``1``: GraphiQL on ``GET /graphql``, its assets served by the API on ``/graphiql/`` (:mod:`graph.ide`; ``npm ci`` in ``graph/ide``) |
| ``INBOX_GRAPH_LIVE_PAGE`` | on in development | ``0``/``1``: the live page on ``GET /``, its files on ``/live/`` (:mod:`graph.page`; ``npm ci`` in ``graph/page``); in development it offers the demo's logins; in production the API's own origin must be in ``INBOX_GRAPH_ALLOWED_ORIGINS`` for its WebSocket |
| ``INBOX_GRAPH_SESSION_TTL_SECONDS`` | ``2592000`` (30 days) | lifetime of a login token |
| ``INBOX_GRAPH_SUBSCRIBER_QUEUE`` | ``1000`` | events buffered per subscription before it is cut off |
| ``INBOX_GRAPH_EVENT_RETENTION_SECONDS`` | ``86400`` | how long the outbox keeps events for resuming |
| ``INBOX_GRAPH_PRUNE_INTERVAL_SECONDS`` | ``300`` | how often each worker deletes outbox events and idempotency keys past their retention |
| ``INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS`` | ``86400`` | how long a creating mutation's ``idempotencyKey`` is remembered (:mod:`graph.idempotency`); pruned with the outbox, at least 1 |
| ``INBOX_GRAPH_CHANNEL_NAMESPACE`` | the database's name | prefix of the broadcaster channels, so deployments (or test runs) sharing one Redis with different databases never receive each other's events |
| ``INBOX_GRAPH_SECRET_KEY`` | none | Fernet key(s) encrypting integration secrets (CRM tokens) at rest; comma-separated for rotation (the first encrypts, all decrypt). Without it connecting a CRM is refused (``NOT_CONFIGURED``); ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`` makes one |
| ``INBOX_GRAPH_HUBSPOT_URL`` | ``https://api.hubapi.com`` | HubSpot's API base URL |
| ``INBOX_GRAPH_CRM_TIMEOUT_SECONDS`` | ``10`` | how long one CRM request may take, its whole answer included, before the CRM counts as unavailable (not tried again); the CRM calls of a GraphQL request end by three quarters of its ``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` |
| ``INBOX_GRAPH_CRM_MAX_ATTEMPTS`` | ``3`` | tries of one CRM request answered 429 or 5xx (backoff, or the CRM's ``Retry-After``) |
| ``INBOX_GRAPH_CRM_METADATA_TTL_SECONDS`` | ``600`` | how long field labels and picklist options read from a CRM are cached (per worker) |
| ``INBOX_GRAPH_COUNT_SQL_STATEMENTS`` | ``0`` | test hook: ``1`` answers every HTTP response with an ``X-SQL-Statements`` header (``graph.statement_count``); for the query-count tests and ``bench/queries``, never in production |
| ``INBOX_GRAPH_BENCH_BASELINE`` | ``0`` | ``1`` also serves ``POST /bench/raw/<operation>``, the raw-SQL baseline of ``bench/queries`` (``bench.raw_sql``, importable from a checkout only); never in production |
| ``INBOX_GRAPH_RING_SWEEP_INTERVAL_SECONDS`` | ``1`` | how often each worker turns calls ringing past their workspace's ring timeout into ``MISSED`` |
| ``INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS`` | ``5`` | the shortest ``callRingTimeoutSeconds`` a workspace may set (at least 1) |
| ``INBOX_GRAPH_WS_COMPRESSION`` | ``off`` | WebSocket ``permessage-deflate`` (which every browser offers): ``off`` declines it; ``bounded`` accepts it without context takeover and with a small window, so an idle socket holds no compression state (``graph.ws_compression``) |
| ``INBOX_GRAPH_PLAIN_LEAVES`` | ``1`` | ``0``: graphql-core completes every field, plain scalar and enum fields included (``graph.schema.direct``; the same JSON, for comparison); selection plans off too |
| ``INBOX_GRAPH_PLANS`` | ``1`` | ``0``: graphql-core completes every object (``graph.schema.plan``; the same JSON, for comparison) |
| ``INBOX_GRAPH_LEAN_READS`` | ``1`` | ``0``: an inbox list reads every column of its rows, even those none of the request's fields read (``graph.schema.lean``; the same JSON, for comparison) |
| ``INBOX_GRAPH_ROW_JSON`` | ``1`` | ``0``: the nodes of inbox lists, timelines and contact panels' activities are completed in Python, never written as JSON by PostgreSQL (``graph.schema.row_json``; the same JSON, for comparison) |
| ``INBOX_GRAPH_COMBINED_READS`` | ``1`` | ``0``: the sidebar, a timeline, a contact panel and ``node`` read each of their rows' kinds with a statement of its own instead of one statement for several (``db.combined``; the same JSON, for comparison) |
| ``INBOX_GRAPH_SHARED_FANOUT`` | ``1`` | ``0``: every subscription resolves, serialises and sends each event on its own, with its own database reads (the naive baseline of ``bench/fanout``) |
| ``INBOX_GRAPH_HEADER_TIMEOUT_SECONDS`` | ``10`` | seconds a connection has to send a complete request head (request line and headers), from its opening or from its next byte after a response; otherwise it is closed (idle and slowloris clients). Read by ``inbox-graph serve`` (``graph.server``) |
| ``INBOX_GRAPH_KEEP_ALIVE_SECONDS`` | ``5`` | seconds an idle keep-alive HTTP connection stays open after a response (uvicorn's ``timeout_keep_alive``). Read by ``inbox-graph serve`` |
| ``INBOX_GRAPH_MAX_CONNECTIONS`` | the open files limit less 256 | open connections (HTTP and WebSocket) per worker; beyond it a new connection is answered 503 (``SERVICE_UNAVAILABLE``) and closed at once. ``inbox-graph serve`` raises the process's open files limit to its hard limit and lowers a value that would not fit under it. Read by ``inbox-graph serve`` |
| ``INBOX_GRAPH_RATE_LIMIT_URL`` | ``BROADCAST_URL`` when it is ``redis://…``, else ``memory://`` | where the rate-limit budgets live (:mod:`graph.throttle`): ``memory://`` per worker, ``redis://host:6379`` shared by every worker and host. While it cannot be reached, limits are not enforced (one log line when it goes, one when it is back) |
| ``INBOX_GRAPH_RATE_LIMIT_POINTS`` | ``1000`` | a token's budget of query cost points (``throttleStatus.maximumAvailable``; :mod:`graph.cost`); no operation may cost more |
| ``INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS`` | ``200`` | the budget of each client address for calls without a valid token (``login``) |
| ``INBOX_GRAPH_RATE_LIMIT_WINDOW_SECONDS`` | ``20`` | whole seconds over which a spent budget comes back: restore rate = points / window (50 points a second for a token, 10 for an address) |
| ``INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_SOCKET`` | ``100`` | operations open at once on one WebSocket (subscriptions, and queries or mutations still running) |
| ``INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER`` | ``500`` | operations open at once over WebSockets per user, per worker |
| ``INBOX_GRAPH_LOGIN_FAILURES_BEFORE_BACKOFF`` | ``5`` | failed ``login`` calls for one account from one client address before each next try waits (1 s, doubling) |
| ``INBOX_GRAPH_LOGIN_ADDRESS_FAILURES`` | ``20`` | failed ``login`` calls from one client address (any account) before it backs off, except for accounts that logged in from it before |
| ``INBOX_GRAPH_LOGIN_ACCOUNT_FAILURES`` | ``50`` | failed ``login`` calls for one account (any address) before it backs off, except from addresses it logged in from before |
| ``INBOX_GRAPH_LOGIN_FAILURE_WINDOW_SECONDS`` | ``900`` | how long a failed ``login`` is counted |
| ``INBOX_GRAPH_LOGIN_MAX_BACKOFF_SECONDS`` | ``900`` | the longest wait a login backoff imposes |
| ``INBOX_GRAPH_MAX_DOCUMENT_CHARACTERS`` | ``100000`` | characters of a GraphQL document not parsed before (comments and strings included, which the token limit does not count); beyond it ``GRAPHQL_PARSE_FAILED`` before parsing |
| ``INBOX_GRAPH_MAX_FIELDS`` | ``1000`` | field selections of one document, a fragment's counted at each spread; checked before validation (:func:`graph.extensions.selection_load`) |
| ``INBOX_GRAPH_MAX_FIELD_OVERLAPS`` | ``1000`` | pairs of selections sharing a response name in one selection set, sub-selections merged (what graphql's "fields can be merged" rule compares one by one); checked before validation |
| ``INBOX_GRAPH_MAX_BODY_BYTES`` | ``1048576`` | bytes of an HTTP request body; beyond it 413, before the rest is read |
| ``INBOX_GRAPH_MAX_FRAME_BYTES`` | ``1048576`` | bytes of a WebSocket message from a client; beyond it the socket is closed with 1009. Read by ``inbox-graph serve`` |
| ``INBOX_GRAPH_DOCUMENT_CACHE_BYTES`` | ``262144`` | bytes of document text whose parsed and validated form each worker keeps (``graph.extensions.Documents``; about 150 bytes of memory per byte of text) |
| ``INBOX_GRAPH_TRUSTED_DOCUMENTS`` | ``0`` | ``1`` runs only the documents registered by ``inbox-graph register-documents`` (by hash, or their exact text); anything else is refused with ``PERSISTED_QUERY_ONLY`` (:mod:`graph.persisted`). Switch it on in production once the clients' manifests are registered |
| ``INBOX_GRAPH_APQ_STORE_BYTES`` | ``1048576`` | bound of the automatic persisted queries store (:mod:`graph.persisted`), each document weighed as its text's bytes plus 200: per worker in memory, or in total in Redis when ``BROADCAST_URL`` is ``redis://…``; the least recently used go first |
| ``INBOX_GRAPH_APQ_TTL_SECONDS`` | ``86400`` | how long an automatic persisted query is kept after it was last used |
| ``INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS`` | ``5`` | seconds one webhook delivery may take (connect, send, answer) before it counts as failed and is retried (:mod:`graph.webhooks`) |
| ``INBOX_GRAPH_WEBHOOK_RETRY_MIN_SECONDS`` | ``1`` | the first wait before retrying a failed webhook delivery; it doubles per failure of one event, with jitter (a random 50 to 100 % of it) |
| ``INBOX_GRAPH_WEBHOOK_RETRY_MAX_SECONDS`` | ``600`` | the longest wait between two tries of one webhook delivery (a receiver's ``Retry-After`` included) |
| ``INBOX_GRAPH_WEBHOOK_RETRY_WINDOW_SECONDS`` | ``86400`` | how long one event is retried; then its endpoint is disabled (``disabledReason``) and its queue waits for re-enabling |
| ``INBOX_GRAPH_WEBHOOK_POLL_SECONDS`` | ``1`` | the deliverer's safety net: an endpoint with nothing to deliver is woken by the event bus when its workspace commits an event, and reads the outbox at least this often anyway; unleased endpoints (another worker died, one was created or enabled on another worker) are claimed this often |
| ``INBOX_GRAPH_WEBHOOK_LEASE_SECONDS`` | ``30`` | how long a worker's claim on an endpoint holds without renewal: another worker takes over a dead worker's endpoints after it |
| ``INBOX_GRAPH_WEBHOOK_SECRET_GRACE_SECONDS`` | ``86400`` | how long the previous signing secret still signs deliveries after ``rotateWebhookEndpointSecret`` |
| ``INBOX_GRAPH_VIEWER_CACHE_SECONDS`` | ``10`` | the longest a worker answers HTTP requests with a token's viewer (user, teams, token) from its cache (:class:`graph.auth.ViewerCache`) when no change is announced; changes made through the API are seen by the next request on every worker regardless (with ``memory://``: in its one process). ``0``: no cache, one statement per request. ``inbox-graph serve --workers N`` with ``memory://`` turns it off (workers could not tell each other) |
| ``INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS`` | ``30`` | seconds an HTTP request may take from its head to its answer; beyond it 408 (body still arriving) or 504, code ``TIMEOUT``; a query or mutation sent over the WebSocket has as long (then a ``next`` with a ``TIMEOUT`` error and ``complete``) |
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from db.config import database_name, database_url


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _seconds(name: str, default: float) -> float:
    """A positive, finite number of seconds from ``name``.

    Raises:
        ValueError: when the value is not a finite number above 0.
    """
    try:
        value = _float(name, default)
    except ValueError:
        value = 0
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a number of seconds above 0.")
    return value


def _limit(name: str) -> int | None:
    """A positive whole number from ``name``, or ``None`` when it is not set.

    Raises:
        ValueError: when the value is not a whole number above 0.
    """
    if not os.environ.get(name):
        return None
    try:
        value = _int(name, 0)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a whole number above 0.")
    return value


def _seconds_or_none(name: str, default: float) -> float:
    """A finite number of seconds from ``name``, 0 (none) or more.

    Raises:
        ValueError: when the value is not a finite number of 0 or more.
    """
    try:
        value = _float(name, default)
    except ValueError:
        value = -1
    if not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a number of seconds, 0 or more.")
    return value


def _whole(name: str, default: int) -> int:
    """A whole number above 0 from ``name``, or ``default`` when it is not set.

    Raises:
        ValueError: when the value is not a whole number above 0.
    """
    value = _limit(name)
    return default if value is None else value


def _broadcast_url() -> str:
    """``BROADCAST_URL``, default ``memory://``: the events' backend (:class:`graph.live.EventBus`).

    Raises:
        ValueError: for a URL that is neither ``memory://`` nor ``redis://``/``rediss://`` (the
            backends the event bus is built and tested with), checked at start.
    """
    url = (os.environ.get("BROADCAST_URL") or "").strip() or "memory://"
    if url != "memory://" and not url.startswith(("redis://", "rediss://")):
        raise ValueError(
            f"BROADCAST_URL {url!r} is not supported: use memory:// (one process) or "
            "redis://HOST:6379 (events shared by every worker and host)."
        )
    return url


def _rate_limit_url() -> str:
    """``INBOX_GRAPH_RATE_LIMIT_URL``, else ``BROADCAST_URL`` when it points at Redis, else
    ``memory://``.

    Raises:
        ValueError: for a URL that is neither ``memory://`` nor ``redis://``/``rediss://``.
    """
    explicit = (os.environ.get("INBOX_GRAPH_RATE_LIMIT_URL") or "").strip()
    if not explicit:
        broadcast = (os.environ.get("BROADCAST_URL") or "").strip()
        return broadcast if broadcast.startswith(("redis://", "rediss://")) else "memory://"
    if explicit != "memory://" and not explicit.startswith(("redis://", "rediss://")):
        raise ValueError("INBOX_GRAPH_RATE_LIMIT_URL must be memory:// or a redis:// URL.")
    return explicit


WS_COMPRESSION_MODES = ("off", "bounded")
"""The values of ``INBOX_GRAPH_WS_COMPRESSION`` (``graph.ws_compression``)."""


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def _secret_keys(name: str) -> tuple[str, ...]:
    """The Fernet keys in ``name`` (comma-separated), checked now: a malformed key stops the
    server at start, not at the first connection."""
    from cryptography.fernet import Fernet

    keys = tuple(k.strip() for k in (os.environ.get(name) or "").split(",") if k.strip())
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"{name} must hold Fernet keys (32 url-safe base64-encoded bytes each)."
            ) from None
    return keys


@dataclass(frozen=True)
class Settings:
    """The API's settings; :meth:`from_env` reads them from the environment."""

    database_url: str
    broadcast_url: str = "memory://"
    production: bool = False
    allowed_origins: tuple[str, ...] = ("http://localhost:3000",)
    introspection: bool = True
    graphql_ide: bool = True
    live_page: bool = True
    session_ttl_seconds: int = 30 * 24 * 3600
    subscriber_queue_size: int = 1000
    event_retention_seconds: int = 24 * 3600
    idempotency_key_ttl_seconds: int = 24 * 3600
    prune_interval_seconds: int = 300
    ring_sweep_interval_seconds: int = 1
    min_ring_timeout_seconds: int = 5
    shared_fanout: bool = True
    plain_leaves: bool = True
    plans: bool = True
    combined_reads: bool = True
    lean_reads: bool = True
    row_json: bool = True
    ws_compression: str = "off"
    secret_keys: tuple[str, ...] = ()
    hubspot_url: str = "https://api.hubapi.com"
    crm_timeout_seconds: float = 10.0
    crm_max_attempts: int = 3
    crm_retry_max_wait_seconds: float = 10.0
    crm_metadata_ttl_seconds: int = 600
    count_sql_statements: bool = False
    bench_baseline: bool = False
    channel_namespace: str = ""
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    max_document_characters: int = 100_000
    max_fields: int = 1000
    max_field_overlaps: int = 1000
    max_body_bytes: int = 1024 * 1024
    max_frame_bytes: int = 1024 * 1024
    request_timeout_seconds: float = 30.0
    viewer_cache_seconds: float = 10.0
    document_cache_bytes: int = 256 * 1024
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    ws_ping_seconds: float = 20.0
    """How often a WebSocket is pinged, and how long its peer has to answer before its
    connection is dropped (``graph.ws_compression``: a dead or frozen peer)."""
    trusted_documents: bool = False
    apq_store_bytes: int = 1024 * 1024
    apq_ttl_seconds: int = 24 * 3600
    max_connections: int | None = None
    """``None``: as many as the process's open files limit allows (``graph.server``)."""
    rate_limit_url: str = "memory://"
    rate_limit_points: int = 1000
    anonymous_rate_limit_points: int = 200
    rate_limit_window_seconds: int = 20
    max_subscriptions_per_socket: int = 100
    max_subscriptions_per_user: int = 500
    max_sockets_per_user: int = 100
    """WebSockets past ``connection_init`` one user may have open on one worker
    (:func:`graph.websocket.admit_socket`)."""
    login_failures_before_backoff: int = 5
    login_address_failures: int = 20
    login_account_failures: int = 50
    login_failure_window_seconds: int = 900
    login_max_backoff_seconds: int = 900
    webhook_timeout_seconds: float = 5.0
    webhook_retry_min_seconds: float = 1.0
    webhook_retry_max_seconds: float = 600.0
    webhook_retry_window_seconds: float = 24 * 3600.0
    webhook_poll_seconds: float = 1.0
    webhook_lease_seconds: float = 30.0
    webhook_secret_grace_seconds: float = 24 * 3600.0

    @classmethod
    def from_env(cls) -> Settings:
        production = os.environ.get("INBOX_GRAPH_ENV", "development").lower() == "production"
        origins = os.environ.get("INBOX_GRAPH_ALLOWED_ORIGINS", "http://localhost:3000")
        return cls(
            database_url=database_url(),
            broadcast_url=_broadcast_url(),
            production=production,
            allowed_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            introspection=_flag("INBOX_GRAPH_INTROSPECTION", not production),
            graphql_ide=_flag("INBOX_GRAPH_IDE", not production),
            live_page=_flag("INBOX_GRAPH_LIVE_PAGE", not production),
            session_ttl_seconds=_int("INBOX_GRAPH_SESSION_TTL_SECONDS", 30 * 24 * 3600),
            subscriber_queue_size=_int("INBOX_GRAPH_SUBSCRIBER_QUEUE", 1000),
            event_retention_seconds=_int("INBOX_GRAPH_EVENT_RETENTION_SECONDS", 24 * 3600),
            idempotency_key_ttl_seconds=max(
                1, _int("INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 3600)
            ),
            prune_interval_seconds=_int("INBOX_GRAPH_PRUNE_INTERVAL_SECONDS", 300),
            ring_sweep_interval_seconds=_int("INBOX_GRAPH_RING_SWEEP_INTERVAL_SECONDS", 1),
            min_ring_timeout_seconds=max(1, _int("INBOX_GRAPH_MIN_RING_TIMEOUT_SECONDS", 5)),
            shared_fanout=_flag("INBOX_GRAPH_SHARED_FANOUT", True),
            plain_leaves=_flag("INBOX_GRAPH_PLAIN_LEAVES", True),
            plans=_flag("INBOX_GRAPH_PLANS", True),
            combined_reads=_flag("INBOX_GRAPH_COMBINED_READS", True),
            lean_reads=_flag("INBOX_GRAPH_LEAN_READS", True),
            row_json=_flag("INBOX_GRAPH_ROW_JSON", True),
            ws_compression=_choice("INBOX_GRAPH_WS_COMPRESSION", "off", WS_COMPRESSION_MODES),
            secret_keys=_secret_keys("INBOX_GRAPH_SECRET_KEY"),
            hubspot_url=(
                os.environ.get("INBOX_GRAPH_HUBSPOT_URL") or "https://api.hubapi.com"
            ).rstrip("/"),
            crm_timeout_seconds=_float("INBOX_GRAPH_CRM_TIMEOUT_SECONDS", 10.0),
            crm_max_attempts=max(1, _int("INBOX_GRAPH_CRM_MAX_ATTEMPTS", 3)),
            crm_metadata_ttl_seconds=_int("INBOX_GRAPH_CRM_METADATA_TTL_SECONDS", 600),
            count_sql_statements=_flag("INBOX_GRAPH_COUNT_SQL_STATEMENTS", False),
            bench_baseline=_flag("INBOX_GRAPH_BENCH_BASELINE", False),
            channel_namespace=os.environ.get("INBOX_GRAPH_CHANNEL_NAMESPACE")
            or database_name(database_url()),
            header_timeout_seconds=_seconds("INBOX_GRAPH_HEADER_TIMEOUT_SECONDS", 10.0),
            keep_alive_seconds=_seconds("INBOX_GRAPH_KEEP_ALIVE_SECONDS", 5.0),
            ws_ping_seconds=_seconds("INBOX_GRAPH_WS_PING_SECONDS", 20.0),
            max_connections=_limit("INBOX_GRAPH_MAX_CONNECTIONS"),
            rate_limit_url=_rate_limit_url(),
            rate_limit_points=_whole("INBOX_GRAPH_RATE_LIMIT_POINTS", 1000),
            anonymous_rate_limit_points=_whole("INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS", 200),
            rate_limit_window_seconds=_whole("INBOX_GRAPH_RATE_LIMIT_WINDOW_SECONDS", 20),
            max_subscriptions_per_socket=_whole("INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_SOCKET", 100),
            max_subscriptions_per_user=_whole("INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER", 500),
            max_sockets_per_user=_whole("INBOX_GRAPH_MAX_SOCKETS_PER_USER", 100),
            login_failures_before_backoff=_whole("INBOX_GRAPH_LOGIN_FAILURES_BEFORE_BACKOFF", 5),
            login_address_failures=_whole("INBOX_GRAPH_LOGIN_ADDRESS_FAILURES", 20),
            login_account_failures=_whole("INBOX_GRAPH_LOGIN_ACCOUNT_FAILURES", 50),
            login_failure_window_seconds=_whole("INBOX_GRAPH_LOGIN_FAILURE_WINDOW_SECONDS", 900),
            login_max_backoff_seconds=_whole("INBOX_GRAPH_LOGIN_MAX_BACKOFF_SECONDS", 900),
            max_document_characters=_whole("INBOX_GRAPH_MAX_DOCUMENT_CHARACTERS", 100_000),
            max_fields=_whole("INBOX_GRAPH_MAX_FIELDS", 1000),
            max_field_overlaps=_whole("INBOX_GRAPH_MAX_FIELD_OVERLAPS", 1000),
            max_body_bytes=_whole("INBOX_GRAPH_MAX_BODY_BYTES", 1024 * 1024),
            max_frame_bytes=_whole("INBOX_GRAPH_MAX_FRAME_BYTES", 1024 * 1024),
            request_timeout_seconds=_seconds("INBOX_GRAPH_REQUEST_TIMEOUT_SECONDS", 30.0),
            viewer_cache_seconds=_seconds_or_none("INBOX_GRAPH_VIEWER_CACHE_SECONDS", 10.0),
            document_cache_bytes=_whole("INBOX_GRAPH_DOCUMENT_CACHE_BYTES", 256 * 1024),
            trusted_documents=_flag("INBOX_GRAPH_TRUSTED_DOCUMENTS", False),
            apq_store_bytes=_whole("INBOX_GRAPH_APQ_STORE_BYTES", 1024 * 1024),
            apq_ttl_seconds=_whole("INBOX_GRAPH_APQ_TTL_SECONDS", 24 * 3600),
            webhook_timeout_seconds=_seconds("INBOX_GRAPH_WEBHOOK_TIMEOUT_SECONDS", 5.0),
            webhook_retry_min_seconds=_seconds("INBOX_GRAPH_WEBHOOK_RETRY_MIN_SECONDS", 1.0),
            webhook_retry_max_seconds=_seconds("INBOX_GRAPH_WEBHOOK_RETRY_MAX_SECONDS", 600.0),
            webhook_retry_window_seconds=_seconds(
                "INBOX_GRAPH_WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600.0
            ),
            webhook_poll_seconds=_seconds("INBOX_GRAPH_WEBHOOK_POLL_SECONDS", 1.0),
            webhook_lease_seconds=_seconds("INBOX_GRAPH_WEBHOOK_LEASE_SECONDS", 30.0),
            webhook_secret_grace_seconds=_seconds(
                "INBOX_GRAPH_WEBHOOK_SECRET_GRACE_SECONDS", 24 * 3600.0
            ),
        )


__all__ = ["WS_COMPRESSION_MODES", "Settings"]

"""Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents
(issue 19, part 4). The one home of these rules.

**Naming a document by hash.** A request may carry, instead of (or with) its ``query``,
``extensions.persistedQuery = {"version": 1, "sha256Hash": "<64 hex digits>"}``: the SHA-256
of the document's UTF-8 text (the protocol of Apollo's persisted-query link,
https://github.com/apollographql/apollo-link-persisted-queries#protocol). Over HTTP, in a POST
body or a GET's ``extensions`` parameter (JSON); over graphql-transport-ws, in a ``subscribe``
payload's ``extensions`` (with ``"query": ""``, or no ``query``), for queries, mutations and
subscriptions alike (:mod:`graph.websocket`). A malformed ``persistedQuery`` (not an object,
another version, a hash that is not 64 hex digits) is ``BAD_USER_INPUT`` with
``extensions.field``.

**Automatic persisted queries** (``INBOX_GRAPH_TRUSTED_DOCUMENTS`` off, the default):

- hash only, known: the document runs as if its text had been sent;
- hash only, unknown: ``PERSISTED_QUERY_NOT_FOUND`` with the message
  ``PersistedQueryNotFound``, nothing runs (Apollo's link then sends the text with the hash);
- text and hash: the hash must be the text's SHA-256 (else ``BAD_USER_INPUT``, field
  ``extensions.persistedQuery.sha256Hash``, nothing stored, nothing run); the document runs,
  and is stored once it has validated (invalid documents are never stored).

The store (:class:`ApqStore`) is bounded by ``INBOX_GRAPH_APQ_STORE_BYTES``, each document
weighed as its text's bytes plus :data:`ENTRY_OVERHEAD_BYTES`, the least recently used dropped
first, each kept ``INBOX_GRAPH_APQ_TTL_SECONDS`` after its last use. It lives in the worker's
memory on the embedded default, and in Redis, shared by every worker and host, when
``BROADCAST_URL`` is ``redis://…`` (the same bound, for all of them). While Redis cannot be
reached the store counts as empty: hash-only requests are answered ``PERSISTED_QUERY_NOT_FOUND``
and clients fall back to sending the text, which runs (one log line when Redis goes, one when
it is back).

**Trusted documents** (``INBOX_GRAPH_TRUSTED_DOCUMENTS=1``, for production): only documents
registered by ``inbox-graph register-documents MANIFEST`` run (the table
``persisted_document``, read by every worker; each worker keeps the ones it has read in a cache
of the same byte bound). A request runs when it names a registered document by hash, or sends
its exact text (so clients that cannot send hashes, such as most graphql-transport-ws clients,
still run registered documents). Anything else is refused with ``PERSISTED_QUERY_ONLY``, APQ
registration included; an unknown hash alone is still ``PERSISTED_QUERY_NOT_FOUND``. Documents
registered are read when trusted documents are off too (a client built with a manifest sends
hashes only).

**Costs.** A document run by hash goes through everything a sent text goes through (token,
depth, alias and field limits, validation, its cost charged to the budget: :mod:`graph.throttle`,
:class:`graph.extensions.CachedDocuments`). A hash found neither in the APQ store nor among
the registered documents the worker holds is looked up in the database only while the client's
budget has a point left (``RATE_LIMITED`` otherwise), and one found nowhere spends a point: a
flood of unknown hashes ends in refusals, and grows nothing.

A manifest is the JSON object ``{"<sha256 hex>": "<document>", …}`` that GraphQL Codegen's
client preset writes (``persistedDocuments: {hashAlgorithm: "sha256"}``,
``persisted-documents.json``) or the Relay compiler's ``persistConfig`` with
``"algorithm": "SHA256"`` and a local ``file``; keys may carry a ``sha256:`` prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Any

import cachetools
from graphql import (
    GraphQLError,
    parse,
    validate,
)
from redis import asyncio as redis
from redis.exceptions import RedisError
from strawberry.extensions import SchemaExtension
from tortoise.transactions import in_transaction

from db.models import PersistedDocument
from graph.errors import BadUserInput, CodedError, PersistedQueryNotFound, PersistedQueryOnly
from graph.extensions import as_graphql_error, coded_errors, refused_document
from graph.fanout import current_operation
from graph.throttle import admit_document, spend_point

if TYPE_CHECKING:
    from collections.abc import Mapping

    from graphql import GraphQLSchema

    from graph.settings import Settings

log = logging.getLogger(__name__)

PERSISTED_QUERY_VERSION = 1
"""The only version of Apollo's persisted-query protocol."""
ENTRY_OVERHEAD_BYTES = 200
"""What one stored document weighs beyond its text (keys, index entries), in bytes: a store of
1 MiB holds at most about 5,000 documents, however short."""
STORE_TIMEOUT_SECONDS = 0.5
"""How long one Redis call of the APQ store may take before Redis counts as unreachable."""
RETRY_STORE_SECONDS = 1.0
"""While Redis is unreachable, how often the APQ store tries it again (seconds)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELD = "extensions.persistedQuery.sha256Hash"


def document_hash(text: str) -> str:
    """The SHA-256 of ``text``'s UTF-8 encoding, 64 lowercase hex digits (the protocol's hash).

    Text with unpaired surrogates (refused anyway, :func:`graph.extensions.unstorable_input`)
    is hashed with them escaped, never failing."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _normal_hash(value: Any) -> str | None:
    """``value`` as 64 lowercase hex digits (a ``sha256:`` prefix and capitals allowed), or
    ``None`` when it is not a SHA-256 in hex."""
    if not isinstance(value, str):
        return None
    value = value.removeprefix("sha256:").lower()
    return value if _HEX64.fullmatch(value) else None


def requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The hash a request names its document by (``extensions.persistedQuery``), if any.

    Args:
        extensions: the request's ``extensions`` object (or ``None``).

    Returns:
        The hash as 64 lowercase hex digits; ``None`` when the request has no
        ``persistedQuery``.

    Raises:
        BadUserInput: ``persistedQuery`` is not an object, its ``version`` is not 1, or its
            ``sha256Hash`` is not 64 hex digits (``extensions.field`` names which).
    """
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise BadUserInput(
            "`extensions.persistedQuery` must be an object: {version: 1, sha256Hash}.",
            field="extensions.persistedQuery",
        )
    version = persisted.get("version")
    if isinstance(version, bool) or version != PERSISTED_QUERY_VERSION:
        raise BadUserInput(
            "Unsupported persisted query version: only version 1 is.",
            field="extensions.persistedQuery.version",
        )
    value = _normal_hash(persisted.get("sha256Hash"))
    if value is None:
        raise BadUserInput(
            "`sha256Hash` must be the document's SHA-256 in 64 hex digits.", field=_FIELD
        )
    return value


def _weight(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass")) + ENTRY_OVERHEAD_BYTES


class _MemoryCache:
    """Documents by hash in this worker: an LRU bounded by :func:`_weight`, with a time to
    live after each use."""

    def __init__(self, max_bytes: int, ttl: float) -> None:
        self._cache: cachetools.TTLCache[str, str] = cachetools.TTLCache(
            maxsize=max_bytes, ttl=ttl, getsizeof=_weight
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: str) -> str | None:
        with self._lock:
            text = self._cache.get(key)
            if text is not None:
                self._cache[key] = text  # a use renews its time to live
            return text

    def put(self, key: str, text: str) -> None:
        with self._lock, contextlib.suppress(ValueError):  # larger than the whole cache
            self._cache[key] = text


# A byte-weighted LRU with a time to live, in Redis. Each document is a string key with the
# TTL; a sorted set orders hashes by last use (server time, ms), a hash holds their weights
# and a counter their total. Entries past their TTL leave the index at the next write.
_REMOVE = """
local function remove(h)
  local weight = tonumber(redis.call('HGET', KEYS[2], h) or '0')
  redis.call('DEL', ARGV[1] .. h)
  redis.call('ZREM', KEYS[1], h)
  redis.call('HDEL', KEYS[2], h)
  redis.call('DECRBY', KEYS[3], weight)
  return weight
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_PUT = (
    _REMOVE
    + """
local h, text = ARGV[2], ARGV[3]
local ttl, bound, weight = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if weight > bound then return 0 end
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do
  remove(old)
end
if redis.call('HEXISTS', KEYS[2], h) == 1 then remove(h) end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
while used + weight > bound do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  used = used - remove(oldest[1])
end
redis.call('SET', ARGV[1] .. h, text, 'PX', ttl)
redis.call('ZADD', KEYS[1], now, h)
redis.call('HSET', KEYS[2], h, weight)
redis.call('INCRBY', KEYS[3], weight)
return 1
"""
)
_GET = (
    _REMOVE
    + """
local text = redis.call('GET', ARGV[1] .. ARGV[2])
if text then
  redis.call('PEXPIRE', ARGV[1] .. ARGV[2], tonumber(ARGV[3]))
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[2])
elseif redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  remove(ARGV[2])
end
return text
"""
)


class _RedisStore:
    """The APQ store in Redis (see the scripts above), shared by every worker; keys under
    ``inbox-graph:<namespace>:apq:``."""

    def __init__(self, url: str, namespace: str, max_bytes: int, ttl_seconds: int) -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
        )
        prefix = f"inbox-graph:{namespace}:apq:"
        self._keys = [f"{prefix}index", f"{prefix}weights", f"{prefix}bytes"]
        self._documents = f"{prefix}doc:"
        self._max_bytes, self._ttl_ms = max_bytes, ttl_seconds * 1000
        self._put = self._redis.register_script(_PUT)
        self._get = self._redis.register_script(_GET)
        self._down = False
        self._retry_at = 0.0

    async def _call(self, script: Any, *args: Any) -> Any:
        """Run a script; ``None`` while Redis is unreachable (tried again at most every
        :data:`RETRY_STORE_SECONDS`, so requests do not each wait for its timeout)."""
        if self._down and time.monotonic() < self._retry_at:
            return None
        try:
            result = await script(keys=self._keys, args=[self._documents, *args])
        except (RedisError, OSError, TimeoutError) as exc:
            self._retry_at = time.monotonic() + RETRY_STORE_SECONDS
            if not self._down:
                self._down = True
                log.warning("APQ store unreachable (%s): hash-only requests fall back", exc)
            return None
        if self._down:
            self._down = False
            log.warning("APQ store reachable again")
        return result

    async def get(self, key: str) -> str | None:
        found = await self._call(self._get, key, self._ttl_ms)
        return found.decode("utf-8", "surrogatepass") if found is not None else None

    async def put(self, key: str, text: str) -> None:
        await self._call(
            self._put,
            key,
            text.encode("utf-8", "surrogatepass"),
            self._ttl_ms,
            self._max_bytes,
            _weight(text),
        )

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.aclose()


class _LocalStore:
    """The APQ store in this worker's memory (the embedded default)."""

    def __init__(self, max_bytes: int, ttl_seconds: int) -> None:
        self._cache = _MemoryCache(max_bytes, ttl_seconds)

    async def get(self, key: str) -> str | None:
        return self._cache.get(key)

    async def put(self, key: str, text: str) -> None:
        self._cache.put(key, text)

    async def aclose(self) -> None:
        return None


class PersistedDocuments:
    """Where documents are found by hash: the registered ones (the database, through a
    per-worker cache) and the automatic persisted queries (:class:`_LocalStore` or
    :class:`_RedisStore`).

    Args:
        settings: ``trusted_documents``, ``apq_store_bytes``, ``apq_ttl_seconds``, and
            ``broadcast_url`` (Redis shares the APQ store) with ``channel_namespace``.
    """

    def __init__(self, settings: Settings) -> None:
        self.trusted = settings.trusted_documents
        self.apq: _LocalStore | _RedisStore
        if settings.broadcast_url.startswith(("redis://", "rediss://")):
            self.apq = _RedisStore(
                settings.broadcast_url,
                settings.channel_namespace,
                settings.apq_store_bytes,
                settings.apq_ttl_seconds,
            )
        else:
            self.apq = _LocalStore(settings.apq_store_bytes, settings.apq_ttl_seconds)
        # registered documents never change: no time to live, only the bound
        self._registered = _MemoryCache(settings.apq_store_bytes, float("inf"))

    async def registered(self, key: str) -> str | None:
        """The registered document of hash ``key``, or ``None`` (the database is read when
        this worker's cache does not hold it)."""
        text = self._registered.get(key)
        if text is None:
            row = await PersistedDocument.get_or_none(hash=key)
            if row is not None:
                text = row.document
                self._registered.put(key, text)
        return text

    async def find(self, key: str, context: Any) -> str:
        """The document a hash-only request names.

        Args:
            key: the hash (:func:`requested_hash`).
            context: the request's :class:`graph.context.Context` (its budget).

        Returns:
            The document's text.

        Raises:
            RateLimited: the hash is neither in the APQ store nor among the registered
                documents this worker holds, and the client's budget has no point left to look
                in the database.
            PersistedQueryNotFound: no document has this hash (a point of the budget spent);
                with trusted documents on, only registered documents count.
        """
        text = self._registered.get(key)
        if text is None and not self.trusted:
            text = await self.apq.get(key)  # memory, or one Redis call
        if text is not None:
            return text
        await admit_document(context)
        text = await self.registered(key)
        if text is None:
            await spend_point(context)
            raise PersistedQueryNotFound()
        return text

    def known(self, key: str) -> bool:
        """Whether this worker holds the registered document of hash ``key`` in memory:
        :meth:`require_registered` lets it through without a lookup."""
        return self._registered.get(key) is not None

    async def require_registered(self, key: str, context: Any) -> None:
        """Refuse a document that is not registered (trusted documents on).

        Args:
            key: the document's hash.
            context: the request's :class:`graph.context.Context` (its budget).

        Raises:
            RateLimited: the hash is not in this worker's memory and the client's budget has
                no point left to look it up.
            PersistedQueryOnly: it is not registered (a point of the budget spent).
        """
        if self.known(key):
            return
        await admit_document(context)
        if await self.registered(key) is None:
            await spend_point(context)
            raise PersistedQueryOnly(
                "This server runs only registered documents: send the hash of one "
                "(`extensions.persistedQuery`); new documents are registered with "
                "`inbox-graph register-documents`."
            )

    async def aclose(self) -> None:
        await self.apq.aclose()


class PersistedQueries(SchemaExtension):
    """Reads the document a request names by hash before strawberry parses it, refuses what
    trusted documents do not allow, and stores automatic persisted queries once they have
    validated (the rules: this module's docstring).

    First of the schema's extensions: its refusals come before any parsing; its storing, after
    every extension's validation (``on_validate`` ends in reverse order). A refusal is not
    raised (over WebSocket strawberry would not answer it): the request's text is dropped, a
    placeholder stands for the document (:func:`graph.extensions.refused_document`) and the
    refusal is the validation's only error, which the other extensions leave alone; nothing
    runs, nothing is charged beyond what the refusal spent.
    """

    def __init__(self, documents: PersistedDocuments) -> None:
        super().__init__()
        self.documents = documents
        self.to_store: tuple[str, str] | None = None
        self.refused: GraphQLError | None = None

    async def on_operation(self):
        context = self.execution_context
        # a subscription's event runs its (already admitted) document again: nothing to do
        if context.root_value is None:
            try:
                await self._resolve(context)
            except Exception as error:  # noqa: BLE001 - every failure is answered, coded
                # the client's mistakes keep their code; an unreachable database is
                # SERVICE_UNAVAILABLE, anything else logged and masked (graph.extensions)
                self.refused = (
                    error
                    if isinstance(error, CodedError)
                    else coded_errors([as_graphql_error(error)])[0]
                )
                context.query = None
                context.graphql_document = refused_document(context.operation_name)
        yield

    async def _resolve(self, context: Any) -> None:
        key = requested_hash(context.operation_extensions)
        query = context.query
        if key is None:
            if self.documents.trusted and query:
                await self.documents.require_registered(document_hash(query), context.context)
            return
        if not query:
            context.query = await self.documents.find(key, context.context)
            live = current_operation()
            if live is not None:  # over WebSocket: a subscription's events run this text
                live.named(context.query)
            return
        if document_hash(query) != key:
            raise BadUserInput(
                "The `sha256Hash` is not the SHA-256 of the document sent (its UTF-8 text, "
                "hex): nothing was stored or run.",
                field=_FIELD,
            )
        if self.documents.trusted:
            await self.documents.require_registered(key, context.context)
        else:
            self.to_store = (key, query)

    async def on_validate(self):
        context = self.execution_context
        if self.refused is not None:
            context.pre_execution_errors = [self.refused]
        yield
        if self.to_store is not None and not context.pre_execution_errors:
            await self.documents.apq.put(*self.to_store)


class ManifestError(ValueError):
    """A manifest that cannot be registered; ``problems`` lists what is wrong, by key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_manifest(
    text: str, schema: GraphQLSchema, max_characters: int | None = None
) -> dict[str, str]:
    """The documents of a manifest, checked.

    Args:
        text: the manifest's JSON: ``{"<sha256 hex>": "<document>", …}``.
        schema: the schema the documents must validate against (graphql-core's rules).
        max_characters: the longest document the API runs
            (``INBOX_GRAPH_MAX_DOCUMENT_CHARACTERS``): a longer one could never run.

    Returns:
        The documents by hash (64 lowercase hex digits).

    Raises:
        ManifestError: the text is not a JSON object of strings, or a key is not the SHA-256
            of its document, or a document is too long, does not parse or validate (every
            problem listed).
    """
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ManifestError([f"not JSON: {exc}"]) from None
    if not isinstance(manifest, dict) or not manifest:
        raise ManifestError(["a manifest is a non-empty JSON object {hash: document}"])
    documents: dict[str, str] = {}
    problems: list[str] = []
    for given, document in manifest.items():
        key = _normal_hash(given)
        if not isinstance(document, str):
            problems.append(f"{given}: the document is not a string")
            continue
        if key is None or key != document_hash(document):
            problems.append(
                f"{given}: not the SHA-256 of its document ({document_hash(document)}); "
                "generate the manifest with SHA-256"
            )
            continue
        if max_characters is not None and len(document) > max_characters:
            problems.append(
                f"{given}: longer than {max_characters} characters "
                "(INBOX_GRAPH_MAX_DOCUMENT_CHARACTERS): the API would refuse it"
            )
            continue
        try:
            errors = validate(schema, parse(document))
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            problems.append(f"{given}: {errors[0].message}")
            continue
        documents[key] = document
    if problems:
        raise ManifestError(problems)
    return documents


async def register_documents(documents: Mapping[str, str]) -> int:
    """Store ``documents`` (:func:`read_manifest`) as registered, in one transaction.

    Returns:
        How many were not registered before.
    """
    async with in_transaction():
        known = set(
            await PersistedDocument.filter(hash__in=list(documents)).values_list("hash", flat=True)
        )
        new = [
            PersistedDocument(hash=k, document=d) for k, d in documents.items() if k not in known
        ]
        if new:
            await PersistedDocument.bulk_create(new)
    return len(new)


__all__ = [
    "ENTRY_OVERHEAD_BYTES",
    "PERSISTED_QUERY_VERSION",
    "ManifestError",
    "PersistedDocuments",
    "PersistedQueries",
    "document_hash",
    "read_manifest",
    "register_documents",
    "requested_hash",
]

"""Safe retries of creating mutations: idempotency keys (issue 16, part 5).

Every mutation that creates something takes an optional ``idempotencyKey``. A client that lost
the answer (a transport error, a timeout) sends the same request again with the same key:

- The first request that succeeds records, in the same transaction as its write, the key, a
  fingerprint of the mutation's name and arguments and what it created
  (:class:`db.models.IdempotencyKey`, scoped to the workspace and the user acting: an
  integration token's user).
- A request whose key is recorded gets the first result as it is now, writes nothing and
  publishes no event; with other arguments or on another mutation it gets ``CONFLICT``
  (``extensions.field`` ``idempotencyKey``) and nothing is written.
- A request that fails (a coded error) records nothing: its retry runs again.
- Concurrent duplicates, on any worker: the write's transaction inserts the key's row before it
  writes anything else; the unique constraint on (workspace, user, key) holds every other
  duplicate until the first commits, then fails it, and :func:`graph.live.write` runs it again,
  which now finds the row. A duplicate that failed its own checks because the first one's
  write landed meanwhile (an e-mail in use, a call in progress) looks for the row once more.
- Keys are forgotten after ``INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS`` (an expired key counts
  as new); :func:`db.outbox.prune_idempotency_keys` deletes them.

A creating mutation opts in with two lines: its schema field wraps the domain operation in
:func:`idempotent`, and the operation passes the :class:`Once` it receives to
:func:`graph.live.write`::

    @strawberry.mutation
    async def create_team(
        self, info: Info, name: str, idempotency_key: IdempotencyKeyArgument = None
    ) -> Team:
        ctx = info.context
        row = await idempotent(
            info, idempotency_key, {"name": name}, CreatedRow(m.Team),
            lambda once: user_resolvers.create_team(ctx.bus, ctx.viewer, name, once=once),
        )
        return Team.from_row(row)

    # graph/resolvers/user.py, in create_team:
    return await write(bus, viewer.workspace_id, operation, once=once)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

import strawberry

from db.models import IdempotencyKey
from graph.errors import BadUserInput, CodedError, Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from strawberry.types import Info
    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model

    from graph.permissions.visibility import Viewer

T = TypeVar("T")
M = TypeVar("M", bound="Model")

MAX_KEY_LENGTH = 255
FIELD = "idempotencyKey"

IDEMPOTENCY_KEY_DESCRIPTION = (
    "Makes the mutation safe to retry: repeated with the same key by the same user within "
    "INBOX_GRAPH_IDEMPOTENCY_KEY_TTL_SECONDS (24 hours by default), it returns the first "
    "result as it is now and writes nothing. 1 to 255 characters without control characters "
    "(BAD_USER_INPUT otherwise); the same key with other arguments or on another mutation: "
    "CONFLICT (field idempotencyKey). A request that failed records nothing. Use a new key "
    "(e.g. a UUID) for each new operation."
)

IdempotencyKeyArgument = Annotated[
    str | None, strawberry.argument(description=IDEMPOTENCY_KEY_DESCRIPTION)
]
"""The ``idempotencyKey`` argument of a creating mutation's schema field (default ``None``)."""


def clean_key(key: str) -> str:
    """``key`` if it is a usable idempotency key: 1 to 255 characters, not blank, without
    control characters (Unicode category ``Cc``, or unpaired surrogates).

    Raises:
        BadUserInput: otherwise (field ``idempotencyKey``).
    """
    if not key.strip():
        raise BadUserInput("`idempotencyKey` must not be empty.", field=FIELD)
    if len(key) > MAX_KEY_LENGTH:
        raise BadUserInput(
            f"`idempotencyKey` must be at most {MAX_KEY_LENGTH} characters.", field=FIELD
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in key):
        raise BadUserInput("`idempotencyKey` must not contain control characters.", field=FIELD)
    return key


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data, the same whatever way the client spelled it: input
    objects (dataclasses) and mappings become objects without their unset fields, enums their
    values, tuples lists.

    Raises:
        TypeError: a value with no canonical form (a programming error, not the client's).
    """
    if isinstance(value, Enum):
        return canonical(value.value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # strawberry.ID and other str subclasses: their text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items() if v is not strawberry.UNSET}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def fingerprint(mutation: str, arguments: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 64 characters) of ``mutation`` and the :func:`canonical` ``arguments``."""
    text = json.dumps([mutation, canonical(arguments)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class Outcome(Protocol[T]):
    """How a mutation's result is kept with its key, and brought back for a retry."""

    def keep(self, result: T) -> dict[str, Any]:
        """JSON data (ids) from which :meth:`restore` brings ``result`` back."""
        ...

    async def restore(self, kept: dict[str, Any], viewer: Viewer) -> T:
        """The result of the first request, as it is now, for ``viewer``.

        Raises:
            CodedError: it cannot be returned (``NOT_FOUND`` when deleted since, or hidden
                from the viewer now; ``CONFLICT`` when it cannot be shown twice).
        """
        ...


@dataclass(frozen=True)
class CreatedRow(Generic[M]):
    """The outcome of a mutation that creates one row of ``model`` (with a ``workspace_id``):
    kept as its id, restored as the row now.

    ``visible_if``: checks that ``viewer`` may still see the row (e.g. its contact), raising
    ``NotFound`` otherwise (``domain.md`` section 1).
    """

    model: type[M]
    visible_if: Callable[[Viewer, M], Awaitable[object]] | None = None

    def keep(self, result: M) -> dict[str, Any]:
        return {"id": result.pk}

    async def restore(self, kept: dict[str, Any], viewer: Viewer) -> M:
        row = await self.model.filter(id=kept["id"], workspace_id=viewer.workspace_id).first()
        if row is None:
            raise NotFound(self.model.__name__)
        if self.visible_if is not None:
            await self.visible_if(viewer, row)
        return row


class Recorded(Exception):
    """Raised in the write's transaction by :meth:`Once.claim`: the key is recorded already
    (by an earlier request, or a concurrent one that committed first). :func:`idempotent`
    answers from ``row``."""

    def __init__(self, row: IdempotencyKey) -> None:
        super().__init__(row.key)
        self.row = row


@dataclass(frozen=True)
class Once:
    """A creating mutation's idempotency key, claimed in its write's transaction by
    :func:`graph.live.write` (``once=``)."""

    workspace_id: int
    user_id: int
    key: str
    mutation: str
    fingerprint: str
    outcome: Outcome[Any]
    ttl_seconds: int

    def _live(self, row: IdempotencyKey | None) -> IdempotencyKey | None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.ttl_seconds)
        return row if row is not None and row.created_at >= cutoff else None

    async def _row(self, connection: BaseDBAsyncClient | None = None) -> IdempotencyKey | None:
        query = IdempotencyKey.filter(
            workspace_id=self.workspace_id, user_id=self.user_id, key=self.key
        )
        if connection is not None:
            query = query.using_db(connection)
        return await query.first()

    async def find(self) -> IdempotencyKey | None:
        """The key's row as committed now, unless it expired."""
        return self._live(await self._row())

    async def claim(self, connection: BaseDBAsyncClient) -> IdempotencyKey:
        """Insert the key's row in the write's transaction, before the write (an expired one
        is replaced). A concurrent claim of the same key waits for this transaction, then
        fails on the unique constraint.

        Raises:
            Recorded: the key is recorded (and not expired).
        """
        row = await self._row(connection)
        if row is not None:
            if self._live(row) is not None:
                raise Recorded(row)
            await IdempotencyKey.filter(id=row.id).using_db(connection).delete()
        return await IdempotencyKey.create(
            workspace_id=self.workspace_id,
            user_id=self.user_id,
            key=self.key,
            mutation=self.mutation,
            fingerprint=self.fingerprint,
            result=None,
            created_at=datetime.now(UTC),
            using_db=connection,
        )

    async def remember(
        self, connection: BaseDBAsyncClient, claimed: IdempotencyKey, result: Any
    ) -> None:
        """Store what brings ``result`` back in the row :meth:`claim` inserted."""
        claimed.result = self.outcome.keep(result)
        await claimed.save(using_db=connection, update_fields=["result"])

    async def replay(self, row: IdempotencyKey, viewer: Viewer) -> Any:
        """The first result, for a request that sent a recorded key.

        Raises:
            Conflict: the key was recorded for another mutation or other arguments.
            CodedError: as the outcome's ``restore``.
        """
        if row.mutation != self.mutation:
            raise Conflict(
                f"This idempotencyKey was used for {row.mutation}: use a new key for each "
                "operation.",
                field=FIELD,
            )
        if row.fingerprint != self.fingerprint:
            raise Conflict(
                "This idempotencyKey was used with other arguments: use a new key for each "
                "operation.",
                field=FIELD,
            )
        return await self.outcome.restore(row.result, viewer)


async def idempotent(
    info: Info,
    key: str | None,
    arguments: Mapping[str, Any],
    outcome: Outcome[T],
    perform: Callable[[Once | None], Awaitable[T]],
) -> T:
    """Run a creating mutation at most once per idempotency key.

    Args:
        info: the mutation field's info: its name (``info.field_name``), the viewer, the TTL.
        key: the ``idempotencyKey`` argument; ``None`` runs ``perform(None)`` as is.
        arguments: every argument of the mutation but the key, as the resolver received them
            (input objects, enums, ids): what a retry must repeat. Leave out secrets
            (passwords): the fingerprint is a fast hash.
        outcome: how the result is kept and restored (:class:`CreatedRow`, or the domain's).
        perform: the domain operation; it passes the :class:`Once` it gets to
            :func:`graph.live.write`.

    Returns:
        What ``perform`` returned, or for a recorded key the first result as it is now.

    Raises:
        BadUserInput: a malformed key (:func:`clean_key`), before anything else is checked.
        Conflict: the key was recorded for another mutation or other arguments.
        CodedError: as ``perform``, or as ``outcome.restore``.
    """
    if key is None:
        return await perform(None)
    context = info.context
    viewer = context.viewer
    mutation = info.field_name
    once = Once(
        workspace_id=viewer.workspace_id,
        user_id=viewer.user_id,
        key=clean_key(key),
        mutation=mutation,
        fingerprint=fingerprint(mutation, arguments),
        outcome=outcome,
        ttl_seconds=context.settings.idempotency_key_ttl_seconds,
    )
    row = await once.find()
    if row is None:
        try:
            return await perform(once)
        except Recorded as recorded:
            row = recorded.row
        except CodedError:
            row = await once.find()  # a concurrent duplicate committed while this one ran
            if row is None:
                raise
    return await once.replay(row, viewer)


__all__ = [
    "IDEMPOTENCY_KEY_DESCRIPTION",
    "CreatedRow",
    "IdempotencyKeyArgument",
    "Once",
    "Outcome",
    "Recorded",
    "canonical",
    "clean_key",
    "fingerprint",
    "idempotent",
]

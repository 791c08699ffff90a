"""Who is calling: bearer tokens to viewers.

HTTP requests carry ``Authorization: Bearer <token>``; WebSocket connections carry
``{"authorization": "Bearer <token>"}`` in the ``connection_init`` payload
(``architecture.md``, defaults). Tokens are looked up by their SHA-256
(:mod:`db.security`); revoked, expired and deactivated users' tokens resolve to no viewer.
A viewer carries its token's scopes (:mod:`graph.permissions.scopes`). A token's
``last_used_at`` is written at most once a minute (:data:`LAST_USED_RESOLUTION`), after the
request's authentication and outside it (:func:`note_use`).

HTTP requests take their viewer from the worker's :class:`ViewerCache` (issue 23: most
requests run no statement for it). It is invalidated by the events that reload a
subscriber's viewer (``EventType.reloads_viewer``): :func:`graph.live.write` bumps the
workspace's generation (:class:`graph.live.ViewerGenerations`) before the mutation answers,
so the next request on any worker sees a logout, a revocation, a role, visibility, team or
password change or a deactivation; tokens expire on time; and a cached viewer is at most
``INBOX_GRAPH_VIEWER_CACHE_SECONDS`` old. WebSocket ``connection_init`` reads the database
(:func:`viewer_for_token`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, RawSQL

from db.availability import is_unavailable, report_unavailable
from db.models import AccessToken, AccessTokenKind, Team, User, Workspace
from db.queries import model_rows, select_values
from db.security import hash_token
from graph.permissions.scopes import granted, parse_scopes
from graph.permissions.visibility import Viewer, team_ids_of
from graph.statement_count import stop_counting

if TYPE_CHECKING:
    from graph.live import ViewerGenerations

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``AccessToken.lastUsedAt`` is at most this old while a token is in use: a token's use
writes it only when the stored time is older (one write a minute per token at most)."""


def bearer_token(value: object) -> str | None:
    """The token of an ``Authorization`` value ``"Bearer <token>"``, else ``None``."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def _prefixed(model: type[AccessToken | User], table: str, prefix: str) -> str:
    return ", ".join(f'{table}.{column} AS "{prefix}{column}"' for column in model._meta.db_fields)


# A viewer is read with this one statement (hand-written: db.queries.select_values): the token,
# its user (active) and every team of the user's workspace with its members, one row per
# (team, member) pair, the token's and user's columns repeated on each (issue 23: one round
# trip instead of three). Written at its first use, not at import: the models' columns
# (``workspace_id`` of a foreign key) exist only once tortoise is initialised, which a worker
# process of ``serve --workers N`` does after importing this module.
@functools.cache
def _viewer_sql() -> str:
    return (
        f"SELECT {_prefixed(AccessToken, 't', 't__')}, {_prefixed(User, 'u', 'u__')}, "
        "team.id AS team_id, team_membership.user_id AS member_id "
        'FROM access_token t JOIN "user" u ON u.id = t.user_id '
        "LEFT JOIN team ON team.workspace_id = u.workspace_id "
        "LEFT JOIN team_membership ON team_membership.team_id = team.id "
        "WHERE t.token_hash = {} AND t.revoked_at IS NULL AND u.is_active = {}"
    )


# teams left-joined to their memberships, so that a team without members is there too
_TEAMS_SQL = (
    "SELECT team.id AS team_id, team_membership.user_id AS user_id FROM team "
    "LEFT JOIN team_membership ON team_membership.team_id = team.id WHERE team.workspace_id = {}"
)


async def team_members(workspace_id: int, connection=None) -> dict[int, frozenset[int]]:
    """Every team of the workspace, with its member ids (one query)."""
    members: dict[int, set[int]] = {}
    for row in await select_values(Team, _TEAMS_SQL, workspace_id, connection=connection):
        found = members.setdefault(row["team_id"], set())
        if row["user_id"] is not None:
            found.add(row["user_id"])
    return {team_id: frozenset(ids) for team_id, ids in members.items()}


def viewer_of(
    user: User, members: dict[int, frozenset[int]], token: AccessToken | None = None
) -> Viewer:
    """The :class:`Viewer` of ``user``, given the workspace's teams (:func:`team_members`)."""
    return Viewer(
        user_id=user.id,
        workspace_id=user.workspace_id,
        role=user.role,
        contact_visibility=user.contact_visibility,
        can_view_blocked_contacts=user.can_view_blocked_contacts,
        has_call_access=user.has_call_access,
        can_edit_contacts=user.can_edit_contacts,
        team_ids=team_ids_of(members, user.id),
        team_members=members,
        token_id=token.id if token else None,
        token_expires_at=token.expires_at if token else None,
        scopes=granted(parse_scopes(token.scopes)) if token else None,
        is_session=token is None or token.kind is AccessTokenKind.SESSION,
    )


async def load_viewer(user: User, token: AccessToken | None = None) -> Viewer:
    """Build the :class:`Viewer` of ``user``: role, visibility, permissions and the member ids
    of every team of the workspace (two queries)."""
    return viewer_of(user, await team_members(user.workspace_id), token)


async def viewers_of_workspace(workspace_id: int, connection=None) -> list[Viewer]:
    """A :class:`Viewer` for every active user of the workspace, in three queries (the
    indicator rules evaluate each user for each inbound message)."""
    members = await team_members(workspace_id, connection)
    users = User.filter(workspace_id=workspace_id, is_active=True)
    if connection is not None:
        users = users.using_db(connection)
    return [viewer_of(user, members) for user in await users]


_touching: set[int] = set()
"""Tokens whose ``last_used_at`` this process is writing now."""
_touches: set[asyncio.Task[None]] = set()


async def _touch(token_id: int, now: datetime) -> None:
    stop_counting()
    try:
        # conditional: of concurrent uses on every worker, one writes per minute
        await AccessToken.filter(
            Q(id=token_id)
            & (Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION))
        ).update(last_used_at=now)
    except Exception as exc:
        if is_unavailable(exc):
            report_unavailable(exc)
        else:
            log.warning("could not record the use of access token %s", token_id, exc_info=exc)
    finally:
        _touching.discard(token_id)


def _note_use(token_id: int, last_used_at: datetime | None) -> datetime | None:
    """:func:`note_use` by id: returns the ``last_used_at`` the token has once the write (if
    one was started) is done."""
    now = datetime.now(UTC)
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return last_used_at
    if token_id in _touching:
        return last_used_at
    _touching.add(token_id)
    task = asyncio.get_running_loop().create_task(_touch(token_id, now))
    _touches.add(task)
    task.add_done_callback(_touches.discard)
    return now


def note_use(token: AccessToken) -> None:
    """Record that ``token`` was used now, when its ``last_used_at`` is older than
    :data:`LAST_USED_RESOLUTION`: in a task of its own, so that the request neither waits for
    the write nor counts it (``X-SQL-Statements``)."""
    _note_use(token.id, token.last_used_at)


def _usable(token: AccessToken | None) -> bool:
    """A token that exists, is not revoked (callers filter on that) and has not expired."""
    return token is not None and (token.expires_at is None or token.expires_at > datetime.now(UTC))


async def _read_viewer(digest: str) -> tuple[Viewer, AccessToken] | None:
    """The viewer of the token whose SHA-256 is ``digest`` and its row, or ``None`` (unknown,
    revoked, expired, user deactivated): one statement (:func:`_viewer_sql`)."""
    rows = await select_values(AccessToken, _viewer_sql(), digest, True)
    if not rows:
        return None
    first = rows[0]
    (row,) = model_rows(AccessToken, [{k[3:]: v for k, v in first.items() if k[:3] == "t__"}])
    if not _usable(row):
        return None
    (user,) = model_rows(User, [{k[3:]: v for k, v in first.items() if k[:3] == "u__"}])
    members: dict[int, set[int]] = {}
    for found in rows:
        if found["team_id"] is not None:
            team = members.setdefault(found["team_id"], set())
            if found["member_id"] is not None:
                team.add(found["member_id"])
    return viewer_of(user, {t: frozenset(ids) for t, ids in members.items()}, row), row


async def viewer_for_token(token: str | None) -> Viewer | None:
    """The viewer a bearer token acts as, or ``None`` when it is unknown, revoked, expired or
    its user is deactivated: one statement (:func:`_viewer_sql`), never cached (WebSocket
    ``connection_init``; HTTP requests go through :class:`ViewerCache`)."""
    if not token:
        return None
    found = await _read_viewer(hash_token(token))
    if found is None:
        return None
    viewer, row = found
    note_use(row)
    return viewer


VIEWER_CACHE_SECONDS = 10.0
"""How long a worker may answer HTTP requests with a viewer it read, at most (seconds), even
when no change is announced (``INBOX_GRAPH_VIEWER_CACHE_SECONDS``'s default): the bound for
changes made outside the API (by hand in the database) and for an announcement that failed
while the generations' Redis was unreachable to the writer only
(:class:`graph.live.ViewerGenerations`)."""
VIEWER_CACHE_SIZE = 10_000
"""Viewers a worker keeps at most (the least recently used go first)."""


@dataclass(slots=True)
class _Cached:
    viewer: Viewer
    token_id: int
    generation: object
    loaded_at: float
    last_used_at: datetime | None


class ViewerCache:
    """The viewers of the bearer tokens a worker has seen, per token (issue 23: no statement
    for the viewer of most HTTP requests).

    A cached viewer is used only while its workspace's generation
    (:class:`graph.live.ViewerGenerations`) is the one it was read under, it is younger than
    :data:`VIEWER_CACHE_SECONDS` and its token has not expired; otherwise the request reads it
    (:func:`_read_viewer`, one statement). The guarantee: once a mutation that changes a user,
    a team or a token (revocation, logout, password change, deactivation) has answered, the
    next request on any worker sees the change, while the workers reach Redis; a worker that
    cannot reach Redis reads the viewer of every request. The generation is read before the
    viewer, and only a token whose workspace is known (it was read once before) is cached: a
    change committed in between leaves a newer generation behind, never an older one. Unknown
    and revoked tokens are never cached.
    """

    def __init__(
        self,
        generations: ViewerGenerations,
        *,
        seconds: float = VIEWER_CACHE_SECONDS,
        size: int = VIEWER_CACHE_SIZE,
    ) -> None:
        self.generations = generations
        self.seconds = seconds
        self.size = size
        self._cached: OrderedDict[str, _Cached] = OrderedDict()
        self._workspaces: OrderedDict[str, int] = OrderedDict()
        generations.lost = self.clear

    def clear(self) -> None:
        """Forget every cached viewer."""
        self._cached.clear()

    async def viewer(self, token: str | None) -> Viewer | None:
        """The viewer a bearer token acts as, or ``None`` (as :func:`viewer_for_token`):
        from the cache when it may be used, else one statement."""
        if not token:
            return None
        if self.seconds <= 0:
            return await viewer_for_token(token)
        digest = hash_token(token)
        workspace_id = self._workspaces.get(digest)
        if workspace_id is None:  # first sight: read, remember the workspace, cache next time
            found = await _read_viewer(digest)
            if found is None:
                return None
            self._remember(self._workspaces, digest, found[0].workspace_id)
            note_use(found[1])
            return found[0]
        generation = await self.generations.current(workspace_id)
        cached = self._cached.get(digest)
        if (
            cached is not None
            and generation is not None
            and cached.generation == generation
            and time.monotonic() - cached.loaded_at < self.seconds
            and (
                cached.viewer.token_expires_at is None
                or cached.viewer.token_expires_at > datetime.now(UTC)
            )
        ):
            self._cached.move_to_end(digest)
            cached.last_used_at = _note_use(cached.token_id, cached.last_used_at)
            return cached.viewer
        self._cached.pop(digest, None)
        found = await _read_viewer(digest)
        if found is None:
            return None
        viewer, row = found
        last_used_at = _note_use(row.id, row.last_used_at)
        if generation is not None:
            entry = _Cached(viewer, row.id, generation, time.monotonic(), last_used_at)
            self._remember(self._cached, digest, entry)
        return viewer

    def _remember(self, cache: OrderedDict[str, Any], digest: str, value: Any) -> None:
        cache[digest] = value
        cache.move_to_end(digest)
        while len(cache) > self.size:
            cache.popitem(last=False)


async def refresh_viewer(viewer: Viewer, sequence: int | None = None) -> Viewer | None:
    """Reload ``viewer`` after a user, team or token change; ``None`` if it lost access.

    Args:
        sequence: the event that announced the change (committed before the reload: the
            viewer reflects every event up to it, :attr:`Viewer.sequence`).
    """
    refreshed = await reload_viewer(viewer.token_id, viewer.user_id)
    if refreshed is None or sequence is None:
        return refreshed
    return replace(refreshed, sequence=sequence)


_TOKEN_EVENTS_SQL = (
    '(SELECT "event_sequence" FROM "workspace" '
    'WHERE "workspace"."id" = "access_token"."workspace_id")'
)
"""The sequence of the token's workspace, read in the token's statement (:func:`reload_viewer`)."""


async def reload_viewer(
    token_id: int | None, user_id: int, workspace_id: int | None = None
) -> Viewer | None:
    """The viewer of user ``user_id`` acting with access token ``token_id`` (``None``: a
    session), as the database has it now; ``None`` if the token is revoked or expired or the
    user deactivated.

    With ``workspace_id`` (the user's), the workspace's event sequence is read in the first
    statement (the token's), into :attr:`Viewer.sequence`: the viewer reflects every event up
    to it, so a subscription starting there misses no change of its viewer (``domain.md``
    section 7)."""
    sequence = None
    if token_id is not None:
        query = AccessToken.filter(id=token_id, revoked_at__isnull=True)
        if workspace_id is not None:  # in the token's statement: no round trip of its own
            query = query.annotate(events=RawSQL(_TOKEN_EVENTS_SQL))
        token = await query.first()
        if not _usable(token):
            return None
        if workspace_id is not None:
            sequence = token.events
    else:
        token = None
        if workspace_id is not None:
            sequence = await (
                Workspace.filter(id=workspace_id).first().values_list("event_sequence", flat=True)
            )
    user = await User.filter(id=user_id, is_active=True).first()
    if user is None or (workspace_id is not None and user.workspace_id != workspace_id):
        return None
    viewer = await load_viewer(user, token)
    return viewer if sequence is None else replace(viewer, sequence=int(sequence))


__all__ = [
    "LAST_USED_RESOLUTION",
    "VIEWER_CACHE_SECONDS",
    "ViewerCache",
    "bearer_token",
    "load_viewer",
    "note_use",
    "refresh_viewer",
    "reload_viewer",
    "team_members",
    "viewer_for_token",
    "viewer_of",
    "viewers_of_workspace",
]

"""Access tokens and sessions: their lifecycle (``domain.md`` section 8; issue 17, part 3).

- ``login`` starts a session: a token of kind ``SESSION`` with the ``ADMIN`` scope (its user's
  full permissions) that expires after ``INBOX_GRAPH_SESSION_TTL_SECONDS``.
- ``createAccessToken`` mints an integration token with scopes
  (:mod:`graph.permissions.scopes`; :data:`~graph.permissions.scopes.DEFAULT_SCOPES` when none
  are asked for) and an optional expiry. A token minted by a token (which needs ``ADMIN``) is
  that token's child: it holds no scope its parent lacks and expires no later.
- Revoking a token revokes its descendants in the same transaction, the parent's row locked
  against a child being minted meanwhile: no token outlives its parent.
- Deactivating a user revokes every session and token of the user in the deactivation's
  transaction (:func:`revoke_tokens_of_user`): reactivation does not revive them.
- ``logout`` revokes the token of the request; ``changePassword`` revokes the user's other
  sessions and keeps integration tokens (as GitHub keeps personal access tokens): owners and
  the user list and revoke those.

Every revocation emits one ``access_token.revoked`` event: open subscriptions reload their
viewer on it and close their socket with 4403 when its token is dead
(:mod:`graph.subscriptions`). Tokens act with their user's permissions as they are now, so a
token never holds more than its user.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q

from db.models import AccessToken, AccessTokenKind, AccessTokenScope, User
from db.security import hash_password, hash_token, new_token, verify_password
from graph.errors import (
    BadUserInput,
    Conflict,
    FieldErrors,
    Forbidden,
    NotFound,
    Unauthenticated,
    WrongPassword,
)
from graph.events import EventType
from graph.live import write
from graph.permissions.scopes import DEFAULT_SCOPES, format_scopes, granted
from graph.permissions.visibility import access_token_access
from graph.relay import Page, PageRequest, to_global_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from contextlib import AbstractAsyncContextManager

    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.queryset import QuerySet

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer
    from graph.secrets import SecretBox

MAX_NAME_LENGTH = 120
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
TOKEN_ORDER = (("id", True),)
"""``accessTokens`` lists the newest first."""


@dataclass
class IssuedToken:
    """A new token: its secret (shown once), its row and its user."""

    token: str
    row: AccessToken
    user: User


def clean_password(value: str | None, field: str) -> str:
    """``value`` if it may be a password: 8 to 1024 characters.

    Raises:
        BadUserInput: otherwise, naming ``field``.
    """
    value = value or ""
    if len(value) < MIN_PASSWORD_LENGTH or len(value) > MAX_PASSWORD_LENGTH:
        raise BadUserInput(
            f"`{field}` must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            field=field,
        )
    return value


async def _lock_user(connection: BaseDBAsyncClient, user_id: int) -> User | None:
    """The user's row, locked until the transaction ends (deactivation, password changes and
    new tokens of one user take turns), or ``None`` once it is deactivated."""
    user = await User.filter(id=user_id).using_db(connection).select_for_update().first()
    return user if user is not None and user.is_active else None


async def start_session(user: User, *, ttl_seconds: int) -> IssuedToken:
    """The session of a successful login of ``user`` (whose password was just checked against
    ``user.password_hash``): a ``SESSION`` token with the ``ADMIN`` scope, expiring in
    ``ttl_seconds`` seconds.

    Raises:
        Unauthenticated: the user was deactivated, or its password changed, since it was read
            (a session never starts after its user's deactivation or password change).
    """
    token = new_token()

    async def operation(tx: Transaction) -> IssuedToken:
        locked = await _lock_user(tx.connection, user.id)
        if locked is None or locked.password_hash != user.password_hash:
            raise Unauthenticated("Invalid e-mail or password.")
        now = datetime.now(UTC)
        row = await AccessToken.create(
            workspace_id=user.workspace_id,
            user_id=user.id,
            name="session",
            kind=AccessTokenKind.SESSION,
            scopes=format_scopes({AccessTokenScope.ADMIN}),
            token_hash=hash_token(token),
            expires_at=now + timedelta(seconds=ttl_seconds),
            using_db=tx.connection,
        )
        return IssuedToken(token, row, locked)

    return await write(None, user.workspace_id, operation)


def _clean_name(value: str | None) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise BadUserInput(f"`name` must be 1 to {MAX_NAME_LENGTH} characters.", field="name")
    return value


def _clean_scopes(
    viewer: Viewer, scopes: Iterable[AccessTokenScope] | None
) -> frozenset[AccessTokenScope]:
    if scopes is None:
        wanted = DEFAULT_SCOPES
    else:
        wanted = frozenset(AccessTokenScope(s) for s in scopes)
        if not wanted:
            raise BadUserInput("`scopes` must name at least one scope.", field="scopes")
    beyond = granted(wanted) - viewer.granted_scopes
    if beyond:
        names = ", ".join(sorted(s.value for s in beyond))
        raise Forbidden(f"A token cannot grant scopes it does not hold: {names}.", field="scopes")
    return wanted


def _clean_expiry(viewer: Viewer, expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise BadUserInput("`expiresAt` must be in the future.", field="expiresAt")
    if viewer.is_session or viewer.token_expires_at is None:
        return expires_at
    # a token minted by a token expires with it at the latest
    if expires_at is None:
        return viewer.token_expires_at
    if expires_at > viewer.token_expires_at:
        raise BadUserInput(
            "`expiresAt` is after the expiry of the token minting it "
            f"({viewer.token_expires_at.isoformat()}): a token cannot outlive its parent.",
            field="expiresAt",
        )
    return expires_at


async def create_access_token(
    bus: EventBus,
    viewer: Viewer,
    name: str,
    *,
    scopes: Iterable[AccessTokenScope] | None = None,
    expires_at: datetime | None = None,
    once: Once | None = None,
) -> IssuedToken:
    """An integration token acting as the viewer's user within ``scopes``; the secret is
    returned once (and to a retry with the request's idempotency key ``once``:
    :class:`IssuedTokenOutcome`).

    Args:
        scopes: the token's scopes; ``None`` for :data:`DEFAULT_SCOPES` (``INGEST`` and
            ``READ_WRITE``).
        expires_at: when it stops working (UTC); ``None`` for never, or for a token minted by
            a token that expires, that token's expiry.

    Raises:
        BadUserInput: a name of 0 or more than 120 characters (``name``), an empty list of
            scopes (``scopes``), an expiry in the past or after the minting token's
            (``expiresAt``).
        Forbidden: scopes the minting token does not hold (``scopes``).
        Unauthenticated: the minting token was revoked, or its user deactivated, meanwhile.
    """
    now = datetime.now(UTC)
    errors = FieldErrors()
    with errors.collect():
        name = _clean_name(name)
    with errors.collect():
        wanted = _clean_scopes(viewer, scopes)
    with errors.collect():
        expiry = _clean_expiry(viewer, expires_at, now)
    errors.raise_if_any()  # every bad field at once
    token = new_token()
    parent_id = None if viewer.is_session else viewer.token_id

    async def operation(tx: Transaction) -> IssuedToken:
        user = await _lock_user(tx.connection, viewer.user_id)
        if user is None:
            raise Unauthenticated()
        if parent_id is not None:
            parent = (
                await AccessToken.filter(id=parent_id)
                .using_db(tx.connection)
                .select_for_update()
                .first()
            )
            if parent is None or parent.revoked_at is not None:
                raise Unauthenticated()
        row = await AccessToken.create(
            workspace_id=viewer.workspace_id,
            user_id=viewer.user_id,
            parent_id=parent_id,
            name=name,
            kind=AccessTokenKind.INTEGRATION,
            scopes=format_scopes(wanted),
            token_hash=hash_token(token),
            expires_at=expiry,
            using_db=tx.connection,
        )
        return IssuedToken(token, row, user)

    return await write(bus, viewer.workspace_id, operation, once=once)


@dataclass(frozen=True)
class IssuedTokenOutcome:
    """How ``createAccessToken``'s result is kept with its idempotency key: the token's id
    and, when the server has ``INBOX_GRAPH_SECRET_KEY``, its secret encrypted with it (deleted
    with the key when it expires). A retry gets the token as it is now with its secret; without
    a stored secret (no key configured, or none that decrypts it) the secret cannot be shown
    twice: ``CONFLICT``."""

    box: SecretBox

    def keep(self, result: IssuedToken) -> dict[str, Any]:
        kept: dict[str, Any] = {"id": result.row.id}
        if self.box.configured:
            kept["secret"] = self.box.encrypt(result.token)
        return kept

    async def restore(self, kept: dict[str, Any], viewer: Viewer) -> IssuedToken:
        """The token a recorded key created, with its secret.

        Raises:
            NotFound: the token was deleted (its user's workspace is gone).
            Conflict: its secret was not kept (``extensions.accessTokenId``: the token's id).
        """
        row = await AccessToken.filter(id=kept["id"], workspace_id=viewer.workspace_id).first()
        if row is None:
            raise NotFound("Access token")
        token = self.box.decrypt_kept(kept.get("secret"))
        if token is None:
            raise Conflict(
                "This idempotencyKey created an access token already; its secret is shown once "
                "only. Revoke that token (extensions.accessTokenId) and create another.",
                field="idempotencyKey",
                accessTokenId=to_global_id("AccessToken", row.id),
            )
        return IssuedToken(token, row, await User.get(id=row.user_id))


def tokens_visible_to(viewer: Viewer) -> QuerySet[AccessToken]:
    """The access tokens ``viewer`` may see and revoke: every token of the workspace for
    owners, their own for everyone else (``domain.md`` section 8). Others' tokens do not exist
    for them (``NOT_FOUND``): :func:`graph.permissions.visibility.access_token_access`."""
    return AccessToken.filter(access_token_access(viewer))


async def list_access_tokens(
    viewer: Viewer,
    request: PageRequest,
    *,
    active: bool | None,
    kind: AccessTokenKind | None,
) -> Page[AccessToken]:
    """A page of the tokens ``viewer`` may see (:func:`tokens_visible_to`), newest first.

    Args:
        request: the page asked for (keyset ``[id]``, both ways; ``totalCount`` counts the
            same tokens).
        active: ``True``: only tokens that work now (not revoked, not expired); ``False``:
            only revoked or expired ones; ``None``: all.
        kind: only sessions or only integration tokens; ``None``: both.

    """
    query = tokens_visible_to(viewer)
    now = datetime.now(UTC)
    usable = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if active is True:
        query = query.filter(usable)
    elif active is False:
        query = query.filter(~usable)
    if kind is not None:
        query = query.filter(kind=kind)
    rows = await request.read(query, TOKEN_ORDER)
    return Page.of(rows, request, lambda token: [token.id], query.count)


async def _revoke_with_descendants(
    tx: Transaction, token_ids: Iterable[int], now: datetime
) -> list[int]:
    """Revoke the live tokens among ``token_ids`` and every descendant of them, in ``tx``;
    returns the ids revoked now."""
    connection = tx.connection
    revoked: list[int] = []
    frontier = sorted(set(token_ids))
    while frontier:
        live = (
            await AccessToken.filter(id__in=frontier, revoked_at__isnull=True)
            .using_db(connection)
            .values_list("id", flat=True)
        )
        if live:
            await AccessToken.filter(id__in=live).using_db(connection).update(revoked_at=now)
            revoked += live
        frontier = (
            await AccessToken.filter(parent_id__in=frontier)
            .using_db(connection)
            .values_list("id", flat=True)
        )
    return revoked


def _announce(tx: Transaction, user_id: int, token_ids: list[int]) -> None:
    if token_ids:
        tx.emit(EventType.ACCESS_TOKEN_REVOKED, user_id=user_id, token_ids=sorted(token_ids))


async def revoke_access_token(bus: EventBus, viewer: Viewer, token_id: int) -> AccessToken:
    """Revoke a token the viewer may manage (:func:`tokens_visible_to`), and the tokens it
    minted, theirs and so on. Revoking a revoked token changes nothing.

    Raises:
        NotFound: not a token the viewer may see (``id``).
    """
    if await tokens_visible_to(viewer).filter(id=token_id).first() is None:
        raise NotFound("Access token", field="id")

    async def operation(tx: Transaction) -> AccessToken:
        # the row lock makes a child minted meanwhile wait, then see its parent revoked
        row = (
            await AccessToken.filter(id=token_id)
            .using_db(tx.connection)
            .select_for_update()
            .first()
        )
        _announce(tx, row.user_id, await _revoke_with_descendants(tx, [row.id], datetime.now(UTC)))
        return await AccessToken.get(id=token_id).using_db(tx.connection)

    return await write(bus, viewer.workspace_id, operation)


async def logout(bus: EventBus, viewer: Viewer) -> bool:
    """End the request's session: revoke its token (an integration token revokes itself), and
    the tokens it minted. Returns whether a token was revoked now."""
    if viewer.token_id is None:
        return False

    async def operation(tx: Transaction) -> bool:
        await (
            AccessToken.filter(id=viewer.token_id)
            .using_db(tx.connection)
            .select_for_update()
            .first()
        )
        revoked = await _revoke_with_descendants(tx, [viewer.token_id], datetime.now(UTC))
        _announce(tx, viewer.user_id, revoked)
        return bool(revoked)

    return await write(bus, viewer.workspace_id, operation)


async def revoke_tokens_of_user(tx: Transaction, user_id: int) -> None:
    """Revoke every session and token of ``user_id`` in ``tx`` (its deactivation), for good.

    The caller holds the user's row locked, as minting and logging in do
    (:func:`start_session`, :func:`create_access_token`): no token of the user appears after.
    """
    live = (
        await AccessToken.filter(user_id=user_id, revoked_at__isnull=True)
        .using_db(tx.connection)
        .values_list("id", flat=True)
    )
    if live:
        await (
            AccessToken.filter(id__in=live)
            .using_db(tx.connection)
            .update(revoked_at=datetime.now(UTC))
        )
    _announce(tx, user_id, list(live))


async def change_password(
    bus: EventBus,
    viewer: Viewer,
    current_password: str,
    new_password: str,
    *,
    attempt: Callable[[str], AbstractAsyncContextManager[None]] | None = None,
) -> bool:
    """Change the viewer's password and end every other session of the user (and their open
    sockets, 4403); the current session and integration tokens stay. Only sessions may call it
    (:mod:`graph.permissions.scopes`).

    Args:
        attempt: guards the check of the current password, given the user's e-mail
            (:func:`graph.throttle.login_attempt`: wrong guesses back off like failed logins).

    Raises:
        WrongPassword: the current password is wrong (``currentPassword``). Nothing changes.
        BadUserInput: the new password is not 8 to 1024 characters (``newPassword``); with a
            wrong current password too, both (one error each).
        RateLimited: from ``attempt``, while a backoff of the account runs.
        Conflict: the password changed meanwhile (another ``changePassword``).
    """
    user = await User.get(id=viewer.user_id)
    errors = FieldErrors()  # a wrong current password and a bad new one, reported together
    new_plain = ""
    with errors.collect():  # outside the attempt: the throttle counts the wrong guess
        async with attempt(user.email) if attempt else contextlib.nullcontext():
            if not await verify_password(user.password_hash, current_password or ""):
                raise WrongPassword()
    with errors.collect():
        new_plain = clean_password(new_password, "newPassword")
    errors.raise_if_any()
    new_hash = await hash_password(new_plain)

    async def operation(tx: Transaction) -> bool:
        locked = await _lock_user(tx.connection, viewer.user_id)
        if locked is None:
            raise Unauthenticated()
        if locked.password_hash != user.password_hash:
            raise Conflict("The password was changed meanwhile: log in again.")
        locked.password_hash = new_hash
        await locked.save(using_db=tx.connection, update_fields=["password_hash"])
        others = (
            await AccessToken.filter(
                user_id=viewer.user_id, kind=AccessTokenKind.SESSION, revoked_at__isnull=True
            )
            .exclude(id=viewer.token_id or 0)
            .using_db(tx.connection)
            .values_list("id", flat=True)
        )
        _announce(tx, viewer.user_id, await _revoke_with_descendants(tx, others, datetime.now(UTC)))
        return True

    return await write(bus, viewer.workspace_id, operation)


async def parent_token(token: AccessToken) -> AccessToken | None:
    """The token that minted ``token``, if any (``AccessToken.parent``)."""
    if token.parent_id is None:
        return None
    return await AccessToken.filter(id=token.parent_id).first()


__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "IssuedToken",
    "IssuedTokenOutcome",
    "change_password",
    "clean_password",
    "create_access_token",
    "list_access_tokens",
    "logout",
    "parent_token",
    "revoke_access_token",
    "revoke_tokens_of_user",
    "start_session",
    "tokens_visible_to",
]

"""Login, access tokens and workspace administration (users, teams, channels, settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from db.models import (
    AccessToken,
    AccessTokenKind,
    Channel,
    ChannelType,
    ContactVisibility,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from db.normalize import normalise_email
from db.security import hash_password, hash_token, new_token, verify_password
from graph.errors import BadUserInput, Conflict, Forbidden, NotConfigured, NotFound, Unauthenticated
from graph.live import write
from graph.resolvers.indicators import forget_left_teams
from graph.resolvers.lookup import ids_in_workspace
from graph.schema.core import to_global_id
from graph.secrets import SecretUnreadable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer
    from graph.secrets import SecretBox

MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = 120


@dataclass
class IssuedToken:
    token: str
    row: AccessToken
    user: User


async def login(email: str, password: str, *, ttl_seconds: int) -> IssuedToken:
    """Exchange credentials for a session bearer token (stored hashed).

    Raises:
        Unauthenticated: unknown e-mail, wrong password or deactivated user (one message for
            all three, answered in the same time).
    """
    user = await User.filter(email=(email or "").strip().lower()).first()
    ok = verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok or not user.is_active:
        raise Unauthenticated("Invalid e-mail or password.")
    token = new_token()
    row = await AccessToken.create(
        workspace_id=user.workspace_id,
        user_id=user.id,
        name="session",
        kind=AccessTokenKind.SESSION,
        token_hash=hash_token(token),
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )
    return IssuedToken(token, row, user)


def _clean_name(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise BadUserInput(f"`{field}` must be 1 to {MAX_NAME_LENGTH} characters.", field=field)
    return value


async def create_access_token(
    bus: EventBus, viewer: Viewer, name: str, *, once: Once | None = None
) -> IssuedToken:
    """A personal or integration token acting as the viewer; the secret is returned once
    (and to a retry with the request's idempotency key ``once``: :class:`IssuedTokenOutcome`).

    Raises:
        BadUserInput: a name of 0 or more than 120 characters (``name``).
    """
    name = _clean_name(name, "name")
    token = new_token()

    async def operation(tx: Transaction) -> IssuedToken:
        row = await AccessToken.create(
            workspace_id=viewer.workspace_id,
            user_id=viewer.user_id,
            name=name,
            kind=AccessTokenKind.INTEGRATION,
            token_hash=hash_token(token),
            using_db=tx.connection,
        )
        user = await User.get(id=viewer.user_id).using_db(tx.connection)
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
        """Raises:
            NotFound: the token was deleted (its user's workspace is gone).
            Conflict: its secret was not kept (``extensions.accessTokenId``: the token's id).
        """
        row = await AccessToken.filter(id=kept["id"], workspace_id=viewer.workspace_id).first()
        if row is None:
            raise NotFound("Access token")
        token = None
        if kept.get("secret"):
            try:
                token = self.box.decrypt(kept["secret"])
            except (NotConfigured, SecretUnreadable):
                token = None
        if token is None:
            raise Conflict(
                "This idempotencyKey created an access token already; its secret is shown once "
                "only. Revoke that token (extensions.accessTokenId) and create another.",
                field="idempotencyKey",
                accessTokenId=to_global_id("AccessToken", row.id),
            )
        return IssuedToken(token, row, await User.get(id=row.user_id))


async def revoke_access_token(bus: EventBus, viewer: Viewer, token_id: int) -> AccessToken:
    """Revoke a token the viewer may manage (:func:`tokens_visible_to`).

    Raises:
        NotFound: not a token the viewer may revoke.
    """
    row = await tokens_visible_to(viewer).filter(id=token_id).first()
    if row is None:
        raise NotFound("Access token", field="id")

    async def operation(tx: Transaction) -> AccessToken:
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            await row.save(using_db=tx.connection, update_fields=["revoked_at"])
            tx.emit("access_token.revoked", token_id=row.id, user_id=row.user_id)
        return row

    return await write(bus, viewer.workspace_id, operation)


def tokens_visible_to(viewer: Viewer):
    """The access tokens ``viewer`` may see and revoke: their own; for managers, those of
    non-owners too; for owners, every token of the workspace."""
    query = AccessToken.filter(workspace_id=viewer.workspace_id)
    if viewer.role is Role.OWNER:
        return query
    if viewer.is_admin:
        return query.filter(Q(user_id=viewer.user_id) | Q(user__role__not=Role.OWNER))
    return query.filter(user_id=viewer.user_id)


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only owners and managers administer users and teams.")


def require_owner(viewer: Viewer, message: str = "Only owners change channels and workspace settings.") -> None:
    """Workspace configuration (channels, settings, integrations) is for owners.

    Raises:
        Forbidden: with ``message``, when the viewer is not an owner.
    """
    if viewer.role is not Role.OWNER:
        raise Forbidden(message)


def _check_role_change(viewer: Viewer, role: Role | None, target: User | None) -> None:
    if viewer.role is Role.OWNER:
        return
    if role is Role.OWNER or (target is not None and target.role is Role.OWNER):
        raise Forbidden("Only owners grant or change the owner role.")


async def create_user(
    bus: EventBus, viewer: Viewer, data: dict[str, Any], *, once: Once | None = None
) -> User:
    """Add a teammate. ``once``: the request's idempotency key (:mod:`graph.idempotency`).

    Raises:
        Forbidden: the viewer is an agent, or a manager granting the owner role.
        BadUserInput: invalid e-mail, name or password, or an e-mail already in use.
        NotFound: a team id not in the workspace (``teamIds``).
    """
    _require_admin(viewer)
    role = data.get("role") or Role.AGENT
    _check_role_change(viewer, role, None)
    try:
        email = normalise_email(data.get("email") or "")
    except ValueError as exc:
        raise BadUserInput(f"`email` is not a valid e-mail address: {exc}", field="email") from None
    name = _clean_name(data.get("name"), "name")
    password = data.get("password") or ""
    if len(password) < MIN_PASSWORD_LENGTH or len(password) > 1024:
        raise BadUserInput(
            f"`password` must be {MIN_PASSWORD_LENGTH} to 1024 characters.", field="password"
        )
    team_ids = await ids_in_workspace(Team, viewer.workspace_id, data.get("team_ids"), field="teamIds") or []
    if await User.filter(email=email).exists():
        raise BadUserInput("This e-mail address is already in use.", field="email")
    password_hash = hash_password(password)

    async def operation(tx: Transaction) -> User:
        try:
            user = await User.create(
                workspace_id=viewer.workspace_id,
                email=email,
                name=name,
                password_hash=password_hash,
                role=role,
                contact_visibility=(
                    data.get("contact_visibility") or ContactVisibility.ALL
                    if role is Role.AGENT
                    else ContactVisibility.ALL
                ),
                can_view_blocked_contacts=bool(data.get("can_view_blocked_contacts"))
                or role is Role.OWNER,
                has_call_access=bool(data.get("has_call_access")),
                can_edit_contacts=data.get("can_edit_contacts") is not False,
                using_db=tx.connection,
            )
        except IntegrityError:
            raise BadUserInput("This e-mail address is already in use.", field="email") from None
        for team_id in team_ids:
            await TeamMembership.create(team_id=team_id, user_id=user.id, using_db=tx.connection)
        tx.emit("user.changed", user_id=user.id)
        return user

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_user(bus: EventBus, viewer: Viewer, user_id: int, data: dict[str, Any]) -> User:
    """Change a teammate's name, role, visibility, permissions, teams or active flag.

    Only fields present in ``data`` change. Raises like :func:`create_user`; ``NotFound`` for
    a user outside the workspace.
    """
    _require_admin(viewer)
    target = await User.filter(id=user_id, workspace_id=viewer.workspace_id).first()
    if target is None:
        raise NotFound("User", field="id")
    _check_role_change(viewer, data.get("role"), target)
    team_ids = await ids_in_workspace(Team, viewer.workspace_id, data.get("team_ids"), field="teamIds")
    changes: dict[str, Any] = {}
    if data.get("name") is not None:
        changes["name"] = _clean_name(data["name"], "name")
    for key in ("role", "contact_visibility", "can_view_blocked_contacts", "has_call_access", "can_edit_contacts", "is_active"):
        if data.get(key) is not None:
            changes[key] = data[key]
    if changes.get("is_active") is False and target.id == viewer.user_id:
        raise BadUserInput("You cannot deactivate yourself.", field="isActive")

    async def operation(tx: Transaction) -> User:
        # the workspace row serialises owner changes, so two owners cannot demote each other
        await Workspace.filter(id=viewer.workspace_id).using_db(tx.connection).select_for_update().first()
        user = await User.filter(id=user_id).using_db(tx.connection).select_for_update().first()
        was_active_owner = user.role is Role.OWNER and user.is_active
        for key, value in changes.items():
            setattr(user, key, value)
        if was_active_owner and (user.role is not Role.OWNER or not user.is_active):
            others = await User.filter(
                workspace_id=viewer.workspace_id, role=Role.OWNER, is_active=True
            ).exclude(id=user.id).using_db(tx.connection).count()
            if others == 0:
                raise Conflict("A workspace needs at least one active owner: appoint another first.")
        if user.role is not Role.AGENT:
            user.contact_visibility = ContactVisibility.ALL
        if user.role is Role.OWNER:
            user.can_view_blocked_contacts = True
        await user.save(using_db=tx.connection)
        if team_ids is not None:
            before = await TeamMembership.filter(user_id=user.id).using_db(tx.connection).values_list("team_id", flat=True)
            await forget_left_teams(tx, [(user.id, t) for t in set(before) - set(team_ids)])
            await TeamMembership.filter(user_id=user.id).using_db(tx.connection).delete()
            for team_id in team_ids:
                await TeamMembership.create(team_id=team_id, user_id=user.id, using_db=tx.connection)
        tx.emit("user.changed", user_id=user.id)
        return user

    return await write(bus, viewer.workspace_id, operation)


async def create_team(
    bus: EventBus,
    viewer: Viewer,
    name: str,
    member_ids: Sequence[int] | None,
    *,
    once: Once | None = None,
) -> Team:
    """A new team with its members. Raises ``BAD_USER_INPUT`` for a duplicate name.
    ``once``: the request's idempotency key (:mod:`graph.idempotency`)."""
    _require_admin(viewer)
    name = _clean_name(name, "name")
    members = await ids_in_workspace(User, viewer.workspace_id, member_ids, field="memberIds") or []
    if await Team.filter(workspace_id=viewer.workspace_id, name=name).exists():
        raise BadUserInput("A team with this name exists already.", field="name")

    async def operation(tx: Transaction) -> Team:
        team = await Team.create(workspace_id=viewer.workspace_id, name=name, using_db=tx.connection)
        for user_id in members:
            await TeamMembership.create(team_id=team.id, user_id=user_id, using_db=tx.connection)
        tx.emit("team.changed", team_id=team.id)
        return team

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_team(
    bus: EventBus, viewer: Viewer, team_id: int, name: str | None, member_ids: Sequence[int] | None
) -> Team:
    """Rename a team or replace its members."""
    _require_admin(viewer)
    team = await Team.filter(id=team_id, workspace_id=viewer.workspace_id).first()
    if team is None:
        raise NotFound("Team", field="id")
    new_name = _clean_name(name, "name") if name is not None else None
    if new_name and new_name != team.name and await Team.filter(
        workspace_id=viewer.workspace_id, name=new_name
    ).exists():
        raise BadUserInput("A team with this name exists already.", field="name")
    members = await ids_in_workspace(User, viewer.workspace_id, member_ids, field="memberIds")

    async def operation(tx: Transaction) -> Team:
        if new_name:
            team.name = new_name
            await team.save(using_db=tx.connection, update_fields=["name"])
        if members is not None:
            before = await TeamMembership.filter(team_id=team.id).using_db(tx.connection).values_list("user_id", flat=True)
            await forget_left_teams(tx, [(u, team.id) for u in set(before) - set(members)])
            await TeamMembership.filter(team_id=team.id).using_db(tx.connection).delete()
            for user_id in members:
                await TeamMembership.create(team_id=team.id, user_id=user_id, using_db=tx.connection)
        tx.emit("team.changed", team_id=team.id)
        return team

    return await write(bus, viewer.workspace_id, operation)


async def connect_channel(
    bus: EventBus, viewer: Viewer, type: ChannelType, name: str, *, once: Once | None = None
) -> Channel:
    """Connect a channel (owners). ``once``: the request's idempotency key
    (:mod:`graph.idempotency`)."""
    require_owner(viewer)
    name = _clean_name(name, "name")

    async def operation(tx: Transaction) -> Channel:
        channel = await Channel.create(
            workspace_id=viewer.workspace_id, type=type, name=name, using_db=tx.connection
        )
        tx.emit("channel.connected", channel_id=channel.id)
        return channel

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_workspace_settings(
    bus: EventBus, viewer: Viewer, data: dict[str, Any], *, shortest_ring_timeout: int
) -> Workspace:
    """Change phone-number masking, the call ring timeout (``shortest_ring_timeout``, the
    deployment's setting, to 600 seconds) or the closing notes mode (owners).

    Raises:
        Forbidden: the viewer is not an owner.
        BadUserInput: a ring timeout out of range (``callRingTimeoutSeconds``).
    """
    from graph.resolvers.call import clean_ring_timeout  # it imports the schema, which imports this

    require_owner(viewer)
    timeout = data.get("call_ring_timeout_seconds")
    if timeout is not None:
        clean_ring_timeout(timeout, shortest_ring_timeout)

    async def operation(tx: Transaction) -> Workspace:
        workspace = await Workspace.get(id=viewer.workspace_id).using_db(tx.connection)
        for key in ("phone_number_masking", "call_ring_timeout_seconds", "closing_notes_mode"):
            if data.get(key) is not None:
                setattr(workspace, key, data[key])
        await workspace.save(
            using_db=tx.connection,
            update_fields=["phone_number_masking", "call_ring_timeout_seconds", "closing_notes_mode"],
        )
        tx.emit("workspace.changed")
        return workspace

    return await write(bus, viewer.workspace_id, operation)


__all__ = [
    "IssuedToken",
    "IssuedTokenOutcome",
    "connect_channel",
    "create_access_token",
    "create_team",
    "create_user",
    "login",
    "require_owner",
    "tokens_visible_to",
    "revoke_access_token",
    "update_team",
    "update_user",
    "update_workspace_settings",
]

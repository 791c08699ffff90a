"""Login and workspace administration (users, teams, channels, settings); sessions and access
tokens live in :mod:`graph.resolvers.access_token`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError

from db.models import (
    Channel,
    ChannelType,
    ClosingNotesMode,
    ContactVisibility,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from db.normalize import normalise_email
from db.security import hash_password, password_needs_rehash, password_turn, verify_password
from graph.errors import BadUserInput, Conflict, FieldErrors, Forbidden, NotFound, Unauthenticated
from graph.events import EventType
from graph.live import write
from graph.permissions.grants import check_grants
from graph.resolvers.access_token import (
    MIN_PASSWORD_LENGTH,
    IssuedToken,
    clean_password,
    revoke_tokens_of_user,
    start_session,
)
from graph.resolvers.call import channel_phone_number, clean_ring_timeout
from graph.resolvers.indicators import forget_left_teams
from graph.resolvers.lookup import ids_in_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from graph.idempotency import Once
    from graph.live import EventBus, Transaction
    from graph.permissions.visibility import Viewer

MAX_NAME_LENGTH = 120


async def login(email: str, password: str, *, ttl_seconds: int) -> IssuedToken:
    """Exchange credentials for a session bearer token (stored hashed;
    :func:`graph.resolvers.access_token.start_session`).

    A password hashed with older parameters is rehashed with today's
    (:data:`db.security.PASSWORD_HASH_PARAMETERS`) once it has been checked.

    Raises:
        Unauthenticated: unknown e-mail, wrong password or deactivated user (one message for
            all three, answered in the same time).
    """
    async with password_turn():
        user = await User.filter(email=(email or "").strip().lower()).first()
        ok = await verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok or not user.is_active:
        raise Unauthenticated("Invalid e-mail or password.")
    if password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    return await start_session(user, ttl_seconds=ttl_seconds)


def _clean_name(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise BadUserInput(f"`{field}` must be 1 to {MAX_NAME_LENGTH} characters.", field=field)
    return value


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only owners and managers administer users and teams.")


def require_owner(
    viewer: Viewer, message: str = "Only owners change channels and workspace settings."
) -> None:
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


@dataclass(frozen=True, slots=True)
class NewUser:
    """A teammate to add (``createUser``), team ids decoded."""

    email: str
    name: str
    password: str
    role: Role = Role.AGENT
    contact_visibility: ContactVisibility = ContactVisibility.ALL
    team_ids: list[int] | None = None
    can_view_blocked_contacts: bool = False
    has_call_access: bool = False
    can_edit_contacts: bool = True


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What ``updateUser`` changes in a teammate: ``None`` leaves a field as it is."""

    name: str | None = None
    role: Role | None = None
    contact_visibility: ContactVisibility | None = None
    team_ids: list[int] | None = None
    can_view_blocked_contacts: bool | None = None
    has_call_access: bool | None = None
    can_edit_contacts: bool | None = None
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class WorkspaceChanges:
    """What ``updateWorkspaceSettings`` changes: ``None`` leaves a setting as it is."""

    phone_number_masking: bool | None = None
    call_ring_timeout_seconds: int | None = None
    closing_notes_mode: ClosingNotesMode | None = None


async def create_user(
    bus: EventBus,
    viewer: Viewer,
    data: NewUser,
    *,
    once: Once | None = None,
    errors: FieldErrors | None = None,
) -> User:
    """Add a teammate. ``once``: the request's idempotency key (:mod:`graph.idempotency`);
    ``errors``: the input's errors the caller found already. Every invalid field is reported
    at once (:class:`graph.errors.FieldErrors`).

    Raises:
        Forbidden: the viewer is an agent, or grants what they may not
            (:func:`graph.permissions.grants.check_grants`: a manager granting the owner role
            or a permission they lack), naming the field.
        BadUserInput: invalid e-mail, name or password, or an e-mail already in use.
        NotFound: a team id not in the workspace (``teamIds``).
    """
    _require_admin(viewer)
    errors = errors or FieldErrors()
    role = data.role or Role.AGENT
    _check_role_change(viewer, role, None)
    with errors.collect():
        check_grants(viewer, None, data)
    email = name = password = ""
    team_ids: list[int] = []
    with errors.collect():
        try:
            email = normalise_email(data.email or "")
        except ValueError as exc:
            raise BadUserInput(
                f"`email` is not a valid e-mail address: {exc}", field="email"
            ) from None
        if await User.filter(email=email).exists():
            raise BadUserInput("This e-mail address is already in use.", field="email")
    with errors.collect():
        name = _clean_name(data.name, "name")
    with errors.collect():
        password = clean_password(data.password, "password")
    with errors.collect():
        team_ids = (
            await ids_in_workspace(Team, viewer.workspace_id, data.team_ids, field="teamIds") or []
        )
    errors.raise_if_any()
    password_hash = await hash_password(password)

    async def operation(tx: Transaction) -> User:
        try:
            user = await User.create(
                workspace_id=viewer.workspace_id,
                email=email,
                name=name,
                password_hash=password_hash,
                role=role,
                contact_visibility=(
                    data.contact_visibility or ContactVisibility.ALL
                    if role is Role.AGENT
                    else ContactVisibility.ALL
                ),
                can_view_blocked_contacts=bool(data.can_view_blocked_contacts)
                or role is Role.OWNER,
                has_call_access=bool(data.has_call_access),
                can_edit_contacts=data.can_edit_contacts is not False,
                using_db=tx.connection,
            )
        except IntegrityError:
            raise BadUserInput("This e-mail address is already in use.", field="email") from None
        for team_id in team_ids:
            await TeamMembership.create(team_id=team_id, user_id=user.id, using_db=tx.connection)
        tx.emit(EventType.USER_CHANGED, user_id=user.id)
        return user

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_user(
    bus: EventBus,
    viewer: Viewer,
    user_id: int,
    data: UserChanges,
    *,
    errors: FieldErrors | None = None,
) -> User:
    """Change a teammate's name, role, visibility, permissions, teams or active flag; every
    invalid field reported at once (``errors``: those the caller found already).

    Only the fields ``data`` sets change. Deactivating a user revokes every session and
    access token of the user in the same transaction, for good: reactivating it does not bring
    them back (``domain.md`` section 8; the user logs in again).

    Raises like :func:`create_user` (``FORBIDDEN`` too for a change of the viewer's own role,
    visibility or permissions); ``NotFound`` for a user outside the workspace.
    """
    _require_admin(viewer)
    target = await User.filter(id=user_id, workspace_id=viewer.workspace_id).first()
    if target is None:
        raise NotFound("User", field="id")
    _check_role_change(viewer, data.role, target)
    errors = errors or FieldErrors()
    with errors.collect():
        check_grants(viewer, target, data)
    team_ids = None
    with errors.collect():
        team_ids = await ids_in_workspace(Team, viewer.workspace_id, data.team_ids, field="teamIds")
    changes: dict[str, object] = {}
    if data.name is not None:
        with errors.collect():
            changes["name"] = _clean_name(data.name, "name")
    for change in fields(data):
        value = getattr(data, change.name)
        if change.name not in ("name", "team_ids") and value is not None:
            changes[change.name] = value
    with errors.collect():
        if changes.get("is_active") is False and target.id == viewer.user_id:
            raise BadUserInput("You cannot deactivate yourself.", field="isActive")
    errors.raise_if_any()

    async def operation(tx: Transaction) -> User:
        # the workspace row serialises owner changes, so two owners cannot demote each other
        await (
            Workspace.filter(id=viewer.workspace_id)
            .using_db(tx.connection)
            .select_for_update()
            .first()
        )
        user = await User.filter(id=user_id).using_db(tx.connection).select_for_update().first()
        was_active_owner = user.role is Role.OWNER and user.is_active
        for key, value in changes.items():
            setattr(user, key, value)
        if was_active_owner and (user.role is not Role.OWNER or not user.is_active):
            others = (
                await User.filter(workspace_id=viewer.workspace_id, role=Role.OWNER, is_active=True)
                .exclude(id=user.id)
                .using_db(tx.connection)
                .count()
            )
            if others == 0:
                raise Conflict(
                    "A workspace needs at least one active owner: appoint another first."
                )
        if user.role is not Role.AGENT:
            user.contact_visibility = ContactVisibility.ALL
        if user.role is Role.OWNER:
            user.can_view_blocked_contacts = True
        await user.save(using_db=tx.connection)
        if not user.is_active:
            await revoke_tokens_of_user(tx, user.id)
        if team_ids is not None:
            before = (
                await TeamMembership.filter(user_id=user.id)
                .using_db(tx.connection)
                .values_list("team_id", flat=True)
            )
            await forget_left_teams(tx, [(user.id, t) for t in set(before) - set(team_ids)])
            await TeamMembership.filter(user_id=user.id).using_db(tx.connection).delete()
            for team_id in team_ids:
                await TeamMembership.create(
                    team_id=team_id, user_id=user.id, using_db=tx.connection
                )
        tx.emit(EventType.USER_CHANGED, user_id=user.id)
        return user

    return await write(bus, viewer.workspace_id, operation)


async def create_team(
    bus: EventBus,
    viewer: Viewer,
    name: str,
    member_ids: Sequence[int] | None,
    *,
    once: Once | None = None,
    errors: FieldErrors | None = None,
) -> Team:
    """A new team with its members. Raises ``BAD_USER_INPUT`` for a bad or duplicate name,
    ``NOT_FOUND`` for members outside the workspace, both at once (``errors``: those the
    caller found already). ``once``: the request's idempotency key (:mod:`graph.idempotency`)."""
    _require_admin(viewer)
    errors = errors or FieldErrors()
    members: list[int] = []
    with errors.collect():
        name = _clean_name(name, "name")
        if await Team.filter(workspace_id=viewer.workspace_id, name=name).exists():
            raise BadUserInput("A team with this name exists already.", field="name")
    with errors.collect():
        members = (
            await ids_in_workspace(User, viewer.workspace_id, member_ids, field="memberIds") or []
        )
    errors.raise_if_any()

    async def operation(tx: Transaction) -> Team:
        team = await Team.create(
            workspace_id=viewer.workspace_id, name=name, using_db=tx.connection
        )
        for user_id in members:
            await TeamMembership.create(team_id=team.id, user_id=user_id, using_db=tx.connection)
        tx.emit(EventType.TEAM_CHANGED, team_id=team.id)
        return team

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_team(
    bus: EventBus,
    viewer: Viewer,
    team_id: int,
    name: str | None,
    member_ids: Sequence[int] | None,
    *,
    errors: FieldErrors | None = None,
) -> Team:
    """Rename a team or replace its members; a bad name and bad members are reported at once
    (``errors``: those the caller found already)."""
    _require_admin(viewer)
    team = await Team.filter(id=team_id, workspace_id=viewer.workspace_id).first()
    if team is None:
        raise NotFound("Team", field="id")
    errors = errors or FieldErrors()
    new_name = members = None
    with errors.collect():
        new_name = _clean_name(name, "name") if name is not None else None
        if (
            new_name
            and new_name != team.name
            and await Team.filter(workspace_id=viewer.workspace_id, name=new_name).exists()
        ):
            raise BadUserInput("A team with this name exists already.", field="name")
    with errors.collect():
        members = await ids_in_workspace(User, viewer.workspace_id, member_ids, field="memberIds")
    errors.raise_if_any()

    async def operation(tx: Transaction) -> Team:
        if new_name:
            team.name = new_name
            await team.save(using_db=tx.connection, update_fields=["name"])
        if members is not None:
            before = (
                await TeamMembership.filter(team_id=team.id)
                .using_db(tx.connection)
                .values_list("user_id", flat=True)
            )
            await forget_left_teams(tx, [(u, team.id) for u in set(before) - set(members)])
            await TeamMembership.filter(team_id=team.id).using_db(tx.connection).delete()
            for user_id in members:
                await TeamMembership.create(
                    team_id=team.id, user_id=user_id, using_db=tx.connection
                )
        tx.emit(EventType.TEAM_CHANGED, team_id=team.id)
        return team

    return await write(bus, viewer.workspace_id, operation)


async def connect_channel(
    bus: EventBus,
    viewer: Viewer,
    type: ChannelType,
    name: str,
    *,
    phone_number: str | None = None,
    once: Once | None = None,
) -> Channel:
    """Connect a channel (owners). ``phone_number``: a calling channel's own number (any
    international format, stored E.164), the number its calls are made from and to
    (``domain.md`` section 5). ``once``: the request's idempotency key
    (:mod:`graph.idempotency`).

    Raises:
        Forbidden: the viewer is not an owner.
        BadUserInput: a malformed ``name``, a ``phoneNumber`` that is no international number
            or is given for a channel that carries no calls; both at once.
    """
    require_owner(viewer)
    errors = FieldErrors()
    with errors.collect():
        name = _clean_name(name, "name")
    with errors.collect():
        phone_number = channel_phone_number(type, phone_number)
    errors.raise_if_any()

    async def operation(tx: Transaction) -> Channel:
        channel = await Channel.create(
            workspace_id=viewer.workspace_id,
            type=type,
            name=name,
            phone_number=phone_number,
            using_db=tx.connection,
        )
        tx.emit(EventType.CHANNEL_CONNECTED, channel_id=channel.id)
        return channel

    return await write(bus, viewer.workspace_id, operation, once=once)


async def update_workspace_settings(
    bus: EventBus, viewer: Viewer, data: WorkspaceChanges, *, shortest_ring_timeout: int
) -> Workspace:
    """Change phone-number masking, the call ring timeout (``shortest_ring_timeout``, the
    deployment's setting, to 600 seconds) or the closing notes mode (owners).

    Raises:
        Forbidden: the viewer is not an owner.
        BadUserInput: a ring timeout out of range (``callRingTimeoutSeconds``).
    """
    require_owner(viewer)
    timeout = data.call_ring_timeout_seconds
    if timeout is not None:
        clean_ring_timeout(timeout, shortest_ring_timeout)

    async def operation(tx: Transaction) -> Workspace:
        workspace = await Workspace.get(id=viewer.workspace_id).using_db(tx.connection)
        for setting in fields(data):
            if getattr(data, setting.name) is not None:
                setattr(workspace, setting.name, getattr(data, setting.name))
        await workspace.save(
            using_db=tx.connection,
            update_fields=[
                "phone_number_masking",
                "call_ring_timeout_seconds",
                "closing_notes_mode",
            ],
        )
        tx.emit(EventType.WORKSPACE_CHANGED)
        return workspace

    return await write(bus, viewer.workspace_id, operation)


async def list_users(viewer: Viewer) -> list[User]:
    """The users of the viewer's workspace, by name."""
    return await User.filter(workspace_id=viewer.workspace_id).order_by("name", "id")


async def list_teams(viewer: Viewer) -> list[Team]:
    """The teams of the viewer's workspace, by name."""
    return await Team.filter(workspace_id=viewer.workspace_id).order_by("name", "id")


async def list_channels(viewer: Viewer) -> list[Channel]:
    """The connected channels of the viewer's workspace, oldest first."""
    return await Channel.filter(workspace_id=viewer.workspace_id).order_by("id")


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "IssuedToken",
    "NewUser",
    "UserChanges",
    "WorkspaceChanges",
    "connect_channel",
    "create_team",
    "create_user",
    "list_channels",
    "list_teams",
    "list_users",
    "login",
    "require_owner",
    "update_team",
    "update_user",
    "update_workspace_settings",
]

"""Tenants, teammates, teams and access tokens (``domain.md``, terms and section 1)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Role(str, Enum):
    OWNER = "OWNER"
    MANAGER = "MANAGER"
    AGENT = "AGENT"


class ContactVisibility(str, Enum):
    """An agent's restriction: every contact, the team's contacts, or their own only."""

    ALL = "ALL"
    TEAM = "TEAM"
    SELF = "SELF"


class ClosingNotesMode(str, Enum):
    """What closing a conversation asks for (a workspace setting)."""

    OFF = "OFF"
    OPTIONAL = "OPTIONAL"
    CATEGORY_REQUIRED = "CATEGORY_REQUIRED"
    CATEGORY_AND_SUMMARY_REQUIRED = "CATEGORY_AND_SUMMARY_REQUIRED"


class AccessTokenKind(str, Enum):
    SESSION = "SESSION"
    INTEGRATION = "INTEGRATION"


class AccessTokenScope(str, Enum):
    """What an access token may do, on top of what its user may do (``domain.md`` section 8).

    ``ADMIN`` includes every other scope and ``READ_WRITE`` includes ``READ``
    (:func:`graph.permissions.scopes.granted`); ``INGEST`` is channel ingestion only.
    Sessions (from ``login``) hold ``ADMIN``.
    """

    INGEST = "INGEST"
    READ = "READ"
    READ_WRITE = "READ_WRITE"
    ADMIN = "ADMIN"


class Workspace(Model):
    """The tenant. ``event_sequence`` is the last sequence number given to an outbox event."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    phone_number_masking = fields.BooleanField(default=False)
    call_ring_timeout_seconds = fields.IntField(default=45)
    closing_notes_mode = fields.CharEnumField(ClosingNotesMode, default=ClosingNotesMode.OPTIONAL)
    event_sequence = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workspace"


class User(Model):
    """A teammate. Owners and managers always see every contact (``contact_visibility`` ALL)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="users", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=254, unique=True, description="lower-cased, used to log in")
    name = fields.CharField(max_length=120)
    password_hash = fields.CharField(max_length=255, null=True)
    role = fields.CharEnumField(Role, default=Role.AGENT)
    contact_visibility = fields.CharEnumField(ContactVisibility, default=ContactVisibility.ALL)
    can_view_blocked_contacts = fields.BooleanField(default=False)
    has_call_access = fields.BooleanField(default=False)
    can_edit_contacts = fields.BooleanField(
        default=True,
        db_default=True,  # existing teammates keep editing contacts
        description="may edit and merge contacts (owners and managers always may)",
    )
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user"
        indexes = (Index(fields=("workspace_id", "role")),)


class Team(Model):
    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="teams", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "team"
        unique_together = (("workspace", "name"),)


class TeamMembership(Model):
    id = fields.IntField(primary_key=True)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="memberships", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )

    class Meta:
        table = "team_membership"
        unique_together = (("team", "user"),)
        indexes = (Index(fields=("user_id",)),)


class AccessToken(Model):
    """A bearer token (its SHA-256 only) acting as its user, narrowed to its scopes.

    ``domain.md`` section 8: what a token may do is what its user may do now, narrowed to its
    ``scopes``.
    ``scopes`` holds :class:`AccessTokenScope` names separated by spaces (sessions: ``ADMIN``).
    ``parent`` is the token that minted it (an ``ADMIN`` integration token), ``None`` when its
    user made it from a session or logged in: revoking a token revokes its descendants in the
    same transaction. ``last_used_at`` is written at most once a minute per token.
    """

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="access_tokens", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="access_tokens", on_delete=fields.CASCADE
    )
    parent: fields.ForeignKeyNullableRelation[AccessToken] = fields.ForeignKeyField(
        "models.AccessToken", related_name="children", null=True, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    kind = fields.CharEnumField(AccessTokenKind, default=AccessTokenKind.SESSION)
    scopes = fields.CharField(
        max_length=100,
        default=AccessTokenScope.ADMIN.value,
        db_default=AccessTokenScope.ADMIN.value,  # tokens made before scopes keep their power
        description="AccessTokenScope names separated by spaces",
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "access_token"
        indexes = (
            Index(fields=("workspace_id", "id")),
            Index(fields=("user_id", "revoked_at")),
            Index(fields=("parent_id",)),
        )


__all__ = [
    "AccessToken",
    "AccessTokenKind",
    "AccessTokenScope",
    "ClosingNotesMode",
    "ContactVisibility",
    "Role",
    "Team",
    "TeamMembership",
    "User",
    "Workspace",
]

"""Bootstrapping a tenant: a workspace and its owner."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from db.models import ContactVisibility, Role, User, Workspace
from db.normalize import normalise_email
from db.security import hash_password

MIN_PASSWORD_LENGTH = 8


def check_workspace_input(name: str, owner_email: str) -> tuple[str, str]:
    """The workspace's name (stripped) and the owner's e-mail (normalised), checked before
    anything is asked or written (``inbox-graph create-workspace`` asks for the password after).

    Raises:
        ValueError: a name that is empty or over 120 characters, an invalid e-mail.
    """
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValueError("The workspace name must be 1 to 120 characters.")
    try:
        return name, normalise_email(owner_email)
    except ValueError as exc:
        raise ValueError(f"Invalid owner e-mail: {exc}") from None


async def create_workspace(
    name: str, owner_email: str, owner_password: str, owner_name: str | None = None
) -> tuple[Workspace, User]:
    """Create a workspace and its OWNER (visibility ALL, may view blocked contacts, call access).

    Raises:
        ValueError: an empty name, an invalid or taken e-mail, or a password shorter than
            8 characters.
    """
    name, email = check_workspace_input(name, owner_email)
    if len(owner_password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The owner password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if await User.filter(email=email).exists():
        raise ValueError(f"The e-mail {email} is already in use.")
    password_hash = await hash_password(owner_password)
    async with in_transaction() as connection:
        workspace = await Workspace.create(name=name, using_db=connection)
        owner = await User.create(
            workspace_id=workspace.id,
            email=email,
            name=owner_name or email.split("@")[0].replace(".", " ").title(),
            password_hash=password_hash,
            role=Role.OWNER,
            contact_visibility=ContactVisibility.ALL,
            can_view_blocked_contacts=True,
            has_call_access=True,
            using_db=connection,
        )
    return workspace, owner


__all__ = ["check_workspace_input", "create_workspace"]

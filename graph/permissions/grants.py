"""THE grant rule: who may give a teammate which role and permissions (issue 17, part 5).

The role and per-user permissions of ``domain.md`` (terms; section 1, "may view blocked
contacts"; section 5, call access; section 6, editing contacts) are given by ``createUser``
and ``updateUser``, which both call :func:`check_grants` before changing anything:

- nobody changes their own role, contact visibility or permissions (an administrator would
  otherwise widen their own access; another administrator does it);
- owners may grant everything: they may appoint owners, who hold every permission;
- everyone else (managers; agents administer nothing) grants nothing they do not hold: no role
  above their own (owners only appoint owners), no visibility wider than their own, no
  permission they lack (``canViewBlockedContacts``, ``hasCallAccess``, ``canEditContacts``).
  Withdrawing is not granting, and a value the teammate has already is no grant.

Team changes grant nothing beyond this: team membership widens only a ``TEAM`` agent's
visibility, to contacts that owners and managers (who administer teams) see anyway.
Refusals are ``FORBIDDEN`` naming the input field (``extensions.field``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from db.models import ContactVisibility, Role
from graph.errors import Forbidden

if TYPE_CHECKING:
    from db.models import User
    from graph.permissions.visibility import Viewer

ROLE_RANK = {Role.AGENT: 0, Role.MANAGER: 1, Role.OWNER: 2}
VISIBILITY_RANK = {ContactVisibility.SELF: 0, ContactVisibility.TEAM: 1, ContactVisibility.ALL: 2}
PERMISSIONS = ("can_view_blocked_contacts", "has_call_access", "can_edit_contacts")
"""The per-user permission flags."""
FIELDS = {
    "role": "role",
    "contact_visibility": "contactVisibility",
    "can_view_blocked_contacts": "canViewBlockedContacts",
    "has_call_access": "hasCallAccess",
    "can_edit_contacts": "canEditContacts",
}
"""Each grantable attribute and the input field that sets it."""


class Grants(Protocol):
    """The grantable fields of a ``createUser`` or ``updateUser`` input (``None``: unchanged),
    e.g. :class:`graph.resolvers.user.NewUser` and :class:`graph.resolvers.user.UserChanges`."""

    @property
    def role(self) -> Role | None: ...

    @property
    def contact_visibility(self) -> ContactVisibility | None: ...

    @property
    def can_view_blocked_contacts(self) -> bool | None: ...

    @property
    def has_call_access(self) -> bool | None: ...

    @property
    def can_edit_contacts(self) -> bool | None: ...


def _holds(viewer: Viewer, permission: str) -> bool:
    if permission == "can_edit_contacts":
        return viewer.may_edit_contacts
    return bool(getattr(viewer, permission))


def check_grants(viewer: Viewer, target: User | None, changes: Grants) -> None:
    """Refuse ``changes`` (``None`` for unchanged) that ``viewer`` may not make to ``target``
    (``None``: a user being created, who holds nothing yet).

    Raises:
        Forbidden: naming the first field refused (``extensions.field``): the viewer's own
            role, visibility or permission changed; or, for viewers other than owners, a role
            above theirs, a visibility wider than theirs, a permission they lack.
    """
    requested = {key: getattr(changes, key) for key in FIELDS}
    given = {key: value for key, value in requested.items() if value is not None}
    if target is not None:
        given = {key: value for key, value in given.items() if getattr(target, key) != value}
    if target is not None and target.id == viewer.user_id:
        for key in given:
            raise Forbidden(
                "Nobody changes their own role, visibility or permissions: ask another "
                "administrator.",
                field=FIELDS[key],
            )
    if viewer.role is Role.OWNER:
        return
    role = given.get("role")
    if role is not None and ROLE_RANK[Role(role)] > ROLE_RANK[viewer.role]:
        raise Forbidden(f"You cannot grant the {Role(role).value} role.", field="role")
    visibility = given.get("contact_visibility")
    if visibility is not None and (
        VISIBILITY_RANK[ContactVisibility(visibility)]
        > VISIBILITY_RANK[viewer.effective_visibility]
    ):
        raise Forbidden(
            "You cannot grant a contact visibility wider than your own.", field="contactVisibility"
        )
    for permission in PERMISSIONS:
        if given.get(permission) is True and not _holds(viewer, permission):
            raise Forbidden(
                f"You cannot grant `{FIELDS[permission]}`: you do not hold it.",
                field=FIELDS[permission],
            )


__all__ = ["FIELDS", "PERMISSIONS", "ROLE_RANK", "VISIBILITY_RANK", "Grants", "check_grants"]

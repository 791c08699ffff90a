"""Field-level rules: fields whose value or presence differs by viewer.

- Phone numbers are masked when the workspace masks numbers, except for owners
  (``domain.md`` section 5, call entries; the same rule for ``Contact.phone``).
- Administration fields of a user (role, visibility, permissions) are shown to that user and
  to owners and managers only.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar

import phonenumbers
from strawberry.permission import BasePermission

from db.models import Role
from graph.errors import ErrorCode
from graph.fanout import depends_on_identity
from graph.loaders import then

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from strawberry.types import Info

    from graph.permissions.visibility import Viewer

MASK = "\u2022"  # •


def sees_unmasked_numbers(viewer: Viewer, workspace_masks_numbers: bool) -> bool:
    """Whether ``viewer`` reads phone numbers in full."""
    return not workspace_masks_numbers or viewer.role is Role.OWNER


MASKED_KEPT = 4096
"""Masked numbers :func:`mask_phone` keeps per process (the least recently used dropped
first): parsing a number was 7 % of a contact panel's CPU (three numbers a panel)."""


@functools.lru_cache(maxsize=MASKED_KEPT)
def mask_phone(e164: str | None) -> str | None:
    """Mask an E.164 number, keeping its country code, two digits and the last three.

    Example: ``+447911123456`` becomes ``+44 79•• •••456``.
    """
    if not e164:
        return e164
    try:
        number = phonenumbers.parse(e164, None)
        country = f"+{number.country_code}"
        national = phonenumbers.national_significant_number(number)
    except phonenumbers.NumberParseException:
        country, national = "", e164.lstrip("+")
    if len(national) <= 5:
        return f"{country} {MASK * len(national)}".strip()
    hidden = len(national) - 5
    head, tail = national[:2], national[-3:]
    middle = MASK * hidden
    # group as "79•• •••456": split the hidden run after two characters, like a rendered number
    first, rest = middle[:2], middle[2:]
    return f"{country} {head}{first} {rest}{tail}".replace("  ", " ").strip()


def number_as_seen(info: Info, e164: str | None) -> str | None | Awaitable[str | None]:
    """A phone number as the viewer of ``info`` may read it: in full, or masked
    (:func:`mask_phone`) when the workspace masks numbers and the viewer is not an owner
    (``domain.md``, contact panel). Every field showing a number (``Contact.phone``, channel
    handles, a call's numbers) returns this; it is a value once the request has read the
    workspace, else an awaitable (:func:`graph.loaders.then`)."""
    viewer = info.context.viewer
    return then(
        info.context.loaders.workspace_future(),
        lambda workspace: (
            e164
            if sees_unmasked_numbers(viewer, workspace.phone_number_masking)
            else mask_phone(e164)
        ),
    )


class IsSelfOrAdmin(BasePermission):
    """Administration fields of a user: the user themself, owners and managers."""

    message = "Only the user and workspace administrators may read this field."
    error_extensions: ClassVar[dict[str, Any]] = {"code": ErrorCode.FORBIDDEN}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.is_admin:
            return True
        depends_on_identity()
        row = getattr(source, "row", None)
        return getattr(row, "id", None) == viewer.user_id


__all__ = ["IsSelfOrAdmin", "mask_phone", "number_as_seen", "sees_unmasked_numbers"]

"""THE visibility policy: who may see which contact, and what each inbox holds.

Implements ``domain.md`` section 1 (who can see which contact) and section 2 (which standard
and team inboxes a user sees, and what they contain). Every list, count, ``node(id)`` lookup,
mutation target and subscription event goes through :func:`contact_scope`, combined with
:func:`standard_inbox_scope` (and its siblings) for inbox lists and with
:func:`incoming_call_scope` for the incoming calls of ``domain.md`` section 5: a rule lives
here and nowhere else.

The same module decides the other "who may see what" rules:

- call access (section 5): :func:`may_handle_calls`, :func:`require_call_access` and
  :func:`call_scope` (the contacts whose calls a viewer sees);
- custom inboxes (section 2): :func:`custom_inbox_access` (created by the viewer or shared
  with them) and :func:`may_edit_custom_inbox` (the creator only);
- access tokens (section 8): :func:`access_token_access` (owners: every token of the
  workspace; everyone else: their own).

A :class:`Scope` is a pure value: ``allows(assignee_id, blocked)`` decides one contact from its
facts (used for subscription events, without a query), and ``q()`` turns the same value into
a tortoise filter (used by every query). Both read the same two fields, so they cannot
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from tortoise.expressions import Q, Subquery

from db.models import (
    AccessTokenScope,
    ContactVisibility,
    CustomInboxShare,
    CustomInboxSharing,
    Role,
)
from graph.errors import Forbidden

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from db.models import CustomInbox


class StandardInboxKind(str, Enum):
    ALL = "ALL"
    MINE = "MINE"
    UNASSIGNED = "UNASSIGNED"


class IncomingCallTab(str, Enum):
    """The tabs of the incoming-calls list (``domain.md`` section 5)."""

    ALL = "ALL"
    ASSIGNED_TO_ME = "ASSIGNED_TO_ME"
    UNASSIGNED = "UNASSIGNED"


@dataclass(frozen=True)
class Viewer:
    """The authenticated user, with everything the policy needs (cached per connection).

    ``team_members`` maps every team of the workspace to its member ids; ``team_ids`` are the
    teams the viewer belongs to. ``scopes`` are the scopes of the request's token with those
    they include (:func:`graph.permissions.scopes.granted`), ``None`` for a viewer built
    without a token (evaluating a user's own visibility, e.g. for the indicators);
    ``is_session`` whether that token came from ``login``.
    """

    user_id: int
    workspace_id: int
    role: Role
    contact_visibility: ContactVisibility
    can_view_blocked_contacts: bool
    has_call_access: bool
    team_ids: frozenset[int]
    team_members: Mapping[int, frozenset[int]]
    token_id: int | None = None
    token_expires_at: datetime | None = None
    can_edit_contacts: bool = True
    scopes: frozenset[AccessTokenScope] | None = None
    is_session: bool = True
    sequence: int | None = None
    """A sequence of the workspace's events this viewer reflects every event up to (read just
    before it, :func:`graph.auth.reload_viewer`, or the event that made a subscription reload
    it): a subscription starting with it delivers the events after it; ``None`` when not
    known."""

    def has_scope(self, scope: AccessTokenScope) -> bool:
        """Whether the request's token holds ``scope`` (always, without a token)."""
        return self.scopes is None or scope in self.scopes

    @property
    def granted_scopes(self) -> frozenset[AccessTokenScope]:
        """The scopes the viewer acts with: its token's, or every scope without a token."""
        return frozenset(AccessTokenScope) if self.scopes is None else self.scopes

    @property
    def may_edit_contacts(self) -> bool:
        """Whether the viewer may edit and merge contacts (``domain.md`` section 6): owners and
        managers always, agents with the per-user permission."""
        return self.is_admin or self.can_edit_contacts

    @property
    def is_admin(self) -> bool:
        """Owners and managers administer users and teams."""
        return self.role in (Role.OWNER, Role.MANAGER)

    @property
    def effective_visibility(self) -> ContactVisibility:
        """Owners and managers are always ``ALL`` (``domain.md``, terms)."""
        if self.role is not Role.AGENT:
            return ContactVisibility.ALL
        return self.contact_visibility

    @property
    def is_restricted(self) -> bool:
        return self.effective_visibility is not ContactVisibility.ALL

    @property
    def teammate_ids(self) -> frozenset[int]:
        """The viewer and every member of a team the viewer belongs to."""
        ids = {self.user_id}
        for team_id in self.team_ids:
            ids |= self.team_members.get(team_id, frozenset())
        return frozenset(ids)


ANY: None = None
"""``Scope.assignees`` value meaning every assignee, unassigned contacts included."""


@dataclass(frozen=True)
class Scope:
    """A set of contacts described by their facts.

    Attributes:
        assignees: allowed assignee ids (``None`` inside the set means "unassigned"); ``ANY``
            (``None``) allows every contact whatever its assignee.
        blocked: ``None`` allows blocked and unblocked contacts, ``False`` only unblocked,
            ``True`` only blocked ones.
        empty: nothing at all.
    """

    assignees: frozenset[int | None] | None = ANY
    blocked: bool | None = None
    empty: bool = False

    def __and__(self, other: Scope) -> Scope:
        if self.empty or other.empty:
            return NOTHING
        if self.assignees is None:
            assignees = other.assignees
        elif other.assignees is None:
            assignees = self.assignees
        else:
            assignees = self.assignees & other.assignees
        if self.blocked is None or other.blocked is None or self.blocked == other.blocked:
            blocked = self.blocked if self.blocked is not None else other.blocked
        else:
            return NOTHING
        if assignees is not None and not assignees:
            return NOTHING
        return Scope(assignees=assignees, blocked=blocked)

    def allows(self, assignee_id: int | None, blocked: bool) -> bool:
        """Whether a contact with these facts is in the scope (pure; no query)."""
        if self.empty:
            return False
        if self.blocked is not None and blocked != self.blocked:
            return False
        return self.assignees is None or assignee_id in self.assignees

    def q(self, prefix: str = "") -> Q:
        """The scope as a tortoise filter on a contact, reached through ``prefix``.

        Args:
            prefix: the relation path to the contact, e.g. ``"contact__"`` from a conversation,
                ``""`` on the contact itself.
        """
        if self.empty:
            return Q(**{f"{prefix}id": -1})
        conditions = Q()
        if self.blocked is not None:
            conditions &= Q(**{f"{prefix}blocked": self.blocked})
        if self.assignees is not None:
            ids = sorted(a for a in self.assignees if a is not None)
            parts = []
            if ids:
                parts.append(Q(**{f"{prefix}assignee_id__in": ids}))
            if None in self.assignees:
                parts.append(Q(**{f"{prefix}assignee_id__isnull": True}))
            conditions &= Q(*parts, join_type="OR") if len(parts) > 1 else parts[0]
        return conditions


EVERYTHING = Scope()
NOTHING = Scope(assignees=frozenset(), empty=True)


def contact_scope(viewer: Viewer) -> Scope:
    """The contacts ``viewer`` may see at all (``domain.md`` section 1).

    - owners, managers and unrestricted agents: every contact;
    - ``TEAM`` agents: contacts assigned to themselves or to a member of one of their teams
      (never unassigned ones);
    - ``SELF`` agents: contacts assigned to themselves;
    - blocked contacts only for users with "may view blocked contacts";
    - none through a token without the ``READ`` scope (an ``INGEST`` token ingests contacts,
      its responses carry their ids only: section 1, "what a mutation returns").
    """
    if not viewer.has_scope(AccessTokenScope.READ):
        return NOTHING
    blocked = None if viewer.can_view_blocked_contacts else False
    visibility = viewer.effective_visibility
    if visibility is ContactVisibility.ALL:
        return Scope(assignees=ANY, blocked=blocked)
    if visibility is ContactVisibility.TEAM:
        return Scope(assignees=frozenset(viewer.teammate_ids), blocked=blocked)
    return Scope(assignees=frozenset({viewer.user_id}), blocked=blocked)


def visible_standard_inboxes(viewer: Viewer) -> list[StandardInboxKind]:
    """Standard inboxes listed for ``viewer``: restricted agents see ``MINE`` only."""
    if viewer.is_restricted:
        return [StandardInboxKind.MINE]
    return [StandardInboxKind.ALL, StandardInboxKind.MINE, StandardInboxKind.UNASSIGNED]


def visible_team_ids(viewer: Viewer) -> list[int]:
    """Team inboxes listed for ``viewer`` (``domain.md`` section 2): owners and managers see
    every team; ``TEAM`` and unrestricted agents their own teams; ``SELF`` agents none."""
    if viewer.is_admin:
        return sorted(viewer.team_members)
    if viewer.effective_visibility is ContactVisibility.SELF:
        return []
    return sorted(t for t in viewer.team_ids if t in viewer.team_members)


def standard_inbox_scope(viewer: Viewer, kind: StandardInboxKind) -> Scope:
    """What a standard inbox holds for ``viewer``, within their visibility.

    Blocked contacts appear in no standard inbox (``domain.md`` section 2).
    """
    if kind is StandardInboxKind.MINE:
        inbox = Scope(assignees=frozenset({viewer.user_id}), blocked=False)
    elif kind is StandardInboxKind.UNASSIGNED:
        inbox = Scope(assignees=frozenset({None}), blocked=False)
    else:
        inbox = Scope(assignees=ANY, blocked=False)
    return contact_scope(viewer) & inbox


def team_inbox_scope(viewer: Viewer, team_id: int) -> Scope:
    """What a team inbox holds: contacts assigned to a member of the team, not blocked."""
    members = viewer.team_members.get(team_id, frozenset())
    return contact_scope(viewer) & Scope(assignees=frozenset(members), blocked=False)


def blocked_inbox_scope(viewer: Viewer) -> Scope:
    """The blocked-contacts inbox: blocked contacts, for users who may view them."""
    return contact_scope(viewer) & Scope(assignees=ANY, blocked=True)


def may_see_standard_inbox(viewer: Viewer, kind: StandardInboxKind) -> bool:
    return kind in visible_standard_inboxes(viewer)


def may_see_team_inbox(viewer: Viewer, team_id: int) -> bool:
    return team_id in visible_team_ids(viewer)


_TAB_CONTENTS = {
    IncomingCallTab.ALL: StandardInboxKind.ALL,
    IncomingCallTab.ASSIGNED_TO_ME: StandardInboxKind.MINE,
    IncomingCallTab.UNASSIGNED: StandardInboxKind.UNASSIGNED,
}


def may_handle_calls(viewer: Viewer) -> bool:
    """Whether ``viewer`` sees and handles calls at all (``domain.md`` section 5): only users
    with call access do."""
    return viewer.has_call_access


def require_call_access(viewer: Viewer) -> None:
    """Refuse a call operation (answer, list, subscribe ...) to a viewer without call access.

    Raises:
        Forbidden: ``viewer`` has no call access (``domain.md`` section 5).
    """
    if not may_handle_calls(viewer):
        raise Forbidden("Call access is required.")


def call_scope(viewer: Viewer) -> Scope:
    """The contacts whose calls ``viewer`` sees: every contact they may see
    (:func:`contact_scope`) with call access, none without (``domain.md`` sections 1 and 5).
    A call hidden this way does not exist for the viewer (``node(id)`` is ``null``, a
    contact's ``calls`` are empty)."""
    if not may_handle_calls(viewer):
        return NOTHING
    return contact_scope(viewer)


def visible_incoming_call_tabs(viewer: Viewer) -> list[IncomingCallTab]:
    """The incoming-call tabs ``viewer`` may open (``domain.md`` section 5).

    Only users with call access have any. Unrestricted users have all three; ``TEAM`` agents
    ``ALL`` (their own and their teams' contacts) and ``ASSIGNED_TO_ME`` (they never see
    unassigned contacts); ``SELF`` agents ``ASSIGNED_TO_ME`` only.
    """
    if not may_handle_calls(viewer):
        return []
    visibility = viewer.effective_visibility
    if visibility is ContactVisibility.SELF:
        return [IncomingCallTab.ASSIGNED_TO_ME]
    if visibility is ContactVisibility.TEAM:
        return [IncomingCallTab.ALL, IncomingCallTab.ASSIGNED_TO_ME]
    return [IncomingCallTab.ALL, IncomingCallTab.ASSIGNED_TO_ME, IncomingCallTab.UNASSIGNED]


def may_see_incoming_call_tab(viewer: Viewer, tab: IncomingCallTab) -> bool:
    return tab in visible_incoming_call_tabs(viewer)


def incoming_call_scope(viewer: Viewer, tab: IncomingCallTab) -> Scope:
    """Whose ringing calls a tab lists for ``viewer``: the contacts of the standard inbox of
    the same content (``ALL``, ``MINE``, ``UNASSIGNED``) within the viewer's visibility.

    So ``TEAM`` agents see their own and their teams' callers, ``SELF`` agents their own, and
    blocked contacts ring in no tab (like blocked contacts appear in no inbox but the blocked
    one, ``domain.md`` section 2). A tab the viewer may not open holds nothing.
    """
    if not may_see_incoming_call_tab(viewer, tab):
        return NOTHING
    return standard_inbox_scope(viewer, _TAB_CONTENTS[tab])


def incoming_call_subscription_scope(viewer: Viewer) -> Scope:
    """Whose new ringing calls are pushed to ``viewer`` (``incomingCall``): those of the widest
    tab they may open (``ALL``, or ``ASSIGNED_TO_ME`` for ``SELF`` agents); nothing without
    call access."""
    tabs = visible_incoming_call_tabs(viewer)
    return incoming_call_scope(viewer, tabs[0]) if tabs else NOTHING


def custom_inbox_access(viewer: Viewer) -> Q:
    """The custom inboxes ``viewer`` may open, as a tortoise filter on ``CustomInbox``
    (``domain.md`` section 2): those of the viewer's workspace that the viewer created, that
    are shared with ``EVERYONE``, or shared (``CHOSEN``) with the viewer or one of the
    viewer's teams. Any other custom inbox does not exist for the viewer (``NOT_FOUND``,
    ``node(id)`` is ``null``)."""
    shares = CustomInboxShare.filter(
        Q(user_id=viewer.user_id) | Q(team_id__in=sorted(viewer.team_ids) or [-1])
    )
    return Q(workspace_id=viewer.workspace_id) & (
        Q(creator_id=viewer.user_id)
        | Q(sharing=CustomInboxSharing.EVERYONE)
        | Q(
            sharing=CustomInboxSharing.CHOSEN,
            id__in=Subquery(shares.values("custom_inbox_id")),
        )
    )


def may_edit_custom_inbox(viewer: Viewer, custom_inbox: CustomInbox) -> bool:
    """Whether ``viewer`` may edit, re-share or delete ``custom_inbox``: its creator only
    (``domain.md`` section 2)."""
    return custom_inbox.creator_id == viewer.user_id


def access_token_access(viewer: Viewer) -> Q:
    """The access tokens ``viewer`` may see and revoke, as a tortoise filter on
    ``AccessToken`` (``domain.md`` section 8): every token of the workspace for owners, their
    own for everyone else. Others' tokens do not exist for them (``NOT_FOUND``)."""
    if viewer.role is Role.OWNER:
        return Q(workspace_id=viewer.workspace_id)
    return Q(workspace_id=viewer.workspace_id, user_id=viewer.user_id)


def webhook_endpoint_access(viewer: Viewer) -> Q | None:
    """The webhook endpoints ``viewer`` may see and manage, as a tortoise filter on
    ``WebhookEndpoint`` (issue 20; ``domain.md`` section 8): every endpoint of the workspace
    for owners acting with the ``ADMIN`` scope (sessions hold it); ``None`` for everyone else,
    who may not manage webhooks at all (``FORBIDDEN``; ``node(id)`` is ``null``). An endpoint of
    another workspace does not exist for anyone (``NOT_FOUND``)."""
    if viewer.role is Role.OWNER and viewer.has_scope(AccessTokenScope.ADMIN):
        return Q(workspace_id=viewer.workspace_id)
    return None


def team_ids_of(members: Mapping[int, Iterable[int]], user_id: int) -> frozenset[int]:
    """The teams ``user_id`` belongs to, from a team → members mapping."""
    return frozenset(t for t, ids in members.items() if user_id in ids)


__all__ = [
    "ANY",
    "EVERYTHING",
    "NOTHING",
    "IncomingCallTab",
    "Scope",
    "StandardInboxKind",
    "Viewer",
    "access_token_access",
    "blocked_inbox_scope",
    "call_scope",
    "contact_scope",
    "custom_inbox_access",
    "incoming_call_scope",
    "incoming_call_subscription_scope",
    "may_edit_custom_inbox",
    "may_handle_calls",
    "may_see_incoming_call_tab",
    "may_see_standard_inbox",
    "may_see_team_inbox",
    "require_call_access",
    "standard_inbox_scope",
    "team_ids_of",
    "team_inbox_scope",
    "visible_incoming_call_tabs",
    "visible_standard_inboxes",
    "visible_team_ids",
    "webhook_endpoint_access",
]

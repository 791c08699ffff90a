"""THE scope rule: what an access token may call, per root field (``domain.md`` section 8).

A request acts as its token's user, with the user's current role and permissions, narrowed to
the token's scopes. Every root field (query, mutation, subscription) declares here the scopes
that let a token call it, in :data:`ROOT_FIELD_SCOPES`; :func:`require_scopes` wraps the
field's resolver (a subscription's ``subscribe``) in the check when the schema is built, and
refuses to build a schema with a root field missing from the table. A token without one of the
declared scopes is refused with ``FORBIDDEN`` naming the scope it lacks
(``extensions.requiredScopes``), before the resolver runs.

The scopes (:class:`db.models.AccessTokenScope`), as Shopify's ``write_*`` scopes include
their ``read_*``:

- ``INGEST``: channel ingestion only (``receiveMessage``, ``reportMessageStatus``,
  ``receiveCall``, ``reportCallEnded``, and the ``channels`` a connector posts to);
- ``READ``: every query and subscription;
- ``READ_WRITE``: ``READ`` and the inbox's mutations (replies, assignment, comments, calls,
  contacts, custom inboxes);
- ``ADMIN``: everything its user may do: the other three, workspace administration (users,
  teams, channels, settings, CRMs, webhook endpoints and their list), erasing contacts
  (``eraseContact``) and access tokens (``createAccessToken``,
  ``revokeAccessToken``). Sessions from ``login`` hold ``ADMIN``.

``me`` and ``logout`` take any valid token; ``changePassword`` only a session (an integration
token never changes its user's credentials); ``login`` needs none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType

from db.models import AccessTokenScope
from graph.errors import Forbidden

if TYPE_CHECKING:
    import strawberry

    from graph.permissions.visibility import Viewer

INGEST = AccessTokenScope.INGEST
READ = AccessTokenScope.READ
READ_WRITE = AccessTokenScope.READ_WRITE
ADMIN = AccessTokenScope.ADMIN

IMPLIED: dict[AccessTokenScope, frozenset[AccessTokenScope]] = {
    INGEST: frozenset({INGEST}),
    READ: frozenset({READ}),
    READ_WRITE: frozenset({READ_WRITE, READ}),
    ADMIN: frozenset(AccessTokenScope),
}
"""Each scope and the scopes it includes."""

DEFAULT_SCOPES: frozenset[AccessTokenScope] = frozenset({INGEST, READ_WRITE})
"""The scopes of a token created without ``scopes``: what integration tokens were used for
before scopes existed (ingestion, reading, replying), without administration or minting."""

PUBLIC = "PUBLIC"
"""A root field anyone may call, without a token (``login``)."""
ANY_TOKEN = "ANY_TOKEN"
"""A root field every valid token may call, whatever its scopes."""
SESSION = "SESSION"
"""A root field only a session (a token from ``login``) may call."""

Requirement = frozenset[AccessTokenScope] | str

_R: frozenset[AccessTokenScope] = frozenset({READ})
_RW: frozenset[AccessTokenScope] = frozenset({READ_WRITE})
_A: frozenset[AccessTokenScope] = frozenset({ADMIN})
_I: frozenset[AccessTokenScope] = frozenset({INGEST})

ROOT_FIELD_SCOPES: dict[str, Requirement] = {
    # queries: reading needs READ; connectors find their channels with INGEST too
    "Query.node": _R,
    "Query.me": ANY_TOKEN,
    "Query.workspace": _R,
    "Query.users": _R,
    "Query.teams": _R,
    "Query.channels": frozenset({READ, INGEST}),
    "Query.crmIntegrations": _R,
    "Query.inboxSidebar": _R,
    "Query.conversations": _R,
    "Query.customInboxes": _R,
    "Query.incomingCalls": _R,
    "Query.activeCall": _R,
    "Query.calls": _R,
    "Query.contact": _R,
    "Query.contacts": _R,
    "Query.searchContacts": _R,
    "Query.searchMessages": _R,
    "Query.accessTokens": _R,
    "Query.webhookEndpoints": _A,
    "Query.webhookDeliveries": _A,
    # sessions
    "Mutation.login": PUBLIC,
    "Mutation.logout": ANY_TOKEN,
    "Mutation.changePassword": SESSION,
    # administration and tokens
    "Mutation.createUser": _A,
    "Mutation.updateUser": _A,
    "Mutation.createTeam": _A,
    "Mutation.updateTeam": _A,
    "Mutation.connectChannel": _A,
    "Mutation.updateWorkspaceSettings": _A,
    "Mutation.createAccessToken": _A,
    "Mutation.revokeAccessToken": _A,
    "Mutation.connectCrm": _A,
    "Mutation.disconnectCrm": _A,
    "Mutation.createWebhookEndpoint": _A,
    "Mutation.updateWebhookEndpoint": _A,
    "Mutation.rotateWebhookEndpointSecret": _A,
    "Mutation.deleteWebhookEndpoint": _A,
    "Mutation.redeliverWebhookEvent": _A,
    "Mutation.replayWebhookEndpoint": _A,
    "Mutation.sendTestWebhook": _A,
    # channel ingestion
    "Mutation.receiveMessage": _I,
    "Mutation.reportMessageStatus": _I,
    "Mutation.receiveCall": _I,
    "Mutation.reportCallEnded": _I,
    "Mutation.reportCallAnswered": _I,
    "Mutation.reportCallDeclined": _I,
    "Mutation.reportCallRecording": _I,
    # the inbox's work
    "Mutation.sendMessage": _RW,
    "Mutation.assignContact": _RW,
    "Mutation.markInboxSeen": _RW,
    "Mutation.createCustomInbox": _RW,
    "Mutation.updateCustomInbox": _RW,
    "Mutation.deleteCustomInbox": _RW,
    "Mutation.updateContact": _RW,
    "Mutation.mergeContacts": _RW,
    "Mutation.addComment": _RW,
    "Mutation.blockContact": _RW,
    "Mutation.unblockContact": _RW,
    "Mutation.openConversation": _RW,
    "Mutation.closeConversation": _RW,
    "Mutation.answerCall": _RW,
    "Mutation.declineCall": _RW,
    "Mutation.endCall": _RW,
    "Mutation.startCallRecording": _RW,
    "Mutation.placeCall": _RW,
    "Mutation.updateCrmRecord": _RW,
    "Mutation.createContact": _RW,
    "Mutation.upsertContact": _RW,
    # the right to erasure: owners, acting with ADMIN
    "Mutation.eraseContact": _A,
    # live events
    "Subscription.newMessage": _R,
    "Subscription.messageStatusChanged": _R,
    "Subscription.incomingCall": _R,
    "Subscription.callUpdated": _R,
    "Subscription.mentioned": _R,
    "Subscription.inboxSidebarChanged": _R,
    "Subscription.conversationUpdated": _R,
}
"""Per root field (``Type.fieldName``): the scopes any one of which lets a token call it, or
:data:`PUBLIC`, :data:`ANY_TOKEN`, :data:`SESSION`."""


def granted(scopes: Iterable[AccessTokenScope]) -> frozenset[AccessTokenScope]:
    """``scopes`` with the scopes they include (:data:`IMPLIED`)."""
    result: set[AccessTokenScope] = set()
    for scope in scopes:
        result |= IMPLIED[scope]
    return frozenset(result)


def parse_scopes(text: str | None) -> frozenset[AccessTokenScope]:
    """The scopes stored in ``AccessToken.scopes`` (names separated by spaces); unknown names
    are ignored (a token never gains a scope from a typo)."""
    names = (text or "").split()
    return frozenset(AccessTokenScope(n) for n in names if n in AccessTokenScope.__members__)


def format_scopes(scopes: Iterable[AccessTokenScope]) -> str:
    """``scopes`` as stored: their names, sorted, separated by spaces."""
    return " ".join(sorted(AccessTokenScope(s).value for s in scopes))


def _names(scopes: Iterable[AccessTokenScope]) -> list[str]:
    return sorted(s.value for s in scopes)


def refusal(viewer: Viewer, field: str, requirement: Requirement) -> Forbidden | None:
    """Why ``viewer``'s token may not call the root field ``field`` (``Type.field``), or
    ``None`` when it may."""
    if requirement in (PUBLIC, ANY_TOKEN) or viewer.scopes is None:
        return None
    name = field.partition(".")[2]
    if requirement == SESSION:
        if viewer.is_session:
            return None
        return Forbidden(
            f"`{name}` needs a session token (from `login`): access tokens may not call it.",
            requiredScopes=[],
        )
    assert isinstance(requirement, frozenset)
    if requirement & viewer.scopes:
        return None
    needed = " or ".join(_names(requirement))
    held = ", ".join(_names(viewer.granted_scopes)) or "none"
    return Forbidden(
        f"This access token lacks the {needed} scope that `{name}` needs (its scopes: {held}).",
        requiredScopes=_names(requirement),
    )


def _guarded(resolve: Any, field: str, requirement: Requirement) -> Any:
    def resolve_in_scope(source: Any, info: Any, **kwargs: Any) -> Any:
        viewer = info.context.current_viewer
        if viewer is not None:  # without one, the resolver answers UNAUTHENTICATED
            refused = refusal(viewer, field, requirement)
            if refused is not None:
                raise refused
        return resolve(source, info, **kwargs)

    return resolve_in_scope


def require_scopes(schema: strawberry.Schema) -> None:
    """Check the scopes of :data:`ROOT_FIELD_SCOPES` before every root field of ``schema``,
    in place (a query's or mutation's resolver, a subscription's ``subscribe``).

    Raises:
        LookupError: a root field without an entry in the table, or an entry without a field
            (every root field declares its scopes; the schema is not built otherwise).
    """
    core = schema._schema
    seen: set[str] = set()
    for root in (core.query_type, core.mutation_type, core.subscription_type):
        if not isinstance(root, GraphQLObjectType):
            continue
        for name, field in root.fields.items():
            key = f"{root.name}.{name}"
            if key not in ROOT_FIELD_SCOPES:
                raise LookupError(f"{key} declares no scopes: add it to ROOT_FIELD_SCOPES")
            seen.add(key)
            requirement = ROOT_FIELD_SCOPES[key]
            if requirement == PUBLIC:
                continue
            if root is core.subscription_type:
                field.subscribe = _guarded(field.subscribe, key, requirement)
            else:
                field.resolve = _guarded(field.resolve, key, requirement)
    unknown = set(ROOT_FIELD_SCOPES) - seen
    if unknown:
        raise LookupError(f"ROOT_FIELD_SCOPES names fields the schema lacks: {sorted(unknown)}")


__all__ = [
    "ADMIN",
    "ANY_TOKEN",
    "DEFAULT_SCOPES",
    "IMPLIED",
    "INGEST",
    "PUBLIC",
    "READ",
    "READ_WRITE",
    "ROOT_FIELD_SCOPES",
    "SESSION",
    "format_scopes",
    "granted",
    "parse_scopes",
    "refusal",
    "require_scopes",
]

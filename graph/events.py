"""The event catalogue: every type of event a write commits to the outbox
(``architecture.md``, live path; ``domain.md`` section 7), and what each one does to the
live path.

An event is ``{workspace, sequence, type, payload}`` (:class:`graph.live.LiveEvent`); its
``type`` is stored in the outbox (``event.type``) and sent on the broadcast channel as the
:class:`EventType` member's value, e.g. ``"call.updated"``. Each member also states:

- ``list_reason``: the events that may move a conversation into, out of or within a live
  conversation list (``domain.md`` section 4; ``conversationUpdated``), with the
  ``ConversationChangeReason`` they are reported under; ``None`` for the others;
- ``reloads_viewer``: the events after which a subscription reloads its viewer (role,
  visibility, teams, token) before delivering anything else, and closes when the user was
  deactivated or the token revoked (:mod:`graph.subscriptions`).

Events about a contact carry its facts (``contact_id``, ``assignee_id``, ``blocked``:
:func:`graph.resolvers.contact.contact_facts`) so that each subscriber authorises them without
a query. Adding an event type: add a member here, emit it with
:meth:`graph.live.Transaction.emit` (which refuses a type outside this catalogue).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class EventType(StrEnum):
    """The type of an outbox event; the value is what the outbox stores.

    ``EventType("call.updated")`` reads a stored type back (``ValueError`` for an unknown one);
    members compare and hash equal to their values.
    """

    # conversations and messages (``domain.md`` section 4)
    MESSAGE_CREATED = "message.created", "NEW_MESSAGE"
    """A message was received or sent (``conversation_id``, ``message_id``)."""
    MESSAGE_STATUS_CHANGED = "message.status_changed"
    """A connector's report changed an outbound message's delivery status or its times
    (``message_id``, ``delivery_status``, ``previous_delivery_status``:
    :mod:`graph.resolvers.delivery`)."""
    CONVERSATION_OPENED = "conversation.opened", "OPENED"
    """A conversation was opened (or reopened)."""
    CONVERSATION_CLOSED = "conversation.closed", "CLOSED"
    """A conversation was closed."""
    # contacts (``domain.md`` sections 1 and 6)
    CONTACT_ASSIGNED = "contact.assigned", "ASSIGNED"
    """A contact's assignee changed, by hand or by automatic assignment."""
    CONTACT_BLOCKED = "contact.blocked", "BLOCKED"
    """A contact was blocked."""
    CONTACT_UNBLOCKED = "contact.unblocked", "UNBLOCKED"
    """A contact was unblocked."""
    CONTACT_UPDATED = "contact.updated", "CONTACT_UPDATED"
    """A contact's details were edited."""
    CONTACT_MERGED = "contact.merged", "MERGED"
    """A contact was merged into another (one per conversation whose list facts changed)."""
    CONTACT_CREATED = "contact.created"
    """A contact was created by ``createContact`` or ``upsertContact`` (``contact_id``)."""
    CONTACT_ERASED = "contact.erased", "ERASED"
    """A contact was erased (``eraseContact``): once for the contact (its one activity), then
    once per deleted conversation (``status`` null, ``previous_status``), which leaves every
    list. No event carries personal data."""
    CONTACT_CRM_UPDATED = "contact.crm_updated"
    """A CRM record linked to a contact was edited."""
    # the timeline (``domain.md`` section 6)
    ACTIVITY_CREATED = "activity.created"
    """An internal comment was added to a contact's timeline."""
    USER_MENTIONED = "user.mentioned"
    """A comment mentioned a user (``user_id``: the addressee)."""
    # calls (``domain.md`` section 5)
    CALL_RECEIVED = "call.received"
    """A new ringing inbound call (the call's facts: :func:`graph.resolvers.call_lifecycle.call_facts`)."""
    CALL_PLACED = "call.placed"
    """A new outbound call, ringing until the far end answers, declines, fails or the ring
    timeout passes (its caller is on the line meanwhile)."""
    CALL_UPDATED = "call.updated"
    """A call's status or recording changed (``previous_status``)."""
    # indicators and inboxes (``domain.md`` sections 2 and 3)
    INBOX_SEEN = "inbox.seen"
    """A user opened an inbox (``user_id``, ``inbox_key``): its dot clears for them."""
    CUSTOM_INBOX_CHANGED = "custom_inbox.changed"
    """A custom inbox was created, edited or deleted (``deleted``)."""
    # administration (``domain.md`` sections 1 and 8)
    USER_CHANGED = "user.changed", None, True
    """A user was created or changed (``user_id``)."""
    TEAM_CHANGED = "team.changed", None, True
    """A team was created or changed (``team_id``)."""
    ACCESS_TOKEN_REVOKED = "access_token.revoked", None, True
    """Tokens were revoked (``user_id``, ``token_ids``)."""
    CHANNEL_CONNECTED = "channel.connected"
    """A channel was connected (``channel_id``)."""
    WORKSPACE_CHANGED = "workspace.changed"
    """The workspace's settings changed."""

    list_reason: str | None
    reloads_viewer: bool

    def __new__(
        cls, value: str, list_reason: str | None = None, reloads_viewer: bool = False
    ) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.list_reason = list_reason
        member.reloads_viewer = reloads_viewer
        return member


LIST_EVENTS: dict[str, str] = {e.value: e.list_reason for e in EventType if e.list_reason}
"""Event type → the ``ConversationChangeReason`` of a live list change it causes."""
VIEWER_EVENTS: frozenset[str] = frozenset(e.value for e in EventType if e.reloads_viewer)
"""The event types after which a subscription reloads its viewer."""
WEBHOOK_DOMAINS = ("conversation", "message", "call", "contact", "activity")
"""The domains whose events partners may receive by webhook (issue 20): an event type's value
starts with its domain (``message.created``)."""
WEBHOOK_EVENTS: tuple[EventType, ...] = tuple(
    e for e in EventType if e.value.partition(".")[0] in WEBHOOK_DOMAINS
)
"""The webhook catalogue (``WebhookEventType`` in the schema), in the catalogue's order."""


__all__ = ["LIST_EVENTS", "VIEWER_EVENTS", "WEBHOOK_DOMAINS", "WEBHOOK_EVENTS", "EventType"]

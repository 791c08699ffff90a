"""Tortoise models of the inbox domain, one module per domain (see ``shared/design/domain.md``)."""

from db.models.activity import Activity, ActivityKind, ActivityMention
from db.models.call import CALL_ORDER, Call, CallDirection, CallStatus, RecordingState
from db.models.channel import Channel, ChannelType
from db.models.contact import ChannelIdentity, Contact, ContactKey, ContactKeyKind
from db.models.conversation import (
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    OpenConversationCount,
)
from db.models.crm import CrmConnection, CrmLink, CrmProvider
from db.models.event import Event
from db.models.idempotency import IdempotencyKey
from db.models.inbox import (
    CustomInbox,
    CustomInboxShare,
    CustomInboxSharing,
    InboxSeenState,
    UnseenMark,
)
from db.models.persisted import PersistedDocument
from db.models.webhook import WebhookDelivery, WebhookEndpoint
from db.models.workspace import (
    AccessToken,
    AccessTokenKind,
    AccessTokenScope,
    ClosingNotesMode,
    ContactVisibility,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)

__all__ = [
    "CALL_ORDER",
    "AccessToken",
    "AccessTokenKind",
    "AccessTokenScope",
    "Activity",
    "ActivityKind",
    "ActivityMention",
    "Call",
    "CallDirection",
    "CallStatus",
    "Channel",
    "ChannelIdentity",
    "ChannelType",
    "ClosingNotesMode",
    "Contact",
    "ContactKey",
    "ContactKeyKind",
    "ContactVisibility",
    "Conversation",
    "ConversationStatus",
    "CrmConnection",
    "CrmLink",
    "CrmProvider",
    "CustomInbox",
    "CustomInboxShare",
    "CustomInboxSharing",
    "DeliveryStatus",
    "Event",
    "IdempotencyKey",
    "InboxSeenState",
    "Message",
    "MessageDirection",
    "OpenConversationCount",
    "PersistedDocument",
    "RecordingState",
    "Role",
    "Team",
    "TeamMembership",
    "UnseenMark",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]

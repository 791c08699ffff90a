import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from db.models.activity import ActivityKind
from db.models.call import CallDirection, CallStatus, RecordingState
from db.models.channel import ChannelType
from db.models.conversation import ConversationStatus, DeliveryStatus, MessageDirection
from db.models.inbox import CustomInboxSharing
from db.models.workspace import AccessTokenKind, ClosingNotesMode, ContactVisibility, Role


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Workspace",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=120)),
                ("phone_number_masking", fields.BooleanField(default=False)),
                ("call_ring_timeout_seconds", fields.IntField(default=45)),
                (
                    "closing_notes_mode",
                    fields.CharEnumField(
                        default=ClosingNotesMode.OPTIONAL,
                        description="OFF: OFF\nOPTIONAL: OPTIONAL\nCATEGORY_REQUIRED: CATEGORY_REQUIRED\nCATEGORY_AND_SUMMARY_REQUIRED: CATEGORY_AND_SUMMARY_REQUIRED",
                        enum_type=ClosingNotesMode,
                        max_length=29,
                    ),
                ),
                ("event_sequence", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "workspace",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The tenant. ``event_sequence`` is the last sequence number given to an outbox event.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Channel",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="channels",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "type",
                    fields.CharEnumField(
                        description="WHATSAPP: WHATSAPP\nMESSENGER: MESSENGER\nINSTAGRAM: INSTAGRAM\nTELEGRAM: TELEGRAM\nEMAIL: EMAIL\nSMS: SMS\nWEBCHAT: WEBCHAT\nVIBER: VIBER\nLINE: LINE\nVOIP: VOIP",
                        enum_type=ChannelType,
                        max_length=9,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "channel", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Event",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sequence", fields.BigIntField()),
                ("type", fields.CharField(max_length=64)),
                (
                    "payload",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "event",
                "app": "models",
                "unique_together": (("workspace", "sequence"),),
                "indexes": [Index(fields=["created_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Team",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "team",
                "app": "models",
                "unique_together": (("workspace", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "email",
                    fields.CharField(
                        unique=True, description="lower-cased, used to log in", max_length=254
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("password_hash", fields.CharField(null=True, max_length=255)),
                (
                    "role",
                    fields.CharEnumField(
                        default=Role.AGENT,
                        description="OWNER: OWNER\nMANAGER: MANAGER\nAGENT: AGENT",
                        enum_type=Role,
                        max_length=7,
                    ),
                ),
                (
                    "contact_visibility",
                    fields.CharEnumField(
                        default=ContactVisibility.ALL,
                        description="ALL: ALL\nTEAM: TEAM\nSELF: SELF",
                        enum_type=ContactVisibility,
                        max_length=4,
                    ),
                ),
                ("can_view_blocked_contacts", fields.BooleanField(default=False)),
                ("has_call_access", fields.BooleanField(default=False)),
                ("is_active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "user",
                "app": "models",
                "indexes": [Index(fields=["workspace_id", "role"])],
                "pk_attr": "id",
                "table_description": "A teammate. Owners and managers always see every contact (``contact_visibility`` ALL).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AccessToken",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="access_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="access_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                (
                    "kind",
                    fields.CharEnumField(
                        default=AccessTokenKind.SESSION,
                        description="SESSION: SESSION\nINTEGRATION: INTEGRATION",
                        enum_type=AccessTokenKind,
                        max_length=11,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "access_token",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An opaque bearer token. Only its SHA-256 is stored. Acts with its user's permissions.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("first_name", fields.CharField(null=True, max_length=120)),
                ("last_name", fields.CharField(null=True, max_length=120)),
                ("phone", fields.CharField(null=True, max_length=20)),
                ("email", fields.CharField(null=True, max_length=254)),
                ("email_normalized", fields.CharField(null=True, max_length=254)),
                ("country_code", fields.CharField(null=True, max_length=2)),
                ("language", fields.CharField(null=True, max_length=35)),
                (
                    "assignee",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="assignee_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="assigned_contacts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("blocked", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "contact",
                "app": "models",
                "indexes": [
                    Index(fields=["workspace_id", "assignee_id"]),
                    Index(fields=["workspace_id", "phone"]),
                    Index(fields=["workspace_id", "email_normalized"]),
                    Index(fields=["workspace_id", "blocked"]),
                ],
                "pk_attr": "id",
                "table_description": "A customer. The assignee belongs to the contact, not to a conversation.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Call",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="calls",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="calls",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.ForeignKeyField(
                        "models.Channel",
                        source_field="channel_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="calls",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "direction",
                    fields.CharEnumField(
                        description="INBOUND: INBOUND\nOUTBOUND: OUTBOUND",
                        enum_type=CallDirection,
                        max_length=8,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=CallStatus.RINGING,
                        description="RINGING: RINGING\nONGOING: ONGOING\nENDED: ENDED\nMISSED: MISSED\nDECLINED: DECLINED\nFAILED: FAILED",
                        enum_type=CallStatus,
                        max_length=8,
                    ),
                ),
                (
                    "answered_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="answered_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="answered_calls",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("ongoing_user_id", fields.IntField(null=True, unique=True)),
                ("from_number", fields.CharField(null=True, max_length=20)),
                ("to_number", fields.CharField(null=True, max_length=20)),
                ("external_call_id", fields.CharField(null=True, max_length=255)),
                ("ringing_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "recording_state",
                    fields.CharEnumField(
                        default=RecordingState.NONE,
                        description="NONE: NONE\nRECORDING: RECORDING\nREADY: READY\nFAILED: FAILED",
                        enum_type=RecordingState,
                        max_length=9,
                    ),
                ),
                ("recording_id", fields.CharField(null=True, max_length=64)),
            ],
            options={
                "table": "call",
                "app": "models",
                "unique_together": (("channel", "external_call_id"),),
                "indexes": [
                    Index(fields=["workspace_id", "status", "ringing_at"]),
                    Index(fields=["workspace_id", "ringing_at", "id"]),
                    Index(fields=["contact_id", "ringing_at"]),
                ],
                "pk_attr": "id",
                "table_description": "A call. ``ongoing_user_id`` is the answering user while ONGOING, else null. Unique, so a",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ChannelIdentity",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="channel_identities",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="channel_identities",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.ForeignKeyField(
                        "models.Channel",
                        source_field="channel_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="identities",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("handle", fields.CharField(max_length=254)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "channel_identity",
                "app": "models",
                "unique_together": (("channel", "handle"),),
                "indexes": [Index(fields=["contact_id"])],
                "pk_attr": "id",
                "table_description": "The contact's handle on one channel (phone number, e-mail, page-scoped id ...).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Conversation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("open_contact_id", fields.IntField(null=True, unique=True)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ConversationStatus.OPEN,
                        description="OPEN: OPEN\nCLOSED: CLOSED",
                        enum_type=ConversationStatus,
                        max_length=6,
                    ),
                ),
                ("last_message_id", fields.IntField(null=True)),
                ("last_channel_id", fields.IntField(null=True)),
                ("last_activity_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "last_inbound_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("closing_category", fields.CharField(null=True, max_length=120)),
                ("closing_summary", fields.TextField(null=True, unique=False)),
                ("opened_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "conversation",
                "app": "models",
                "indexes": [
                    Index(fields=["workspace_id", "status", "last_activity_at", "id"]),
                    Index(fields=["contact_id", "opened_at"]),
                ],
                "pk_attr": "id",
                "table_description": "The thread with one contact.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Activity",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="activities",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="activities",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "conversation",
                    fields.ForeignKeyField(
                        "models.Conversation",
                        source_field="conversation_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="activities",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="COMMENT: COMMENT\nCONVERSATION_OPENED: CONVERSATION_OPENED\nCONVERSATION_CLOSED: CONVERSATION_CLOSED\nCONTACT_ASSIGNED: CONTACT_ASSIGNED\nCONTACT_UNASSIGNED: CONTACT_UNASSIGNED\nCONTACT_BLOCKED: CONTACT_BLOCKED\nCONTACT_UNBLOCKED: CONTACT_UNBLOCKED\nCONTACTS_MERGED: CONTACTS_MERGED\nCALL_ANSWERED: CALL_ANSWERED\nCALL_MISSED: CALL_MISSED\nCALL_ENDED: CALL_ENDED\nCRM_RECORD_UPDATED: CRM_RECORD_UPDATED",
                        enum_type=ActivityKind,
                        max_length=32,
                    ),
                ),
                (
                    "author",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="author_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="activities",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("text", fields.TextField(null=True, unique=False)),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "activity",
                "app": "models",
                "indexes": [
                    Index(fields=["contact_id", "created_at", "id"]),
                    Index(fields=["conversation_id", "created_at", "id"]),
                ],
                "pk_attr": "id",
                "table_description": "A comment or an event. ``data`` holds the kind's facts (assignee ids, closing notes,",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CustomInbox",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="custom_inboxes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "creator",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="creator_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="custom_inboxes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                (
                    "filter_spec",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "sharing",
                    fields.CharEnumField(
                        default=CustomInboxSharing.PRIVATE,
                        description="PRIVATE: PRIVATE\nEVERYONE: EVERYONE\nCHOSEN: CHOSEN",
                        enum_type=CustomInboxSharing,
                        max_length=8,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "custom_inbox",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A saved filtered view. ``filter_spec`` is structured data (never SQL text).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CustomInboxShare",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "custom_inbox",
                    fields.ForeignKeyField(
                        "models.CustomInbox",
                        source_field="custom_inbox_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="custom_inbox_shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "models.Team",
                        source_field="team_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="custom_inbox_shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "custom_inbox_share",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One chosen user or team a CHOSEN custom inbox is shared with.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InboxSeenState",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="inbox_seen_states",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("inbox_key", fields.CharField(max_length=40)),
                ("seen_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "inbox_seen_state",
                "app": "models",
                "unique_together": (("user", "inbox_key"),),
                "pk_attr": "id",
                "table_description": "When a user last opened an inbox. ``inbox_key`` is ``ALL``, ``MINE``, ``UNASSIGNED``",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "workspace",
                    fields.ForeignKeyField(
                        "models.Workspace",
                        source_field="workspace_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "conversation",
                    fields.ForeignKeyField(
                        "models.Conversation",
                        source_field="conversation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.Contact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.ForeignKeyField(
                        "models.Channel",
                        source_field="channel_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "direction",
                    fields.CharEnumField(
                        description="INBOUND: INBOUND\nOUTBOUND: OUTBOUND",
                        enum_type=MessageDirection,
                        max_length=8,
                    ),
                ),
                (
                    "author",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="author_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("text", fields.TextField(null=True, unique=False)),
                (
                    "delivery_status",
                    fields.CharEnumField(
                        default=DeliveryStatus.RECEIVED,
                        description="RECEIVED: RECEIVED\nQUEUED: QUEUED\nSENT: SENT\nDELIVERED: DELIVERED\nREAD: READ\nFAILED: FAILED",
                        enum_type=DeliveryStatus,
                        max_length=9,
                    ),
                ),
                ("external_message_id", fields.CharField(null=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "message",
                "app": "models",
                "unique_together": (("channel", "external_message_id"),),
                "indexes": [
                    Index(fields=["conversation_id", "created_at", "id"]),
                    Index(fields=["contact_id", "created_at"]),
                ],
                "pk_attr": "id",
                "table_description": "A message on one channel: inbound from the contact, outbound from a user (``author``).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamMembership",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "models.Team",
                        source_field="team_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "team_membership",
                "app": "models",
                "unique_together": (("team", "user"),),
                "indexes": [Index(fields=["user_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]

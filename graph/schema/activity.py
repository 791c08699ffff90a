"""Activities (comments and conversation events) and their connection: types."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db import models as m
from graph.loaders import related, row_relation
from graph.schema.core import Connection, Node
from graph.schema.described import model_enum
from graph.schema.rows import from_row
from graph.schema.user import User

ActivityKind = model_enum(
    m.ActivityKind,
    name="ActivityKind",
    description="A comment, or the conversation event an activity records (domain.md terms: "
    "activity).",
    values={
        "COMMENT": "An internal comment (`addComment`), never sent to a channel; its `text` may "
        "mention teammates.",
        "CONVERSATION_OPENED": "A conversation was opened (by an inbound message or "
        "`openConversation`).",
        "CONVERSATION_CLOSED": "A conversation was closed; `text` holds the closing summary.",
        "CONTACT_ASSIGNED": "The contact was assigned; `assignee` is the new assignee.",
        "CONTACT_UNASSIGNED": "The contact lost its assignee.",
        "CONTACT_BLOCKED": "The contact was blocked.",
        "CONTACT_UNBLOCKED": "The contact was unblocked.",
        "CONTACTS_MERGED": "Another contact was merged into this one (`mergedContactName`).",
        "CALL_ANSWERED": "A call was answered, or placed, by `author`.",
        "CALL_DECLINED": "A ringing call was declined.",
        "CALL_MISSED": "A call rang out unanswered or the caller hung up first.",
        "CALL_FAILED": "A call failed (reported by the channel).",
        "CALL_ENDED": "An answered call ended.",
        "CRM_RECORD_UPDATED": "The contact's CRM record was changed with `updateCrmRecord`.",
        "CONTACT_ERASED": "The contact was erased (`eraseContact`, the right to erasure) by "
        "`author`: its only activity afterwards, naming no personal data.",
    },
)


@from_row()
@strawberry.type(description="A team-only record on a contact's timeline: a comment or an event.")
class Activity(Node):
    row: strawberry.Private[m.Activity]

    kind: ActivityKind = strawberry.field(description="A comment or which event.")

    text: str | None = strawberry.field(
        description="A comment's text as written (mentions as `@[Name](<User id>)`); the "
        "closing summary of a closing; a sentence naming both contacts of a merge."
    )

    @strawberry.field(description="For assignment events: the new assignee (null: unassigned).")
    def assignee(self, info: Info) -> User | None:
        return related(info.context.loaders.user, self.row.assignee_id, User.from_row)

    @strawberry.field(description="For comments: the users it @-mentions, in mention order.")
    async def mentions(self, info: Info) -> list[User]:
        if self.row.kind is not m.ActivityKind.COMMENT:
            return []
        ids = await info.context.loaders.mentions.load(self.row.id)
        rows = await info.context.loaders.user.load_many(ids)
        return [User.from_row(r) for r in rows if r is not None]

    @strawberry.field(
        description="For CONTACTS_MERGED: the name the merged-away (secondary) contact had."
    )
    def merged_contact_name(self) -> str | None:
        if self.row.kind is not m.ActivityKind.CONTACTS_MERGED:
            return None
        return (self.row.data or {}).get("secondary_name")

    created_at: datetime = strawberry.field(description="UTC.")
    # relations (row_relation) after the plain fields, as the schema has always listed them
    author: User | None = strawberry.field(
        description="Who wrote the comment or caused the event; null for the system "
        "(an inbound message, a ring timeout) or a deleted user.",
        resolver=row_relation("user", "author_id", lambda: User.from_row),
    )


@strawberry.type(description="A page of a contact's activities, newest first.")
class ActivityConnection(Connection[Activity]):
    pass


__all__ = ["Activity", "ActivityConnection", "ActivityKind"]

"""Activities of the contact panel: internal comments with ``@``-mentions, and the contact's
activity list (``domain.md`` section 6, activities).

An activity is team-only: it is never visible to the contact and never sent to a channel.
Nothing here writes a message or calls a channel; comments reach users through the
``Contact.activities`` list, the conversation ``timeline`` and the ``mentioned``
subscription only.

**Mentions** are written in a comment's text with the markup of mention-aware editors
(react-mentions and the like): ``@[Display name](<User id>)``, where the id is the user's
global id. Each mention is checked to name an active user of the viewer's workspace and
stored as a reference (:class:`db.models.ActivityMention`); the text is kept as written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from db.models import Activity, ActivityKind, ActivityMention, User
from graph.errors import BadUserInput, FieldErrors
from graph.events import EventType
from graph.live import write
from graph.permissions.visibility import contact_scope
from graph.relay import Page, PageRequest, parse_global_id, to_global_id
from graph.resolvers.contact import (
    contact_facts,
    current_conversation,
    record_change,
    visible_contact,
)
from graph.resolvers.pages import pages_of
from graph.subscriptions import contact_events

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from db.models import Contact
    from graph.context import Context
    from graph.idempotency import Once
    from graph.live import EventBus, LiveEvent, Transaction
    from graph.loaders import Loaders
    from graph.permissions.visibility import Scope, Viewer
    from graph.resolvers.pages import PageJson, PageSpec
    from graph.subscriptions import LiveStream

T = TypeVar("T")

MAX_COMMENT_LENGTH = 10_000
MAX_MENTIONS = 50
MENTION = re.compile(r"@\[([^\[\]\n]{1,200})\]\(([^()\s]{1,200})\)")
"""``@[Display name](<User global id>)``."""
ACTIVITY_ORDER = (("created_at", True), ("id", True))
"""Newest first; ``id`` breaks ties, so cursors are stable."""


def mention(name: str, user_id: int) -> str:
    """The markup of one ``@``-mention of user ``user_id`` shown as ``name`` (what a
    mention-aware editor writes, :data:`MENTION`): ``@[Ada Lovelace](VXNlcjox)``."""
    return f"@[{name}]({to_global_id('User', user_id)})"


def comment_data(mentioned_user_ids: Sequence[int]) -> dict[str, Any]:
    """A comment's ``Activity.data``: the ids of the users it mentions, in mention order
    (also stored as :class:`db.models.ActivityMention` rows, which the API reads)."""
    return {"mentioned_user_ids": list(mentioned_user_ids)}


def mentioned_ids(text: str) -> list[str]:
    """The global ids mentioned in ``text``, in order of first appearance, without repeats."""
    seen: dict[str, None] = {}
    for match in MENTION.finditer(text):
        seen.setdefault(match.group(2), None)
    return list(seen)


async def _mentioned_users(viewer: Viewer, text: str) -> list[int]:
    """The user ids ``text`` mentions, each an active user of the viewer's workspace.

    Raises:
        BadUserInput: (``text``, with the offending id in ``extensions.mention``) a mention
            that is not a user id, or names a user of another workspace or a deactivated one.
    """
    ids = mentioned_ids(text)
    if len(ids) > MAX_MENTIONS:
        raise BadUserInput(f"A comment mentions at most {MAX_MENTIONS} users.", field="text")
    keys: dict[str, int] = {}
    for global_id in ids:
        parsed = parse_global_id(global_id)
        if parsed is None or parsed[0] != "User":
            raise BadUserInput(
                f"The mention {global_id!r} is not a user id.", field="text", mention=global_id
            )
        keys[global_id] = parsed[1]
    found = set(
        await User.filter(
            id__in=list(keys.values()), workspace_id=viewer.workspace_id, is_active=True
        ).values_list("id", flat=True)
    )
    for global_id, pk in keys.items():
        if pk not in found:
            raise BadUserInput(
                "A comment may only mention active users of this workspace.",
                field="text",
                mention=global_id,
            )
    return list(keys.values())


async def add_comment(
    bus: EventBus, viewer: Viewer, contact_id: int, text: str, *, once: Once | None = None
) -> Activity:
    """An internal comment on a contact, shown in its activities and in the timeline of its
    current conversation (``domain.md`` section 6). Anyone who may see the contact may comment.

    Emits ``activity.created`` (facts of the contact) and one ``user.mentioned`` per mentioned
    user other than the author, which the ``mentioned`` subscription delivers to that user
    alone, while they may see the contact. ``once``: the request's idempotency key
    (:mod:`graph.idempotency`).

    Raises:
        NotFound: the contact is not visible to the viewer (``contactId``).
        BadUserInput: (``text``) empty or longer than 10,000 characters, or a bad mention.
        InvalidInput: an invisible contact and a bad text at once, one error each
            (:class:`graph.errors.FieldErrors`).
    """
    text = (text or "").strip()
    errors = FieldErrors()  # the contact and the text reported together
    with errors.collect():
        await visible_contact(viewer, contact_id)
    with errors.collect():
        if not text:
            raise BadUserInput("`text` must not be empty.", field="text")
        if len(text) > MAX_COMMENT_LENGTH:
            raise BadUserInput(
                f"`text` must be at most {MAX_COMMENT_LENGTH} characters.", field="text"
            )
    errors.raise_if_any()
    mentioned = await _mentioned_users(viewer, text)

    async def operation(tx: Transaction) -> Activity:
        # the lock orders the comment with a concurrent merge, which moves it or refuses it
        contact = await visible_contact(
            viewer, contact_id, connection=tx.connection, for_update=True
        )
        activity = await record_change(
            tx,
            contact,
            await current_conversation(tx, contact),
            ActivityKind.COMMENT,
            EventType.ACTIVITY_CREATED,
            author_id=viewer.user_id,
            text=text,
            data=comment_data(mentioned),
            at=datetime.now(UTC),
        )
        if mentioned:
            await ActivityMention.bulk_create(
                [
                    ActivityMention(activity_id=activity.id, user_id=user_id)
                    for user_id in mentioned
                ],
                using_db=tx.connection,
            )
        for user_id in mentioned:
            if user_id != viewer.user_id:
                tx.emit(
                    EventType.USER_MENTIONED,
                    **contact_facts(contact),
                    activity_id=activity.id,
                    user_id=user_id,
                )
        return activity

    return await write(bus, viewer.workspace_id, operation, once=once)


def activities_spec(request: PageRequest) -> PageSpec:
    """The page of a contact's activities (as :func:`graph.resolvers.pages.pages_of` takes
    it) that :func:`list_activities` reads for ``request``."""
    return (Activity, "contact_id", ACTIVITY_ORDER, request)


async def list_activities(
    loaders: Loaders, contact: Contact, request: PageRequest, json: PageJson | None = None
) -> Page[Activity]:
    """A contact's activities (comments and events), newest first, the page ``request`` asks
    for (keyset ``[created_at, id]``). One contact's page is one statement, its users included;
    the contacts of one response share one query (:func:`graph.resolvers.pages.pages_of`), and
    one count. With ``json``, the rows may be their nodes' JSON (``pages_of``)."""
    (rows,) = await pages_of(loaders, activities_spec(request), json=json).load(contact.id)
    page = Page.of(
        rows,
        request,
        lambda a: [a.created_at, a.id],
        lambda: loaders.count_of(Activity, "contact_id").load(contact.id),
    )
    await loaders.preload_users(page.rows)
    return page


def mention_events(
    context: Context,
    after_sequence: int | None,
    present: Callable[[int, Activity, Contact], T],
) -> LiveStream:
    """``mentioned``: each comment mentioning the subscriber while they may see its contact,
    presented by ``present(sequence, comment, contact)``."""

    async def visible_contacts(viewer: Viewer) -> Scope:
        return contact_scope(viewer)

    async def build(event: LiveEvent) -> T | None:
        loaders = context.loaders_for_event(event)
        activity = await loaders.activity.load(event.payload["activity_id"])
        if activity is None:
            return None
        contact = await loaders.contact.load(activity.contact_id)
        if contact is None:
            return None
        return present(event.sequence, activity, contact)

    return contact_events(
        context,
        event_type=EventType.USER_MENTIONED,
        compute_scope=visible_contacts,
        build=build,
        after_sequence=after_sequence,
        addressee="user_id",
    )


__all__ = [
    "MENTION",
    "activities_spec",
    "add_comment",
    "comment_data",
    "list_activities",
    "mention",
    "mention_events",
    "mentioned_ids",
]

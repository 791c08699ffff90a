"""The demo workspace (``db.seed``): the shape the README and the demo promise.

Seeds 200 contacts into a fresh SQLite file through the ORM (not through the served API, which
only reads what the seed writes).
"""

from __future__ import annotations

from datetime import UTC, timedelta

import phonenumbers
import pytest
from tortoise import Tortoise, connections

from db.migrate import apply_migrations
from db.models import (
    Activity,
    ActivityKind,
    ActivityMention,
    Call,
    CallStatus,
    Channel,
    ChannelIdentity,
    Contact,
    ContactVisibility,
    Conversation,
    ConversationStatus,
    Event,
    Message,
    MessageDirection,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from db.security import verify_password
from db.seed import DEMO_PASSWORD, DEMO_WORKSPACE_NAME, create_workspace, seed_demo
from tests.support import global_id, models_on

CONTACTS = 200


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory):
    """A migrated SQLite database holding the demo workspace; yields the logins."""
    url = f"sqlite://{tmp_path_factory.mktemp('seed') / 'demo.db'}"
    await apply_migrations(url)
    async with models_on(url):
        yield await seed_demo(CONTACTS, random_seed=11)


async def _scalar(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return int(next(iter(rows[0].values())))


async def test_workspace_settings_and_no_outbox_events(seeded) -> None:
    workspace = await Workspace.get(name=DEMO_WORKSPACE_NAME)
    assert workspace.phone_number_masking is True
    assert workspace.call_ring_timeout_seconds == 300
    assert workspace.event_sequence == 0
    assert await Event.all().count() == 0


async def test_teams_users_and_logins(seeded) -> None:
    workspace = await Workspace.get(name=DEMO_WORKSPACE_NAME)
    assert await Team.filter(workspace_id=workspace.id).count() >= 3
    users = await User.filter(workspace_id=workspace.id)
    assert len(users) == 12 == len(seeded)
    assert {user.role for user in users} == set(Role)
    agents = [user for user in users if user.role is Role.AGENT]
    assert {user.contact_visibility for user in agents} == set(ContactVisibility)
    assert all(
        user.contact_visibility is ContactVisibility.ALL
        for user in users
        if user.role is not Role.AGENT
    )
    owner = next(user for user in users if user.role is Role.OWNER)
    assert owner.can_view_blocked_contacts and owner.has_call_access
    assert any(user.has_call_access for user in agents)
    assert not all(user.has_call_access for user in agents)
    by_email = {user.email: user for user in users}
    for login in seeded:
        user = by_email[login.email]
        assert user.role.value == login.role
        assert user.contact_visibility.value == login.contact_visibility
        assert user.can_view_blocked_contacts == login.can_view_blocked_contacts
        teams = await Team.filter(memberships__user_id=user.id).values_list("name", flat=True)
        assert set(teams) == set(login.teams)
    assert await verify_password(owner.password_hash, DEMO_PASSWORD)
    memberships = await TeamMembership.filter(user_id__in=[user.id for user in users]).count()
    assert memberships > len(users)  # some users are in several teams


async def test_channels_of_distinct_types(seeded) -> None:
    channels = await Channel.all()
    assert len(channels) == 8
    assert len({channel.type for channel in channels}) == 8


async def test_contacts(seeded) -> None:
    contacts = await Contact.all()
    assert len(contacts) == CONTACTS
    assert any(contact.blocked for contact in contacts)
    assigned = [contact for contact in contacts if contact.assignee_id]
    assert 0.4 * CONTACTS < len(assigned) < 0.8 * CONTACTS
    restricted = await User.filter(
        contact_visibility__in=[ContactVisibility.TEAM, ContactVisibility.SELF]
    ).values_list("id", flat=True)
    assert {contact.assignee_id for contact in assigned} & set(restricted)
    for contact in contacts:
        if contact.phone:
            number = phonenumbers.parse(contact.phone)
            assert phonenumbers.is_valid_number(number), contact.phone
            assert contact.phone == phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164
            )
            assert phonenumbers.region_code_for_number(number) == contact.country_code
        if contact.email:
            assert contact.email_normalized == contact.email.lower()
        assert contact.created_at.utcoffset() == timedelta(0)
    shared_phones = await _scalar(
        "SELECT COUNT(*) FROM (SELECT phone FROM contact WHERE phone IS NOT NULL "
        "GROUP BY phone HAVING COUNT(*) > 1) AS shared"
    )
    case_only = await _scalar(
        "SELECT COUNT(*) FROM (SELECT email_normalized FROM contact WHERE email IS NOT NULL "
        "GROUP BY email_normalized HAVING COUNT(DISTINCT email) > 1) AS shared"
    )
    assert shared_phones >= 1
    assert case_only >= 1
    contact = await Contact.filter(assignee_id__not_isnull=True).first()
    await contact.fetch_related("assignee")
    assert contact.assignee.email.endswith("@demo.inbox-graph.test")


async def test_channel_identities_match_contact_fields(seeded) -> None:
    identities = await ChannelIdentity.all().prefetch_related("channel", "contact")
    assert len(identities) >= CONTACTS
    for identity in identities:
        if identity.channel.type.handle_is_phone:
            assert identity.handle == identity.contact.phone
        elif identity.channel.type.handle_is_email:
            assert identity.handle == identity.contact.email_normalized
    per_contact = {identity.contact_id for identity in identities}
    assert len(per_contact) == CONTACTS


async def test_conversations_and_messages(seeded) -> None:
    assert (
        await _scalar(
            "SELECT COUNT(*) FROM (SELECT contact_id FROM conversation WHERE status = 'OPEN' "
            "GROUP BY contact_id HAVING COUNT(*) > 1) AS doubled"
        )
        == 0
    )
    conversations = await Conversation.all()
    assert CONTACTS <= len(conversations) <= 3 * CONTACTS
    assert {c.status for c in conversations} == set(ConversationStatus)
    for conversation in conversations:
        if conversation.status is ConversationStatus.OPEN:
            assert conversation.open_contact_id == conversation.contact_id
            assert conversation.closed_at is None
        else:
            assert conversation.open_contact_id is None
            assert conversation.closed_at >= conversation.last_activity_at
    assert any(c.closing_category for c in conversations)
    last = await Message.get(id=conversations[0].last_message_id)
    assert last.conversation_id == conversations[0].id
    assert last.created_at == conversations[0].last_activity_at
    assert last.created_at.tzinfo is not None and last.created_at.utcoffset() == timedelta(0)
    messages = await Message.all().count()
    assert 5 * CONTACTS <= messages <= 15 * CONTACTS
    inbound = await Message.filter(direction=MessageDirection.INBOUND).first()
    outbound = await Message.filter(direction=MessageDirection.OUTBOUND).first()
    assert inbound.author_id is None and inbound.external_message_id
    assert outbound.author_id is not None


async def test_calls_in_every_status(seeded) -> None:
    calls = await Call.all()
    assert len(calls) >= 50
    # every status but ONGOING: nobody starts the demo on a call they cannot end
    assert {call.status for call in calls} == set(CallStatus) - {CallStatus.ONGOING}
    assert not any(call.ongoing_user_id for call in calls)
    assert {call.direction.value for call in calls} == {"INBOUND", "OUTBOUND"}
    outcomes: dict[int, set[CallStatus]] = {}
    for call in calls:
        outcomes.setdefault(call.contact_id, set()).add(call.status)
    assert any(
        {CallStatus.ENDED, CallStatus.MISSED, CallStatus.DECLINED, CallStatus.FAILED} <= seen
        for seen in outcomes.values()
    )
    blocked = set(await Contact.filter(blocked=True).values_list("id", flat=True))
    assert blocked & set(outcomes)
    for call in calls:
        assert phonenumbers.is_valid_number(phonenumbers.parse(call.from_number))
        assert phonenumbers.is_valid_number(phonenumbers.parse(call.to_number))
        if call.status is CallStatus.ENDED:
            assert call.ringing_at <= call.answered_at <= call.ended_at
    ringing = [call for call in calls if call.status is CallStatus.RINGING]
    assert all(
        call.ringing_at.tzinfo == UTC or call.ringing_at.utcoffset() == timedelta(0)
        for call in ringing
    )


async def test_activities(seeded) -> None:
    kinds = {
        ActivityKind(kind)
        for kind in await Activity.all().distinct().values_list("kind", flat=True)
    }
    assert {
        ActivityKind.COMMENT,
        ActivityKind.CONVERSATION_OPENED,
        ActivityKind.CONVERSATION_CLOSED,
        ActivityKind.CONTACT_ASSIGNED,
        ActivityKind.CONTACT_BLOCKED,
        ActivityKind.CALL_MISSED,
    } <= kinds
    comments = await Activity.filter(kind=ActivityKind.COMMENT)
    mentioned = [comment for comment in comments if comment.data.get("mentioned_user_ids")]
    assert mentioned
    for comment in mentioned:  # what the app's own comment path writes
        ids = comment.data["mentioned_user_ids"]
        assert ids == [
            m.user_id for m in await ActivityMention.filter(activity_id=comment.id).order_by("id")
        ]
        user = await User.get(id=ids[0])
        assert f"@[{user.name}]({global_id('User', user.id)})" in comment.text
    # the assignment history ends with each contact's current assignee
    latest: dict[int, int | None] = {}
    for activity in await Activity.filter(
        kind__in=[ActivityKind.CONTACT_ASSIGNED, ActivityKind.CONTACT_UNASSIGNED]
    ).order_by("created_at", "id"):
        latest[activity.contact_id] = activity.data["assignee_id"]
    for contact in await Contact.all():
        assert latest.get(contact.id) == contact.assignee_id


async def test_seeding_twice_is_refused_and_later_inserts_work(seeded) -> None:
    with pytest.raises(ValueError, match="Demo Co"):
        await seed_demo(5)
    workspace = await Workspace.get(name=DEMO_WORKSPACE_NAME)
    contact = await Contact.create(workspace_id=workspace.id, first_name="After")
    assert contact.id > CONTACTS
    await contact.delete()


async def test_create_workspace(seeded) -> None:
    workspace, owner = await create_workspace("Acme", "Boss@Acme.test", "long enough")
    assert owner.email == "boss@acme.test" and owner.role is Role.OWNER
    assert owner.can_view_blocked_contacts and owner.has_call_access
    assert workspace.name == "Acme"
    with pytest.raises(ValueError, match="already"):
        await create_workspace("Acme 2", "boss@acme.test", "long enough")
    with pytest.raises(ValueError, match="8"):
        await create_workspace("Acme 3", "other@acme.test", "short")


async def test_rows_read_by_hand_equal_what_tortoise_reads(seeded) -> None:
    """``db.queries.model_rows`` builds instances as tortoise's own ``_init_from_db`` does:
    the same attributes, values, types and time zones, for every model (a tortoise upgrade that changes
    how it reads rows fails here)."""
    from db.queries import model_rows

    client = connections.get("default")
    for model in Tortoise.apps["models"].values():
        _, rows = await client.execute_query(f'SELECT * FROM "{model._meta.db_table}" LIMIT 50')
        theirs = [model._init_from_db(**dict(row)) for row in rows]
        ours = model_rows(model, rows)
        assert [vars(o) for o in ours] == [vars(t) for t in theirs], model.__name__
        assert [{k: _kind(v) for k, v in vars(o).items()} for o in ours] == [
            {k: _kind(v) for k, v in vars(t).items()} for t in theirs
        ], model.__name__


def _kind(value: object) -> object:
    """A value's type, and a timestamp's time zone object (equal timestamps in two zones are
    equal)."""
    return type(value), getattr(value, "tzinfo", None)

"""The demo workspace: a realistic tenant to try the API on (``inbox-graph seed-demo``).

Teams, twelve users covering every role and agent visibility, eight channels, international
contacts (faker names, phonenumbers-valid E.164 numbers), conversations with messages over the
last 90 days, calls in every status, comments and events. Rows are generated in memory and
bulk-inserted, so ``--contacts 100000`` stays within minutes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import phonenumbers
from faker import Faker
from tortoise.transactions import in_transaction

from db.models import (
    Activity,
    ActivityKind,
    Call,
    CallDirection,
    CallStatus,
    Channel,
    ChannelIdentity,
    ChannelType,
    Contact,
    ContactVisibility,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    RecordingState,
    Role,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from db.security import hash_password

if TYPE_CHECKING:
    from collections.abc import Callable

DEMO_PASSWORD = "demo-password"
DEMO_DOMAIN = "demo.inbox-graph.test"
LOCALES = {"en_GB": ("GB", "en-GB"), "en_US": ("US", "en-US"), "fr_FR": ("FR", "fr"),
           "de_DE": ("DE", "de"), "es_ES": ("ES", "es"), "pt_BR": ("BR", "pt-BR"),
           "it_IT": ("IT", "it"), "nl_NL": ("NL", "nl")}
# name, role, visibility, teams, may view blocked, call access
USERS = [
    ("owner", Role.OWNER, ContactVisibility.ALL, ("Support",), True, True),
    ("manager", Role.MANAGER, ContactVisibility.ALL, ("Support", "Sales"), True, True),
    ("manager.billing", Role.MANAGER, ContactVisibility.ALL, ("Billing",), False, False),
    ("agent.all", Role.AGENT, ContactVisibility.ALL, ("Support",), False, True),
    ("agent.all.blocked", Role.AGENT, ContactVisibility.ALL, ("Support",), True, False),
    ("agent.team", Role.AGENT, ContactVisibility.TEAM, ("Support",), False, True),
    ("agent.team.sales", Role.AGENT, ContactVisibility.TEAM, ("Sales",), False, True),
    ("agent.team.billing", Role.AGENT, ContactVisibility.TEAM, ("Billing", "Support"), False, False),
    ("agent.self", Role.AGENT, ContactVisibility.SELF, ("Support",), False, True),
    ("agent.self.sales", Role.AGENT, ContactVisibility.SELF, ("Sales",), False, False),
    ("agent.sales", Role.AGENT, ContactVisibility.ALL, ("Sales",), False, True),
    ("agent.billing", Role.AGENT, ContactVisibility.ALL, ("Billing",), False, False),
]
CHANNELS = [(ChannelType.WHATSAPP, "WhatsApp Support"), (ChannelType.MESSENGER, "Facebook Page"),
            (ChannelType.INSTAGRAM, "Instagram"), (ChannelType.EMAIL, "support@demo"),
            (ChannelType.SMS, "SMS UK"), (ChannelType.WEBCHAT, "Website chat"),
            (ChannelType.TELEGRAM, "Telegram bot"), (ChannelType.VOIP, "Office line")]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    contact_visibility: str
    can_view_blocked_contacts: bool
    has_call_access: bool
    teams: tuple[str, ...]


def _phone(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    for _ in range(20):
        digits = national[:3] + "".join(rng.choice("0123456789") for _ in national[3:])
        number = phonenumbers.parse(f"+{example.country_code}{digits}", None)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


async def seed_demo(
    contacts: int = 2000,
    *,
    messages_per_contact: float = 10.0,
    random_seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[DemoLogin]:
    """Build the demo workspace "Demo Co" in the initialised, migrated database.

    Args:
        contacts: how many contacts (about ``messages_per_contact`` messages each).
        random_seed: the same seed gives the same workspace.
        progress: called with a line of text after each stage.

    Returns:
        The demo logins (all share the password ``demo-password``).
    """
    say = progress or (lambda _text: None)
    rng = random.Random(random_seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(random_seed + index)
    sentences = [fakers["en_GB"].sentence(nb_words=rng.randint(4, 14)) for _ in range(400)]
    now = datetime.now(UTC)
    password_hash = hash_password(DEMO_PASSWORD)

    async with in_transaction() as conn:
        workspace = await Workspace.create(name="Demo Co", phone_number_masking=True, using_db=conn)
        teams = {name: await Team.create(workspace_id=workspace.id, name=name, using_db=conn)
                 for name in ("Support", "Sales", "Billing")}
        users: dict[str, User] = {}
        logins = []
        for handle, role, visibility, team_names, blocked, calls in USERS:
            email = f"{handle}@{DEMO_DOMAIN}"
            user = await User.create(
                workspace_id=workspace.id, email=email, name=fakers["en_GB"].name(),
                password_hash=password_hash, role=role, contact_visibility=visibility,
                can_view_blocked_contacts=blocked, has_call_access=calls, using_db=conn)
            users[handle] = user
            for team in team_names:
                await TeamMembership.create(team_id=teams[team].id, user_id=user.id, using_db=conn)
            logins.append(DemoLogin(email, DEMO_PASSWORD, role.value, visibility.value, blocked, calls, team_names))
        channels = [await Channel.create(workspace_id=workspace.id, type=t, name=n, using_db=conn)
                    for t, n in CHANNELS]
    say(f"workspace, {len(users)} users, {len(teams)} teams, {len(channels)} channels")

    agents = [u for u in users.values()]
    contact_rows: list[Contact] = []
    locales = list(LOCALES)
    for i in range(contacts):
        locale = rng.choice(locales)
        fake = fakers[locale]
        region, language = LOCALES[locale]
        first, last = fake.first_name(), fake.last_name()
        phone = _phone(rng, region)
        email = f"{first}.{last}{rng.randint(1, 999)}@{fake.free_email_domain()}".lower().replace(" ", "")
        if contact_rows and rng.random() < 0.02:  # a likely duplicate: same phone or e-mail
            twin = rng.choice(contact_rows)
            if rng.random() < 0.5:
                phone = twin.phone
            else:
                email = (twin.email or email).upper()
        assignee = rng.choice(agents) if rng.random() < 0.6 else None
        contact_rows.append(Contact(
            workspace_id=workspace.id, first_name=first, last_name=last, phone=phone, email=email,
            email_normalized=email.lower(), country_code=region, language=language,
            assignee_id=assignee.id if assignee else None, blocked=rng.random() < 0.02))
    async with in_transaction() as conn:
        await Contact.bulk_create(contact_rows, batch_size=2000, using_db=conn)
    contact_rows = await Contact.filter(workspace_id=workspace.id).order_by("id")
    say(f"{len(contact_rows)} contacts")

    identities, conversations_plan = [], []
    used: set[tuple[int, str]] = set()
    for contact in contact_rows:
        for channel in rng.sample(channels, rng.randint(1, 3)):
            if channel.type.handle_is_phone:
                handle = contact.phone
            elif channel.type.handle_is_email:
                handle = contact.email_normalized
            else:
                handle = f"{channel.type.value.lower()}:{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
            if (channel.id, handle) in used:
                continue
            used.add((channel.id, handle))
            identities.append(ChannelIdentity(workspace_id=workspace.id, contact_id=contact.id,
                                              channel_id=channel.id, handle=handle))
    async with in_transaction() as conn:
        await ChannelIdentity.bulk_create(identities, batch_size=5000, using_db=conn)
    channel_of = {}
    for identity in identities:
        channel_of.setdefault(identity.contact_id, []).append(identity.channel_id)

    conversation_rows = []
    for contact in contact_rows:
        count = rng.randint(1, 3)
        starts = sorted(now - timedelta(days=rng.uniform(0, 90)) for _ in range(count))
        for index, start in enumerate(starts):
            is_last = index == count - 1
            is_open = is_last and rng.random() < 0.4
            conversation_rows.append(Conversation(
                workspace_id=workspace.id, contact_id=contact.id,
                open_contact_id=contact.id if is_open else None,
                status=ConversationStatus.OPEN if is_open else ConversationStatus.CLOSED,
                last_activity_at=start, opened_at=start,
                closed_at=None if is_open else start + timedelta(hours=rng.uniform(1, 48)),
                closing_category=None if is_open else rng.choice([None, "Resolved", "Spam", "Sales lead"]),
                last_channel_id=rng.choice(channel_of[contact.id])))
    async with in_transaction() as conn:
        await Conversation.bulk_create(conversation_rows, batch_size=5000, using_db=conn)
    conversation_rows = await Conversation.filter(workspace_id=workspace.id).order_by("id")
    say(f"{len(conversation_rows)} conversations")

    contacts_by_id = {c.id: c for c in contact_rows}
    total = int(contacts * messages_per_contact)
    share = total / max(1, len(conversation_rows))
    message_rows, activity_rows = [], []
    for conversation in conversation_rows:
        contact = contacts_by_id[conversation.contact_id]
        at = conversation.opened_at
        author = contact.assignee_id or rng.choice(agents).id
        channel_id = conversation.last_channel_id
        for n in range(max(1, round(share + rng.uniform(-2, 2)))):
            inbound = n % 2 == 0 or rng.random() < 0.3
            at = at + timedelta(minutes=rng.uniform(1, 180))
            message_rows.append(Message(
                workspace_id=workspace.id, conversation_id=conversation.id, contact_id=contact.id,
                channel_id=channel_id,
                direction=MessageDirection.INBOUND if inbound else MessageDirection.OUTBOUND,
                author_id=None if inbound else author, text=rng.choice(sentences),
                delivery_status=DeliveryStatus.RECEIVED if inbound else rng.choice(
                    [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.READ]),
                external_message_id=f"demo.{uuid.UUID(int=rng.getrandbits(128)).hex}" if inbound else None,
                created_at=min(at, now)))
        activity_rows.append(Activity(workspace_id=workspace.id, contact_id=contact.id,
                                      conversation_id=conversation.id, kind=ActivityKind.CONVERSATION_OPENED,
                                      data={}, created_at=conversation.opened_at))
        if rng.random() < 0.15:
            activity_rows.append(Activity(
                workspace_id=workspace.id, contact_id=contact.id, conversation_id=conversation.id,
                kind=ActivityKind.COMMENT, author_id=author, text=rng.choice(sentences),
                data={"mentions": []}, created_at=min(at, now)))
        if conversation.status is ConversationStatus.CLOSED:
            activity_rows.append(Activity(
                workspace_id=workspace.id, contact_id=contact.id, conversation_id=conversation.id,
                kind=ActivityKind.CONVERSATION_CLOSED, author_id=author,
                data={"category": conversation.closing_category}, created_at=conversation.closed_at))
    async with in_transaction() as conn:
        await Message.bulk_create(message_rows, batch_size=5000, using_db=conn)
        await Activity.bulk_create(activity_rows, batch_size=5000, using_db=conn)
    say(f"{len(message_rows)} messages, {len(activity_rows)} activities")

    # point each conversation at its last message
    last: dict[int, tuple[datetime, int, int, datetime | None]] = {}
    for row in await Message.filter(workspace_id=workspace.id).values_list(
            "conversation_id", "id", "created_at", "direction"):
        conversation_id, message_id, created_at, direction = row
        previous = last.get(conversation_id)
        inbound_at = created_at if direction == MessageDirection.INBOUND else None
        if previous is None or (created_at, message_id) > (previous[0], previous[1]):
            last[conversation_id] = (created_at, message_id, 0, inbound_at or (previous[3] if previous else None))
    async with in_transaction() as conn:
        for conversation in conversation_rows:
            if conversation.id in last:
                at, message_id, _, inbound_at = last[conversation.id]
                conversation.last_message_id = message_id
                conversation.last_activity_at = at
                conversation.last_inbound_at = inbound_at
        await Conversation.bulk_update(conversation_rows, fields=["last_message_id", "last_activity_at", "last_inbound_at"],
                                       batch_size=2000, using_db=conn)

    calling = [c for c in channels if c.type.supports_calls]
    callers = [u for u in users.values() if u.has_call_access]
    on_call: set[int] = set()
    call_rows = []
    for i in range(max(50, contacts // 6)):
        contact = rng.choice(contact_rows)
        status = rng.choice(list(CallStatus))
        ringing_at = now - timedelta(seconds=rng.uniform(5, 30)) if status in (CallStatus.RINGING, CallStatus.ONGOING) \
            else now - timedelta(days=rng.uniform(0, 90))
        answerer = None
        if status in (CallStatus.ONGOING, CallStatus.ENDED):
            free = [u for u in callers if u.id not in on_call] if status is CallStatus.ONGOING else callers
            if not free:
                status = CallStatus.MISSED
            else:
                answerer = rng.choice(free)
                if status is CallStatus.ONGOING:
                    on_call.add(answerer.id)
        channel = rng.choice(calling)
        inbound = rng.random() < 0.7
        business = _phone(rng, "GB")
        answered_at = ringing_at + timedelta(seconds=rng.uniform(3, 20)) if answerer else None
        call_rows.append(Call(
            workspace_id=workspace.id, contact_id=contact.id, channel_id=channel.id,
            direction=CallDirection.INBOUND if inbound else CallDirection.OUTBOUND, status=status,
            answered_by_id=answerer.id if answerer else None,
            ongoing_user_id=answerer.id if status is CallStatus.ONGOING else None,
            from_number=contact.phone if inbound else business, to_number=business if inbound else contact.phone,
            external_call_id=f"demo-call-{i}", ringing_at=ringing_at, answered_at=answered_at,
            ended_at=answered_at + timedelta(seconds=rng.uniform(20, 900)) if status is CallStatus.ENDED
            else (None if status in (CallStatus.RINGING, CallStatus.ONGOING) else ringing_at + timedelta(seconds=30)),
            recording_state=RecordingState.READY if status is CallStatus.ENDED and rng.random() < 0.3 else RecordingState.NONE))
    async with in_transaction() as conn:
        await Call.bulk_create(call_rows, batch_size=2000, using_db=conn)
    say(f"{len(call_rows)} calls")
    return logins


__all__ = ["DEMO_PASSWORD", "DemoLogin", "seed_demo"]

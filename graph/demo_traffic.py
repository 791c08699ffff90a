"""Live traffic for the demo workspace (issue 22, item 2): ``inbox-graph serve --demo-traffic``.

A task of the server's process keeps the demo workspace ("Demo Co", :mod:`db.seed`) alive
through the API's own paths, the resolver functions its mutations call, so every action
commits its rows and events and reaches subscribers exactly like a request would:

- as a channel connector (the owner's ingestion, ``receiveMessage`` / ``receiveCall`` /
  ``reportCallEnded`` / ``reportCallAnswered`` / ``reportCallDeclined``): inbound messages
  from known contacts and from new ones, and calls,
  from the contacts of each audience in turn (unassigned contacts, each ``TEAM`` and ``SELF``
  agent's own, each team's), so every user sees some; a call rings until someone answers or
  the caller gives up after :data:`HANG_UP_RINGING` (the demo's ring timeout is five
  minutes), and a call answered :data:`HANG_UP_ONGOING` ago ends; the contact a demo user
  calls picks up (two times in three) or declines once it rang :data:`PICK_UP_AFTER`;
- as the demo's users: replies by the contact's assignee (or, for an unassigned contact, by an
  unrestricted agent, whom the first reply assigns), assignments by a manager, closes.

One action every ``every`` seconds on average (a human pace: 4 s by default, jittered), each
logged in one line (logger ``inbox_graph.demo_traffic``). An action the API refuses (a coded
error: the contact was blocked meanwhile, a conversation already closed …) is logged in one
line and skipped; an unreachable database is reported as the app's other background tasks do.

Only ever in the demo workspace: the workspace named :data:`db.seed.DEMO_WORKSPACE_NAME` whose
owner has the demo's e-mail (``owner@demo.inbox-graph.test``); without one the task logs a line
and ends. Every row it reads is filtered by that workspace, every action goes through a viewer
of it.

Example:
    inbox-graph serve --seed-demo-if-empty --demo-traffic            # one action every ~4 s
    inbox-graph serve --demo-traffic --demo-traffic-every 0.5        # busier
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from faker import Faker
from tortoise.expressions import Q

from db.availability import is_unavailable, report_unavailable
from db.models import (
    Call,
    CallDirection,
    CallStatus,
    Channel,
    ChannelIdentity,
    ChannelType,
    ClosingNotesMode,
    Conversation,
    ConversationStatus,
    Role,
    Team,
    User,
    Workspace,
)
from db.seed import DEMO_EMAIL_DOMAIN, DEMO_WORKSPACE_NAME, closing_notes, demo_text
from graph.app import create_app as create_base_app
from graph.auth import viewers_of_workspace
from graph.errors import CodedError
from graph.resolvers.call import (
    receive_call,
    report_call_answered,
    report_call_declined,
    report_call_ended,
)
from graph.resolvers.contact import assign_contact, display_name
from graph.resolvers.conversation import close_conversation, receive_message, send_message

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette

    from graph.live import EventBus
    from graph.permissions.visibility import Viewer

log = logging.getLogger("inbox_graph.demo_traffic")

DEFAULT_EVERY_SECONDS = 4.0
"""The average pause between two actions."""
MAX_RINGING = 16
"""No new call rings while this many calls of the demo ring already."""
HANG_UP_RINGING = timedelta(minutes=2)
"""Callers give up after ringing this long (before the demo's five-minute ring timeout)."""
HANG_UP_ONGOING = timedelta(minutes=3)
"""Callers end a call answered this long ago."""
PICK_UP_AFTER = timedelta(seconds=8)
"""Contacts called by a demo user answer or decline after ringing this long."""
_PICK = 25
"""Actions choose among this many candidate rows (the most recent ones)."""

# action, weight
_ACTIONS = (
    ("message_from_known_contact", 30),
    ("message_from_new_contact", 8),
    ("reply", 25),
    ("assign", 10),
    ("close", 10),
    ("call", 15),
    ("hang_up", 5),
    ("pick_up", 5),
)


def _reference(call: Call) -> dict[str, Any]:
    """How the connector names ``call``: its provider id, else (an outbound call) its id."""
    if call.external_call_id is not None:
        return {"external_call_id": call.external_call_id}
    return {"call_id": call.id}


async def demo_workspace_id() -> int | None:
    """The id of the demo workspace, or ``None`` when the database has none."""
    row = await Workspace.filter(
        name=DEMO_WORKSPACE_NAME, users__email=f"owner@{DEMO_EMAIL_DOMAIN}"
    ).first()
    return row.id if row is not None else None


class DemoTraffic:
    """The demo's live traffic (see the module's docstring).

    Args:
        bus: the app's event bus (events reach subscribers through it).
        every: the average pause between two actions, in seconds.
        random_seed: the seed of the choices (``None``: a new one each run).
    """

    def __init__(
        self, bus: EventBus, *, every: float = DEFAULT_EVERY_SECONDS, random_seed: int | None = None
    ) -> None:
        self.bus = bus
        self.every = every
        self.rng = random.Random(random_seed)
        self.fake = Faker(["en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL"])
        self.fake.seed_instance(self.rng.getrandbits(32))
        self.workspace_id = 0
        self.viewers: dict[int, Viewer] = {}
        self.names: dict[int, str] = {}
        self.team_names: dict[int, str] = {}
        self.connector: Viewer | None = None
        self.turns: dict[str, int] = {}

    async def run(self) -> None:
        """Act until cancelled (the server's shutdown)."""
        workspace_id = await demo_workspace_id()
        if workspace_id is None:
            log.warning("demo traffic: no demo workspace here (seed it with seed-demo); off")
            return
        self.workspace_id = workspace_id
        log.info("demo traffic: on in %s, one action every ~%g s", DEMO_WORKSPACE_NAME, self.every)
        while True:
            await asyncio.sleep(self.every * self.rng.uniform(0.5, 1.5))
            try:
                line = await self.step()
            except CodedError as exc:  # the API refused it, as it would refuse a client
                log.info("demo traffic: skipped (%s)", exc.message)
            except Exception as exc:
                if is_unavailable(exc):
                    report_unavailable(exc)
                else:
                    log.error("demo traffic: action failed", exc_info=exc)
            else:
                if line:
                    log.info("demo traffic: %s", line)

    async def step(self) -> str | None:
        """One action, picked by weight; returns its log line (``None``: nothing to do)."""
        viewers = await viewers_of_workspace(self.workspace_id)
        self.viewers = {viewer.user_id: viewer for viewer in viewers}
        self.names = dict(
            await User.filter(workspace_id=self.workspace_id).values_list("id", "email")
        )
        self.team_names = dict(
            await Team.filter(workspace_id=self.workspace_id).values_list("id", "name")
        )
        owners = [v for v in viewers if v.role is Role.OWNER]
        if not owners:
            return None
        self.connector = owners[0]
        names = [name for name, _ in _ACTIONS]
        action = self.rng.choices(names, [weight for _, weight in _ACTIONS])[0]
        return await getattr(self, action)()

    # -- the connector's ingestion ---------------------------------------------------------------

    def _audiences(self) -> list[tuple[str, Q]]:
        """Whose contacts the next message or call comes from, in turn (``domain.md``
        sections 1 and 5): unassigned contacts, the contacts of each restricted agent (so
        ``TEAM`` and ``SELF`` agents see their own traffic), then each team's."""
        audiences = [("unassigned", Q(contact__assignee_id__isnull=True))]
        for viewer in sorted(self.viewers.values(), key=lambda v: v.user_id):
            if viewer.is_restricted:
                name = self.names[viewer.user_id]
                audiences.append((f"assigned to {name}", Q(contact__assignee_id=viewer.user_id)))
        some = next(iter(self.viewers.values()))
        for team_id, members in sorted(some.team_members.items()):
            audiences.append(
                (
                    f"of the {self.team_names.get(team_id, team_id)} team",
                    Q(contact__assignee_id__in=sorted(members) or [0]),
                )
            )
        return audiences

    def _next_audience(self, kind: str) -> tuple[str, Q]:
        audiences = self._audiences()
        turn = self.turns.get(kind, 0)
        self.turns[kind] = turn + 1
        return audiences[turn % len(audiences)]

    async def message_from_known_contact(self) -> str | None:
        _, audience = self._next_audience("message")
        known = ChannelIdentity.filter(
            audience,
            workspace_id=self.workspace_id,
            contact__blocked=False,
            channel__type__not=ChannelType.VOIP,
        )
        count = await known.count()
        if not count:
            return None
        identities = await (
            known.order_by("-id")
            .offset(self.rng.randrange(min(count, 2_000)))
            .limit(1)
            .prefetch_related("channel", "contact")
        )
        identity = identities[0]
        result = await receive_message(
            self.bus,
            self.connector,
            channel_id=identity.channel_id,
            sender=identity.handle,
            external_message_id=f"demo-traffic-{uuid.uuid4().hex}",
            text=demo_text(self.rng, self.rng.choice(("open", "follow", "follow"))),
        )
        return (
            f"message from {display_name(result.contact)} on {identity.channel.name} "
            f"(contact {result.contact.id}, conversation {result.conversation.id})"
        )

    async def message_from_new_contact(self) -> str | None:
        channel = await Channel.filter(
            workspace_id=self.workspace_id, type=ChannelType.WEBCHAT
        ).first()
        if channel is None:
            return None
        first, last = self.fake.first_name(), self.fake.last_name()
        result = await receive_message(
            self.bus,
            self.connector,
            channel_id=channel.id,
            sender=f"visitor:{self.rng.getrandbits(64):016x}",
            external_message_id=f"demo-traffic-{uuid.uuid4().hex}",
            text=demo_text(self.rng, "open"),
            first_name=first,
            last_name=last,
        )
        return (
            f"new contact {display_name(result.contact)} writes on {channel.name} "
            f"(contact {result.contact.id}, conversation {result.conversation.id})"
        )

    async def call(self) -> str | None:
        ringing = await Call.filter(
            workspace_id=self.workspace_id, status=CallStatus.RINGING
        ).values_list("contact_id", flat=True)
        if len(ringing) >= MAX_RINGING:
            return None
        whose, audience = self._next_audience("call")
        candidates = await (
            ChannelIdentity.filter(
                audience,
                workspace_id=self.workspace_id,
                contact__blocked=False,
                contact__phone__not_isnull=True,
                channel__type__in=[ChannelType.WHATSAPP, ChannelType.VOIP],
                contact_id__not_in=sorted(set(ringing)) or [0],
            )
            .order_by("-id")
            .limit(_PICK)
        )
        if not candidates:
            return None
        identity = self.rng.choice(candidates)
        await identity.fetch_related("channel", "contact")
        contact = identity.contact
        call = await receive_call(
            self.bus,
            self.connector,
            channel_id=identity.channel_id,
            sender=contact.phone,
            external_call_id=f"demo-traffic-{uuid.uuid4().hex}",
        )
        return (
            f"call ringing from {display_name(contact)} ({whose}) on {identity.channel.name} "
            f"(call {call.id})"
        )

    async def hang_up(self) -> str | None:
        """The far end hangs up: a call ringing for :data:`HANG_UP_RINGING` is missed,
        a call answered :data:`HANG_UP_ONGOING` ago ends (nobody stays on a call)."""
        now = datetime.now(UTC)
        call = await (
            Call.filter(
                Q(status=CallStatus.RINGING, ringing_at__lte=now - HANG_UP_RINGING)
                | Q(status=CallStatus.ONGOING, answered_at__lte=now - HANG_UP_ONGOING),
                workspace_id=self.workspace_id,
            )
            .order_by("ringing_at", "id")
            .prefetch_related("contact")
            .first()
        )
        if call is None:
            return None
        ended = await report_call_ended(
            self.bus,
            self.connector,
            channel_id=call.channel_id,
            **_reference(call),
        )
        return f"{display_name(call.contact)} hangs up: call {call.id} {ended.status.value}"

    async def pick_up(self) -> str | None:
        """The contact a demo user calls answers (two times in three) or declines, once the
        call rang :data:`PICK_UP_AFTER`."""
        call = await (
            Call.filter(
                workspace_id=self.workspace_id,
                status=CallStatus.RINGING,
                direction=CallDirection.OUTBOUND,
                ringing_at__lte=datetime.now(UTC) - PICK_UP_AFTER,
            )
            .order_by("ringing_at", "id")
            .prefetch_related("contact")
            .first()
        )
        if call is None:
            return None
        answers = self.rng.random() < 2 / 3
        report = report_call_answered if answers else report_call_declined
        done = await report(
            self.bus, self.connector, channel_id=call.channel_id, **_reference(call)
        )
        verb = "picks up" if answers else "declines"
        return f"{display_name(call.contact)} {verb}: call {call.id} {done.status.value}"

    # -- the users' work ---------------------------------------------------------------------

    async def _open_conversations(self, **filters: Any) -> list[Conversation]:
        return await (
            Conversation.filter(
                workspace_id=self.workspace_id,
                status=ConversationStatus.OPEN,
                contact_blocked=False,
                **filters,
            )
            .order_by("-last_activity_at")
            .limit(_PICK)
            .prefetch_related("contact")
        )

    def _unrestricted_agent(self) -> Viewer | None:
        agents = [
            v
            for v in self.viewers.values()
            if v.role is Role.AGENT and not v.is_restricted and v.has_call_access
        ]
        return self.rng.choice(agents) if agents else None

    async def reply(self) -> str | None:
        waiting = [
            c
            for c in await self._open_conversations(last_inbound_at__not_isnull=True)
            if c.last_inbound_at == c.last_activity_at  # the contact wrote last
        ]
        if not waiting:
            return None
        conversation = self.rng.choice(waiting)
        contact = conversation.contact
        author = self.viewers.get(contact.assignee_id) or self._unrestricted_agent()
        if author is None:
            return None
        result = await send_message(
            self.bus,
            author,
            contact_id=contact.id,
            text=demo_text(self.rng, self.rng.choice(("greet", "reply")), contact.first_name),
            channel_id=None,
        )
        first = "" if contact.assignee_id else ", first reply: assigned to them"
        return (
            f"{self.names[author.user_id]} replies to {display_name(contact)}{first} "
            f"(conversation {result.conversation.id})"
        )

    async def assign(self) -> str | None:
        unassigned = await self._open_conversations(contact_assignee_id=None)
        managers = [v for v in self.viewers.values() if v.role is Role.MANAGER]
        agents = [v for v in self.viewers.values() if v.role is Role.AGENT]
        if not unassigned or not managers or not agents:
            return None
        contact = self.rng.choice(unassigned).contact
        manager, agent = self.rng.choice(managers), self.rng.choice(agents)
        await assign_contact(self.bus, manager, contact.id, agent.user_id)
        return (
            f"{self.names[manager.user_id]} assigns {display_name(contact)} "
            f"to {self.names[agent.user_id]}"
        )

    async def close(self) -> str | None:
        answered = [
            c
            for c in await self._open_conversations(contact_assignee_id__not_isnull=True)
            if c.last_inbound_at != c.last_activity_at  # someone answered last
        ]
        if not answered:
            return None
        contact = self.rng.choice(answered).contact
        closer = self.viewers.get(contact.assignee_id)
        if closer is None:
            return None
        workspace = await Workspace.get(id=self.workspace_id)
        category = summary = None
        if workspace.closing_notes_mode is not ClosingNotesMode.OFF:
            category, summary = closing_notes(self.rng)
        await close_conversation(self.bus, closer, contact.id, category, summary)
        return f"{self.names[closer.user_id]} closes the conversation with {display_name(contact)}"


def _log_to_stderr() -> None:
    """One line per action on the server's standard error, beside uvicorn's own lines."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def create_app(
    *, every: float = DEFAULT_EVERY_SECONDS, random_seed: int | None = None
) -> Starlette:
    """The app of :func:`graph.app.create_app`, with the demo traffic running while it serves
    (started after the app's own start-up, cancelled before its shutdown). One worker only:
    ``inbox-graph serve`` refuses ``--demo-traffic`` with ``--workers`` above 1."""
    app = create_base_app()
    inner = app.router.lifespan_context
    _log_to_stderr()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Any]:
        async with inner(app) as state:
            traffic = DemoTraffic(app.state.bus, every=every, random_seed=random_seed)
            task = asyncio.create_task(traffic.run())
            try:
                yield state
            finally:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    app.router.lifespan_context = lifespan
    return app


__all__ = ["DEFAULT_EVERY_SECONDS", "DemoTraffic", "create_app", "demo_workspace_id"]

"""``newMessage`` edge cases: replay authorisation, resume points and lost events
(``domain.md`` section 7: every event is authorised for each subscriber at delivery time,
against the subscriber's current visibility; ``graph/live.py``: sequences are gapless and
subscribers resume after the last one they saw)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import ASSIGN, RECEIVE
from tests.support import NEW_MESSAGE, GraphQLError, receive, server_logs, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_replay_does_not_leak_messages_of_a_contact_reassigned_away(world):
    """A SELF agent resuming with afterSequence must not be replayed messages of a contact
    that is no longer theirs: the replay authorises with the facts stored in the outbox
    (assignee at the time), not the subscriber's current visibility."""
    owner = world.client("owner")
    contact = world.contact_ids["c_free"]
    try:
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_self"]})
        live = await subscribe(world.served, world.tokens["agent_self"], NEW_MESSAGE)
        await receive(world, "c_free", "marker while mine")
        marker = (await live.next())["data"]["newMessage"]
        await live.close()
        await receive(world, "c_free", "written while mine, read after it was taken away")
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_free"]})

        resumed = await subscribe(
            world.served, world.tokens["agent_self"], NEW_MESSAGE, {"after": marker["sequence"]}
        )
        try:
            await resumed.nothing(within=1.5)
        finally:
            await resumed.close()
    finally:
        await owner(ASSIGN, {"c": contact, "a": world.user_ids["agent_free"]})
        await owner.aclose()


async def test_after_sequence_beyond_the_latest_event_is_rejected(world):
    """A resume point the server never issued (a client from before a restore, or a typo)
    must be refused, not silently swallow every event until the workspace catches up."""
    live = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)
    await receive(world, "c_all", "learn the current sequence")
    latest = (await live.next())["data"]["newMessage"]["sequence"]
    await live.close()
    future = latest + 1_000_000
    try:
        resumed = await subscribe(
            world.served, world.tokens["owner"], NEW_MESSAGE, {"after": future}
        )
    except GraphQLError as error:
        assert "BAD_USER_INPUT" in error.codes, error.errors
        return
    try:
        await receive(world, "c_all", "must arrive, or the resume must be refused")
        try:
            await resumed.next(timeout=3)
        except GraphQLError as error:  # refused once the subscription started: fine too
            assert "BAD_USER_INPUT" in error.codes, error.errors
        except TimeoutError:
            raise AssertionError(
                f"afterSequence={future} (latest is {latest}) was accepted and now swallows every event"
            ) from None
    finally:
        await resumed.close()


async def test_concurrent_writes_lose_no_event_for_a_subscriber(world):
    """Events are published after commit in no fixed order; the subscription drops any event
    whose sequence is below one it already delivered (``if event.sequence <= last: continue``),
    so one commit overtaking another loses a message for good. Shows on PostgreSQL + Redis
    (run with DATABASE_URL/BROADCAST_URL), typically within a few rounds."""
    integrations = [world.client("integration") for _ in range(24)]
    contacts = ["c_all", "c_team", "c_self", "c_beta", "c_manager", "c_free", "c_none"]
    # 24 writes in flight at a time, one per client: all 120 at once queued the last ones
    # behind the others past the server's 30 s request timeout on a loaded machine (SQLite's
    # one writer)
    writing = asyncio.Semaphore(len(integrations))
    try:
        for round_ in range(10):
            subscription = await subscribe(world.served, world.tokens["owner"], NEW_MESSAGE)

            async def one(i: int, round_: int = round_) -> str:
                async with writing:
                    data = await integrations[i % len(integrations)](
                        RECEIVE,
                        {
                            "i": {
                                "channelId": world.channel_ids["WEBCHAT"],
                                "from": f"visitor-{contacts[i % 7]}",
                                "externalMessageId": uuid.uuid4().hex,
                                "text": f"r{round_}-{i}",
                            }
                        },
                    )
                return data["receiveMessage"]["message"]["id"]

            sent = set(await asyncio.gather(*(one(i) for i in range(120))))
            received: list[tuple[int, str]] = []
            try:
                while len(received) < len(sent):
                    event = (await subscription.next(timeout=5))["data"]["newMessage"]
                    received.append((event["sequence"], event["message"]["id"]))
            except TimeoutError:
                pass
            finally:
                await subscription.close()
            sequences = [s for s, _ in received]
            missing = sent - {m for _, m in received}
            assert not missing, (
                f"round {round_}: {len(missing)} of {len(sent)} messages never delivered "
                f"({sorted(missing)}); sequence gaps "
                f"{sorted(set(range(min(sequences), max(sequences) + 1)) - set(sequences))}\n"
                f"{server_logs(world.served.env)}"
            )
    finally:
        for client in integrations:
            await client.aclose()


CLOSE = "mutation($c: ID!) { closeConversation(contactId: $c) { id } }"
MERGE = "mutation($p: ID!, $s: ID!) { mergeContacts(primaryId: $p, secondaryId: $s) { id } }"
REPLAYED_MESSAGE = """subscription($after: Int) { newMessage(afterSequence: $after) {
    sequence message { id text } conversation { contact { id assignee { id } } } } }"""


async def test_replay_does_not_show_a_contact_merged_into_one_the_subscriber_may_not_see(world):
    """A SELF agent's contact merged into a contact of the manager's: its messages now belong to
    the manager's contact, which the agent may not see. Resuming from before one of them must
    not replay it (its contact's current facts are the manager's contact's), let alone present
    the manager's contact under it (``domain.md`` sections 1, 6 and 7)."""
    owner = world.client("owner")
    tag = uuid.uuid4().hex[:8]
    try:
        secondary = (await receive(world, f"merge-s-{tag}", "hello"))["contact"]["id"]
        primary = (await receive(world, f"merge-p-{tag}", "hello"))["contact"]["id"]
        await owner(ASSIGN, {"c": secondary, "a": world.user_ids["agent_self"]})
        await owner(ASSIGN, {"c": primary, "a": world.user_ids["manager"]})
        # the agent's conversation moves to the manager's contact as it is (none to fold into)
        await owner(CLOSE, {"c": primary})
        watcher = await subscribe(world.served, world.tokens["owner"], REPLAYED_MESSAGE)
        try:
            await receive(world, f"merge-s-{tag}", "written while it was the agent's")
            sent = (await watcher.next())["data"]["newMessage"]
        finally:
            await watcher.close()
        assert sent["conversation"]["contact"]["id"] == secondary
        await owner(MERGE, {"p": primary, "s": secondary})

        resumed = await subscribe(
            world.served,
            world.tokens["agent_self"],
            REPLAYED_MESSAGE,
            {"after": sent["sequence"] - 1},
        )
        try:
            await resumed.nothing(within=1.5)
        finally:
            await resumed.close()
    finally:
        await owner.aclose()


async def test_a_replayed_message_of_a_contact_merged_into_the_subscribers_own_arrives(world):
    """The other side of a merge: a message of a contact nobody had, merged since into a SELF
    agent's contact, belongs to the agent's contact now. Resuming from before it replays it,
    presented with the agent's contact, as for a contact assigned to them since (``domain.md``
    sections 6 and 7); it was dropped (the merged contact no longer exists)."""
    owner = world.client("owner")
    tag = uuid.uuid4().hex[:8]
    try:
        secondary = (await receive(world, f"merged-s-{tag}", "hello"))["contact"]["id"]
        primary = (await receive(world, f"merged-p-{tag}", "hello"))["contact"]["id"]
        await owner(ASSIGN, {"c": primary, "a": world.user_ids["agent_self"]})
        await owner(CLOSE, {"c": primary})
        watcher = await subscribe(world.served, world.tokens["owner"], REPLAYED_MESSAGE)
        try:
            await receive(world, f"merged-s-{tag}", "written while nobody had it")
            sent = (await watcher.next())["data"]["newMessage"]
        finally:
            await watcher.close()
        await owner(MERGE, {"p": primary, "s": secondary})

        resumed = await subscribe(
            world.served,
            world.tokens["agent_self"],
            REPLAYED_MESSAGE,
            {"after": sent["sequence"] - 1},
        )
        try:
            replayed = (await resumed.next())["data"]["newMessage"]
            assert replayed["message"] == sent["message"]
            assert replayed["conversation"]["contact"]["id"] == primary
        finally:
            await resumed.close()
    finally:
        await owner.aclose()

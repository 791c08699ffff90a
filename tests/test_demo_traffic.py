"""``inbox-graph serve --demo-traffic`` keeps the demo alive (issue 22, item 2): served for a
few seconds at a fast pace, it brings users of each visibility (unrestricted, ``TEAM``,
``SELF``) dots, list changes and ringing calls on their own subscriptions, each within what
they may see, logs one line per action and touches no other workspace."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.conftest import GENEROUS_LIMITS, fresh_database
from tests.support import Client, cli, log_path, serve, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

# afterSequence 0: what happened before the subscription started is replayed first (the seed
# writes no events, so these are the traffic's), then events arrive live
SIDEBAR = """subscription { inboxSidebarChanged(afterSequence: 0) {
    standard { kind newMessageCount } teams { newMessageCount } } }"""
LIST = """subscription($inbox: InboxSelector!) { conversationUpdated(inbox: $inbox,
    afterSequence: 0) { change reason conversation { contact { assignee { email } } } } }"""
RINGING = """subscription { incomingCall(afterSequence: 0) { id status
    contact { assignee { email } } } }"""
# who, the inbox whose list they watch
WATCHERS = {"owner": "ALL", "agent.team": "MINE", "agent.self": "MINE"}
SUPPORT = {"manager", "agent.all", "agent.team", "agent.self", "agent.support", "agent.night"}


async def _login(client: Client, email: str, password: str) -> str:
    data = await client(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": password},
    )
    return data["login"]["token"]


async def _collect(subscription, events: list, until: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        with contextlib.suppress(asyncio.TimeoutError):
            events.append(await subscription.next(timeout=max(0.1, until - loop.time())))
        if events:
            return


async def _place_a_call(served, tokens: dict[str, str]) -> dict[str, str]:
    """A call placed by a demo watcher with call access to one of their contacts with a
    phone: its id, and who placed it."""
    for who, token in tokens.items():
        client = Client(served, token)
        try:
            me = (await client("{ me { hasCallAccess } }"))["me"]
            if not me["hasCallAccess"]:
                continue
            channels = (await client("{ channels { id supportsCalls } }"))["channels"]
            data = await client(
                "{ contacts: conversations(inbox: {standard: ALL}, first: 50) { edges { node { contact { id phone blocked } } } } }"
            )
            contact = next(
                e["node"]["contact"]
                for e in data["contacts"]["edges"]
                if e["node"]["contact"]["phone"] and not e["node"]["contact"]["blocked"]
            )
            channel = next(c["id"] for c in channels if c["supportsCalls"])
            call = await client(
                "mutation($c: ID!, $ch: ID!) { placeCall(contactId: $c, channelId: $ch) { id status } }",
                {"c": contact["id"], "ch": channel},
            )
            assert call["placeCall"]["status"] == "RINGING"
            return {"id": call["placeCall"]["id"], "by": who}
        finally:
            await client.aclose()
    raise AssertionError("no demo watcher has call access")


async def test_demo_traffic_reaches_users_of_each_visibility(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {
            "DATABASE_URL": url,
            "BROADCAST_URL": "memory://",
            "TEST_LOG_DIR": str(tmp_path),
            **GENEROUS_LIMITS,
        }
        cli(env, "seed-demo", "--contacts", "300")
        cli(env, "create-workspace", "--name", "Other Co", "--owner-email", "boss@other.test",
            "--owner-password", "long enough password")  # fmt: skip
        served = serve(env, "--demo-traffic", "--demo-traffic-every", "0.2")
        anonymous = Client(served)
        subscriptions = []
        try:
            tokens = {
                who: await _login(anonymous, f"{who}@demo.inbox-graph.test", "demo-password")
                for who in WATCHERS
            }
            placed = await _place_a_call(served, tokens)
            events: dict[tuple[str, str], list] = {}
            waits = []
            until = asyncio.get_running_loop().time() + 60
            for who, inbox in WATCHERS.items():
                for name, query, variables in (
                    ("dots", SIDEBAR, None),
                    ("list", LIST, {"inbox": {"standard": inbox}}),
                    ("ring", RINGING, None),
                ):
                    subscription = await subscribe(served, tokens[who], query, variables)
                    subscriptions.append(subscription)
                    events[who, name] = []
                    waits.append(_collect(subscription, events[who, name], until))
            await asyncio.gather(*waits)
            for key, received in events.items():
                assert received, f"no event for {key}"
            # each within what its subscriber may see
            for who in ("agent.team", "agent.self"):
                sidebar = events[who, "dots"][0]["data"]["inboxSidebarChanged"]
                assert [s["kind"] for s in sidebar["standard"]] == ["MINE"]
            for payload in events["agent.self", "ring"]:
                assignee = payload["data"]["incomingCall"]["contact"]["assignee"]
                assert assignee["email"] == "agent.self@demo.inbox-graph.test"
            for payload in events["agent.team", "ring"]:
                assignee = payload["data"]["incomingCall"]["contact"]["assignee"]
                assert assignee["email"].split("@")[0] in SUPPORT
            for who in ("agent.team", "agent.self"):
                for payload in events[who, "list"]:
                    conversation = payload["data"]["conversationUpdated"]["conversation"]
                    if conversation is not None:  # null once it left the subscriber's list
                        email = conversation["contact"]["assignee"]["email"]
                        assert email.startswith(f"{who}@"), payload
            # the contact a demo user called picked up or declined (issue 21, part 2)
            caller = Client(served, tokens[placed["by"]])
            for _ in range(120):
                outcome = await caller(
                    "query($id: ID!) { node(id: $id) { ... on Call { status } } }",
                    {"id": placed["id"]},
                )
                if outcome["node"]["status"] != "RINGING":
                    break
                await asyncio.sleep(0.5)
            await caller.aclose()
            assert outcome["node"]["status"] in ("ONGOING", "DECLINED"), outcome
            # the other workspace saw nothing
            other = Client(
                served, await _login(anonymous, "boss@other.test", "long enough password")
            )
            data = await other(
                "{ inboxSidebar { standard { newMessageCount openConversationCount } } }"
            )
            assert all(
                s["newMessageCount"] == s["openConversationCount"] == 0
                for s in data["inboxSidebar"]["standard"]
            )
            await other.aclose()
        finally:
            for subscription in subscriptions:
                await subscription.close()
            await anonymous.aclose()
            served.stop()
        lines = [
            line
            for line in Path(log_path(env, served.port)).read_text().splitlines()
            if "demo traffic:" in line
        ]
        assert any("message from" in line for line in lines)
        assert any("call ringing from" in line for line in lines)
        assert any(" picks up: " in line or " declines: " in line for line in lines)
        log = Path(log_path(env, served.port)).read_text()
        assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


async def test_demo_traffic_needs_one_worker(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite://{tmp_path / 'x.db'}", "BROADCAST_URL": "memory://"}
    for extra in (["--workers", "2"], ["--demo-traffic-every", "0"]):
        result = cli(env, "serve", "--demo-traffic", *extra, check=False)
        assert result.returncode == 2
        # one line, "inbox-graph: error: …" or argparse's "inbox-graph serve: error: …"
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("inbox-graph")
        assert "error: " in result.stderr and "Traceback" not in result.stderr

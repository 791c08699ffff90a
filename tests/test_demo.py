"""``inbox-graph seed-demo`` builds a workspace a demo agent can log in to and work in."""

from __future__ import annotations

import pytest

from tests.support import Client, cli, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_seed_demo_serves_a_realistic_workspace(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite://{tmp_path / 'demo.db'}",
        "BROADCAST_URL": "memory://",
        "TEST_LOG_DIR": str(tmp_path),
    }
    result = cli(env, "seed-demo", "--contacts", "150")
    rows = [line.split() for line in result.stdout.splitlines() if "@demo.inbox-graph.test" in line]
    assert len(rows) == 12
    assert {r[2] for r in rows} == {"OWNER", "MANAGER", "AGENT"}
    assert {r[3] for r in rows if r[2] == "AGENT"} == {"ALL", "TEAM", "SELF"}
    served = serve(env)
    try:
        anonymous = Client(served)
        login = await anonymous(
            'mutation { login(email: "agent.team@demo.inbox-graph.test", password: "demo-password") { token } }'
        )
        agent = Client(served, login["login"]["token"])
        data = await agent("""{ inboxSidebar { standard { kind openConversationCount } teams { team { name } } }
            conversations(inbox: {standard: MINE}, first: 5) { edges { node { contact { name phone } lastMessage { text } } } } }""")
        assert [s["kind"] for s in data["inboxSidebar"]["standard"]] == ["MINE"]
        phones = [edge["node"]["contact"]["phone"] for edge in data["conversations"]["edges"]]
        assert any(phones)
        for phone in filter(None, phones):  # a few contacts have no phone number
            assert "\u2022" in phone  # the demo workspace masks numbers
        for edge in data["conversations"]["edges"]:
            assert edge["node"]["lastMessage"]["text"]
        owner_login = await anonymous(
            'mutation { login(email: "owner@demo.inbox-graph.test", password: "demo-password") { token } }'
        )
        owner = Client(served, owner_login["login"]["token"])
        data = await owner(
            "{ inboxSidebar { standard { kind openConversationCount } teams { team { name } } blocked { conversationCount } } channels { type } }"
        )
        assert len({c["type"] for c in data["channels"]}) == 8
        assert len(data["inboxSidebar"]["teams"]) == 3
        assert data["inboxSidebar"]["standard"][0]["openConversationCount"] > 0
        for client in (anonymous, agent, owner):
            await client.aclose()
    finally:
        served.stop()

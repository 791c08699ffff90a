"""The live page on ``/`` (issue 22, item 3; ``graph/page.py``): served by the API with its
``graphql-ws`` client (``graph/page/package-lock.json``), it works offline and stays live.

In headless Chromium, with every host but the served app cut off, two demo users log in on
their own pages: an unrestricted agent opening ``UNASSIGNED`` and a ``SELF`` agent opening
``MINE``. A connector ingests a message from a new number (``receiveMessage``, over HTTP): the
first page's dot, open count and list change without a reload, and so do its incoming calls
when the contact calls; the second page does not change. Then the first page's WebSocket drops, a second message arrives while it is away, and
once reconnected the page has it: it subscribed again with ``afterSequence``.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it): where it is missing the
browser test skips, except under CI (``CI`` set), where it fails."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import httpx
import pytest

from graph.page import HERE as PAGE
from graph.page import LivePage
from tests.clients import npm_ci, run_node
from tests.conftest import GENEROUS_LIMITS, fresh_database
from tests.support import cli, new_number, serve

CHROMIUM = Path("/usr/bin/chromium")
DEMO = "demo.inbox-graph.test"
PASSWORD = "demo-password"
WATCHER = (f"agent.all@{DEMO}", "standard:UNASSIGNED")  # sees a new number's conversation
BYSTANDER = (f"agent.self@{DEMO}", "standard:MINE")  # sees only their own contacts'


@contextlib.contextmanager
def _served_demo(tmp_path_factory, **settings: str):
    """A small demo workspace, served (development: the page is on, with its assets)."""
    npm_ci(PAGE)  # the server finds graphql-ws when it starts
    folder = tmp_path_factory.mktemp("live-page")
    with fresh_database(folder) as url:
        env = {
            "DATABASE_URL": url,
            "BROADCAST_URL": os.environ.get("BROADCAST_URL") or "memory://",
            "TEST_LOG_DIR": str(folder),
            **GENEROUS_LIMITS,
            **settings,
        }
        cli(env, "seed-demo", "--contacts", "300")
        server = serve(env)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with _served_demo(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def compressed_demo(tmp_path_factory):
    """The demo with WebSocket compression on: Chromium's offer accepted, events compressed
    once for every socket (graph.ws_compression.FrameWriter), which the browser inflates."""
    with _served_demo(tmp_path_factory, INBOX_GRAPH_WS_COMPRESSION="bounded") as server:
        yield server


def _graphql(base: str, query: str, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers).json()
    assert "errors" not in body, body
    return body["data"]


async def test_the_page_and_only_its_files_are_served(demo):
    base = f"http://127.0.0.1:{demo.port}"
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{base}/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "https://" not in page.text and "http://" not in page.text
        assert f'<option value="{WATCHER[0]}">' in page.text  # the demo's logins are offered
        for name in ("page.js", "page.css", "graphql-ws/client.js", "graphql-ws/LICENSE.md"):
            served = await http.get(f"{base}/live/{name}")
            assert served.status_code == 200, name
        script = await http.get(f"{base}/live/graphql-ws/client.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "function createClient" in script.text
        for other in ("graphql-ws/package.json", "graphql-ws/server.js", "..%2Fpage.py", "x"):
            refused = await http.get(f"{base}/live/{other}")
            assert refused.status_code == 404, other
            assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_production_serves_the_page_only_when_the_setting_says_so(server_env):
    off = serve({**server_env, "INBOX_GRAPH_ENV": "production"})
    on = serve({**server_env, "INBOX_GRAPH_ENV": "production", "INBOX_GRAPH_LIVE_PAGE": "1"})
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{off.port}/")).status_code == 404
            assert (await http.get(f"http://127.0.0.1:{off.port}/live/page.js")).status_code == 404
            page = await http.get(f"http://127.0.0.1:{on.port}/")
            assert page.status_code == 200 and 'id="login"' in page.text
            assert DEMO not in page.text  # no demo logins offered in production
    finally:
        off.stop()
        on.stop()


def _browser_base(demo) -> str:
    """The served demo's address, for a browser test: skipped where Chromium is missing,
    failed under CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is needed by this test and missing on a CI machine")
        pytest.skip(f"{CHROMIUM} is not installed")
    return f"http://127.0.0.1:{demo.port}"


def _connector(base: str, name: str) -> tuple[str, dict]:
    """The demo owner's token, and what a connector's ingest needs (``livebrowser.mjs``'s
    ``ingest``): a new INGEST token named ``name``, a WhatsApp channel, a new number."""
    owner = _graphql(
        base,
        f'mutation {{ login(email: "owner@{DEMO}", password: "{PASSWORD}") {{ token }} }}',
    )["login"]["token"]
    connector = _graphql(
        base,
        f'mutation {{ createAccessToken(name: "{name}", scopes: [INGEST]) {{ token }} }}',
        owner,
    )["createAccessToken"]["token"]
    channels = _graphql(base, "{ channels { id type } }", connector)["channels"]
    whatsapp = next(c["id"] for c in channels if c["type"] == "WHATSAPP")
    return owner, {"token": connector, "channelId": whatsapp, "from": new_number()}


@pytest.mark.parametrize("served", ["demo", "compressed_demo"])
def test_a_message_changes_the_right_users_page_live_and_resumes_after_a_drop(served, request):
    base = _browser_base(request.getfixturevalue(served))
    _, ingest = _connector(base, "page")
    number = ingest["from"]
    texts = [f"Hello from {number}", f"Still there? {number}"]
    config = {
        "password": PASSWORD,
        "users": [{"email": e, "inbox": i} for e, i in (WATCHER, BYSTANDER)],
        "ingest": {**ingest, "texts": texts},
    }
    outcome = run_node("livepage.mjs", base, json.dumps(config), timeout=240)
    # a failure names its step, the page's warnings and what each page showed, in full
    failure = ("error", "steps", "consoleWarnings", "failedPages", "subscribes")
    assert "error" not in outcome, json.dumps({key: outcome.get(key) for key in failure}, indent=1)
    assert outcome["refused"] == [], outcome  # it asked for nothing outside the served app
    assert outcome["consoleErrors"] == [], outcome
    watcher, bystander = outcome["pages"]

    # the watcher opened UNASSIGNED (its dot cleared); the new number's message lights it again,
    # adds one open conversation there and in ALL, and tops the list
    before, after = watcher["before"], watcher["after"]
    assert before["status"] == after["status"] == "live"
    assert before["inboxes"]["standard:UNASSIGNED"]["dot"] is False
    assert after["inboxes"]["standard:UNASSIGNED"]["dot"] is True
    for inbox in ("standard:UNASSIGNED", "standard:ALL"):
        assert int(after["inboxes"][inbox]["count"]) == int(before["inboxes"][inbox]["count"]) + 1
    assert texts[0] not in before["list"] and after["list"][0] == texts[0]
    assert after["title"] != before["title"]  # "Unassigned · N open"

    # the same contact calls: it rings on the watcher's incoming calls (an unassigned contact's
    # call, ALL tab), added to what rang before
    assert outcome["call"] not in after["ringing"]
    assert set(watcher["ringing"]["ringing"]) == {*after["ringing"], outcome["call"]}

    # the SELF agent may not see a new number's contact: their page is as it was, calls included
    assert bystander["before"]["status"] == "live"
    assert bystander["after"] == bystander["before"] == bystander["ringing"]

    # dropped, the page shows the first message only; reconnected, it subscribed again after
    # the last sequence it had received and shows the message that came meanwhile
    assert outcome["whileAway"]["status"] != "live"
    assert texts[1] not in outcome["whileAway"]["list"]
    assert outcome["resumed"]["status"] == "live" and outcome["resumed"]["list"][0] == texts[1]
    resumed_after = {frame["variables"]["after"] for frame in outcome["resubscribes"]}
    assert len(resumed_after) == 1 and isinstance(resumed_after.pop(), int), outcome["resubscribes"]


def test_a_click_that_spans_a_live_update_still_opens_what_was_pressed(demo):
    """A user presses on a conversation while another one leaves the list (closed), or on an
    inbox while the left panel is redrawn by a live event (another conversation came in), and
    releases: what they pressed opens. A list or panel rebuilt from new elements, or whose
    elements were all taken out and put back, lost that click (the press and the release on two
    different elements), and a user, or the test above, waited on an inbox that never opened."""
    base = _browser_base(demo)
    owner, ingest = _connector(base, "click")
    config = {
        "email": WATCHER[0],
        "password": PASSWORD,
        "press": "standard:MINE",
        "watch": "standard:UNASSIGNED",  # a new number's conversation is unassigned
        "owner": owner,
        "ingest": {**ingest, "text": f"Hello from {ingest['from']}"},
    }
    outcome = run_node("liveclick.mjs", base, json.dumps(config), timeout=120)
    assert "error" not in outcome, outcome["error"]
    assert outcome["refused"] == [] and outcome["consoleErrors"] == [], outcome
    # the conversation pressed stayed in place while one below it left, and opened
    first, gone = outcome["listIds"]["first"], outcome["listIds"]["gone"]
    assert first != gone and outcome["listPressed"]["title"].startswith("All")
    assert outcome["listCurrent"] == first, outcome["listReleased"]
    pressed, released = outcome["pressed"], outcome["released"]
    # the panel changed under the pointer, and the pressed inbox opened
    watched = int(pressed["inboxes"]["standard:UNASSIGNED"]["count"])
    assert int(released["inboxes"]["standard:UNASSIGNED"]["count"]) == watched + 1
    assert not pressed["title"].startswith("Mine")
    assert outcome["current"] == "standard:MINE", released
    assert released["title"].startswith("Mine")


def test_without_its_client_installed_the_page_says_how_to_install_it(tmp_path, caplog):
    page = LivePage.load(modules=tmp_path)  # no graphql-ws there
    assert 'data-client-installed="false"' in page.html
    assert 'id="client-missing"' in page.html and "npm ci" in page.html
    assert sorted(page.files) == ["page.css", "page.js"]
    assert "Run `npm ci` in graph/page" in caplog.text

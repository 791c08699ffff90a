"""A finished recording's URL, reported by the connector and served only to those who may see
the call (``domain.md`` sections 1 and 5, the active call card; issue 21, part 2)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import uuid
from datetime import UTC, datetime

import pytest
from tortoise.transactions import in_transaction

from db.models import Call, CallStatus, Contact
from graph.auth import viewer_for_token
from graph.errors import Conflict
from graph.relay import decode_id
from graph.resolvers import call as call_resolvers
from tests.calls.common import (
    ANSWER,
    END,
    NODE_CALL,
    RECORD,
    REPORT_RECORDING,
    as_user,
    call_as_owner,
    errors_of,
    ring,
)
from tests.live.helpers import served_database
from tests.support import subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
URL = "https://media.example.test/recordings/RE1234.mp3"
CALL_UPDATED = "subscription { callUpdated { id recording { state id url } } }"
CALL_LOG = "{ calls(first: 100) { edges { node { id recording { url } } } } }"


async def _report(world, call: dict, **extra) -> dict:
    data = await as_user(
        world,
        "integration",
        REPORT_RECORDING,
        {
            "i": {
                "channelId": world.channel_ids["WHATSAPP"],
                "externalCallId": call["externalCallId"],
                **extra,
            }
        },
    )
    return data["reportCallRecording"]


async def _answered(world, who: str, *, record: bool) -> dict:
    """An inbound call from a contact of ``who``'s, answered (and recorded) by them; with its
    ``externalCallId``."""
    external = f"rec-{uuid.uuid4().hex}"
    call = await ring(world, assignee=who, external_id=external)
    call["externalCallId"] = external
    await as_user(world, who, ANSWER, {"c": call["id"]})
    if record:
        await as_user(world, who, RECORD, {"c": call["id"]})
    return call


async def test_a_reported_recording_is_served_to_those_who_may_see_the_call(call_world):
    call = await _answered(call_world, "agent_self", record=True)
    # not before the call ended: the provider has no file yet
    errors = await errors_of(
        call_world,
        "integration",
        REPORT_RECORDING,
        {
            "i": {
                "channelId": call_world.channel_ids["WHATSAPP"],
                "externalCallId": call["externalCallId"],
                "url": URL,
            }
        },
    )
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["status"] == "ONGOING"
    ended = (await as_user(call_world, "agent_self", END, {"c": call["id"]}))["endCall"]
    assert ended["recording"]["state"] == "READY" and ended["recording"]["url"] is None

    seers = {
        who: await subscribe(call_world.served, call_world.tokens[who], CALL_UPDATED)
        for who in ("agent_self", "agent_team", "agent_beta")
    }
    try:
        reported = await _report(call_world, call, url=URL)
        assert reported["recording"] == {
            "state": "READY",
            "id": ended["recording"]["id"],
            "url": URL,
        }
        for who in ("agent_self", "agent_team"):  # the contact's assignee, and their team
            pushed = (await seers[who].next())["data"]["callUpdated"]
            assert (pushed["id"], pushed["recording"]["url"]) == (call["id"], URL)
        await seers["agent_beta"].nothing(within=0.5)  # another team's agent
        # the connector retries: nothing changes, nobody is told again
        assert await _report(call_world, call, url=URL) == reported
        await seers["agent_self"].nothing(within=0.5)
    finally:
        for subscription in seers.values():
            await subscription.close()
    assert await call_as_owner(call_world, call["id"]) == reported
    seen = await as_user(call_world, "agent_self", NODE_CALL, {"id": call["id"]})
    assert seen["node"]["recording"]["url"] == URL
    # whoever may not see the call finds no trace of the URL
    for who in ("agent_beta", "agent_free"):
        assert (await as_user(call_world, who, NODE_CALL, {"id": call["id"]}))["node"] is None
    log = await as_user(call_world, "agent_beta", CALL_LOG)
    assert call["id"] not in [e["node"]["id"] for e in log["calls"]["edges"]]
    assert URL not in str(log)


async def test_a_recording_made_unasked_or_failed(call_world):
    unasked = await _answered(call_world, "agent_all", record=False)
    await as_user(call_world, "agent_all", END, {"c": unasked["id"]})
    reported = await _report(call_world, unasked, url=URL)
    assert reported["recording"]["state"] == "READY" and reported["recording"]["id"]
    assert reported["recording"]["url"] == URL

    failed = await _answered(call_world, "agent_all", record=True)
    await as_user(call_world, "agent_all", END, {"c": failed["id"]})
    gone = await _report(call_world, failed, failed=True)
    assert gone["recording"]["state"] == "FAILED" and gone["recording"]["url"] is None


async def test_a_bad_recording_report_gives_a_coded_error_and_changes_nothing(call_world):
    call = await _answered(call_world, "agent_all", record=True)
    await as_user(call_world, "agent_all", END, {"c": call["id"]})
    before = await call_as_owner(call_world, call["id"])
    for extra in (
        {"url": "http://media.example.test/a.mp3"},
        {"url": "ftp://media.example.test/a.mp3"},
        {"url": "recordings/a.mp3"},
        {"url": "https://media.example.test/" + "a" * 2100},
        {},
        {"url": URL, "failed": True},
    ):
        errors = await errors_of(
            call_world,
            "integration",
            REPORT_RECORDING,
            {
                "i": {
                    "channelId": call_world.channel_ids["WHATSAPP"],
                    "externalCallId": call["externalCallId"],
                    **extra,
                }
            },
        )
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", extra
        assert errors[0]["extensions"]["field"] == "url", extra
    # a call that never connected has no recording
    missed = await ring(call_world, external_id="rec-missed")
    await as_user(
        call_world,
        "owner",
        "mutation($c: ID!) { declineCall(callId: $c) { id } }",
        {"c": missed["id"]},
    )
    errors = await errors_of(
        call_world,
        "integration",
        REPORT_RECORDING,
        {
            "i": {
                "channelId": call_world.channel_ids["WHATSAPP"],
                "externalCallId": "rec-missed",
                "url": URL,
            }
        },
    )
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert errors[0]["extensions"]["status"] == "DECLINED"
    # an agent is no connector
    errors = await errors_of(
        call_world,
        "agent_all",
        REPORT_RECORDING,
        {"i": {"channelId": call_world.channel_ids["WHATSAPP"], "callId": call["id"], "url": URL}},
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await call_as_owner(call_world, call["id"]) == before


@pytest.mark.skipif(
    not ON_POSTGRES, reason="row locks: SQLite's one writer (BEGIN IMMEDIATE) orders them anyway"
)
async def test_a_recording_started_while_the_call_ends_waits_for_the_end(call_world):
    """``endCall`` locks the contact, reads the recording state to plan the end, then ends the
    call. ``startCallRecording`` took no lock: started meanwhile, it committed RECORDING, and
    the call ended with a recording that would never be READY (a helper's review). It now waits
    for the contact's lock, then finds the call ended: CONFLICT, nothing recorded."""
    call = await _answered(call_world, "agent_team", record=False)
    call_pk = decode_id(call["id"], "Call")
    async with served_database(call_world.served):
        viewer = await viewer_for_token(call_world.tokens["agent_team"])
        outside = contextvars.copy_context()  # not the ending transaction's connection
        async with in_transaction() as ending:
            row = await Call.get(id=call_pk).using_db(ending)
            await Contact.filter(id=row.contact_id).using_db(ending).select_for_update().first()
            recording = asyncio.create_task(
                call_resolvers.start_call_recording(None, viewer, call_pk), context=outside
            )
            await asyncio.sleep(0.5)
            assert not recording.done(), "the recording did not wait for the contact's lock"
            await (
                Call.filter(id=call_pk)
                .using_db(ending)
                .update(status=CallStatus.ENDED, ended_at=datetime.now(UTC), ongoing_user_id=None)
            )
        with pytest.raises(Conflict) as refused:
            await recording
        assert refused.value.extensions["status"] == "ENDED"
    seen = await call_as_owner(call_world, call["id"])
    assert seen["status"] == "ENDED" and seen["recording"] is None

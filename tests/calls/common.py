"""Helpers of the call tests (``domain.md`` section 5): a world with call access and a VoIP
channel, ringing calls from new numbers, and the operations as a user would send them."""

from __future__ import annotations

import random
from typing import Any

from tests.conftest import ASSIGN, RECEIVE
from tests.support import new_number

CALL_FIELDS = """
  id status direction fromNumber toNumber ringingAt answeredAt endedAt durationSeconds
  answeredBy { id name }
  recording { state id url }
  channel { id type name }
  contact { id name phone assignee { id } }
"""

RECEIVE_CALL = f"mutation($i: ReceiveCallInput!) {{ receiveCall(input: $i) {{ {CALL_FIELDS} }} }}"
REPORT_ENDED = (
    f"mutation($i: ReportCallEndedInput!) {{ reportCallEnded(input: $i) {{ {CALL_FIELDS} }} }}"
)
ANSWER = f"mutation($c: ID!) {{ answerCall(callId: $c) {{ {CALL_FIELDS} }} }}"
DECLINE = f"mutation($c: ID!) {{ declineCall(callId: $c) {{ {CALL_FIELDS} }} }}"
END = f"mutation($c: ID!) {{ endCall(callId: $c) {{ {CALL_FIELDS} }} }}"
RECORD = f"mutation($c: ID!) {{ startCallRecording(callId: $c) {{ {CALL_FIELDS} }} }}"
REPORT_ANSWERED = f"mutation($i: ReportCallAnsweredInput!) {{ reportCallAnswered(input: $i) {{ {CALL_FIELDS} }} }}"
REPORT_DECLINED = f"mutation($i: ReportCallDeclinedInput!) {{ reportCallDeclined(input: $i) {{ {CALL_FIELDS} }} }}"
REPORT_RECORDING = f"mutation($i: ReportCallRecordingInput!) {{ reportCallRecording(input: $i) {{ {CALL_FIELDS} }} }}"
ACTIVE = f"{{ activeCall {{ {CALL_FIELDS} }} }}"
PLACE = f"mutation($c: ID!, $ch: ID!) {{ placeCall(contactId: $c, channelId: $ch) {{ {CALL_FIELDS} }} }}"
INCOMING = f"query($t: IncomingCallTab) {{ incomingCalls(tab: $t) {{ {CALL_FIELDS} }} }}"
NODE_CALL = f"query($id: ID!) {{ node(id: $id) {{ ... on Call {{ {CALL_FIELDS} }} }} }}"
TIMELINE = """query($id: ID!) { node(id: $id) { ... on Conversation {
  timeline(first: 100) { edges { node { ... on Activity { kind author { id } assignee { id } } } } } } } }"""

# the VoIP channel's own number (its calls are made from and to it)
VOIP_NUMBER = "+44 20 7946 0000"
VOIP_E164 = "+442079460000"

# who gets call access in the call tests (agent_free stays without it)
CALLERS = ("manager", "agent_all", "agent_team", "agent_self", "agent_beta")


async def grant_call_access(world) -> None:
    """Give the world's callers call access and connect a VoIP channel (once per module)."""
    if "VOIP" in world.channel_ids:
        return
    owner = world.client("owner")
    for name in CALLERS:
        await owner(
            "mutation($u: ID!) { updateUser(id: $u, input: {hasCallAccess: true}) { id } }",
            {"u": world.user_ids[name]},
        )
    data = await owner(
        'mutation($n: String) { connectChannel(type: VOIP, name: "Main line", phoneNumber: $n) { id } }',
        {"n": VOIP_NUMBER},
    )
    world.channel_ids["VOIP"] = data["connectChannel"]["id"]
    await owner.aclose()


async def ring(
    world,
    *,
    assignee: str | None = None,
    channel: str = "WHATSAPP",
    number: str | None = None,
    external_id: str | None = None,
    **extra: Any,
) -> dict:
    """A new ringing inbound call (integration token), from a new contact unless ``number``
    is known; the caller is then assigned to ``assignee`` (owner)."""
    number = number or new_number()
    integration = world.client("integration")
    try:
        data = await integration(
            RECEIVE_CALL,
            {
                "i": {
                    "channelId": world.channel_ids[channel],
                    "from": number,
                    "externalCallId": external_id or f"wacid.{number}.{random.random()}",
                    **extra,
                }
            },
        )
    finally:
        await integration.aclose()
    call = data["receiveCall"]
    if assignee is not None:
        owner = world.client("owner")
        await owner(ASSIGN, {"c": call["contact"]["id"], "a": world.user_ids[assignee]})
        await owner.aclose()
    return call


async def as_user(world, who: str, query: str, variables: dict[str, Any] | None = None) -> dict:
    """``data`` of one operation sent as ``who`` (raises GraphQLError on errors)."""
    client = world.client(who)
    try:
        return await client(query, variables)
    finally:
        await client.aclose()


async def errors_of(
    world, who: str, query: str, variables: dict[str, Any] | None = None
) -> list[dict]:
    """The errors of one operation sent as ``who`` (asserts there are some)."""
    client = world.client(who)
    try:
        body = await client.execute(query, variables)
    finally:
        await client.aclose()
    assert body.get("errors"), f"expected an error, got {body}"
    return body["errors"]


async def call_as_owner(world, call_id: str) -> dict:
    """The call as the owner sees it now."""
    return (await as_user(world, "owner", NODE_CALL, {"id": call_id}))["node"]


async def ring_with_conversation(world, **kwargs: Any) -> tuple[dict, str]:
    """Like :func:`ring`, from a new contact who first wrote on WhatsApp, so the contact has
    an open conversation whose timeline shows the activities; returns the call and the
    conversation id."""
    number = new_number()
    integration = world.client("integration")
    try:
        data = await integration(
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": number,
                    "externalMessageId": f"wamid.{number}.{random.random()}",
                    "text": "Calling you now",
                }
            },
        )
    finally:
        await integration.aclose()
    call = await ring(world, number=number, **kwargs)
    assert call["contact"]["id"] == data["receiveMessage"]["contact"]["id"]
    return call, data["receiveMessage"]["conversation"]["id"]


async def activity_kinds(world, conversation_id: str) -> list[tuple[str, str | None]]:
    """``(kind, assignee id)`` of the activities on a conversation's timeline, oldest first."""
    data = await as_user(world, "owner", TIMELINE, {"id": conversation_id})
    return [
        (edge["node"]["kind"], (edge["node"].get("assignee") or {}).get("id"))
        for edge in data["node"]["timeline"]["edges"]
        if edge["node"]
    ]


async def far_end(world, mutation: str, call: dict, channel: str = "VOIP", **extra: Any) -> dict:
    """What a connector reports about an outbound ``call`` (the integration token names it by
    its ``callId``): the call as the mutation returns it."""
    data = await as_user(
        world,
        "integration",
        mutation,
        {"i": {"channelId": world.channel_ids[channel], "callId": call["id"], **extra}},
    )
    return next(iter(data.values()))


async def place_answered(world, who: str, contact_id: str, channel: str = "VOIP") -> dict:
    """An outbound call ``who`` placed to ``contact_id``, which the contact picked up
    (``ONGOING``)."""
    placed = (
        await as_user(world, who, PLACE, {"c": contact_id, "ch": world.channel_ids[channel]})
    )["placeCall"]
    return await far_end(world, REPORT_ANSWERED, placed, channel)

"""Responses obey the visibility policy, and nobody grants themself anything (issue 17,
parts 4 and 5; ``domain.md`` section 1): a manager who may not view blocked contacts ingests
a blocked contact's messages and calls and gets ids only; managers grant nothing they do not
hold, and nobody changes their own role or permissions."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import PASSWORD, login
from tests.support import Client, new_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECEIVE = """mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) {
  duplicate messageId conversationId contactId
  message { id text conversation { contact { name } } }
  conversation { id contact { name } timeline(first: 10) { edges { node { __typename } } } }
  contact { id name phone activities(first: 10) { edges { node { text } } } } } }"""
CALL_FIELDS = "id status contactId fromNumber toNumber recording { state }"
RECEIVE_CALL = f"mutation($i: ReceiveCallInput!) {{ receiveCall(input: $i) {{ {CALL_FIELDS} }} }}"
REPORT_ENDED = (
    f"mutation($i: ReportCallEndedInput!) {{ reportCallEnded(input: $i) {{ {CALL_FIELDS} }} }}"
)
CREATE_USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { id role canViewBlockedContacts hasCallAccess } }"
UPDATE_USER = """mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) {
  id name role contactVisibility canViewBlockedContacts hasCallAccess canEditContacts } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def new_user(world, role: str, **extra) -> tuple[str, Client]:
    """A teammate made by the owner, and a client logged in as them."""
    email = f"{role.lower()}-{uuid.uuid4().hex[:8]}@{world.domain}"
    owner = world.client("owner")
    try:
        created = await owner(
            CREATE_USER,
            {
                "i": {
                    "email": email,
                    "name": f"New {role.title()}",
                    "password": PASSWORD,
                    "role": role,
                    **extra,
                }
            },
        )
    finally:
        await owner.aclose()
    return created["createUser"]["id"], Client(
        world.served, await login(world.served, email, PASSWORD)
    )


def refusal(body: dict) -> dict:
    """The extensions of a response's only error."""
    assert body.get("errors") and len(body["errors"]) == 1, body
    return body["errors"][0]["extensions"]


async def test_blocked_contact_ingestion_answers_a_manager_without_the_permission_ids_only(world):
    _, manager = await new_user(world, "MANAGER", hasCallAccess=True, canViewBlockedContacts=False)
    owner = world.client("owner")
    number = new_number()
    first = {
        "channelId": world.channel_ids["WHATSAPP"],
        "from": number,
        "externalMessageId": uuid.uuid4().hex,
        "text": "first words",
        "firstName": "Blocked",
    }
    try:
        seeded = (await owner(RECEIVE, {"i": first}))["receiveMessage"]
        contact_id = seeded["contactId"]
        assert seeded["contact"]["name"] == "Blocked"
        await owner(
            "mutation($c: ID!, $t: String!) { addComment(contactId: $c, text: $t) { id } }",
            {"c": contact_id, "t": "internal: do not show"},
        )
        await owner("mutation($c: ID!) { blockContact(contactId: $c) { id } }", {"c": contact_id})
        assert (await manager(NODE, {"id": contact_id}))["node"] is None

        # a new message, then its duplicate: ids only
        later = {**first, "externalMessageId": uuid.uuid4().hex, "text": "more words"}
        for variables, duplicate in (
            ({"i": later}, False),
            ({"i": later}, True),
            ({"i": first}, True),
        ):
            answer = (await manager(RECEIVE, variables))["receiveMessage"]
            assert answer["duplicate"] is duplicate
            assert (
                answer["contactId"] == contact_id
                and answer["messageId"]
                and answer["conversationId"]
            )
            assert answer["message"] is answer["conversation"] is answer["contact"] is None, answer

        # calls: no numbers or recording, and the contact does not exist for them
        call_input = {
            "channelId": world.channel_ids["WHATSAPP"],
            "from": number,
            "externalCallId": f"wacid.{uuid.uuid4().hex}",
        }
        for document, name, variables in (
            (RECEIVE_CALL, "receiveCall", call_input),
            (RECEIVE_CALL, "receiveCall", call_input),
            (
                REPORT_ENDED,
                "reportCallEnded",
                {k: call_input[k] for k in ("channelId", "externalCallId")},
            ),
        ):
            call = (await manager(document, {"i": variables}))[name]
            assert call["contactId"] == contact_id and call["id"]
            assert call["fromNumber"] is None and call["toNumber"] is None, call
            assert (await manager(NODE, {"id": call["id"]}))["node"] is None
            with_contact = document.replace("recording { state }", "contact { id name phone }")
            body = await manager.execute(with_contact, {"i": variables})
            assert body["data"] is None and body["errors"][0]["path"] == [name, "contact"], body
            assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], body

        # the owner, who may view blocked contacts, gets everything
        whole = (await owner(RECEIVE, {"i": later}))["receiveMessage"]
        assert whole["contact"]["name"] == "Blocked" and whole["message"]["text"] == "more words"
        # and an unblocked contact's ingestion answers the manager in full
        open_input = {**first, "from": new_number(), "externalMessageId": uuid.uuid4().hex}
        visible = (await manager(RECEIVE, {"i": open_input}))["receiveMessage"]
        assert (
            visible["contact"]["id"] == visible["contactId"]
            and visible["message"]["text"] == "first words"
        )
    finally:
        await manager.aclose()
        await owner.aclose()


async def test_nobody_changes_their_own_role_or_permissions(world):
    manager_id, manager = await new_user(world, "MANAGER")
    owner = world.client("owner")
    try:
        for field, value in (
            ("canViewBlockedContacts", True),
            ("hasCallAccess", True),
            ("role", "AGENT"),
            ("canEditContacts", False),
            ("contactVisibility", "SELF"),
        ):
            body = await manager.execute(UPDATE_USER, {"id": manager_id, "i": {field: value}})
            assert refusal(body) == {
                "code": "FORBIDDEN",
                "field": field,
                "inputPath": ["input", field],
            }, body
        # the same values, or a name, are no change of permission
        same = await manager(
            UPDATE_USER,
            {
                "id": manager_id,
                "i": {
                    "name": "Renamed Manager",
                    "role": "MANAGER",
                    "canViewBlockedContacts": False,
                },
            },
        )
        assert same["updateUser"]["name"] == "Renamed Manager"
        # an owner neither
        body = await owner.execute(
            UPDATE_USER, {"id": world.user_ids["owner"], "i": {"hasCallAccess": False}}
        )
        assert refusal(body) == {
            "code": "FORBIDDEN",
            "field": "hasCallAccess",
            "inputPath": ["input", "hasCallAccess"],
        }
        me = await manager("{ me { role canViewBlockedContacts hasCallAccess } }")
        assert me["me"] == {
            "role": "MANAGER",
            "canViewBlockedContacts": False,
            "hasCallAccess": False,
        }
    finally:
        await manager.aclose()
        await owner.aclose()


async def test_managers_grant_nothing_they_do_not_hold(world):
    _, manager = await new_user(world, "MANAGER", hasCallAccess=False, canViewBlockedContacts=False)
    agent_id, agent = await new_user(world, "AGENT", canViewBlockedContacts=True)
    owner = world.client("owner")
    admin_token = await manager(
        'mutation { createAccessToken(name: "m", scopes: [ADMIN]) { token } }'
    )
    through_token = Client(world.served, admin_token["createAccessToken"]["token"])
    try:
        for client in (manager, through_token):  # a token holds no more than its user
            for extra, field in (
                ({"canViewBlockedContacts": True}, "canViewBlockedContacts"),
                ({"hasCallAccess": True}, "hasCallAccess"),
                ({"role": "OWNER"}, None),
            ):
                email = f"refused-{uuid.uuid4().hex[:8]}@{world.domain}"
                body = await client.execute(
                    CREATE_USER,
                    {"i": {"email": email, "name": "Refused", "password": PASSWORD, **extra}},
                )
                extensions = refusal(body)
                assert extensions["code"] == "FORBIDDEN" and extensions.get("field") == field, body
                users = await owner("{ users { email } }")
                assert email not in {u["email"] for u in users["users"]}, (
                    "a refused user was created"
                )
            body = await client.execute(
                UPDATE_USER,
                {"id": world.user_ids["agent_free"], "i": {"canViewBlockedContacts": True}},
            )
            assert refusal(body) == {
                "code": "FORBIDDEN",
                "field": "canViewBlockedContacts",
                "inputPath": ["input", "canViewBlockedContacts"],
            }

        # what they hold, they grant; withdrawing is no grant; their own rank is theirs to give
        plain = await manager(
            CREATE_USER,
            {
                "i": {
                    "email": f"peer-{uuid.uuid4().hex[:8]}@{world.domain}",
                    "name": "Peer",
                    "password": PASSWORD,
                    "role": "MANAGER",
                }
            },
        )
        assert (
            plain["createUser"]["role"] == "MANAGER"
            and plain["createUser"]["canViewBlockedContacts"] is False
        )
        withdrawn = await manager(
            UPDATE_USER, {"id": agent_id, "i": {"canViewBlockedContacts": False}}
        )
        assert withdrawn["updateUser"]["canViewBlockedContacts"] is False
        _, caller = await new_user(world, "MANAGER", hasCallAccess=True)
        granted = await caller(UPDATE_USER, {"id": agent_id, "i": {"hasCallAccess": True}})
        assert granted["updateUser"]["hasCallAccess"] is True
        await caller.aclose()
        # owners grant anything
        assert (await owner(UPDATE_USER, {"id": agent_id, "i": {"canViewBlockedContacts": True}}))[
            "updateUser"
        ]["canViewBlockedContacts"] is True
    finally:
        for client in (manager, agent, owner, through_token):
            await client.aclose()

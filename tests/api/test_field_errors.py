"""Errors people can act on (issue 19, part 6): every invalid field of an input is reported at
once, one GraphQL error per field, each with ``extensions.code``, ``extensions.field`` and
``extensions.inputPath`` (the path from the argument, in the API's names), and nothing
changes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.calls.common import grant_call_access
from tests.support import Client, global_id

UPDATE_CONTACT = """mutation($i: UpdateContactInput!) {
  updateContact(input: $i) { id email countryCode } }"""
CREATE_INBOX = """mutation($i: CustomInboxInput!) { createCustomInbox(input: $i) { id } }"""
CREATE_USER = """mutation($i: CreateUserInput!) { createUser(input: $i) { id } }"""
UPDATE_USER = (
    """mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id name } }"""
)
RECEIVE = """mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { duplicate } }"""


async def field_errors(client: Client, query: str, variables: dict[str, Any]) -> list[dict]:
    """``(code, field, inputPath)`` of each error of an operation that must fail as a whole."""
    body = await client.execute(query, variables)
    assert body.get("data") is None, body
    errors = body["errors"]
    # one error per field
    assert len({e["extensions"]["field"] for e in errors}) == len(errors)
    return [
        (e["extensions"]["code"], e["extensions"]["field"], e["extensions"]["inputPath"])
        for e in errors
    ]


async def test_update_contact_names_every_bad_field_and_changes_nothing(world) -> None:
    owner = world.client("owner")
    try:
        contact = world.contact_ids["c_free"]
        before = await owner(
            "query($id: ID!) { contact(id: $id) { firstName email countryCode language } }",
            {"id": contact},
        )
        found = await field_errors(
            owner,
            UPDATE_CONTACT,
            {
                "i": {
                    "contactId": contact,
                    "firstName": "Ada",
                    "email": "not an address",
                    "countryCode": "XX",
                    "language": "!!",
                }
            },
        )
        assert sorted(found) == [
            ("BAD_USER_INPUT", "countryCode", ["input", "countryCode"]),
            ("BAD_USER_INPUT", "email", ["input", "email"]),
            ("BAD_USER_INPUT", "language", ["input", "language"]),
        ]
        after = await owner(
            "query($id: ID!) { contact(id: $id) { firstName email countryCode language } }",
            {"id": contact},
        )
        assert after == before
    finally:
        await owner.aclose()


async def test_a_custom_inbox_filter_names_its_bad_conditions_in_the_apis_words(world) -> None:
    owner = world.client("owner")
    try:
        found = await field_errors(
            owner,
            CREATE_INBOX,
            {
                "i": {
                    "name": "",
                    "filter": {
                        "all": [
                            {"countryCodes": ["XX"]},
                            {"languages": ["!!"]},
                            {"channelIds": ["not an id"]},
                        ]
                    },
                }
            },
        )
        assert found == [
            (
                "BAD_USER_INPUT",
                "filter.all[2].channelIds",
                ["input", "filter", "all", 2, "channelIds"],
            ),
            ("BAD_USER_INPUT", "name", ["input", "name"]),
            (
                "BAD_USER_INPUT",
                "filter.all[0].countryCodes",
                ["input", "filter", "all", 0, "countryCodes"],
            ),
            (
                "BAD_USER_INPUT",
                "filter.all[1].languages",
                ["input", "filter", "all", 1, "languages"],
            ),
        ]
        mine = await owner("{ customInboxes(ownership: BY_ME) { id } }")
        assert mine["customInboxes"] == []
    finally:
        await owner.aclose()


async def test_create_and_update_user_name_every_bad_field(world) -> None:
    owner = world.client("owner")
    try:
        email = f"{uuid.uuid4().hex[:8]}@{world.domain}"
        found = await field_errors(
            owner,
            CREATE_USER,
            {
                "i": {
                    "email": email.replace("@", " at "),
                    "name": " ",
                    "password": "short",
                    "teamIds": ["not an id"],
                }
            },
        )
        assert sorted(found) == [
            ("BAD_USER_INPUT", "email", ["input", "email"]),
            ("BAD_USER_INPUT", "name", ["input", "name"]),
            ("BAD_USER_INPUT", "password", ["input", "password"]),
            ("BAD_USER_INPUT", "teamIds", ["input", "teamIds"]),
        ]
        found = await field_errors(
            owner,
            UPDATE_USER,
            {"id": world.user_ids["agent_free"], "i": {"name": "x" * 500, "teamIds": ["nope"]}},
        )
        assert sorted(found) == [
            ("BAD_USER_INPUT", "name", ["input", "name"]),
            ("BAD_USER_INPUT", "teamIds", ["input", "teamIds"]),
        ]
        users = await owner("{ users { name email } }")
        assert "Agent Free" in {u["name"] for u in users["users"]}
        assert all(u["email"] != email for u in users["users"])
    finally:
        await owner.aclose()


async def test_ingestion_names_every_bad_field(world) -> None:
    integration = world.client("integration")
    try:
        found = await field_errors(
            integration,
            RECEIVE,
            {
                "i": {
                    "channelId": world.channel_ids["WHATSAPP"],
                    "from": "not a number",
                    "externalMessageId": "",
                    "text": "Hello",
                    "firstName": "y" * 200,
                }
            },
        )
        assert sorted(found) == [
            ("BAD_USER_INPUT", "externalMessageId", ["input", "externalMessageId"]),
            ("BAD_USER_INPUT", "firstName", ["input", "firstName"]),
            ("BAD_USER_INPUT", "from", ["input", "from"]),
        ]
    finally:
        await integration.aclose()


async def test_a_single_bad_field_is_one_error_with_its_path(world) -> None:
    owner = world.client("owner")
    try:
        found = await field_errors(
            owner,
            UPDATE_CONTACT,
            {"i": {"contactId": world.contact_ids["c_free"], "countryCode": "XX"}},
        )
        assert found == [("BAD_USER_INPUT", "countryCode", ["input", "countryCode"])]
        found = await field_errors(
            owner, '{ conversations(inbox: {teamId: "nope"}) { totalCount } }', {}
        )
        assert found == [("BAD_USER_INPUT", "inbox.teamId", ["inbox", "teamId"])]
    finally:
        await owner.aclose()


async def test_replies_teams_and_tokens_name_every_bad_field(world) -> None:
    owner = world.client("owner")
    try:
        found = await field_errors(
            owner,
            """mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } } }""",
            {"i": {"contactId": world.contact_ids["c_none"], "text": " ", "channelId": "nope"}},
        )
        assert found == [
            ("BAD_USER_INPUT", "channelId", ["input", "channelId"]),
            ("BAD_USER_INPUT", "text", ["input", "text"]),
        ]
        found = await field_errors(
            owner,
            "mutation($n: String!, $m: [ID!]) { createTeam(name: $n, memberIds: $m) { id } }",
            {"n": "", "m": ["nope"]},
        )
        assert found == [
            ("BAD_USER_INPUT", "memberIds", ["memberIds"]),
            ("BAD_USER_INPUT", "name", ["name"]),
        ]
        found = await field_errors(
            owner,
            """mutation($n: String!, $e: DateTime) {
              createAccessToken(name: $n, scopes: [], expiresAt: $e) { token } }""",
            {"n": "", "e": "2001-01-01T00:00:00+00:00"},
        )
        assert found == [
            ("BAD_USER_INPUT", "name", ["name"]),
            ("BAD_USER_INPUT", "scopes", ["scopes"]),
            ("BAD_USER_INPUT", "expiresAt", ["expiresAt"]),
        ]
        teams = await owner("{ teams { name } }")
        assert "" not in {t["name"] for t in teams["teams"]}
    finally:
        await owner.aclose()


async def test_change_password_names_a_wrong_current_and_a_short_new_password(world) -> None:
    client = world.client("agent_beta")
    try:
        found = await field_errors(
            client,
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            {"c": "not my password", "n": "short"},
        )
        assert found == [
            ("BAD_USER_INPUT", "currentPassword", ["currentPassword"]),
            ("BAD_USER_INPUT", "newPassword", ["newPassword"]),
        ]
        assert (await client("{ me { id } }"))["me"]["id"] == world.user_ids["agent_beta"]
    finally:
        await client.aclose()


async def test_calls_comments_and_merges_name_every_bad_argument(world) -> None:
    await grant_call_access(world)
    unknown = global_id("Contact", 987654321)
    webchat = world.channel_ids["WEBCHAT"]
    agent, owner = world.client("agent_all"), world.client("owner")
    try:
        assert sorted(
            await field_errors(
                agent,
                "mutation($c: ID!, $ch: ID!) { placeCall(contactId: $c, channelId: $ch) { id } }",
                {"c": unknown, "ch": webchat},
            )
        ) == [
            ("BAD_USER_INPUT", "channelId", ["channelId"]),
            ("NOT_FOUND", "contactId", ["contactId"]),
        ]
        assert sorted(
            await field_errors(
                owner,
                "mutation($i: ReportCallEndedInput!) { reportCallEnded(input: $i) { id } }",
                {"i": {"channelId": webchat, "externalCallId": ""}},
            )
        ) == [
            ("BAD_USER_INPUT", "channelId", ["input", "channelId"]),
            ("BAD_USER_INPUT", "externalCallId", ["input", "externalCallId"]),
        ]
        assert sorted(
            await field_errors(
                agent,
                'mutation($c: ID!) { addComment(contactId: $c, text: "  ") { id } }',
                {"c": unknown},
            )
        ) == [
            ("BAD_USER_INPUT", "text", ["text"]),
            ("NOT_FOUND", "contactId", ["contactId"]),
        ]
        assert sorted(
            await field_errors(
                owner,
                "mutation($p: ID!, $s: ID!) { mergeContacts(primaryId: $p, secondaryId: $s) { id } }",
                {"p": unknown, "s": global_id("Contact", 987654322)},
            )
        ) == [
            ("NOT_FOUND", "primaryId", ["primaryId"]),
            ("NOT_FOUND", "secondaryId", ["secondaryId"]),
        ]
        free = world.contact_ids["c_free"]
        assert await field_errors(
            owner,
            "mutation($p: ID!) { mergeContacts(primaryId: $p, secondaryId: $p) { id } }",
            {"p": free},
        ) == [("BAD_USER_INPUT", "secondaryId", ["secondaryId"])]
        calls = await agent("{ calls(first: 100) { totalCount } }")
        assert calls["calls"]["totalCount"] == 0
    finally:
        await agent.aclose()
        await owner.aclose()

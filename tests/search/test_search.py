"""Search (issue 21, item 1) as a user types it: names by prefix and without accents, e-mails,
phone numbers in any format, message text; ranked, highlighted, paged; bad queries refused
with a coded error; the index follows every write at once."""

from __future__ import annotations

import pytest

from tests.support import RECEIVE, new_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTACTS = """query($q: String!, $first: Int, $after: String) {
  searchContacts(query: $q, first: $first, after: $after) {
    edges { cursor node { id firstName lastName email phone }
            highlights { field text matches { start length } } }
    pageInfo { hasNextPage endCursor } totalCount } }"""

MESSAGES = """query($q: String!, $first: Int, $after: String) {
  searchMessages(query: $q, first: $first, after: $after) {
    edges { node { id text conversation { id contact { id } } }
            highlights { field text matches { start length } } }
    pageInfo { hasNextPage endCursor } totalCount } }"""

BACKWARDS = """query($q: String!, $before: String) {
  searchContacts(query: $q, last: 1, before: $before) {
    edges { node { id } } pageInfo { hasPreviousPage startCursor } } }"""

UPDATE = "mutation($i: UpdateContactInput!) { updateContact(input: $i) { id } }"


def marked(highlight: dict) -> list[str]:
    """The marked stretches of a highlight's text (UTF-16 offsets; these texts are BMP-only)."""
    text = highlight["text"]
    return [text[m["start"] : m["start"] + m["length"]] for m in highlight["matches"]]


async def new_contact(world, first: str, last: str | None = None, **fields) -> str:
    integration = world.client("integration")
    owner = world.client("owner")
    data = await integration(
        RECEIVE,
        {
            "i": {
                "channelId": world.channel_ids["WEBCHAT"],
                "from": f"visitor-{first}-{new_number()}",
                "externalMessageId": new_number(),
                "text": fields.pop("text", "Bonjour"),
                "firstName": first,
            }
        },
    )
    contact_id = data["receiveMessage"]["contact"]["id"]
    if last or fields:
        await owner(UPDATE, {"i": {"contactId": contact_id, "lastName": last, **fields}})
    await integration.aclose()
    await owner.aclose()
    return contact_id


@pytest.fixture(scope="module")
async def people(world):
    phone = new_number()
    return {
        "elodie": await new_contact(
            world, "Élodie", "Dupont-Lefèvre", email="elodie.d@exemple.test", phone=phone
        ),
        "dupuis": await new_contact(world, "Marc", "Dupuis", email="marc@exemple.test"),
        "by_mail": await new_contact(world, "Agathe", "Roux", email="dupond.agathe@exemple.test"),
        "phone": phone,
        "message": await new_contact(
            world, "Noé", "Garnier", text="Ma commande n°4521 est arrivée abîmée, remboursement ?"
        ),
    }


async def test_names_by_prefix_without_accents_and_highlighted(world, people):
    owner = world.client("owner")
    for text in ("elodie", "ÉLO", "elo dup", "dupont lefevre", "Lefèvre"):
        edges = (await owner(CONTACTS, {"q": text}))["searchContacts"]["edges"]
        assert [e["node"]["id"] for e in edges] == [people["elodie"]], text
    edge = (await owner(CONTACTS, {"q": "elo lef"}))["searchContacts"]["edges"][0]
    name = next(h for h in edge["highlights"] if h["field"] == "NAME")
    assert name["text"] == "Élodie Dupont-Lefèvre"
    assert marked(name) == ["Élodie", "Lefèvre"]
    await owner.aclose()


async def test_a_name_match_ranks_before_an_email_match(world, people):
    owner = world.client("owner")
    page = (await owner(CONTACTS, {"q": "dup"}))["searchContacts"]
    ids = [e["node"]["id"] for e in page["edges"]]
    assert set(ids) == {people["elodie"], people["dupuis"], people["by_mail"]}
    assert ids[-1] == people["by_mail"], "an e-mail match ranks after name matches"
    email = page["edges"][-1]["highlights"]
    assert [(h["field"], marked(h)) for h in email] == [("EMAIL", ["dupond"])]
    assert page["totalCount"] == 3
    await owner.aclose()


async def test_pages_follow_each_other_without_repeats(world, people):
    owner = world.client("owner")
    seen, after = [], None
    while True:
        page = (await owner(CONTACTS, {"q": "dup", "first": 1, "after": after}))["searchContacts"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    whole = (await owner(CONTACTS, {"q": "dup"}))["searchContacts"]["edges"]
    assert seen == [e["node"]["id"] for e in whole]
    backwards, before = [], None
    while True:
        page = (await owner(BACKWARDS, {"q": "dup", "before": before}))["searchContacts"]
        backwards = [e["node"]["id"] for e in page["edges"]] + backwards
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backwards == seen
    await owner.aclose()


async def test_an_email_whole_or_in_part(world, people):
    owner = world.client("owner")
    for text in ("elodie.d@exemple.test", "ELODIE.D@", "elodie.d"):
        edges = (await owner(CONTACTS, {"q": text}))["searchContacts"]["edges"]
        assert [e["node"]["id"] for e in edges] == [people["elodie"]], text
    await owner.aclose()


async def test_a_phone_number_in_any_format_or_a_fragment(world, people):
    owner = world.client("owner")
    phone = people["phone"]  # +447400dddddd
    national = "0" + phone[3:]
    for text in (
        phone,
        phone[1:],
        f"+44 {phone[3:7]} {phone[7:]}",
        f"{national[:5]} {national[5:]}",
        f"({national[:5]}) {national[5:8]}-{national[8:]}",
        phone[3:10],
        phone[-6:],
    ):
        edges = (await owner(CONTACTS, {"q": text}))["searchContacts"]["edges"]
        assert people["elodie"] in [e["node"]["id"] for e in edges], text
    edge = next(
        e
        for e in (await owner(CONTACTS, {"q": phone[3:10]}))["searchContacts"]["edges"]
        if e["node"]["id"] == people["elodie"]
    )
    assert [(h["field"], h["text"], marked(h)) for h in edge["highlights"]] == [
        ("PHONE", phone, [phone[3:10]])
    ]
    await owner.aclose()


async def test_a_viewer_reading_masked_numbers_finds_by_a_whole_number_only(world, people):
    owner = world.client("owner")
    manager = world.client("manager")
    settings = (
        "mutation($m: Boolean!) { updateWorkspaceSettings(input: {phoneNumberMasking: $m}) "
        "{ phoneNumberMasking } }"
    )
    phone = people["phone"]
    await owner(settings, {"m": True})
    try:
        fragment = (await manager(CONTACTS, {"q": phone[-6:]}))["searchContacts"]["edges"]
        assert fragment == [], "a fragment would reveal masked digits"
        whole = (await manager(CONTACTS, {"q": phone}))["searchContacts"]["edges"]
        assert [e["node"]["id"] for e in whole] == [people["elodie"]]
        (highlight,) = whole[0]["highlights"]
        assert highlight["field"] == "PHONE"
        assert highlight["text"] == whole[0]["node"]["phone"] != phone
        assert "•" in highlight["text"] and highlight["matches"] == []
        owners = (await owner(CONTACTS, {"q": phone[-6:]}))["searchContacts"]["edges"]
        assert people["elodie"] in [e["node"]["id"] for e in owners]
    finally:
        await owner(settings, {"m": False})
    await owner.aclose()
    await manager.aclose()


async def test_messages_by_their_words_newest_first_with_a_snippet(world, people):
    owner = world.client("owner")
    edges = (await owner(MESSAGES, {"q": "abimee rembours"}))["searchMessages"]["edges"]
    assert len(edges) == 1
    assert edges[0]["node"]["conversation"]["contact"]["id"] == people["message"]
    (highlight,) = edges[0]["highlights"]
    assert highlight["field"] == "MESSAGE_TEXT"
    assert marked(highlight) == ["abîmée", "remboursement"]
    await owner.aclose()


async def test_a_long_message_is_cut_around_its_match(world, people):
    owner = world.client("owner")
    text = "début " * 60 + "Kilimandjaro " + "fin " * 60
    contact_id = await new_contact(world, "Long", text=text)
    edges = (await owner(MESSAGES, {"q": "kilimandjaro"}))["searchMessages"]["edges"]
    assert [e["node"]["conversation"]["contact"]["id"] for e in edges] == [contact_id]
    (highlight,) = edges[0]["highlights"]
    assert highlight["text"].startswith("…") and highlight["text"].endswith("…")
    assert len(highlight["text"]) < 200
    assert marked(highlight) == ["Kilimandjaro"]
    await owner.aclose()


async def test_the_index_follows_every_write_at_once(world, people):
    owner = world.client("owner")
    contact_id = await new_contact(world, "Quentin", "Ancien")
    assert len((await owner(CONTACTS, {"q": "ancien quentin"}))["searchContacts"]["edges"]) == 1
    await owner(UPDATE, {"i": {"contactId": contact_id, "lastName": "Nouveau"}})
    assert (await owner(CONTACTS, {"q": "ancien quentin"}))["searchContacts"]["edges"] == []
    edges = (await owner(CONTACTS, {"q": "nouveau quentin"}))["searchContacts"]["edges"]
    assert [e["node"]["id"] for e in edges] == [contact_id]
    reply = await owner(
        "mutation($c: ID!, $t: String!) { sendMessage(input: {contactId: $c, text: $t}) "
        "{ message { id } } }",
        {"c": contact_id, "t": "Votre xylophone arrive demain"},
    )
    found = (await owner(MESSAGES, {"q": "xylophone"}))["searchMessages"]["edges"]
    assert [e["node"]["id"] for e in found] == [reply["sendMessage"]["message"]["id"]]
    await owner.aclose()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "blank"),
        ("?!…", "no letter or digit"),
        ("ͺ", "a letter folded to a space"),
        ("x" * 201, "too long"),
        ("a b c d e f g h i", "too many words"),
        ("+0 1", "too few digits"),
    ],
)
async def test_a_refused_query_is_a_coded_field_error(world, people, text, why):
    owner = world.client("owner")
    for query in (CONTACTS, MESSAGES):
        body = await owner.execute(query, {"q": text})
        assert body["data"] is None, why
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", why
        assert error["extensions"]["field"] == "query", why
    await owner.aclose()


async def test_query_syntax_of_the_databases_is_plain_text(world, people):
    """What FTS5 or tsquery would read as operators is only text: no error, no 500."""
    owner = world.client("owner")
    # folding can make a word punctuation or a space ("⑴" gives "(1)", "ͺ" a space): a 500
    # on PostgreSQL ("syntax error in tsquery")
    texts = ('"elodie', "elodie OR marc", "elo* NEAR(x)", "dup & !marc | ':*", "a'b")
    for text in (*texts, "⑴", "a ͺ", "elodie ⑴ ͺ"):
        body = await owner.execute(CONTACTS, {"q": text})
        assert "errors" not in body, (text, body)
        body = await owner.execute(MESSAGES, {"q": text})
        assert "errors" not in body, (text, body)
    await owner.aclose()


async def test_an_erased_contact_is_found_by_nothing_it_held(world, people):
    """The right to erasure (issue 21, item 4) reaches the indexes in its transaction: neither
    the erased contact's name, e-mail, number nor its messages' words find anything."""
    owner = world.client("owner")
    phone = new_number()
    contact_id = await new_contact(
        world,
        "Zoltán",
        "Öblivion",
        email="zoltan.oblivion@exemple.test",
        phone=phone,
        text="Mon numéro de client est quetzalcoatl",
    )
    assert len((await owner(CONTACTS, {"q": "zoltan oblivion"}))["searchContacts"]["edges"]) == 1
    assert len((await owner(MESSAGES, {"q": "quetzalcoatl"}))["searchMessages"]["edges"]) == 1
    await owner("mutation($c: ID!) { eraseContact(contactId: $c) { id } }", {"c": contact_id})
    for text in ("zoltan", "oblivion", "zoltan.oblivion@exemple.test", phone, phone[3:10]):
        edges = (await owner(CONTACTS, {"q": text}))["searchContacts"]["edges"]
        assert contact_id not in [e["node"]["id"] for e in edges], text
    assert (await owner(MESSAGES, {"q": "quetzalcoatl"}))["searchMessages"]["edges"] == []
    await owner.aclose()

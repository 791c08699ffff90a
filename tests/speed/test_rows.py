"""Objects read from their rows (issue 23 item 1, ``graph.schema.rows``): a type's ``from_row``
keeps the row alone, and each plain field is read from the row when a document asks for it,
the same value whichever way it is read (the plans' and plain leaves' reads, an attribute).
The JSON of every screen through these reads is compared byte for byte in
``tests/speed/test_plain_leaves.py``, ``test_plans.py`` and ``test_screens.py``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import strawberry

from db import models as m
from graph.relay import to_global_id
from graph.resolvers.contact import display_name
from graph.schema import schema
from graph.schema.activity import Activity
from graph.schema.channel import Channel
from graph.schema.contact import Contact
from graph.schema.conversation import Conversation, Message
from graph.schema.direct import PLAIN_LEAF
from graph.schema.rows import SOURCE_READS, from_row
from graph.schema.user import Team, User


def at(minute: int) -> datetime:
    return datetime(2026, 12, 6, 20, minute, 5, 123456, tzinfo=UTC)


# every field of a row a value of its own, so that a field read from another column shows
ROWS = {
    Message: m.Message(
        id=11,
        conversation_id=3,
        channel_id=2,
        direction=m.MessageDirection.OUTBOUND,
        text="Bonjour",
        delivery_status=m.DeliveryStatus.FAILED,
        created_at=at(1),
        sent_at=at(2),
        delivered_at=at(3),
        read_at=at(4),
        failed_at=at(5),
        failure_reason="Number unreachable",
    ),
    Conversation: m.Conversation(
        id=3,
        workspace_id=1,
        contact_id=7,
        status=m.ConversationStatus.CLOSED,
        last_activity_at=at(6),
        opened_at=at(7),
        closed_at=at(8),
        closing_category="Billing",
        closing_summary="Refunded",
    ),
    Contact: m.Contact(
        id=7,
        workspace_id=1,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        country_code="FR",
        language="fr",
        blocked=True,
        created_at=at(9),
        erased_at=None,
    ),
    User: m.User(
        id=5,
        workspace_id=1,
        name="Grace",
        email="grace@inbox.test",
        role=m.Role.AGENT,
        is_active=False,
    ),
    Team: m.Team(id=4, workspace_id=1, name="Support"),
    Activity: m.Activity(
        id=9, contact_id=7, kind=m.ActivityKind.COMMENT, text="Called back", created_at=at(11)
    ),
    Channel: m.Channel(
        id=2, workspace_id=1, type=m.ChannelType.WHATSAPP, name="Sales", phone_number="+33612345678"
    ),
}

COMPUTED = {
    (Contact, "name"): display_name,
    (Channel, "supports_calls"): lambda row: row.type.supports_calls,
}


def expected(kind: type, name: str, row: m.Model) -> object:
    """What the field shows for ``row`` as the types' eager ``from_row`` copied it: the
    global id of ``id``, the computed fields' functions, else the row's attribute of the
    field's name."""
    if name == "id":
        return to_global_id(kind.__strawberry_definition__.name, row.id)
    computed = COMPUTED.get((kind, name))
    return computed(row) if computed else getattr(row, name)


def plain_fields(kind: type) -> list[str]:
    return [
        f.python_name
        for f in kind.__strawberry_definition__.fields
        if f.base_resolver is None and f.python_name != "row"
    ]


@pytest.mark.parametrize("kind", list(ROWS), ids=lambda k: k.__name__)
def test_an_object_keeps_its_row_and_reads_each_field_from_it_when_asked(kind: type) -> None:
    row = ROWS[kind]
    built = kind.from_row(row)
    assert vars(built) == {"row": row}, "from_row copies nothing until a field is read"
    names = plain_fields(kind)
    assert set(getattr(kind, SOURCE_READS)) == set(names)
    for name in names:
        # the reads of selection plans and plain leaves: straight from the row (not through
        # the object's attribute: a call more per field)
        read, _, _ = (
            schema._schema.type_map[kind.__strawberry_definition__.name]
            .fields[schema.config.name_converter.apply_naming_config(name)]
            .extensions[PLAIN_LEAF]
        )
        assert read is getattr(kind, SOURCE_READS)[name], name
        assert read(built) == expected(kind, name, row), name
    for name in names:
        # an attribute (graphql-core's default resolver, a resolver's self.<name>): the same
        assert getattr(built, name) == expected(kind, name, row), name
    assert vars(built) == {"row": row}


def test_every_type_built_from_its_rows_is_checked_here() -> None:
    origins = [
        getattr((graphql_type.extensions or {}).get("strawberry-definition"), "origin", None)
        for graphql_type in schema._schema.type_map.values()
    ]
    decorated = {origin for origin in origins if SOURCE_READS in getattr(origin, "__dict__", ())}
    assert decorated == set(ROWS)


def test_the_rows_fields_are_all_different() -> None:
    for kind, row in ROWS.items():
        shown = [expected(kind, name, row) for name in plain_fields(kind)]
        assert len({repr(value) for value in shown}) == len(shown), kind.__name__


def test_the_computed_fields_are_worked_out_from_their_rows() -> None:
    assert Contact.from_row(ROWS[Contact]).name == "Ada Lovelace"
    assert Channel.from_row(ROWS[Channel]).supports_calls is True
    assert Message.from_row(ROWS[Message]).id == to_global_id("Message", 11)


def test_an_object_holds_nothing_but_its_row() -> None:
    with pytest.raises(TypeError, match=r"Team\.from_row\(row\)"):
        Team(id="VGVhbTo0", row=ROWS[Team], name="Billing")
    team = Team.from_row(ROWS[Team])
    with pytest.raises(AttributeError, match="read from its row"):
        team.name = "Billing"
    assert team.name == "Support"


def test_a_computed_name_that_is_no_plain_field_is_refused() -> None:
    @strawberry.type
    class Thing:
        row: strawberry.Private[object]
        label: str

        @strawberry.field
        def shown(self) -> str:
            return "x"

    with pytest.raises(TypeError, match=r"no plain field \['shown'\]"):
        from_row(shown=lambda row: "y")(Thing)


def test_a_plain_field_with_a_default_is_refused() -> None:
    @strawberry.type
    class Thing:
        row: strawberry.Private[object]
        label: str = "never read"

    with pytest.raises(TypeError, match="Thing.label: a default is never read"):
        from_row()(Thing)

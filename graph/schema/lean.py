"""Lean reads (issue 23 item 1): the columns of a list's rows that none of a request's fields
read, left out of the statement that reads them.

An inbox list of 100 read every column of its conversations, their contacts, last messages
and the users those name: 70 columns a row, for SQLite to hand back (0.95 ms against 0.59
ms for the 40 the usual list reads) and for PostgreSQL's driver to decode. Here, per type,
the model's columns only some fields read (timestamps of a message's delivery, a
contact's phone, a user's e-mail...) and the type's fields that read none of them. A request
whose document (its operation and every fragment of its document) selects, on such a type,
only those fields, or none, reads its rows without those columns
(:func:`db.combined.read_joined`): they hold ``None`` there and are partial instances.

The rows go to the request's loaders as any read's do, and every field of the request may
meet them (another root field's contacts, a call's: ``Loader.fill`` keeps the first row of a
key); hence a whole document is looked at, not the list's own selection, and code that reads
rows of the contact, message or user loaders outside a field of their own type may read
only the columns not listed here (today: ``may_see``'s ``workspace_id``, ``assignee_id`` and
``blocked``): a field anywhere
in it (another root field, a fragment it does not spread, a field under ``@skip``) that may
read a left-out column keeps every column of its type. A field selected on an interface or a
union counts for each of its types. Adding a field to one of these types: it reads all
columns of its type until it is added to :data:`LEAN`'s fields, which it may join only when
its resolver (and ``from_row``'s use of it) reads none of the type's left-out columns.
``tests/speed/test_lean_reads.py`` checks that every list answers the same bytes as a server
reading every column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import TypeInfo, TypeInfoVisitor, Visitor, is_abstract_type, visit

from db import models as m
from graph.kept import KeptByIdentity

if TYPE_CHECKING:
    from collections.abc import Mapping

    from strawberry.types import Info
    from tortoise.models import Model


@dataclass(frozen=True)
class Lean:
    """Of a GraphQL object type: the columns of its ``model`` only some of its fields read,
    and its ``fields`` (GraphQL names) that read none of them."""

    model: type[Model]
    columns: frozenset[str]
    fields: frozenset[str]


LEAN: dict[str, Lean] = {
    "Conversation": Lean(
        m.Conversation,
        frozenset(
            {"closed_at", "closing_category", "closing_summary", "last_inbound_at", "opened_at"}
        ),
        frozenset({"id", "status", "lastActivityAt", "contact", "lastMessage"}),
    ),
    "Contact": Lean(
        m.Contact,
        frozenset(
            {
                "country_code",
                "created_at",
                "email_normalized",
                "erased_counts",
                "language",
                "phone",
                "updated_at",
            }
        ),
        frozenset({"id", "firstName", "lastName", "name", "email", "blocked", "assignee"}),
    ),
    "Message": Lean(
        m.Message,
        frozenset(
            {
                "delivered_at",
                "delivery_status",
                "external_message_id",
                "failed_at",
                "failure_reason",
                "read_at",
                "sent_at",
            }
        ),
        frozenset({"id", "direction", "text", "createdAt", "conversation", "channel", "author"}),
    ),
    "User": Lean(
        m.User,
        frozenset({"email", "password_hash", "created_at"}),
        frozenset({"id", "name", "role", "isActive"}),
    ),
}
"""Per GraphQL type: what a lean read leaves out of its model's rows, and the fields that
need none of it (every other field of the type may)."""

USERS: dict[str, tuple[type[Model], frozenset[str]]] = {
    "Contact": (m.Contact, frozenset({"assignee"})),
    "Message": (m.Message, frozenset({"author"})),
    "Activity": (m.Activity, frozenset({"author", "assignee", "mentions"})),
    "Call": (m.Call, frozenset({"answeredBy"})),
}
"""Per GraphQL type: its model, and its fields that read the users its rows name
(:data:`graph.loaders.USER_COLUMNS`: a contact's assignee, a message's author...). A document
selecting none of them on the type anywhere reads that model's rows in a list without those
users (:func:`unread_users`); a field that reads them all the same (a type missing here)
loads them through the ``user`` loader: the same answer, one statement more."""

ENABLED = True
"""Whether lists read lean rows (``INBOX_GRAPH_LEAN_READS``, set by
:func:`graph.app.create_app`); off, every column and the users of every row as before (the
same answers)."""

_FOUND: KeptByIdentity[tuple[Mapping[type[Model], frozenset[str]], frozenset[type[Model]]]] = (
    KeptByIdentity(256)
)


def _found(info: Info) -> tuple[Mapping[type[Model], frozenset[str]], frozenset[type[Model]]]:
    """:func:`unread_columns` and :func:`unread_users` of ``info``'s document, from one walk
    of it (its operation and every fragment), once per parsed operation."""
    raw = info._raw_info

    def found() -> tuple[Mapping[type[Model], frozenset[str]], frozenset[type[Model]]]:
        selected = _selected_fields(raw.schema, [raw.operation, *raw.fragments.values()])
        columns = {
            lean.model: lean.columns
            for name, lean in LEAN.items()
            if selected.get(name, set()) <= lean.fields
        }
        users = frozenset(
            model
            for name, (model, fields) in USERS.items()
            if not selected.get(name, set()) & fields
        )
        return columns, users

    return _FOUND.get((raw.operation,), found)


def unread_columns(info: Info) -> Mapping[type[Model], frozenset[str]]:
    """Per model, the columns none of the fields of ``info``'s document may read (the module
    docstring); empty when lean reads are off. Found once per parsed operation."""
    return _found(info)[0] if ENABLED else {}


def unread_users(info: Info) -> frozenset[type[Model]]:
    """The models whose rows' users (:data:`USERS`) none of the fields of ``info``'s document
    read (its operation and every fragment, as :func:`unread_columns` looks): a list reads
    such rows without joining the users they name (an inbox list that shows no last
    message's author: :meth:`graph.loaders.Loaders.read_with`). Empty when lean reads are
    off. Found once per parsed operation, with :func:`unread_columns`."""
    return _found(info)[1] if ENABLED else frozenset()


def _selected_fields(schema: Any, definitions: list[Any]) -> dict[str, set[str]]:
    """Per object type name, the fields the ``definitions`` (an operation, fragments) select
    on it (on an interface or union: on each of its types), ``__typename`` left out."""
    type_info = TypeInfo(schema)
    selected: dict[str, set[str]] = {}

    class Fields(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            name = node.name.value
            parent = type_info.get_parent_type()
            if name == "__typename" or parent is None:
                return
            types = schema.get_possible_types(parent) if is_abstract_type(parent) else [parent]
            for found in types:
                selected.setdefault(found.name, set()).add(name)

    visitor = TypeInfoVisitor(type_info, Fields())
    for definition in definitions:
        visit(definition, visitor)
    return selected


__all__ = ["ENABLED", "LEAN", "USERS", "Lean", "unread_columns", "unread_users"]

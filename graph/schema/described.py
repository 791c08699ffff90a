"""Descriptions for enums whose Python ``Enum`` lives with the models (``db.models``).

strawberry describes an enum member with ``strawberry.enum_value(description=...)`` inside
the class; the models' enums (``db.models.Role``, ``CallStatus`` …) are plain ``Enum``s that
the database layer uses without strawberry, so their GraphQL descriptions are given here, next
to the schema's declaration of the enum::

    Role = model_enum(
        m.Role,
        name="Role",
        description="A user's role in the workspace (domain.md, terms).",
        values={"OWNER": "…", "MANAGER": "…", "AGENT": "…"},
    )

Every member must be described, and only members: a missing or unknown name fails at import
(``tests/schema/test_descriptions.py`` checks the whole schema).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=Enum)

AFTER_SEQUENCE = (
    "Resume: the last `sequence` this client received (from any subscription). Events "
    "committed after it are replayed from the outbox first, then live ones follow; omitted, "
    "only events from now on. Older than the outbox keeps (INBOX_GRAPH_EVENT_RETENTION_SECONDS, "
    "24 h): HISTORY_PRUNED, reload the data and subscribe again (domain.md section 7)."
)
"""The description of every subscription's ``afterSequence`` argument."""


def model_enum(enum: type[E], *, name: str, description: str, values: dict[str, str]) -> type[E]:
    """``strawberry.enum(enum, name=..., description=...)`` with a description per member.

    Args:
        enum: the models' ``Enum`` class.
        name: the GraphQL name.
        description: the enum's description.
        values: each member's name and its description.

    Returns:
        ``enum``, registered with strawberry.

    Raises:
        ValueError: when ``values`` misses a member or names one the enum lacks.
    """
    wrapped = strawberry.enum(enum, name=name, description=description)
    definition = wrapped.__strawberry_definition__
    members = {value.name for value in definition.values}
    if members != set(values):
        raise ValueError(
            f"{name}: describe exactly its members; missing {sorted(members - set(values))}, "
            f"unknown {sorted(set(values) - members)}"
        )
    for value in definition.values:
        value.description = values[value.name]
    return wrapped


__all__ = ["AFTER_SEQUENCE", "model_enum"]

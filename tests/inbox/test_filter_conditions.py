"""The custom-inbox filter's conditions have one home (``graph/resolvers/filter_conditions.py``):
the schema's ``ConversationFilter`` input offers exactly its conditions, under their API names."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema

import graph.schema  # noqa: F401  (the schema package first: its modules import each other)
from graph.resolvers.filter_conditions import BY_ATTRIBUTE, BY_STORED, CONDITIONS
from graph.schema.inbox import ConversationFilter

GROUPS = ["all", "any"]


def test_conversation_filter_offers_exactly_the_registered_conditions():
    sdl = (Path(__file__).parents[2] / "schema.graphql").read_text()
    fields = list(build_schema(sdl).type_map["ConversationFilter"].fields)
    assert fields == GROUPS + [c.api_name for c in CONDITIONS]


def test_each_input_attribute_and_stored_name_names_one_condition():
    attributes = [f.python_name for f in ConversationFilter.__strawberry_definition__.fields]
    assert attributes == GROUPS + list(BY_ATTRIBUTE)
    assert len(BY_STORED) == len(BY_ATTRIBUTE) == len(CONDITIONS)
    assert not set(BY_STORED) & set(GROUPS)

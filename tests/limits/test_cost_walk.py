"""The actual cost (``graph/cost.py``) walks a response by selections compiled once per walk
(issue 23); it must count what the field-by-field walk of the requested cost counts over the
same response: the benchmark's operations and a client's shaped inbox list (aliases,
fragments, directives, a relation twice), over responses with every mix of nulls and list
lengths."""

from __future__ import annotations

import random

import pytest
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    InlineFragmentNode,
    get_named_type,
    is_leaf_type,
    parse,
)

import graph.cost
from bench.queries import CONVERSATIONS, SIDEBAR, TIMELINE, contact_panel_query
from graph.cost import find_operation, operation_cost, requested_cost
from graph.schema import schema
from tests.conversation.test_messages import SEND
from tests.speed.test_plain_leaves import SHAPED

DOCUMENTS = [SIDEBAR, CONVERSATIONS, TIMELINE, contact_panel_query(), SHAPED]


def fake(selection_set, parent, fragments, rng, depth=0):
    """A response object for ``selection_set`` on ``parent``: objects null or not, lists of
    0 to 4 items (a list of lists too), whatever the type conditions say."""
    found: dict = {}
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode | FragmentSpreadNode):
            if isinstance(selection, FragmentSpreadNode):
                selection = fragments[selection.name.value]
            condition = selection.type_condition
            target = schema._schema.get_type(condition.name.value) if condition else parent
            found.update(fake(selection.selection_set, target, fragments, rng, depth))
            continue
        assert isinstance(selection, FieldNode)
        key = selection.alias.value if selection.alias else selection.name.value
        field = getattr(parent, "fields", {}).get(selection.name.value)
        if field is None or selection.selection_set is None:
            found[key] = "leaf"
            continue
        named = get_named_type(field.type)
        if is_leaf_type(named):
            found[key] = "leaf"
            continue
        target = named if hasattr(named, "fields") else parent
        if rng.random() < 0.2 or depth > 6:
            found[key] = None
            continue
        type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        if isinstance(type_, GraphQLList):
            found[key] = [
                [fake(selection.selection_set, target, fragments, rng, depth + 1)]
                if rng.random() < 0.1
                else None
                if rng.random() < 0.1
                else fake(selection.selection_set, target, fragments, rng, depth + 1)
                for _ in range(rng.randrange(5))
            ]
        else:
            found[key] = fake(selection.selection_set, target, fragments, rng, depth + 1)
    return found


@pytest.mark.parametrize("text", DOCUMENTS, ids=["sidebar", "list", "timeline", "panel", "shaped"])
def test_the_compiled_walk_counts_as_the_field_by_field_walk(text, monkeypatch):
    document = parse(text)
    operation = find_operation(document, None)
    fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
    core = schema._schema
    rng = random.Random(23)
    costs = set()
    for _ in range(200):
        data = fake(operation.selection_set, core.query_type, fragments, rng)
        variables = {"first": rng.choice([None, 3, 100])}
        monkeypatch.setattr(graph.cost, "_COMPILED_ACTUAL_COST", True)
        compiled = operation_cost(core, document, operation, variables, data)
        monkeypatch.setattr(graph.cost, "_COMPILED_ACTUAL_COST", False)
        field_by_field = operation_cost(core, document, operation, variables, data)
        assert compiled == field_by_field, data
        costs.add(compiled)
    assert len(costs) > 10  # responses of many shapes, not one


DEEP = """query($id: ID!) { node(id: $id) { ... on Contact { id
  conversations(first: 2) { edges { node { contact { conversations { edges { node {
    contact { conversations { nodes { contact { assignee { id } } lastMessage { id } } } }
  } } } } } } } } } }"""


def odd(value, rng):
    """``value`` with some objects and list items made what no server writes but the walk
    must still count as the field-by-field walk does: a leaf text, a list of lists of lists,
    an empty dict, a dict subclass."""
    if isinstance(value, dict):
        found = {key: odd(item, rng) for key, item in value.items()}
        roll = rng.random()
        if roll < 0.05:
            return "text"
        if roll < 0.1:
            return {}
        if roll < 0.15:
            return type("Odd", (dict,), {})(found)
        return found
    if isinstance(value, list):
        found = [odd(item, rng) for item in value]
        return [[found]] if rng.random() < 0.1 else found
    return value


@pytest.mark.parametrize("inline_depth", [0, 1, 3, 8])
@pytest.mark.parametrize(
    "text", [*DOCUMENTS, DEEP], ids=["sidebar", "list", "timeline", "panel", "shaped", "deep"]
)
def test_the_generated_walk_counts_odd_and_deep_responses_as_the_field_by_field_walk(
    text, inline_depth, monkeypatch
):
    """The generated walk (:func:`graph.cost._generate_actual`) written out at every depth
    (selections deeper than ``_INLINE_DEPTH`` get a function of their own) counts responses
    of every shape, odd ones included, as the field-by-field walk."""
    monkeypatch.setattr(graph.cost, "_INLINE_DEPTH", inline_depth)
    document = parse(text)  # a new document: its walk is generated at this depth
    operation = find_operation(document, None)
    fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
    core = schema._schema
    rng = random.Random(inline_depth)
    for _ in range(200):
        data = odd(fake(operation.selection_set, core.query_type, fragments, rng), rng)
        monkeypatch.setattr(graph.cost, "_COMPILED_ACTUAL_COST", True)
        compiled = operation_cost(core, document, operation, {}, data)
        monkeypatch.setattr(graph.cost, "_COMPILED_ACTUAL_COST", False)
        assert compiled == operation_cost(core, document, operation, {}, data), data


def test_a_mutations_requested_cost_is_not_remembered():
    """Each reply's variables (its text) are new: remembered, every mutation kept its
    document and variables in ``graph.cost``'s table of requested costs until 1,024 others
    pushed it out, and pushed out the costs of queries and subscriptions that repeat."""
    document = parse(SEND)
    operation = find_operation(document, None)
    kept = len(graph.cost._requested)
    costs = {
        requested_cost(schema._schema, SEND, document, operation, {"i": {"text": str(n)}})
        for n in range(20)
    }
    assert costs == {operation_cost(schema._schema, document, operation, {"i": {}})}
    assert len(graph.cost._requested) == kept

"""What a root field's selection reads below the object it returns, found before the object
is read, so that it is read with the object in one statement (issue 23 item 1:
``graph.resolvers.node.find_node``'s ``ahead``; a conversation's timeline, a contact panel).

Only plain selections are read ahead: a directive anywhere on the way (``@include``,
``@skip``) leaves the whole selection to the fields' own resolvers. Reading ahead never
changes an answer: the rows are those the fields' resolvers would read for the same
arguments (put where they look first); a field the selection does not ask for, or asks for
with other arguments, reads its own rows as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from strawberry.types import Info

    from graph.relay import PageRequest


def selected_fields(
    info: Info, type_name: str, names: Collection[str]
) -> dict[str, list[FieldNode]] | None:
    """The fields of ``names`` the current field's selection selects on an object of the
    type ``type_name`` (directly, or in fragments on that type or on an interface it
    implements), each name's field nodes in document order (several: aliases or repeats);
    ``None`` when a directive is on the way, or a fragment spread names no fragment."""
    raw = info._raw_info
    object_type = raw.schema.get_type(type_name)
    applies = {type_name, *(i.name for i in getattr(object_type, "interfaces", ()))}
    found: dict[str, list[FieldNode]] = {name: [] for name in names}
    for node in raw.field_nodes:
        if not _walk(node.selection_set, raw.fragments, applies, found):
            return None
    return found


def _walk(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    applies: Collection[str],
    found: dict[str, list[FieldNode]],
) -> bool:
    """Add to ``found`` the fields of its names ``selection_set`` selects on a type named in
    ``applies``; ``False`` when a directive is on the way or a spread names no fragment.

    A function of the module, not a closure of :func:`selected_fields`: a recursive closure
    refers to itself through its own cell, a cycle that kept the resolve info it read, and
    with it the request's executor, context, loaders and rows, until the cyclic garbage
    collector's next collection (every timeline and contact panel)."""
    for selection in selection_set.selections if selection_set is not None else ():
        if selection.directives:
            return False
        if isinstance(selection, FieldNode):
            if selection.name.value in found:
                found[selection.name.value].append(selection)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives:
                return False
            condition, inner = fragment.type_condition, fragment.selection_set
        elif isinstance(selection, InlineFragmentNode):
            condition, inner = selection.type_condition, selection.selection_set
        else:
            return False
        if condition is not None and condition.name.value not in applies:
            continue
        if not _walk(inner, fragments, applies, found):
            return False
    return True


def alone(info: Info) -> bool:
    """Whether the field ``info`` resolves is its operation's only root field, selected
    once (``{ node(id: ...) { ... } }``, a screen's root): no other field of the request can
    ask for rows of the same batch."""
    raw = info._raw_info
    selections = raw.operation.selection_set.selections
    return (
        raw.path.prev is None
        and len(raw.field_nodes) == 1
        and len(selections) == 1
        and isinstance(selections[0], FieldNode)
    )


def arguments_of(info: Info, type_name: str, node: FieldNode) -> dict[str, Any]:
    """The arguments given to the field ``node`` of ``type_name``, by name, as coerced from
    literals or taken from the operation's variables (those not given left out).

    Raises:
        Exception: a literal that does not coerce (the field's own resolver reports it).
    """
    raw = info._raw_info
    field_def = raw.schema.get_type(type_name).fields[node.name.value]
    arguments: dict[str, Any] = {}
    for argument in node.arguments:
        value = argument.value
        if isinstance(value, VariableNode):
            arguments[argument.name.value] = raw.variable_values.get(value.name.value)
        else:
            arguments[argument.name.value] = value_from_ast(
                value, field_def.args[argument.name.value].type
            )
    return arguments


def page_asked(
    info: Info, type_name: str, node: FieldNode, parse: Callable[..., PageRequest]
) -> PageRequest | None:
    """The page the connection field ``node`` of ``type_name`` asks for (its ``first``,
    ``after``, ``last`` and ``before`` given to ``parse``, e.g. ``timeline_request``), or
    ``None`` when they are not a page (the field's own resolver reports them)."""
    try:
        arguments = arguments_of(info, type_name, node)
        return parse(
            arguments.get("first"),
            arguments.get("after"),
            arguments.get("last"),
            arguments.get("before"),
        )
    except Exception:  # noqa: BLE001 - the field's own resolver reports it
        return None


__all__ = ["alone", "arguments_of", "page_asked", "selected_fields"]

"""``graph.context.Context.with_viewer``, the context a subscriber's payload is executed with:
the connection's context with the operation's own viewer, field for field what
``dataclasses.replace`` makes (every field, including one added later)."""

from __future__ import annotations

import dataclasses

from graph.context import Context


def test_the_copy_has_every_field_of_the_context_and_the_given_viewer():
    values = {field.name: object() for field in dataclasses.fields(Context)}
    context = Context(**values)
    viewer = object()
    copy = context.with_viewer(viewer)
    assert copy is not context
    assert copy == dataclasses.replace(context, current_viewer=viewer)
    assert context.current_viewer is values["current_viewer"]  # the original is unchanged

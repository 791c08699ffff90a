"""The request's workspace row (phone masking and the other settings,
``graph.loaders.Loaders.workspace_future``) is read by a hand-written statement, not built
through pypika per request (issue 23 item 1: about 5 % of a contact panel); it must be the row
``Workspace.get`` reads, field for field, and a missing workspace raises as ``get`` does."""

from __future__ import annotations

import pytest
from tortoise.exceptions import DoesNotExist

from db.models import Workspace
from graph.loaders import _workspace_row
from tests.support import models_on


def fields(row: Workspace) -> dict:
    return {name: getattr(row, name) for name in Workspace._meta.fields_db_projection}


async def test_the_workspace_row_is_the_one_get_reads(world):
    async with models_on(world.served.env["DATABASE_URL"]):
        workspaces = await Workspace.all()
        assert workspaces
        for workspace in workspaces:
            expected = await Workspace.get(id=workspace.id)
            got = await _workspace_row(workspace.id)
            assert type(got) is Workspace
            assert fields(got) == fields(expected)
            assert got._saved_in_db
        with pytest.raises(DoesNotExist):
            await _workspace_row(2**31 - 1)

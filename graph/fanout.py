"""Shared execution of subscription events (``architecture.md``, live path, step 3).

Thousands of dashboards often subscribe with the same document. For one event, subscribers
whose selection, variables and *view* are the same would compute the same result, so the
process executes it once and hands the result to all of them.

A subscription generator marks what it yields with :func:`shareable` and a view key: the
viewer facts any resolver may read (workspace, role, visibility, permissions). A resolver
whose answer depends on *who* the viewer is (``User`` administration fields for a
non-administrator, ``canEdit`` ...) calls :func:`depends_on_identity`; such a result is shared
only with the same user.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

if TYPE_CHECKING:
    from graph.permissions.visibility import Viewer

CACHE_SIZE = 4096


@dataclass(frozen=True)
class ShareKey:
    sequence: int
    variant: Any
    view: tuple[Any, ...]
    user_id: int


def view_key(viewer: Viewer) -> tuple[Any, ...]:
    """The viewer facts resolvers read, except the user's identity."""
    return (
        viewer.workspace_id,
        viewer.role,
        viewer.effective_visibility,
        viewer.can_view_blocked_contacts,
        viewer.has_call_access,
    )


def shareable(payload: Any, sequence: int, viewer: Viewer, variant: Any = None) -> Any:
    """Mark a subscription payload as resolvable once for every subscriber of the same view.

    Args:
        sequence: the event the payload is about.
        variant: whatever else distinguishes this payload from another subscriber's for the
            same event (e.g. ENTERED for one list, LEFT for another).
    """
    payload.__dict__["_share_key"] = ShareKey(sequence, variant, view_key(viewer), viewer.user_id)
    return payload


_identity_read: ContextVar[list[bool] | None] = ContextVar("identity_read", default=None)


def depends_on_identity() -> None:
    """Record that the field being resolved depends on the viewer's identity."""
    marker = _identity_read.get()
    if marker is not None:
        marker[0] = True


@dataclass
class _Shared:
    future: asyncio.Future
    user_id: int


_results: OrderedDict[tuple[Any, ...], _Shared] = OrderedDict()


def _variables_key(values: Any) -> str:
    try:
        return json.dumps(values, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(values)


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes a marked subscription event once per (event, document, variables, view)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        share: ShareKey | None = getattr(self.root_value, "__dict__", {}).get("_share_key")
        if share is None:
            return super().execute_operation(serially)
        key = (share.sequence, share.variant, share.view, id(self.operation), _variables_key(self.variable_values))
        return self._shared(key, share, serially)

    async def _shared(self, key: tuple[Any, ...], share: ShareKey, serially: bool | None) -> Any:
        found = _results.get(key)
        if found is not None:
            try:
                result, identity = await asyncio.shield(found.future)
            except Exception:  # noqa: BLE001 - the leader failed: execute on our own
                return await self._run(serially)
            if not identity or found.user_id == share.user_id:
                return result
            return await self._run(serially)  # the leader's answer was personal
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        _results[key] = _Shared(future, share.user_id)
        # keep the operation node alive while its id() is part of a key
        future.operation = self.operation  # type: ignore[attr-defined]
        while len(_results) > CACHE_SIZE:
            _results.popitem(last=False)
        marker = [False]
        token = _identity_read.set(marker)
        try:
            result = await self._run(serially)
        except BaseException as exc:
            _results.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: followers re-raise their own
            raise
        finally:
            _identity_read.reset(token)
        future.set_result((result, marker[0]))
        return result

    async def _run(self, serially: bool | None) -> Any:
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = await result
        return result


__all__ = ["SharedEventExecutionContext", "depends_on_identity", "shareable", "view_key"]

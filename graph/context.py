"""The per-request (per-connection for WebSockets) GraphQL context."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from graph.errors import Unauthenticated
from graph.loaders import Loaders

if TYPE_CHECKING:
    from graph.live import EventBus, LiveEvent
    from graph.permissions.visibility import Viewer
    from graph.settings import Settings
    from graph.throttle import Throttle
    from graph.webhooks import WebhookDeliverer


# Loaders of the subscription event being resolved. Every subscription runs in its own task,
# so this is per subscription even when several share one WebSocket connection.
_event_loaders: ContextVar[Loaders | None] = ContextVar("event_loaders", default=None)


def start_operation_loaders(workspace_id: int) -> Loaders:
    """Fresh loaders for the operation about to start in this task (or in tasks it creates)."""
    loaders = Loaders(workspace_id)
    _event_loaders.set(loaders)
    return loaders


@dataclass(slots=True)  # one per open WebSocket: thousands at once
class Context:
    """What resolvers see as ``info.context``.

    ``viewer`` raises ``UNAUTHENTICATED`` when the request carries no valid token: every
    field but ``login`` reads it. ``webhooks``: the worker's webhook deliverer (its HTTP client, :meth:`nudge`).
    ``loaders`` are fresh per HTTP request; subscriptions call
    :meth:`loaders_for_event` for each event. ``session_ended`` is set by ``logout``: a
    WebSocket that ran it closes with 4403 once it has answered
    (:class:`graph.websocket.InboxTransportWSHandler`).
    """

    settings: Settings
    bus: EventBus
    webhooks: WebhookDeliverer | None = None
    schema: Any = None
    request: Any = None
    response: Any = None
    connection_params: Any = None
    current_viewer: Viewer | None = None
    admitted_user: int | None = None
    """Over WebSocket, the user whose open sockets count this one (:func:`graph.websocket.admit_socket`)."""
    throttle: Throttle | None = None
    _loaders: Loaders | None = None
    session_ended: bool = False

    @property
    def viewer(self) -> Viewer:
        if self.current_viewer is None:
            raise Unauthenticated()
        return self.current_viewer

    @property
    def loaders(self) -> Loaders:
        event_loaders = _event_loaders.get()
        if event_loaders is not None:
            return event_loaders
        if self._loaders is None:
            self._loaders = Loaders(self.viewer.workspace_id)
        return self._loaders

    def with_viewer(self, viewer: Viewer | None) -> Context:
        """A copy of this context with ``current_viewer`` set to ``viewer`` (what
        ``dataclasses.replace`` makes, in a quarter of its time: one per subscriber and
        event delivered, :mod:`graph.fanout`)."""
        values = list(_fields_of(self))
        values[_VIEWER_AT] = viewer
        return Context(*values)

    def loaders_for_event(self, event: LiveEvent) -> Loaders:
        """The loaders to resolve a subscription event with: shared by every subscriber of the
        event in this process, never reused for another event."""
        loaders = self.bus.loaders_for(event)
        _event_loaders.set(loaders)
        return loaders


_FIELDS = tuple(field.name for field in fields(Context))
_fields_of = attrgetter(*_FIELDS)
_VIEWER_AT = _FIELDS.index("current_viewer")


__all__ = ["Context", "start_operation_loaders"]

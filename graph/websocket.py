"""The graphql-transport-ws handler: frame validation and per-operation authentication.

strawberry's handler trusts frame shapes and authenticates once, at ``connection_init``. Here:

- a frame that is not a JSON object of the protocol's shape closes the socket with 4400
  (the protocol's "invalid message"), never a crash;
- every ``subscribe`` frame (queries and mutations over the socket included) re-checks the
  token and the user: a revoked or expired token, or a deactivated user, closes the socket
  with 4403; a changed role, visibility or team is used from then on;
- every operation gets fresh DataLoaders, so nothing is served from a connection-wide cache;
- every operation knows its id and socket, so subscription events are written to it directly
  (:func:`graph.fanout.fan_out`).
"""

from __future__ import annotations

from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from graph.auth import refresh_viewer
from graph.context import start_operation_loaders
from graph.fanout import LiveOperation, start_live_operation

MAX_OPERATION_ID_LENGTH = 128
CLOSE_FORBIDDEN = 4403
"""Close code when the token or user no longer authorises the connection."""


def frame_problem(message: Any) -> str | None:
    """Why a decoded frame is not a valid graphql-transport-ws message, or ``None``."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Messages must be JSON objects with a string `type`."
    kind = message["type"]
    payload = message.get("payload")
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        return "`connection_init` payload must be an object."
    if kind in ("subscribe", "complete"):
        operation_id = message.get("id")
        if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_OPERATION_ID_LENGTH:
            return f"`{kind}` needs a string `id` of 1 to {MAX_OPERATION_ID_LENGTH} characters."
    if kind == "subscribe":
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "`subscribe` payload must be an object with a string `query`."
        if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
            return "`variables` must be an object."
        if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
            return "`operationName` must be a string."
    return None


class InboxTransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with validated frames and per-operation authentication."""

    async def handle_message(self, message: Any) -> None:
        problem = frame_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            context = self.context
            viewer = await refresh_viewer(context.current_viewer) if context.current_viewer else None
            if viewer is None:
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")
                return
            context.current_viewer = viewer
            # the operation task copies this context variable when it is created
            start_operation_loaders(viewer.workspace_id)
            payload = message["payload"]
            live = LiveOperation(
                id=message["id"],
                query=payload["query"],
                variables=payload.get("variables"),
                operation_name=payload.get("operationName"),
                send_text=self.websocket.ws.send_text,
            )
            start_live_operation(live)
            known = self._live_operations()
            for ended in [i for i in known if i not in self.operations]:
                del known[ended]
            known[live.id] = live
        await super().handle_subscribe(message)

    def _live_operations(self) -> dict[str, LiveOperation]:
        found = self.__dict__.get("_live")
        if found is None:
            found = self.__dict__["_live"] = {}
        return found

    async def cleanup_operation(self, operation_id: str) -> None:
        # from ``complete`` on, no ``next`` of this operation may be written, even by the bus
        live = self._live_operations().pop(operation_id, None)
        if live is not None:
            live.completed[0] = True
        await super().cleanup_operation(operation_id)


__all__ = ["CLOSE_FORBIDDEN", "InboxTransportWSHandler", "frame_problem"]

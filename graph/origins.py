"""Which browser origins may call the API: CORS on HTTP and the WebSocket handshake, one rule.

An origin is allowed when ``INBOX_GRAPH_ALLOWED_ORIGINS`` lists it (``*``: any) or, outside
production (``INBOX_GRAPH_ENV``), when it is a loopback origin on any port:
``http://localhost:*``, ``http://127.0.0.1:*``, ``http://[::1]:*`` (a dev server on Vite's
5173, on 3000 or wherever it landed). A refused origin is told which setting to change: the
CORS preflight answers 400 naming ``INBOX_GRAPH_ALLOWED_ORIGINS``, and a refused WebSocket
handshake (403) logs one warning naming it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from strawberry.http.websocket_origin import normalize_origin

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.datastructures import Headers
    from starlette.responses import Response

SETTING = "INBOX_GRAPH_ALLOWED_ORIGINS"

LOOPBACK = re.compile(r"http://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?")
"""A loopback origin, as browsers send it (``normalize_origin``), on any port."""


class Origins:
    """The allowed origins of one deployment.

    Args:
        listed: the origins of ``INBOX_GRAPH_ALLOWED_ORIGINS`` (``*`` for any).
        loopback: whether every loopback origin is allowed too (development).
    """

    def __init__(self, listed: Iterable[str], *, loopback: bool) -> None:
        listed = tuple(listed)
        self.any = "*" in listed
        self.listed = frozenset(o for o in map(normalize_origin, listed) if o is not None)
        self.loopback = loopback

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` (an ``Origin`` header's value) may call the API."""
        if self.any:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        return normalized in self.listed or (
            self.loopback and LOOPBACK.fullmatch(normalized) is not None
        )

    def refusal(self, origin: str) -> str:
        """What a refused origin is told (and the log says)."""
        return f"The origin {origin!r} is not allowed: add it to {SETTING} (comma-separated)" + (
            "." if self.loopback else "; loopback origins are allowed in development only."
        )


class OriginCORS(CORSMiddleware):
    """starlette's CORS middleware deciding with :class:`Origins`; a preflight refused for its
    origin answers 400 with :meth:`Origins.refusal` instead of "Disallowed CORS origin".

    Args:
        app: the ASGI application.
        origins: the deployment's allowed origins.
        **options: :class:`CORSMiddleware`'s other options (methods, headers, max age).
    """

    def __init__(self, app: Any, *, origins: Origins, **options: Any) -> None:
        super().__init__(app, allow_origins=(), **options)
        self.origins = origins

    def is_allowed_origin(self, origin: str) -> bool:
        return self.origins.allows(origin)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        origin = request_headers["origin"]
        if response.status_code == 400 and not self.origins.allows(origin):
            headers = {
                k: v
                for k, v in response.headers.items()
                if k not in ("content-length", "content-type")
            }
            return PlainTextResponse(self.origins.refusal(origin), status_code=400, headers=headers)
        return response


class NameTheSetting(logging.Filter):
    """On strawberry's ``strawberry.ws`` logger: its warning about a refused WebSocket origin
    names its own parameter (``allowed_origins``); it names ours instead."""

    def __init__(self, origins: Origins) -> None:
        super().__init__()
        self.origins = origins

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Rejected WebSocket connection"):
            origin = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = (
                "WebSocket handshake refused (403). %s",
                (self.origins.refusal(str(origin)),),
            )
        return True


__all__ = ["LOOPBACK", "SETTING", "NameTheSetting", "OriginCORS", "Origins"]

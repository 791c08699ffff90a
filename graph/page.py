"""The live page: a small inbox served by the API itself on ``/`` (issue 22, item 3).

Log in as any user (in development, the demo's logins are offered), then see the left panel
(standard, team, custom and blocked inboxes with their open-conversation counts and
new-message dots, ``domain.md`` sections 2 and 3), the conversation list of the selected inbox
(section 4), the incoming-calls tabs (section 5) and a conversation's timeline, all kept live
over graphql-transport-ws (section 7). It is a client like any other: it speaks only the public
API (``POST /graphql`` and the WebSocket on ``/graphql``, a bearer token from ``login`` kept in
the tab's ``sessionStorage``), so it shows exactly what the visibility policy and the indicator
rules give each user. After a dropped connection it resubscribes with ``afterSequence`` (the
last ``sequence`` it received, README "Subscriptions") and reloads what it shows.

Files: ``graph/page/index.html``, ``page.js`` (an ES module), ``page.css`` — plain files, no
build step — and one dependency, the ``graphql-ws`` client's ES modules, pinned by
``graph/page/package-lock.json`` and installed with ``npm ci`` in ``graph/page``
(``scripts/dev.sh`` does it; nothing is vendored). Everything is served from this server
(``/`` and ``/live/<file>``), so the page works offline. Only the files the page loads are
served (``graphql-ws``'s client module and the chunk it imports, its licence); anything else under
``/live/`` is 404 ``NOT_FOUND``.

On by default in development, off in production unless ``INBOX_GRAPH_LIVE_PAGE=1``
(:class:`graph.settings.Settings`); there, the API's own origin must be listed in
``INBOX_GRAPH_ALLOWED_ORIGINS`` for the page's WebSocket handshake (:mod:`graph.origins`;
in development every loopback origin is allowed). When the ``graphql-ws`` package is missing the page still
loads and says how to install it; the server says so once at start.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from graph.errors import ErrorCode

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent / "page"
"""The page's own files and its ``package-lock.json``."""

MODULES = HERE / "node_modules"
"""Where ``npm ci`` in ``graph/page`` installs ``graphql-ws``."""

PREFIX = "live"
"""The path the page's files are served under (``/live/…``)."""

CLIENT = "graphql-ws"
OWN_FILES = ("page.js", "page.css")
_IMPORT = re.compile(r"""from\s*['"]\./([A-Za-z0-9._-]+\.js)['"]""")
_NO_CACHE = {"Cache-Control": "no-cache"}


def _client_files(modules: Path) -> dict[str, Path]:
    """``graphql-ws``'s browser ES module (``dist/client.js``), the chunks it imports and its
    licence, by the path they are served under; empty when the package is not installed at the
    version the lock file pins."""
    folder = modules / CLIENT
    try:
        installed = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        locked = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if installed.get("version") != locked["packages"][f"node_modules/{CLIENT}"]["version"]:
        return {}
    files: dict[str, Path] = {}
    pending = ["client.js"]
    while pending:
        name = pending.pop()
        path = folder / "dist" / name
        if not path.is_file():
            return {}
        files[f"{CLIENT}/{name}"] = path
        pending.extend(
            found
            for found in _IMPORT.findall(path.read_text(encoding="utf-8"))
            if f"{CLIENT}/{found}" not in files
        )
    if (folder / "LICENSE.md").is_file():
        files[f"{CLIENT}/LICENSE.md"] = folder / "LICENSE.md"
    return files


@dataclass(frozen=True)
class LivePage:
    """The page and the files it may load.

    Attributes:
        html: ``index.html``, with the demo's logins offered when ``demo_logins`` were given.
        files: each servable path under :data:`PREFIX` (``page.js``,
            ``graphql-ws/client.js`` …) and its file.
    """

    html: str
    files: dict[str, Path]

    @classmethod
    def load(cls, demo_logins: tuple[str, ...] = (), modules: Path = MODULES) -> LivePage:
        """The page from ``graph/page``; ``graphql-ws`` from ``modules`` (logged once when it
        is missing: the page then says how to install it).

        Args:
            demo_logins: e-mail addresses offered on the login form (development only).
            modules: where ``npm ci`` installed the packages.
        """
        files = {name: HERE / name for name in OWN_FILES}
        client = _client_files(modules)
        if not client:
            log.warning(
                "The live page's graphql-ws client is not installed: the page on / cannot go "
                "live. Run `npm ci` in graph/page (scripts/dev.sh does)."
            )
        files.update(client)
        options = "".join(f'<option value="{html.escape(email)}">' for email in demo_logins)
        page = (HERE / "index.html").read_text(encoding="utf-8")
        page = page.replace("<!--demo-logins-->", options)
        page = page.replace("<!--client-installed-->", "true" if client else "false")
        return cls(html=page, files=files)

    async def index(self, request: Request) -> Response:
        """``GET /``: the page (never cached: it names the files of this version)."""
        return HTMLResponse(self.html, headers=_NO_CACHE)

    async def serve(self, request: Request) -> Response:
        """``GET /live/{path}``: one of :attr:`files`; 404 ``NOT_FOUND`` otherwise."""
        file = self.files.get(request.path_params["path"])
        if file is None:
            return JSONResponse(
                {
                    "errors": [
                        {"message": "No such file.", "extensions": {"code": ErrorCode.NOT_FOUND}}
                    ]
                },
                status_code=404,
            )
        media_type = "text/javascript" if file.suffix == ".js" else None
        return FileResponse(file, media_type=media_type, headers=_NO_CACHE)


__all__ = ["HERE", "MODULES", "PREFIX", "LivePage"]

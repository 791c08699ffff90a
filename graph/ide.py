"""GraphiQL served by the API itself: the IDE works offline, behind a strict network, on any
port.

strawberry's GraphiQL page (``GET /graphql`` with ``INBOX_GRAPH_IDE`` on) loads React,
GraphiQL, its explorer plugin and js-cookie from ``https://unpkg.com/<package>@<version>/…``.
The same packages at the same versions are installed from ``graph/ide/package-lock.json``
(``npm ci`` in ``graph/ide``, run by ``scripts/dev.sh``; nothing is vendored in the
repository) and served on ``/graphiql/<package>/<file>``; the page names them by relative
URLs instead, keeping its ``integrity`` hashes (the files are byte for byte those of the npm
registry, which unpkg serves). Only the files the page names are served, and each package's
licence (``/graphiql/<package>/LICENSE``; ``@graphiql/plugin-explorer`` ships none: it is
MIT-licensed like ``graphiql``, from the same repository, see ``graph/ide/LICENSES.md``).

When the packages are missing or at other versions than the page names, the page keeps the
CDN's URLs, and the server says so once at start.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from graph.errors import ErrorCode

log = logging.getLogger(__name__)

PREFIX = "graphiql"
"""The path the assets are served under (``/graphiql/…``), relative to ``/graphql``'s folder."""

MODULES = Path(__file__).resolve().parent / "ide" / "node_modules"
"""Where ``npm ci`` in ``graph/ide`` installs the packages."""

_CDN = re.compile(r"https://unpkg\.com/((?:@[a-z0-9._-]+/)?[a-z0-9._-]+)@([0-9][^/\"]*)/([^\"]+)")
LICENCES = ("LICENSE", "LICENSE.md", "LICENSE.txt")


class AssetsMissing(Exception):
    """A package the page names is not installed at the version it names."""


@dataclass(frozen=True)
class IdeAssets:
    """strawberry's GraphiQL page with local URLs, and the files it may load.

    Attributes:
        html: the page.
        files: each servable path under :data:`PREFIX` (``react/umd/react.production.min.js``)
            and its file.
    """

    html: str
    files: dict[str, Path]

    @classmethod
    def load(cls, modules: Path = MODULES) -> IdeAssets:
        """The page of strawberry's installed version, its CDN URLs made local.

        Raises:
            AssetsMissing: when a package it names is not in ``modules`` at that version.
        """
        files: dict[str, Path] = {}

        def local(match: re.Match[str]) -> str:
            package, version, path = match.groups()
            folder = modules / package
            try:
                installed = json.loads((folder / "package.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise AssetsMissing(f"{package} is not installed") from None
            if installed.get("version") != version or not (folder / path).is_file():
                raise AssetsMissing(f"{package}@{version}/{path} is not installed")
            files[f"{package}/{path}"] = folder / path
            for name in LICENCES:
                if (folder / name).is_file():
                    files[f"{package}/{name}"] = folder / name
            return f"{PREFIX}/{package}/{path}"

        html = _CDN.sub(local, get_graphql_ide_html(graphql_ide="graphiql"))
        return cls(html=html, files=files)

    @classmethod
    def installed(cls) -> IdeAssets | None:
        """:meth:`load`, or ``None`` (logged once) when the packages are not installed."""
        try:
            return cls.load()
        except AssetsMissing as missing:
            log.warning(
                "GraphiQL's assets are not installed (%s): the IDE page loads them from "
                "unpkg.com. Run `npm ci` in graph/ide (scripts/dev.sh does).",
                missing,
            )
            return None

    async def serve(self, request: Request) -> Response:
        """``GET /graphiql/{path}``: one of :attr:`files`, cached for a day; 404 otherwise."""
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
        return FileResponse(file, headers={"Cache-Control": "public, max-age=86400"})


__all__ = ["MODULES", "PREFIX", "AssetsMissing", "IdeAssets"]

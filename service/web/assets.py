"""The embed scripts: immutable under a content-hashed path, revalidated under the plain one.

Both gzip-compressed when the browser accepts it (compressed once, at start); brotli is not
offered, as no brotli library is among the node's dependencies.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from service.problems import Problem

_IMMUTABLE = "public, max-age=31536000, immutable"
# The plain path is what old embeds use: cached briefly, then revalidated by ETag.
_SHORT = "public, max-age=300, must-revalidate"
_HEADERS = {
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
    "x-content-type-options": "nosniff",
    "vary": "Accept-Encoding",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One script: its bytes, their gzip form, ETag and SRI hash."""

    body: bytes
    gzipped: bytes
    etag: str
    integrity: str


def _asset(body: bytes) -> Asset:
    digest = hashlib.sha384(body).digest()
    return Asset(
        body=body,
        # mtime=0: the same script always compresses to the same bytes on every node.
        gzipped=gzip.compress(body, 9, mtime=0),
        etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"',
        integrity="sha384-" + base64.b64encode(digest).decode(),
    )


class EmbedAssets:
    """The browser client and `<breaking-ticker>`, read once from `directory`."""

    def __init__(self, directory: Path, release: str) -> None:
        self.files = {p.name: _asset(p.read_bytes()) for p in sorted(directory.glob("*.js"))}
        # One version for the set: the ticker imports the client by a relative path,
        # so both must come from the same versioned directory. The release names it for
        # people; the content hash makes it safe to cache forever even between releases.
        whole = hashlib.sha256()
        for name, asset in self.files.items():
            whole.update(name.encode() + b"\0" + asset.body)
        self.version = f"{release}-{whole.hexdigest()[:16]}"

    def url(self, name: str) -> str:
        return f"/static/v/{self.version}/{name}"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/static/v/{version}/{name}", self._versioned, methods=["GET", "HEAD"]),
            Route("/static/{name}", self._plain, methods=["GET", "HEAD"]),
        ]

    async def _versioned(self, request: Request) -> Response:
        name = request.path_params["name"]
        if request.path_params["version"] != self.version and name in self.files:
            # An older version is gone: send the page to the current one.
            return RedirectResponse(self.url(name), 302, headers={"cache-control": "no-cache"})
        return self._serve(request, name, _IMMUTABLE)

    async def _plain(self, request: Request) -> Response:
        return self._serve(request, request.path_params["name"], _SHORT)

    def _serve(self, request: Request, name: str, cache: str) -> Response:
        asset = self.files.get(name)
        if asset is None:
            raise Problem(404, f"no embed script {name!r}; there are: {', '.join(self.files)}")
        headers = {**_HEADERS, "cache-control": cache, "etag": asset.etag}
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = asset.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = asset.gzipped
            headers["content-encoding"] = "gzip"
        if request.method == "HEAD":
            headers["content-length"] = str(len(body))
            body = b""
        return Response(body, headers=headers, media_type="text/javascript; charset=utf-8")

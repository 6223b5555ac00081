"""The live demo (`/`), the editor desk (`/desk`), the API docs (`/docs`) and their static files."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from string import Template

import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HERE = Path(__file__).resolve().parent
# Each page and the script that drives it (in static/).
_PAGES = {"index": "demo.js", "desk": "desk.js"}

# Pages load only their own scripts and styles and talk only to this origin, so an
# injected script could neither run nor carry a desk token elsewhere.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def client_js_dir() -> Path:
    """Where the browser client lives: packaged beside this module, or the checkout's sources."""
    candidates = (_HERE / "client_js", _HERE.parents[1] / "clients" / "js" / "src")
    for candidate in candidates:
        if (candidate / "breaking-client.js").is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise RuntimeError(f"the browser client (breaking-client.js) is in none of: {searched}")


def _page(name: str, title: str) -> Route:
    """One page: its fragment in the shared layout (head, masthead, nav), built once."""
    layout = Template((_HERE / "html" / "layout.html").read_text(encoding="utf-8"))
    current = {f"current_{page}": 'aria-current="page"' if page == name else "" for page in _PAGES}
    html = layout.substitute(
        title=title,
        # The release in the URL: a new version is never served from an old cached copy.
        script=f"/static/site/{_PAGES[name]}?v={version('breaking-push')}",
        main=(_HERE / "html" / f"{name}.html").read_text(encoding="utf-8"),
        **current,
    )

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    return Route("/" if name == "index" else f"/{name}", endpoint, name=f"page-{name}")


class _Embeddable:
    """Static files any site may load: the ticker is meant to be embedded cross-origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"cross-origin-resource-policy", b"cross-origin"),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _docs() -> Route:
    """Swagger UI over `/openapi.json`, from the files of its Python package: no CDN."""
    html = (_HERE / "html" / "docs.html").read_text(encoding="utf-8")

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    return Route("/docs", endpoint, name="page-docs")


def page_routes() -> list[BaseRoute]:
    """`/`, `/desk`, `/docs`, `/static/` (the JS client and ticker, also under the release's
    version, `/static/v<version>/`) and `/static/site/` (page assets)."""
    client = _Embeddable(StaticFiles(directory=client_js_dir()))
    return [
        _page("index", "Live ticker"),
        _page("desk", "Editor desk"),
        _docs(),
        Mount("/static/site", app=StaticFiles(directory=_HERE / "static"), name="site"),
        Mount(
            "/static/docs",
            app=StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)),
            name="docs-assets",
        ),
        Mount(f"/static/v{version('breaking-push')}", app=client, name="static-versioned"),
        Mount("/static", app=client, name="static"),
    ]

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

from service.web.assets import EmbedAssets

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


def _page(name: str, title: str, embed: EmbedAssets) -> Route:
    """One page: its fragment in the shared layout (head, masthead, nav), built once."""
    layout = Template((_HERE / "html" / "layout.html").read_text(encoding="utf-8"))
    current = {f"current_{page}": 'aria-current="page"' if page == name else "" for page in _PAGES}
    fragment = Template((_HERE / "html" / f"{name}.html").read_text(encoding="utf-8"))
    # The embed snippet names the current versioned scripts and their SRI hashes.
    scripts = {
        f"{key}_{part}": value
        for key, file in (("ticker", "breaking-ticker.js"), ("client", "breaking-client.js"))
        for part, value in (("url", embed.url(file)), ("integrity", embed.files[file].integrity))
    }
    html = layout.substitute(
        title=title,
        # The release in the URL: a new version is never served from an old cached copy.
        script=f"/static/site/{_PAGES[name]}?v={version('breaking-push')}",
        main=fragment.substitute(scripts),
        **current,
    )

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    return Route("/" if name == "index" else f"/{name}", endpoint, name=f"page-{name}")


def _docs() -> Route:
    """Swagger UI over `/openapi.json`, from the files of its Python package: no CDN."""
    html = (_HERE / "html" / "docs.html").read_text(encoding="utf-8")

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    return Route("/docs", endpoint, name="page-docs")


def page_routes() -> list[BaseRoute]:
    """`/`, `/desk`, `/docs`, `/static/` (the JS client and ticker, also under a versioned
    path) and `/static/site/` (page assets)."""
    embed = EmbedAssets(client_js_dir(), version("breaking-push"))
    return [
        _page("index", "Live ticker", embed),
        _page("desk", "Editor desk", embed),
        _docs(),
        Mount("/static/site", app=StaticFiles(directory=_HERE / "static"), name="site"),
        Mount(
            "/static/docs",
            app=StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)),
            name="docs-assets",
        ),
        *embed.routes(),
    ]

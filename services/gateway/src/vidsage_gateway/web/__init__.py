"""The web page: ``GET /`` serves ``index.html``, ``GET /static/<name>`` the files beside it.

Only the files shipped in this folder are served (the set is read once, at import): no directory
listing, no path ever joined from user input. Every answer carries an explicit ``Content-Type``
and ``Cache-Control: no-cache`` (revalidate each time; aiohttp answers 304 from ``ETag`` /
``Last-Modified``), so a new gateway version is picked up without a hard reload. The page's strict
Content-Security-Policy (everything from this origin, no inline script) and the other security
headers are on every response of the gateway (:mod:`vidsage_gateway.security_headers`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from vidsage_gateway.errors import ApiError

WEB_DIR = Path(__file__).resolve().parent

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

_COMMON_HEADERS = {"Cache-Control": "no-cache"}


def _shipped_files() -> dict[str, Path]:
    """``{"app.js": path, ...}``: every servable file under this folder, by its URL path."""
    return {
        p.relative_to(WEB_DIR).as_posix(): p
        for p in sorted(WEB_DIR.rglob("*"))
        if p.is_file() and p.suffix in CONTENT_TYPES
    }


FILES = _shipped_files()


def _file_response(path: Path, **extra: str) -> web.FileResponse:
    headers = {**_COMMON_HEADERS, "Content-Type": CONTENT_TYPES[path.suffix], **extra}
    return web.FileResponse(path, headers=headers)


async def index(_: web.Request) -> web.FileResponse:
    return _file_response(FILES["index.html"])


async def static(request: web.Request) -> web.FileResponse:
    path = FILES.get(request.match_info["path"])
    if path is None or path.name == "index.html":
        raise ApiError(404, "not_found", "no such file")
    return _file_response(path)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index)
    router.add_get("/static/{path:.+}", static)

"""The web console: its static assets and the routes that serve them.

:func:`add_console` adds to the root application, on the same port as the APIs:

- ``GET /`` and ``GET /_fcemu/ui/``: the console's one page (``static/index.html``);
- ``GET /_fcemu/ui/<asset>``: its scripts, style sheet and icon, from this package.

The page is plain modern JavaScript (ES2020 modules, no build step, no CDN, nothing
vendored): ``app.js``, which the page loads, and the modules it imports by relative
paths, each a file of ``static/`` served as it is. It talks to the FC API
(``/2023-03-30``) and the control API (``/_fcemu``, including the console's routes in
:mod:`fcemu.api.console`) like any client, signing its requests in verify mode, so it
adds no way around the front door's Host/Origin checks or the signature checks. These
routes only hand out files; they pass the front door like every route, and answer with a
Content-Security-Policy that allows nothing but this origin (``script-src 'self'``
admits the modules' imports, which are same-origin).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["ASSETS", "UI_PREFIX", "add_console"]

#: Where the console lives besides ``/``.
UI_PREFIX = "/_fcemu/ui"

#: The files served under :data:`UI_PREFIX`, with their content types: an allow-list, so
#: each module ``app.js`` imports, directly or not, must be named here (a unit test follows
#: the imports to check it).
ASSETS = {
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "dom.js": "text/javascript",
    "live.js": "text/javascript",
    "notice.js": "text/javascript",
    "status.js": "text/javascript",
    "page-clock.js": "text/javascript",
    "page-functions.js": "text/javascript",
    "page-metrics.js": "text/javascript",
    "page-queues.js": "text/javascript",
    "page-tasks.js": "text/javascript",
    "style.css": "text/css",
    "icon.svg": "image/svg+xml",
}

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def add_console(app: web.Application) -> None:
    """Serve the console on ``app`` (the root application, before it starts)."""
    page = _read("index.html")
    assets = {name: (_read(name), kind) for name, kind in ASSETS.items()}

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8",
                            headers=_HEADERS)

    async def to_index(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": UI_PREFIX + "/"})

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:  # answered as every other miss: FC's PathNotSupported
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, content_type=kind,
                            charset="utf-8" if kind.startswith("text/") else None,
                            headers=_HEADERS)

    app.router.add_get("/", index)
    app.router.add_get(UI_PREFIX, to_index)
    app.router.add_get(UI_PREFIX + "/", index)
    app.router.add_get(UI_PREFIX + "/{name}", asset)

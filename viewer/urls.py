"""The one place the viewer's URLs get their root path: behind a reverse proxy under a path prefix
(`photoshelf serve --root-path /shelf`, or the path of server.base_url), every link, redirect and URL in a JSON
answer starts with it.

`RootPath` (the outermost middleware) reads the request's root path once; `url("/thumb/…")` is that path of the
app as the browser must ask for it. Templates get the same value as `root` (views/common.render), the scripts
read it from `<meta name="root-path">` (static/app.js `appUrl`). Code that runs outside a request (the CLI)
gets paths from the app's root ("")."""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

# Set per request by RootPath; worker threads see it too (Starlette's thread pool and the catalog's writer copy
# the request's context, viewer/catalog.py).
ROOT: ContextVar[str] = ContextVar("photoshelf_root_path", default="")


def root_path(scope: Scope) -> str:
    """The root path a request came under, without a trailing slash. Inside a Mount (/static, /webdav) Starlette
    moves `root_path` to the mount's own path and keeps the app's as `app_root_path`."""
    return str(scope.get("app_root_path", scope.get("root_path", ""))).rstrip("/")


def route_path(scope: Scope) -> str:
    """The path without the root path (what the routes see)."""
    path, root = scope["path"], root_path(scope)
    return path[len(root):] or "/" if root and (path == root or path.startswith(root + "/")) else path


def root() -> str:
    """The root path of the request being answered ("" at the root of a host; never a trailing slash)."""
    return ROOT.get()


def url(path: str) -> str:
    """`path` of the app (a route path: "/photos/3") as the browser asks for it ("/shelf/photos/3")."""
    return ROOT.get() + path


def thumb_url(sha1: str, size: str) -> str:
    """A thumbnail of the library (views/files.py), named by content."""
    return url(f"/thumb/{size}/{sha1}.jpg")


class RootPath:
    """Makes the request's root path what `url()` and `root()` answer while the request is served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = ROOT.set(root_path(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            ROOT.reset(token)

"""WebDAV at /webdav/ on the viewer's port, for phone apps (PhotoSync, FolderSync, iOS Files) and rclone: wsgidav
behind an ASGI-to-WSGI adapter, HTTP Basic over the catalog's accounts (viewer/webdav_auth.py), each member's
upload folder read-write and, for admins, the originals read-only (viewer/webdav_provider.py). docs/webdav.md
says what clients see."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

import peewee as pw
from a2wsgi import WSGIMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.error_printer import ErrorPrinter
from wsgidav.mw.base_mw import BaseMiddleware
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from photoshelf.config import Config
from photoshelf.viewer.webdav_auth import LOGIN_KEY, AccountsDomainController, BasicAuthenticator, BasicLogin
from photoshelf.viewer.webdav_provider import ORIGINALS, USER_KEY, OriginalsProvider, UploadProvider

log = logging.getLogger(__name__)

PREFIX = "/webdav"
UPLOAD_ROLES = ("admin", "member")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
WORKERS = 16  # WSGI threads: each upload holds one for its whole transfer
BLOCK_SIZE = 1 << 20  # bytes read from a request body at a time


def mount(config: Config, db: pw.Database, write: Callable[..., Any] | None = None,
          root_path: str | None = None) -> Mount | None:
    """The /webdav mount for the viewer's routes; None when WebDAV is off (webdav.enabled = false, or a public
    viewer: auth.mode = "public" has no logins and writes nothing). `write` runs one catalog write (the
    viewer's writer thread: failed logins are counted there)."""
    if not config.webdav.enabled or config.auth.mode == "public":
        return None
    dav = dav_app(config, db, write, root_path)
    wsgi: Any = WSGIMiddleware(dav, workers=WORKERS)  # a2wsgi types its ASGI side more narrowly than Starlette
    return Mount(PREFIX, app=Entrance(wsgi), name="webdav")


def dav_app(config: Config, db: pw.Database, write: Callable[..., Any] | None = None,
            root_path: str | None = None) -> WsgiDAVApp:
    """wsgidav over the upload folders (and the originals, read-only, for admins); `root_path` is the path the
    viewer is served under (`serve --root-path`; default: the path of server.base_url), for the hrefs it writes."""
    originals = OriginalsProvider(config.originals_path) if config.webdav.browse_originals else None
    uploads = UploadProvider(config.originals_path / config.webdav.upload_dir.strip("/"),
                             quota_bytes=config.webdav.quota_mb * (1 << 20), originals=originals)
    providers: dict[str, Any] = {"/": uploads}
    if originals is not None:
        providers[f"/{ORIGINALS}"] = originals
    base = (urlsplit(config.server.base_url).path if root_path is None else root_path).rstrip("/")
    _wsgidav_logging(debug=config.log.level == "debug")
    return WsgiDAVApp({
        "provider_mapping": providers,
        "mount_path": base + PREFIX,  # the hrefs in PROPFIND answers
        "http_authenticator": {"domain_controller": AccountsDomainController, "accept_basic": True,
                               "accept_digest": False, "default_to_digest": False},
        LOGIN_KEY: BasicLogin(config.auth, db, write),
        "middleware_stack": [ErrorPrinter, BasicAuthenticator, RoleGate, RequestResolver],
        "lock_storage": True,  # in memory: locks last until a restart, as clients expect of a server
        "property_manager": True,  # dead properties in memory too (litmus `props`; no client we know needs them)
        "dir_browser": {"enable": False},
        "suppress_version_info": True,
        "block_size": BLOCK_SIZE,
        "verbose": 3 if config.log.level == "debug" else 2,
        "logging": {"enable": False},  # photoshelf's logging configuration applies
    })


def _wsgidav_logging(*, debug: bool) -> None:
    """wsgidav keeps its log to itself unless it runs its own server: send its errors (every request, when
    debugging) to photoshelf's handlers, less the aborted uploads that are reported as one line already."""
    logger = logging.getLogger("wsgidav")
    logger.propagate = True
    logger.setLevel(logging.INFO if debug else logging.ERROR)
    server = logging.getLogger("wsgidav.request_server")
    if not any(isinstance(f, _NotClientGone) for f in server.filters):
        server.addFilter(_NotClientGone())


class _NotClientGone(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ClientGone))


class RoleGate(BaseMiddleware):
    """After the login: WebDAV is for members and admins (viewers have no upload folder), and the originals are
    for admins only, read-only."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        user = environ.get(USER_KEY)
        if user is None or user.role not in UPLOAD_ROLES:
            raise DAVError(HTTP_FORBIDDEN, "WebDAV is for members and admins: a viewer has no upload folder")
        if isinstance(environ.get("wsgidav.provider"), OriginalsProvider):
            if user.role != "admin":
                raise DAVError(HTTP_FORBIDDEN, "only admins may browse the originals")
            if environ["REQUEST_METHOD"] not in READ_METHODS:
                raise DAVError(HTTP_FORBIDDEN, "the originals are read-only: upload into your own folder")
        return self.next_app(environ, start_response)


class ClientGone(DAVError):
    """The client went away before its request body was complete (a PUT's temporary file is then removed)."""

    def __init__(self) -> None:
        super().__init__(400, "the client disconnected before the request body was complete")


class Entrance:
    """What the ASGI side does before wsgidav sees a request: refuse a bad path (_bad_path), drop X-Forwarded-*
    (the front door already applied those of trusted proxies), write a raw UTF-8 Destination header the way
    wsgidav reads it, and turn a disconnect in the middle of a body into an error (the adapter would read it as
    the end of the body: a truncated upload kept as complete)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = _bad_path(scope)
        if why:
            await _plain(send, 400, why.encode())
            return
        headers = []
        for key, value in scope["headers"]:
            if key.startswith(b"x-forwarded-"):
                continue
            if key == b"destination":
                if not _utf8(value):
                    await _plain(send, 400, b"the Destination header is not valid UTF-8")
                    return
                value = _ascii(value)
            headers.append((key, value))
        scope = {**scope, "headers": headers}

        async def receive_body() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            return message

        await self.app(scope, receive_body, send)


def _bad_path(scope: Scope) -> str | None:
    """Why a request path is refused before wsgidav sees it: not UTF-8 (it could only be mangled into another
    name), a `.` or `..` segment, or control characters."""
    if not _utf8(scope.get("raw_path") or b""):
        return "the path is not valid UTF-8"
    path = scope["path"]
    if any(part in (".", "..") for part in path.split("/")):
        return "'.' and '..' are not allowed in paths"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "control characters are not allowed in paths"
    return None


def _utf8(url: bytes) -> bool:
    """Whether a URL (or path), percent-decoded, is UTF-8."""
    try:
        unquote_to_bytes(url).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ascii(url: bytes) -> bytes:
    """Some clients send a Destination with raw UTF-8 bytes: percent-encode them, as wsgidav expects."""
    if url.isascii():
        return url
    return quote(url.decode("utf-8"), safe=":/?#[]@!$&'()*+,;=%~").encode("ascii")


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

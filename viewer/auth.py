"""Who is asking and what they may do: the login session in a signed cookie, the role every route needs (one
table, ACCESS), the CSRF token and same-origin check on every write, and the audience a request shows photos to.

Every request gets `request.state.user` (a User row or None), `request.state.role` ("admin", "member",
"viewer", "public" in public mode, None without a session) and `request.state.csrf_token`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoshelf import accounts
from photoshelf.config import Config
from photoshelf.db.schema import utcnow
from photoshelf.viewer.urls import root_path, route_path

log = logging.getLogger(__name__)

SESSION_COOKIE = "photoshelf_session"
LOGIN_COOKIE = "photoshelf_login"  # the pre-session nonce the login form's CSRF token is bound to
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
READS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1 << 20  # a form's body read to find its CSRF field; the viewer's forms are a few hundred bytes
MEDIA_CACHE_SECONDS = 5.0  # a thumbnail's session lookup is reused this long (a grid is 100+ thumbnails)

# What a route needs. OPEN: anyone, no session. USER: any logged-in user (admin, member, viewer) or public mode.
# MEMBER, ADMIN: that role or higher. Public mode (auth.mode = "public") reads what USER reads and writes nothing.
OPEN, USER, MEMBER, ADMIN = "open", "viewer", "member", "admin"
RANK = {USER: 1, MEMBER: 2, ADMIN: 3}


@dataclass(frozen=True)
class Rule:
    """The level a route needs to read (GET, HEAD, OPTIONS) and to write (any other method; `methods` for one
    method in particular). `media`: bytes, answering 401 JSON rather than a redirect to the login page;
    `anonymous`: the route never asks who is logged in (static files: no session lookup per file)."""

    read: str
    write: str = ADMIN
    methods: Mapping[str, str] = field(default_factory=dict)
    media: bool = False
    anonymous: bool = False

    def level(self, method: str) -> str:
        if method in self.methods:
            return self.methods[method]
        return self.read if method in READS else self.write


PAGE = Rule(USER)
MEMBER_POST = Rule(USER, MEMBER)
MEDIA = Rule(USER, media=True)

# The one place that says who may use which route: the route's path as written in its Route/Mount. A route missing
# here is admin-only (and tests/viewer/test_access.py fails until it is added).
ACCESS: dict[str, Rule] = {
    # the grid pages and the photo page
    "/": PAGE, "/search": PAGE, "/favorites": PAGE, "/videos": PAGE, "/archive": PAGE, "/private": PAGE,
    "/photos/{photo_id}": PAGE,
    "/photos/{photo_id}/edit": MEMBER_POST,
    "/albums": MEMBER_POST,
    "/albums/add": MEMBER_POST,
    "/albums/{ref}": PAGE,
    "/albums/{ref}/{action}": MEMBER_POST,
    "/folders": PAGE, "/folders/{folder_id}": PAGE, "/calendar": PAGE, "/places": PAGE, "/duplicates": PAGE,
    "/duplicates/resolve": MEMBER_POST, "/duplicates/unresolve": MEMBER_POST,
    "/things": PAGE, "/api/v1/things": PAGE, "/memories": PAGE, "/api/v1/memories": PAGE,
    "/map": PAGE,
    "/people": PAGE, "/people/{ref}": PAGE,
    "/people/{ref}/{action}": MEMBER_POST,
    "/faces/{face_id}/{action}": MEMBER_POST,
    "/status": Rule(ADMIN),
    # bytes
    "/thumb/{size}/{name}": MEDIA,
    "/photos/{photo_id}/original": MEDIA,
    "/photos/{photo_id}/play": MEDIA,
    "/faces/{name}": MEDIA,
    "/static": Rule(OPEN, anonymous=True),
    # the JSON API
    "/api/v1/search": PAGE,
    "/api/v1/photos/{photo_id}": Rule(USER, MEMBER),
    "/api/v1/photos/{ref}/similar": PAGE,
    # the selection bar: flags on many photos (members), a zip of originals (anyone who may browse: a read, sent as a
    # form POST so the browser saves it), and the state an open timeline polls for new photos
    "/api/v1/photos": Rule(USER, MEMBER),
    "/download": Rule(USER, USER),
    "/api/v1/state": PAGE,
    "/api/v1/albums": Rule(USER, MEMBER),
    "/api/v1/albums/{ref}": Rule(USER, MEMBER),
    "/api/v1/albums/{ref}/photos": Rule(USER, MEMBER),
    "/api/v1/folders": PAGE, "/api/v1/folders/{folder_id}": PAGE, "/api/v1/calendar": PAGE,
    "/api/v1/places": PAGE, "/api/v1/duplicates": PAGE, "/api/v1/map": PAGE, "/api/v1/map/bounds": PAGE,
    "/api/v1/people": PAGE,
    "/api/v1/people/{ref}": Rule(USER, MEMBER),
    "/api/v1/people/{ref}/merge": Rule(USER, MEMBER),
    "/api/v1/faces/{face_id}": Rule(USER, MEMBER),
    "/api/v1/status": Rule(ADMIN),
    "/api/v1/health": Rule(OPEN, anonymous=True),
    "/webdav": Rule(OPEN, OPEN),  # HTTP Basic over the same accounts, checked inside (viewer/webdav.py)
    # logging in and out: the login itself is checked by its own form token (pages) or Origin and a JSON body
    "/login": Rule(OPEN, OPEN),
    "/logout": Rule(OPEN, USER),
    "/api/v1/session": Rule(OPEN, USER, methods={"POST": OPEN}),
    # share links: a visitor needs only the token (views/shares.py checks it, the password and the download flag;
    # the password form is rate-limited like a login); making, listing and revoking them is for members
    "/s/{token}": Rule(OPEN, OPEN),
    "/s/{token}/photos/{photo_id}": Rule(OPEN),
    "/s/{token}/photos/{photo_id}/original": Rule(OPEN),
    "/s/{token}/photos/{photo_id}/play": Rule(OPEN),
    "/s/{token}/thumb/{size}/{name}": Rule(OPEN),
    "/api/v1/shares": Rule(MEMBER, MEMBER),
    "/api/v1/shares/{token}": Rule(MEMBER, MEMBER),
    # the user's own account (any role changes their own password), and the admin page and users API
    "/account": Rule(USER, USER),
    "/api/v1/account/password": Rule(USER, USER),
    "/admin": Rule(ADMIN), "/admin/users": Rule(ADMIN), "/admin/users/{name}/{action}": Rule(ADMIN),
    "/admin/shares/{token}/revoke": Rule(ADMIN),
    "/api/v1/users": Rule(ADMIN), "/api/v1/users/{name}": Rule(ADMIN),
}
UNKNOWN = Rule(USER, ADMIN)  # a path no route matches: a 404 only for those who may browse


def route_rule(scope: Scope) -> tuple[str | None, Rule]:
    """The path template of the route a request goes to (as the router will pick it) and its rule."""
    partial: str | None = None
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route.path, _rule_for(route.path)
        if match == Match.PARTIAL and partial is None:
            partial = route.path
    if partial is not None:
        return partial, _rule_for(partial)
    return None, UNKNOWN


_warned: set[str] = set()


def _rule_for(path: str) -> Rule:
    rule = ACCESS.get(path)
    if rule is None:
        if path not in _warned:
            _warned.add(path)
            log.warning("route %s has no entry in viewer/auth.py ACCESS: admins only", path)
        return Rule(ADMIN)
    return rule


# --- tokens ---


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_token(secret: bytes, session_token: str) -> str:
    """The session's CSRF token: an HMAC of the session, so it needs no storage and dies with the session."""
    message = b"csrf\0" + accounts.session_id(session_token).encode("ascii")
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def login_token(secret: bytes, nonce: str) -> str:
    """The login form's CSRF token, bound to the pre-session cookie's nonce (no login CSRF)."""
    return _b64(hmac.new(secret, b"login\0" + nonce.encode("utf-8", "replace"), hashlib.sha256).digest())


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8", "replace"), expected.encode("ascii"))


def _signer(secret: bytes, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=salt)


def sign(secret: bytes, value: str, salt: str = SESSION_COOKIE) -> str:
    return str(_signer(secret, salt).dumps(value))


def unsign(secret: bytes, signed: str | None, salt: str = SESSION_COOKIE) -> str | None:
    if not signed or len(signed) > 512:
        return None
    try:
        value = _signer(secret, salt).loads(signed)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


# --- reading a request ---


def cookies(scope: Scope) -> dict[str, str]:
    from starlette.requests import cookie_parser

    out: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key == b"cookie":
            out.update(cookie_parser(value.decode("latin-1")))
    return out


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


def own_origins(scope: Scope, config: Config) -> set[tuple[str, str, int]]:
    """The origins this request was made to: the scheme and Host it came with, and server.base_url."""
    out: set[tuple[str, str, int]] = set()
    host = header(scope, b"host")
    if host:
        mine = _origin(f"{scope.get('scheme', 'http')}://{host}")
        if mine:
            out.add(mine)
    if config.server.base_url:
        base = _origin(config.server.base_url)
        if base:
            out.add(base)
    return out


def cross_site(scope: Scope, config: Config) -> str | None:
    """Why a write looks sent by another site's page, or None. A browser names the page's origin in `Origin`
    (or at least `Referer`); `Origin: null` (a sandboxed frame, a file, a redirect across sites) is refused."""
    origin = header(scope, b"origin")
    if origin is not None:
        if origin.strip().lower() == "null":
            return "a write from an opaque origin (Origin: null) is refused"
        parsed = _origin(origin)
        if parsed is None or parsed not in own_origins(scope, config):
            return "a write from another site is refused"
        return None
    referer = header(scope, b"referer")
    if referer:
        parsed = _origin(referer)
        if parsed is None or parsed not in own_origins(scope, config):
            return "a write from another site is refused"
    return None


def secure_cookies(scope: Scope, config: Config) -> bool:
    mode = config.auth.secure_cookies
    if mode == "always":
        return True
    if mode == "never":
        return False
    return scope.get("scheme") == "https" or config.server.base_url.startswith("https://")


def set_cookie(response: Response, scope: Scope, config: Config, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=root_path(scope) or "/", httponly=True, samesite="lax",
                        secure=secure_cookies(scope, config))


def clear_cookie(response: Response, scope: Scope, config: Config, name: str) -> None:
    response.delete_cookie(name, path=root_path(scope) or "/", httponly=True, samesite="lax",
                           secure=secure_cookies(scope, config))


def session_cookie(response: Response, scope: Scope, config: Config, secret: bytes, token: str) -> None:
    set_cookie(response, scope, config, SESSION_COOKIE, sign(secret, token), config.auth.session_days * 86400)


def safe_next(target: str | None) -> str:
    """A local path to go back to after logging in ("/" for anything else: another site, a scheme, `//host`)."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return "/"
    if not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n\t\\"):
        return "/"
    if urlsplit(target).scheme or urlsplit(target).netloc:
        return "/"
    return target


# --- the app's secret and the sessions ---


async def secret(app: Any) -> bytes:
    """The catalog's signing secret, read (or made) once per app."""
    value: bytes | None = getattr(app.state, "auth_secret", None)
    if value is None:
        value = await app.state.catalog.write(accounts.secret_key)
        app.state.auth_secret = value
    return value


@dataclass
class Identity:
    user: Any  # a User row
    session: Any  # its UserSession row
    token: str


class SessionCache:
    """Session lookups for the thumbnail path, kept a few seconds (a grid page is 100+ thumbnails). Pages and the
    API always ask the catalog, so a revoked session ends at once there; any write through this process clears
    the cache, and a revocation made elsewhere (the CLI) reaches thumbnails within MEDIA_CACHE_SECONDS."""

    def __init__(self, seconds: float = MEDIA_CACHE_SECONDS, size: int = 256) -> None:
        self.seconds = seconds
        self.size = size
        self._items: dict[str, tuple[float, Identity | None]] = {}

    def get(self, token: str) -> tuple[bool, Identity | None]:
        hit = self._items.get(token)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, token: str, identity: Identity | None) -> None:
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[token] = (time.monotonic() + self.seconds, identity)

    def clear(self) -> None:
        self._items.clear()


async def lookup(app: Any, token: str, days: int) -> Identity | None:
    found = await app.state.catalog.read(accounts.session_user, token, days=days)
    return Identity(found[0], found[1], token) if found else None


# --- the middleware ---


class Auth:
    """Between the front door and the app (and before the thumbnail fast path): finds the session, answers 401,
    303 to /login or 403 where the route's rule says so, and checks the CSRF token and origin of every write."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config
        self.public = config.auth.mode == "public"
        self.cache = SessionCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        state = scope.setdefault("state", {})
        state.update(user=None, role=None, csrf_token=None, session_token=None)
        method = scope["method"]
        _, rule = route_rule(scope)
        level = rule.level(method)
        writing = method not in READS
        if self.public:
            state["role"] = "public"
            if writing:
                await self._deny(scope, receive, send, 403, "this viewer is public (auth.mode = \"public\"): "
                                 "nothing can be changed here")
                return
            if level in (MEMBER, ADMIN):
                await self._deny(scope, receive, send, 403, "this page needs a login, and this viewer is public")
                return
            await self.app(scope, receive, send)
            return

        key = await secret(app)
        identity = None if rule.anonymous else await self._identify(scope, key, media=rule.media)
        if identity is not None:
            state.update(user=identity.user, role=identity.user.role, session_token=identity.token,
                         csrf_token=csrf_token(key, identity.token))
        if writing:
            why = cross_site(scope, self.config)
            if why:
                await self._deny(scope, receive, send, 403, why)
                return
        if level != OPEN:
            if identity is None:
                await self._login_first(scope, receive, send, rule)
                return
            if RANK[level] > RANK.get(identity.user.role, 0):
                await self._deny(scope, receive, send, 403,
                                 f"{identity.user.role}s cannot do this (it needs a {level} or an admin)"
                                 if level != ADMIN else "only an admin can do this")
                return
            if writing:
                receive, given = await self._csrf_given(scope, receive)
                if not same_token(given, state["csrf_token"]):
                    await self._deny(scope, receive, send, 403, f"missing or wrong CSRF token (send the page's "
                                     f"csrf-token in the {CSRF_HEADER} header or a {CSRF_FIELD} form field)")
                    return
        if writing:
            self.cache.clear()  # a password, role or logout change here takes effect for thumbnails at once
        if identity is not None and not rule.media:
            send = await self._touch(scope, send, identity, key)
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope, key: bytes, *, media: bool) -> Identity | None:
        token = unsign(key, cookies(scope).get(SESSION_COOKIE))
        if token is None:
            return None
        app = scope["app"]
        if media:
            hit, identity = self.cache.get(token)
            if hit:
                return identity
        identity = await lookup(app, token, self.config.auth.session_days)
        if media:
            self.cache.put(token, identity)
        return identity

    async def _touch(self, scope: Scope, send: Send, identity: Identity, key: bytes) -> Send:
        """The sliding expiry: every few minutes of use moves the session's last use and renews the cookie."""
        seen = identity.session.last_seen
        if seen is not None and seen > utcnow() - dt.timedelta(seconds=accounts.SESSION_TOUCH_SECONDS):
            return send  # used a moment ago: nothing to write (the common case)
        if not await scope["app"].state.catalog.write(accounts.touch_session, identity.session):
            return send
        renewed = Response()
        session_cookie(renewed, scope, self.config, key, identity.token)
        cookie = [(k, v) for k, v in renewed.raw_headers if k == b"set-cookie"]

        async def send_renewed(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = [v for k, v in message.get("headers", []) if k == b"set-cookie"]
                if not any(v.startswith(SESSION_COOKIE.encode() + b"=") for v in names):
                    message["headers"] = [*message.get("headers", []), *cookie]
            await send(message)

        return send_renewed

    async def _csrf_given(self, scope: Scope, receive: Receive) -> tuple[Receive, str | None]:
        """The CSRF token from the header, else from a form body's field (the body is read here and replayed)."""
        given = header(scope, CSRF_HEADER.lower().encode())
        if given:
            return receive, given
        ctype = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return receive, None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > MAX_FORM_BYTES:
                return receive, None
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if ctype == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            return replay, fields.get(CSRF_FIELD)
        form = await Request(dict(scope), replay).form()
        value = form.get(CSRF_FIELD)
        replayed = False
        return replay, value if isinstance(value, str) else None

    async def _login_first(self, scope: Scope, receive: Receive, send: Send, rule: Rule) -> None:
        path = route_path(scope)
        if rule.media or path.startswith("/api/") or scope["method"] not in READS:
            await self._deny(scope, receive, send, 401, "log in first (POST /api/v1/session)")
            return
        target = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        url = f"{root_path(scope)}/login" + (f"?next={quote(target, safe='')}" if target != "/" else "")
        await RedirectResponse(url, status_code=303)(scope, receive, send)

    async def _deny(self, scope: Scope, receive: Receive, send: Send, code: int, message: str) -> None:
        log.debug("%s %s: %d %s", scope["method"], scope["path"], code, message)
        response = await deny_response(Request(scope, receive), code, message)
        await response(scope, receive, send)


async def deny_response(request: Request, code: int, message: str) -> Response:
    """JSON under /api/ and for bytes; an error page for a page."""
    path = route_path(request.scope)
    if path.startswith(("/api/", "/thumb/", "/faces/", "/static/")) or path.endswith(("/original", "/play")) \
            or request.method not in READS and "text/html" not in request.headers.get("accept", ""):
        headers = {"WWW-Authenticate": 'Cookie realm="photoshelf"'} if code == 401 else None
        return JSONResponse({"error": message}, status_code=code, headers=headers)
    from photoshelf.viewer.views.common import render

    return render(request, "error.html", {"title": "Not allowed", "code": code, "message": message,
                                          "position": None}, status_code=code)


def audience(request: Request) -> Any:
    """Whom this request shows photos to (a photoshelf.visibility.Audience): see viewer/audience.py."""
    from photoshelf.viewer.audience import audience as of_request

    return of_request(request)

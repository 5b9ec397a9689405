"""WebDAV logins: HTTP Basic (what phone apps and rclone speak) over the catalog's accounts, with the web login's
limits on failed attempts, and a short cache of good checks (argon2 costs ~50-100 ms; a sync makes hundreds of
requests) keyed by the user's credentials, so a password or role change, or a removal, counts at once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee as pw
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.http_authenticator import HTTPAuthenticator

from photoshelf import accounts
from photoshelf.config import AuthConfig
from photoshelf.db.transactions import run_write
from photoshelf.errors import NotFound
from photoshelf.viewer.webdav_provider import USER_KEY, DavUser

log = logging.getLogger(__name__)

REALM = "photoshelf"
CACHE_SECONDS = 300
CACHE_ENTRIES = 256
LOGIN_KEY = "photoshelf_login"  # the wsgidav config entry that hands the BasicLogin to the domain controller

Writer = Callable[..., Any]  # runs fn(*args, **kwargs) as one catalog write (CatalogAccess.write_now)


class LoginBlocked(Exception):
    """Too many failed logins from this address or for this name: the message says how long to wait."""


@dataclass(frozen=True)
class _Good:
    user: DavUser
    credentials: str
    until: float


class BasicLogin:
    """Checks a name and password against the accounts; counts failures in the same table as the web login."""

    def __init__(self, config: AuthConfig, db: pw.Database, write: Writer | None = None) -> None:
        self.config = config
        self.db = db
        self.write = write or self._write_here
        self._key = secrets.token_bytes(32)  # the cache never holds a password, only a keyed hash of it
        self._good: OrderedDict[bytes, _Good] = OrderedDict()
        self._lock = threading.Lock()

    def _write_here(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return run_write(self.db, fn, *args, **kwargs)

    def check(self, name: str, password: str, ip: str) -> DavUser | None:
        """The user for a right name and password, None for a wrong one; LoginBlocked while the limits hold."""
        self.db.connect(reuse_if_open=True)  # one connection per WSGI thread, reused
        key = hmac.digest(self._key, f"{name}\0{password}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        try:
            row = accounts.get_user(name)
        except NotFound:
            row = None
        with self._lock:
            good = self._good.get(key)
        if good is not None and row is not None and good.until > time.monotonic() \
                and good.credentials == _credentials(row):
            return good.user
        auth = self.config
        wait = accounts.login_blocked(ip, name, per_ip=auth.login_attempts_per_ip,
                                      per_user=auth.login_attempts_per_user, window_minutes=auth.login_window_minutes)
        if wait:
            raise LoginBlocked(wait)
        user = accounts.authenticate(name, password)
        if user is None:
            self.write(accounts.record_login_failure, ip, name)
            log.warning("webdav: failed login as %r from %s", name[:64], ip)
            return None
        self.write(accounts.clear_login_failures, ip, name)
        found = DavUser(user.id, user.name, user.role)
        with self._lock:
            self._good[key] = _Good(found, _credentials(user), time.monotonic() + CACHE_SECONDS)
            self._good.move_to_end(key)
            while len(self._good) > CACHE_ENTRIES:
                self._good.popitem(last=False)
        return found


def _credentials(user: Any) -> str:
    # The hash itself too: two changes within MariaDB's one-second updated_at would leave the version alike.
    return f"{accounts.credentials_version(user)}:{user.password_hash}"


class AccountsDomainController(BaseDomainController):
    """wsgidav's hook for who may log in: every request needs a login in the realm "photoshelf"."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.login: BasicLogin = config[LOGIN_KEY]

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False  # only argon2 hashes are kept: Digest would need the passwords themselves

    def basic_auth_user(self, realm: str, user_name: str, password: str, environ: dict[str, Any]) -> bool:
        user = self.login.check(user_name, password, environ.get("REMOTE_ADDR", ""))
        if user is None:
            return False
        environ[USER_KEY] = user
        environ["wsgidav.auth.roles"] = (user.role,)
        return True


class BasicAuthenticator(HTTPAuthenticator):
    """wsgidav's authenticator, reading the Basic header without trusting it (a malformed one is a 401, not a
    500) and answering 429 while the login limits hold."""

    def handle_basic_auth_request(self, environ: dict[str, Any], start_response: Any) -> Any:
        credentials = parse_basic(environ.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            return self.send_basic_auth_response(environ, start_response)
        name, password = credentials
        try:
            ok = self.domain_controller.basic_auth_user(REALM, name, password, environ)
        except LoginBlocked as exc:
            body = f"{exc}\n".encode()
            start_response("429 Too Many Requests", [
                ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                ("Retry-After", str(60 * self.domain_controller.login.config.login_window_minutes))])
            return [body]
        if not ok:
            return self.send_basic_auth_response(environ, start_response)
        environ["wsgidav.auth.realm"] = REALM
        environ["wsgidav.auth.user_name"] = environ[USER_KEY].name
        return self.next_app(environ, start_response)


def parse_basic(header: str) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic ...` header; None when it is not one or is malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, sep, password = decoded.partition(":")
    if not sep or not name:
        return None
    return name, password

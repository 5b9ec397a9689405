"""Logging in and out: the login page and the session API, the cookie's flags, revocation, failed-login limits,
open redirects, public mode, the safety headers on every kind of response, and proxies' headers."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from logins import PASSWORD, ensure_users, log_in, viewer_client
from starlette.testclient import TestClient

from photoshelf import accounts
from photoshelf.db.schema import LoginFailure, Photo, User, UserSession
from photoshelf.viewer.auth import SESSION_COOKIE, safe_next

from conftest import Library


@pytest.fixture
def person(lib: Library) -> Iterator[str]:
    """A member of their own, removed after the test (tests here change passwords and end sessions)."""
    ensure_users(lib.db)
    name = f"t{secrets.token_hex(4)}"
    accounts.add_user(name, "member", PASSWORD)
    yield name
    if User.get_or_none(User.name == name) is not None:
        accounts.remove_user(name)
    LoginFailure.delete().where(LoginFailure.name == name).execute()


def _cookie(response: Any) -> str:
    return next(v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE + "="))


def test_login_page_form_then_back_where_asked(lib: Library, anonymous: TestClient) -> None:
    ensure_users(lib.db)
    r = anonymous.get("/albums?x=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Falbums%3Fx%3D1"
    page = anonymous.get(r.headers["location"])
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'class="side"' not in page.text and 'class="searchbox"' not in page.text  # nothing to browse yet
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    nxt = re.search(r'name="next" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert nxt == "/albums?x=1"
    wrong = anonymous.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token,
                                           "next": nxt})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    r = anonymous.post("/login", data={"username": "Admin", "password": PASSWORD, "csrf_token": token,
                                       "next": nxt}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/albums?x=1"
    page = anonymous.get("/albums?x=1")
    assert page.status_code == 200 and 'class="side"' in page.text
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)  # type: ignore[union-attr]
    session = anonymous.get("/api/v1/session").json()
    assert session == {"user": "admin", "role": "admin", "csrf_token": meta}
    assert anonymous.get("/login", follow_redirects=False).headers["location"] == "/"  # logged in already


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x",
                                    "http:/evil", "evil.example", "/ok\r\nSet-Cookie: x=1", ""])
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/"


def test_next_keeps_local_paths() -> None:
    assert safe_next("/photos/12?q=year%3A2019") == "/photos/12?q=year%3A2019"


def test_session_api_login_logout(lib: Library, anonymous: TestClient, person: str) -> None:
    assert anonymous.get("/api/v1/session").status_code == 401
    r = anonymous.post("/api/v1/session", json={"username": person, "password": "wrong password"})
    assert r.status_code == 401 and r.json() == {"error": "wrong user name or password"}
    r = anonymous.post("/api/v1/session", json={"username": "nobody-at-all", "password": PASSWORD})
    assert r.status_code == 401 and r.json() == {"error": "wrong user name or password"}  # same answer
    token = log_in(anonymous, person)
    assert anonymous.get("/api/v1/session").json() == {"user": person, "role": "member", "csrf_token": token}
    assert anonymous.get("/api/v1/search?limit=1").status_code == 200
    r = anonymous.delete("/api/v1/session")
    assert r.status_code == 200 and "Max-Age=0" in _cookie(r)
    assert anonymous.get("/api/v1/search?limit=1").status_code == 401
    assert not UserSession.select().join(User).where(User.name == person).exists()


def test_the_cookie_is_signed_httponly_lax_and_secure_over_https(lib: Library, person: str) -> None:
    with viewer_client(lib.config, lib.db, role=None) as plain:
        r = plain.post("/api/v1/session", json={"username": person, "password": PASSWORD})
        cookie = _cookie(r)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert f"Max-Age={lib.config.auth.session_days * 86400}" in cookie and "Secure" not in cookie
        value = plain.cookies[SESSION_COOKIE]
        assert plain.get("/api/v1/session").status_code == 200
        for forged in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), secrets.token_urlsafe(32)):
            plain.cookies.clear()
            plain.cookies.set(SESSION_COOKIE, forged)
            assert plain.get("/api/v1/session").status_code == 401  # a tampered signature is no session
    with viewer_client(lib.config, lib.db, role=None, base_url="https://photoshelf.test") as https:
        assert "Secure" in _cookie(https.post("/api/v1/session", json={"username": person, "password": PASSWORD}))
    for mode, secure in (("always", True), ("never", False)):
        config = copy.deepcopy(lib.config)
        config.auth.secure_cookies = mode
        base = "https://photoshelf.test" if mode == "never" else "http://photoshelf.test"
        with viewer_client(config, lib.db, role=None, base_url=base) as c:
            cookie = _cookie(c.post("/api/v1/session", json={"username": person, "password": PASSWORD}))
            assert ("Secure" in cookie) is secure, (mode, cookie)


def test_a_password_change_or_removal_ends_the_sessions(lib: Library, person: str) -> None:
    with viewer_client(lib.config, lib.db, role=None) as c, viewer_client(lib.config, lib.db, role=None) as other:
        log_in(c, person)
        log_in(other, person)
        accounts.set_password(person, "a brand new password")
        for client in (c, other):
            assert client.get("/api/v1/session").status_code == 401
            r = client.get("/", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
        log_in(c, person, "a brand new password")
        accounts.set_role(person, "viewer")
        assert c.get("/api/v1/session").status_code == 401
        log_in(c, person, "a brand new password")
        assert c.get("/api/v1/session").json()["role"] == "viewer"
        photo = Photo.select().where(Photo.private == False).first()  # noqa: E712
        assert c.patch(f"/api/v1/photos/{photo.id}", json={"favorite": True}).status_code == 403
        accounts.remove_user(person)
        assert c.get("/api/v1/session").status_code == 401


def test_failed_logins_are_limited_per_user_and_per_address(lib: Library, person: str) -> None:
    per_user, per_ip = lib.config.auth.login_attempts_per_user, lib.config.auth.login_attempts_per_ip
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    try:
        with viewer_client(lib.config, lib.db, role=None, client=(address, 40000)) as c:
            for _ in range(per_user):
                assert c.post("/api/v1/session", json={"username": person, "password": "guess"}).status_code == 401
            r = c.post("/api/v1/session", json={"username": person, "password": PASSWORD})  # even the right one
            assert r.status_code == 429 and "too many failed logins for this user" in r.json()["error"]
            assert "minutes" in r.json()["error"] and int(r.headers["retry-after"]) > 0
            page = c.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            r = c.post("/login", data={"username": person, "password": PASSWORD, "csrf_token": token})
            assert r.status_code == 429 and "Too many failed logins" in r.text
            # other names from the same address, until the address is blocked too
            for i in range(per_ip - per_user):
                c.post("/api/v1/session", json={"username": f"guess{i}", "password": "guess"})
            r = c.post("/api/v1/session", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 429 and "from this address" in r.json()["error"]
        # another address may still log in as someone else (admin), but not as the blocked user
        with viewer_client(lib.config, lib.db, role=None, client=("10.255.0.1", 40000)) as elsewhere:
            log_in(elsewhere, "admin")
            assert elsewhere.post("/api/v1/session", json={"username": person,
                                                           "password": PASSWORD}).status_code == 429
    finally:
        LoginFailure.delete().where(LoginFailure.ip == address).execute()


def test_public_mode_has_no_logins_and_no_writes(lib: Library) -> None:
    config = copy.deepcopy(lib.config)
    config.auth.mode = "public"
    with viewer_client(config, lib.db, role=None) as c:
        assert c.get("/").status_code == 200
        assert c.get("/login", follow_redirects=False).headers["location"] == "/"
        assert c.get("/api/v1/session").json() == {"user": None, "role": "public", "csrf_token": None}
        r = c.post("/api/v1/session", json={"username": "admin", "password": PASSWORD})
        assert r.status_code == 403 and "public" in r.json()["error"]
        photo = Photo.select().first()
        assert c.patch(f"/api/v1/photos/{photo.id}", json={"favorite": True}).status_code == 403
        assert c.get("/status").status_code == 403 and c.get("/admin").status_code == 403


HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin"}


def test_safety_headers_on_every_kind_of_response(client: TestClient, anonymous: TestClient) -> None:
    photo = Photo.select().where((Photo.has_thumbs == True) & (Photo.private == False)  # noqa: E712
                                 & (Photo.archived == False)).first()  # noqa: E712
    responses = {
        "page": client.get("/"), "api": client.get("/api/v1/search?limit=1"), "static": client.get("/static/app.js"),
        "thumbnail": client.get(f"/thumb/tile/{photo.sha1}.jpg"),
        "thumbnail 304": client.get(f"/thumb/tile/{photo.sha1}.jpg", headers={"If-None-Match": f'"{photo.sha1}-tile"'}),
        "original": client.get(f"/photos/{photo.id}/original"), "404 page": client.get("/no/such/page"),
        "404 api": client.get("/api/v1/photos/999999999"), "401": anonymous.get("/api/v1/search"),
        "303": anonymous.get("/", follow_redirects=False), "login": anonymous.get("/login"),
        "403 csrf": client.post("/albums", data={"title": "x"}, headers={"X-CSRF-Token": "wrong"}),
        "400 host": client.get("/", headers={"Host": "evil.example"}),
    }
    assert responses["thumbnail"].status_code == 200 and responses["thumbnail 304"].status_code == 304
    for what, r in responses.items():
        for key, value in HEADERS.items():
            assert r.headers.get(key) == value, (what, key, r.status_code)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in \
            csp.split("style-src-attr")[0], (what, csp)
        assert "object-src 'none'" in csp and "base-uri 'self'" in csp and "form-action 'self'" in csp


def test_the_map_tile_server_is_allowed_for_images_only(lib: Library) -> None:
    config = copy.deepcopy(lib.config)
    config.viewer.tile_url = "https://{s}.tile.example.org/{z}/{x}/{y}.png"
    with viewer_client(config, lib.db) as c:
        csp = c.get("/map").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://*.tile.example.org;" in csp
    assert "connect-src 'self';" in csp


def test_no_inline_script_or_handler_in_any_page(client: TestClient) -> None:
    photo = Photo.select().where(Photo.private == False).first()  # noqa: E712
    for path in ("/", "/search", f"/photos/{photo.id}", "/albums", "/map", "/people", "/folders", "/status",
                 "/duplicates", "/account", "/admin"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "javascript:" not in html, path


def test_proxy_headers_only_from_trusted_proxies(lib: Library, person: str) -> None:
    config = copy.deepcopy(lib.config)
    config.server.trusted_proxies = ["10.77.0.0/16"]
    config.server.allowed_hosts = ["photos.example.org"]
    forwarded = {"X-Forwarded-For": "203.0.113.9, 10.77.0.5", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "photos.example.org"}
    with viewer_client(config, lib.db, role=None, client=("10.77.0.1", 1)) as proxied:
        r = proxied.post("/api/v1/session", json={"username": person, "password": "wrong"}, headers=forwarded)
        assert r.status_code == 401  # answered: the forwarded host is an allowed one
        assert LoginFailure.select().where((LoginFailure.name == person)
                                           & (LoginFailure.ip == "203.0.113.9")).exists()
        r = proxied.post("/api/v1/session", json={"username": person, "password": PASSWORD}, headers=forwarded)
        assert "Secure" in _cookie(r)  # the proxy said the browser came over HTTPS
    with viewer_client(config, lib.db, role=None, client=("192.0.2.50", 1),
                       base_url="http://internal.example") as direct:
        # an untrusted peer's X-Forwarded-Host is not believed: its own Host (internal.example) is not allowed
        assert direct.get("/login", headers=forwarded).status_code == 400
    assert LoginFailure.select().where(LoginFailure.ip == "10.77.0.1").count() == 0


def test_under_a_root_path_cookies_and_redirects_carry_it(lib: Library, person: str) -> None:
    with viewer_client(lib.config, lib.db, role=None, root_path="/shelf") as c:
        r = c.get("/shelf/albums", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/shelf/login?next=%2Falbums"
        r = c.post("/shelf/api/v1/session", json={"username": person, "password": PASSWORD})
        assert r.status_code == 200 and "Path=/shelf" in _cookie(r)


def test_the_first_serve_makes_the_admin_from_the_environment(tmp_path: Any) -> None:
    from photoshelf.cli.serve import first_admin, root_path_of
    from photoshelf.db.schema import database_proxy

    from conftest import make_library

    lib = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", None)
    try:
        database_proxy.initialize(lib.db)
        note = first_admin(lib.config, {})
        assert note and "photoshelf users add NAME --role admin" in note and accounts.count_users() == 0
        with pytest.raises(accounts.AccountError, match="PHOTOSHELF_ADMIN_PASSWORD: the password must have"):
            first_admin(lib.config, {"PHOTOSHELF_ADMIN_PASSWORD": "short"})
        note = first_admin(lib.config, {"PHOTOSHELF_ADMIN_PASSWORD": PASSWORD})
        assert note and "'admin'" in note
        assert accounts.authenticate("admin", PASSWORD) is not None
        assert accounts.get_user("admin").role == "admin"
        assert first_admin(lib.config, {"PHOTOSHELF_ADMIN_PASSWORD": "another password"}) is None  # users exist
        assert accounts.authenticate("admin", PASSWORD) is not None
        # Family accounts made before any admin (a viewer for gran on a fresh catalog): still no admin.
        from photoshelf.db.schema import User

        User.delete().execute()  # a fresh catalog again
        accounts.add_user("gran", "viewer", PASSWORD)
        note = first_admin(lib.config, {})
        assert note and note.startswith("no user is an admin") and accounts.first_admin() is None
        accounts.add_user("admin", "member", PASSWORD)
        note = first_admin(lib.config, {"PHOTOSHELF_ADMIN_PASSWORD": "another password"})
        assert note and "a user named 'admin' exists (role member)" in note and "users role admin admin" in note
        assert accounts.get_user("admin").role == "member" and accounts.authenticate("admin", PASSWORD)
        accounts.remove_user("admin")
        note = first_admin(lib.config, {"PHOTOSHELF_ADMIN_PASSWORD": "another password"})
        admin = accounts.first_admin()
        assert note and "'admin'" in note and admin is not None and admin.name == "admin"
        assert accounts.get_user("gran").role == "viewer"
    finally:
        lib.db.close()
        database_proxy.initialize(None)
    lib.config.server.base_url = "https://photos.example.org/shelf/"
    assert root_path_of(lib.config, None) == "/shelf"
    assert root_path_of(lib.config, "/other/") == "/other"
    lib.config.server.base_url = ""
    assert root_path_of(lib.config, None) == ""

"""Who may use which route: every route of the app (read from its router, so a new route cannot be forgotten) ×
every method × {anonymous, viewer, member, admin, public mode} against the expected status, on both backends."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from logins import log_in, viewer_client
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from photoshelf import shares
from photoshelf.db.schema import Album, AlbumPhoto, Folder, Person, Photo

from conftest import Library

OPEN, VIEWER, MEMBER, ADMIN = "open", "viewer", "member", "admin"
RANK = {VIEWER: 1, MEMBER: 2, ADMIN: 3}
AUDIENCES = ("anonymous", "viewer", "member", "admin", "public")

# The policy, written out on its own (viewer/auth.py ACCESS implements it): the least role each route and
# method needs. "open": anyone, no login.
EXPECTED: dict[str, dict[str, str]] = {
    "/": {"GET": VIEWER}, "/search": {"GET": VIEWER}, "/favorites": {"GET": VIEWER}, "/videos": {"GET": VIEWER},
    "/archive": {"GET": VIEWER}, "/private": {"GET": VIEWER}, "/map": {"GET": VIEWER},
    "/folders": {"GET": VIEWER}, "/folders/{folder_id}": {"GET": VIEWER}, "/calendar": {"GET": VIEWER},
    "/places": {"GET": VIEWER}, "/duplicates": {"GET": VIEWER}, "/people": {"GET": VIEWER},
    "/duplicates/resolve": {"POST": MEMBER}, "/duplicates/unresolve": {"POST": MEMBER},
    "/things": {"GET": VIEWER}, "/api/v1/things": {"GET": VIEWER}, "/memories": {"GET": VIEWER},
    "/api/v1/memories": {"GET": VIEWER},
    "/people/{ref}": {"GET": VIEWER}, "/photos/{photo_id}": {"GET": VIEWER}, "/albums/{ref}": {"GET": VIEWER},
    "/albums": {"GET": VIEWER, "POST": MEMBER},
    "/photos/{photo_id}/edit": {"POST": MEMBER}, "/albums/add": {"POST": MEMBER},
    "/albums/{ref}/{action}": {"POST": MEMBER}, "/people/{ref}/{action}": {"POST": MEMBER},
    "/faces/{face_id}/{action}": {"POST": MEMBER},
    "/status": {"GET": ADMIN},
    "/thumb/{size}/{name}": {"GET": VIEWER}, "/photos/{photo_id}/original": {"GET": VIEWER},
    "/photos/{photo_id}/play": {"GET": VIEWER},
    "/faces/{name}": {"GET": VIEWER},
    "/api/v1/search": {"GET": VIEWER},
    "/api/v1/photos/{photo_id}": {"GET": VIEWER, "PATCH": MEMBER},
    "/api/v1/photos/{ref}/similar": {"GET": VIEWER},
    "/api/v1/photos": {"PATCH": MEMBER}, "/download": {"POST": VIEWER}, "/api/v1/state": {"GET": VIEWER},
    "/api/v1/albums": {"GET": VIEWER, "POST": MEMBER},
    "/api/v1/albums/{ref}": {"GET": VIEWER, "PATCH": MEMBER, "DELETE": MEMBER},
    "/api/v1/albums/{ref}/photos": {"POST": MEMBER, "PUT": MEMBER, "DELETE": MEMBER},
    "/api/v1/folders": {"GET": VIEWER}, "/api/v1/folders/{folder_id}": {"GET": VIEWER},
    "/api/v1/calendar": {"GET": VIEWER}, "/api/v1/places": {"GET": VIEWER}, "/api/v1/duplicates": {"GET": VIEWER},
    "/api/v1/map": {"GET": VIEWER}, "/api/v1/map/bounds": {"GET": VIEWER},
    "/api/v1/people": {"GET": VIEWER}, "/api/v1/people/{ref}": {"GET": VIEWER, "POST": MEMBER},
    "/api/v1/people/{ref}/merge": {"POST": MEMBER}, "/api/v1/faces/{face_id}": {"POST": MEMBER},
    "/api/v1/status": {"GET": ADMIN},
    "/api/v1/health": {"GET": OPEN},
    "/login": {"GET": OPEN, "POST": OPEN},
    "/logout": {"POST": VIEWER},
    "/api/v1/session": {"GET": OPEN, "POST": OPEN, "DELETE": VIEWER},
    "/account": {"GET": VIEWER, "POST": VIEWER}, "/api/v1/account/password": {"POST": VIEWER},
    "/s/{token}": {"GET": OPEN, "POST": OPEN}, "/s/{token}/photos/{photo_id}": {"GET": OPEN},
    "/s/{token}/photos/{photo_id}/original": {"GET": OPEN}, "/s/{token}/photos/{photo_id}/play": {"GET": OPEN},
    "/s/{token}/thumb/{size}/{name}": {"GET": OPEN},
    "/api/v1/shares": {"GET": MEMBER, "POST": MEMBER}, "/api/v1/shares/{token}": {"DELETE": MEMBER},
    "/admin": {"GET": ADMIN}, "/admin/users": {"POST": ADMIN}, "/admin/users/{name}/{action}": {"POST": ADMIN},
    "/admin/shares/{token}/revoke": {"POST": ADMIN},
    "/api/v1/users": {"GET": ADMIN, "POST": ADMIN}, "/api/v1/users/{name}": {"PATCH": ADMIN, "DELETE": ADMIN},
    "/static": {"GET": OPEN},
    "/webdav": {"GET": "basic", "PUT": "basic"},  # HTTP Basic of its own: a cookie session does not count
}
MEDIA = {"/thumb/{size}/{name}", "/photos/{photo_id}/original", "/photos/{photo_id}/play", "/faces/{name}"}

# What a route answers when the request may use it: 200 for a read unless said here; for a write, the sample's
# own refusal (the writes aim at nothing: a bad body or an unknown id), so nothing in the shared catalog changes.
# the small corpus has no faces without the ML extras, and no video it needs to transcode
READ_OK: dict[str, int] = {"/faces/{name}": 404, "/photos/{photo_id}/play": 404,
                           "/s/{token}/photos/{photo_id}/play": 404}
READ_OK_BY_AUDIENCE: dict[tuple[str, str], int] = {
    ("/api/v1/session", "anonymous"): 401,
    ("/login", "viewer"): 303, ("/login", "member"): 303, ("/login", "admin"): 303, ("/login", "public"): 303,
}
WRITE_OK_BY_AUDIENCE: dict[tuple[str, str], int] = {
    ("/login", "anonymous"): 403,  # a login form without its form token (login CSRF)
}
WRITE_OK = frozenset({200, 201, 303, 400, 404, 409, 415})


@dataclass
class Sample:
    """Real rows the GET URLs point at; writes point at ids that do not exist."""

    photo: Photo
    album: Album
    person: Person
    folder: Folder
    share: Any


@pytest.fixture
def sample(lib: Library) -> Iterator[Sample]:
    tag = secrets.token_hex(4)
    photo = (Photo.select().where((Photo.has_thumbs == True) & (Photo.private == False)  # noqa: E712
                                  & (Photo.archived == False)).order_by(Photo.id).first())  # noqa: E712
    album = Album.create(uid=f"acc{tag}", title=f"Access {tag}")
    AlbumPhoto.create(album=album, photo=photo, position=0)
    person = Person.create(uid=f"pacc{tag}", name=f"Access {tag}")
    share = shares.create_share(album=album, download=True)
    try:
        yield Sample(photo, album, person, Folder.select().order_by(Folder.id).first(), share)
    finally:
        share.delete_instance()
        AlbumPhoto.delete().where(AlbumPhoto.album == album.id).execute()
        album.delete_instance()
        person.delete_instance()


def _url(path: str, method: str, s: Sample) -> str:
    real = method in ("GET", "HEAD")
    values = {
        "photo_id": s.photo.id if real else 999999999, "ref": (s.album.uid if path.startswith(("/albums", "/api/v1/albums"))
                                                               else s.person.uid) if real else "nobody-like-this",
        "folder_id": s.folder.id, "face_id": 999999999, "action": "edit" if path.startswith("/albums") else "rename",
        "size": "tile", "token": s.share.token if real else "x" * 32, "name": "nobody-like-this",
    }
    if path == "/api/v1/photos/{ref}/similar":
        values["ref"] = s.photo.id
    if path.endswith("/thumb/{size}/{name}"):
        values["name"] = f"{s.photo.sha1}.jpg"
    if path == "/faces/{name}":
        values["name"] = "999999999.jpg"
    if path == "/static":
        return "/static/app.css"
    if path == "/webdav":
        return "/webdav/"
    return path.format(**values)


def _expected(path: str, method: str, level: str, audience: str) -> tuple[int, ...]:
    writing = method != "GET"
    if writing:
        ok = (WRITE_OK_BY_AUDIENCE[(path, audience)],) if (path, audience) in WRITE_OK_BY_AUDIENCE else WRITE_OK
    else:
        ok = (READ_OK_BY_AUDIENCE.get((path, audience)) or READ_OK.get(path, 200),)
    if level == "basic":
        return (401,)  # WebDAV's own challenge, whoever the cookie says
    if audience == "public":
        if writing or level in (MEMBER, ADMIN):
            return (403,)
        return tuple(ok)
    if level == OPEN:
        return tuple(ok)
    if audience == "anonymous":
        page = not writing and not path.startswith("/api/") and path not in MEDIA
        return (303,) if page else (401,)
    if RANK[audience] < RANK[level]:
        return (403,)
    return tuple(ok)


def _routes(app: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for route in app.routes:
        if isinstance(route, Route):
            out[route.path] = sorted(m for m in (route.methods or ["GET"]) if m != "HEAD")
        elif isinstance(route, Mount):
            out[route.path] = sorted(EXPECTED.get(route.path, {"GET": ""}))
    return out


def _send(client: TestClient, method: str, url: str) -> Any:
    if method == "GET":
        return client.get(url, follow_redirects=False)
    if url.startswith("/api/"):
        return client.request(method, url, json={}, follow_redirects=False)
    return client.request(method, url, data={}, follow_redirects=False)


def test_every_route_answers_each_role_as_expected(lib: Library, sample: Sample) -> None:
    public_config = copy.deepcopy(lib.config)
    public_config.auth.mode = "public"
    with ExitStack() as stack:
        clients = {role: stack.enter_context(viewer_client(lib.config, lib.db, role=role))
                   for role in ("viewer", "member", "admin")}
        clients["anonymous"] = stack.enter_context(viewer_client(lib.config, lib.db, role=None))
        clients["public"] = stack.enter_context(viewer_client(public_config, lib.db, role=None))
        routes = _routes(clients["admin"].app)
        missing = {p: m for p, m in routes.items() if set(m) - set(EXPECTED.get(p, {}))}
        assert not missing, f"routes with no expectation here (and in viewer/auth.py ACCESS): {missing}"
        stale = set(EXPECTED) - set(routes)
        assert not stale, f"expectations for routes the app does not have: {stale}"

        wrong: list[str] = []
        checked = 0
        for path, methods in EXPECTED.items():
            for method, level in methods.items():
                url = _url(path, method, sample)
                for audience in AUDIENCES:
                    if audience == "public" and path == "/webdav":
                        continue  # not mounted in public mode (nothing to upload to)
                    client = clients[audience]
                    r = _send(client, method, url)
                    checked += 1
                    expected = _expected(path, method, level, audience)
                    if r.status_code not in expected:
                        wrong.append(f"{audience:9} {method:6} {url}: {r.status_code}, expected {expected} "
                                     f"{r.text[:120]!r}")
                    if audience == "anonymous" and r.status_code == 303 and level != OPEN:
                        assert r.headers["location"].startswith("/login?next=") or url == "/", r.headers
                    if method in ("POST", "DELETE") and path in ("/logout", "/api/v1/session") \
                            and audience in RANK and r.status_code < 400:
                        log_in(client, audience)  # that logged it out
        assert not wrong, f"{len(wrong)} of {checked} answers differ:\n" + "\n".join(wrong)
        assert checked > 300


def test_a_route_missing_from_the_table_is_for_admins_only(lib: Library) -> None:
    """A route someone adds without an ACCESS entry is not open by accident."""
    from starlette.responses import PlainTextResponse

    async def forgotten(request: Any) -> PlainTextResponse:
        return PlainTextResponse("secret")

    with viewer_client(lib.config, lib.db, role="member") as member, viewer_client(lib.config, lib.db) as admin:
        for client in (member, admin):
            client.app.router.routes.insert(0, Route("/forgotten-route", forgotten))
        assert member.get("/forgotten-route").status_code == 403
        assert admin.get("/forgotten-route").text == "secret"

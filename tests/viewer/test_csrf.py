"""Cross-site writes: each write route, sent without the CSRF token, with a wrong one, from `Origin: null` (a
sandboxed frame, `fetch(..., {mode: "no-cors"})`), from another site's Origin or Referer, or under a foreign Host
(DNS rebinding) is refused and changes nothing in the catalog; the same write from the page itself goes through."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from photoshelf.db.schema import Album, AlbumPhoto, Person, Photo, Share, User

from conftest import Library


@dataclass
class Targets:
    photo: Photo
    album: Album
    person: Person


@pytest.fixture
def targets(lib: Library) -> Iterator[Targets]:
    tag = secrets.token_hex(4)
    photo = Photo.select().where((Photo.private == False) & (Photo.archived == False)  # noqa: E712
                                 & (Photo.favorite == False)).order_by(Photo.id).first()  # noqa: E712
    album = Album.create(uid=f"csrf{tag}", title=f"CSRF {tag}")
    person = Person.create(uid=f"pcsrf{tag}", name=f"CSRF {tag}")
    try:
        yield Targets(photo, album, person)
    finally:
        AlbumPhoto.delete().where(AlbumPhoto.album == album.id).execute()
        Album.delete().where(Album.id == album.id).execute()
        Person.delete().where(Person.id == person.id).execute()


def writes(t: Targets) -> list[tuple[str, str, dict[str, Any]]]:
    """Writes that would change the catalog if let through: (method, url, request options)."""
    return [
        ("POST", f"/photos/{t.photo.id}/edit", {"data": {"action": "favorite", "value": "true"}}),
        ("PATCH", f"/api/v1/photos/{t.photo.id}", {"json": {"favorite": True, "title": "hacked"}}),
        ("POST", "/albums", {"data": {"title": "made cross-site"}}),
        ("POST", "/albums/add", {"data": {"album": str(t.album.id), "photo": str(t.photo.id)}}),
        ("POST", f"/albums/{t.album.id}/delete", {"data": {}}),
        ("POST", f"/albums/{t.album.id}/edit", {"data": {"title": "renamed cross-site"}}),
        ("POST", "/api/v1/albums", {"json": {"title": "made cross-site"}}),
        ("PATCH", f"/api/v1/albums/{t.album.uid}", {"json": {"title": "renamed cross-site"}}),
        ("DELETE", f"/api/v1/albums/{t.album.uid}", {}),
        ("POST", f"/api/v1/albums/{t.album.uid}/photos", {"json": {"photos": [t.photo.id]}}),
        ("PUT", f"/api/v1/albums/{t.album.uid}/photos", {"json": {"photos": [t.photo.id]}}),
        ("POST", f"/people/{t.person.uid}/rename", {"data": {"name": "renamed cross-site"}}),
        ("POST", f"/api/v1/people/{t.person.uid}", {"json": {"name": "renamed cross-site"}}),
        ("POST", f"/api/v1/people/{t.person.uid}", {"json": {"hidden": True}}),
        ("POST", "/api/v1/shares", {"json": {"album": t.album.uid}}),
        ("POST", "/api/v1/users", {"json": {"name": "intruder", "role": "admin", "password": "x" * 12}}),
        ("POST", "/admin/users", {"data": {"name": "intruder", "role": "admin", "password": "x" * 12}}),
        ("PATCH", "/api/v1/users/viewer", {"json": {"role": "admin"}}),
        ("POST", "/api/v1/account/password", {"json": {"current_password": "x", "new_password": "y" * 12}}),
        ("DELETE", "/api/v1/session", {}),
        ("POST", "/logout", {"data": {}}),
    ]


def catalog_state() -> tuple[Any, ...]:
    """What a refused write must leave as it was."""
    return (
        [(p.id, p.favorite, p.title, p.private, p.archived) for p in Photo.select().order_by(Photo.id)],
        [(a.id, a.uid, a.title, a.description, a.cover_id) for a in Album.select().order_by(Album.id)],
        [(x.album_id, x.photo_id) for x in AlbumPhoto.select().order_by(AlbumPhoto.album, AlbumPhoto.photo)],
        [(p.id, p.name, p.hidden) for p in Person.select().order_by(Person.id)],
        [(u.name, u.role, u.password_hash) for u in User.select().order_by(User.id)],
        Share.select().count(),
    )


def session_alive(client: TestClient) -> bool:
    return client.get("/api/v1/session").status_code == 200


ATTACKS: dict[str, dict[str, str | None]] = {
    "no token": {"X-CSRF-Token": None},
    "wrong token": {"X-CSRF-Token": "not-the-token"},
    "Origin: null": {"Origin": "null"},
    "foreign Origin": {"Origin": "https://evil.example"},
    "foreign Origin, same host name": {"Origin": "http://photoshelf.test.evil.example"},
    "other port": {"Origin": "http://photoshelf.test:8080"},
    "foreign Referer": {"Referer": "https://evil.example/attack.html"},
}


def _attacked(client: TestClient, method: str, url: str, attack: dict[str, str | None], **options: Any) -> Any:
    """The request with the attack's headers: a None value leaves that header out (the client's default too)."""
    saved = dict(client.headers)
    try:
        for key, value in attack.items():
            client.headers.pop(key, None)
            if value is not None:
                client.headers[key] = value
        return client.request(method, url, follow_redirects=False, **options)
    finally:
        client.headers.clear()
        client.headers.update(saved)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_cross_site_writes_are_refused_and_change_nothing(client: TestClient, targets: Targets, attack: str) -> None:
    before = catalog_state()
    for method, url, options in writes(targets):
        r = _attacked(client, method, url, ATTACKS[attack], **options)
        assert r.status_code == 403, (attack, method, url, r.status_code, r.text[:200])
        if url.startswith("/api/"):
            assert "error" in r.json()
    assert catalog_state() == before
    assert session_alive(client)  # the logout attempts were refused too


def test_a_form_field_token_counts_and_a_wrong_one_does_not(client: TestClient, targets: Targets) -> None:
    token = client.headers.pop("X-CSRF-Token")
    url = f"/photos/{targets.photo.id}/edit"
    try:
        r = client.post(url, data={"action": "favorite", "value": "true", "csrf_token": token + "x"},
                        follow_redirects=False)
        assert r.status_code == 403 and not Photo.get_by_id(targets.photo.id).favorite
        r = client.post(url, data={"action": "favorite", "value": "true", "csrf_token": token},
                        headers={"Origin": "http://photoshelf.test", "Referer": f"http://photoshelf.test{url}"},
                        follow_redirects=False)
        assert r.status_code == 303 and Photo.get_by_id(targets.photo.id).favorite
        # multipart forms carry it too
        r = client.post(url, data={"action": "favorite", "value": "false", "csrf_token": token},
                        files={"unused": ("a.txt", b"x")}, follow_redirects=False)
        assert r.status_code == 303 and not Photo.get_by_id(targets.photo.id).favorite
    finally:
        client.headers["X-CSRF-Token"] = token
        Photo.update(favorite=False).where(Photo.id == targets.photo.id).execute()


def test_same_site_writes_go_through(client: TestClient, targets: Targets) -> None:
    """The control: with the token and the page's own Origin, the same writes work."""
    origin = {"Origin": "http://photoshelf.test"}
    r = client.post(f"/api/v1/people/{targets.person.uid}", json={"name": f"Renamed {targets.person.uid}"},
                    headers=origin)
    assert r.status_code == 200, r.text
    r = client.patch(f"/api/v1/albums/{targets.album.uid}", json={"title": "renamed here"}, headers=origin)
    assert r.status_code == 200, r.text
    assert Album.get_by_id(targets.album.id).title == "renamed here"


def test_a_token_belongs_to_its_session(lib: Library, client: TestClient, targets: Targets) -> None:
    """Another session's token (a member's, say) does not do for an admin's cookie."""
    from logins import viewer_client

    with viewer_client(lib.config, lib.db, role="member") as member:
        other = member.headers["X-CSRF-Token"]
    assert other != client.headers["X-CSRF-Token"]
    r = client.patch(f"/api/v1/albums/{targets.album.uid}", json={"title": "x"}, headers={"X-CSRF-Token": other})
    assert r.status_code == 403 and Album.get_by_id(targets.album.id).title == targets.album.title


@pytest.mark.parametrize("host", ["evil.example", "evil.example:2468", "localhost.evil.example", "[::2]"])
def test_a_foreign_host_is_refused_before_anything(client: TestClient, targets: Targets, host: str) -> None:
    before = catalog_state()
    for method, url, options in [("GET", "/", {}), ("GET", "/api/v1/search", {}), ("GET", "/login", {}),
                                 *writes(targets)[:3]]:
        r = client.request(method, url, headers={"Host": host}, follow_redirects=False, **options)
        assert r.status_code == 400, (host, method, url, r.status_code)
        assert r.headers["x-frame-options"] == "DENY"
    assert catalog_state() == before


def test_login_is_refused_from_another_site(anonymous: TestClient) -> None:
    """The login needs no session, but another site's page cannot log a browser in (login CSRF)."""
    from logins import PASSWORD

    for origin in ("null", "https://evil.example"):
        r = anonymous.post("/api/v1/session", json={"username": "admin", "password": PASSWORD},
                           headers={"Origin": origin})
        assert r.status_code == 403 and "photoshelf_session" not in r.headers.get("set-cookie", "")
    # a form post (no CORS preflight) cannot send it as JSON
    r = anonymous.post("/api/v1/session", content=f'{{"username": "admin", "password": "{PASSWORD}"}}',
                       headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    # the login page's form needs the token bound to its own pre-session cookie
    r = anonymous.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "photoshelf_session" not in r.headers.get("set-cookie", "")

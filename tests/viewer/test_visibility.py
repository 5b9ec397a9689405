"""Who sees what (photoshelf.visibility), through the real app on SQLite and MariaDB: a member's private photo is
invisible on every route to another member, a viewer and public mode, ids guessed one by one; its owner and the
admins see it. Archived photos show only in the archive view. The query layer's rule and its one-row form agree."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from households import Household, build, links, photo_id
from starlette.testclient import TestClient

from photoshelf.db.rows import tuples
from photoshelf.db.schema import Photo
from photoshelf.visibility import EVERYONE, NOBODY, PUBLIC, Audience, can_see, for_user, visible

PAGES = ["/", "/search?q=private:true", "/search?q=cat", "/private", "/archive", "/favorites", "/albums", "/map",
         "/folders", "/calendar", "/places", "/duplicates", "/people"]
STRANGERS = ("member2", "viewer")  # besides public mode


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url, text_index=True)
    yield household
    household.lib.db.close()


def _json(client: TestClient, url: str) -> Any:
    r = client.get(url)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
    return r.json()


def _ids_in(data: Any) -> set[int]:
    """The photo ids a JSON answer shows: its photo records ("photos", "photos_page", duplicate groups) or map
    features."""
    if isinstance(data, list):
        return {pid for item in data for pid in _ids_in(item)}
    if "features" in data:
        return {f["properties"]["photo"] for f in data["features"]}
    if "groups" in data:
        return _ids_in(data["groups"])
    records = data["photos_page"] if "photos_page" in data else data.get("photos")  # a person's "photos" counts
    if records is None:
        return {data["id"]}
    return {r["id"] for r in records}


def _links_to(html: str, photo: int) -> bool:
    return any(re.fullmatch(rf"/photos/{photo}([/?].*)?", u) for u in links(html))


def _sees(client: TestClient, home: Household) -> dict[str, bool]:
    """Whether each route shows the private photo to this client."""
    p, face = home.private, home.private_face
    out: dict[str, bool] = {}
    out["photo page"] = client.get(f"/photos/{p.id}").status_code == 200
    out["photo api"] = client.get(f"/api/v1/photos/{p.id}").status_code == 200
    out["photo by uid (similar)"] = client.get(f"/api/v1/photos/{p.uid}/similar").status_code == 200
    for size in ("tile", "fit", "preview"):
        out[f"thumb {size}"] = client.get(f"/thumb/{size}/{p.sha1}.jpg").status_code == 200
    revalidated = client.get(f"/thumb/fit/{p.sha1}.jpg", headers={"If-None-Match": f'"{p.sha1}-fit"'})
    out["thumb 304"] = revalidated.status_code == 304
    out["original"] = client.get(f"/photos/{p.id}/original").status_code == 200
    out["face crop"] = client.get(f"/faces/{face.id}.jpg").status_code == 200
    out["search private:true"] = p.id in _ids_in(_json(client, "/api/v1/search?q=private:true"))
    out["album api"] = p.id in _ids_in(_json(client, f"/api/v1/albums/{home.album.uid}"))
    out["album count"] = _json(client, f"/api/v1/albums/{home.album.uid}")["count"] == 2
    out["person api"] = p.id in _ids_in(_json(client, f"/api/v1/people/{home.person.uid}"))  # timeline rules
    out["person page private:true"] = _links_to(client.get(f"/people/{home.person.uid}?q=private:true").text, p.id)
    out["person faces"] = face.id in {f["id"] for f in _json(client, f"/api/v1/people/{home.person.uid}")
                                      ["faces_shown"]}
    out["people cover"] = any(r["cover"] and r["cover"]["id"] == face.id
                              for r in _json(client, "/api/v1/people")["people"])
    out["duplicates"] = p.id in _ids_in(_json(client, "/api/v1/duplicates"))
    out["map"] = p.id in _ids_in(_json(client, "/api/v1/map?zoom=22&q=private:true"))
    others = [pid for pid in home.ids if pid != p.id]
    out["similar of others"] = any(
        p.id in _ids_in(r.json()) for r in (client.get(f"/api/v1/photos/{pid}/similar") for pid in others)
        if r.status_code == 200)
    # 2016/Pets holds only the private photo: who may not see it is not told of the folders either
    years = {c["name"]: c["id"] for c in _json(client, "/api/v1/folders")["children"]}
    out["folder name"] = "2016" in years
    pets = [c for c in _json(client, f"/api/v1/folders/{years['2016']}")["children"]
            if c["name"] == "Pets"] if "2016" in years else []
    out["folder count"] = bool(pets) and pets[0]["photos"] == 1
    shown = []
    for url in [*PAGES, f"/albums/{home.album.id}", f"/people/{home.person.uid}", f"/folders/{pets[0]['id']}"
                if pets else "/folders", *[f"/photos/{pid}" for pid in others]]:
        r = client.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code}"
        if p.sha1 in r.text or _links_to(r.text, p.id):
            shown.append(url)
    out["pages"] = bool(shown)
    return out


def test_a_private_photo_is_seen_by_its_owner_and_admins_only(home: Household) -> None:
    for role in ("member", "admin"):
        with home.client(role) as client:
            seen = _sees(client, home)
        # Its owner and the admins see it on every route that shows private photos (similar photos and a person's
        # photos without a query keep the timeline's rule: no private photos unless the query asks for them).
        expected = {k: k not in ("similar of others", "person api") for k in seen}
        assert seen == expected, role
    clients = [home.client(role) for role in STRANGERS]
    for name, context in [*zip(STRANGERS, clients, strict=True), ("public", home.public())]:
        with context as client:
            seen = _sees(client, home)
        assert not any(seen.values()), (name, {k: v for k, v in seen.items() if v})


@pytest.mark.parametrize("role", ["member2", "viewer", "public"])
def test_guessing_ids_finds_nothing_unseen(home: Household, role: str) -> None:
    """Every id from 1 past the last: the private photo answers exactly like an id that does not exist."""
    p = home.private
    context = home.public() if role == "public" else home.client(role)
    with context as client:
        for pid in range(1, max(home.ids) + 3):
            exists = pid in home.ids and pid != p.id
            for url in (f"/photos/{pid}", f"/api/v1/photos/{pid}", f"/photos/{pid}/original",
                        f"/api/v1/photos/{pid}/similar"):
                r = client.get(url)
                assert r.status_code == (200 if exists else 404), (url, r.status_code)
                if not exists and url.startswith("/api/"):
                    assert r.json() == {"error": f"no photo {pid}"}
        if role == "member2":  # writes: the same 404 as for no photo at all, and nothing changes
            for body in ({"favorite": True}, {"private": False}, {"title": "mine now"}):
                r = client.patch(f"/api/v1/photos/{p.id}", json=body)
                assert r.status_code == 404 and r.json() == {"error": f"no photo {p.id}"}
            r = client.post(f"/api/v1/albums/{home.album.uid}/photos", json={"photos": [p.id]})
            assert r.status_code == 404
            r = client.post(f"/api/v1/faces/{home.private_face.id}", json={"name": "Someone"})
            assert r.status_code == 404
    again = Photo.get_by_id(p.id)
    assert again.private and not again.favorite and again.title == p.title


def test_only_the_owner_or_an_admin_makes_a_photo_private(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")  # the first admin's (no owner)
    with home.client("member") as member:
        r = member.patch(f"/api/v1/photos/{dog}", json={"private": True})
        assert r.status_code == 400 and "owner" in r.json()["error"]
        r = member.patch(f"/api/v1/photos/{home.private.id}", json={"favorite": True, "private": False})
        assert r.status_code == 200 and r.json()["private"] is False
    with home.client("admin") as admin:
        assert admin.patch(f"/api/v1/photos/{dog}", json={"private": True}).status_code == 200
    with home.client("member2") as other:
        assert other.get(f"/photos/{dog}").status_code == 404
        assert other.get(f"/photos/{home.private.id}").status_code == 200


def test_archived_photos_show_only_in_the_archive_view(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    Photo.update(archived=True).where(Photo.id == dog.id).execute()
    for role in ("member", "admin"):
        with home.client(role) as client:
            assert dog.id in _ids_in(_json(client, "/api/v1/search?q=archived:true"))
            assert _links_to(client.get("/archive").text, dog.id)
            for url in ("/api/v1/search", "/api/v1/search?q=dog", f"/api/v1/albums/{home.album.uid}",
                        f"/api/v1/people/{home.person.uid}", "/api/v1/map?zoom=22", "/api/v1/duplicates"):
                assert dog.id not in _ids_in(_json(client, url)), url
            assert not _links_to(client.get("/").text, dog.id)
            # its own page, thumbnails and original: opened from the archive view
            assert client.get(f"/photos/{dog.id}?q=archived:true").status_code == 200
            assert client.get(f"/thumb/fit/{dog.sha1}.jpg").status_code == 200
            assert client.get(f"/photos/{dog.id}/original").status_code == 200
    with home.client("viewer") as viewer, home.public() as public:
        for client in (viewer, public):
            assert dog.id not in _ids_in(_json(client, "/api/v1/search?q=archived:true"))
            assert not _links_to(client.get("/archive").text, dog.id)
            assert client.get(f"/photos/{dog.id}").status_code == 404
            assert client.get(f"/thumb/fit/{dog.sha1}.jpg").status_code == 404


def test_thumbnails_are_private_to_caches(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    with home.client("viewer") as client:
        r = client.get(f"/thumb/tile/{dog.sha1}.jpg")
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    with home.client(None) as anonymous:
        r = anonymous.get(f"/thumb/tile/{dog.sha1}.jpg")
        assert r.status_code == 401 and dog.sha1 not in r.text


def test_the_rule_and_its_one_photo_form_agree(home: Household) -> None:
    """visibility.condition (SQL) and visibility.can_see (a loaded row) on every photo, for every audience and
    every combination of the flags."""
    users = home.users
    audiences = [NOBODY, PUBLIC, EVERYONE, for_user(users["member"].id, "member"),
                 for_user(users["member2"].id, "member"), for_user(users["viewer"].id, "viewer"),
                 for_user(users["admin"].id, "admin"), Audience(share_id=1, share_album_id=home.album.id),
                 Audience(share_id=2, share_photo_id=home.private.id)]
    dog = photo_id("dog_orange.jpg")
    original = {p.id: (p.private, p.archived) for p in Photo.select()}
    try:
        for private, archived in itertools.product((False, True), repeat=2):
            Photo.update(private=private, archived=archived).where(Photo.id.in_([home.private.id, dog])).execute()
            rows = list(Photo.select())
            for who, archive_view in itertools.product(audiences, (False, True)):
                by_sql = {pid for (pid,) in tuples(visible(Photo.select(Photo.id), who, archive_view=archive_view))}
                by_row = {p.id for p in rows if can_see(p, who, archive_view=archive_view)}
                assert by_sql == by_row, (who, archive_view, private, archived)
    finally:
        for pid, (private, archived) in original.items():
            Photo.update(private=private, archived=archived).where(Photo.id == pid).execute()

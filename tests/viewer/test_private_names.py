"""Nothing private leaks through names, counts, covers or suggestions, on SQLite and MariaDB.

One library per backend (shared by the module): a folder, a person, a place, a label, an album, a title, a
description, a camera, a file name and a text read in the photo that belong only to the member's private photo;
the same for a plain archived photo and for a copy archived when its duplicate group was resolved. Another
member, a viewer and public mode walk every route below; no page, fragment or JSON answer names, counts or
shows a cover of what they may not see, and a thing (folder, person, album) that holds only such photos answers
404, like one that does not exist. The admin sees the names (so the walk would notice them).

Routes (`grep -n "Route(" viewer/views/*.py`), and how each is checked here:
  /, /search, /favorites, /videos, /archive, /private       pages walked; search: free text ranked (why, mentions),
  /api/v1/search                                            filters, the start page's suggestions
  /photos/{id}, /api/v1/photos/{id}                         walked for the photos seen (neighbours, albums, the
                                                            face names list, stack members)
  /api/v1/photos/{ref}/similar                              walked for the photos seen
  /photos/{id}/original, /thumb/…, /faces/{id}.jpg, /play   404 for an unseen photo (and test_visibility)
  /folders, /folders/{id}, /api/v1/folders[/{id}]           names, counts (photos, subfolders), covers; 404
  /people, /people/{ref}, /api/v1/people[/{ref}]            names, counts, covers, hidden count, merge choices; 404
  /places, /api/v1/places, /map, /api/v1/map[/bounds]       names, counts, covers, clusters
  /things, /api/v1/things                                   labels, counts, covers
  /calendar, /api/v1/calendar                               months, counts, covers
  /memories, /api/v1/memories                               on this day, trips, people
  /albums, /albums/{ref}, /api/v1/albums[/{ref}]            titles, counts, covers; 404
  /duplicates, /api/v1/duplicates                           groups and their members
  /api/v1/state                                             the newest photo seen
  /download (POST)                                          a zip of unseen ids holds nothing
  /s/{token}, /s/{token}/photos/{id}[/original], /s/{token}/thumb/…   an album share with a private cover
  /api/v1/albums/{ref}[/photos], /api/v1/people/{ref}[/merge], /api/v1/faces/{id}, /api/v1/shares (writes)
                                                            naming a hidden album or person: 404, nothing changes
  /albums/add, /albums/{ref}/{action}, /people/{ref}/{action}, /faces/{id}/{action} (the pages' forms)
                                                            the same library functions as the API writes above
Elsewhere: writes of unseen photos (PATCH /api/v1/photos[/{id}], /photos/{id}/edit, /duplicates/resolve and
/unresolve) answer 404 or skip them: test_visibility.py, test_selection.py, test_duplicates_page.py.
/status, /api/v1/status, /admin, /admin/…, /api/v1/users[/{name}] are admins' only (test_access.py);
/account, /api/v1/account/password, /login, /logout, /api/v1/session, /api/v1/health and /static name no photos;
/api/v1/shares (GET) and /api/v1/shares/{token} list and revoke only the user's own links (test_shares.py).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from logins import ensure_users, viewer_client
from starlette.testclient import TestClient

from photoshelf import accounts
from photoshelf.db.schema import (
    Album,
    AlbumPhoto,
    Face,
    File,
    Folder,
    Person,
    Photo,
    PhotoLabel,
    PhotoText,
    Stack,
    User,
)

from conftest import Library, _mariadb_admin, catalog_url, indexed_subset, make_config

SECRET = "qzsecret"  # every name of the private photo has it (no token or digest spells it by chance)
ARCHIVED = "qzarchived"  # every name of the two archived photos
STRANGERS = ("member2", "viewer", "public")
# Where each test photo comes from, and under which folder and name it is indexed here.
SOURCES = {
    "Qzsecret Folder/qzsecret_file.jpg": "2016/Pets/cat_brown.jpg",  # the member's, private
    "Qzarchived Folder/qzarchived_file.jpg": "2020/Berlin/digikam.jpg",  # archived
    "Qzarchived Copies/qzarchived_copy.jpg": "2022/Utah Roadtrip/thompson-springs.jpg",  # a resolved copy
    "Public/dog_orange.jpg": "2019/Pets/dog_orange.jpg",
    "Public/smallFiji.JPG": "2004/Fiji/smallFiji.JPG",  # the copy's keeper
    "Public/example.png": "Misc/Formats/example.png",
    "Public/Qzsecret Sub/qzsecret_sub.gif": "Misc/Formats/example.gif",  # the member's too, private
}


@dataclass
class Shelf:
    lib: Library
    private: Photo
    hidden: list[Photo]  # the private photo and the member's other private photo (in a stack with the dog)
    archived: list[Photo]
    shown: list[Photo]  # what everyone sees
    folder: Folder  # holds only the private photo
    person: Person  # only on the private photo
    album: Album  # only the private photo
    mixed: Album  # the dog and the private photo (its chosen cover)
    archived_folder: Folder
    archived_album: Album

    def client(self, who: str | None) -> Any:
        if who == "public":
            lib = self.lib
            config = make_config(lib.originals, lib.storage, lib.database_url, PHOTOSHELF_AUTH_MODE="public")
            return viewer_client(config, lib.db, role=None)
        return viewer_client(self.lib.config, self.lib.db, role=who)


def _photo(path: str) -> Photo:
    return Photo.get_by_id(File.select(File.photo).where(File.path == path).scalar())


def _name(photo: Photo, marker: str, *, city: str, person: str, label: str, album: str) -> Album:
    """Give `photo` names nobody else's photo has: title, place, camera, text, a person, a label, an album."""
    Photo.update(title=f"{marker} title", description=f"{marker}description", keywords=f"{marker}keyword",
                 camera_model=f"{marker}cam", city=city, state=f"{marker}state", country=f"{marker}land",
                 country_code=marker[-2:].upper(), lat=-33.9, lon=18.4, has_thumbs=True,
                 ).where(Photo.id == photo.id).execute()
    PhotoText.create(photo=photo.id, text=f"total {marker}ocr", lines="[]", model="test")
    PhotoLabel.create(photo=photo.id, name=label, category=f"{marker}category", categories=f",{marker}category,",
                      confidence=0.9, source="imagenet", model="test")
    someone = Person.create(uid="p" + secrets.token_hex(8), name=person)
    Face.create(photo=photo.id, x=0.3, y=0.25, w=0.2, h=0.3, score=0.99, person=someone, assigned_by="user",
                model="test")
    only = Album.create(uid="a" + secrets.token_hex(8), title=album)
    AlbumPhoto.create(album=only.id, photo=photo.id, position=0)
    return only


def _build(root: Path, url: str) -> Shelf:
    lib = indexed_subset(root, url, SOURCES)
    ensure_users(lib.db)
    accounts.add_user("member2", "member", "correct horse battery staple")
    member = User.get(User.name == "member")
    private = _photo("Qzsecret Folder/qzsecret_file.jpg")
    album = _name(private, SECRET, city="Qzsecretville", person="Qzsecret Whiskers", label="qzsecretlabel",
                  album="Qzsecret Album")
    sub = _photo("Public/Qzsecret Sub/qzsecret_sub.gif")
    shy = Person.create(uid="p" + secrets.token_hex(8), name="Qzsecret Shy", hidden=True)  # nor the hidden count
    Face.create(photo=private.id, x=0.6, y=0.25, w=0.2, h=0.3, score=0.9, person=shy, assigned_by="user",
                model="test")
    Photo.update(private=True, owner=member.id).where(Photo.id.in_([private.id, sub.id])).execute()
    # A stack (an edit beside its original) whose other member is private: the dog's record must not list it.
    stack = Stack.create(kind="edit", key=f"test:{secrets.token_hex(4)}", primary_photo_id=_photo(
        "Public/dog_orange.jpg").id)
    Photo.update(stack=stack.id).where(Photo.id.in_([stack.primary_photo_id, sub.id])).execute()
    plain, copy = _photo("Qzarchived Folder/qzarchived_file.jpg"), _photo("Qzarchived Copies/qzarchived_copy.jpg")
    archived_album = _name(plain, ARCHIVED, city="Qzarchivedtown", person="Qzarchived Archie",
                           label="qzarchivedlabel", album="Qzarchived Album")
    AlbumPhoto.create(album=archived_album.id, photo=copy.id, position=1)
    keeper = _photo("Public/smallFiji.JPG")
    Photo.update(archived=True).where(Photo.id == plain.id).execute()
    Photo.update(archived=True, duplicate_of=keeper.id, title=f"{ARCHIVED} copy title").where(
        Photo.id == copy.id).execute()
    dog = _photo("Public/dog_orange.jpg")
    rex = Person.create(uid="p" + secrets.token_hex(8), name="Rex")  # someone everyone sees: his page's choices
    Face.create(photo=dog.id, x=0.3, y=0.25, w=0.2, h=0.3, score=0.9, person=rex, assigned_by="user", model="test")
    mixed = Album.create(uid="a" + secrets.token_hex(8), title="Mixed", cover=private.id)
    for pos, pid in enumerate((private.id, dog.id)):
        AlbumPhoto.create(album=mixed.id, photo=pid, position=pos)
    from photoshelf.models import enrich, textsearch

    stage = textsearch.TextStage(lib.config, lib.db)  # free text is ranked: `why`, good matches and mentions
    assert stage.unavailable() is None
    enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    shown = [_photo(p) for p in SOURCES if p.startswith("Public/") and SECRET not in p.lower()]
    return Shelf(lib=lib, private=Photo.get_by_id(private.id), hidden=[Photo.get_by_id(p.id) for p in (private, sub)],
                 archived=[Photo.get_by_id(plain.id), Photo.get_by_id(copy.id)], shown=shown,
                 folder=Folder.get(Folder.path == "Qzsecret Folder"),
                 person=Person.get(Person.name == "Qzsecret Whiskers"), album=album, mixed=mixed,
                 archived_folder=Folder.get(Folder.path == "Qzarchived Folder"), archived_album=archived_album)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def shelf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shelf]:
    root = tmp_path_factory.mktemp(f"private-names-{request.param}")
    url = catalog_url(request.param, root, "names")
    built = _build(root, url)
    yield built
    built.lib.db.close()
    if request.param == "mariadb":
        admin = _mariadb_admin()
        admin.connect()
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
        admin.close()


# Every GET that lists names, counts or covers (the photo pages of what everyone sees are added per shelf).
LISTINGS = [
    "/", "/?part=unknown", "/search", "/search?q=qzsecret", "/search?q=qzsecretocr", "/search?q=qzsecretcam",
    "/search?q=qzsecret_file", "/search?q=Whiskers", "/search?q=qzarchived", "/favorites", "/videos", "/private",
    "/folders", "/people", "/people?hidden=1&all=1", "/places", "/things", "/calendar", "/memories", "/map",
    "/albums", "/duplicates",
    "/api/v1/search", "/api/v1/search?q=qzsecret", "/api/v1/search?q=qzsecretocr", "/api/v1/search?q=total",
    "/api/v1/search?q=qzsecret_file", "/api/v1/search?q=qzsecretville", "/api/v1/search?q=Whiskers",
    "/api/v1/search?q=label:qzsecretlabel", "/api/v1/search?q=private:true", "/api/v1/search?q=qzarchived",
    "/api/v1/search?q=private:true%20qzsecret", "/api/v1/search?q=private:true%20qzsecretocr",
    "/api/v1/search?q=private:true%20Whiskers", "/search?q=private:true%20qzsecretocr",
    "/api/v1/folders", "/api/v1/people", "/api/v1/people?hidden=1", "/api/v1/places", "/api/v1/things",
    "/api/v1/calendar", "/api/v1/memories", "/api/v1/map?zoom=22", "/api/v1/map/bounds", "/api/v1/albums", "/api/v1/duplicates",
    "/api/v1/state",
]


def _walk(client: TestClient, shelf: Shelf) -> dict[str, str]:
    """Each listing's and each seen photo's answer, by URL."""
    urls = list(LISTINGS)
    public_folder = Folder.get(Folder.path == "Public")
    urls += [f"/folders/{public_folder.id}", f"/api/v1/folders/{public_folder.id}", f"/albums/{shelf.mixed.uid}",
             f"/api/v1/albums/{shelf.mixed.uid}"]
    friend = Person.get(Person.name == "Rex")
    urls += [f"/people/{friend.uid}", f"/api/v1/people/{friend.uid}"]
    for p in shelf.shown:
        urls += [f"/photos/{p.id}", f"/api/v1/photos/{p.id}", f"/api/v1/photos/{p.uid}/similar"]
    out = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
        out[url] = r.text
    return out


def _leaks(bodies: dict[str, str], marker: str, photos: list[Photo]) -> list[str]:
    """The URLs whose answer names `marker` or shows one of `photos` (its thumbnail or page), each with what it
    shows."""
    out = []
    for url, body in bodies.items():
        asked = parse_qs(urlsplit(url).query).get("q", [""])[0].lower()
        text = body.lower()
        for word in re.split(r"[\s:]+", asked):  # a search page repeats its query (in links too)
            text = text.replace(word, "") if len(word) > 4 else text
        found = [m for m in (marker, *(p.sha1 for p in photos), *(p.uid for p in photos)) if m in text]
        found += [m.group(0) for p in photos for m in re.finditer(rf"/photos/{p.id}\b", text)]
        if found:
            at = text.find(found[0])
            out.append(f"{url}: {text[max(0, at - 80):at + 40]!r}")
    return out


@pytest.mark.parametrize("who", STRANGERS)
def test_strangers_see_no_name_count_or_cover_of_a_private_photo(shelf: Shelf, who: str) -> None:
    with shelf.client(who) as client:
        bodies = _walk(client, shelf)
    leaks = _leaks(bodies, SECRET, shelf.hidden)
    assert leaks == [], "\n".join(leaks)
    # A member may open archived photos (from the archive): the folders, albums and people that hold them may be
    # named to them (with no count or cover), and the duplicates page shows the resolved groups. The listings that
    # follow the timeline's rules never show them.
    shown = {u: b for u, b in bodies.items() if who != "member2" or not any(
        part in u for part in ("folders", "albums", "/photos/", "/people/", "duplicates", "q=qzarchived"))}
    leaks = _leaks(shown, ARCHIVED, shelf.archived)
    assert leaks == [], "\n".join(leaks)


def test_the_admin_sees_those_names(shelf: Shelf) -> None:
    """The walk finds what is there: the admin's answers name the private photo's folder, person, place, label,
    album and text."""
    with shelf.client("admin") as client:
        bodies = _walk(client, shelf)
    found = {leak.split(": ", 1)[0] for leak in _leaks(bodies, SECRET, shelf.hidden)}
    dog = next(p for p in shelf.shown if p.sha1 in bodies["/api/v1/photos/" + str(p.id)] and p.stack_id)
    members = json.loads(bodies[f"/api/v1/photos/{dog.id}"])["photo"]["stack"]["members"]
    assert shelf.hidden[1].id in {m["id"] for m in members}
    ranked = json.loads(bodies["/api/v1/search?q=private:true%20qzsecretocr"])
    assert ranked["match"] == "meaning" and "text in photo" in ranked["photos"][0]["why"]
    for url in ("/folders", "/people", "/albums", "/api/v1/search?q=private:true%20qzsecretocr",
                "/api/v1/search?q=private:true", "/api/v1/albums", "/api/v1/people", "/api/v1/folders"):
        assert url in found, url


@pytest.mark.parametrize("who", STRANGERS)
def test_a_thing_holding_only_unseen_photos_is_not_found(shelf: Shelf, who: str) -> None:
    urls = [f"/folders/{shelf.folder.id}", f"/api/v1/folders/{shelf.folder.id}", f"/people/{shelf.person.uid}",
            f"/api/v1/people/{shelf.person.uid}", f"/people/{shelf.person.id}", f"/albums/{shelf.album.uid}",
            f"/api/v1/albums/{shelf.album.uid}", f"/albums/{shelf.album.id}"]
    face = Face.get(Face.person == shelf.person.id)
    p = shelf.private
    urls += [f"/faces/{face.id}.jpg", f"/photos/{p.id}/play", f"/photos/{p.id}/original", f"/thumb/fit/{p.sha1}.jpg"]
    if who != "member2":  # members see archived photos in the archive view
        urls += [f"/folders/{shelf.archived_folder.id}", f"/albums/{shelf.archived_album.uid}"]
    with shelf.client(who) as client:
        for url in urls:
            r = client.get(url)
            assert r.status_code == 404, (url, r.status_code)
            assert SECRET not in r.text.lower() and ARCHIVED not in r.text.lower(), url


@pytest.mark.parametrize("who", ["member", "admin"])
def test_its_owner_and_admins_open_them(shelf: Shelf, who: str) -> None:
    with shelf.client(who) as client:
        for url in (f"/folders/{shelf.folder.id}", f"/people/{shelf.person.uid}", f"/albums/{shelf.album.uid}",
                    f"/api/v1/albums/{shelf.album.uid}", f"/folders/{shelf.archived_folder.id}"):
            assert client.get(url).status_code == 200, url


def test_counts_are_of_what_the_viewer_sees(shelf: Shelf) -> None:
    with shelf.client("viewer") as client:
        mixed = client.get(f"/api/v1/albums/{shelf.mixed.uid}").json()
        assert mixed["count"] == 1 and mixed["cover_tile"] and shelf.private.sha1 not in mixed["cover_tile"]
        root = client.get("/api/v1/folders").json()
        assert [c["name"] for c in root["children"]] == ["Public"]
        assert root["children"][0]["photos"] == len(shelf.shown) and root["children"][0]["folders"] == 0
        assert client.get("/api/v1/people?hidden=1").json()["hidden"] == 0
    with shelf.client("admin") as client:
        root = client.get("/api/v1/folders").json()
        assert [c["folders"] for c in root["children"] if c["name"] == "Public"] == [1]
        assert client.get("/api/v1/people?hidden=1").json()["hidden"] == 1


@pytest.mark.parametrize("who", ["member2", "viewer"])
def test_a_zip_of_unseen_photos_holds_nothing(shelf: Shelf, who: str) -> None:
    # A member may open archived photos (from the archive), so only the private photo is unseen to member2.
    unseen = [shelf.private.id, *(p.id for p in shelf.archived if who == "viewer")]
    with shelf.client(who) as client:
        r = client.post("/download", json={"photos": [*unseen, shelf.shown[0].id]})
        assert r.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert names == [File.get(File.photo == shelf.shown[0].id).name]
        r = client.post("/download", json={"photos": unseen})
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            assert zipfile.ZipFile(io.BytesIO(r.content)).namelist() == []


def test_a_share_shows_no_private_cover_or_name(shelf: Shelf) -> None:
    with shelf.client("admin") as admin:
        r = admin.post("/api/v1/shares", json={"album": shelf.mixed.uid, "download": True})
        assert r.status_code in (200, 201), r.text
        token = r.json()["token"]
    with shelf.client(None) as visitor:
        page = visitor.get(f"/s/{token}")
        assert page.status_code == 200
        assert SECRET not in page.text.lower() and shelf.private.sha1 not in page.text
        assert visitor.get(f"/s/{token}/photos/{shelf.private.id}").status_code == 404
        assert visitor.get(f"/s/{token}/thumb/tile/{shelf.private.sha1}.jpg").status_code == 404
        assert visitor.get(f"/s/{token}/photos/{shelf.private.id}/original").status_code == 404


def test_writes_cannot_reach_what_holds_only_unseen_photos(shelf: Shelf) -> None:
    """Another member naming the private photo's album or person in a write gets the 404 of no such thing, and
    nothing changes."""
    rex = Person.get(Person.name == "Rex")
    rex_face = Face.get(Face.person == rex.id)
    album, person = shelf.album.uid, shelf.person.uid
    with shelf.client("member2") as client:
        for method, url, body in [
            ("PATCH", f"/api/v1/albums/{album}", {"title": "mine now"}),
            ("DELETE", f"/api/v1/albums/{album}", None),
            ("POST", f"/api/v1/albums/{album}/photos", {"photos": [shelf.shown[0].id]}),
            ("POST", f"/api/v1/people/{rex.uid}/merge", {"into": person}),
            ("POST", f"/api/v1/people/{rex.uid}/merge", {"from": [person]}),
            ("POST", f"/api/v1/people/{person}", {"name": "Renamed"}),
            ("POST", f"/api/v1/faces/{rex_face.id}", {"person": person}),
            ("POST", "/api/v1/shares", {"album": album}),
        ]:
            r = client.request(method, url, json=body)
            assert r.status_code == 404, (method, url, r.status_code, r.text[:200])
            assert SECRET not in r.text.lower(), url
    assert Album.get_by_id(shelf.album.id).title == "Qzsecret Album"
    assert AlbumPhoto.select().where(AlbumPhoto.album == shelf.album.id).count() == 1
    assert Person.get_by_id(shelf.person.id).name == "Qzsecret Whiskers"
    assert Face.get_by_id(rex_face.id).person_id == rex.id


def test_what_the_admin_saw_is_not_served_to_the_next(shelf: Shelf) -> None:
    """The process keeps rankings, counts and scrubbers (viewer/listing.py): what an admin's walk put there is
    not what a viewer's walk right after it gets."""
    with shelf.client("admin") as client:
        assert _leaks(_walk(client, shelf), SECRET, shelf.hidden)
    with shelf.client("viewer") as client:
        bodies = _walk(client, shelf)
    leaks = _leaks(bodies, SECRET, shelf.hidden) + _leaks(bodies, ARCHIVED, shelf.archived)
    assert leaks == [], "\n".join(leaks)


def test_a_kept_name_goes_as_soon_as_its_last_seen_photo_is_made_private(shelf: Shelf) -> None:
    """The hidden names are kept per catalog state (viewer/names.py): a viewer who looked at Rex (only on the dog)
    and the Mixed album (the dog and the private photo) no longer finds either once the dog is made private,
    through the API or by a write from another connection (the indexer, a sidecar sync), and finds them again
    when it is shown again."""
    dog = _photo("Public/dog_orange.jpg")
    rex = Person.get(Person.name == "Rex")
    named = [f"/people/{rex.uid}", f"/api/v1/people/{rex.uid}", f"/albums/{shelf.mixed.uid}",
             f"/api/v1/albums/{shelf.mixed.uid}"]

    def looks(client: TestClient) -> tuple[list[int], bool]:
        listed = client.get("/api/v1/people").text + client.get("/api/v1/albums").text + client.get("/people").text
        return [client.get(url).status_code for url in named], "Rex" in listed or "Mixed" in listed

    try:
        with shelf.client("viewer") as viewer, shelf.client("admin") as admin:
            assert looks(viewer) == looks(viewer) == ([200] * 4, True)  # the second look is the kept one
            r = admin.patch(f"/api/v1/photos/{dog.id}", json={"private": True})
            assert r.status_code == 200, r.text
            assert looks(viewer) == ([404] * 4, False)
            Photo.update(private=False).where(Photo.id == dog.id).execute()  # this thread's own connection
            assert looks(viewer) == ([200] * 4, True)
            Photo.update(private=True).where(Photo.id == dog.id).execute()
            assert looks(viewer) == ([404] * 4, False)
    finally:
        Photo.update(private=False).where(Photo.id == dog.id).execute()

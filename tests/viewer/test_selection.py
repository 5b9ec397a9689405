"""The selection bar's endpoints through the real app, on both backends: flags on many photos (members and
admins; a viewer, a share link, a missing CSRF token cannot), the zip of originals (streamed, byte for byte,
names unique, unseen photos left out), and the state probe an open timeline polls."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from households import Household, build, photo_id

from photoshelf import shares
from photoshelf.db.schema import AlbumPhoto, File, Photo
from photoshelf.viewer import bulk, zipstream
from photoshelf.viewer.media import Original


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url)
    yield household
    household.lib.db.close()


def _flags(pid: int) -> tuple[bool, bool, bool]:
    p = Photo.get_by_id(pid)
    return bool(p.favorite), bool(p.archived), bool(p.private)


def test_members_set_flags_on_many_photos(home: Household) -> None:
    dog, fiji, berlin = photo_id("dog_orange.jpg"), photo_id("smallFiji.JPG"), photo_id("digikam.jpg")
    with home.client("member") as member:
        r = member.patch("/api/v1/photos", json={"photos": [dog, fiji, berlin, fiji], "set": {"favorite": True}})
        assert r.status_code == 200, r.text
        assert r.json() == {"changed": 3}
        assert [_flags(p)[0] for p in (dog, fiji, berlin)] == [True, True, True]
        # Again: nothing differs, nothing changes.
        assert member.patch("/api/v1/photos", json={"photos": [dog, fiji], "set": {"favorite": True}}).json() == \
            {"changed": 0}
        favorites = member.get("/api/v1/search", params={"q": "favorite:true"}).json()["photos"]
        assert {p["id"] for p in favorites} == {dog, fiji, berlin}
        # Archiving takes them off the timeline, into the archive.
        assert member.patch("/api/v1/photos", json={"photos": [fiji], "set": {"archived": True}}).json() == \
            {"changed": 1}
        assert fiji not in {p["id"] for p in member.get("/api/v1/search").json()["photos"]}
        assert fiji in {p["id"] for p in member.get("/api/v1/search", params={"q": "archived:true"}).json()["photos"]}
        assert member.patch("/api/v1/photos", json={"photos": [fiji], "set": {"archived": False, "favorite": False}}
                            ).json() == {"changed": 1}
        assert _flags(fiji) == (False, False, False)


def test_private_is_for_the_owner_or_an_admin(home: Household) -> None:
    dog, cat = photo_id("dog_orange.jpg"), home.private.id  # the cat is the member's own, and private
    with home.client("member") as member:
        r = member.patch("/api/v1/photos", json={"photos": [cat, dog], "set": {"private": False}})
        assert r.status_code == 403 and "not yours" in r.json()["error"]
        assert _flags(cat)[2] and not _flags(dog)[2]  # refused whole: nothing changed
        assert member.patch("/api/v1/photos", json={"photos": [cat], "set": {"private": False}}).json() == \
            {"changed": 1}
        assert member.patch("/api/v1/photos", json={"photos": [cat], "set": {"private": True}}).json() == \
            {"changed": 1}
    with home.client("member2") as other:  # the private cat is not theirs to see: left out, no error
        assert other.patch("/api/v1/photos", json={"photos": [cat], "set": {"favorite": True}}).json() == \
            {"changed": 0}
    assert not _flags(cat)[0]
    with home.client("admin") as admin:
        assert admin.patch("/api/v1/photos", json={"photos": [dog], "set": {"private": True}}).json() == {"changed": 1}
        assert admin.patch("/api/v1/photos", json={"photos": [dog], "set": {"private": False}}).json() == \
            {"changed": 1}


@pytest.mark.parametrize("body, message", [
    ({"set": {"favorite": True}}, "photos must be a list"),
    ({"photos": "1,2", "set": {"favorite": True}}, "photos must be a list"),
    ({"photos": [1, "x"], "set": {"favorite": True}}, "photos must be photo ids"),
    ({"photos": [True], "set": {"favorite": True}}, "photos must be photo ids"),
    ({"photos": [1]}, "set must be an object"),
    ({"photos": [1], "set": {}}, "set must be an object"),
    ({"photos": [1], "set": {"title": "x"}}, "unknown flag 'title'"),
    ({"photos": [1], "set": {"favorite": "yes"}}, "favorite must be true or false"),
    ({"photos": list(range(1, bulk.MAX_SELECTION + 2)), "set": {"favorite": True}}, "at most 10,000"),
])
def test_bad_selections_are_400_and_change_nothing(home: Household, body: dict[str, object], message: str) -> None:
    before = [_flags(p) for p in home.ids]
    with home.client("admin") as admin:
        r = admin.patch("/api/v1/photos", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert [_flags(p) for p in home.ids] == before


def test_who_may_not_change_flags(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    body = {"photos": [dog], "set": {"favorite": True}}
    with home.client("viewer") as viewer:
        assert viewer.patch("/api/v1/photos", json=body).status_code == 403
    with home.client("member") as member:
        del member.headers["X-CSRF-Token"]
        assert member.patch("/api/v1/photos", json=body).status_code == 403
    share = shares.create_share(album=home.album, download=True)
    with home.client(None) as visitor:
        assert visitor.get(f"/s/{share.token}").status_code == 200  # the link works
        assert visitor.patch("/api/v1/photos", json=body).status_code == 401  # and gives no session
        assert visitor.post("/download", data={"photo": str(dog)}).status_code == 401
    with home.public() as public:
        assert public.patch("/api/v1/photos", json=body).status_code == 403
    assert not _flags(dog)[0]


def _original(pid: int, home: Household) -> tuple[str, bytes]:
    f = File.get((File.photo == pid) & (File.role == "media"))
    return f.name, (home.lib.originals / f.path).read_bytes()


def test_download_a_zip_of_the_originals(home: Household) -> None:
    dog, fiji, cat = photo_id("dog_orange.jpg"), photo_id("smallFiji.JPG"), home.private.id
    with home.client("viewer") as viewer:  # a read: viewers may download what they see
        r = viewer.post("/download", data={"photo": [str(dog), str(fiji), str(cat), "999999", "junk"]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith('attachment; filename="photos-')
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    expected = dict(_original(p, home) for p in (dog, fiji))  # not the member's private cat, not an unknown id
    assert {n: archive.read(n) for n in archive.namelist()} == expected
    with home.client("member") as member:  # the owner gets the cat, and JSON works too
        r = member.post("/download", json={"photos": [cat]})
    assert zipfile.ZipFile(io.BytesIO(r.content)).namelist() == ["cat_brown.jpg"]
    with home.client("viewer") as viewer:
        r = viewer.post("/download", data={})
    assert r.status_code == 400 and "choose one or more photos" in r.text


def test_zip_names_are_unique_and_missing_files_are_named(home: Household, tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "IMG_1.JPG", tmp_path / "b" / "IMG_1.JPG"
    for i, path in enumerate((one, two)):
        path.parent.mkdir()
        path.write_bytes(bytes([i]) * 10)
    gone = tmp_path / "gone.jpg"
    taken: set[str] = set()
    names = [bulk._unique("IMG_1.JPG", taken), bulk._unique("img_1.jpg", taken), bulk._unique("x/y", taken)]
    assert names == ["IMG_1.JPG", "img_1 (2).jpg", "x_y"]
    plan = bulk.ZipPlan(entries=[(Original(one, "IMG_1.JPG", "image/jpeg"), "IMG_1.JPG"),
                                 (Original(gone, "gone.jpg", "image/jpeg"), "gone.jpg"),
                                 (Original(two, "IMG_1.JPG", "image/jpeg"), "IMG_1 (2).JPG")],
                        left_out=["photo 7: not on disk"])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipstream.stream(plan))))
    assert archive.namelist() == ["IMG_1.JPG", "IMG_1 (2).JPG", "NOT-INCLUDED.txt"]
    assert archive.read("IMG_1 (2).JPG") == b"\x01" * 10
    note = archive.read("NOT-INCLUDED.txt").decode()
    assert "photo 7: not on disk" in note and "gone.jpg" in note


def test_the_zip_is_streamed_in_bounded_chunks(tmp_path: Path) -> None:
    """A 5 MiB original leaves in pieces of about a MiB, never as one buffer (nor the archive as one)."""
    big = tmp_path / "big.mov"
    big.write_bytes(bytes(range(256)) * (5 * 4096))
    plan = bulk.ZipPlan(entries=[(Original(big, "big.mov", "video/quicktime"), "big.mov")], left_out=[])
    chunks = list(zipstream.stream(plan))
    assert len(chunks) >= 5 and max(map(len, chunks)) <= zipstream.CHUNK + 4096
    assert zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read("big.mov") == big.read_bytes()


def test_state_names_the_newest_photo_each_audience_sees(home: Household) -> None:
    newest = max(home.ids)
    before = Photo.get_by_id(newest)
    # The newest photo is the member's, and private: the other member's probe must not count it.
    Photo.update(private=True, owner=home.users["member"].id).where(Photo.id == newest).execute()
    try:
        with home.client("member") as member, home.client("member2") as other:
            assert member.get("/api/v1/state").json() == {"latest": newest}
            assert other.get("/api/v1/state").json() == {"latest": max(p for p in home.ids if p != newest)}
            assert other.get("/api/v1/state").headers["cache-control"] == "no-store"
        with home.client(None) as anonymous:
            assert anonymous.get("/api/v1/state").status_code == 401
    finally:
        Photo.update(private=before.private, owner=before.owner).where(Photo.id == newest).execute()


def test_remove_from_an_album_through_the_selection(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    with home.client("member") as member:
        r = member.request("DELETE", f"/api/v1/albums/{home.album.uid}/photos", json={"photos": [dog]})
        assert r.json() == {"removed": 1}
    assert not AlbumPhoto.select().where((AlbumPhoto.album == home.album.id) & (AlbumPhoto.photo == dog)).exists()

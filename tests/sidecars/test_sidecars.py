"""YAML sidecars: round trip, hand edits kept, atomic writes, restore after a lost catalog, PhotoPrism import."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from photoshelf.db.schema import Album, AlbumPhoto, File, Photo, PhotoEdit, lock_fields, utcnow
from photoshelf.library import index_library
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.io import dumps, load, write_atomic
from photoshelf.sidecars.photoprism import import_library
from photoshelf.sidecars.sync import restore, sidecar_root, sync_changed

from conftest import SMALL_CORPUS, Library, make_library
from support import checksums, lose_catalog

CAT = "2016/Pets/cat_brown.jpg"


def _photo(rel: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == rel).photo_id)


def _sidecar(lib: Library, rel: str) -> Path:
    folder, name = rel.rsplit("/", 1)
    return sidecar_root(lib.config) / folder / (name.rsplit(".", 1)[0] + ".yml")


def _user_data() -> dict[str, tuple]:
    """Every photo's user data, keyed by content hash (ids change when a catalog is rebuilt)."""
    out = {}
    for p in Photo.select().where(Photo.missing_since.is_null()):
        albums = tuple(sorted(a.album.title for a in AlbumPhoto.select(AlbumPhoto, Album).join(Album)
                              .where(AlbumPhoto.photo == p.id)))
        edit = PhotoEdit.get_or_none(PhotoEdit.photo == p.id)
        out[p.sha1] = (p.uid, p.title, p.description, p.keywords, p.rating, p.favorite, p.private, p.archived,
                       tuple(sorted(x for x in (p.locked or "").split(",") if x)), albums,
                       edit.rotation if edit else 0, p.taken_at_local.replace(microsecond=0) if "taken_at" in (
                           p.locked or "") else None)
    return out


def _edit(lib: Library) -> None:
    """What a family does in the viewer: titles, favorites, flags, an album, a rotation, a fixed date."""
    cat, dog = _photo(CAT), _photo("2019/Pets/dog_orange.jpg")
    Photo.update(title="Mia on the chair", description="Our first cat", favorite=True, rating=5,
                 locked=lock_fields(cat, "title", "description", "rating"), updated_at=utcnow()).where(
        Photo.id == cat.id).execute()
    Photo.update(private=True, archived=True, taken_at=dt.datetime(2019, 5, 1, 10, 0),
                 taken_at_local=dt.datetime(2019, 5, 1, 12, 0), locked=lock_fields(dog, "taken_at"),
                 updated_at=utcnow()).where(Photo.id == dog.id).execute()
    album = Album.create(uid="aholiday0001", title="Pets")
    AlbumPhoto.create(album=album, photo=cat.id, position=1)
    AlbumPhoto.create(album=album, photo=dog.id, position=2)
    PhotoEdit.create(photo=dog.id, rotation=90)


def test_round_trip_of_every_field(library: Library) -> None:
    index_library(library.config, library.db)
    _edit(library)
    cat = _photo(CAT)
    content = fmt.build(cat, albums=[{"UID": "aholiday0001", "Title": "Pets"}], rotation=270)
    parsed = fmt.parse(load_text(dumps(content)))
    assert (parsed.uid, parsed.sha1, parsed.title, parsed.description, parsed.rating) == (
        cat.uid, cat.sha1, "Mia on the chair", "Our first cat", 5)
    assert (parsed.favorite, parsed.private, parsed.archived, parsed.rotation) == (True, False, False, 270)
    assert parsed.albums == [{"UID": "aholiday0001", "Title": "Pets"}]
    assert sorted(parsed.locked) == ["description", "rating", "title"]
    assert parsed.taken_at == cat.taken_at.replace(microsecond=0)
    assert parsed.lat == pytest.approx(cat.lat) and parsed.lon == pytest.approx(cat.lon)
    # PhotoPrism's field names
    assert {"TakenAt", "TakenAtLocal", "TakenSrc", "UID", "Type", "Title", "Description", "Favorite", "Lat", "Lng",
            "Year", "Month", "Day", "TimeZone"} <= set(content)


def load_text(text: str) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="rt").load(text)


def test_comments_and_unknown_keys_survive_a_rewrite(library: Library) -> None:
    index_library(library.config, library.db)
    path = _sidecar(library, CAT)
    text = path.read_text()
    path.write_text("# written by hand: keep me\n" + text.replace("Favorite: false", "Favorite: false  # not yet")
                    + "MyTool:\n  Stars: 3  # from another tool\n")
    cat = _photo(CAT)
    Photo.update(favorite=True, updated_at=utcnow()).where(Photo.id == cat.id).execute()
    report = sync_changed(library.config)
    assert report.written >= 1
    after = path.read_text()
    assert "# written by hand: keep me" in after and "# from another tool" in after
    assert "Stars: 3" in after and "Favorite: true" in after
    assert sync_changed(library.config).written == 0, "unchanged content is not rewritten"


def test_atomic_write_survives_a_kill_between_write_and_rename(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.yml"
    write_atomic(path, "Title: old\n")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from photoshelf.sidecars.io import write_atomic
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # die after the write, before the rename
        write_atomic(Path({str(path)!r}), "Title: new\\n")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert path.read_text() == "Title: old\n"
    assert load(path) == {"Title": "old"}


def test_restore_after_losing_the_database(tmp_path: Path, database_url: str) -> None:
    lib = make_library(tmp_path, database_url, SMALL_CORPUS)
    before_originals = checksums(lib.originals)
    index_library(lib.config, lib.db)
    _edit(lib)
    sync_changed(lib.config)
    before = _user_data()
    lose_catalog(lib)  # disk died, bad upgrade: a fresh, empty catalog in its place
    assert Photo.select().count() == 0
    index_library(lib.config, lib.db)
    report = restore(lib.config, lib.db)
    assert report.applied >= 2 and report.errors == 0
    after = _user_data()
    differences = {sha: (before[sha], after.get(sha)) for sha in before if before[sha] != after.get(sha)}
    assert differences == {}, differences
    assert checksums(lib.originals) == before_originals
    assert not any(p.suffix == ".yml" for p in lib.originals.rglob("*")), "sidecars stay out of the originals"
    lib.db.close()


def test_hand_edited_sidecar_is_picked_up_by_index(library: Library) -> None:
    index_library(library.config, library.db)
    path = _sidecar(library, CAT)
    text = path.read_text().replace("Favorite: false", "Favorite: true")
    text = text.replace("UID:", "Title: Edited in vim\nUID:")
    text = text.replace("Locked: []", "Locked: [title]")
    path.write_text(text)
    future = (utcnow() + dt.timedelta(seconds=5)).replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (future, future))
    index_library(library.config, library.db)
    cat = _photo(CAT)
    assert cat.favorite and cat.title == "Edited in vim"


def test_hand_edited_sidecar_is_picked_up_by_the_watcher(library: Library) -> None:
    import threading
    import time

    from photoshelf.indexer.watcher import Watcher

    index_library(library.config, library.db)
    config = library.reconfigure(PHOTOSHELF_WATCH_MODE="inotify", PHOTOSHELF_WATCH_HEARTBEAT_SECONDS="1")
    watcher = Watcher(config, library.db)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.ready.wait(60)
        time.sleep(0.5)
        path = _sidecar(library, CAT)
        time.sleep(1.1)  # the edit must be newer than the catalog's last change, at the file system's resolution
        path.write_text(path.read_text().replace("Favorite: false", "Favorite: true"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _photo(CAT).favorite:
            time.sleep(0.1)
        assert _photo(CAT).favorite
    finally:
        watcher.stop()
        thread.join(30)


@pytest.mark.originals_may_grow("a")  # sidecars.location = "originals": the one other writer there, when asked
def test_sidecars_next_to_originals_when_asked(empty_library: Library) -> None:
    lib = empty_library
    with lib.user_changes():
        (lib.originals / "a").mkdir()
        shutil.copy(SMALL_CORPUS / CAT, lib.originals / "a/cat.jpg")
    lib.reconfigure(PHOTOSHELF_SIDECARS_LOCATION="originals")
    index_library(lib.config, lib.db)
    assert (lib.originals / "a/cat.yml").is_file()
    # Its own sidecar does not make the photo be read again, and it is recorded as the photo's sidecar.
    assert index_library(lib.config, lib.db).hashed == 0
    yml = File.get(File.path == "a/cat.yml")
    assert yml.role == "sidecar" and yml.photo_id == File.get(File.path == "a/cat.jpg").photo_id


def test_import_from_photoprism(library: Library, tmp_path: Path) -> None:
    index_library(library.config, library.db)
    pp = tmp_path / "photoprism-sidecar"
    (pp / "2016/Pets").mkdir(parents=True)
    # A sidecar as PhotoPrism writes it (internal/entity/photo.go yaml tags).
    (pp / "2016/Pets/cat_brown.yml").write_text(textwrap.dedent("""\
        TakenAt: 2016-08-27T08:06:19Z
        TakenAtLocal: 2016-08-27T10:06:19Z
        TakenSrc: meta
        UID: pqbemz8276mhtobh
        Type: image
        Title: Brown cat in the garden
        TitleSrc: manual
        Description: Taken by grandpa
        DescriptionSrc: manual
        OriginalName: IMG_0042
        Favorite: true
        Private: true
        TimeZone: Europe/Berlin
        Lat: 48.538708
        Lng: 9.012161
        Year: 2016
        Month: 8
        Day: 27
        Details:
          Keywords: cat, garden, grandpa
          KeywordsSrc: manual
        CreatedAt: 2020-01-01T10:00:00Z
        UpdatedAt: 2021-03-04T10:00:00Z
    """))
    albums = tmp_path / "photoprism-albums/album"
    albums.mkdir(parents=True)
    (albums / "aqbemz80ipvnzw5d.yml").write_text(textwrap.dedent("""\
        UID: aqbemz80ipvnzw5d
        Slug: garden
        Type: album
        Title: Garden
        Photos:
        - UID: pqbemz8276mhtobh
          CreatedAt: 2021-03-04T10:00:00Z
    """))
    report = import_library(library.config, library.db, sidecar_dir=pp, albums_dir=tmp_path / "photoprism-albums")
    assert report.applied == 1
    cat = _photo(CAT)
    assert (cat.title, cat.description, cat.favorite, cat.private) == (
        "Brown cat in the garden", "Taken by grandpa", True, True)
    assert cat.keywords == "cat, garden, grandpa"
    album = Album.get(Album.title == "Garden")
    assert [a.photo_id for a in AlbumPhoto.select().where(AlbumPhoto.album == album.id)] == [cat.id]

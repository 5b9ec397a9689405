"""`photoshelf reindex --metadata`: stale photos' metadata read again, nothing else redone, user edits kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from photoshelf.db.schema import File, Photo, Thumbnail, lock_fields
from photoshelf.indexer.store import META_VERSION
from photoshelf.library import index_library

from conftest import Library

CAT = "2016/Pets/cat_brown.jpg"
FIJI = "2004/Fiji/smallFiji.JPG"


def _reindex(lib: Library, *args: str) -> dict[str, dict[str, int]]:
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", "reindex", "--metadata", "--json", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, int]] = json.loads(proc.stdout)
    return result


def _photo(rel: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == rel).photo_id)


def test_reindex_metadata_rereads_stale_photos_only_and_keeps_edits(library: Library) -> None:
    lib = library
    index_library(lib.config, lib.db)
    fiji, cat = _photo(FIJI), _photo(CAT)
    want = {name: getattr(fiji, name) for name in ("taken_at", "lat", "lon", "camera_model", "title")}
    assert want["lat"] is not None and want["camera_model"]
    thumbs = {p: p.stat().st_mtime_ns for p in lib.storage.rglob("*") if p.is_file() and "thumbs" in p.parts}
    thumb_rows = Thumbnail.select().count()
    hashes = {p.id: (p.phash, p.sha1) for p in Photo.select()}
    # As an older photoshelf left them: an older meta_version, and fields it did not read.
    Photo.update(meta_version=META_VERSION - 1, lat=None, lon=None, camera_model=None, taken_at=None
                 ).where(Photo.id == fiji.id).execute()
    # A person's title on another stale photo, and a fresh photo whose (changed) field must not be re-read.
    Photo.update(meta_version=META_VERSION - 1, title="Mia", locked=lock_fields(cat, "title"), camera_model=None
                 ).where(Photo.id == cat.id).execute()
    fresh = _photo("2019/Pets/dog_orange.jpg")
    Photo.update(camera_model="left alone").where(Photo.id == fresh.id).execute()

    report = _reindex(lib)["metadata"]
    assert report["photos"] == 2 and report["changed"] == 2 and report["unreadable"] == 0

    again = _photo(FIJI)
    assert {name: getattr(again, name) for name in want} == want
    assert again.meta_version == META_VERSION and again.country_code == "FJ", "its place is named again"
    cat = _photo(CAT)
    assert cat.title == "Mia" and cat.camera_model, "the user's title kept, the rest read again"
    assert _photo("2019/Pets/dog_orange.jpg").camera_model == "left alone", "a current photo is not re-read"
    assert {p: p.stat().st_mtime_ns for p in lib.storage.rglob("*") if p.is_file() and "thumbs" in p.parts} == thumbs
    assert Thumbnail.select().count() == thumb_rows
    assert {p.id: (p.phash, p.sha1) for p in Photo.select()} == hashes

    # Nothing stale any more; --all reads every present photo again.
    assert _reindex(lib)["metadata"]["photos"] == 0
    everything = _reindex(lib, "--all")["metadata"]
    present = Photo.select().where(Photo.missing_since.is_null()).count()
    assert everything["photos"] + everything["unreadable"] == present
    assert _photo("2019/Pets/dog_orange.jpg").camera_model != "left alone"

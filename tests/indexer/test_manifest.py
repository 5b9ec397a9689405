"""Index a copy of the corpus and check every file against MANIFEST.tsv, on SQLite and on MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest

from photoshelf.db.schema import File, Photo, Stack
from photoshelf.library import index_library
from photoshelf.records import records

from conftest import SMALL_CORPUS, Library, make_library
from support import checksums, read_manifest

SIDE_CAR_TYPES = {"XMP", "JSON"}
_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-]\d{2}):(\d{2})$")

# Where the corpus says the embedded tag is not the truth (its `tests` column explains why).
EXPECTED_TAKEN = {
    # Google Takeout: the JSON's photoTakenTime beats the XMP date written by a later edit.
    "Takeout/Google Photos/Photos from 2015/2015-02-04.jpg": dt.datetime(2015, 2, 4, 18, 18, 55),
}


def _video_rotation(path: Path) -> int:
    """The display rotation exiftool reads for a video (real exiftool, independent of our code)."""
    out = subprocess.run(["exiftool", "-j", "-n", "-Rotation", str(path)], capture_output=True, text=True).stdout
    return int(json.loads(out)[0].get("Rotation") or 0)


def check_against_manifest(lib: Library, corpus: Path) -> None:
    rows = read_manifest(corpus)
    by_path = {f.path: f for f in File.select()}
    for row in rows:
        path = row["path"]
        assert path in by_path, f"{path}: not in the catalog at all"
        f = by_path[path]
        if row["type_exiftool"] in SIDE_CAR_TYPES:
            assert f.role == "sidecar", path
            continue
        if f.photo_id is None:
            # Not indexed: it must have an error row with a human reason.
            assert f.error and len(f.error) > 10, f"{path}: neither indexed nor an error with a reason"
            assert row["path"].startswith("bad/"), f"{path}: good file failed: {f.error}"
            continue
        photo = Photo.get_by_id(f.photo_id)
        rec = records([photo])[0]
        # Capture time: wall-clock time where it was taken, and the offset when the file states one.
        if path in EXPECTED_TAKEN:
            assert photo.taken_at_local.replace(microsecond=0) == EXPECTED_TAKEN[path], path
        elif row["capture_date"]:
            m = _DATE.match(row["capture_date"])
            assert m, row["capture_date"]
            expected = dt.datetime.strptime(m.group(0), "%Y:%m:%d %H:%M:%S")
            assert photo.taken_at_local is not None, path
            assert photo.taken_at_local.replace(microsecond=0) == expected, (path, photo.taken_at_local, expected)
            off = _OFFSET.search(row["capture_date"])
            if off:
                sign = -1 if off[1].startswith("-") else 1
                minutes = sign * (abs(int(off[1])) * 60 + int(off[2]))
                assert photo.tz_offset == minutes, (path, photo.tz_offset, minutes)
                assert photo.taken_at.replace(microsecond=0) == expected - dt.timedelta(minutes=minutes), path
            assert rec["taken_at_source"] in ("exif", "xmp", "quicktime", "gps", "takeout"), path
        # GPS: present exactly when the manifest has it.
        if row["gps_lat"]:
            assert photo.lat == pytest.approx(float(row["gps_lat"]), abs=1e-4), path
            assert photo.lon == pytest.approx(float(row["gps_lon"]), abs=1e-4), path
        else:
            assert photo.lat is None and photo.lon is None, path
        # Orientation (0 is invalid and means 1) and the size after orientation.
        if row["orientation"]:
            want = int(row["orientation"]) or 1
            assert photo.orientation == want, path
        if row["width_x_height"] and "METADATA-ONLY stub" not in row["tests"]:
            w, h = (int(x) for x in row["width_x_height"].split("x"))
            if photo.kind == "video":
                if _video_rotation(lib.originals / path) % 180:
                    w, h = h, w
            elif (int(row["orientation"] or 1) or 1) in (5, 6, 7, 8):
                w, h = h, w
            if "decompression bomb" not in row["tests"]:
                assert (photo.width, photo.height) == (w, h), (path, photo.width, photo.height, w, h)
        assert photo.sha1 == row["sha1"], path
        assert rec["type"] in ("image", "raw", "video", "live")


def check_stacks_and_duplicates(corpus: Path) -> None:
    files = {f.path: f for f in File.select()}

    def photo(path: str) -> Photo:
        return Photo.get_by_id(files[path].photo_id)

    names = {r["path"] for r in read_manifest(corpus)}
    raw, jpg = "Raw/2019-06-06 Canon 6D/IMG_6D_0001.DNG", "Raw/2019-06-06 Canon 6D/IMG_6D_0001.JPG"
    if raw in names:
        assert photo(raw).stack_id is not None and photo(raw).stack_id == photo(jpg).stack_id
        stack = Stack.get_by_id(photo(raw).stack_id)
        assert stack.kind == "raw" and stack.primary_photo_id == photo(jpg).id
    still, motion = "Phone/DCIM/101APPLE/IMG_1502.HEIC", "Phone/DCIM/101APPLE/IMG_1502.MOV"
    if still in names:
        assert photo(still).stack_id is not None and photo(still).stack_id == photo(motion).stack_id
        stack = Stack.get_by_id(photo(still).stack_id)
        assert stack.kind == "live" and stack.primary_photo_id == photo(still).id
        assert photo(still).kind == "live"
    a, b = "2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg"
    if a in names:
        assert files[a].photo_id == files[b].photo_id, "exact duplicates must be one photo"
        rec = records([photo(a)])[0]
        assert len([f for f in rec["files"] if f["role"] == "media"]) == 2
        assert rec["duplicates"] == [b] or rec["duplicates"] == [a]


def _index_and_check(lib: Library, corpus: Path) -> None:
    before = checksums(lib.originals)
    first = index_library(lib.config, lib.db)
    media_rows = [r for r in read_manifest(corpus) if r["type_exiftool"] not in SIDE_CAR_TYPES]
    assert first.new == len(media_rows)
    assert first.errors == len([r for r in media_rows if r["path"].startswith("bad/") and r["path"].endswith(
        ("empty.jpg", "random_bytes.jpg", "decompression_bomb.png"))])
    check_against_manifest(lib, corpus)
    check_stacks_and_duplicates(corpus)
    # A second run reads no file: nothing hashed, exiftool not asked about anything.
    second = index_library(lib.config, lib.db)
    assert (second.hashed, second.metadata_read, second.bytes_read, second.new, second.changed) == (0, 0, 0, 0, 0)
    assert second.unchanged == first.seen
    # Originals byte for byte as before (nothing was written into them).
    assert checksums(lib.originals) == before


def test_small_corpus_matches_manifest(library: Library) -> None:
    _index_and_check(library, SMALL_CORPUS)


@pytest.mark.corpus
def test_full_corpus_matches_manifest(tmp_path: Path, database_url: str, full_corpus: Path) -> None:
    lib = make_library(tmp_path, database_url, full_corpus)
    try:
        _index_and_check(lib, full_corpus)
    finally:
        lib.db.close()

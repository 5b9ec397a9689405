"""Which files the scan takes: MPO and animated images are indexed, and every file it sees is indexed or reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from photoshelf.db.schema import File, IndexIssue, Photo
from photoshelf.doctor import run_checks
from photoshelf.indexer.reread import reread_metadata, stale_ids
from photoshelf.indexer.walk import Walker, display_path
from photoshelf.library import index_library

from conftest import Library, copy_corpus, make_library


def _mpo(path: Path, green: int = 40) -> None:
    """A two-picture MPO (what a 3D camera writes: left and right views), with a capture date in its EXIF."""
    left = Image.new("RGB", (96, 64), (200, green, 40))
    right = Image.new("RGB", (96, 64), (40, 40, 200))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2011:07:14 10:20:30"  # DateTimeOriginal
    left.save(path, format="MPO", save_all=True, append_images=[right], exif=exif.tobytes())


def test_an_mpo_is_indexed_by_its_first_picture(empty_library: Library) -> None:
    lib = empty_library
    with lib.user_changes():
        _mpo(lib.originals / "stereo.mpo")
        _mpo(lib.originals / "phone.jpg", green=60)  # some phones write MPO under .jpg (exiftool says JPEG)
    report = index_library(lib.config, lib.db)
    assert report.errors == 0 and report.new == 2
    for rel, fmt in (("stereo.mpo", "MPO"), ("phone.jpg", "JPEG")):
        f = File.get(File.path == rel)
        assert f.error is None and f.photo_id is not None, rel
        photo = Photo.get_by_id(f.photo_id)
        assert (photo.kind, photo.format, photo.width, photo.height) == ("image", fmt, 96, 64)
        assert photo.has_thumbs
        assert photo.taken_at_local is not None and photo.taken_at_local.year == 2011
    tile = Image.open(next(lib.storage.rglob("*_tile.*")))
    pixel = tile.convert("RGB").getpixel((tile.width // 2, tile.height // 2))
    assert isinstance(pixel, tuple)
    red, _, blue = pixel
    assert red > 150 and blue < 100, "the thumbnail is the first (left) picture"


def test_an_animated_gif_and_webp_have_a_length(empty_library: Library) -> None:
    lib = empty_library
    frames = [Image.new("RGB", (40, 30), (i * 50, 80, 120)) for i in range(4)]
    with lib.user_changes():
        for name in ("anim.gif", "anim.webp"):
            frames[0].save(lib.originals / name, save_all=True, append_images=frames[1:],
                           duration=[250, 250, 500, 1000], loop=0)
        frames[0].save(lib.originals / "still.gif")
    index_library(lib.config, lib.db)
    by_name = {f.name: Photo.get_by_id(f.photo_id) for f in File.select()}
    assert by_name["anim.gif"].duration == pytest.approx(2.0)
    assert by_name["anim.webp"].duration == pytest.approx(2.0)
    assert by_name["anim.gif"].kind == by_name["anim.webp"].kind == "image"
    assert by_name["still.gif"].duration is None
    # Read again without decoding (reindex --metadata, a cached thumbnail): exiftool's GIF/RIFF Duration.
    Photo.update(duration=None, meta_version=0).execute()
    reread_metadata(lib.config, lib.db, stale_ids())
    again = {f.name: Photo.get_by_id(f.photo_id) for f in File.select()}
    assert again["anim.gif"].duration == pytest.approx(2.0) and again["anim.webp"].duration == pytest.approx(2.0)
    assert again["still.gif"].duration is None


def _assert_all_accounted(lib: Library) -> None:
    """Every file the walk sees is an indexed photo, a failed file with a reason, a sidecar row, or listed by doctor
    as a file of another type; nothing falls through."""
    walker = Walker(lib.originals, skip=[lib.config.storage_path])
    entries = list(walker.walk())
    rows = {f.path: f for f in File.select()}
    issues = {i.file_id for i in IndexIssue.select().where(IndexIssue.severity == "error")}
    for e in entries:
        rel = display_path(e.rel)
        row = rows.get(rel)
        assert row is not None, f"{rel}: seen by the scan, not in the catalog"
        if e.role == "media":
            assert row.photo_id is not None or (row.error and row.id in issues), f"{rel}: neither indexed nor failed"
            if row.photo_id is not None:
                assert row.error is None
    report = run_checks(lib.config, lib.db)
    listed = {p for o in report["other_files"] for p in o["examples"]}
    counted = sum(o["count"] for o in report["other_files"])
    assert counted == sum(o.count for o in walker.other.values())
    for o in walker.other.values():
        assert set(o.examples) <= listed
    failed = {f["path"] for f in report["failed_files"]}
    assert failed == {p for p, f in rows.items() if f.error and f.missing_since is None}


def test_every_file_of_the_small_corpus_is_indexed_or_reported(library: Library) -> None:
    with library.user_changes():
        _mpo(library.originals / "Misc" / "Formats" / "stereo.mpo")
        (library.originals / "Misc" / "notes.txt").write_text("not a photo")
    index_library(library.config, library.db)
    _assert_all_accounted(library)
    other = {o["extension"]: o for o in run_checks(library.config, library.db)["other_files"]}
    assert other[".txt"]["examples"] == ["Misc/notes.txt"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_file_of_the_full_corpus_is_indexed_or_reported(full_corpus: Path, tmp_path: Path,
                                                             database_url: str) -> None:
    lib = make_library(tmp_path, database_url, None)
    try:
        with lib.user_changes():
            os.rmdir(lib.originals)
            copy_corpus(full_corpus, lib.originals)
        index_library(lib.config, lib.db)
        _assert_all_accounted(lib)
    finally:
        lib.db.close()

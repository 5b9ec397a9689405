"""The in-place scan: unchanged files skipped unread, moves keep identity, deletes, edits, duplicates, ignores."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from photoshelf.db.schema import File, Folder, IndexIssue, Photo
from photoshelf.errors import ConfigError
from photoshelf.library import index_library

from conftest import SMALL_CORPUS, Library
from support import checksums

JPEG = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"
OTHER = SMALL_CORPUS / "2019/Pets/dog_orange.jpg"


def _put(lib: Library, rel: str, source: Path = JPEG) -> Path:
    target = lib.originals / rel
    with lib.user_changes():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return target


def _file(rel: str) -> File:
    return File.get(File.path == rel)


def test_move_and_rename_keep_identity_without_rehash(empty_library: Library) -> None:
    lib = empty_library
    _put(lib, "a/one.jpg")
    _put(lib, "a/two.jpg", OTHER)
    index_library(lib.config, lib.db)
    photo = Photo.get_by_id(_file("a/one.jpg").photo_id)
    Photo.update(favorite=True, title="Mia").where(Photo.id == photo.id).execute()
    with lib.user_changes():
        (lib.originals / "b").mkdir()
        os.rename(lib.originals / "a/one.jpg", lib.originals / "b/renamed.jpg")
    report = index_library(lib.config, lib.db)
    assert report.moved == 1 and report.hashed == 0 and report.new == 0 and report.missing == 0
    moved = _file("b/renamed.jpg")
    assert moved.photo_id == photo.id
    again = Photo.get_by_id(photo.id)
    assert again.favorite and again.title == "Mia" and again.uid == photo.uid and again.missing_since is None
    assert File.select().where(File.path == "a/one.jpg").count() == 0


def test_folder_rename_is_a_move_of_its_files(empty_library: Library) -> None:
    lib = empty_library
    _put(lib, "2019/Trip/x.jpg")
    _put(lib, "2019/Trip/y.jpg", OTHER)
    index_library(lib.config, lib.db)
    ids = {f.name: f.photo_id for f in File.select()}
    with lib.user_changes():
        os.rename(lib.originals / "2019/Trip", lib.originals / "2019/Italy Trip")
    report = index_library(lib.config, lib.db)
    assert report.moved == 2 and report.hashed == 0
    assert {f.name: f.photo_id for f in File.select()} == ids
    assert {f.path for f in File.select()} == {"2019/Italy Trip/x.jpg", "2019/Italy Trip/y.jpg"}
    assert Folder.get_or_none(Folder.path == "2019/Italy Trip") is not None


def test_delete_marks_missing_then_return_then_purge(empty_library: Library) -> None:
    lib = empty_library
    path = _put(lib, "x/cat.jpg")
    index_library(lib.config, lib.db)
    photo_id = _file("x/cat.jpg").photo_id
    saved = path.read_bytes()
    with lib.user_changes():
        path.unlink()
    report = index_library(lib.config, lib.db)
    assert report.missing == 1
    assert Photo.get_by_id(photo_id).missing_since is not None, "a vanished file is marked missing, not dropped"
    with lib.user_changes():
        path.write_bytes(saved)  # restored from a backup: new mtime and inode, same bytes
    report = index_library(lib.config, lib.db)
    assert Photo.get_by_id(photo_id).missing_since is None
    assert _file("x/cat.jpg").photo_id == photo_id
    with lib.user_changes():
        path.unlink()
    index_library(lib.config, lib.db)
    # After the grace period it is purged, thumbnails too.
    long_ago = dt.datetime(2000, 1, 1)
    Photo.update(missing_since=long_ago).execute()
    File.update(missing_since=long_ago).execute()
    sha1 = Photo.get_by_id(photo_id).sha1
    thumb = lib.config.thumbs_path / sha1[:2] / sha1[2:4] / f"{sha1}_tile.jpg"
    assert thumb.exists()
    report = index_library(lib.config, lib.db)
    assert report.purged == 1
    assert Photo.get_or_none(Photo.id == photo_id) is None and not thumb.exists()


def test_edited_in_place_keeps_the_photo_and_its_user_data(empty_library: Library) -> None:
    lib = empty_library
    path = _put(lib, "e/pic.jpg")
    index_library(lib.config, lib.db)
    photo = Photo.get_by_id(_file("e/pic.jpg").photo_id)
    Photo.update(favorite=True).where(Photo.id == photo.id).execute()
    with lib.user_changes():
        shutil.copy(OTHER, path)  # another program saved new bytes under the same name
    report = index_library(lib.config, lib.db)
    assert report.changed == 1 and report.hashed == 1
    after = Photo.get_by_id(photo.id)
    assert after.sha1 != photo.sha1 and after.favorite
    assert (after.width, after.height) == (331, 488)


def test_exact_duplicates_are_one_photo_with_several_files(empty_library: Library) -> None:
    lib = empty_library
    _put(lib, "one/cat.jpg")
    _put(lib, "two/cat copy.jpg")
    report = index_library(lib.config, lib.db)
    assert report.duplicates == 1
    assert Photo.select().count() == 1
    assert File.select().where(File.role == "media").count() == 2
    # Deleting one copy leaves the photo present.
    with lib.user_changes():
        (lib.originals / "one/cat.jpg").unlink()
    index_library(lib.config, lib.db)
    assert Photo.get().missing_since is None


def test_ignored_folders_and_files(empty_library: Library) -> None:
    lib = empty_library
    keep = ["ok/a.jpg"]
    skip = [
        ".hidden/a.jpg", "@eaDir/a.jpg", "x/@eaDir/SYNOPHOTO_THUMB_M.jpg", "#recycle/a.jpg", ".stversions/a.jpg",
        ".Trash-1000/files/a.jpg", "ok/._a.jpg", "ok/Thumbs.db", "private/secret.jpg", "ok/skip-me.jpg",
        "ok/upload.jpg.part", "ok/notes.txt",
    ]
    for rel in keep + skip:
        _put(lib, rel)
    with lib.user_changes():
        (lib.originals / ".photoshelfignore").write_text("private/\n")
        (lib.originals / "ok/.photoshelfignore").write_text("skip-*.jpg\n")
    index_library(lib.config, lib.db)
    assert {f.path for f in File.select()} == set(keep)
    # A storage folder inside the originals is refused outright (the catalog would be written into them).
    with pytest.raises(ConfigError, match="library.storage"):
        lib.reconfigure(PHOTOSHELF_STORAGE=str(lib.originals / "storage-inside"))


def test_symlink_loops_are_not_followed_forever(empty_library: Library) -> None:
    lib = empty_library
    _put(lib, "real/a.jpg")
    with lib.user_changes():
        os.symlink(lib.originals, lib.originals / "real/loop")
        os.symlink(lib.originals / "real", lib.originals / "alias")
    report = index_library(lib.config, lib.db)
    assert report.new >= 1
    assert Photo.select().count() == 1


def test_bad_files_get_a_reason_and_the_scan_goes_on(empty_library: Library) -> None:
    lib = empty_library
    for name in ("empty.jpg", "random_bytes.jpg", "decompression_bomb.png", "truncated.jpg", "actually_a_png.jpg"):
        _put(lib, f"bad/{name}", SMALL_CORPUS / "bad" / name)
    _put(lib, "good/cat.jpg")
    report = index_library(lib.config, lib.db)
    errors = {f.path: f.error or "" for f in File.select().where(File.error.is_null(False))}
    assert set(errors) == {"bad/empty.jpg", "bad/random_bytes.jpg", "bad/decompression_bomb.png"}
    assert "empty" in errors["bad/empty.jpg"]
    assert "max_megapixels" in errors["bad/decompression_bomb.png"]
    assert report.errors == 3
    # A truncated JPEG is kept, with a warning; a PNG named .jpg is decoded by content.
    truncated = _file("bad/truncated.jpg")
    assert truncated.photo_id is not None
    assert IndexIssue.get(IndexIssue.file == truncated.id).severity == "warning"
    png = Photo.get_by_id(_file("bad/actually_a_png.jpg").photo_id)
    assert png.format == "PNG" and png.has_thumbs
    assert Photo.get_by_id(_file("good/cat.jpg").photo_id).has_thumbs
    # Errors are not retried while the file is unchanged, and are retried when it changes.
    assert index_library(lib.config, lib.db).hashed == 0
    with lib.user_changes():
        shutil.copy(JPEG, lib.originals / "bad/empty.jpg")
    index_library(lib.config, lib.db)
    assert _file("bad/empty.jpg").error is None


def test_index_only_some_paths(empty_library: Library) -> None:
    lib = empty_library
    _put(lib, "a/x.jpg")
    _put(lib, "b/y.jpg", OTHER)
    report = index_library(lib.config, lib.db, [str(lib.originals / "a")])
    assert report.new == 1 and {f.path for f in File.select()} == {"a/x.jpg"}
    report = index_library(lib.config, lib.db, [str(lib.originals / "b/y.jpg")])
    assert report.new == 1
    # Indexing a sub-folder does not mark the rest missing.
    index_library(lib.config, lib.db, [str(lib.originals / "a")])
    assert File.select().where(File.missing_since.is_null(False)).count() == 0


def test_thumbnails_are_outside_the_originals_and_upright(library: Library) -> None:
    lib = library
    before = checksums(lib.originals)
    index_library(lib.config, lib.db)
    assert checksums(lib.originals) == before
    from PIL import Image

    photo = Photo.get_by_id(_file("Misc/Orientation Test/Landscape_6.jpg").photo_id)
    fit = lib.config.thumbs_path / photo.sha1[:2] / photo.sha1[2:4] / f"{photo.sha1}_fit.jpg"
    tile = fit.with_name(f"{photo.sha1}_tile.jpg")
    with Image.open(fit) as im:
        assert im.width > im.height, "orientation 6 must be rotated upright (landscape)"
        assert max(im.size) == 720
        # The test image has an "L"-ish marker: the top-left region is darker than the bottom-right after
        # rotation; compare with the orientation-1 reference rendered the same way.
        ref_photo = Photo.get_by_id(_file("Misc/Orientation Test/Landscape_3.jpg").photo_id)
        ref = lib.config.thumbs_path / ref_photo.sha1[:2] / ref_photo.sha1[2:4] / f"{ref_photo.sha1}_fit.jpg"
        with Image.open(ref) as r:
            a = im.convert("L").resize((16, 16))
            b = r.convert("L").resize((16, 16))
            diff = sum(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) / 256
            assert diff < 20, "two orientations of the same picture must render alike when upright"
    with Image.open(tile) as im:
        assert im.size == (224, 224)
    heic = Photo.get_by_id(_file("Phone/DCIM/101APPLE/IMG_1502.HEIC").photo_id)
    assert (heic.width, heic.height) == (3024, 4032)


def test_xmp_sidecar_values_are_read(empty_library: Library) -> None:
    """Rating, title, description and keywords from IMG.xmp (Lightroom/darktable) beat the embedded values;
    editing the sidecar re-reads the photo's metadata on the next index."""
    import subprocess

    lib = empty_library
    image = _put(lib, "Raw/IMG_1.jpg")
    xmp = lib.originals / "Raw/IMG_1.xmp"
    with lib.user_changes():
        subprocess.run(["exiftool", "-q", "-o", str(xmp), "-XMP:Rating=4", "-XMP:Title=Cat on the sofa",
                        "-XMP:Description=Our cat", "-XMP:Subject=cat", "-XMP:Subject=sofa", str(image)], check=True)
    index_library(lib.config, lib.db)
    photo = Photo.get_by_id(_file("Raw/IMG_1.jpg").photo_id)
    assert (photo.rating, photo.title, photo.description) == (4, "Cat on the sofa", "Our cat")
    assert photo.keywords == "cat, sofa"
    assert _file("Raw/IMG_1.xmp").photo_id == photo.id and _file("Raw/IMG_1.xmp").role == "sidecar"
    before = (lib.originals / "Raw/IMG_1.jpg").read_bytes()
    with lib.user_changes():
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP:Rating=5", str(xmp)], check=True)
    report = index_library(lib.config, lib.db)
    assert Photo.get_by_id(photo.id).rating == 5
    assert report.new == 0
    assert (lib.originals / "Raw/IMG_1.jpg").read_bytes() == before


def test_user_edits_survive_reindexing(empty_library: Library) -> None:
    """A title typed by a person (locked) is kept when the file or its sidecar is read again."""
    import subprocess

    from photoshelf.db.schema import lock_fields

    lib = empty_library
    image = _put(lib, "a/IMG_2.jpg")
    xmp = lib.originals / "a/IMG_2.xmp"
    with lib.user_changes():
        subprocess.run(["exiftool", "-q", "-o", str(xmp), "-XMP:Title=From Lightroom", "-XMP:Rating=2",
                        str(image)], check=True)
    index_library(lib.config, lib.db)
    photo = Photo.get_by_id(_file("a/IMG_2.jpg").photo_id)
    Photo.update(title="Grandma's birthday", locked=lock_fields(photo, "title")).where(Photo.id == photo.id).execute()
    with lib.user_changes():
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP:Title=Changed", "-XMP:Rating=3", str(xmp)],
                       check=True)
    index_library(lib.config, lib.db, force=True)
    after = Photo.get_by_id(photo.id)
    assert after.title == "Grandma's birthday"
    assert after.rating == 3  # not locked: follows the sidecar

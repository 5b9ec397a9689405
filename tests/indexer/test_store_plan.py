"""The plan of a batch's writes (indexer/store.py), decided without a database from the batch and what the
catalog holds: new, changed and duplicate files, a run's leftovers, unreadable files, refreshes."""

from __future__ import annotations

import datetime as dt

from photoshelf.db.schema import Photo
from photoshelf.indexer.store import META_VERSION, Catalog, KnownFile, Prepared, plan_batch
from photoshelf.indexer.walk import Entry
from photoshelf.indexer.worker import FileResult
from photoshelf.media.metadata import Metadata

NOW = dt.datetime(2026, 12, 3, 20, 0, 0)
SHA_A, SHA_B = "a" * 40, "b" * 40


def _row(rel: str, row_id: int, photo_id: int | None) -> KnownFile:
    folder, _, name = rel.rpartition("/")
    return KnownFile(id=row_id, path=rel, raw_path=None, name=name, folder_id=1, photo_id=photo_id, role="media",
                     size=100, mtime_ns=1, inode=row_id, missing_since=None)


def _item(rel: str, sha1: str | None, known: KnownFile | None = None, *, fatal: str | None = None,
          md: Metadata | None = None, warnings: list[tuple[str, str]] | None = None) -> Prepared:
    entry = Entry(rel=rel, size=120, mtime_ns=2, inode=99, dev=1, role="media")
    result = FileResult(sha1=sha1, bytes_read=120, width=40, height=30, warnings=warnings or [])
    md = md or Metadata(filetype="JPEG", mime="image/jpeg", title="From the file", description="Said by the file")
    return Prepared(entry, known, result, md, fatal, rel, rel.rsplit("/", 1)[-1], 1)


def _photo(photo_id: int, sha1: str, **values: object) -> Photo:
    photo = Photo(id=photo_id, uid=f"p{photo_id:016x}", sha1=sha1, kind="image", meta_version=META_VERSION,
                  taken_src="exif", **values)
    photo._dirty.clear()  # type: ignore[attr-defined]  # as loaded from the catalog
    return photo


def test_a_new_file_makes_a_new_photo_and_a_new_row() -> None:
    plan = plan_batch([_item("2024/a.jpg", SHA_A)], Catalog(owners={"2024/a.jpg": 7}), NOW, make_uid=lambda: "p1")
    assert (plan.new, plan.changed, plan.duplicates, plan.errors) == (1, 0, 0, 0)
    photo = plan.new_photos[SHA_A]
    assert (photo.id, photo.uid, photo.owner, photo.title, photo.width) == (None, "p1", 7, "From the file", 40)
    assert photo.created_at == photo.updated_at == NOW
    [write] = plan.files
    assert write.photo is photo and write.row_id is None and write.issues == []
    assert not plan.dirty and not plan.orphans and not plan.stale_thumbs


def test_a_file_edited_in_place_keeps_its_photo_with_the_new_content() -> None:
    row = _row("a.jpg", 11, 5)
    old = _photo(5, SHA_A, title="Mine", locked="title")
    catalog = Catalog(files={"a.jpg": row}, photos={5: old}, media_paths={5: {"a.jpg": True}})
    plan = plan_batch([_item("a.jpg", SHA_B, row)], catalog, NOW)
    assert (plan.new, plan.changed) == (0, 1)
    assert plan.files[0].photo is old and plan.files[0].row_id == 11
    assert old.sha1 == SHA_B and old.title == "Mine", "same photo, new bytes, the person's title kept"
    assert plan.stale_thumbs == {5: SHA_A}, "the old content's thumbnails go"
    assert plan.dirty == {5: old} and not plan.new_photos and not plan.orphans


def test_an_edit_of_one_of_two_copies_parts_it_from_the_photo() -> None:
    row = _row("a.jpg", 11, 5)
    catalog = Catalog(files={"a.jpg": row}, photos={5: _photo(5, SHA_A)},
                      media_paths={5: {"a.jpg": True, "copy/a.jpg": True}})
    plan = plan_batch([_item("a.jpg", SHA_B, row)], catalog, NOW)
    assert SHA_B in plan.new_photos and plan.files[0].photo is plan.new_photos[SHA_B]
    assert catalog.photos[5].sha1 == SHA_A and not plan.stale_thumbs
    assert plan.orphans == {5}, "the old photo is checked for files left"


def test_duplicate_content_points_at_the_photo_that_has_it() -> None:
    keeper = _photo(7, SHA_A, title="Kept")
    catalog = Catalog(by_sha={SHA_A: keeper}, media_paths={7: {"first.jpg": True}})
    plan = plan_batch([_item("second.jpg", SHA_A)], catalog, NOW)
    assert plan.duplicates == 1 and plan.new == 1
    assert plan.files[0].photo is keeper and not plan.new_photos
    assert keeper.title == "Kept", "another copy only fills gaps"
    assert plan.dirty == {7: keeper}
    assert catalog.media_paths == {7: {"first.jpg": True}}, "the catalog given is not changed"


def test_two_copies_in_one_batch_make_one_photo() -> None:
    plan = plan_batch([_item("a.jpg", SHA_A), _item("b.jpg", SHA_A)], Catalog(), NOW)
    assert len(plan.new_photos) == 1 and plan.duplicates == 1
    assert plan.files[0].photo is plan.files[1].photo is plan.new_photos[SHA_A]


def test_a_copy_whose_first_file_is_missing_is_not_a_duplicate() -> None:
    keeper = _photo(7, SHA_A)
    catalog = Catalog(by_sha={SHA_A: keeper}, media_paths={7: {"gone.jpg": False}})
    plan = plan_batch([_item("moved.jpg", SHA_A)], catalog, NOW)
    assert plan.duplicates == 0 and plan.files[0].photo is keeper


def test_a_file_committed_by_an_interrupted_run_updates_its_row() -> None:
    # The scan did not know the path, but the catalog has it now (the last run stopped after writing it).
    row = _row("a.jpg", 11, 5)
    photo = _photo(5, SHA_A)
    catalog = Catalog(files={"a.jpg": row}, by_sha={SHA_A: photo}, media_paths={5: {"a.jpg": True}})
    plan = plan_batch([_item("a.jpg", SHA_A, known=None)], catalog, NOW)
    assert plan.new == 1 and plan.duplicates == 0, "counted as new, as the scan saw it, and not as its own copy"
    assert plan.files[0].row_id == 11 and plan.files[0].photo is photo
    assert not plan.new_photos and not plan.orphans


def test_a_fatal_error_records_the_reason_and_orphans_the_old_photo() -> None:
    row = _row("a.jpg", 11, 3)
    catalog = Catalog(files={"a.jpg": row}, photos={3: _photo(3, SHA_A)}, media_paths={3: {"a.jpg": True}})
    plan = plan_batch([_item("a.jpg", None, row, fatal="empty file (0 bytes)")], catalog, NOW)
    assert (plan.errors, plan.changed, plan.warnings) == (1, 1, 0)
    [write] = plan.files
    assert write.photo is None and write.row_id == 11
    assert write.issues == [("read", "error", "empty file (0 bytes)")]
    assert plan.orphans == {3} and not plan.dirty and not plan.new_photos


def test_warnings_are_issues_and_minor_ones_are_left_out() -> None:
    md = Metadata(filetype="JPEG", warnings=["Bad MakerNotes", "[minor] Ignored empty tag"])
    plan = plan_batch([_item("a.jpg", SHA_A, md=md, warnings=[("thumbnail", "truncated")])], Catalog(), NOW)
    assert plan.files[0].issues == [("thumbnail", "warning", "truncated"), ("metadata", "warning", "Bad MakerNotes")]
    assert plan.warnings == 2


def test_a_refresh_keeps_the_fields_a_person_set() -> None:
    # The same bytes read again (a forced index, or its XMP changed): the file's metadata wins except where locked.
    row = _row("a.jpg", 11, 9)
    photo = _photo(9, SHA_A, title="My title", description="Old text", locked="title", favorite=True)
    catalog = Catalog(files={"a.jpg": row}, by_sha={SHA_A: photo}, photos={9: photo},
                      media_paths={9: {"a.jpg": True}})
    plan = plan_batch([_item("a.jpg", SHA_A, row)], catalog, NOW)
    assert plan.changed == 1 and plan.duplicates == 0
    assert photo.title == "My title" and photo.favorite, "set by a person: kept"
    assert photo.description == "Said by the file", "not locked: the file's value"
    assert plan.dirty == {9: photo} and "title" not in {f.name for f in photo.dirty_fields} and photo.updated_at == NOW
    assert not plan.stale_thumbs and not plan.orphans

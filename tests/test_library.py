"""The library API: one update runs the stages in order, a second changes nothing, events name the photos, restore."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from photoshelf.db.changes import touch_photos
from photoshelf.db.schema import File, Job, Photo, utcnow
from photoshelf.events import Events, PhotoEvent
from photoshelf.library import Library
from photoshelf.sidecars.sync import sidecar_root

from conftest import SMALL_CORPUS, make_library
from conftest import Library as Folders
from support import lose_catalog

CAT = "2016/Pets/cat_brown.jpg"
DOG = "2019/Pets/dog_orange.jpg"
FIJI = "2004/Fiji/smallFiji.JPG"
BERLIN = "2020/Berlin/digikam.jpg"


def _folders(tmp_path: Path, database_url: str) -> Folders:
    source = tmp_path / "source"
    for rel in (CAT, DOG, FIJI, BERLIN):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SMALL_CORPUS / rel, source / rel)
    return make_library(tmp_path, database_url, source)


@pytest.fixture
def folders(tmp_path: Path, database_url: str) -> Iterator[Folders]:
    """Four photos of the small corpus, copied, with an empty catalog (on each backend)."""
    made = _folders(tmp_path, database_url)
    yield made
    made.db.close()


@pytest.fixture
def shelf(folders: Folders) -> Iterator[Library]:
    library = Library(folders.config, folders.db)
    yield library
    library.close()


def _heard(events: Events) -> dict[str, set[int]]:
    heard: dict[str, set[int]] = {}

    def record(event: PhotoEvent) -> None:
        heard.setdefault(event.kind, set()).update(event.photo_ids)

    events.listen(("photos_added", "photos_changed", "photos_moved", "photos_removed", "user_edit"), record)
    return heard


def _photo_id(rel: str) -> int:
    return int(File.get(File.path == rel).photo_id)


def test_update_runs_every_stage_and_a_second_update_changes_nothing(folders: Folders, shelf: Library) -> None:
    heard = _heard(shelf.events)
    first = shelf.update(ml=False)
    assert (first.index.new, first.index.errors, first.enrich) == (4, 0, None)
    ids = {p.id for p in Photo.select(Photo.id)}
    assert len(ids) == 4 and heard == {"photos_added": ids}
    # The stages after the catalog ran, in the same run record: sidecars, places.
    assert first.index.sidecars_written == 4
    assert sorted(p.name for p in sidecar_root(folders.config).rglob("*.yml")) == [
        "cat_brown.yml", "digikam.yml", "dog_orange.yml", "smallFiji.yml"]
    assert Photo.get_by_id(_photo_id(CAT)).country_code == "DE"
    job = Job.get(Job.kind == "index")
    assert job.state == "done" and json.loads(job.progress or "{}")["sidecars_written"] == 4
    updated = {p.id: p.updated_at for p in Photo.select()}

    heard.clear()
    second = shelf.update(ml=False)
    assert (second.index.new, second.index.changed, second.index.moved, second.index.missing) == (0, 0, 0, 0)
    assert (second.index.hashed, second.index.sidecars_written, second.index.places) == (0, 0, 0)
    assert second.index.unchanged == 4
    assert heard == {}, "nothing happened, nothing is told"
    assert {p.id: p.updated_at for p in Photo.select()} == updated

    # A photo from before place names: the places stage names it in the next update.
    Photo.update(country_code=None, country=None, state=None, city=None).where(Photo.id == _photo_id(CAT)).execute()
    assert shelf.update(ml=False).index.places == 1
    assert Photo.get_by_id(_photo_id(CAT)).country_code == "DE"


def test_events_name_the_photos_added_changed_moved_and_removed(folders: Folders, shelf: Library, tmp_path: Path) -> None:
    heard = _heard(shelf.events)
    shelf.update(ml=False)
    cat, dog, fiji = _photo_id(CAT), _photo_id(DOG), _photo_id(FIJI)
    heard.clear()
    with folders.user_changes():
        st = os.stat(folders.originals / CAT)
        os.utime(folders.originals / CAT, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: read again
        (folders.originals / "2019/Moved").mkdir()
        os.rename(folders.originals / DOG, folders.originals / "2019/Moved/dog.jpg")
        os.rename(folders.originals / FIJI, tmp_path / "fiji.jpg")  # gone from the originals
    report = shelf.update(ml=False).index
    assert (report.changed, report.moved, report.missing, report.new) == (1, 1, 1, 0)
    assert heard == {"photos_changed": {cat}, "photos_moved": {dog}, "photos_removed": {fiji}}
    assert _photo_id("2019/Moved/dog.jpg") == dog

    heard.clear()
    with folders.user_changes():
        shutil.copy2(tmp_path / "fiji.jpg", folders.originals / FIJI)  # back, same bytes and time
    report = shelf.update([folders.originals / "2004"], record=False, ml=False).index
    assert (report.changed, report.new) == (1, 0)  # a copy: another inode, so it is read again
    assert heard == {"photos_added": {fiji}}, "a photo back from missing is in the library again"
    assert Photo.get_by_id(fiji).missing_since is None


def test_a_listener_can_leave() -> None:
    events = Events()
    heard: list[PhotoEvent] = []
    leave = events.listen("user_edit", heard.append)
    events.send("user_edit", [3, 1, 3])
    events.send("user_edit", [])
    leave()
    events.send("user_edit", [2])
    assert heard == [PhotoEvent("user_edit", (1, 3))]


def test_restore_rebuilds_the_catalog_from_the_sidecars(folders: Folders, shelf: Library) -> None:
    shelf.update(ml=False)
    Photo.update(title="Mia on the chair", favorite=True, updated_at=utcnow()).where(
        Photo.id == _photo_id(CAT)).execute()
    assert shelf.sync_sidecars().written == 1
    lose_catalog(folders)
    assert Photo.select().count() == 0
    rebuilt = Library(folders.config, folders.db)
    heard = _heard(rebuilt.events)
    try:
        report = rebuilt.restore()
    finally:
        rebuilt.close()
    assert report.index.new == 4 and report.sidecars.applied == 4 and report.sidecars.errors == 0
    assert report.share_links == 0
    cat = Photo.get_by_id(_photo_id(CAT))
    assert (cat.title, cat.favorite) == ("Mia on the chair", True)
    assert heard["photos_added"] == {p.id for p in Photo.select(Photo.id)}
    assert set(report.as_dict()) == {"index", "sidecars", "share_links"}


def test_a_person_s_edit_is_stamped_and_told(folders: Folders, shelf: Library) -> None:
    heard = _heard(shelf.events)
    shelf.update(ml=False)
    cat, dog = _photo_id(CAT), _photo_id(DOG)
    before = {p.id: p.updated_at for p in Photo.select()}
    heard.clear()
    time.sleep(1.1)  # MariaDB keeps whole seconds
    assert shelf.edit([cat, dog, cat], favorite=True) == 2
    assert heard == {"user_edit": {cat, dog}}
    after = {p.id: p.updated_at for p in Photo.select()}
    assert {pid for pid in after if after[pid] != before[pid]} == {cat, dog}
    assert {p.id for p in Photo.select().where(Photo.favorite == True)} == {cat, dog}  # noqa: E712
    assert shelf.sync_sidecars().written == 2, "the stamp gets their sidecars rewritten"
    assert shelf.edit([]) == 0
    time.sleep(1.1)
    assert touch_photos(Photo.select(Photo.id).where(Photo.id == dog)) == 1 and touch_photos([]) == 0
    assert shelf.sync_sidecars().written == 0, "a touch changes no sidecar's content"
    assert Photo.get_by_id(dog).updated_at > after[dog]

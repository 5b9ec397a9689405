"""The sidecar plan (which photos get a sidecar, with what content, and which are already written as they are) is
made from catalog rows alone: these tests give it rows, with no database and no files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from photoshelf.db.schema import Photo, Stack
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.sync import SidecarRows, plan_sidecars

ROOT = Path("/sidecars")


def photo(pid: int, **fields: object) -> Photo:
    return Photo(id=pid, uid=f"p{pid:015d}", sha1=f"{pid:040x}", kind="image",
                 taken_at=dt.datetime(2020, 5, pid), taken_at_local=dt.datetime(2020, 5, pid, 2), **fields)


def test_one_sidecar_per_photo_with_a_file_and_per_stack() -> None:
    raw, jpeg, alone, fileless = photo(1, stack=7), photo(2, stack=7), photo(3, title="Beach"), photo(4)
    rows = SidecarRows(
        paths={1: ROOT / "2020/IMG_1.yml", 2: ROOT / "2020/IMG_1.yml", 3: ROOT / "2020/IMG_3.yml"},
        stacks={7: Stack(id=7, kind="raw", key="k", primary_photo_id=2)},
        members={7: [{"Sha1": jpeg.sha1, "UID": jpeg.uid}, {"Sha1": raw.sha1, "UID": raw.uid}]},
        albums={3: [{"UID": "a1", "Title": "Holidays"}]}, rotations={3: 90}, keepers={3: "f" * 40},
        ml={3: {"Labels": [{"Name": "beach", "Category": "", "Categories": [], "Confidence": 0.9,
                            "Source": "imagenet"}]}})
    planned = plan_sidecars([raw, jpeg, alone, fileless], rows)
    # The stack's sidecar is its primary's (the JPEG); the photo without a media file has none.
    assert [(p.photo.id, p.path) for p in planned] == [(2, ROOT / "2020/IMG_1.yml"), (3, ROOT / "2020/IMG_3.yml")]
    stacked, beach = planned
    ours = stacked.content[fmt.SECTION]
    assert ours["Stack"] == {"Kind": "raw", "Members": sorted(rows.members[7], key=lambda m: m["Sha1"])}
    assert "Albums" in ours and ours["Albums"] == [] and ours["Rotation"] == 0
    ours = beach.content[fmt.SECTION]
    assert beach.content["Title"] == "Beach" and beach.content["UID"] == alone.uid
    assert ours["Albums"] == [{"UID": "a1", "Title": "Holidays"}] and ours["Rotation"] == 90
    assert ours["DuplicateOf"] == "f" * 40 and ours["Labels"][0]["Name"] == "beach"
    assert beach.content == fmt.build(alone, albums=rows.albums[3], rotation=90, ml=rows.ml[3],
                                      duplicate_of="f" * 40)


def test_what_was_written_as_it_is_is_recorded() -> None:
    photos = [photo(1), photo(2), photo(3)]
    paths = {p.id: ROOT / f"IMG_{p.id}.yml" for p in photos}
    first = plan_sidecars(photos, SidecarRows(paths=paths))
    assert [(p.recorded, p.wrote_before) for p in first] == [(False, False)] * 3
    # SidecarState recorded photo 1 as planned now, and photo 2 as it was before its title changed.
    rows = SidecarRows(paths=paths, digests={1: first[0].digest, 2: first[1].digest})
    photos[1].title = "Renamed"
    again = plan_sidecars(photos, rows)
    assert [(p.recorded, p.wrote_before) for p in again] == [(True, True), (False, True), (False, False)]
    assert again[0].digest == first[0].digest and again[1].digest != first[1].digest


def test_the_digest_covers_the_path_and_the_rows() -> None:
    """A sidecar that moves (its photo's file renamed) or whose rows change (an album) is written again."""
    one = photo(1)
    base = plan_sidecars([one], SidecarRows(paths={1: ROOT / "a.yml"}))[0]
    moved = plan_sidecars([one], SidecarRows(paths={1: ROOT / "b.yml"}))[0]
    in_album = plan_sidecars([one], SidecarRows(paths={1: ROOT / "a.yml"},
                                                albums={1: [{"UID": "a1", "Title": "X"}]}))[0]
    assert len({base.digest, moved.digest, in_album.digest}) == 3
    assert base.content == moved.content != in_album.content

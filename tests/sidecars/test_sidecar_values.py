"""Sidecars and old catalogs with numbers no file should hold (issue #12): a hand-edited `Altitude: .inf` or
`Lat: 1e308` never gets in, the writer never raises on an inf already stored, and migration 10 cleans a catalog
that an older photoshelf filled with them."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from photoshelf import values
from photoshelf.db.catalog import open_catalog
from photoshelf.db.rows import tuples
from photoshelf.db.schema import File, Photo, PhotoLabel, SchemaVersion
from photoshelf.records import records
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.sync import apply_file, sidecar_root, sync_changed, write_sidecars

from conftest import Library, indexed_subset
from fuzz import FUZZ, junk_number, junk_text, strict_json

CAT = "2016/Pets/cat_brown.jpg"
DOG = "2019/Pets/dog_orange.jpg"


def _photo(rel: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == rel).photo_id)


# -- reading a sidecar back ----------------------------------------------------------------------------------------

junk = st.one_of(junk_number, junk_text)
sidecar_data = st.fixed_dictionaries({}, optional={
    "UID": junk, "Title": junk, "Description": junk, "Lat": junk_number, "Lng": junk_number, "Altitude": junk_number,
    "TakenAt": st.one_of(junk, st.datetimes(timezones=st.timezones()), st.datetimes()),
    "TakenAtLocal": st.one_of(junk, st.datetimes()), "TakenSrc": st.sampled_from(["manual", "meta", ""]),
    "Favorite": junk, "Details": st.one_of(junk, st.fixed_dictionaries({"Keywords": junk_text})),
    fmt.SECTION: st.fixed_dictionaries({}, optional={
        "Sha1": junk, "Rating": junk_number, "Locked": st.one_of(junk, st.lists(junk, max_size=40)),
        "Rotation": junk_number, "Albums": st.lists(st.fixed_dictionaries({"UID": junk, "Title": junk}), max_size=3),
        "Stack": st.fixed_dictionaries({"Members": st.lists(st.fixed_dictionaries({"Sha1": junk, "UID": junk}),
                                                            max_size=2)}),
    }),
})


def _storable(text: str | None, cap: int) -> bool:
    return text is None or (len(text) <= cap and "\x00" not in text and text.encode("utf-8") is not None)


@FUZZ
@given(sidecar_data)
def test_fuzz_sidecar_parse(data: dict[str, Any]) -> None:
    ud = fmt.parse(data)  # documented: ValueError only for a file that is not a mapping
    assert (ud.lat, ud.lon) == (None, None) or values.position(ud.lat, ud.lon) == (ud.lat, ud.lon)
    assert ud.rating is None or -1 <= ud.rating <= 5
    assert ud.rotation in (0, 90, 180, 270)
    for when in (ud.taken_at, ud.taken_at_local):
        assert when is None or (when.tzinfo is None and values.YEARS[0] <= when.year <= values.YEARS[1])
    assert _storable(ud.title, values.TITLE) and _storable(ud.description, values.DESCRIPTION)
    assert _storable(ud.keywords, values.KEYWORDS) and _storable(ud.uid, values.UID) and _storable(ud.sha1, 40)
    assert len(",".join(ud.locked)) <= values.LOCKED
    assert all(_storable(a["UID"], values.UID) and _storable(a["Title"], values.ALBUM_TITLE) for a in ud.albums)


def test_a_hand_edited_sidecar_cannot_bring_inf_in(tmp_path: Path, database_url: str) -> None:
    lib = indexed_subset(tmp_path, database_url, [CAT])
    try:
        cat = _photo(CAT)
        sync_changed(lib.config)
        path = sidecar_root(lib.config) / "2016/Pets/cat_brown.yml"
        text = path.read_text(encoding="utf-8")
        assert "Altitude: 450" in text
        text = text.replace("Altitude: 450", "Altitude: .inf").replace("Lat: ", "Lat: 1e308\nOldLat: ")
        text = text.replace("Locked: []", "Locked: [location, title]").replace(
            "UID:", f"Title: {'x' * 100_000}\nUID:").replace("  Rating:", "  Rating: 99\n  OldRating:")
        text += "\n".join(["  Labels:", "  - Name: cat", "    Confidence: .nan"]) + "\n"
        path.write_text(text, encoding="utf-8")
        assert apply_file(lib.config, path, force=True) == "applied"
        after = Photo.get_by_id(cat.id)
        assert (after.lat, after.lon, after.altitude) == (None, None, cat.altitude)  # the hand-set "no position"
        assert after.title == "x" * values.TITLE and after.rating == cat.rating
        assert all(math.isfinite(c) for (c,) in tuples(PhotoLabel.select(PhotoLabel.confidence)))
    finally:
        lib.db.close()


# -- an old catalog --------------------------------------------------------------------------------------------

def _spoil(lib: Library) -> tuple[int, int]:
    """Write what an older photoshelf stored from a bad Takeout JSON or EXIF, as raw SQL (the models would not)."""
    cat, dog = _photo(CAT), _photo(DOG)
    sqlite = lib.database_url.startswith("sqlite")
    # SQLite keeps inf (9e999 overflows to it); MariaDB refuses it, but took any finite value (FLOAT columns are
    # single precision there: up to about 3.4e38).
    big, big_float = ("9e999", "9e999") if sqlite else ("1e308", "1e30")
    long_title = "t" * (1_000_000 if sqlite else 60_000)  # a MariaDB TEXT holds 64 KB
    lib.db.execute_sql(f"UPDATE photo SET lon = {big}, altitude = -{big}, fnumber = {big_float}, title = %s, "
                       f"keywords = %s WHERE id = %s".replace("%s", "?" if sqlite else "%s"),
                       (long_title, ", ".join(f"k{i}" for i in range(5000)), cat.id))
    lib.db.execute_sql(f"UPDATE photo SET lat = 48.1, lon = 11.5, altitude = 4294967284, iso = 2000000000, "
                       f"rating = 300, orientation = 0, width = -5 WHERE id = {dog.id}")
    if sqlite:
        PhotoLabel.create(photo=cat.id, name="cat", confidence=float("inf"), source="user")
    return cat.id, dog.id


def test_migration_10_cleans_an_old_catalog(tmp_path: Path, database_url: str) -> None:
    lib = indexed_subset(tmp_path, database_url, [CAT, DOG])
    cat_id, dog_id = _spoil(lib)
    # What an older photoshelf crashed on (int(inf) in the sidecar writer, JSON that is not JSON): now null.
    spoiled = list(Photo.select().where(Photo.id.in_([cat_id, dog_id])))
    write_sidecars(lib.config, spoiled)
    for record in records(spoiled):
        strict_json(json.dumps(record, default=str))
    if database_url.startswith("sqlite"):
        lon = Photo.get_by_id(cat_id).lon
        assert lon is not None and math.isinf(lon)
        assert "Lng" not in fmt.build(Photo.get_by_id(cat_id), albums=[])
    SchemaVersion.delete().where(SchemaVersion.version == 10).execute()
    lib.db.close()
    lib.db = open_catalog(lib.config)  # an upgrade: migration 10 runs
    try:
        cat, dog = Photo.get_by_id(cat_id), Photo.get_by_id(dog_id)
        assert (cat.lat, cat.lon, cat.altitude, cat.fnumber, cat.country_code) == (None, None, None, None, None)
        assert cat.title == "t" * values.TITLE and cat.keywords is not None and len(cat.keywords) <= values.KEYWORDS
        assert (dog.lat, dog.lon, dog.altitude) == (48.1, 11.5, -12.0)  # the 32-bit wrap undone
        assert (dog.iso, dog.rating, dog.orientation, dog.width) == (None, None, 1, None)
        assert all(math.isfinite(c) for (c,) in tuples(PhotoLabel.select(PhotoLabel.confidence)))
        assert sync_changed(lib.config).errors == 0
        assert write_sidecars(lib.config, [cat, dog]).errors == 0
        before = Photo.select().where(Photo.id.in_([cat_id, dog_id])).order_by(Photo.id).dicts()
        SchemaVersion.delete().where(SchemaVersion.version == 10).execute()
        lib.db.close()
        lib.db = open_catalog(lib.config)  # run again: a clean catalog is left as it is
        assert list(Photo.select().where(Photo.id.in_([cat_id, dog_id])).order_by(Photo.id).dicts()) == list(before)
    finally:
        lib.db.close()


def test_sidecar_time_zones_at_the_edge_of_time() -> None:
    """A date Python cannot move to UTC (year 1 at +01:00) is no date, not an OverflowError."""
    ud = fmt.parse({"TakenAt": "0001-01-01T00:00:00+01:00", "TakenAtLocal": dt.datetime(9999, 12, 31)})
    assert (ud.taken_at, ud.taken_at_local) == (None, None)

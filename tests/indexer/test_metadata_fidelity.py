"""Metadata fidelity (issue #13): the metadata test set indexed by the real indexer, every field held against
tests/data/metadata/expected.tsv on both backends, plus the rules behind them (dates, zones, boilerplate,
altitude, vendor groups) and what the API, export and sidecars say about an unknown zone or a guessed date."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import metadata_set
import pytest
from starlette.testclient import TestClient

from photoshelf.db.schema import File, IndexIssue, Photo
from photoshelf.library import index_library
from photoshelf.media.boilerplate import is_boilerplate
from photoshelf.media.capture import capture_time, impossible, vendor_values
from photoshelf.media.metadata import extract
from photoshelf.records import date_guessed, records
from photoshelf.viewer.app import create_app

from conftest import Library, make_library


def _records(lib: Library) -> dict[str, dict[str, Any]]:
    out = {}
    for f in File.select().where(File.photo.is_null(False) & (File.role == "media")):
        out[f.path] = records([Photo.get_by_id(f.photo_id)])[0]
    return out


@pytest.fixture
def indexed(tmp_path: Path, database_url: str) -> Any:
    lib = make_library(tmp_path, database_url, metadata_set.build(tmp_path / "set"))
    try:
        report = index_library(lib.config, lib.db)
        assert report.errors == 0
        yield lib
    finally:
        lib.db.close()


def test_every_field_matches_the_expectations(indexed: Library) -> None:
    recs = _records(indexed)
    expected = metadata_set.load_expected()
    assert set(recs) == set(expected), "the set and expected.tsv must name the same files"
    result = metadata_set.compare(recs)
    print("\n" + metadata_set.table(result))  # the per-field table (pytest -s shows it)
    assert metadata_set.mismatches(result) == []


def test_warnings_say_what_was_dropped(indexed: Library) -> None:
    def warnings(name: str) -> list[str]:
        f = File.get(File.path == name)
        return [i.reason for i in IndexIssue.select().where((IndexIssue.file == f.id) & (IndexIssue.severity == "warning"))]

    assert any("2099-01-01" in w and "impossible" in w for w in warnings("gen_future_date.jpg"))
    assert any("1820-06-01" in w and "impossible" in w for w in warnings("gen_ancient_date.jpg"))
    assert any("20000" in w and "altitude" in w for w in warnings("gen_altitude_absurd.jpg"))
    assert any("91.0" in w and "not on Earth" in w for w in warnings("gen_takeout_boilerplate.jpg"))
    assert not any("not on Earth" in w for w in warnings("gen_takeout_nogps.jpg"))  # 0,0 is "no position"


def test_unknown_zone_and_guessed_date_are_honest_everywhere(indexed: Library) -> None:
    """Neither offset nor position: the API, export, `show` and the sidecar say "unknown", never +00:00; a
    date taken from the file's mtime is flagged as a guess."""
    nozone = Photo.get_by_id(File.get(File.path == "gen_exif_nozone.jpg").photo_id)
    guessed = Photo.get_by_id(File.get(File.path == "gen_no_date.jpg").photo_id)
    lib = indexed
    lib.config.auth.mode = "public"
    lib.config.server.allowed_hosts = ["photoshelf.test"]
    with TestClient(create_app(lib.config, lib.db), base_url="http://photoshelf.test") as client:
        a = client.get(f"/api/v1/photos/{nozone.id}").json()["photo"]
        b = client.get(f"/api/v1/photos/{guessed.id}").json()["photo"]
    assert (a["timezone"], a["tz_offset_minutes"], a["taken_guessed"]) == (None, None, False)
    assert (b["timezone"], b["tz_offset_minutes"], b["taken_guessed"], b["taken_at_source"]) == (None, None, True,
                                                                                                   "mtime")
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    cli = [sys.executable, "-m", "photoshelf.cli"]
    exported = subprocess.run([*cli, "export"], env=env, capture_output=True, text=True, timeout=300, check=True)
    by_path = {r["path"]: r for r in map(json.loads, exported.stdout.splitlines())}
    assert by_path["gen_no_date.jpg"]["taken_guessed"] is True
    assert by_path["gen_exif_nozone.jpg"]["tz_offset_minutes"] is None
    shown = subprocess.run([*cli, "show", "gen_no_date.jpg"], env=env, capture_output=True, text=True, timeout=300,
                           check=True).stdout
    assert any(line.split()[:2] == ["taken_guessed", "True"] for line in shown.splitlines()), shown
    subprocess.run([*cli, "sidecars"], env=env, capture_output=True, text=True, timeout=300, check=True)
    sidecar = next(lib.storage.rglob("gen_exif_nozone.yml")).read_text(encoding="utf-8")
    assert "TimeZone" not in sidecar and "+00:00" not in sidecar  # left out when empty: unknown (as PhotoPrism)


# -- the rules, on tags as exiftool gives them ------------------------------------------------------------------


def test_vendor_groups_give_date_and_camera() -> None:
    crw = {"File:FileType": "CRW", "MakerNotes:DateTimeOriginal": "2003:11:10 17:39:26", "MakerNotes:Make": "Canon",
           "MakerNotes:Model": "Canon EOS DIGITAL REBEL", "MakerNotes:ImageWidth": 3072,
           "MakerNotes:ImageHeight": 2048}
    md = extract(crw, "CRW_0001.CRW", 0.0)
    assert md.taken is not None and (md.taken.local, md.taken.source) == (dt.datetime(2003, 11, 10, 17, 39, 26),
                                                                           "makernotes")
    assert (md.camera_make, md.camera_model, md.width, md.height) == ("Canon", "Canon EOS DIGITAL REBEL", 3072, 2048)
    # A container's own block (AVCHD's H264 stream) counts too; a Make that is a code under -n is no name.
    mts = extract({"File:FileType": "M2TS", "H264:DateTimeOriginal": "2008:12:31 23:16:24+01:00", "H264:Make": 4113},
                  "00001.MTS", 0.0)
    assert md.taken is not None and mts.taken is not None and (mts.taken.offset, mts.camera_make) == (60, None)
    # EXIF first, then MakerNotes before other vendor groups, DateTimeOriginal before CreateDate.
    tags = {"SigmaRaw:DateTimeOriginal": "b", "Foo:CreateDate": "d", "MakerNotes:DateTimeOriginal": "a",
            "APP6:DateTimeOriginal": "c", "EXIF:DateTimeOriginal": "x"}
    assert [v for _k, v in vendor_values(tags, "DateTimeOriginal", "CreateDate")] == ["a", "b", "c", "d"]


def test_impossible_dates_fall_to_the_next_source() -> None:
    now = dt.datetime(2026, 1, 1)
    assert impossible(dt.datetime(2026, 1, 2, 12), now) and not impossible(dt.datetime(2026, 1, 1, 23), now)
    assert impossible(dt.datetime(1825, 12, 31), now) and not impossible(dt.datetime(1826, 1, 1), now)
    notes: list[str] = []
    taken = capture_time({"EXIF:DateTimeOriginal": "2099:01:01 00:00:00", "XMP:DateCreated": "2099:05:05"},
                         "IMG_20990101_101010.jpg", 1.6e9, None, notes, now=now)
    assert taken.source == "mtime" and len(notes) == 3  # two tags and the file name, each said once


def test_zone_rule_runs_for_every_time_without_an_offset() -> None:
    berlin = {"Composite:GPSLatitude": 52.52, "Composite:GPSLongitude": 13.405}
    for tags, source in (({"QuickTime:CreateDate": "2019:07:04 10:00:00"}, "quicktime"),
                         ({"Composite:GPSDateTime": "2019:07:04 10:00:00Z"}, "gps"),
                         ({"XMP:DateCreated": "2019:07:04 12:00:00"}, "xmp"),
                         ({"EXIF:DateTimeOriginal": "2019:07:04 12:00:00"}, "exif")):
        md = extract({"File:FileType": "JPEG", **tags, **berlin}, "x.jpg", 0.0)
        assert md.taken is not None
        assert (md.taken.local, md.taken.offset, md.taken.zone, md.taken.source) == (
            dt.datetime(2019, 7, 4, 12), 120, "Europe/Berlin", source), tags
    # Takeout: its time is UTC, its position Berlin.
    md = extract({"File:FileType": "JPEG"}, "x.jpg", 0.0, {"taken_at": dt.datetime(2019, 7, 4, 10), "lat": 52.52,
                                                           "lon": 13.405})
    assert md.taken is not None and (md.taken.local, md.taken.offset) == (dt.datetime(2019, 7, 4, 12), 120)
    # No position: unknown, never +00:00; the file name's wall time still gives a UTC instant its offset.
    md = extract({"File:FileType": "MP4", "QuickTime:CreateDate": "2017:02:22 07:20:28"}, "x.mp4", 0.0)
    assert md.taken is not None and (md.taken.offset, md.taken.zone) == (None, None)
    md = extract({"File:FileType": "MP4", "QuickTime:CreateDate": "2017:02:22 07:20:28"}, "VID_20170222_082028.mp4",
                 0.0)
    assert md.taken is not None and (md.taken.local, md.taken.offset) == (dt.datetime(2017, 2, 22, 8, 20, 28), 60)


@pytest.mark.parametrize("text", [
    "SAMSUNG", "OLYMPUS DIGITAL CAMERA", "olympus  digital camera", "DCIM\\100GOPRO", "DCIM\\100GOPRO\\GOPR0482.JPG",
    "hdrpl", "SONY DSC", "MINOLTA DIGITAL CAMERA", "Default", "<KENOX S630  / Samsung S630>", "LEICA",
    "Exif_JPEG_PICTURE", "Picasa", "Photo", "Image", "(Binary data 23 bytes)", "---",
])
def test_boilerplate(text: str) -> None:
    assert is_boilerplate(text)


@pytest.mark.parametrize("text", ["Sunset at the pier", "DCIM folder on my desk", "Mon", "Samsung Galaxy launch",
                                  "Photo of grandma", "hdrpl at night"])
def test_not_boilerplate(text: str) -> None:
    assert not is_boilerplate(text)


def test_make_and_model_as_caption_are_boilerplate() -> None:
    assert is_boilerplate("NIKON D70", "NIKON", "D70") and is_boilerplate("Canon PowerShot A5", "Canon",
                                                                          "Canon PowerShot A5")
    md = extract({"File:FileType": "JPEG", "EXIF:Make": "HUAWEI", "EXIF:Model": "P30",
                  "EXIF:ImageDescription": "hdrpl"}, "x.jpg", 0.0, {"description": "SAMSUNG", "title": "IMG_1.jpg"})
    assert (md.description, md.title) == (None, "IMG_1.jpg")


@pytest.mark.parametrize(("tags", "want", "warned"), [
    ({"Composite:GPSAltitude": 4294967284}, -12.0, False),
    ({"EXIF:GPSAltitude": 123.4}, 123.4, False),  # no GPSAltitudeRef: no Composite tag
    ({"Composite:GPSAltitude": float("nan")}, None, True),
    ({"Composite:GPSAltitude": "Infinity"}, None, True),
    ({"Composite:GPSAltitude": 10_001}, None, True),
    ({"Composite:GPSAltitude": -501}, None, True),
    ({"Composite:GPSAltitude": -430}, -430.0, False),
])
def test_altitude(tags: dict[str, Any], want: float | None, warned: bool) -> None:
    md = extract({"File:FileType": "JPEG", "Composite:GPSLatitude": 31.5, "Composite:GPSLongitude": 35.5, **tags},
                 "x.jpg", 0.0)
    assert md.altitude == want
    assert any("altitude" in w for w in md.warnings) == warned


def test_positions_from_every_source_are_range_checked() -> None:
    md = extract({"File:FileType": "JPEG", "Composite:GPSLatitude": 95, "Composite:GPSLongitude": 10,
                  "XMP:GPSLatitude": 48.8584, "XMP:GPSLongitude": 2.2945}, "x.jpg", 0.0)
    assert (md.lat, md.lon) == (48.8584, 2.2945) and any("not on Earth" in w for w in md.warnings)
    md = extract({"File:FileType": "JPEG", "XMP:GPSLatitude": 0, "XMP:GPSLongitude": 0}, "x.jpg", 0.0)
    assert md.lat is None and md.warnings == []


def test_headline_is_the_last_title_before_takeout() -> None:
    base = {"File:FileType": "JPEG", "IPTC:Headline": "Headline"}
    assert extract(base, "x.jpg", 0.0).title == "Headline"
    assert extract({**base, "IPTC:ObjectName": "Object"}, "x.jpg", 0.0).title == "Object"


def test_guessed_predicate() -> None:
    assert date_guessed("mtime") and date_guessed("") and date_guessed(None)
    assert not any(date_guessed(s) for s in ("exif", "makernotes", "iptc", "xmp", "quicktime", "takeout", "gps",
                                             "name", "manual"))

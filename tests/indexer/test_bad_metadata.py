"""Metadata no camera should write (issue #12): a Google Takeout JSON with NaN/Infinity coordinates, altitudes
out of this world or wrapped at 32 bits, megabyte titles, and fuzzed EXIF/XMP/Takeout values. The index records
the file cleanly on both backends and every later command and the viewer's API still answer valid JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from photoshelf import values
from photoshelf.db.schema import File, Photo
from photoshelf.media.metadata import (
    Metadata,
    capture_time,
    extract,
    parse_date,
    parse_offset,
    read_takeout,
)
from photoshelf.viewer.app import create_app

from conftest import SMALL_CORPUS, Library, make_library
from fuzz import AWKWARD_CHARS, FUZZ, junk_number, junk_text, strict_json
from support import unique_jpeg

DOG = SMALL_CORPUS / "2019/Pets/dog_orange.jpg"  # no GPS in the file
CAT = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"  # GPS 48.5387, 9.0122, 450.57 m in EXIF

# name: (the Takeout JSON's text, what the catalog must hold: lat, lon, altitude)
TAKEOUTS: dict[str, tuple[str, tuple[float | None, float | None, float | None]]] = {
    "strings.jpg": ('{"geoData": {"latitude": "NaN", "longitude": "Infinity", "altitude": "-Infinity"}}',
                    (None, None, None)),
    "tokens.jpg": ('{"geoData": {"latitude": NaN, "longitude": Infinity, "altitude": -Infinity},'
                   ' "photoTakenTime": {"timestamp": 1e20}}', (None, None, None)),
    "out_of_range.jpg": ('{"geoData": {"latitude": 91.5, "longitude": 181, "altitude": 1e308}}', (None, None, None)),
    "huge.jpg": ('{"geoDataExif": {"latitude": 1e308, "longitude": 1e308}, "geoData": {"latitude": 48.1,'
                 ' "longitude": 11.5, "altitude": 4294967284}, "title": "' + "t" * 1_000_000 + '", "description": "'
                 + "d\\u0000" * 500_000 + '"}', (48.1, 11.5, -12.0)),
    "wrong_types.jpg": ('{"geoData": [1, 2], "photoTakenTime": "yesterday", "title": {"a": 1}}', (None, None, None)),
}


def _originals(tmp_path: Path) -> Path:
    """Photos with bad Takeout JSON beside them, and the cat (EXIF GPS) with a bad one too."""
    source = tmp_path / "source" / "Takeout"
    source.mkdir(parents=True)
    for name, (text, _) in TAKEOUTS.items():
        (source / name).write_bytes(unique_jpeg(DOG.read_bytes(), name))
        (source / f"{name}.json").write_text(text, encoding="utf-8")
    shutil.copy(CAT, source / "cat.jpg")
    (source / "cat.jpg.json").write_text(TAKEOUTS["strings.jpg"][0], encoding="utf-8")
    return source.parent


def _run(lib: Library, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"photoshelf {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def test_bad_takeout_json_is_indexed_cleanly(tmp_path: Path, database_url: str) -> None:
    lib = make_library(tmp_path, database_url, _originals(tmp_path))
    try:
        report = strict_json(_run(lib, "index", "--no-ml", "--json").stdout)
        assert report["errors"] == 0
        for name, (_, expected) in TAKEOUTS.items():
            photo = Photo.get_by_id(File.get(File.path == f"Takeout/{name}").photo_id)
            assert (photo.lat, photo.lon, photo.altitude) == expected, name
            assert photo.taken_at is not None and photo.taken_at.year == 2019  # the EXIF date; 1e20 is no time
        huge = Photo.get_by_id(File.get(File.path == "Takeout/huge.jpg").photo_id)
        assert huge.title == "t" * values.TITLE and huge.description == "d" * values.DESCRIPTION
        cat = Photo.get_by_id(File.get(File.path == "Takeout/cat.jpg").photo_id)
        assert cat.lat == pytest.approx(48.5387, abs=1e-4) and cat.altitude == pytest.approx(450.57, abs=0.01)

        _run(lib, "sidecars")
        for name in (*TAKEOUTS, "cat.jpg"):
            record = strict_json(_run(lib, "show", "--json", f"Takeout/{name}").stdout)
            assert all(v is None or math.isfinite(v) for v in (record["lat"], record["lon"], record["altitude"]))
        lines = _run(lib, "export").stdout.splitlines()
        assert len(lines) == len(TAKEOUTS) + 1 and all(strict_json(line) for line in lines)
        lib.config.auth.mode = "public"  # reading is all this needs
        lib.config.server.allowed_hosts = ["photoshelf.test"]
        with TestClient(create_app(lib.config, lib.db), base_url="http://photoshelf.test") as client:
            for url in ("/api/v1/search?q=", "/api/v1/search?q=ttt", "/api/v1/duplicates",
                        f"/api/v1/photos/{huge.id}"):
                response = client.get(url)
                assert response.status_code == 200, (url, response.text[:300])
                strict_json(response.text)
    finally:
        lib.db.close()


# -- fuzzing: whatever the tags hold, extract() gives storable values ---------------------------------------------

NUMERIC_TAGS = ["Composite:GPSLatitude", "Composite:GPSLongitude", "Composite:GPSAltitude", "EXIF:Orientation",
                "XMP:Orientation", "Composite:Rotation", "EXIF:ISO", "EXIF:ExposureTime", "EXIF:FNumber",
                "EXIF:FocalLength", "QuickTime:Duration", "XMP:Rating", "EXIF:Rating", "File:ImageWidth",
                "File:ImageHeight"]
TEXT_TAGS = ["EXIF:Make", "EXIF:Model", "EXIF:LensModel", "XMP:Title", "XMP:Description", "IPTC:Keywords",
             "XMP:Subject", "QuickTime:CompressorID", "MakerNotes:ContentIdentifier", "File:FileType",
             "File:MIMEType", "EXIF:OffsetTimeOriginal"]
DATE_TAGS = ["EXIF:DateTimeOriginal", "XMP:DateCreated", "QuickTime:CreateDate", "Composite:GPSDateTime"]
exif_date = st.from_regex(r"\A\d{4}[:-]\d{2}[:-]\d{2}( \d{2}:\d{2}(:\d{2})?(\.\d{1,9})?)?\s?(Z|[+-]\d{2}:?\d{2})?\Z")
offset = st.from_regex(r"\A(Z|[+-]\d{2}:?\d{2})\Z")
date_value = st.one_of(exif_date, offset, junk_text, junk_number, st.just("0000:00:00 00:00:00"))
tags_strategy = st.fixed_dictionaries({}, optional={
    **{t: junk_number for t in NUMERIC_TAGS}, **{t: junk_text for t in TEXT_TAGS}, **{t: date_value for t in DATE_TAGS},
})
takeout_strategy = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "taken_at": st.datetimes(min_value=dt.datetime(1800, 1, 1), max_value=dt.datetime(2199, 12, 31)),
    "lat": junk_number, "lon": junk_number, "altitude": junk_number, "title": junk_text, "description": junk_text,
}))
file_name = st.one_of(st.text(alphabet=AWKWARD_CHARS, max_size=40),
                      st.from_regex(r"\A(IMG|VID|PXL)_\d{8}_\d{6}\.jpg\Z"))


def check_metadata(md: Metadata) -> None:
    """What the catalog may store: finite numbers in their ranges, text that fits its column, a sane time."""
    for name, (low, high) in (("lat", values.LATITUDE), ("lon", values.LONGITUDE), ("altitude", values.ALTITUDE),
                              ("iso", values.ISO), ("width", values.PIXELS), ("height", values.PIXELS),
                              ("fnumber", values.FNUMBER), ("focal_length", values.FOCAL_LENGTH),
                              ("duration", values.DURATION), ("rating", values.RATING)):
        value = getattr(md, name)
        assert value is None or (math.isfinite(value) and low <= value <= high), (name, value)
    assert (md.lat is None) == (md.lon is None) and 1 <= md.orientation <= 8
    for name, cap in (("title", values.TITLE), ("description", values.DESCRIPTION), ("camera_make", 64),
                      ("camera_model", 128), ("lens", 128), ("exposure", 24), ("codec", 32), ("content_id", 64),
                      ("filetype", 16), ("mime", 64)):
        text = getattr(md, name)
        assert text is None or (len(text) <= cap and "\x00" not in text), name
        (text or "").encode("utf-8")
    assert len(", ".join(md.keywords)) <= values.KEYWORDS
    if md.taken is not None:
        assert values.YEARS[0] - 1 <= md.taken.local.year <= values.YEARS[1] + 1  # a UTC time moved by its offset
        assert md.taken.offset is None or abs(md.taken.offset) <= 14 * 60
    json.dumps(asdict(md), allow_nan=False, default=str)


@FUZZ
@given(tags_strategy, file_name, junk_number.filter(lambda v: isinstance(v, float | int) and not isinstance(v, bool)),
       takeout_strategy)
def test_fuzz_extract(tags: dict[str, Any], name: str, mtime: float, takeout: dict[str, Any] | None) -> None:
    check_metadata(extract({"File:FileType": "JPEG", **tags}, name, mtime, takeout))


@FUZZ
@given(date_value, st.one_of(offset, junk_text))
def test_fuzz_dates(raw: Any, raw_offset: Any) -> None:
    parsed = parse_date(raw)
    if parsed is not None:
        assert values.YEARS[0] <= parsed[0].year <= values.YEARS[1]
        assert parsed[1] is None or abs(parsed[1]) <= 14 * 60
    minutes = parse_offset(raw_offset)
    assert minutes is None or abs(minutes) <= 14 * 60
    taken = capture_time({"EXIF:DateTimeOriginal": raw, "EXIF:OffsetTimeOriginal": raw_offset,
                          "Composite:GPSDateTime": raw}, "IMG_20190704_123456.jpg", 0.0, None)
    assert values.YEARS[0] - 1 <= taken.local.year <= values.YEARS[1] + 1


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=20)),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)
geo = st.one_of(json_value, st.fixed_dictionaries({}, optional={"latitude": junk_number, "longitude": junk_number,
                                                                 "altitude": junk_number}))
takeout_json = st.fixed_dictionaries({"geoData": geo}, optional={
    "geoDataExif": geo, "photoTakenTime": st.one_of(json_value, st.fixed_dictionaries({"timestamp": junk_number})),
    "title": junk_text, "description": junk_text,
})


@FUZZ
@given(takeout_json)
def test_fuzz_takeout(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "IMG_1.jpg"
        text = json.dumps(data, default=lambda v: repr(v)[:20])  # bytes and the like as text; NaN as the token
        (Path(folder) / "IMG_1.jpg.json").write_text(text, encoding="utf-8")
        out = read_takeout(photo)
    assert out is not None
    md = extract({"File:FileType": "JPEG"}, photo.name, 0.0, out)
    check_metadata(md)
    assert md.taken is not None

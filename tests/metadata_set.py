"""The metadata test set (importable as `metadata_set`): real files with known values plus edge cases made here.

`build(target)` fills a folder with the real files of tests/data/metadata/ and the generated cases below (a small
JPEG that exiftool writes tags into, Takeout JSON and XMP sidecars beside some); `compare()` holds every indexed
photo against tests/data/metadata/expected.tsv field by field, and `table()` prints how many match per field
(tests/indexer/test_metadata_fidelity.py asserts them all; bench/metadata_table.py prints the table).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import unique_jpeg

DATA = Path(__file__).resolve().parent / "data" / "metadata"
EXPECTED = DATA / "expected.tsv"
MTIME = 1614834367  # 2021-03-04T05:06:07Z: every file's mtime, so a date guessed from it is known
FIELDS = ("taken_at", "taken_at_local", "tz_offset", "timezone", "source", "guessed", "lat", "lon", "altitude",
          "orientation", "size", "make", "model", "lens", "title", "description", "keywords", "duration")

BERLIN = ["-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.405", "-GPSLongitudeRef=E"]
TOKYO = ["-GPSLatitude=35.68", "-GPSLatitudeRef=N", "-GPSLongitude=139.76", "-GPSLongitudeRef=E"]
NEW_YORK = ["-GPSLatitude=40.7128", "-GPSLatitudeRef=N", "-GPSLongitude=74.006", "-GPSLongitudeRef=W"]


@dataclass
class Case:
    """A file made for the set: exiftool `tags` written into a copy of `base`, and sidecars beside it."""

    name: str
    tags: list[str] = field(default_factory=list)
    takeout: dict[str, Any] | None = None
    xmp: list[str] | None = None  # tags of an XMP sidecar (<stem>.xmp)
    base: str = "jpeg"  # "jpeg": a 64x48 JPEG without metadata; else a file of tests/data/metadata


CASES = [
    Case("gen_takeout_berlin.jpg", takeout={"photoTakenTime": {"timestamp": "1562234400"},
                                            "geoData": {"latitude": 52.52, "longitude": 13.405, "altitude": 34.0}}),
    Case("gen_takeout_nogps.jpg", takeout={"photoTakenTime": {"timestamp": "1562234400"},
                                           "geoData": {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0}}),
    Case("gen_takeout_boilerplate.jpg", takeout={
        "photoTakenTime": {"timestamp": "1262304000"}, "title": "DCIM\\100GOPRO", "description": "SAMSUNG",
        "geoData": {"latitude": 91.0, "longitude": 10.0, "altitude": 0.0}}),
    Case("gen_exif_tokyo.jpg", ["-DateTimeOriginal=2020:01:15 08:00:00", "-Orientation#=6", *TOKYO]),
    Case("gen_exif_nozone.jpg", ["-DateTimeOriginal=2020:01:15 08:00:00"]),
    Case("gen_exif_offset_wins.jpg", ["-DateTimeOriginal=2020:01:15 08:00:00", "-OffsetTimeOriginal=-03:00",
                                      *BERLIN]),
    Case("gen_gps_time_only.jpg", ["-GPSDateStamp=2018:02:03", "-GPSTimeStamp=15:30:00", *NEW_YORK]),
    Case("gen_future_date.jpg", ["-DateTimeOriginal=2099:01:01 00:00:00", "-CreateDate=2015:05:05 10:00:00"]),
    Case("gen_ancient_date.jpg", ["-DateTimeOriginal=1820:06:01 12:00:00",
                                  "-XMP:DateTimeOriginal=2012:03:04 05:06:07+01:00"]),
    Case("gen_no_date.jpg"),
    Case("gen_no_date_gps.jpg", BERLIN),
    Case("gen_IMG_20190704_123456.jpg"),
    Case("gen_altitude_wrap.jpg", [*BERLIN, "-GPSAltitude#=4294967284", "-GPSAltitudeRef#=0"]),
    Case("gen_altitude_noref.jpg", [*BERLIN, "-GPSAltitude=123.4"]),
    Case("gen_altitude_absurd.jpg", [*BERLIN, "-GPSAltitude=20000", "-GPSAltitudeRef#=0"]),
    Case("gen_boilerplate.jpg", ["-XMP:Description=<KENOX S630  / Samsung S630>", "-IPTC:Caption-Abstract=hdrpl",
                                 "-EXIF:ImageDescription=A dog on the beach", "-XMP:Title=SONY DSC",
                                 "-IPTC:ObjectName=Default", "-Make=SAMSUNG", "-Model=SM-G991B"]),
    Case("gen_headline.jpg", ["-IPTC:Headline=Sunset at the pier", "-IPTC:Keywords=sunset", "-IPTC:Keywords=pier",
                              "-DateTimeOriginal=2017:08:09 19:45:00", "-OffsetTimeOriginal=+02:00"]),
    Case("gen_sidecar_gps.jpg", ["-DateTimeOriginal=2016:05:06 07:08:09"],
         xmp=["-XMP:GPSLatitude=48.8584", "-XMP:GPSLongitude=2.2945", "-XMP:GPSAltitude=35",
              "-XMP:GPSAltitudeRef=0", "-XMP:Title=Eiffel tower"]),
    Case("gen_quicktime_berlin.mov", ["-Keys:GPSCoordinates=52.52, 13.405, 34"], base="QuickTime.mov"),
]


def real_files() -> list[Path]:
    return sorted(p for p in DATA.iterdir() if p.is_file() and p.suffix.lower() not in (".tsv", ".md"))


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(out, "JPEG", quality=80)
    return out.getvalue()


def _exiftool(path: Path, args: list[str]) -> None:
    proc = subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"exiftool {args} {path}: {proc.stderr}"


def build(target: Path) -> Path:
    """The set in `target` (made): real files and generated cases, every file's mtime MTIME. Returns target."""
    target.mkdir(parents=True, exist_ok=True)
    for src in real_files():
        shutil.copyfile(src, target / src.name)
    base = _jpeg()
    for case in CASES:
        path = target / case.name
        if case.base == "jpeg":
            path.write_bytes(unique_jpeg(base, case.name))  # distinct bytes: no two cases are one photo
        else:
            shutil.copyfile(DATA / case.base, path)
        if case.tags:
            _exiftool(path, case.tags)
        if case.takeout is not None:
            (target / f"{case.name}.json").write_text(json.dumps(case.takeout), encoding="utf-8")
        if case.xmp is not None:
            sidecar = target / f"{path.stem}.xmp"
            proc = subprocess.run(["exiftool", "-q", "-q", "-o", str(sidecar), *case.xmp, str(path)],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0 and sidecar.exists(), proc.stderr
    for p in target.iterdir():
        os.utime(p, (MTIME, MTIME))
    return target


def load_expected() -> dict[str, dict[str, str]]:
    with open(EXPECTED, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if not r["file"].startswith("#")]
    return {r["file"]: r for r in rows}


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def actual(rec: dict[str, Any]) -> dict[str, str]:
    """A record's fields as the expectations file writes them ("-" for none, times to the second)."""
    return {
        "taken_at": _show((rec["taken_at"] or "")[:19] + ("Z" if rec["taken_at"] else "")),
        "taken_at_local": _show((rec["taken_at_local"] or "")[:19]),
        "tz_offset": _show(rec["tz_offset_minutes"]),
        "timezone": _show(rec["timezone"]),
        "source": _show(rec["taken_at_source"]),
        "guessed": _show(rec["taken_guessed"]),
        "lat": _show(None if rec["lat"] is None else round(rec["lat"], 4)),
        "lon": _show(None if rec["lon"] is None else round(rec["lon"], 4)),
        "altitude": _show(None if rec["altitude"] is None else round(rec["altitude"], 1)),
        "orientation": _show(rec["orientation"]),
        "size": f"{rec['width']}x{rec['height']}" if rec["width"] else "-",
        "make": _show(rec["camera_make"]),
        "model": _show(rec["camera_model"]),
        "lens": _show(rec["lens"]),
        "title": _show(rec["title"]),
        "description": _show(rec["description"]),
        "keywords": _show(sorted(rec["keywords"])),
        "duration": _show(None if rec["duration"] is None else round(rec["duration"], 2)),
    }


def known_differences(row: dict[str, str]) -> dict[str, str]:
    """The row's documented known differences: field -> the value photoshelf gives instead (docs/metadata.md)."""
    out = {}
    for item in filter(None, (row.get("known") or "").split(";")):
        name, _, value = item.strip().partition("=")
        assert name in FIELDS, f"{row['file']}: unknown field {name!r} in the known column"
        out[name] = value
    return out


@dataclass(frozen=True)
class Outcome:
    expected: str  # the file's true value (from exiftool or the case's construction)
    got: str  # what photoshelf stored
    known: str | None  # the documented value photoshelf gives instead, if this is a known difference

    @property
    def status(self) -> str:
        if self.got == self.expected:
            return "match"
        return "known" if self.known is not None and self.got == self.known else "MISMATCH"


def compare(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Outcome]]:
    """For each expected file and field, its Outcome; a file that was not indexed gets 'NOT INDEXED'."""
    out: dict[str, dict[str, Outcome]] = {}
    for name, row in load_expected().items():
        got = actual(records[name]) if name in records else dict.fromkeys(FIELDS, "NOT INDEXED")
        known = known_differences(row)
        out[name] = {f: Outcome(row[f], got[f], known.get(f)) for f in FIELDS}
    return out


def mismatches(result: dict[str, dict[str, Outcome]]) -> list[str]:
    return [f"{name} {f}: expected {o.expected!r}" + (f" (or the known {o.known!r})" if o.known is not None else "")
            + f", got {o.got!r}" for name, fields in result.items() for f, o in fields.items()
            if o.status == "MISMATCH"]


def table(result: dict[str, dict[str, Outcome]]) -> str:
    """Per field: how many files match their expected value, how many differ as documented, how many do not."""
    lines = [f"{'field':15} {'match':>6} {'known':>6} {'wrong':>6}  known differences / mismatches",
             f"{'-' * 15} {'-' * 6} {'-' * 6} {'-' * 6}  {'-' * 30}"]
    totals = {"match": 0, "known": 0, "MISMATCH": 0}
    for f in FIELDS:
        counts = {"match": 0, "known": 0, "MISMATCH": 0}
        odd = []
        for name, fields in result.items():
            status = fields[f].status
            counts[status] += 1
            if status != "match":
                odd.append(name + ("" if status == "known" else " (WRONG)"))
        for k in totals:
            totals[k] += counts[k]
        lines.append(f"{f:15} {counts['match']:>6} {counts['known']:>6} {counts['MISMATCH']:>6}  {', '.join(odd)}")
    lines.append(f"{'all (' + str(len(result)) + ' files)':15} {totals['match']:>6} {totals['known']:>6} "
                 f"{totals['MISMATCH']:>6}")
    return "\n".join(lines)

"""photoshelf.values, the one gate for numbers and text from files: fixed cases from real files and bug reports,
and hypothesis fuzzing (whatever goes in, no exception comes out, and what comes out is finite, in range and fits
its column)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from photoshelf import values

from fuzz import FUZZ, junk_number, junk_text


def _finite_in(value: float | None, low: float, high: float) -> bool:
    return value is None or (math.isfinite(value) and low <= value <= high)


def _storable(text: str | None, cap: int) -> bool:
    """Fits the column, and every database driver can encode it (no lone surrogate, no NUL)."""
    if text is None:
        return True
    text.encode("utf-8")  # raises on a lone surrogate
    return 0 < len(text) <= cap and "\x00" not in text and text == text.strip()


def test_the_takeout_report() -> None:
    """Issue #12: Takeout's "NaN"/"Infinity"/"-Infinity" and 91.5/181/1e308 are no position."""
    assert values.position("NaN", "Infinity") is None
    assert values.altitude("-Infinity") is None and values.altitude(1e308) is None
    assert values.position(91.5, 10) is None and values.position(10, 181) is None
    assert values.position(0, 0) is None  # "no position", as cameras and Takeout write it
    assert values.position("48.5", 9) == (48.5, 9.0) and values.position(-90, 180) == (-90.0, 180.0)


def test_altitude_wrap_is_undone() -> None:
    """exiftool reads a signed -12 m written into EXIF's unsigned rational as 4294967284 (over 1, 10, ... 1000)."""
    assert values.altitude(4294967284) == -12.0
    assert values.altitude("4294967284") == -12.0
    assert values.altitude(429496717.6) == -12.0  # -120 / 10
    assert values.altitude(-4294967284) == -12.0  # "below sea level" ref and a wrap: still below
    assert values.altitude(8848.86) == 8848.86 and values.altitude(-430.5) == -430.5
    assert values.altitude(100_001) is None and values.altitude(3e9) is None


def test_fields_and_defaults() -> None:
    assert values.orientation("Infinity") == 1 and values.orientation(0) == 1 and values.orientation(6) == 6
    assert values.rating(5.9) == 5 and values.rating(6) is None and values.rating(-1) == -1
    assert values.iso(0) is None and values.iso(1e300) is None and values.iso("200") == 200
    assert values.pixels(2**31) is None and values.duration(0) is None and values.duration("12.5") == 12.5
    assert values.rotation(-90) == -90 and values.rotation(45) == 0 and values.rotation(float("nan")) == 0
    assert values.fraction(float("inf")) == 0.0 and values.fraction(0.5) == 0.5
    assert values.number(True) is None and values.number(10**400) is None and values.number(b"2.5") == 2.5


def test_dates() -> None:
    assert values.from_timestamp("1423073935") == dt.datetime(2015, 2, 4, 18, 18, 55)
    assert values.from_timestamp(10**20) is None and values.from_timestamp("Infinity") is None
    assert values.from_timestamp(-(10**11)) is None  # year -1200
    aware = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert values.moment(aware) is None  # astimezone() would overflow
    assert values.moment(dt.datetime(9999, 1, 1)) is None and values.moment(dt.datetime(1799, 12, 31)) is None
    assert values.moment(dt.datetime(2019, 5, 1, 12)) == dt.datetime(2019, 5, 1, 12)


def test_text() -> None:
    assert values.text("Canon\x00 EOS\ud800  5D\n", 64) == "Canon EOS 5D"
    assert values.text("line one\r\nline\ttwo\x07", 100, one_line=False) == "line one\nline\ttwo"
    assert values.text("x" * 1_000_000, values.TITLE) == "x" * values.TITLE
    assert values.text(["a", "", "b"], 10) == "a, b" and values.text("  ", 10) is None
    assert values.text(10**5000, 10) is None  # str() of such an int raises; nothing to keep
    assert values.keywords(["cat, sofa", "cat", "\x00", None]) == ["cat", "sofa"]
    many = values.keywords(f"keyword number {i}" for i in range(10_000))
    assert len(", ".join(many)) <= values.KEYWORDS
    assert values.identifier("pq2x7abc", 24) == "pq2x7abc" and values.identifier("x" * 25, 24) is None
    assert values.identifier("a b", 24) is None and values.identifier(True, 24) is None


@FUZZ
@given(junk_number, junk_number, junk_number)
def test_fuzz_numbers(a: Any, b: Any, c: Any) -> None:
    place = values.position(a, b)
    assert place is None or (_finite_in(place[0], *values.LATITUDE) and _finite_in(place[1], *values.LONGITUDE)
                             and place != (0.0, 0.0))
    assert _finite_in(values.altitude(c), *values.ALTITUDE)
    assert 1 <= values.orientation(a) <= 8
    assert values.rotation(a) in (-360, -270, -180, -90, 0, 90, 180, 270, 360)
    for fn, (low, high) in ((values.rating, values.RATING), (values.iso, values.ISO), (values.pixels, values.PIXELS),
                            (values.duration, values.DURATION), (values.fnumber, values.FNUMBER),
                            (values.focal_length, values.FOCAL_LENGTH), (values.exposure_time, values.EXPOSURE_TIME)):
        assert _finite_in(fn(a), low, high)
    assert 0.0 <= values.fraction(b) <= 1.0
    when = values.from_timestamp(c)
    assert when is None or values.YEARS[0] <= when.year <= values.YEARS[1]
    json.dumps([place, values.altitude(c), values.number(a)], allow_nan=False)


@FUZZ
@given(junk_text, st.integers(min_value=1, max_value=500), st.booleans())
def test_fuzz_text(value: Any, cap: int, one_line: bool) -> None:
    out = values.text(value, cap, one_line=one_line)
    assert _storable(out, cap)
    if one_line and out is not None:
        assert "\n" not in out and "\t" not in out and "  " not in out
    kws = values.keywords(value if isinstance(value, list) else [value])
    assert all(_storable(k, values.KEYWORD) and "," not in k for k in kws) and len(set(kws)) == len(kws)
    assert _storable(", ".join(kws) or None, values.KEYWORDS)
    ident = values.identifier(value, 24)
    assert ident is None or (ident.isascii() and len(ident) <= 24)

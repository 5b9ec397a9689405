"""photoshelf.ids: the one reader of ids and whole numbers people send."""

from __future__ import annotations

import pytest

from photoshelf.ids import INT64_MAX, parse_id, parse_int


@pytest.mark.parametrize("text", ["1", "42", str(INT64_MAX), 7])
def test_ids_in_range_are_read(text: object) -> None:
    assert parse_id(text) == int(str(text))


@pytest.mark.parametrize("text", [
    "0", "-1", str(2**63), str(2**64), "9" * 400, "²", "٣", "１", "1e9999", "+1", " 1", "1 ", "1_0", "0x1", "",
    "\ud800", None, 1.0, True, 0, -5, 2**63, [1],
])
def test_anything_else_is_not_an_id(text: object) -> None:
    assert parse_id(text) is None


def test_ranges_and_signs() -> None:
    assert parse_int("-5", -10, 10) == -5
    assert parse_int("-5") is None  # no sign unless the range is negative
    assert parse_int("11", 0, 10) is None
    assert parse_int("0") == 0
    assert parse_id("70000", high=2**16) is None

"""photoshelf/db/dates.py: how a catalog instant is written out as text."""

from __future__ import annotations

import datetime as dt

from photoshelf.db.dates import utc_text


def test_utc_text_is_to_the_second_with_a_z() -> None:
    assert utc_text(dt.datetime(2024, 5, 6, 7, 8, 9, 999999)) == "2024-05-06T07:08:09Z"
    assert utc_text(dt.datetime(2024, 5, 6)) == "2024-05-06T00:00:00Z"
    assert utc_text(None) is None

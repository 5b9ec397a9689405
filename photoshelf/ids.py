"""One reader for the ids and whole numbers people send (URL paths, query strings, JSON bodies, page cursors,
search filters): ASCII digits only, within what the catalog's columns hold.

`str.isdigit()` is not that test: it is true for '²' (which int() refuses) and for Arabic-Indic digits ('٣',
which int() reads as 3), and int() also takes '+3', ' 3' and '3_000'. A number past the signed 64-bit range
of the id columns made both databases' drivers raise OverflowError (a 500) instead of "no such photo".
"""

from __future__ import annotations

import re
from typing import Any

INT64_MAX = 2**63 - 1  # the id columns (BIGINT / SQLite INTEGER), and the offsets of page cursors
INT32_MAX = 2**31 - 1  # an INTEGER column on MariaDB
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only; 19 digits hold INT64_MAX, so int() never sees a huge string


def parse_int(text: Any, low: int = 0, high: int = INT64_MAX) -> int | None:
    """The whole number `text` writes, when it is one from `low` to `high`; else None (never raises).

    `text` is a str of ASCII digits with an optional leading '-' (when `low` is negative), or a JSON int (not a
    bool). Anything else (spaces, '+', '_', other scripts' digits, '1e3', a float) is None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    elif isinstance(text, str):
        digits = text[1:] if text.startswith("-") and low < 0 else text
        if not _DIGITS.fullmatch(digits):
            return None
        value = int(text)
    else:
        return None
    return value if low <= value <= high else None


def parse_id(text: Any, high: int = INT64_MAX) -> int | None:
    """A row id (1 to `high`) written in `text`, else None: see parse_int."""
    return parse_int(text, 1, high)

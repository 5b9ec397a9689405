"""Hypothesis strategies for values read from files (importable as `fuzz`), and a JSON parser that refuses NaN."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

# Bounded, so the suite stays fast: 200 examples per test, no per-example deadline (a slow CI machine is no bug).
FUZZ = settings(max_examples=200, deadline=None)

# What a file can hold where a number belongs: numbers of every size, the spellings of NaN and infinity, numeric
# and non-numeric text, the 32-bit altitude wrap, and values of the wrong type altogether.
ODD_STRINGS = ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e308", "-1e400", "4294967284", "429496717.6",
               "-4294967284", " 12.5 ", "0x10", "1/250", "", " ", "\x00", "91.5", "181", "-0", "1_000"]
junk_number: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(ODD_STRINGS), st.text(max_size=12),
    st.binary(max_size=8), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.none(), max_size=1),
)
# Any character, lone surrogates (json.loads('"\\ud800"') makes one), and control characters.
AWKWARD_CHARS = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                          st.sampled_from("\x00\x07\x1b\x7f\x85\u2028\t\n\r "))
junk_text: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.text(), st.text(alphabet=AWKWARD_CHARS, max_size=50),
    st.lists(st.text(max_size=20), max_size=5), st.integers(), st.floats(), st.binary(max_size=20),
    st.text(min_size=300, max_size=5000),
)


def _no_constants(name: str) -> Any:
    raise AssertionError(f"not JSON: {name}")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity (Python's json module accepts them; JSON does not)."""
    return json.loads(text, parse_constant=_no_constants)

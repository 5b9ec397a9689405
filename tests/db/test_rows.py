"""photoshelf/db/rows.py: chunks of ids, and rows read in chunks from a real catalog on both backends."""

from __future__ import annotations

import pytest

from photoshelf.db.rows import IN_CHUNK, chunks, dicts, tuples, tuples_in
from photoshelf.db.schema import Setting

from conftest import Library


def test_chunks_keep_order_and_size() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 3)) == []
    assert list(chunks(range(4), 4)) == [[0, 1, 2, 3]]
    assert list(chunks((x for x in "abc"), 2)) == [["a", "b"], ["c"]]  # any iterable, read once
    assert [len(c) for c in chunks(list(range(1201)))] == [IN_CHUNK, IN_CHUNK, 1201 - 2 * IN_CHUNK]


def test_chunks_refuse_an_empty_size() -> None:
    with pytest.raises(ValueError):
        list(chunks([1], 0))


def test_rows_in_chunks(empty_library: Library) -> None:
    # More keys than SQLite's old 999-variable limit: each chunk is one statement of its own.
    keys = [f"test.rows.{i:04d}" for i in range(1203)]
    Setting.insert_many([{"key": k, "value": str(i)} for i, k in enumerate(keys)]).execute()
    query = Setting.select(Setting.key, Setting.value)
    found = dict(tuples_in(query, Setting.key, keys + ["test.rows.absent"]))
    assert found == {k: str(i) for i, k in enumerate(keys)}
    assert list(tuples_in(query, Setting.key, [])) == []
    first = query.where(Setting.key == keys[0])
    assert list(tuples(first)) == [(keys[0], "0")]
    assert dicts(first) == [{"key": keys[0], "value": "0"}]

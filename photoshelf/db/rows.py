"""Rows in bulk: ids in chunks that fit one statement, and a query's rows as tuples or dicts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# Values bound in one `IN (...)` list. SQLite builds before 3.32 allow 999 variables per statement (newer ones
# 32766), MariaDB has no such limit but a statement's size is bounded by max_allowed_packet: 500 ids fit both.
IN_CHUNK = 500
# Rows per multi-row INSERT or per batch of whole rows read back: a row binds several variables.
ROW_CHUNK = 200


def chunks(items: Iterable[T], n: int = IN_CHUNK) -> Iterator[list[T]]:
    """`items` in consecutive lists of at most `n`, in their order (a list is sliced, anything else read once)."""
    if n < 1:
        raise ValueError(f"chunk size must be at least 1, not {n}")
    seq = items if isinstance(items, list) else list(items)
    for start in range(0, len(seq), n):
        yield seq[start : start + n]


def tuples(query: Any) -> Iterator[Any]:
    """A select's rows as tuples (typed loosely: peewee's stubs call every row a model instance)."""
    return iter(query.tuples())


def dicts(query: Any) -> list[dict[str, Any]]:
    """A select's rows as dicts keyed by column name (typed as such, whatever peewee's stubs say)."""
    return list(query.dicts())


def tuples_in(query: Any, column: Any, ids: Iterable[Any], n: int = IN_CHUNK) -> Iterator[Any]:
    """The rows (as tuples) of `query` where `column` is one of `ids`, one statement per chunk of `n` ids."""
    for chunk in chunks(ids, n):
        yield from query.where(column.in_(chunk)).tuples()

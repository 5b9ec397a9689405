"""Migration 15: full-text indexes for free text on MariaDB (InnoDB FULLTEXT on the photo's text columns and on
file paths); SQLite has its FTS5 table from migration 13."""

from __future__ import annotations

import re
import threading

import peewee as pw

from photoshelf.db.backends import is_sqlite

PHOTO_INDEX = "photo_fulltext"
FILE_INDEX = "file_path_fulltext"
# What free text matches literally (photoshelf/search.py), as in migration 13's FTS5 body.
PHOTO_COLUMNS = ("title", "description", "keywords", "camera_model", "city", "state", "country")
# InnoDB's own tokens: letters, digits and "_" (a path's IMG_0001 is one token, "2019-07-04" three).
_TOKEN = re.compile(r"\w+")

_seen_lock = threading.Lock()
_seen: dict[tuple[int, str], int | None] = {}  # (database object, name) -> the server's min token size, or None


def apply(db: pw.Database) -> None:
    if is_sqlite(db):
        return
    # Every word is indexed: InnoDB's default stop words ("the", "about", "com", "www" ...) would otherwise never
    # be found. The setting is read when an index is created.
    db.execute_sql("SET SESSION innodb_ft_enable_stopword = 0")
    have = {str(row[2]) for row in db.execute_sql("SHOW INDEX FROM photo").fetchall()}
    if PHOTO_INDEX not in have:
        db.execute_sql(f"ALTER TABLE photo ADD FULLTEXT INDEX {PHOTO_INDEX} ({', '.join(PHOTO_COLUMNS)})")
    have = {str(row[2]) for row in db.execute_sql("SHOW INDEX FROM file").fetchall()}
    if FILE_INDEX not in have:
        db.execute_sql(f"ALTER TABLE file ADD FULLTEXT INDEX {FILE_INDEX} (path)")
    with _seen_lock:
        _seen.clear()


def min_token(db: pw.Database) -> int | None:
    """innodb_ft_min_token_size when the indexes exist here (MariaDB, migrated), else None; asked once per
    catalog."""
    real = getattr(db, "obj", None) or db
    if is_sqlite(real):
        return None
    key = (id(real), str(real.database))
    with _seen_lock:
        if key in _seen:
            return _seen[key]
    found = real.execute_sql("SHOW INDEX FROM photo WHERE Key_name = %s", (PHOTO_INDEX,)).fetchone()
    size = int(real.execute_sql("SELECT @@innodb_ft_min_token_size").fetchone()[0]) if found else None
    with _seen_lock:
        _seen[key] = size
    return size


def boolean_query(value: str, min_size: int) -> str | None:
    """`value` as a boolean-mode query: every word, as a word start (`+new* +york*`), or None when a word is
    shorter than the index's smallest token (never indexed: the caller scans with LIKE)."""
    words = _TOKEN.findall(value)
    if not words or any(len(w) < min_size for w in words):
        return None
    return " ".join(f"+{w}*" for w in words)

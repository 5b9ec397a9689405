"""Migration 13: a full-text index of each photo's searchable text (SQLite FTS5, trigram), kept in step by triggers."""

from __future__ import annotations

import peewee as pw

from photoshelf.db.backends import is_sqlite

TABLE = "photo_fts"
# What free text matches literally (photoshelf/search.py): title, description, keywords, camera model, place and
# the paths of the photo's media files, one line each (a match does not run from one into the next).
_BODY = """(SELECT COALESCE(p.title, '') || char(10) || COALESCE(p.description, '') || char(10) ||
       COALESCE(p.keywords, '') || char(10) || COALESCE(p.camera_model, '') || char(10) ||
       COALESCE(p.city, '') || char(10) || COALESCE(p.state, '') || char(10) || COALESCE(p.country, '') || char(10) ||
       COALESCE((SELECT group_concat(f.path, char(10)) FROM file f WHERE f.photo_id = p.id AND f.role = 'media'), '')
       FROM photo p WHERE p.id = {pid})"""
_PHOTO_COLUMNS = "title, description, keywords, camera_model, city, state, country"


def _refresh(pid: str) -> str:
    return (f"DELETE FROM {TABLE} WHERE rowid = {pid}; "
            f"INSERT INTO {TABLE}(rowid, body) SELECT {pid}, {_BODY.format(pid=pid)} WHERE {pid} IS NOT NULL "
            f"AND EXISTS (SELECT 1 FROM photo WHERE id = {pid});")


TRIGGERS = {
    "photo_fts_photo_insert": f"AFTER INSERT ON photo BEGIN {_refresh('NEW.id')} END",
    "photo_fts_photo_update": f"AFTER UPDATE OF {_PHOTO_COLUMNS} ON photo BEGIN {_refresh('NEW.id')} END",
    "photo_fts_photo_delete": f"AFTER DELETE ON photo BEGIN DELETE FROM {TABLE} WHERE rowid = OLD.id; END",
    "photo_fts_file_insert": f"AFTER INSERT ON file BEGIN {_refresh('NEW.photo_id')} END",
    "photo_fts_file_update": (f"AFTER UPDATE OF path, photo_id, role ON file BEGIN {_refresh('OLD.photo_id')} "
                              f"{_refresh('NEW.photo_id')} END"),
    "photo_fts_file_delete": f"AFTER DELETE ON file BEGIN {_refresh('OLD.photo_id')} END",
}


def install(db: pw.Database) -> None:
    """The index, its triggers and its rows, on SQLite; idempotent, so it also repairs a catalog whose triggers
    a table rebuild dropped (SQLite drops a table's triggers with it). MariaDB keeps its LIKE scans."""
    if not is_sqlite(getattr(db, "obj", None) or db):
        return
    exists = db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
    if not exists:
        db.execute_sql(f"CREATE VIRTUAL TABLE {TABLE} USING fts5(body, tokenize = 'trigram')")
    have = {name for (name,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'photo_fts_%'").fetchall()}
    for name, body in TRIGGERS.items():
        if name not in have:
            db.execute_sql(f"CREATE TRIGGER {name} {body}")
    if not exists or have != set(TRIGGERS):
        db.execute_sql(f"DELETE FROM {TABLE}")
        db.execute_sql(f"INSERT INTO {TABLE}(rowid, body) SELECT id, {_BODY.format(pid='photo.id')} FROM photo")


def available(db: pw.Database) -> bool:
    """Whether free text can use the index here (SQLite with FTS5, migrated)."""
    if not is_sqlite(getattr(db, "obj", None) or db):
        return False
    return bool(db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone())


def apply(db: pw.Database) -> None:
    install(db)

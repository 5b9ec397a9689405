"""Open the catalog database: SQLite (WAL, sqlite-vec loaded) or MariaDB; all backend differences live here."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import ParseResult, unquote, urlparse

import peewee as pw

from photoshelf.db.schema import database_proxy
from photoshelf.errors import ConfigError, DatabaseError, ToolMissing

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 30000,
    "cache_size": -32000,  # 32 MB page cache
    "temp_store": "memory",
}


class _SqliteWithVec(pw.SqliteDatabase):
    """SQLite through pysqlite3 (modern SQLite that can load extensions) with sqlite-vec loaded per connection."""

    def _add_conn_hooks(self, conn):
        super()._add_conn_hooks(conn)
        import sqlite_vec

        try:
            conn.enable_load_extension(True)
            sqlite_vec.load(conn)
            conn.enable_load_extension(False)
        except AttributeError:
            raise DatabaseError(
                "this Python's sqlite3 cannot load extensions (needed for sqlite-vec): pip install pysqlite3-binary"
            ) from None


def is_sqlite(db: pw.Database | pw.DatabaseProxy) -> bool:
    """Whether `db` is SQLite, looking through the proxy the catalog's models are bound to (`Photo._meta.database`):
    a proxy taken for MariaDB sent SQLite's vector searches down the MariaDB path, which re-read every BLOB."""
    return isinstance(getattr(db, "obj", None) or db, pw.SqliteDatabase)


@contextmanager
def table_rebuilds_allowed(db: pw.Database) -> Iterator[None]:
    """Foreign keys off on SQLite while migrations run, then checked once.

    SQLite cannot alter most of a column in place: peewee's migrator copies the table, drops the old one and
    renames the copy. With foreign keys on, that DROP is a DELETE of every row, so ON DELETE SET NULL and CASCADE
    fire: migration 4 on an old catalog nulled every file's photo_id and would have deleted every album entry and
    face (found by tests/test_upgrade.py). SQLite's documented procedure for such a change is this one."""
    if not is_sqlite(db):
        yield
        return
    db.execute_sql("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: called between them
    try:
        yield
        broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise DatabaseError(f"the catalog's references are broken after migrating: {broken[:5]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def _mysql_database() -> type[pw.MySQLDatabase]:
    try:
        import pymysql  # noqa: F401
    except ImportError:
        raise ToolMissing("MariaDB support needs the 'mariadb' extra: pip install 'photoshelf[mariadb]'") from None
    from playhouse.shortcuts import ReconnectMixin

    class ReconnectingMySQL(ReconnectMixin, pw.MySQLDatabase):
        """Reconnects when MariaDB restarts or drops an idle connection."""

    return ReconnectingMySQL


def connect(url: str) -> pw.Database:
    """Create a database object for `url` (not yet connected) and bind the catalog tables to it."""
    db = make_database(url)
    database_proxy.initialize(db)
    return db


def make_database(url: str) -> pw.Database:
    if url.startswith("sqlite:///"):
        path = unquote(url[len("sqlite:///"):])
        if path != ":memory:":
            path = os.path.abspath(path) if not url.startswith("sqlite:////") else path
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the folder for the catalog {path}: {exc.strerror}") from None
        return _SqliteWithVec(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=30,
                              field_types={"DATETIME6": "DATETIME"})
    if url.startswith(("mysql://", "mariadb://")):
        name, host, port, parts = _mysql_address(url)
        cls = _mysql_database()
        return cls(
            name,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            host=host,
            port=port,
            charset="utf8mb4",
            connect_timeout=10,
            field_types={"DATETIME6": "DATETIME(6)"},
        )
    raise ConfigError("library.database", f"unsupported database URL {url!r} (use sqlite:///path or mysql://...)")


def _mysql_address(url: str) -> tuple[str, str, int, ParseResult]:
    """(database name, host, port, the parsed URL) of a mysql:// URL, or a ConfigError naming what is wrong."""
    hint = "(mysql://user:pass@host:port/NAME)"
    try:
        parts = urlparse(url)
        port = parts.port or 3306
    except ValueError as exc:  # an unclosed [IPv6 literal, a port that is not a number or out of range
        raise ConfigError("library.database", f"{url!r} is not a valid database URL: {exc} {hint}") from None
    name = parts.path.lstrip("/")
    if not name:
        raise ConfigError("library.database", f"no database name in {url!r} {hint}")
    return name, parts.hostname or "127.0.0.1", port, parts


def describe(db: pw.Database) -> str:
    """A one-line description for `doctor`: backend and server version."""
    if is_sqlite(db):
        sqlite_version, vec_version = db.execute_sql("select sqlite_version(), vec_version()").fetchone()
        return f"SQLite {sqlite_version} (WAL) at {db.database}, sqlite-vec {vec_version}"
    (version,) = db.execute_sql("select version()").fetchone()
    return f"MariaDB/MySQL {version}, database {db.database}"

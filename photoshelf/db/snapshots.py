"""Consistent copies of a live catalog: SQLite's online backup API, or mariadb-dump; and loading them back.

SQLite: `Connection.backup` copies every page under one read transaction, which in WAL mode does not block the
indexer or the viewer writing meanwhile, and the copy is the catalog as of one commit. MariaDB: the server's own
`mariadb-dump --single-transaction` (or `mysqldump`), one consistent InnoDB snapshot without table locks, loaded back
with the `mariadb` (or `mysql`) client. There is no home-made dump for MariaDB: a logical dump by the server's tool
keeps every type, index and character set exactly, and is what a MariaDB operator already knows how to read and load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw

from photoshelf.db.backends import is_sqlite
from photoshelf.errors import DatabaseError, ToolMissing

log = logging.getLogger(__name__)

DUMP_TOOLS = ("mariadb-dump", "mysqldump")
CLIENT_TOOLS = ("mariadb", "mysql")
_INSTALL = "install the MariaDB client (Debian/Ubuntu: apt-get install mariadb-client)"


def find_tool(names: tuple[str, ...]) -> str | None:
    """The first of `names` on PATH, or None."""
    return next((found for name in names if (found := shutil.which(name))), None)


def require_tool(names: tuple[str, ...]) -> str:
    found = find_tool(names)
    if found is None:
        raise ToolMissing(f"neither {' nor '.join(names)} was found on PATH: {_INSTALL}")
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_sqlite(db: pw.Database, target: Path) -> None:
    """Copy the open SQLite catalog to `target` (written beside it under a temporary name, checked, renamed)."""
    import peewee

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        copy = peewee.sqlite3.connect(tmp_name)  # type: ignore[attr-defined]  # peewee's pysqlite3 module
        try:
            db.connection().backup(copy)  # every page under one read transaction (does not block writers)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            (result,) = copy.execute("PRAGMA quick_check").fetchone()
        finally:
            copy.close()
        if result != "ok":
            raise DatabaseError(f"the copy of the catalog failed its check: {result}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _client_options(url: str) -> Iterator[tuple[list[str], str]]:
    """The connection options of a mysql:// URL for the MariaDB command-line tools, the password in a private
    options file (never on the command line, where `ps` shows it), and the database name."""
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    if not name:
        raise DatabaseError(f"no database name in {url!r}")
    fd, option_file = tempfile.mkstemp(prefix=".photoshelf-my.", suffix=".cnf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("[client]\n")
            fh.write(f"user={unquote(parts.username or 'root')}\n")
            if parts.password:
                fh.write(f"password=\"{unquote(parts.password)}\"\n")
            fh.write(f"host={parts.hostname or '127.0.0.1'}\nport={parts.port or 3306}\nprotocol=TCP\n")
        yield [f"--defaults-extra-file={option_file}", "--default-character-set=utf8mb4"], name
    finally:
        os.unlink(option_file)


def dump_mariadb(url: str, target: Path) -> str:
    """Dump the catalog database at `url` into `target` (one consistent snapshot); returns the tool used."""
    tool = require_tool(DUMP_TOOLS)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with _client_options(url) as (options, name), open(tmp, "wb") as out:
        # --single-transaction: an InnoDB snapshot, no locks held against the indexer or the viewer.
        args = [tool, *options, "--single-transaction", "--quick", "--hex-blob", "--no-tablespaces",
                "--skip-lock-tables", name]
        proc = subprocess.run(args, stdout=out, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"{Path(tool).name} failed: {proc.stderr.decode(errors='replace').strip()}")
    os.replace(tmp, target)
    return tool


def load_mariadb(url: str, source: Path) -> None:
    """Run a dump made by dump_mariadb against the database at `url` (its tables are dropped and recreated)."""
    tool = require_tool(CLIENT_TOOLS)
    with _client_options(url) as (options, name), open(source, "rb") as dump:
        proc = subprocess.run([tool, *options, name], stdin=dump, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise DatabaseError(f"{Path(tool).name} could not load {source}: "
                            f"{proc.stderr.decode(errors='replace').strip()}")


def snapshot(db: pw.Database, url: str, target_stem: Path) -> Path:
    """A consistent copy of the catalog beside `target_stem`: <stem>.sqlite or <stem>.sql; returns its path."""
    if is_sqlite(db):
        target = target_stem.with_name(target_stem.name + ".sqlite")
        snapshot_sqlite(db, target)
    else:
        target = target_stem.with_name(target_stem.name + ".sql")
        dump_mariadb(url, target)
    return target

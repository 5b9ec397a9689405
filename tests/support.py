"""Helpers for tests (importable as `support`: pytest's pythonpath includes tests/)."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw


def checksums(root: Path) -> dict[str, str]:
    """SHA-1 of every file under root, by relative path: the proof that originals are untouched."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def no_catalog() -> pw.Database:
    """A database never opened, for a stage asked only about its settings: any query on it raises."""
    return pw.SqliteDatabase(None)


def read_manifest(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same JPEG with a COM segment after SOI, so its bytes (and SHA-1) are unique and it still decodes."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    text = tag.encode("utf-8")
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return data[:2] + segment + data[2:]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `predicate` until it holds (a daemon on another thread or process catching up), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cli_env(lib: Any, **env: str) -> dict[str, str]:
    """The environment of a `photoshelf` subprocess on a test library (conftest.Library), plus PHOTOSHELF_* keys."""
    return dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
                PHOTOSHELF_DATABASE=lib.database_url, **env)


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`photoshelf ARGS` in its own session, so kill_9 takes its children (exiftool) with it."""
    return subprocess.Popen([sys.executable, "-m", "photoshelf.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def kill_9(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the process and its session; False if it had already ended by itself."""
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def count_rows(url: str, table: str = "file") -> int:
    """Rows in a catalog table, on a connection of its own (0 before the table exists)."""
    from photoshelf.db.backends import make_database

    db = make_database(url)
    try:
        db.connect()
        return int(db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except Exception:  # noqa: BLE001 - the table may not exist yet
        return 0
    finally:
        db.close()


def stderr_of(proc: subprocess.Popen[bytes]) -> str:
    """What a start_cli process wrote to stderr (read once it has ended)."""
    return proc.stderr.read().decode(errors="replace") if proc.stderr is not None else ""


def drop_catalog(database_url: str) -> None:
    """The catalog is lost (a dead disk, a dropped database): SQLite's files are deleted, or every table of the
    MariaDB database is dropped, whatever migrations made. The caller closes its connection first."""
    if database_url.startswith("sqlite:///"):
        catalog = database_url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm"):
            Path(catalog + suffix).unlink(missing_ok=True)
        return
    from photoshelf.db.backends import make_database

    db = make_database(database_url)
    db.connect()
    try:
        db.execute_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in db.get_tables():
            db.execute_sql(f"DROP TABLE `{table}`")
        db.execute_sql("SET FOREIGN_KEY_CHECKS = 1")
    finally:
        db.close()


def lose_catalog(lib: Any) -> None:
    """`lib`'s catalog is lost (originals, thumbnails and sidecars stay), and a fresh empty one is opened."""
    from photoshelf.db.catalog import open_catalog

    lib.db.close()
    drop_catalog(lib.database_url)
    lib.db = open_catalog(lib.config)

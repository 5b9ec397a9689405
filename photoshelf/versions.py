"""`photoshelf version`: the versions of photoshelf, its catalog schema and the tools and libraries it runs on."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

import peewee as pw

from photoshelf import __version__
from photoshelf.config import Config
from photoshelf.db import migrations

PACKAGES = ("peewee", "pillow", "pillow-heif", "rawpy", "av", "onnxruntime", "numpy", "starlette", "uvicorn",
            "pymysql", "sqlite-vec", "pysqlite3-binary")


def _tool(command: list[str], pattern: str) -> str | None:
    """The version a tool prints (the first match of `pattern`), or None when it is not installed or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(pattern, out)
    return found.group(1) if found else out.strip().splitlines()[0] if out.strip() else None


def _package(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def sqlite_versions() -> dict[str, str | None]:
    """SQLite and sqlite-vec as the catalog uses them (pysqlite3 with the extension loaded)."""
    from photoshelf.db.backends import make_database

    db = make_database("sqlite:///:memory:")
    try:
        db.connect()
        sqlite, vec = db.execute_sql("select sqlite_version(), vec_version()").fetchone()
        return {"sqlite": sqlite, "sqlite_vec": vec}
    except (pw.PeeweeException, ImportError, RuntimeError) as exc:
        return {"sqlite": None, "sqlite_vec": None, "error": str(exc)}
    finally:
        db.close()


def catalog_schema(config: Config) -> dict[str, Any]:
    """The configured catalog's schema version, read without creating or migrating anything."""
    from photoshelf.audit import open_catalog_as_is
    from photoshelf.errors import PhotoshelfError

    try:
        db = open_catalog_as_is(config)
    except PhotoshelfError as exc:
        return {"version": None, "detail": str(exc)}
    try:
        have = migrations.current_version(db)
        if have > migrations.LATEST:
            return {"version": have, "detail": "newer than this photoshelf: upgrade photoshelf"}
        todo = migrations.pending(db)
        return {"version": have, "pending": todo,
                "detail": f"{len(todo)} migrations pending: `photoshelf migrate`" if todo else "up to date"}
    except (pw.PeeweeException, PhotoshelfError) as exc:
        return {"version": None, "detail": str(exc)}
    finally:
        db.close()


def versions(config: Config | None) -> dict[str, Any]:
    """Everything `photoshelf version` prints."""
    data: dict[str, Any] = {
        "photoshelf": __version__,
        "schema": {"code": migrations.LATEST, "catalog": catalog_schema(config) if config is not None else None},
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "exiftool": _tool([config.exiftool.path if config else "exiftool", "-ver"], r"([\d.]+)"),
        "ffmpeg": _tool(["ffmpeg", "-version"], r"ffmpeg version (\S+)"),
        **sqlite_versions(),
        "mariadb_dump": _tool(["mariadb-dump", "--version"], r"(Distrib \S+|Ver \S+.*)") or _tool(
            ["mysqldump", "--version"], r"(Distrib \S+|Ver \S+.*)"),
        "packages": {name: _package(name) for name in PACKAGES},
    }
    return data

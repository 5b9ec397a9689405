"""`photoshelf backup`: a consistent copy of what only photoshelf holds (catalog, users, sidecars, settings), and
putting it back into an empty storage folder and catalog.

A backup is a folder:

    manifest.json     format, photoshelf and schema versions, backend, counts, checksums, what is left out
    catalog.sqlite    SQLite: the online backup API's copy (the daemon may keep writing meanwhile)
    catalog.sql       MariaDB: mariadb-dump --single-transaction
    users.yaml        the accounts (argon2 hashes), as <storage>/users.yaml
    sidecars/         <storage>/sidecars (when sidecars.location = "storage")
    config.toml       the effective configuration, the database password replaced by "***"

Not in it: thumbnails and previews (rebuilt from the originals by `photoshelf index --force`), downloaded model
files (<storage>/models: `photoshelf models` fetches them again), and the originals themselves, which are yours to
back up.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import peewee as pw

from photoshelf import __version__
from photoshelf.config import Config, as_dict
from photoshelf.db import migrations, snapshots
from photoshelf.db.backends import connect, is_sqlite
from photoshelf.db.schema import Album, AlbumPhoto, Face, File, Person, Photo, PhotoLabel, User
from photoshelf.errors import ConfigError, DatabaseError, PhotoshelfError

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
LEFT_OUT = [
    "thumbnails and previews: rebuilt from the originals by `photoshelf index --force`",
    "model files under <storage>/models: installed again by `photoshelf models`",
    "the originals: back them up yourself",
]


class BackupError(PhotoshelfError):
    """A backup cannot be made or restored (the destination is not empty, the backup is damaged...)."""


@dataclass
class BackupReport:
    path: Path
    backend: str
    schema_version: int
    counts: dict[str, int]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def counts() -> dict[str, int]:
    """What the catalog holds, for the manifest and the restore check."""
    return {
        "photos": Photo.select().count(),
        "files": File.select().count(),
        "albums": Album.select().count(),
        "album_entries": AlbumPhoto.select().count(),
        "favorites": Photo.select().where(Photo.favorite).count(),
        "people": Person.select().where(Person.name.is_null(False)).count(),
        "faces": Face.select().count(),
        "labels": PhotoLabel.select().count(),
        "users": User.select().count(),
    }


def redacted_url(url: str) -> str:
    """The database URL with its password replaced by ***."""
    parts = urlparse(url)
    if not parts.password:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunparse(parts._replace(netloc=netloc))


def _config_toml(config: Config) -> str:
    lines = ["# The effective photoshelf configuration when this backup was made (defaults, file, environment and",
             "# flags combined). The database password is not kept: put it back before using this file.", ""]
    for section, values in as_dict(config).items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if section == "library" and key == "database" and value:
                value = redacted_url(str(value))
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


def _prepare_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is a file: give a folder for the backup")
    if dest.is_dir() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: give a new or empty folder for the backup")
    dest.mkdir(parents=True, exist_ok=True)


def _sidecar_folder(config: Config) -> Path | None:
    return config.storage_path / "sidecars" if config.sidecars.location == "storage" else None


def create(config: Config, db: pw.Database, dest: Path) -> BackupReport:
    """Back up the open catalog `db` of `config` into the new or empty folder `dest`."""
    started = time.monotonic()
    dest = dest.resolve()
    if dest.is_relative_to(config.originals_path):
        raise BackupError(f"{dest} is inside the originals folder, which photoshelf never writes to")
    sidecars = _sidecar_folder(config)
    if sidecars is not None and dest.is_relative_to(sidecars):
        raise BackupError(f"{dest} is inside the sidecar folder it would copy: give a folder outside {sidecars}")
    backend = "sqlite" if is_sqlite(db) else "mariadb"
    if backend == "mariadb":
        snapshots.require_tool(snapshots.DUMP_TOOLS)  # before anything is written
    _prepare_destination(dest)
    catalog = snapshots.snapshot(db, config.database_url, dest / "catalog")
    # Counted after the copy, from the copy's own moment as near as can be: the restore check allows growth.
    report = BackupReport(dest, backend, migrations.current_version(db), counts(), [catalog.name])
    users = config.storage_path / "users.yaml"
    if users.is_file():
        shutil.copy2(users, dest / "users.yaml")
        report.files.append("users.yaml")
    if sidecars is not None and sidecars.is_dir():
        # Sidecars are written by rename, so each file copied is whole, old or new.
        shutil.copytree(sidecars, dest / "sidecars", ignore=shutil.ignore_patterns(".*"))
        report.files.append("sidecars/")
    (dest / "config.toml").write_text(_config_toml(config), encoding="utf-8")
    report.files.append("config.toml")
    manifest = {
        "format": FORMAT,
        "photoshelf": __version__,
        "schema_version": report.schema_version,
        "backend": backend,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "catalog": catalog.name,
        "catalog_sha256": snapshots.sha256_of(catalog),
        "database": redacted_url(config.database_url),
        "storage": str(config.storage_path),
        "originals": str(config.originals_path),
        "sidecars": "sidecars/" if "sidecars/" in report.files else (
            f"beside the originals (sidecars.location = {config.sidecars.location!r}): not copied"),
        "counts": report.counts,
        "files": report.files,
        "not_included": LEFT_OUT,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(dest, 0o700)  # users.yaml holds password hashes
    report.seconds = time.monotonic() - started
    log.info("backup of %s photos written to %s in %.1fs", report.counts["photos"], dest, report.seconds)
    return report


# --- restore ---


@dataclass
class RestoreReport:
    source: Path
    backend: str
    schema_version: int  # of the backup; the catalog is migrated to the current one when it is opened
    counts: dict[str, int]
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "source": str(self.source)}


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} is not a photoshelf backup (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
                          f" (this photoshelf reads format {FORMAT})")
    if int(manifest.get("schema_version", 0)) > migrations.LATEST:
        raise BackupError(f"the backup has catalog schema {manifest['schema_version']}, newer than this photoshelf "
                          f"({migrations.LATEST}): upgrade photoshelf first")
    catalog = src / str(manifest.get("catalog", ""))
    if not catalog.is_file():
        raise BackupError(f"the backup's catalog {catalog} is missing")
    if snapshots.sha256_of(catalog) != manifest.get("catalog_sha256"):
        raise BackupError(f"{catalog} does not match its checksum in {MANIFEST}: the backup is damaged")
    return manifest


def _catalog_in_use(db: pw.Database) -> str | None:
    """What the target catalog already holds (None: empty or new)."""
    tables = set(db.get_tables())
    held = []
    for model, what in ((Photo, "photos"), (Album, "albums"), (User, "users")):
        if model._meta.table_name in tables:
            n = model.select().count()
            if n:
                held.append(f"{n} {what}")
    return ", ".join(held) or None


def _storage_in_use(config: Config) -> list[str]:
    found = []
    users = config.storage_path / "users.yaml"
    if users.is_file():
        found.append(str(users))
    sidecars = _sidecar_folder(config)
    if sidecars is not None and sidecars.is_dir() and any(sidecars.iterdir()):
        found.append(str(sidecars))
    return found


def restore(config: Config, src: Path, *, force: bool = False) -> RestoreReport:
    """Put the backup in `src` into the configured storage folder and catalog, which must be empty (or `force`).
    The catalog is left closed; opening it (open_catalog) migrates a backup from an older photoshelf."""
    src = src.resolve()
    manifest = read_manifest(src)
    backend = str(manifest.get("backend"))
    url = config.database_url
    target = "sqlite" if url.startswith("sqlite:") else "mariadb"
    if backend != target:
        raise ConfigError("library.database", f"the backup holds a {backend} catalog and {redacted_url(url)} is "
                                              f"{target}: restore into a {backend} catalog")
    db = connect(url)
    try:
        db.connect()
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the catalog at {redacted_url(url)}: {exc}") from None
    try:
        held = _catalog_in_use(db)
        in_storage = _storage_in_use(config)
        if (held or in_storage) and not force:
            what = "; ".join(([f"the catalog holds {held}"] if held else []) + in_storage)
            raise BackupError(f"not restoring over data that is there ({what}): restore into an empty storage "
                              "folder and catalog, or pass --force to replace them")
        if target == "mariadb":
            _empty_mariadb(db)
    finally:
        db.close()
    report = RestoreReport(src, backend, int(manifest["schema_version"]), dict(manifest.get("counts") or {}))
    config.storage_path.mkdir(parents=True, exist_ok=True)
    catalog = src / str(manifest["catalog"])
    if target == "sqlite":
        _restore_sqlite_file(catalog, Path(db.database))
    else:
        snapshots.load_mariadb(url, catalog)
    report.files.append(catalog.name)
    if (src / "users.yaml").is_file():
        shutil.copy2(src / "users.yaml", config.storage_path / "users.yaml")
        report.files.append("users.yaml")
    sidecars = _sidecar_folder(config)
    if (src / "sidecars").is_dir():
        if sidecars is None:
            log.warning("the backup has sidecars but sidecars.location is %r: not copied (they are in %s)",
                        config.sidecars.location, src / "sidecars")
        else:
            if sidecars.exists():
                shutil.rmtree(sidecars)
            shutil.copytree(src / "sidecars", sidecars)
            report.files.append("sidecars/")
    log.info("restored the backup of %s from %s", manifest.get("created_at"), src)
    return report


def _restore_sqlite_file(catalog: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.restore")
    shutil.copyfile(catalog, tmp)
    for suffix in ("-wal", "-shm"):  # the replaced catalog's journal must not be replayed onto the backup
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)


def _empty_mariadb(db: pw.Database) -> None:
    """Drop every table of the target database (the dump recreates the catalog's)."""
    tables = db.get_tables()
    if not tables:
        return
    db.execute_sql("SET FOREIGN_KEY_CHECKS = 0")
    try:
        for table in tables:
            db.execute_sql(f"DROP TABLE IF EXISTS `{table}`")
    finally:
        db.execute_sql("SET FOREIGN_KEY_CHECKS = 1")


def check_restored(report: RestoreReport) -> list[str]:
    """After the restored catalog was opened: where its counts differ from the manifest's (should be none)."""
    have = counts()
    return [f"{key}: {have.get(key)} in the catalog, {want} in the backup"
            for key, want in report.counts.items() if have.get(key) != want]

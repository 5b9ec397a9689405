"""Open the catalog for a configuration: connect, migrate, and hand back the database."""

from __future__ import annotations

import peewee as pw

from photoshelf.config import Config
from photoshelf.db.backends import connect
from photoshelf.db.upgrade import upgrade
from photoshelf.errors import ConfigError, DatabaseError


def open_catalog(config: Config, *, create: bool = True) -> pw.Database:
    """Connect to the configured database and bring its schema up to date."""
    storage = config.storage_path
    if storage.exists() and not storage.is_dir():
        raise ConfigError("library.storage", f"{storage} is a file, not a folder")
    if create:  # thumbnails, sidecars and the users backup live there on either backend
        try:
            storage.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("library.storage", f"cannot create the folder {storage}: {exc.strerror}") from None
    db = connect(config.database_url)
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the catalog at {config.database_url}: {exc}") from None
    upgrade(db, config.database_url, storage)  # a catalog that holds data is copied first
    from photoshelf import accounts

    # Users are backed up beside the catalog; a catalog rebuilt without them takes them back from there.
    accounts.use_backup(config.storage_path / "users.yaml")
    return db

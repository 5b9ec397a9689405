"""Open the catalog for a configuration: connect, migrate, and hand back the database."""

from __future__ import annotations

import peewee as pw

from photoshelf.config import Config
from photoshelf.db.backends import connect
from photoshelf.db.migrations import migrate
from photoshelf.errors import DatabaseError


def open_catalog(config: Config, *, create: bool = True) -> pw.Database:
    """Connect to the configured database and bring its schema up to date."""
    if create and config.database_url.startswith("sqlite:///"):
        config.storage_path.mkdir(parents=True, exist_ok=True)
    db = connect(config.database_url)
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the catalog at {config.database_url}: {exc}") from None
    migrate(db)
    from photoshelf import accounts

    # Users are backed up beside the catalog; a catalog rebuilt without them takes them back from there.
    accounts.use_backup(config.storage_path / "users.yaml")
    return db

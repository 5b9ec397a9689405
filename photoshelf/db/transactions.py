"""Write transactions: the writer lock taken at BEGIN on SQLite, and a bounded retry when another writer holds it.

Every write transaction in every process goes through `write_transaction` (a block) or `run_write` (a function that
may be run again). Reads stay plain, deferred statements or transactions.

Why IMMEDIATE: a deferred SQLite transaction starts as a reader and upgrades to a writer at its first write. If
another process committed in between (the viewer saving a favorite while the indexer writes a batch), the upgrade
fails at once with "database is locked": busy_timeout does not cover it, because waiting cannot help a transaction
whose snapshot is already stale. BEGIN IMMEDIATE takes the write lock first, where busy_timeout does wait; after
that the transaction cannot meet another writer.

On MariaDB (InnoDB, row locks) two writers can still deadlock (error 1213: InnoDB rolls one back) or wait past
innodb_lock_wait_timeout (1205): `run_write` rolls back and runs the whole function again, a few times.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import peewee as pw

from photoshelf.db.backends import is_sqlite
from photoshelf.errors import DatabaseError

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5  # tries of one transaction before the conflict is reported
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # primary result codes; extended codes keep them in the low byte
_MARIADB_LOCK_ERRORS = {1205, 1213}  # lock wait timeout, deadlock


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether `exc` says another writer was in the way (so the same transaction may succeed a moment later)."""
    if not isinstance(exc, pw.DatabaseError):
        return False
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    if cause.args and isinstance(cause.args[0], int):  # PyMySQL: (errno, message)
        return cause.args[0] in _MARIADB_LOCK_ERRORS
    text = str(cause).lower()
    return "database is locked" in text or "database table is locked" in text


def _pause(attempt: int) -> float:
    """Jittered exponential backoff: 50 ms, 100 ms, 200 ms... (at most 2 s), so retrying writers spread out."""
    return min(2.0, 0.05 * 2 ** (attempt - 1)) * (0.5 + random.random())


def _gave_up(exc: BaseException) -> DatabaseError:
    return DatabaseError(f"another writer kept the catalog locked ({ATTEMPTS} tries): {exc}")


class write_transaction:  # noqa: N801 - used like peewee's db.atomic(), a context manager
    """One write transaction, as a `with` block: BEGIN IMMEDIATE on SQLite, a plain BEGIN on MariaDB, a
    savepoint when already inside a transaction.

    On SQLite the BEGIN is where another writer can be met (busy_timeout waits there first); the BEGIN is tried
    again up to ATTEMPTS times, which is the whole transaction again since nothing in it ran yet. A block cannot
    run itself again after a MariaDB deadlock: use `run_write` for writes that can meet one (concurrent writers
    on the same rows)."""

    def __init__(self, db: pw.Database | pw.DatabaseProxy) -> None:
        # Models hand out the proxy (Photo._meta.database); the backend is the database behind it.
        self.db: pw.Database = db.obj if isinstance(db, pw.DatabaseProxy) else db
        self._txn: Any = None

    def __enter__(self) -> None:
        if self.db.in_transaction():
            self._txn = self.db.atomic()  # a savepoint inside the caller's transaction
            self._txn.__enter__()
            return
        sqlite = is_sqlite(self.db)
        for attempt in range(1, ATTEMPTS + 1):
            txn = self.db.atomic("IMMEDIATE") if sqlite else self.db.atomic()
            try:
                txn.__enter__()
            except pw.DatabaseError as exc:
                if not is_lock_conflict(exc):
                    raise
                if attempt == ATTEMPTS:
                    raise _gave_up(exc) from exc
                log.info("catalog locked by another writer; trying again (%d/%d)", attempt, ATTEMPTS)
                time.sleep(_pause(attempt))
                continue
            self._txn = txn
            return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        txn, self._txn = self._txn, None
        return txn.__exit__(exc_type, exc, tb)


def run_write(db: pw.Database | pw.DatabaseProxy, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in one write transaction; if another writer gets in the way (a MariaDB deadlock or
    lock wait timeout, SQLite still busy), everything it did is rolled back and it runs again, at most ATTEMPTS
    times. `fn` may therefore run more than once: it should change only the catalog (or do idempotent work).

    Inside a caller's transaction it runs once, as a savepoint: only the outermost transaction can be retried."""
    if db.in_transaction():
        with write_transaction(db):
            return fn(*args, **kwargs)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with write_transaction(db):
                return fn(*args, **kwargs)
        except pw.DatabaseError as exc:
            if not is_lock_conflict(exc):
                raise
            if attempt == ATTEMPTS:
                raise _gave_up(exc) from exc
            log.info("write conflict with another writer (%s); running the transaction again (%d/%d)",
                     exc, attempt, ATTEMPTS)
            time.sleep(_pause(attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

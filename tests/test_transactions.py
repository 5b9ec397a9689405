"""Write transactions between real writers: SQLite's writer lock taken at BEGIN, MariaDB deadlocks and lock wait
timeouts retried by run_write. Two connections, the second as another process would hold one."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import peewee as pw
import pytest

from photoshelf.db.backends import make_database
from photoshelf.db.schema import Setting
from photoshelf.db.transactions import is_lock_conflict, run_write, write_transaction

from conftest import Library


def _other_writer(lib: Library) -> pw.Database:
    """A second connection to the same catalog, as another process (the indexer, the viewer) has."""
    other = make_database(lib.database_url)
    other.connect()
    return other


def _run_write_on_a_thread(lib: Library, edit: Callable[[], None], failure: list[BaseException]) -> threading.Thread:
    """run_write(edit) on a thread of its own (its own connection), as the viewer's writer thread does."""

    def writer() -> None:
        try:
            run_write(lib.db, edit)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)
        finally:
            lib.db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    return thread


def _value(key: str) -> str:
    return str(Setting.get(Setting.key == key).value)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_write_transaction_is_a_writer_from_its_start(empty_library: Library) -> None:
    lib = empty_library
    Setting.insert(key="count", value="0").execute()
    other = _other_writer(lib)
    try:
        # The failure this module exists for: a deferred transaction read, another process committed, and the
        # upgrade to a writer fails at once ("database is locked"); busy_timeout cannot help it.
        with pytest.raises(pw.OperationalError) as caught:
            with other.atomic():
                other.execute_sql("SELECT value FROM setting WHERE key = 'count'").fetchone()
                Setting.update(value="1").where(Setting.key == "count").execute()  # lib.db, autocommit
                other.execute_sql("UPDATE setting SET value = 'lost' WHERE key = 'count'")
        assert is_lock_conflict(caught.value)

        # A write transaction holds the writer lock from BEGIN: a writer arriving meanwhile waits, then runs.
        waiting_done = threading.Event()

        def edit() -> None:
            with write_transaction(lib.db):
                (value,) = lib.db.execute_sql("SELECT value FROM setting WHERE key = 'count'").fetchone()
                Setting.update(value=str(int(value) + 1)).where(Setting.key == "count").execute()
            lib.db.close()  # this thread's connection
            waiting_done.set()

        with write_transaction(other):
            (value,) = other.execute_sql("SELECT value FROM setting WHERE key = 'count'").fetchone()
            thread = threading.Thread(target=edit)
            thread.start()
            time.sleep(0.3)  # let it reach its BEGIN; it cannot get past it while this transaction is open
            assert not waiting_done.is_set()
            other.execute_sql("UPDATE setting SET value = ? WHERE key = 'count'", (str(int(value) + 10),))
        thread.join(timeout=60)
        assert waiting_done.is_set() and _value("count") == "12"  # 1, +10 here, +1 by the writer that waited
    finally:
        other.close()


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_mariadb_deadlock_victim_runs_again(empty_library: Library) -> None:
    lib = empty_library
    Setting.insert_many([{"key": "a", "value": "0"}, {"key": "b", "value": "0"}]).execute()
    other = _other_writer(lib)
    attempts: list[int] = []
    holds_a, holds_b = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def edit() -> None:  # locks a, then b: the opposite order of the other writer
        attempts.append(1)
        Setting.update(value="edit").where(Setting.key == "a").execute()
        if len(attempts) == 1:
            holds_a.set()
            holds_b.wait(30)
        Setting.update(value="edit").where(Setting.key == "b").execute()

    thread = _run_write_on_a_thread(lib, edit, failure)
    try:
        other.execute_sql("BEGIN")
        # More rows changed than the edit's one: InnoDB rolls back the lighter transaction, the edit.
        other.execute_sql("INSERT INTO setting (`key`, value) VALUES " + ", ".join(f"('bulk{i}', 'x')" for i in range(50)))
        other.execute_sql("UPDATE setting SET value = 'other' WHERE `key` = 'b'")
        holds_b.set()
        assert holds_a.wait(30)
        other.execute_sql("UPDATE setting SET value = 'other' WHERE `key` = 'a'")  # waits: a deadlock
        other.execute_sql("COMMIT")
    finally:
        thread.join(timeout=60)
        other.close()
    assert not failure, failure
    assert len(attempts) == 2  # the deadlock victim ran once more, after the other writer committed
    assert _value("a") == _value("b") == "edit"


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_mariadb_lock_wait_timeout_runs_again(empty_library: Library) -> None:
    lib = empty_library
    Setting.insert(key="a", value="0").execute()
    other = _other_writer(lib)
    started = [threading.Event(), threading.Event()]
    failure: list[BaseException] = []

    def edit() -> None:
        attempt = sum(e.is_set() for e in started)
        lib.db.execute_sql("SET SESSION innodb_lock_wait_timeout = 1")
        started[attempt].set()
        Setting.update(value="edit").where(Setting.key == "a").execute()

    other.execute_sql("BEGIN")
    other.execute_sql("UPDATE setting SET value = 'other' WHERE `key` = 'a'")
    thread = _run_write_on_a_thread(lib, edit, failure)
    try:
        assert started[1].wait(60)  # the first try waited out innodb_lock_wait_timeout (1205) and ran again
        other.execute_sql("COMMIT")
    finally:
        thread.join(timeout=60)
        other.close()
    assert not failure, failure
    assert _value("a") == "edit"


def test_every_write_transaction_goes_through_the_helper() -> None:
    """A plain db.atomic() is a deferred transaction on SQLite: the 'database is locked' of issue #12 again.
    Outside the catalog layer, writes use write_transaction or run_write."""
    repo = Path(__file__).resolve().parent.parent
    found = [
        f"{path.relative_to(repo)}:{number}"
        for folder in ("photoshelf", "indexer", "viewer", "sidecars", "models")
        for path in sorted((repo / folder).rglob("*.py"))
        if "db" not in path.relative_to(repo).parts[:2]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.atomic\(", line)
    ]
    assert not found, f"use photoshelf.db.transactions (write_transaction / run_write) at {', '.join(found)}"

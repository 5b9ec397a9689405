"""Shared fixtures: real SQLite (with sqlite-vec) and real MariaDB catalogs, corpus copies.

The originals audit (tests/audit.py) guards standing rule 1, "originals are read-only", in every test without
opting in: each `Library` (make_library, indexed_subset, the `library` and `empty_library` fixtures, the viewer's
shared libraries) records every path of its originals and each file's SHA-1, size and mtime when it is made, and
when the test ends (or, for a library a module or session fixture made, after every test and when its scope
ends) any added, removed or changed path fails the test with a diff. Two ways to change the originals on purpose:

- `with lib.user_changes(): ...` around what the test does as the user (copy photos in, edit, rename, delete,
  write a .photoshelfignore); the folder as it is when the block ends is the new state to keep.
- `@pytest.mark.originals_may_grow("Upload")` (or `lib.allow_growth("Upload")` for a library that outlives a
  test): paths that were not there may appear (and change, and go) under `<originals>/Upload/`: the WebDAV
  upload folder, the one place photoshelf writes into the originals. What was there must stay identical.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw
import pytest

from photoshelf.config import Config, load_config
from photoshelf.db.catalog import open_catalog

from audit import OriginalsAudit

REPO = Path(__file__).resolve().parent.parent
SMALL_CORPUS = REPO / "tests" / "data" / "corpus"
SHARED_CORPUS = Path(os.environ.get("PHOTOSHELF_TEST_CORPUS", REPO.parent / "shared" / "corpus"))
MARIADB_URL = os.environ.get("PHOTOSHELF_TEST_MARIADB", "mysql://root@127.0.0.1:3306")

BACKENDS = ["sqlite", "mariadb"]


def pytest_report_header(config: Any) -> list[str]:
    lines = []
    if SHARED_CORPUS.is_dir():
        lines.append(f"full corpus: {SHARED_CORPUS} (full-corpus tests run)")
    else:
        lines.append(f"full corpus: not found at {SHARED_CORPUS}: full-corpus tests are skipped, tests/data is used")
    lines.append(f"mariadb: {MARIADB_URL} ({'reachable' if _mariadb_reachable() else 'NOT reachable: mariadb tests skip'})")
    return lines


_mariadb_state: dict[str, bool] = {}


def _mariadb_reachable() -> bool:
    if "ok" not in _mariadb_state:
        try:
            db = _mariadb_admin()
            db.connect()
            db.execute_sql("SELECT 1")
            db.close()
            _mariadb_state["ok"] = True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            _mariadb_state["ok"] = False
    return _mariadb_state["ok"]


def _mariadb_admin() -> pw.MySQLDatabase:
    from urllib.parse import urlparse

    parts = urlparse(MARIADB_URL)
    return pw.MySQLDatabase(
        "mysql", user=parts.username or "root", password=parts.password or "", host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306, charset="utf8mb4",
    )


def catalog_url(backend: str, folder: Path, label: str) -> str:
    """A new, empty catalog on `backend`: a SQLite file in `folder`, or a new MariaDB database named after `label`
    (skips the test when no MariaDB answers). The caller drops a MariaDB database it no longer needs."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'catalog.db'}"
    if not _mariadb_reachable():
        pytest.skip(f"MariaDB not reachable at {MARIADB_URL} (scripts/setup-system.sh --test starts one)")
    name = f"photoshelf_{label}_{secrets.token_hex(4)}"
    admin = _mariadb_admin()
    admin.connect()
    admin.execute_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.close()
    return f"{MARIADB_URL.rstrip('/')}/{name}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty catalog database URL on each backend (SQLite file, or a new MariaDB database)."""
    url = catalog_url(request.param, tmp_path, "test")
    if request.param == "sqlite":
        yield url
        return
    name = url.rsplit("/", 1)[1]
    try:
        yield url
    finally:
        from photoshelf.db.schema import database_proxy

        if database_proxy.obj is not None and not database_proxy.obj.is_closed():
            database_proxy.obj.close()
        admin = _mariadb_admin()
        admin.connect()
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@dataclass
class Library:
    """An originals copy, a storage folder and an open catalog, as a user would have them."""

    originals: Path
    storage: Path
    database_url: str
    config: Config
    db: pw.Database
    audit: OriginalsAudit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.audit = OriginalsAudit(self.originals)
        _track(self)

    def reconfigure(self, **env: str) -> Config:
        self.config = make_config(self.originals, self.storage, self.database_url, **env)
        return self.config

    def user_changes(self) -> AbstractContextManager[None]:
        """The test changes the originals itself, as the user would (see the module docstring)."""
        return self.audit.user_changes()

    def allow_growth(self, subfolder: str) -> None:
        """New paths may appear under <originals>/<subfolder>/ from now on (the WebDAV upload folder)."""
        self.audit.may_grow.add(subfolder.strip("/"))


def make_config(originals: Path, storage: Path, database_url: str, **env: str) -> Config:
    values = {
        "PHOTOSHELF_ORIGINALS": str(originals),
        "PHOTOSHELF_STORAGE": str(storage),
        "PHOTOSHELF_DATABASE": database_url,
    }
    values.update(env)
    return load_config(env=values)


def copy_corpus(source: Path, target: Path) -> Path:
    """Copy a corpus into a temp folder (never index ../shared in place)."""
    shutil.copytree(source, target, symlinks=False)
    for root, dirs, files in os.walk(target):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return target


def make_library(tmp_path: Path, database_url: str, source: Path | None) -> Library:
    originals = tmp_path / "originals"
    if source is not None:
        copy_corpus(source, originals)
    else:
        originals.mkdir()
    storage = tmp_path / "storage"
    config = make_config(originals, storage, database_url)
    db = open_catalog(config)
    return Library(originals, storage, database_url, config, db)


def indexed_subset(tmp_path: Path, database_url: str, rels: Iterable[str] | Mapping[str, str],
                   root: Path = SMALL_CORPUS, **models: Any) -> Library:
    """A library of just these files of the small corpus (or `root`), indexed (the metadata pass, no enrichment), with
    these [models] settings applied first; a mapping puts each file (the value) under another path (its key). The
    caller closes `.db`."""
    from photoshelf.library import index_library

    source = tmp_path / "source"
    for rel, original in rels.items() if isinstance(rels, Mapping) else ((r, r) for r in rels):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / original, source / rel)
    lib = make_library(tmp_path, database_url, source)
    for key, value in models.items():
        setattr(lib.config.models, key, value)
    index_library(lib.config, lib.db)
    return lib


@pytest.fixture
def library(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """The small corpus from tests/data, copied, with an empty catalog (on each backend)."""
    lib = make_library(tmp_path, database_url, SMALL_CORPUS)
    yield lib
    lib.db.close()


@pytest.fixture
def empty_library(tmp_path: Path, database_url: str) -> Iterator[Library]:
    lib = make_library(tmp_path, database_url, None)
    yield lib
    lib.db.close()


# --- The originals audit: which libraries a test made, and which outlive it. ---

_fixture_scope: ContextVar[Any] = ContextVar("_fixture_scope", default=None)  # the fixture being set up
_test_libraries: list[Library] = []  # made by the running test or its function-scoped fixtures
_lasting_libraries: list[Library] = []  # made by module or session fixtures, or kept for the session


EXIT_GRACE_SECONDS = float(os.environ.get("PHOTOSHELF_TEST_EXIT_GRACE", "120"))  # how long the interpreter may wait for leftover threads once the session has ended


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "originals_may_grow(*subfolders): new paths may appear under these "
                            "subfolders of a library's originals (the WebDAV upload folder); see tests/conftest.py")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    token = _fixture_scope.set(fixturedef)
    try:
        return (yield)
    finally:
        _fixture_scope.reset(token)


def _track(lib: Library) -> None:
    fixturedef = _fixture_scope.get()
    if fixturedef is None or fixturedef.scope == "function":
        _test_libraries.append(lib)
        return
    _lasting_libraries.append(lib)
    fixturedef.addfinalizer(functools.partial(_retire, lib))  # runs after the fixture's own teardown


def _retire(lib: Library) -> None:
    if lib in _lasting_libraries:
        _lasting_libraries.remove(lib)
        lib.audit.verify()


def keep_for_session(lib: Library) -> None:
    """A library a function-scoped fixture made but caches for the session: audited after every test (by stat,
    ctime included) and read in full when the session ends."""
    if lib in _test_libraries:
        _test_libraries.remove(lib)
    if lib not in _lasting_libraries:
        _lasting_libraries.append(lib)


@pytest.fixture(autouse=True)
def _originals_audit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every library's originals are as they were (autouse, so torn down after the test's other fixtures)."""
    _test_libraries.clear()
    yield
    grow = [str(a) for m in request.node.iter_markers("originals_may_grow") for a in m.args]
    made, _test_libraries[:] = list(_test_libraries), []
    problems = []
    for lib in made + _lasting_libraries:
        try:
            lib.audit.verify(grow, deep=lib in made)
        except AssertionError as exc:
            problems.append(str(exc))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _originals_audit_at_exit() -> Iterator[None]:
    yield
    problems = []
    for lib in list(_lasting_libraries):
        _lasting_libraries.remove(lib)
        try:
            lib.audit.verify()
        except AssertionError as exc:
            problems.append(str(exc))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def full_corpus() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"full corpus not present at {SHARED_CORPUS} (CI has it; tests/data covers the basics)")
    return SHARED_CORPUS


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The suite must end when its last test has: a thread a test left blocked (a watcher stuck on a dead
    exiftool pipe, a pool worker waiting on a lock) would otherwise hold the interpreter's exit, which joins every
    non-daemon thread, until CI's limit. Name the threads still running, and if the process has not exited after
    EXIT_GRACE_SECONDS, print every thread's stack and leave with the session's status."""
    left = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if left:
        print(f"\nconftest: {len(left)} non-daemon thread(s) still running after the session: "
              + ", ".join(t.name for t in left), file=sys.stderr, flush=True)
    status = int(getattr(config, "_photoshelf_exitstatus", 0))

    def guard() -> None:
        print(f"\nconftest: the interpreter has not exited {EXIT_GRACE_SECONDS:.0f}s after the session ended; "
              "stacks of every thread follow, then exit", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(status)

    timer = threading.Timer(EXIT_GRACE_SECONDS, guard)
    timer.daemon = True
    timer.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._photoshelf_exitstatus = int(exitstatus)  # type: ignore[attr-defined]

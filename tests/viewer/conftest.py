"""Viewer fixtures: one indexed copy of the small corpus per backend for the whole session (the viewer only
reads it, and tests that write make their own albums and restore flags), and the real app through TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf.db.schema import database_proxy

from conftest import (  # tests/conftest.py: the shared fixtures' helpers
    SMALL_CORPUS,
    Library,
    _mariadb_admin,
    catalog_url,
    keep_for_session,
    make_library,
)

_libraries: dict[str, Library] = {}


def _indexed(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Library:
    if backend in _libraries:
        return _libraries[backend]
    root = tmp_path_factory.mktemp(f"viewer-{backend}")
    url = catalog_url(backend, root, "viewer")
    lib = make_library(root, url, SMALL_CORPUS)
    keep_for_session(lib)  # its originals are audited after every test that uses it, and in full at the end
    lib.config.viewer.tile_url = ""  # no network in tests: the map must work without background tiles
    from photoshelf.library import index_library

    index_library(lib.config, lib.db)
    _libraries[backend] = lib
    return lib


@pytest.fixture(scope="session", autouse=True)
def _drop_viewer_databases() -> Iterator[None]:
    yield
    for backend, lib in _libraries.items():
        lib.db.close()
        if backend == "mariadb":
            admin = _mariadb_admin()
            admin.connect()
            admin.execute_sql(f"DROP DATABASE IF EXISTS `{lib.db.database}`")
            admin.close()


@pytest.fixture(params=["sqlite", "mariadb"])
def lib(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The small corpus, indexed, on each backend (shared by the session)."""
    library = _indexed(request.param, tmp_path_factory)
    database_proxy.initialize(library.db)
    return library


@pytest.fixture
def client(lib: Library) -> Iterator[TestClient]:
    """The viewer, logged in as an admin (who may do everything)."""
    with viewer_client(lib.config, lib.db) as c:
        yield c


@pytest.fixture
def anonymous(lib: Library) -> Iterator[TestClient]:
    """The viewer without a login."""
    with viewer_client(lib.config, lib.db, role=None) as c:
        yield c


@pytest.fixture
def sqlite_lib(tmp_path_factory: pytest.TempPathFactory) -> Library:
    library = _indexed("sqlite", tmp_path_factory)
    database_proxy.initialize(library.db)
    return library


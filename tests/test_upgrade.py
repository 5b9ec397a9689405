"""Upgrades: a catalog made by the first released schema (tests/data/catalogs/v1.sqlite, and the same tables and rows
loaded into MariaDB) and one made by the current version open in the newest code: migrations run after a copy of the
catalog is taken, and photos read through the CLI as before. `photoshelf migrate` and `version` say what they see."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from photoshelf.db import migrations
from photoshelf.db.upgrade import KEEP_BACKUPS, prune

from conftest import REPO, SMALL_CORPUS, _mariadb_admin, catalog_url, copy_corpus

CATALOGS = REPO / "tests" / "data" / "catalogs"


def _make_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("catalog_fixtures", CATALOGS / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make = _make_module()


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"photoshelf {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    import os

    originals = copy_corpus(SMALL_CORPUS, tmp_path / "originals")
    return dict(os.environ, PHOTOSHELF_ORIGINALS=str(originals), PHOTOSHELF_STORAGE=str(tmp_path / "storage"),
                PHOTOSHELF_DATABASE=database_url, PHOTOSHELF_MODELS_ENABLED="false", COLUMNS="200")


def _check_v1_catalog_upgrades(env: dict[str, str], suffix: str) -> None:
    """The v1 rows after the newest code opened the catalog, then after an index run over the same files."""
    dry = run(env, "migrate", "--dry-run").stdout
    assert f"catalog schema 1, this photoshelf {migrations.LATEST}" in dry
    assert dry.count("would apply") == migrations.LATEST - 1 and "would apply 2: " in dry
    assert "schema" in run(env, "version").stdout
    assert json.loads(run(env, "version", "--json").stdout)["schema"]["catalog"]["version"] == 1

    out = run(env, "migrate")
    assert "applying 2: " in out.stdout and f"catalog schema now {migrations.LATEST}" in out.stdout
    backups = sorted((Path(env["PHOTOSHELF_STORAGE"]) / "backups").glob(f"pre-migrate-1-{migrations.LATEST}-*"))
    assert len(backups) == 1 and backups[0].suffix == suffix and backups[0].stat().st_size > 0
    assert "up to date" in run(env, "migrate").stdout

    records = {r["path"]: r for r in map(json.loads, run(env, "export").stdout.splitlines())}
    assert set(records) == {p[0] for p in make.V1_PHOTOS}
    cat = records["2016/Pets/cat_brown.jpg"]
    assert cat["favorite"] is True and cat["title"] == "Our cat" and cat["lat"] == pytest.approx(48.5387083)
    assert cat["duplicates"] == ["Backup/Old Phone/cat_brown copy.jpg"]
    assert records["2022/Utah Roadtrip/thompson-springs.jpg"]["taken_at_local"].startswith("2022-01-10T15:15:44")
    assert records["Raw/2019-06-06 Canon 6D/IMG_6D_0001.JPG"]["stack"] is not None
    shown = json.loads(run(env, "show", "--json", "2016/Pets/cat_brown.jpg").stdout)
    assert shown["id"] == cat["id"]
    assert run(env, "search", "--json", "year:2022").stdout.count("\n") == 1
    doctor = run(env, "doctor", "--json", check=False).stdout
    assert "empty file" in doctor  # the v1 failure is still listed

    # The newest indexer over the same originals: the v1 photos keep their identity (and what a person set).
    run(env, "index", "--no-ml", "-q")
    after = {r["path"]: r for r in map(json.loads, run(env, "export").stdout.splitlines())}
    assert len(after) > len(records)
    for path, before in records.items():
        assert after[path]["id"] == before["id"] and after[path]["sha1"] == before["sha1"]
    assert after["2016/Pets/cat_brown.jpg"]["favorite"] is True


def test_v1_sqlite_catalog_opens_in_the_newest_version(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(CATALOGS / "v1.sqlite", catalog)
    _check_v1_catalog_upgrades(_env(tmp_path, f"sqlite:///{catalog}"), ".sqlite")


def test_v1_mariadb_catalog_opens_in_the_newest_version(tmp_path: Path) -> None:
    from photoshelf.db.backends import make_database

    url = catalog_url("mariadb", tmp_path, "v1")
    try:
        db = make_database(url)
        db.connect()
        make.create_v1(db)
        make.insert_v1_rows(db)
        db.close()
        _check_v1_catalog_upgrades(_env(tmp_path, url), ".sql")
    finally:
        admin = _mariadb_admin()
        admin.connect()
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
        admin.close()


def test_v1_fixture_is_what_make_py_makes(tmp_path: Path) -> None:
    """The committed v1.sqlite holds schema 1 and the rows make.py describes (so regenerating it changes nothing
    that matters)."""
    import peewee

    conn = peewee.sqlite3.connect(str(CATALOGS / "v1.sqlite"))  # type: ignore[attr-defined]
    try:
        assert conn.execute("select version from schema_version").fetchall() == [(1,)]
        columns = {row[1] for row in conn.execute("pragma table_info(photo)")}
        assert "locked" not in columns and "owner_id" not in columns and "city" not in columns
        assert conn.execute("select count(*) from photo").fetchone()[0] == len(make.V1_PHOTOS)
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        assert {t._meta.table_name for t in make.V1_TABLES} == tables - {"sqlite_sequence"}
    finally:
        conn.close()


def test_current_catalog_opens_in_the_newest_version(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(CATALOGS / "current.sqlite", catalog)
    env = _env(tmp_path, f"sqlite:///{catalog}")
    made_at = json.loads(run(env, "version", "--json").stdout)["schema"]["catalog"]["version"]
    assert made_at >= 10
    records = [json.loads(line) for line in run(env, "export").stdout.splitlines()]
    assert len(records) >= 25 and all(r["sha1"] for r in records)
    assert run(env, "search", "--json", "camera:canon").stdout.strip()
    run(env, "index", "--no-ml", "-q")
    assert len(run(env, "export").stdout.splitlines()) == len(records)  # same corpus: nothing new, nothing lost


def test_an_empty_catalog_is_not_copied_and_old_copies_are_pruned(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    run(env, "init")
    assert not (tmp_path / "storage" / "backups").exists()  # nothing to lose in a new catalog
    folder = tmp_path / "backups"
    folder.mkdir()
    names = [f"pre-migrate-{n}-{n + 1}-2026010{n}T000000Z.sqlite" for n in range(1, KEEP_BACKUPS + 3)]
    for name in names:
        (folder / name).write_bytes(b"x")
    gone = prune(folder, "sqlite")
    assert sorted(p.name for p in gone) == names[:2]
    assert sorted(p.name for p in folder.iterdir()) == names[2:]


def test_a_catalog_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(CATALOGS / "current.sqlite", catalog)
    import peewee

    conn = peewee.sqlite3.connect(str(catalog))  # type: ignore[attr-defined]
    conn.execute("insert into schema_version (version, applied_at) values (?, '2030-01-01')",
                 (migrations.LATEST + 1,))
    conn.commit()
    conn.close()
    env = _env(tmp_path, f"sqlite:///{catalog}")
    proc = run(env, "stats", check=False)
    assert proc.returncode == 1 and "newer than this photoshelf" in proc.stderr
    assert not (tmp_path / "storage" / "backups").exists()


def test_any_command_migrates_an_old_catalog_after_copying_it(tmp_path: Path) -> None:
    """`index`, `serve`, `watch` (every command) open the catalog through the same upgrade: copy, then migrate."""
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(CATALOGS / "v1.sqlite", catalog)
    env = _env(tmp_path, f"sqlite:///{catalog}")
    proc = run(env, "index", "--no-ml", "-q")
    assert "catalog copied to" in proc.stderr and "applying catalog migration 2" in proc.stderr
    copies = list((tmp_path / "storage" / "backups").glob(f"pre-migrate-1-{migrations.LATEST}-*.sqlite"))
    assert len(copies) == 1
    import peewee

    copy = peewee.sqlite3.connect(str(copies[0]))  # type: ignore[attr-defined]
    try:  # the copy is the catalog as it was: schema 1, its rows
        assert copy.execute("select max(version) from schema_version").fetchone() == (1,)
        assert copy.execute("select count(*) from photo").fetchone() == (len(make.V1_PHOTOS),)
    finally:
        copy.close()
    assert "catalog copied" not in run(env, "stats").stderr  # up to date now: no second copy


def test_version_names_what_photoshelf_runs_on(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    data = json.loads(run(env, "version", "--json").stdout)
    assert data["schema"]["code"] == migrations.LATEST
    assert data["schema"]["catalog"]["version"] is None and "no catalog" in data["schema"]["catalog"]["detail"]
    assert not (tmp_path / "catalog.db").exists() and not (tmp_path / "storage").exists()  # nothing created
    assert data["exiftool"] and data["sqlite"] and data["sqlite_vec"] and data["python"].startswith("3.")
    assert data["packages"]["peewee"]
    text = run(env, "version").stdout
    assert f"schema          {migrations.LATEST} (this code)" in text and "exiftool" in text


def test_the_viewer_serves_an_upgraded_v1_catalog(tmp_path: Path) -> None:
    """The viewer (create_app opens the catalog the same way) lists the v1 photos after the upgrade."""
    from logins import viewer_client

    from photoshelf.db.catalog import open_catalog

    from conftest import make_config

    catalog = tmp_path / "catalog.db"
    shutil.copyfile(CATALOGS / "v1.sqlite", catalog)
    originals = copy_corpus(SMALL_CORPUS, tmp_path / "originals")
    config = make_config(originals, tmp_path / "storage", f"sqlite:///{catalog}")
    db = open_catalog(config)
    try:
        with viewer_client(config, db) as client:
            page = client.get("/api/v1/search", params={"q": ""})
            assert page.status_code == 200, page.text
            uids = {p["uid"] for p in page.json()["photos"]}
            assert {row[1] for row in make.V1_PHOTOS} - {"p1a2b3c4d5e6f7082"} <= uids  # the RAW is in the JPEG's stack
            cat = next(p for p in page.json()["photos"] if p["uid"] == "p1a2b3c4d5e6f7081")
            assert client.get(f"/photos/{cat['id']}").status_code == 200
    finally:
        db.close()

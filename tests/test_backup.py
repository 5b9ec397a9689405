"""`photoshelf backup` and `backup restore` as an operator runs them: a real process, both backends, a round trip that
compares `export` before and after, refusals that lose nothing, and a backup taken while the catalog is written."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from photoshelf import backup
from photoshelf.db.backends import make_database
from photoshelf.db.schema import Album, AlbumPhoto, Face, Person, Photo, Setting
from photoshelf.db.snapshots import load_mariadb
from photoshelf.db.transactions import write_transaction

from conftest import Library, _mariadb_admin, catalog_url
from support import cli_env, drop_catalog

PASSWORD = "correct horse battery"


def run(lib: Library, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=cli_env(lib, COLUMNS="200", **env),
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"photoshelf {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _user_edits(lib: Library) -> None:
    """What only a person could have made: a favorite, a title, an album, a named person, accounts."""
    photos = list(Photo.select().order_by(Photo.id))
    assert len(photos) >= 3
    with write_transaction(lib.db):
        Photo.update(favorite=True).where(Photo.id == photos[0].id).execute()
        Photo.update(title="Grandma's garden", locked="title").where(Photo.id == photos[1].id).execute()
        Photo.update(private=True).where(Photo.id == photos[2].id).execute()
        album = Album.create(uid="a" + secrets.token_hex(8), title="Summer 2024")
        for position, photo in enumerate(photos[:2], 1):
            AlbumPhoto.create(album=album, photo=photo, position=position)
        person = Person.create(uid="p" + secrets.token_hex(8), name="Anna")
        Face.create(photo=photos[0].id, x=0.3, y=0.2, w=0.2, h=0.3, score=0.99, person=person, assigned_by="user",
                    model="test")
    run(lib, "users", "add", "anna", "--role", "admin", "--password", PASSWORD)
    run(lib, "users", "add", "ben", "--role", "viewer", "--password", PASSWORD)
    run(lib, "sidecars", "--all")


def _wipe(lib: Library) -> None:
    """The storage folder and the catalog are lost (a dead disk, a dropped database)."""
    lib.db.close()
    shutil.rmtree(lib.storage)
    drop_catalog(lib.database_url)


def test_round_trip_keeps_every_user_edit(library: Library, tmp_path: Path) -> None:
    lib = library
    run(lib, "index", "--no-ml", "-q")
    _user_edits(lib)
    before = run(lib, "export").stdout
    assert '"favorite": true' in before and "Grandma's garden" in before
    users_before = run(lib, "users", "list", "--json").stdout
    sidecars_before = sorted(p.relative_to(lib.storage) for p in (lib.storage / "sidecars").rglob("*.yml"))
    assert sidecars_before

    dest = tmp_path / "backup"
    made = json.loads(run(lib, "backup", str(dest), "--json").stdout)
    assert made["counts"]["albums"] == 1 and made["counts"]["people"] == 1 and made["counts"]["users"] == 2
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["backend"] == ("sqlite" if lib.database_url.startswith("sqlite:") else "mariadb")
    assert manifest["schema_version"] >= 10 and manifest["counts"] == made["counts"]
    assert (dest / manifest["catalog"]).is_file() and (dest / "users.yaml").is_file()
    assert "thumbs" not in os.listdir(dest)  # rebuildable, so not backed up
    assert "[library]" in (dest / "config.toml").read_text()

    _wipe(lib)
    restored = json.loads(run(lib, "backup", "restore", str(dest), "--json").stdout)
    assert restored["differences"] == []
    assert run(lib, "export").stdout == before
    assert run(lib, "users", "list", "--json").stdout == users_before
    assert sorted(p.relative_to(lib.storage) for p in (lib.storage / "sidecars").rglob("*.yml")) == sidecars_before
    assert run(lib, "search", "--json", "Grandma").stdout.count("\n") == 1  # the search index came back too

    # Thumbnails are not in a backup: `index --force` (what restore tells you to run) rebuilds them, keeping edits.
    assert not (lib.storage / "thumbs").exists() or not any((lib.storage / "thumbs").rglob("*.jpg"))
    run(lib, "index", "--force", "--no-ml", "-q")
    assert any((lib.storage / "thumbs").rglob("*.*"))
    kept = ("id", "uid", "path", "title", "favorite", "private", "faces")
    after = [{k: r[k] for k in kept} for r in map(json.loads, run(lib, "export").stdout.splitlines())]
    assert after == [{k: r[k] for k in kept} for r in map(json.loads, before.splitlines())]


def test_restore_refuses_a_catalog_that_holds_data(library: Library, tmp_path: Path) -> None:
    lib = library
    run(lib, "index", "--no-ml", "-q")
    dest = tmp_path / "backup"
    run(lib, "backup", str(dest))
    with write_transaction(lib.db):
        Photo.update(title="changed after the backup").where(Photo.id == Photo.select().first().id).execute()
    refused = run(lib, "backup", "restore", str(dest), check=False)
    assert refused.returncode == 1 and "not restoring over data" in refused.stderr and "--force" in refused.stderr
    assert "changed after the backup" in run(lib, "export").stdout  # nothing was lost
    lib.db.close()
    run(lib, "backup", "restore", "--force", str(dest))
    assert "changed after the backup" not in run(lib, "export").stdout


def test_backup_refuses_a_folder_that_is_not_empty_and_a_damaged_backup(library: Library, tmp_path: Path) -> None:
    lib = library
    run(lib, "index", "--no-ml", "-q")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    proc = run(lib, "backup", str(full), check=False)
    assert proc.returncode == 1 and "not empty" in proc.stderr and (full / "keep.txt").read_text() == "mine"
    proc = run(lib, "backup", str(lib.storage / "sidecars" / "backup"), check=False)
    assert proc.returncode == 1 and "inside the sidecar folder" in proc.stderr
    proc = run(lib, "backup", str(lib.originals / "backup"), check=False)
    assert proc.returncode == 1 and "inside the originals" in proc.stderr
    dest = tmp_path / "backup"
    run(lib, "backup", str(dest))
    catalog = dest / json.loads((dest / "manifest.json").read_text())["catalog"]
    with open(catalog, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\0garbage\0")
    lib.db.close()
    proc = run(lib, "backup", "restore", "--force", str(dest), check=False)
    assert proc.returncode == 1 and "damaged" in proc.stderr
    assert run(lib, "stats", "--json").returncode == 0  # the catalog there was left alone
    proc = run(lib, "backup", "restore", str(tmp_path), check=False)
    assert proc.returncode == 1 and "not a photoshelf backup" in proc.stderr


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_mariadb_backup_without_the_dump_tool_names_it(library: Library, tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()  # a PATH with neither mariadb-dump nor mysqldump on it
    proc = run(library, "backup", str(tmp_path / "backup"), check=False, PATH=str(bare))
    assert proc.returncode == 1 and not (tmp_path / "backup").exists()
    assert "mariadb-dump" in proc.stderr and "mysqldump" in proc.stderr and "mariadb-client" in proc.stderr


def test_the_database_password_is_not_kept() -> None:
    assert backup.redacted_url("mysql://shelf:s3cret@db:3307/photos") == "mysql://shelf:***@db:3307/photos"
    assert backup.redacted_url("sqlite:////data/catalog.db") == "sqlite:////data/catalog.db"


def test_backup_while_the_catalog_is_written(library: Library, tmp_path: Path) -> None:
    """The daemon keeps writing during a backup: the copy is one consistent moment and passes its check."""
    lib = library
    from photoshelf.library import index_library

    index_library(lib.config, lib.db)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            with write_transaction(lib.db):  # a pair of rows per transaction: a copy holds both or neither
                n = written[0]
                Setting.insert(key=f"test.a.{n}", value="x").execute()
                Setting.insert(key=f"test.b.{n}", value="x").execute()
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            stop.wait(0.01)
        reports = [backup.create(lib.config, lib.db, tmp_path / f"b{i}") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert written[0] > 20
    for report in reports:
        manifest = backup.read_manifest(report.path)  # checksum verified
        if manifest["backend"] == "sqlite":
            import peewee

            copy = peewee.sqlite3.connect(str(report.path / manifest["catalog"]))  # type: ignore[attr-defined]
            try:
                a = copy.execute("select count(*) from setting where key like 'test.a.%'").fetchone()[0]
                b = copy.execute("select count(*) from setting where key like 'test.b.%'").fetchone()[0]
                assert copy.execute("pragma integrity_check").fetchone()[0] == "ok"
            finally:
                copy.close()
        else:  # the dump, loaded into a database of its own
            a, b = _counts_in_dump(tmp_path, report.path / manifest["catalog"])
        assert a == b and a > 0


def _counts_in_dump(tmp_path: Path, dump: Path) -> tuple[int, int]:
    url = catalog_url("mariadb", tmp_path, "dump")
    try:
        load_mariadb(url, dump)
        db = make_database(url)
        db.connect()
        a = db.execute_sql("select count(*) from setting where `key` like %s", ("test.a.%",)).fetchone()[0]
        b = db.execute_sql("select count(*) from setting where `key` like %s", ("test.b.%",)).fetchone()[0]
        db.close()
        return int(a), int(b)
    finally:
        admin = _mariadb_admin()
        admin.connect()
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
        admin.close()

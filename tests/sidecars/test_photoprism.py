"""`photoshelf import-photoprism` against a PhotoPrism library laid out as PhotoPrism leaves it (tests/prism_library.py):
its database on SQLite (index.db) and MariaDB, and its YAML sidecars; both catalog backends."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import prism_library as prism
import pytest

from photoshelf.db.backends import make_database
from photoshelf.db.schema import Album, AlbumPhoto, Face, File, Person, Photo, PhotoEdit, PhotoLabel
from photoshelf.db.transactions import write_transaction

from conftest import Library, _mariadb_admin, catalog_url
from support import cli_env


def run(lib: Library, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=cli_env(
        lib, PHOTOSHELF_MODELS_ENABLED="false"), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"photoshelf {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _photo(rel: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == rel).photo_id)


@pytest.fixture
def prism_url(library: Library, tmp_path: Path) -> Iterator[str]:
    """PhotoPrism's database on the same backend as the catalog: storage/index.db, or a MariaDB database."""
    backend = "sqlite" if library.database_url.startswith("sqlite:") else "mariadb"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'photoprism' / 'index.db'}"
        (tmp_path / "photoprism").mkdir()
    else:
        url = catalog_url("mariadb", tmp_path, "photoprism")
    db = make_database(url)
    db.connect()
    prism.build_database(db)
    db.close()
    yield url
    if backend == "mariadb":
        admin = _mariadb_admin()
        admin.connect()
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
        admin.close()


def _faces_found_here(lib: Library) -> dict[str, int]:
    """Faces photoshelf's detector would have found on the family photo (as `enrich` stores them)."""
    photo = _photo(prism.FAMILY)
    boxes = {"obama": (0.19, 0.21, 0.15, 0.23), "biden": (0.61, 0.16, 0.14, 0.21), "far": (0.4, 0.7, 0.1, 0.1)}
    with write_transaction(lib.db):
        return {name: Face.create(photo=photo.id, x=b[0], y=b[1], w=b[2], h=b[3], score=0.9, model="test").id
                for name, b in boxes.items()}


def test_import_from_photoprisms_database(library: Library, prism_url: str) -> None:
    lib = library
    run(lib, "index", "--no-ml", "-q")
    faces = _faces_found_here(lib)
    db_file = Path(prism_url[len("sqlite:///"):]) if prism_url.startswith("sqlite:") else None
    digest = hashlib.sha256(db_file.read_bytes()).hexdigest() if db_file else None
    report = json.loads(run(lib, "import-photoprism", "--database", prism_url, "--json").stdout)
    assert report["photos"] == len(prism.PHOTOS) and report["applied"] == 5 and report["unmatched"] == 1
    assert report["unmatched_paths"] == ["Deleted/gone.jpg"]
    if db_file is not None:
        assert hashlib.sha256(db_file.read_bytes()).hexdigest() == digest  # opened read-only: not even WAL

    cat, dog, utah = _photo(prism.CAT), _photo(prism.DOG), _photo(prism.UTAH)
    assert cat.favorite and cat.title == "Kitty on the sofa" and cat.description == "Our first cat"
    assert "title" in cat.locked  # re-indexing keeps what a person wrote
    assert cat.keywords != "cat, animal"  # PhotoPrism's generated keywords are not a person's
    assert dog.private and dog.title != "Dog / Germany / 2019"  # a generated title is not carried
    assert utah.archived and utah.keywords == "gas station, utah"
    assert utah.taken_at.isoformat().startswith("2021-12-31T23:30") and "taken_at" in utah.locked
    assert utah.lat is not None and utah.lon is not None
    assert (round(utah.lat, 3), round(utah.lon, 3)) == (39.1, -108.4)
    assert _photo(prism.PNG).title == "A drawing"  # no hash in PhotoPrism: found by its path

    albums = {a.title: a for a in Album.select()}
    assert list(albums) == ["Pets"]  # month and folder albums are PhotoPrism's own views
    members = [e.photo.id for e in AlbumPhoto.select().where(AlbumPhoto.album == albums["Pets"].id)
               .order_by(AlbumPhoto.position)]
    assert members == [cat.id, _photo(prism.FAMILY).id]  # the dog was hidden from the album in PhotoPrism
    assert albums["Pets"].description == "Cats and dogs"

    labels = {(pl.photo_id, pl.name, pl.source) for pl in PhotoLabel.select()}
    assert labels == {(cat.id, "cat", "user")}  # machine labels and a removed (uncertainty 100) one are not

    named = {f.id: (f.person.name if f.person else None, f.assigned_by) for f in Face.select()}
    assert named[faces["obama"]] == ("Barack Obama", "user") and named[faces["biden"]] == ("Joe Biden", "user")
    assert named[faces["far"]] == (None, None)
    assert report["people_named"] == 2 and report["people_unmatched"] == 0

    # Importing again changes nothing: no second album, entry, label or person.
    again = json.loads(run(lib, "import-photoprism", "--database", prism_url, "--json").stdout)
    assert again["albums_created"] == 0 and again["album_entries"] == 0 and again["labels"] == 0
    assert Album.select().count() == 1 and Person.select().count() == 2
    shown = json.loads(run(lib, "show", "--json", prism.CAT).stdout)
    assert shown["favorite"] is True and shown["title"] == "Kitty on the sofa"


def test_import_only_adds(library: Library, prism_url: str) -> None:
    """What photoshelf's users did stays: their albums, rotations, flags and hand-written titles."""
    lib = library
    run(lib, "index", "--no-ml", "-q")
    cat, utah = _photo(prism.CAT), _photo(prism.UTAH)
    with write_transaction(lib.db):
        mine = Album.create(uid="a" + secrets.token_hex(8), title="Mine")
        AlbumPhoto.create(album=mine, photo=cat.id, position=1)
        PhotoEdit.create(photo=cat.id, rotation=90)
        Photo.update(title="My own title", locked="title", favorite=True).where(Photo.id == utah.id).execute()
    run(lib, "import-photoprism", "--database", prism_url)
    assert AlbumPhoto.select().where((AlbumPhoto.album == mine.id) & (AlbumPhoto.photo == cat.id)).exists()
    assert PhotoEdit.get(PhotoEdit.photo == cat.id).rotation == 90
    utah = _photo(prism.UTAH)
    assert utah.title == "My own title" and utah.favorite and utah.archived


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_import_from_photoprisms_sidecars(library: Library, tmp_path: Path) -> None:
    """A PhotoPrism whose database is gone: its sidecars and album files still carry most of it."""
    lib = library
    run(lib, "index", "--no-ml", "-q")
    sidecar, albums_dir = prism.write_storage(tmp_path / "photoprism-storage")
    report = json.loads(run(lib, "import-photoprism", str(sidecar), "--albums", str(albums_dir), "--json").stdout)
    assert report["applied"] == 3 and report["unmatched"] == 0 and report["errors"] == 0
    cat, dog, utah = _photo(prism.CAT), _photo(prism.DOG), _photo(prism.UTAH)
    assert cat.favorite and cat.title == "Kitty on the sofa" and cat.description == "Our first cat"
    assert dog.private and dog.title != "Dog / Germany / 2019"
    assert utah.archived and utah.keywords == "gas station, utah" and "taken_at" in utah.locked
    album = Album.get(Album.title == "Pets")
    assert [e.photo.id for e in AlbumPhoto.select().where(AlbumPhoto.album == album.id)] == [cat.id]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_photoprism_input_is_a_clear_error(library: Library, tmp_path: Path) -> None:
    lib = library
    proc = run(lib, "import-photoprism", check=False)
    assert proc.returncode == 2 and "--database" in proc.stderr
    proc = run(lib, "import-photoprism", "--database", f"sqlite:///{tmp_path / 'nope.db'}", check=False)
    assert proc.returncode == 2 and "no PhotoPrism database" in proc.stderr
    other = tmp_path / "other.db"
    db = pw.SqliteDatabase(str(other))
    db.execute_sql("create table something (id integer)")
    db.close()
    proc = run(lib, "import-photoprism", "--database", f"sqlite:///{other}", check=False)
    assert proc.returncode == 1 and "not a PhotoPrism database" in proc.stderr

"""The full-text index of free text (migration 13): the same photos as the LIKE scans, kept in step by triggers
through edits, new and moved files and deletions, and repaired when its triggers are gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from photoshelf import search
from photoshelf.db.backends import is_sqlite
from photoshelf.db.migrations import m0013_fulltext, m0015_mariadb_fulltext
from photoshelf.db.schema import File, Photo

from conftest import Library, indexed_subset

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/example.png", "Family/Barack/obama2.jpg"]
WORDS = ["pets", "PETS", "ets/d", "fiji", "misc/formats", "example.png", "2019", "obama", "Barack/obama2",
         "café", "jpg", "nothing-like-this", "%", "_", '"', "o'b", "Pets/cat_brown.jpg", "pe\x00ts"]


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, SUBSET)
    yield library
    library.db.close()


def found(text: str) -> set[int]:
    return {p.id for p in search.build(search.parse(text))}


def scanned(text: str, monkeypatch: pytest.MonkeyPatch) -> set[int]:
    with monkeypatch.context() as m:
        m.setattr(search, "FULLTEXT_MIN", 10**6)  # the LIKE scans
        return found(text)


def test_same_photos_as_the_scans_and_kept_in_step(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = is_sqlite(getattr(lib.db, "obj", None) or lib.db)
    assert m0013_fulltext.available(lib.db) == sqlite  # MariaDB keeps the LIKE scans
    for word in WORDS:
        for text in (word, f"!{word.replace(chr(34), '')}" if word != '"' else "x"):
            if text.count('"') % 2:
                continue
            assert found(text) == scanned(text, monkeypatch), text
    assert len(found("pets")) == 2

    cat = int(File.select(File.photo).where(File.name == "cat_brown.jpg").scalar())
    # An edited title, a place, a file moved, a new file: the index follows at once.
    Photo.update(title="Whiskers on the sofa", city="Tübingen").where(Photo.id == cat).execute()
    assert found("whiskers") == found("TÜBINGEN") == {cat} == scanned("whiskers", monkeypatch)
    File.update(path="2016/Katzen/cat_brown.jpg").where(File.name == "cat_brown.jpg").execute()
    assert found("katzen") == {cat} and cat not in found("pets")
    assert found("pets") == scanned("pets", monkeypatch)
    # A photo deleted leaves no row behind.
    Photo.delete().where(Photo.id == cat).execute()
    assert found("whiskers") == set()
    if sqlite:
        rows = lib.db.execute_sql("SELECT count(*) FROM photo_fts").fetchone()[0]
        assert rows == Photo.select().count()


def test_install_repairs_dropped_triggers(lib: Library) -> None:
    if not is_sqlite(getattr(lib.db, "obj", None) or lib.db):
        m0013_fulltext.install(lib.db)  # nothing on MariaDB, and no error
        assert not m0013_fulltext.available(lib.db)
        return
    for name in m0013_fulltext.TRIGGERS:
        lib.db.execute_sql(f"DROP TRIGGER {name}")  # as a table rebuild in a later migration would
    dog = int(File.select(File.photo).where(File.name == "dog_orange.jpg").scalar())
    Photo.update(title="Rex").where(Photo.id == dog).execute()
    assert found("rex") == set()  # stale without its triggers
    m0013_fulltext.install(lib.db)
    assert found("rex") == {dog}
    Photo.update(title="Max").where(Photo.id == dog).execute()
    assert found("max") == {dog} and found("rex") == set()


def test_mariadb_fulltext_indexes(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """MariaDB (migration 15): free text through InnoDB FULLTEXT, each word as a word start, stop words indexed,
    and words shorter than innodb_ft_min_token_size through the LIKE scans."""
    # The models' proxy is seen through (it once read as MariaDB, and SQLite searched its vectors the MariaDB way).
    assert is_sqlite(Photo._meta.database) == is_sqlite(lib.db) == (not lib.database_url.startswith("mysql"))
    if is_sqlite(getattr(lib.db, "obj", None) or lib.db):
        assert m0015_mariadb_fulltext.min_token(lib.db) is None
        return
    size = m0015_mariadb_fulltext.min_token(lib.db)
    assert size is not None and size >= 1
    assert m0015_mariadb_fulltext.boolean_query("new york", size) == "+new* +york*"
    assert m0015_mariadb_fulltext.boolean_query("x", size) is None

    def sql(text: str) -> str:
        return str(search.build(search.parse(text)).sql()[0])

    assert "MATCH" in sql("pets") and "MATCH" not in sql("x")
    cat = int(File.select(File.photo).where(File.name == "cat_brown.jpg").scalar())
    Photo.update(title="Whiskers on the sofa").where(Photo.id == cat).execute()
    assert found("sofa") == found("whisk") == {cat}
    # "the" is an InnoDB stop word, indexed all the same; a word start is a part of the words the scans find.
    assert cat in found("the") and found("the") <= scanned("the", monkeypatch)
    assert found("cat_brown") == {cat} == scanned("cat_brown", monkeypatch)
    assert found("2016 pets") == {cat}  # every word, anywhere in the photo's text or its paths

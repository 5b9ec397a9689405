"""Hand edits in a sidecar win over the file's embedded metadata, through index, a forced re-read and restore,
until the person clears them."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

from photoshelf.db.schema import File, Photo, utcnow
from photoshelf.indexer.reread import reread_metadata, stale_ids
from photoshelf.library import index_library
from photoshelf.sidecars.io import load_plain
from photoshelf.sidecars.sync import restore, sidecar_root

from conftest import SMALL_CORPUS, Library, make_library
from support import lose_catalog

CAT = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"
REL = "2016/Mia.jpg"


def _photo() -> Photo:
    return Photo.get_by_id(File.get(File.path == REL).photo_id)


def _locked() -> set[str]:
    return {n for n in (_photo().locked or "").split(",") if n}


def _sidecar(lib: Library) -> Path:
    return sidecar_root(lib.config) / "2016" / "Mia.yml"


def _edit(path: Path, old: str, new: str) -> None:
    """What a person does in an editor; the file ends up newer than the catalog's last change."""
    text = path.read_text(encoding="utf-8")
    assert old in text, text
    path.write_text(text.replace(old, new), encoding="utf-8")
    future = (utcnow() + dt.timedelta(seconds=5)).replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (future, future))


def _titled_library(tmp_path: Path, database_url: str) -> Library:
    """A photo whose file carries its own title (IPTC ObjectName and XMP dc:title), indexed."""
    lib = make_library(tmp_path, database_url, None)
    with lib.user_changes():
        (lib.originals / "2016").mkdir()
        shutil.copy2(CAT, lib.originals / REL)
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-IPTC:ObjectName=Embedded title",
                        "-XMP-dc:Title=Embedded title", "-XMP-dc:Description=Embedded description",
                        str(lib.originals / REL)], check=True)
    index_library(lib.config, lib.db)
    assert _photo().title == "Embedded title"
    return lib


def _lose_catalog(lib: Library, tmp_path: Path) -> None:
    lose_catalog(lib)
    assert Photo.select().count() == 0


def test_a_title_edited_in_the_sidecar_beats_the_file_until_cleared(tmp_path: Path, database_url: str) -> None:
    lib = _titled_library(tmp_path, database_url)
    try:
        sidecar = _sidecar(lib)
        _edit(sidecar, "Title: Embedded title", "Title: Mia on the chair")
        index_library(lib.config, lib.db)
        assert _photo().title == "Mia on the chair"
        assert _locked() == {"title"}
        assert "- title" in sidecar.read_text(encoding="utf-8"), "the sidecar carries the lock"
        assert _photo().description == "Embedded description", "what was not edited still follows the file"

        # The file read again (a forced index, a metadata re-read) does not put its title back.
        index_library(lib.config, lib.db, force=True)
        assert _photo().title == "Mia on the chair"
        reread_metadata(lib.config, lib.db, stale_ids(everything=True))
        assert _photo().title == "Mia on the chair"

        # The catalog is lost: index + restore brings the edit back, still locked.
        _lose_catalog(lib, tmp_path)
        index_library(lib.config, lib.db)
        restore(lib.config, lib.db)
        assert _photo().title == "Mia on the chair" and _locked() == {"title"}
        index_library(lib.config, lib.db, force=True)
        assert _photo().title == "Mia on the chair"

        # The person empties the title in the sidecar: the lock goes and the file's title comes back.
        _edit(sidecar, "Title: Mia on the chair", "Title: ''")
        index_library(lib.config, lib.db)
        assert _photo().title == "Embedded title"
        assert _locked() == set()
        data = load_plain(sidecar)
        assert data is not None and data["Title"] == "Embedded title" and data["Photoshelf"]["Locked"] == []
    finally:
        lib.db.close()


def test_taking_a_field_out_of_locked_gives_the_files_value_back(tmp_path: Path, database_url: str) -> None:
    lib = _titled_library(tmp_path, database_url)
    try:
        sidecar = _sidecar(lib)
        _edit(sidecar, "Description: Embedded description", "Description: Our first cat")
        index_library(lib.config, lib.db)
        assert _photo().description == "Our first cat" and _locked() == {"description"}
        text = sidecar.read_text(encoding="utf-8")
        start = text.index("Locked:")
        end = text.index("\n", text.index("- description", start))
        _edit(sidecar, text[start:end], "Locked: []")
        index_library(lib.config, lib.db)
        assert _photo().description == "Embedded description" and _locked() == set()
    finally:
        lib.db.close()


def test_a_date_and_position_edited_in_the_sidecar_are_kept(tmp_path: Path, database_url: str) -> None:
    lib = _titled_library(tmp_path, database_url)
    try:
        before = _photo()
        offset = dt.timedelta(minutes=before.tz_offset or 0)
        sidecar = _sidecar(lib)
        text = sidecar.read_text(encoding="utf-8")
        old_at = next(line for line in text.splitlines() if line.startswith("TakenAt:"))
        _edit(sidecar, old_at, "TakenAt: 2001-02-03T04:05:06Z")
        lat = next(line for line in sidecar.read_text(encoding="utf-8").splitlines() if line.startswith("Lat:"))
        _edit(sidecar, lat, "Lat: 10.5")
        index_library(lib.config, lib.db)
        after = _photo()
        assert after.taken_at.replace(microsecond=0) == dt.datetime(2001, 2, 3, 4, 5, 6)
        assert after.taken_at_local.replace(microsecond=0) == dt.datetime(2001, 2, 3, 4, 5, 6) + offset
        assert after.lat == 10.5 and after.lon == before.lon
        assert _locked() == {"taken_at", "location"}
        index_library(lib.config, lib.db, force=True)
        again = _photo()
        assert again.taken_at.replace(microsecond=0) == dt.datetime(2001, 2, 3, 4, 5, 6) and again.lat == 10.5
    finally:
        lib.db.close()

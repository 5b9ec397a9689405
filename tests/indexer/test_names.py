"""File names that are not UTF-8 (CP1252/CP437 from old Windows shares): indexed, shown decoded, opened by their bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from logins import viewer_client

from photoshelf.db.schema import File, IndexIssue, Photo
from photoshelf.filenames import decoded, escape, path_hash, rel_of, unescape
from photoshelf.library import index_library
from photoshelf.sidecars.sync import sidecar_root

from conftest import SMALL_CORPUS, Library
from support import unique_jpeg

CAT = (SMALL_CORPUS / "2016/Pets/cat_brown.jpg").read_bytes()
CP1252 = b"Old/Caf\xe9 M\xfcller.jpg"  # "Café Müller.jpg" as Windows wrote it in Western Europe
CP437 = b"Old/Z\x81rich.jpg"  # "Zürich.jpg" from a DOS-era archive (0x81 is no CP1252 character)
BAD_FOLDER = b"Alb\xfcm/cat.jpg"  # a folder whose own name is not UTF-8


def _write(lib: Library, rel: bytes, data: bytes) -> None:
    path = os.fsencode(lib.originals) + b"/" + rel
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _cli(lib: Library, *args: str) -> str:
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_escape_round_trips_every_byte() -> None:
    for raw in (CP1252, CP437, BAD_FOLDER, b"100%/a\xff%41.jpg", bytes(range(1, 256)).replace(b"/", b"")):
        rel = os.fsdecode(raw)
        escaped = escape(rel)
        assert escaped is not None and escaped.isascii()
        assert unescape(escaped) == rel and os.fsencode(unescape(escaped)) == raw
    assert escape("Old/Café.jpg") is None, "a UTF-8 path needs no raw form"
    assert decoded(os.fsdecode(CP1252)) == ("Old/Café Müller.jpg", "cp1252")
    assert decoded(os.fsdecode(CP437)) == ("Old/Zürich.jpg", "cp437")
    assert path_hash(os.fsdecode(CP1252)) != path_hash("Old/Café Müller.jpg"), "keyed by bytes, not by display"


def test_names_that_are_not_utf8_are_indexed_shown_and_served(empty_library: Library) -> None:
    lib = empty_library
    with lib.user_changes():
        _write(lib, CP1252, unique_jpeg(CAT, "cp1252"))
        _write(lib, CP437, unique_jpeg(CAT, "cp437"))
        _write(lib, BAD_FOLDER, unique_jpeg(CAT, "folder"))
        # The same name in UTF-8 beside it (a copy made on Linux): two files, though they show alike.
        _write(lib, "Old/Café Müller.jpg".encode(), unique_jpeg(CAT, "utf8"))
    report = index_library(lib.config, lib.db)
    assert report.errors == 0 and report.new == 4
    assert not IndexIssue.select().where(IndexIssue.severity == "error").exists()
    rows = {os.fsencode(rel_of(f)): f for f in File.select()}
    assert set(rows) == {CP1252, CP437, BAD_FOLDER, "Old/Café Müller.jpg".encode()}
    cp1252, cp437 = rows[CP1252], rows[CP437]
    assert (cp1252.path, cp1252.name, cp1252.error) == ("Old/Café Müller.jpg", "Café Müller.jpg", None)
    assert (cp437.path, cp437.name) == ("Old/Zürich.jpg", "Zürich.jpg")
    assert rows[BAD_FOLDER].path == "Albüm/cat.jpg"
    assert rows["Old/Café Müller.jpg".encode()].raw_path is None
    photos = {raw: Photo.get_by_id(f.photo_id) for raw, f in rows.items()}
    assert len({p.id for p in photos.values()}) == 4 and all(p.has_thumbs for p in photos.values())
    assert photos[CP1252].taken_at_local is not None and photos[CP1252].taken_src == "exif", "exiftool read it"
    assert index_library(lib.config, lib.db).hashed == 0, "a second scan finds them unchanged"
    # Its sidecar is named after the file as the file system has it (beside it, with sidecars.location = originals).
    sidecars = os.fsencode(sidecar_root(lib.config))
    assert os.path.isfile(sidecars + b"/Old/Z\x81rich.yml")
    assert os.path.isfile(sidecars + b"/Alb\xfcm/cat.yml")

    # CLI: show (by id, or by the name as shown) and export carry the decoded name and its encoding.
    shown = json.loads(_cli(lib, "show", "--json", str(photos[CP1252].id)))
    assert shown["path"] == "Old/Café Müller.jpg"
    assert shown["files"][0]["name_encoding"] == "cp1252"
    assert json.loads(_cli(lib, "show", "--json", "Old/Zürich.jpg"))["id"] == photos[CP437].id
    exported = [json.loads(line) for line in _cli(lib, "export").splitlines()]
    assert {r["path"] for r in exported} == {"Old/Café Müller.jpg", "Old/Zürich.jpg", "Albüm/cat.jpg"}

    # The viewer serves the original's bytes, its thumbnail, and marks the name on the photo page.
    with viewer_client(lib.config, lib.db) as client:
        original = client.get(f"/photos/{photos[CP1252].id}/original?download=1")
        assert original.status_code == 200
        assert original.content == (lib.originals.joinpath(os.fsdecode(CP1252))).read_bytes()
        assert "Caf%C3%A9%20M%C3%BCller.jpg" in original.headers["content-disposition"]
        assert client.get(f"/thumb/fit/{photos[CP437].sha1}.jpg").status_code == 200
        page = client.get(f"/photos/{photos[CP437].id}")
        assert page.status_code == 200 and "Old/Zürich.jpg" in page.text and "decoded from" in page.text
        api = client.get(f"/api/v1/photos/{photos[CP1252].id}").json()
        assert api["photo"]["files"][0]["name_encoding"] == "cp1252"

    # A rename (to another legacy name) is followed: same photo, no re-hash.
    renamed = b"Old/Caf\xe9 2.jpg"
    with lib.user_changes():
        os.rename(os.fsencode(lib.originals) + b"/" + CP1252, os.fsencode(lib.originals) + b"/" + renamed)
    report = index_library(lib.config, lib.db)
    assert report.moved == 1 and report.hashed == 0 and report.missing == 0
    moved = File.get(File.path == "Old/Café 2.jpg")
    assert moved.photo_id == photos[CP1252].id and os.fsencode(rel_of(moved)) == renamed
    assert Path(lib.originals, rel_of(moved)).is_file()

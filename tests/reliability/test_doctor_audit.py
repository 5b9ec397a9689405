"""`photoshelf doctor --audit`: every original against the catalog's hash, read-only (nothing written to the
catalog, the thumbnails or the originals), on both backends; bit rot, changes, touches and vanished files found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.audit import audit_originals
from photoshelf.library import index_library

from conftest import Library

VICTIM = "2016/Pets/cat_brown.jpg"  # bit rot
EDITED = "2019/Pets/dog_orange.jpg"  # new bytes and a new mtime, not indexed yet
TOUCHED = "2004/Fiji/smallFiji.JPG"  # new mtime, same bytes
GONE = "Family/Joe/biden2.jpg"


def catalog_rows(db: pw.Database) -> dict[str, list[str]]:
    """Every row of every table, as text: the proof that the audit wrote nothing."""
    out = {}
    for table in sorted(db.get_tables()):
        if table.startswith("vec_"):
            continue  # sqlite-vec's shadow tables mirror the vector table, which is compared
        out[table] = sorted(repr(r) for r in db.execute_sql(f"SELECT * FROM {table}").fetchall())
    return out


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def cli(lib: Library, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url)
    return subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def flip_a_byte_keeping_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_clean_library_then_bit_rot_and_friends(library: Library) -> None:
    lib = library
    index_library(lib.config, lib.db)
    rows, thumbs = catalog_rows(lib.db), files_under(lib.storage / "thumbs")

    clean = cli(lib, "doctor", "--audit", "--json")
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["ok"] and report["findings"] == [] and report["checked"] >= 30
    text = cli(lib, "doctor", "--audit")
    assert text.returncode == 0 and "all match the catalog" in text.stdout

    with lib.user_changes():  # the disk and the user, not photoshelf
        flip_a_byte_keeping_mtime(lib.originals / VICTIM)
        (lib.originals / EDITED).write_bytes((lib.originals / EDITED).read_bytes() + b"\0")
        os.utime(lib.originals / TOUCHED, ns=(0, 1_500_000_000 * 10**9))
        (lib.originals / GONE).unlink()
    found = cli(lib, "doctor", "--audit", "--json")
    assert found.returncode == 1, found.stderr
    by_path = {f["path"]: f for f in json.loads(found.stdout)["findings"]}
    assert {p: f["problem"] for p, f in by_path.items()} == {
        VICTIM: "bitrot", EDITED: "modified", TOUCHED: "touched", GONE: "vanished"}
    assert "same size" in by_path[VICTIM]["detail"]
    text = cli(lib, "doctor", "--audit")
    assert text.returncode == 1
    assert f"bitrot     {VICTIM}" in text.stdout and "silent corruption" in text.stdout
    assert "4 found (1 bitrot, 1 modified, 1 touched, 1 vanished)" in text.stdout

    # Read-only: the catalog, the thumbnails (and, by the originals audit of every test, the originals).
    assert catalog_rows(lib.db) == rows
    assert files_under(lib.storage / "thumbs") == thumbs


def test_library_function_and_unreadable_files(library: Library) -> None:
    lib = library
    index_library(lib.config, lib.db)
    calls: list[tuple[str, int, int]] = []
    report = audit_originals(lib.config, progress=lambda *a: calls.append(a), workers=2)
    assert report.ok and report.checked == calls[-1][1] == calls[-1][2] and calls[0] == ("audit", 0, report.checked)
    assert report.bytes_read == sum((lib.originals / p).stat().st_size for p in _hashed_paths())
    with lib.user_changes():
        (lib.originals / VICTIM).unlink()
        (lib.originals / VICTIM).mkdir()  # a folder where the file was: cannot be read as a file
    report = audit_originals(lib.config)
    assert [(f.path, f.problem) for f in report.findings] == [(VICTIM, "unreadable")]
    assert report.as_dict()["counts"] == {"unreadable": 1}


def _hashed_paths() -> list[Any]:
    from photoshelf.db.schema import File

    return [f.path for f in File.select().where(File.sha1.is_null(False) & File.missing_since.is_null())]


def test_no_catalog_is_a_clear_error(empty_library: Library, tmp_path: Path) -> None:
    lib = empty_library
    lib.database_url = f"sqlite:///{tmp_path / 'nowhere' / 'catalog.db'}"
    proc = cli(lib, "doctor", "--audit")
    assert proc.returncode == 3 and "no catalog at" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nowhere").exists()

"""LibRaw's complaints on stderr ("unknown file: data corrupted at …") become the file's recorded warning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from photoshelf.db.schema import File, IndexIssue
from photoshelf.library import index_library

from conftest import SMALL_CORPUS, Library

DNG = SMALL_CORPUS / "Raw/2019-06-06 Canon 6D/IMG_6D_0001.DNG"


def _issues(rel: str) -> list[str]:
    f = File.get(File.path == rel)
    return [i.reason for i in IndexIssue.select().where(IndexIssue.file == f.id)]


def test_a_truncated_dng_gets_libraws_messages_as_its_warning(empty_library: Library,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    lib = empty_library
    # Renditions larger than the DNG's 1024-px preview: LibRaw decodes the (cut) raw data itself.
    lib.reconfigure(PHOTOSHELF_THUMBNAILS_FIT_SIZE="1600")
    data = DNG.read_bytes()
    with lib.user_changes():
        (lib.originals / "cut.dng").write_bytes(data[: len(data) // 2])
        shutil.copy(DNG, lib.originals / "whole.dng")
    capfd.readouterr()
    index_library(lib.config, lib.db)
    err = capfd.readouterr().err
    issues = _issues("cut.dng")
    assert any(r.startswith("LibRaw: Premature end of JPEG file") for r in issues), issues
    assert "Premature end of JPEG file" not in err, "the bare line no longer reaches the console"
    assert not any(r.startswith("LibRaw") for r in _issues("whole.dng")), "a good file gets nobody else's lines"


def test_the_corpus_corrupt_raw_stubs_are_named(full_corpus: Path, empty_library: Library) -> None:
    lib = empty_library
    with lib.user_changes():
        for rel in ("Raw/Nikon/DSC_0070.NEF", "Raw/Fuji/DSCF5001.RAF"):
            (lib.originals / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(full_corpus / rel, lib.originals / rel)
    index_library(lib.config, lib.db)
    assert "LibRaw: data corrupted at 1378" in _issues("Raw/Nikon/DSC_0070.NEF")
    assert "LibRaw: Unexpected end of file" in _issues("Raw/Fuji/DSCF5001.RAF")

"""Crash safety: kill -9 the indexer mid-run, run again, and nothing is doubled or lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from photoshelf.db.schema import File, Photo, Thumbnail
from photoshelf.library import index_library

from conftest import SMALL_CORPUS, Library
from support import cli_env, count_rows, kill_9, start_cli, unique_jpeg

N_FILES = 160


@pytest.mark.slow
def test_kill_9_mid_index_then_resume(empty_library: Library) -> None:
    lib = empty_library
    source = (SMALL_CORPUS / "2016/Pets/cat_brown.jpg").read_bytes()
    with lib.user_changes():
        for i in range(N_FILES):
            folder = lib.originals / f"roll{i // 40}"
            folder.mkdir(exist_ok=True)
            (folder / f"IMG_{i:04d}.jpg").write_bytes(unique_jpeg(source, f"crash-{i}"))
    env = cli_env(lib, PHOTOSHELF_INDEX_BATCH_SIZE="16", PHOTOSHELF_INDEX_WORKERS="1")
    proc = start_cli(env, "index", "--quiet")
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        committed = count_rows(lib.database_url)
        if committed >= 32:
            break
        time.sleep(0.02)
    assert kill_9(proc), f"the index finished before it could be killed: {proc.stderr.read()!r}"
    assert 0 < committed < N_FILES
    # The next run resumes: it reads only what was not committed and doubles nothing.
    report = index_library(lib.config, lib.db)
    assert report.interrupted_before
    assert report.unchanged >= committed
    assert report.hashed <= N_FILES - committed + 16  # at most the batch in flight is read again
    assert File.select().count() == N_FILES
    assert len({f.path for f in File.select()}) == N_FILES
    assert Photo.select().count() == N_FILES
    assert Photo.select().where(Photo.has_thumbs == False).count() == 0  # noqa: E712
    assert Thumbnail.select().count() == 2 * N_FILES
    again = index_library(lib.config, lib.db)
    assert again.hashed == 0 and again.unchanged == N_FILES


def test_interrupted_run_is_recorded(empty_library: Library, tmp_path: Path) -> None:
    """A run record left 'running' by a dead process is marked interrupted by the next run."""
    from photoshelf import jobs

    jobs.start("index", {"paths": [""]})
    report = index_library(empty_library.config, empty_library.db)
    assert report.interrupted_before
    assert jobs.interrupted_runs("index") == []

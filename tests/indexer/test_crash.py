"""Crash safety: kill -9 the indexer mid-run, run again, and nothing is doubled or lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photoshelf.db.backends import make_database
from photoshelf.db.schema import File, Photo, Thumbnail
from photoshelf.indexer.pipeline import index_library

from conftest import SMALL_CORPUS, Library
from support import unique_jpeg

N_FILES = 160


def _count_files(url: str) -> int:
    db = make_database(url)
    try:
        db.connect()
        return int(db.execute_sql("SELECT COUNT(*) FROM file").fetchone()[0])
    except Exception:  # noqa: BLE001 - the table may not exist yet
        return 0
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_mid_index_then_resume(empty_library: Library) -> None:
    lib = empty_library
    source = (SMALL_CORPUS / "2016/Pets/cat_brown.jpg").read_bytes()
    with lib.user_changes():
        for i in range(N_FILES):
            folder = lib.originals / f"roll{i // 40}"
            folder.mkdir(exist_ok=True)
            (folder / f"IMG_{i:04d}.jpg").write_bytes(unique_jpeg(source, f"crash-{i}"))
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url, PHOTOSHELF_INDEX_BATCH_SIZE="16", PHOTOSHELF_INDEX_WORKERS="1")
    proc = subprocess.Popen([sys.executable, "-m", "photoshelf.cli", "index", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        committed = _count_files(lib.database_url)
        if committed >= 32:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the index finished before it could be killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
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

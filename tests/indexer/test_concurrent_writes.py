"""`photoshelf index` while the viewer writes: a real index process beside a second process doing favorite edits
through the viewer's writer (CatalogAccess), several a second, on both backends. Nobody may see "locked"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from photoshelf.library import index_library

from conftest import SMALL_CORPUS, Library
from support import unique_jpeg

N_FILES = 120  # unique JPEGs on top of the small corpus: enough batches for the writer to land between

# The viewer's write path in a second process: a favorite toggle in the shape of photos.update (read the photo,
# then write it, one transaction) through CatalogAccess's writer thread, every 50 ms until the stop file appears.
WRITER = """
import json, os, sys, time
from photoshelf.config import load_config
from photoshelf.db.catalog import open_catalog
from photoshelf.db.schema import Photo, utcnow
from photoshelf.viewer.catalog import CatalogAccess

def favorite(photo_id, value):
    photo = Photo.get_by_id(photo_id)
    Photo.update(favorite=value, updated_at=utcnow()).where(Photo.id == photo.id).execute()

access = CatalogAccess(open_catalog(load_config(), create=False))
ids = [p.id for p in Photo.select(Photo.id).order_by(Photo.id)]
print("ready", flush=True)
writes = 0
while not os.path.exists(sys.argv[1]):
    access.write_now(favorite, ids[writes % len(ids)], writes % 2 == 0)
    writes += 1
    time.sleep(0.05)
access.close()
print(json.dumps({"writes": writes}), flush=True)
"""


def _env(lib: Library) -> dict[str, str]:
    return dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
                PHOTOSHELF_DATABASE=lib.database_url, PHOTOSHELF_INDEX_BATCH_SIZE="4", COLUMNS="200")


def test_index_beside_viewer_writes(library: Library, tmp_path: Path) -> None:
    lib = library
    cat = (SMALL_CORPUS / "2016/Pets/cat_brown.jpg").read_bytes()
    first = index_library(lib.config, lib.db)  # the photos the writer edits
    with lib.user_changes():
        for i in range(N_FILES):  # new files for the index run to write, batch after batch
            folder = lib.originals / f"roll{i // 40}"
            folder.mkdir(exist_ok=True)
            (folder / f"IMG_{i:04}.jpg").write_bytes(unique_jpeg(cat, f"concurrent {i}"))
    lib.db.close()
    env = _env(lib)
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(stop)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read() if writer.stderr else ""
        started = time.monotonic()
        index = subprocess.run([sys.executable, "-m", "photoshelf.cli", "index", "--force", "--no-ml", "--json"],
                               env=env, capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - started
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert index.returncode == 0, index.stderr[-3000:]
    assert "locked" not in index.stderr.lower() and "deadlock" not in index.stderr.lower()
    report = json.loads(index.stdout)
    assert report["seen"] == first.seen + N_FILES and report["new"] == N_FILES  # every file indexed
    assert writer.returncode == 0, err[-3000:]
    writes = json.loads(out.strip().splitlines()[-1])["writes"]
    assert writes >= min(5, seconds * 5), (writes, seconds)  # the writer really wrote during the run
    assert "locked" not in err.lower()


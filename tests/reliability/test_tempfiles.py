"""Temp files a killed writer leaves under storage are swept by the next run; a live writer's never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from photoshelf import tempfiles
from photoshelf.library import index_library

from conftest import Library

WRITER = """
import os, sys
from pathlib import Path
from photoshelf import tempfiles
storage, folder = Path(sys.argv[1]), Path(sys.argv[2])
fd, name = tempfiles.mkstemp(folder, storage, ".yml")
os.write(fd, b"half a sidec")
print(name, flush=True)
if sys.argv[3] == "die":
    os._exit(9)  # no clean-up at all, as after kill -9
sys.stdin.read()  # a live writer, until the test closes its stdin
"""


def _writer(storage: Path, folder: Path, how: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(storage), str(folder), how], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_dead_writers_temp_files_go_a_live_ones_stay(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    folder = storage / "thumbs" / "ab" / "cd"
    folder.mkdir(parents=True)
    live, live_temp = _writer(storage, folder, "live")
    dead, dead_temp = _writer(storage, folder, "die")
    dead.wait()
    other_host = folder / ".tmp-nas2.123-abcd.jpg"
    other_host.write_bytes(b"x")
    old_other = folder / ".tmp-nas2.124-efgh.jpg"
    old_other.write_bytes(b"x")
    os.utime(old_other, (time.time() - 2 * tempfiles.STALE_AFTER,) * 2)
    try:
        assert dead_temp.is_file() and live_temp.is_file()
        assert tempfiles.recover(storage, [storage]) == 2
        assert not dead_temp.exists() and not old_other.exists()
        assert live_temp.is_file() and other_host.is_file()
        leases = sorted(os.listdir(storage / tempfiles.LEASES))
        assert leases == [f"{tempfiles._host()}.{live.pid}"]  # the dead writer's lease went with its files
        assert tempfiles.recover(storage, [storage]) == 0  # nothing crashed since: no walk
    finally:
        live.communicate("")
    assert live.returncode == 0
    assert os.listdir(storage / tempfiles.LEASES) == []  # a clean exit gives its lease back


def test_the_next_index_sweeps_what_a_killed_one_left(library: Library) -> None:
    lib = library
    index_library(lib.config, lib.db)
    folder = next(lib.config.thumbs_path.glob("*/*"))
    dead, left = _writer(lib.storage, folder, "die")
    dead.wait()
    assert left.is_file()
    index_library(lib.config, lib.db)
    assert not left.exists()
    assert not list(lib.storage.rglob(".tmp-*"))

"""The long-lived exiftool process dying mid-batch: the reader notices instead of spinning forever."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from photoshelf.media import exiftool as et

from conftest import SMALL_CORPUS


def _jpegs(tmp_path: Path, count: int) -> list[str]:
    source = next(p for p in sorted(SMALL_CORPUS.rglob("*.jpg")))
    paths = []
    for i in range(count):
        dest = tmp_path / f"copy{i:04d}.jpg"
        shutil.copyfile(source, dest)
        paths.append(str(dest))
    return paths


def test_reader_raises_at_end_of_output_instead_of_spinning() -> None:
    read, write = os.pipe()
    os.write(write, b"[{partial json")
    os.close(write)
    try:
        with pytest.raises(et.ExifToolStopped, match="output closed"):
            et._read_until(read, b"{ready}", 4096)
    finally:
        os.close(read)


def test_exiftool_killed_mid_batch_is_restarted(tmp_path: Path) -> None:
    paths = _jpegs(tmp_path, 200)
    tool = et.ExifTool()
    try:
        assert tool.version  # started
        pid = tool._thread.submit(lambda: tool._helper._process.pid).result()
        killer = threading.Timer(0.05, os.kill, (pid, signal.SIGKILL))
        started = time.monotonic()
        killer.start()
        result = tool.read_async(paths).result(timeout=120)  # the old reader spun here forever
        killer.join()
        assert time.monotonic() - started < 120
        assert set(result) == set(paths)
        # Killed mid-command: the batch is read again by a new exiftool, so every file has its metadata.
        assert all("File:FileType" in meta or "ExifTool:Error" in meta for meta in result.values())
        assert sum("File:FileType" in meta for meta in result.values()) == len(paths)
        assert tool.read([paths[0]])[paths[0]]["File:FileType"] == "JPEG"
    finally:
        tool.close()

"""The watcher daemon on a real file system with a real observer (inotify) and in polling mode. No mocked events."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from photoshelf.db.schema import File, Job, Photo
from photoshelf.db.settings import heartbeat
from photoshelf.indexer.watcher import Watcher, mount_fstype, network_mounts_under

from conftest import SMALL_CORPUS, Library, make_config
from support import wait_for

CAT = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"
DOG = SMALL_CORPUS / "2019/Pets/dog_orange.jpg"
MODES = ["inotify", "poll"]


def tiny_jpeg(i: int) -> bytes:
    image = Image.new("RGB", (48, 32), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80, comment=f"photoshelf test {i}".encode())
    return buf.getvalue()


def _file(rel: str) -> File | None:
    return File.get_or_none(File.path == rel)


class Running:
    """A Watcher running on a thread of the test process, on the library's catalog."""

    def __init__(self, lib: Library, mode: str) -> None:
        self.config = make_config(lib.originals, lib.storage, lib.database_url, PHOTOSHELF_WATCH_MODE=mode,
                                  PHOTOSHELF_WATCH_POLL_INTERVAL="1", PHOTOSHELF_WATCH_SETTLE_SECONDS="1.5",
                                  PHOTOSHELF_WATCH_HEARTBEAT_SECONDS="1")
        self.watcher = Watcher(self.config, lib.db)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def __enter__(self) -> Watcher:
        self.thread.start()
        wait_for(lambda: self.watcher.ready.is_set() or self.error is not None, 60, "watcher start")
        assert self.error is None, self.error
        return self.watcher

    def __exit__(self, *exc: object) -> None:
        self.watcher.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the watcher did not stop"
        assert self.error is None, self.error


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_watch_follows_uploads_moves_renames_and_deletes(empty_library: Library, mode: str) -> None:
    lib = empty_library
    with Running(lib, mode) as watcher:
        assert watcher.mode == mode
        # An upload written slowly, in chunks, is indexed once and complete.
        data = CAT.read_bytes()
        wait_for(lambda: watcher.idle, what="watcher idle")
        hashed_before = watcher.stats.hashed
        with lib.user_changes():
            (lib.originals / "Phone").mkdir()
            with open(lib.originals / "Phone/upload.jpg", "wb") as fh:
                for i in range(4):
                    fh.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                    fh.flush()
                    time.sleep(0.3)
        wait_for(lambda: (f := _file("Phone/upload.jpg")) is not None and f.photo_id is not None, what="upload")
        time.sleep(1.5)
        wait_for(lambda: watcher.idle, what="watcher idle")  # a second (wrong) indexing pass would show up in this time
        f = _file("Phone/upload.jpg")
        assert f is not None and f.sha1 == hashlib.sha1(data).hexdigest() and f.error is None
        assert watcher.stats.hashed - hashed_before == 1, "the upload must be read once, when complete"
        photo_id = f.photo_id

        # A temp name renamed to its final name (rsync, browsers, WebDAV clients).
        with lib.user_changes():
            (lib.originals / "Phone/.dog.jpg.XyZ123").write_bytes(DOG.read_bytes())
            (lib.originals / "Phone/dog.jpg.part").write_bytes(DOG.read_bytes())
            os.rename(lib.originals / "Phone/.dog.jpg.XyZ123", lib.originals / "Phone/dog.jpg")
        wait_for(lambda: (f := _file("Phone/dog.jpg")) is not None and f.photo_id is not None, what="renamed upload")
        assert _file("Phone/dog.jpg.part") is None and _file("Phone/.dog.jpg.XyZ123") is None

        # Rename in place keeps identity, without reading the file again.
        wait_for(lambda: watcher.idle, what="watcher idle")
        hashed_before = watcher.stats.hashed
        with lib.user_changes():
            os.rename(lib.originals / "Phone/upload.jpg", lib.originals / "Phone/cat.jpg")
        wait_for(lambda: _file("Phone/cat.jpg") is not None and _file("Phone/upload.jpg") is None, what="rename")
        assert _file("Phone/cat.jpg").photo_id == photo_id  # type: ignore[union-attr]

        # A whole folder moved keeps identity too.
        with lib.user_changes():
            os.rename(lib.originals / "Phone", lib.originals / "Phone 2019")
        wait_for(lambda: _file("Phone 2019/cat.jpg") is not None and _file("Phone/cat.jpg") is None, what="folder move")
        assert _file("Phone 2019/cat.jpg").photo_id == photo_id  # type: ignore[union-attr]
        assert watcher.stats.hashed == hashed_before, "moves must not re-read files"
        assert Photo.get_by_id(photo_id).missing_since is None

        # A delete marks the photo missing (not dropped).
        with lib.user_changes():
            os.unlink(lib.originals / "Phone 2019/cat.jpg")
        wait_for(lambda: Photo.get_by_id(photo_id).missing_since is not None, what="delete")
        # No job is left behind once everything is processed.
        wait_for(lambda: Job.select().where((Job.kind == "path") & (Job.state == "queued")).count() == 0,
                 what="jobs drained")
        beat = heartbeat()
        assert beat is not None and beat["state"] == "running" and beat["mode"] == mode


def test_a_name_that_is_not_utf8_does_not_stop_the_watcher(empty_library: Library, mode: str) -> None:
    """A CP1252 name from an old Samba share arrives as surrogate-escaped text: indexed under its decoded name, and
    the watcher goes on (Running's exit fails the test if the watcher thread died)."""
    lib = empty_library
    with Running(lib, mode) as watcher:
        wait_for(lambda: watcher.idle, what="watcher idle")
        with lib.user_changes():
            (lib.originals / "Old").mkdir()
            with open(os.fsencode(lib.originals / "Old") + b"/Caf\xe9.jpg", "wb") as fh:
                fh.write(CAT.read_bytes())
            (lib.originals / "Old/after.jpg").write_bytes(DOG.read_bytes())
        wait_for(lambda: (f := _file("Old/after.jpg")) is not None and f.photo_id is not None, what="next upload")
        wait_for(lambda: (f := _file("Old/Café.jpg")) is not None and f.photo_id is not None,
                 what="the odd name indexed")


def test_drop_of_2000_files_is_batched(tmp_path: Path, empty_library: Library, mode: str) -> None:
    lib = empty_library
    if lib.database_url.startswith("mysql") and mode == "poll":
        pytest.skip("the drop is covered by polling on SQLite and by inotify on MariaDB (keeps the suite short)")
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(2000):
        (staging / f"IMG_{i:05d}.jpg").write_bytes(tiny_jpeg(i))
    with Running(lib, mode) as watcher:
        target = lib.originals / "Holiday"
        with lib.user_changes():
            target.mkdir()
            for name in sorted(os.listdir(staging)):
                shutil.copyfile(staging / name, target / name)
        wait_for(lambda: File.select().where(File.photo.is_null(False)).count() == 2000, timeout=240,
                 what="2000 files indexed")
        wait_for(lambda: watcher.idle, what="watcher idle")
        assert Photo.select().count() == 2000
        assert watcher.stats.hashed == 2000, "each file read once"
        assert watcher.stats.runs < 100, f"events must be batched, not one run per file ({watcher.stats.runs} runs)"


@pytest.mark.slow
def test_kill_9_the_daemon_and_restart(tmp_path: Path, empty_library: Library, mode: str) -> None:
    lib = empty_library
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
               PHOTOSHELF_DATABASE=lib.database_url, PHOTOSHELF_WATCH_MODE=mode, PHOTOSHELF_WATCH_POLL_INTERVAL="1",
               PHOTOSHELF_WATCH_SETTLE_SECONDS="0.5", PHOTOSHELF_INDEX_BATCH_SIZE="16", PHOTOSHELF_INDEX_WORKERS="1")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "photoshelf.cli", "watch"], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def indexed() -> int:
        return int(File.select().where(File.photo.is_null(False)).count())

    proc = start()
    wait_for(lambda: heartbeat() is not None, timeout=60, what="daemon heartbeat")
    roll = lib.originals / "roll"
    with lib.user_changes():
        roll.mkdir()
        for i in range(300):
            (roll / f"IMG_{i:04d}.jpg").write_bytes(tiny_jpeg(10_000 + i))
    wait_for(lambda: indexed() >= 20, timeout=120, what="some files indexed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert indexed() < 300, "killed too late to prove anything"
    # Files added while the daemon is down are caught by the startup rescan.
    with lib.user_changes():
        for i in range(300, 320):
            (roll / f"IMG_{i:04d}.jpg").write_bytes(tiny_jpeg(10_000 + i))
    proc = start()
    try:
        wait_for(lambda: indexed() == 320, timeout=180, what="all 320 files indexed after restart")
        assert File.select().count() == 320 and Photo.select().count() == 320
        assert len({f.path for f in File.select()}) == 320
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()  # type: ignore[union-attr]
    assert heartbeat()["state"] == "stopped"  # type: ignore[index]


def test_network_mounts_are_detected(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        "nas:/volume1/photo /mnt/photo nfs4 rw 0 0\n"
        "//nas/share /srv/photos/Shared\\040Folder cifs rw 0 0\n"
    )
    assert mount_fstype(Path("/mnt/photo/2019"), str(mounts)) == ("/mnt/photo", "nfs4")
    assert network_mounts_under(Path("/mnt/photo"), str(mounts)) == [("/mnt/photo", "nfs4")]
    assert network_mounts_under(Path("/srv/photos"), str(mounts)) == [("/srv/photos/Shared Folder", "cifs")]
    assert network_mounts_under(Path("/home/me/Pictures"), str(mounts)) == []

"""Originals that cannot be read are unknown, not deleted: a vanished or empty root (an unmounted share) stops
`index` with one line and marks nothing; an unlistable folder is an issue doctor shows; the watcher waits it out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from photoshelf.db.schema import File
from photoshelf.errors import OriginalsUnavailable
from photoshelf.indexer.pipeline import Indexer
from photoshelf.indexer.watcher import Watcher

from conftest import SMALL_CORPUS, Library, indexed_subset, make_config
from support import unique_jpeg, wait_for

CAT = SMALL_CORPUS / "2016/Pets/cat_brown.jpg"
SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2020/Berlin/digikam.jpg"]


def _cli(lib: Library, *args: str, prefix: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
                PHOTOSHELF_DATABASE=lib.database_url, COLUMNS="200", **env)
    return subprocess.run([*prefix, sys.executable, "-m", "photoshelf.cli", *args], env=full, capture_output=True,
                          text=True, timeout=300)


def _missing() -> int:
    return int(File.select().where(File.missing_since.is_null(False)).count())


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture
def indexed(tmp_path: Path, database_url: str) -> Iterator[Library]:
    lib = indexed_subset(tmp_path, database_url, SUBSET)
    yield lib
    lib.db.close()


def test_vanished_root_stops_index_and_marks_nothing(indexed: Library, tmp_path: Path) -> None:
    lib = indexed
    away = tmp_path / "unmounted"
    with lib.user_changes():  # the share is away while this block runs
        lib.originals.rename(away)
        error = _one_line_error(_cli(lib, "index", "--no-ml"))
        assert "originals folder not found" in error and "nothing was marked missing" in error
        assert _missing() == 0
        away.rename(lib.originals)
    proc = _cli(lib, "index", "--no-ml", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["unchanged"] == len(SUBSET) and _missing() == 0


def test_empty_root_is_an_unmounted_share_unless_allowed(indexed: Library, tmp_path: Path) -> None:
    lib = indexed
    kept = tmp_path / "kept"
    with lib.user_changes():  # the share is away while this block runs
        shutil.move(str(lib.originals), kept)
        lib.originals.mkdir()  # an empty mount point where the share was
        error = _one_line_error(_cli(lib, "index", "--no-ml"))
        assert "is empty" in error and "--allow-empty" in error
        assert _missing() == 0
        # The watcher's scoped runs follow the same rule.
        indexer = Indexer(lib.config, lib.db)
        try:
            with pytest.raises(OriginalsUnavailable, match="is empty"):
                indexer.run([lib.originals / SUBSET[0]], record=False)
        finally:
            indexer.close()
        assert _missing() == 0
        # The user empties the library on purpose.
        proc = _cli(lib, "index", "--no-ml", "--json", "--allow-empty")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["missing"] == len(SUBSET) == _missing()
        lib.originals.rmdir()
        shutil.move(str(kept), lib.originals)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder the user 'nobody' can reach (pytest's tmp_path is root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="photoshelf-unlistable-", dir="/tmp"))
    os.chmod(root, 0o755)
    yield root
    for dirpath, dirs, _files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(root)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user for an unlistable folder")
def test_unlistable_folder_is_an_issue_and_its_photos_stay(shared_tmp: Path, database_url: str) -> None:
    if database_url.startswith("sqlite"):  # the catalog where the daemon's user can write it
        database_url = f"sqlite:///{shared_tmp / 'storage' / 'catalog.db'}"
    lib = indexed_subset(shared_tmp, database_url, SUBSET)
    try:
        nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
        with lib.user_changes():
            (lib.originals / "2021").mkdir()
            (lib.originals / "2021/new.jpg").write_bytes(unique_jpeg(CAT.read_bytes(), "after the permission change"))
            os.chmod(lib.originals / "2016", 0o700)  # root's own: the daemon's user cannot list it
        for dirpath, dirs, files in os.walk(lib.storage):  # the catalog and thumbnails are the daemon's
            for name in dirs:
                os.chmod(os.path.join(dirpath, name), 0o777)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o666)
        os.chmod(lib.storage, 0o777)
        home = {"HOME": str(lib.storage)}
        proc = _cli(lib, "index", "--no-ml", "--json", prefix=nobody, **home)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["missing"] == 0 and report["unreadable"] == 1 and report["new"] == 1  # the scan went on
        assert _missing() == 0
        doctor = _cli(lib, "doctor", "--json", prefix=nobody, **home)
        assert doctor.returncode == 1  # a failed check
        data = json.loads(doctor.stdout)
        assert [(u["path"], "Permission denied" in u["reason"]) for u in data["unreadable"]] == [("2016", True)]
        assert not next(c for c in data["checks"] if c["name"] == "folders")["ok"]
        human = _cli(lib, "doctor", prefix=nobody, **home).stdout
        assert "2016: cannot list folder: Permission denied" in human

        with lib.user_changes():
            os.chmod(lib.originals / "2016", 0o755)
        proc = _cli(lib, "index", "--no-ml", "--json", prefix=nobody, **home)
        assert json.loads(proc.stdout)["unreadable"] == 0
        assert json.loads(_cli(lib, "doctor", "--json", prefix=nobody, **home).stdout)["unreadable"] == []
    finally:
        lib.db.close()


class _Running:
    """A Watcher on a thread of the test process, polling (or checking its root) every second."""

    def __init__(self, lib: Library, mode: str) -> None:
        config = make_config(lib.originals, lib.storage, lib.database_url, PHOTOSHELF_WATCH_MODE=mode,
                             PHOTOSHELF_WATCH_POLL_INTERVAL="1", PHOTOSHELF_WATCH_SETTLE_SECONDS="0.3",
                             PHOTOSHELF_SIDECARS_ENABLED="false", PHOTOSHELF_MODELS_ENABLED="false")
        self.watcher = Watcher(config, lib.db)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.watcher.ready.is_set() or bool(self.errors), 60, "the watcher's startup")

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def alive(self) -> bool:
        return self.thread.is_alive() and not self.errors

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(30)
        assert not self.errors, self.errors


def _back_and_new(lib: Library, running: _Running) -> None:
    """After the share is back: the watcher reads the originals again and follows new photos."""
    wait_for(lambda: running.watcher._unavailable is None, what="the originals back")
    with lib.user_changes():
        (lib.originals / "2021").mkdir()
        (lib.originals / "2021/back.jpg").write_bytes(unique_jpeg(CAT.read_bytes(), "after remount"))
    wait_for(lambda: (f := File.get_or_none(File.path == "2021/back.jpg")) is not None and f.photo_id is not None,
             what="a new photo after the remount")
    assert _missing() == 0


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_watcher_waits_for_vanished_originals(indexed: Library, tmp_path: Path, mode: str) -> None:
    lib = indexed
    running = _Running(lib, mode)
    away = tmp_path / "unmounted"
    try:
        wait_for(lambda: running.watcher.idle, what="the watcher idle")
        with lib.user_changes():  # the share is away while this block runs
            lib.originals.rename(away)
            wait_for(lambda: running.watcher._unavailable is not None, what="the watcher to notice")
            time.sleep(2.5)  # two more tries (poll_interval 1 s) while the share is away
            assert running.alive() and _missing() == 0
            away.rename(lib.originals)
        _back_and_new(lib, running)
    finally:
        running.stop()


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_watcher_started_without_originals_waits(indexed: Library, tmp_path: Path, mode: str) -> None:
    lib = indexed
    away = tmp_path / "unmounted"
    with lib.user_changes():  # the share is away while this block runs
        lib.originals.rename(away)
        running = _Running(lib, mode)
        try:
            assert running.alive() and running.watcher._unavailable is not None and _missing() == 0
            time.sleep(1.5)  # a retry while the share is away
            assert running.alive() and _missing() == 0
            away.rename(lib.originals)
        except BaseException:
            running.stop()
            raise
    try:
        _back_and_new(lib, running)
    finally:
        running.stop()

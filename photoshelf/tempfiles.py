"""Temp files for atomic writes under storage (thumbnails, sidecars), and their clean-up after a crash.

A temp file is named after its writer (`.tmp-<host>.<pid>-…`) and every writing process keeps a lease file
(`<storage>/.writers/<host>.<pid>`) that it removes when it exits. A process killed mid-write (kill -9, power
loss) leaves both behind; the next indexer or enrichment run finds the dead writer's lease and sweeps the temp
files of writers that are gone. The tree is walked only then: a run after a clean exit lists one small folder.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from photoshelf.config import Config

log = logging.getLogger(__name__)

PREFIX = ".tmp-"
LEASES = ".writers"
STALE_AFTER = 24 * 3600.0  # a temp file of another host (or of an older photoshelf) is swept when this old
_NAME = re.compile(r"^\.tmp-(?P<host>.+)\.(?P<pid>\d+)-")
_leases: set[Path] = set()  # the lease files this process holds


def _host() -> str:
    return socket.gethostname().replace("/", "_") or "localhost"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def mkstemp(folder: Path, storage: Path, suffix: str = "") -> tuple[int, str]:
    """A temp file in `folder` (the target's folder, so the final os.replace is atomic), named after this
    process, which holds a lease under `storage` while it runs."""
    lease = storage / LEASES / f"{_host()}.{os.getpid()}"
    if lease not in _leases:
        lease.parent.mkdir(parents=True, exist_ok=True)
        lease.touch()
        if not _leases:
            atexit.register(_release)
        _leases.add(lease)
    return tempfile.mkstemp(prefix=f"{PREFIX}{_host()}.{os.getpid()}-", suffix=suffix, dir=folder)


def _release() -> None:
    for lease in _leases:
        try:
            lease.unlink()
        except OSError:
            pass
    _leases.clear()


def is_stale(name: str, mtime: float, now: float | None = None) -> bool:
    """Whether a temp file's writer is gone: a dead process of this host, or (for other hosts and unnamed
    writers) older than STALE_AFTER."""
    m = _NAME.match(name)
    if m is not None and m["host"] == _host():
        return not _alive(int(m["pid"]))
    return (now if now is not None else time.time()) - mtime > STALE_AFTER


def sweep(roots: Iterable[Path]) -> int:
    """Remove the stale temp files under these folders; returns how many."""
    removed = 0
    now = time.time()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != LEASES]
            for name in files:
                if not name.startswith(PREFIX):
                    continue
                path = os.path.join(folder, name)
                try:
                    if is_stale(name, os.stat(path).st_mtime, now):
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    pass  # its writer finished it after all
    return removed


def recover(storage: Path, roots: Iterable[Path]) -> int:
    """After a crash of a writer of this host (its lease is left), sweep the temp files of dead writers under
    `roots` and drop their leases. Cheap when nothing crashed. Returns how many temp files were removed."""
    folder = storage / LEASES
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    host = _host()
    dead = []
    for name in names:
        owner, _, pid = name.rpartition(".")
        if owner == host and pid.isdigit() and not _alive(int(pid)):
            dead.append(folder / name)
    if not dead:
        return 0
    removed = sweep(roots)
    for lease in dead:
        lease.unlink(missing_ok=True)
    if removed:
        log.warning("removed %d temp files left by %d photoshelf processes that were killed mid-write",
                    removed, len(dead))
    return removed


def recover_storage(config: Config) -> int:
    """recover() for a library: its storage, and its originals when sidecars are written next to the photos."""
    roots = [config.storage_path]
    if config.sidecars.enabled and config.sidecars.location == "originals":
        roots.append(config.originals_path)
    return recover(config.storage_path, roots)

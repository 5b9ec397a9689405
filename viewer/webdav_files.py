"""Writing into a WebDAV upload folder without ever losing a file: uploads go to a temporary name the indexer
ignores and are renamed into place when complete; a name that is taken is never overwritten (a free ` (n)`
name is used instead, or nothing is done when the bytes are the same); the per-user quota.

The only code that writes into the originals. No WebDAV here: viewer/webdav_provider.py maps requests onto it."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from photoshelf.errors import PhotoshelfError

log = logging.getLogger(__name__)

# The indexer's walk and watcher skip `.~tmp*` (and hidden) names: a file there is never indexed half-written.
TEMP_PREFIX = ".~tmp-photoshelf-"
TEMP_SUFFIX = ".part"
CHUNK = 1 << 20
MAX_NAME_BYTES = 255  # what Linux file systems take for one name
MAX_SUFFIX = 10000  # `IMG (1).jpg` ... `IMG (9999).jpg`, then the upload is refused

# Picking a free name and renaming into it happen under one lock, so two uploads of IMG_1.jpg at once get
# IMG_1.jpg and IMG_1 (1).jpg. (photoshelf serve is the one process that writes here.)
_placing = threading.Lock()


class BadName(PhotoshelfError):
    """A path segment that cannot name a file here (control characters, `..`, too long, reserved)."""


class QuotaExceeded(PhotoshelfError):
    """The upload would take the user's folder past webdav.quota_mb."""


class UploadIncomplete(PhotoshelfError):
    """The body ended before the Content-Length the client announced (it went away mid-upload)."""


def check_name(name: str) -> None:
    """Refuse a path segment that must not become a file name (BadName says why)."""
    if name in ("", ".", ".."):
        raise BadName(f"{name!r} is not a file name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadName(f"{name!r}: control characters are not allowed in names")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadName(f"{name!r} is not valid UTF-8") from None
    if size > MAX_NAME_BYTES:
        raise BadName(f"a name may have at most {MAX_NAME_BYTES} bytes, this one has {size}")
    if is_temp(name):
        raise BadName(f"{name!r}: names starting with {TEMP_PREFIX} are photoshelf's unfinished uploads")


def is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


def listable(name: str) -> bool:
    """Whether a name found on disk is shown to WebDAV clients: not an unfinished upload, and valid UTF-8 (a name
    from another system that no URL of ours can reach is left out rather than mangled)."""
    if is_temp(name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def folder_bytes(root: Path) -> int:
    """Bytes of every file under root (unfinished uploads included: they count against the quota too)."""
    total = 0
    stack = [os.fspath(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def candidates(path: Path) -> Iterator[Path]:
    """The name asked for, then `stem (1).ext`, `stem (2).ext`, ... in the same folder."""
    yield path
    stem, ext = os.path.splitext(path.name)
    for n in range(1, MAX_SUFFIX):
        yield path.with_name(f"{stem} ({n}){ext}")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network file systems cannot sync a folder; the rename itself is done
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Placed:
    """Where an upload ended up. `created`: a new file appeared (False: the same bytes were there already, or
    an empty placeholder at the name asked for was filled)."""

    path: Path
    created: bool


def _same_bytes(path: Path, size: int, digest: str) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size and file_digest(path) == digest


def place(temp: Path, target: Path, *, size: int, digest: str) -> Placed:
    """Rename a finished temporary file to `target` or, when that name is taken, to the first free ` (n)` name.
    Nothing is overwritten except an empty file at `target` itself (the placeholder that LOCK and some clients'
    "create, then write" leave); when a candidate already holds these very bytes the temporary file is dropped."""
    with _placing:
        for candidate in candidates(target):
            try:
                st = candidate.lstat()
            except FileNotFoundError:
                os.rename(temp, candidate)
                _fsync_dir(candidate.parent)
                return Placed(candidate, created=True)
            if candidate == target and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.replace(temp, candidate)
                _fsync_dir(candidate.parent)
                return Placed(candidate, created=False)
            if _same_bytes(candidate, size, digest):
                temp.unlink(missing_ok=True)
                return Placed(candidate, created=False)
    temp.unlink(missing_ok=True)
    raise BadName(f"{target.name}: no free name left (up to {MAX_SUFFIX} copies)")


def worth_keeping(path: Path) -> bool:
    """Whether replacing `path` would lose anything: a file with bytes, or a folder with anything in it."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return any(True for _ in os.scandir(path))
    return st.st_size > 0 or not stat.S_ISREG(st.st_mode)


def set_aside(path: Path) -> Path | None:
    """Make room at `path` for a COPY or MOVE with `Overwrite: T`: what is there moves to the first free ` (n)`
    name beside it (returned), or is removed when it holds nothing (an empty file or folder: None)."""
    with _placing:
        if not worth_keeping(path):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
            return None
        for candidate in candidates(path):
            if candidate != path and not os.path.lexists(candidate):
                os.rename(path, candidate)
                _fsync_dir(path.parent)
                log.info("webdav: %s kept as %s (overwritten by a COPY/MOVE)", path, candidate.name)
                return candidate
    raise BadName(f"{path.name}: no free name left to keep it under (up to {MAX_SUFFIX} copies)")


class UploadWriter:
    """The bytes of one upload on their way to `target`: a temporary file beside it, hashed and counted as it is
    written, checked against the quota (`room`: bytes left, None: no quota) and the announced length."""

    def __init__(self, target: Path, *, room: int | None = None, expected: int | None = None) -> None:
        if room is not None and expected is not None and expected > room:
            raise QuotaExceeded(f"this upload ({_mb(expected)}) does not fit in the {_mb(room)} left of the quota")
        self.target = target
        self.room = room
        self.expected = expected
        self.size = 0
        self._hash = hashlib.sha256()
        self.temp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
        self._fd: int | None = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)

    def write(self, data: bytes) -> int:
        if self._fd is None:
            raise ValueError("write to a finished upload")
        if self.room is not None and self.size + len(data) > self.room:
            raise QuotaExceeded(f"the upload goes past the {_mb(self.room)} left of the quota")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        """Flush the bytes to disk; an upload shorter than its Content-Length is refused here."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.expected is not None and self.size != self.expected:
            raise UploadIncomplete(f"the upload ended after {self.size} of {self.expected} bytes")

    def discard(self) -> None:
        """An aborted or refused upload leaves nothing behind."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.temp.unlink(missing_ok=True)

    def commit(self) -> Placed:
        self.close()
        return place(self.temp, self.target, size=self.size, digest=self._hash.hexdigest())


def copy_file(source: Path, target: Path, *, room: int | None) -> Placed:
    """Copy a file by way of a temporary name (the watcher sees it once, complete)."""
    writer = UploadWriter(target, room=room, expected=source.stat().st_size)
    try:
        with open(source, "rb") as fh:
            while chunk := fh.read(CHUNK):
                writer.write(chunk)
        shutil.copystat(source, writer.temp)
        return writer.commit()
    except BaseException:
        writer.discard()
        raise


def copy_tree(source: Path, target: Path, *, room: int | None, depth_infinity: bool = True) -> None:
    """Copy a folder (its files and subfolders unless not `depth_infinity`) to a new folder `target`."""
    if room is not None and depth_infinity and folder_bytes(source) > room:
        raise QuotaExceeded(f"copying {source.name} does not fit in the {_mb(room)} left of the quota")
    target.mkdir()
    if not depth_infinity:
        return
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if not listable(entry.name) or entry.is_symlink():
            continue
        if entry.is_dir():
            copy_tree(Path(entry.path), target / entry.name, room=None)
        elif entry.is_file():
            copy_file(Path(entry.path), target / entry.name, room=None)


def is_cross_device(exc: OSError) -> bool:
    return exc.errno == errno.EXDEV


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"

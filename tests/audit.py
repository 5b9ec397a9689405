"""The originals audit: what every test library's originals folder holds (each path, and each file's SHA-1, size
and mtime), taken when the library is made and compared when the test ends, so a write by photoshelf into the
originals (standing rule 1) fails the test with a diff. tests/conftest.py wires it into every library."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One path under the originals. `digest` is the SHA-1 of a file, the target of a link, "" for a folder."""

    kind: str  # file | dir | link | other
    size: int
    mtime_ns: int
    digest: str
    # Not compared: they say whether a file can have changed since it was last hashed (a write moves ctime).
    inode: int = field(compare=False)
    ctime_ns: int = field(compare=False)

    def same_stat(self, other: Entry) -> bool:
        return (self.kind, self.size, self.mtime_ns, self.inode, self.ctime_ns) == (
            other.kind, other.size, other.mtime_ns, other.inode, other.ctime_ns)


Snapshot = dict[str, Entry]


def _sha1(path: str) -> str:
    h = hashlib.sha1()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError as exc:  # a test may make a file unreadable on purpose: that is its state
        return f"unreadable ({exc.strerror})"
    return h.hexdigest()


def snapshot(root: Path, reuse: Snapshot | None = None) -> Snapshot:
    """Every path under root (symlinks not followed). A file whose stat, ctime included, is the one in `reuse`
    keeps the digest found then instead of being read again."""
    out: Snapshot = {}
    reuse = reuse or {}

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for e in entries:
            rel = prefix + e.name
            st = e.stat(follow_symlinks=False)
            mode = st.st_mode
            kind = ("link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else
                    "file" if stat.S_ISREG(mode) else "other")
            size = st.st_size if kind == "file" else 0
            entry = Entry(kind, size, st.st_mtime_ns if kind == "file" else 0, "", st.st_ino, st.st_ctime_ns)
            if kind == "file":
                old = reuse.get(rel)
                digest = old.digest if old is not None and old.same_stat(entry) else _sha1(e.path)
                entry = Entry(kind, size, st.st_mtime_ns, digest, st.st_ino, st.st_ctime_ns)
            elif kind == "link":
                entry = Entry(kind, 0, 0, os.readlink(e.path), st.st_ino, st.st_ctime_ns)
            out[rel] = entry
            if kind == "dir":
                walk(e.path, rel + "/")

    walk(os.fspath(root), "")
    return out


def _under(rel: str, folders: Iterable[str]) -> bool:
    return any(rel == f or rel.startswith(f + "/") for f in folders)


def _mtime(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _describe(e: Entry) -> str:
    if e.kind == "file":
        return f"file, {e.size} bytes, sha1 {e.digest[:12]}, mtime {_mtime(e.mtime_ns)}"
    return f"{e.kind} -> {e.digest}" if e.kind == "link" else e.kind


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per path that was added, removed or changed (content, size, mtime or kind)."""
    lines = []
    for rel in sorted(before.keys() | after.keys()):
        old, new = before.get(rel), after.get(rel)
        if old == new:
            continue
        if old is None:
            lines.append(f"  added    {rel} ({_describe(new)})")  # type: ignore[arg-type]
        elif new is None:
            lines.append(f"  removed  {rel} ({_describe(old)})")
        elif old.kind != new.kind:
            lines.append(f"  replaced {rel}: {_describe(old)} -> {_describe(new)}")
        else:
            parts = []
            if old.digest != new.digest:
                parts.append(f"{'sha1' if old.kind == 'file' else 'target'} {old.digest[:12]} -> {new.digest[:12]}")
            if old.size != new.size:
                parts.append(f"size {old.size} -> {new.size}")
            if old.mtime_ns != new.mtime_ns:
                parts.append(f"mtime {_mtime(old.mtime_ns)} -> {_mtime(new.mtime_ns)}")
            lines.append(f"  changed  {rel}: {', '.join(parts)}")
    return lines


class OriginalsAudit:
    """The audit of one originals folder.

    `origin` is what the folder held when the library was made (or after the test last played the user); `seen`
    is the last state found clean, which also holds what a test that may grow the folder added (see verify)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.origin = snapshot(root)
        self.seen = self.origin
        self.may_grow: set[str] = set()

    @contextmanager
    def user_changes(self) -> Iterator[None]:
        """The test changes the originals itself (it plays the user: adds, edits, moves, deletes); what the
        folder holds when the block ends is the new state to keep."""
        self.verify(deep=False)  # whatever happened before the block is still photoshelf's doing
        try:
            yield
        finally:
            self.origin = self.seen = snapshot(self.root, reuse=self.seen)

    def verify(self, may_grow: Iterable[str] = (), *, deep: bool = True) -> None:
        """Raise AssertionError with a diff if the folder changed since it was last found clean.

        Paths that were not in `origin` may come, change and go under the subfolders in `may_grow` (and those
        given to allow_growth): the WebDAV upload folder. `deep` reads every file again; otherwise a file whose
        stat (ctime included) is unchanged keeps its digest, which still catches any write through the file
        system but not a disk that flips bits by itself."""
        if not self.root.exists():
            raise AssertionError(f"the originals folder {self.root} was removed")
        now = snapshot(self.root, reuse=None if deep else self.seen)
        growable = self.may_grow | {f.strip("/") for f in may_grow}
        expected = dict(self.seen)
        if growable:
            for rel in (expected.keys() | now.keys()) - self.origin.keys():
                if _under(rel, growable):
                    expected.pop(rel, None)
                    if rel in now:
                        expected[rel] = now[rel]
        lines = diff(expected, now)
        self.seen = now  # reported once: a library that outlives the test does not fail every later test for it
        if lines:
            allowed = f" (additions allowed under: {', '.join(sorted(growable))})" if growable else ""
            raise AssertionError(
                f"the originals under {self.root} changed{allowed}: photoshelf must never write there. A test that "
                "changes them on purpose, playing the user, does it inside `with lib.user_changes():`.\n"
                + "\n".join(lines))

"""`photoshelf doctor --audit`: read every original the catalog has hashed and compare it with that hash, to find
silent changes (bit rot: same size and mtime, other bytes), files changed or touched since the last index, and
files that vanished. Read-only: no catalog writes, no thumbnails, nothing written under the originals."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import peewee as pw

from photoshelf import filenames
from photoshelf.config import Config
from photoshelf.db.backends import connect
from photoshelf.db.schema import File
from photoshelf.errors import DatabaseError, NotFound

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
CHUNK = 1 << 20

# What a finding means, for people (the CLI prints these).
PROBLEMS = {
    "bitrot": "other bytes with the same size and mtime: silent corruption (restore it from a backup)",
    "modified": "changed since the last index (run `photoshelf index`)",
    "touched": "same bytes, but its mtime or size in the catalog differs (run `photoshelf index`)",
    "vanished": "in the catalog, not on disk (moved or deleted since the last index?)",
    "unreadable": "cannot be read",
}


@dataclass
class Finding:
    path: str
    problem: str  # a key of PROBLEMS
    detail: str


@dataclass
class AuditReport:
    checked: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.problem for f in self.findings))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "bytes_read": self.bytes_read,
                "seconds": round(self.seconds, 3), "counts": self.counts(),
                "findings": [asdict(f) for f in self.findings]}


@dataclass(frozen=True)
class _Row:
    path: str  # as shown (photoshelf/filenames.py)
    size: int
    mtime_ns: int
    sha1: str
    raw_path: str | None = None  # the escaped bytes of a name that is not UTF-8


def _read_sha1(path: Path) -> tuple[str, int]:
    """SHA-1 and length of the file's bytes, read without updating its access time where the system allows."""
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)  # O_NOATIME needs the file's owner
    h = hashlib.sha1()
    total = 0
    with os.fdopen(fd, "rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            total += len(chunk)
    return h.hexdigest(), total


def check_file(root: Path, row: _Row) -> tuple[Finding | None, int]:
    """The finding for one catalog row (None when the file is as the catalog says) and the bytes read."""
    path = root / (filenames.unescape(row.raw_path) if row.raw_path else row.path)
    try:
        st = os.stat(path)
        digest, read = _read_sha1(path)
    except (FileNotFoundError, NotADirectoryError):
        return Finding(row.path, "vanished", PROBLEMS["vanished"]), 0
    except OSError as exc:
        return Finding(row.path, "unreadable", f"cannot be read: {exc.strerror or exc}"), 0
    same_stat = st.st_size == row.size and st.st_mtime_ns == row.mtime_ns
    if digest == row.sha1:
        if same_stat:
            return None, read
        return Finding(row.path, "touched", f"same bytes; size {row.size} -> {st.st_size}, mtime "
                                            f"{_when(row.mtime_ns)} -> {_when(st.st_mtime_ns)}"), read
    if same_stat:
        return Finding(row.path, "bitrot", f"sha1 {row.sha1} in the catalog, {digest} on disk, with the same size "
                                           f"({st.st_size}) and mtime ({_when(st.st_mtime_ns)})"), read
    return Finding(row.path, "modified", f"sha1 {row.sha1} -> {digest}, size {row.size} -> {st.st_size}, mtime "
                                         f"{_when(row.mtime_ns)} -> {_when(st.st_mtime_ns)}"), read


def open_catalog_as_is(config: Config) -> pw.Database:
    """The catalog as it is: no migration, no storage folder or empty SQLite file created (the audit writes
    nothing). A missing catalog is an error that says so."""
    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(unquote(url[len("sqlite:///"):])).absolute()
        if not path.is_file():
            raise NotFound(f"no catalog at {path}: `photoshelf index` makes it")
    db = connect(url)
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the catalog at {url}: {exc}") from None
    return db


def _when(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) + "Z"


def _rows() -> Iterator[_Row]:
    # The catalog is read as it is: one from before migration 11 has no raw_path column (nor such names).
    raw = File.raw_path if "raw_path" in {c.name for c in File._meta.database.get_columns("file")} else pw.SQL("NULL")
    query = (File.select(File.path, File.size, File.mtime_ns, File.sha1, raw)
             .where(File.sha1.is_null(False) & File.missing_since.is_null()).order_by(File.path))
    for path, size, mtime_ns, sha1, raw_path in query.tuples().iterator():
        yield _Row(path, int(size), int(mtime_ns), sha1, raw_path)


def audit_originals(config: Config, *, progress: Progress | None = None, workers: int | None = None) -> AuditReport:
    """Compare every present original the catalog has a SHA-1 for with its bytes on disk (the catalog must be
    open). Files are read on a few threads (hashing releases the GIL); nothing is written anywhere."""
    started = time.monotonic()
    rows = list(_rows())
    root = config.originals_path
    report = AuditReport()
    total = len(rows)
    if progress:
        progress("audit", 0, total)
    with ThreadPoolExecutor(max_workers=workers or min(4, config.worker_count),
                            thread_name_prefix="photoshelf-audit") as pool:
        for done, (finding, read) in enumerate(pool.map(lambda r: check_file(root, r), rows), 1):
            report.checked += 1
            report.bytes_read += read
            if finding is not None:
                log.debug("audit: %s: %s", finding.path, finding.problem)
                report.findings.append(finding)
            if progress and (done % 16 == 0 or done == total):
                progress("audit", done, total)
    report.seconds = time.monotonic() - started
    return report

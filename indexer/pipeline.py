"""The in-place index: stat-walk the originals, read new and changed files once, commit the catalog in batches."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat as stat_mod
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf import jobs, tempfiles
from photoshelf.config import Config
from photoshelf.db.rows import chunks
from photoshelf.db.schema import File, Folder, Photo, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.errors import OriginalsUnavailable, PhotoshelfError
from photoshelf.events import PhotoChanges
from photoshelf.filenames import display, path_hash
from photoshelf.indexer import originals, stacks
from photoshelf.indexer.store import (
    KnownFile,
    Prepared,
    apply_plan,
    file_names,
    known_files,
    load_catalog,
    plan_batch,
)
from photoshelf.indexer.walk import Entry, Walker, WalkProblem, display_path
from photoshelf.indexer.worker import FileResult, process_file
from photoshelf.media.decode import kind_for_filetype
from photoshelf.media.exiftool import ExifTool
from photoshelf.media.metadata import Metadata, extract, merge_sidecar_tags, read_takeout
from photoshelf.media.thumbs import ThumbCache

log = logging.getLogger(__name__)

@dataclass
class IndexReport:
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    missing: int = 0
    returned: int = 0
    duplicates: int = 0
    errors: int = 0
    warnings: int = 0
    hashed: int = 0
    metadata_read: int = 0
    thumbnails: int = 0
    bytes_read: int = 0
    purged: int = 0
    ignored: int = 0
    stacks: int = 0
    deferred: list[str] = field(default_factory=list)
    sidecars_written: int = 0
    sidecars_applied: int = 0
    places: int = 0  # photos given (or cleared of) a place name by the backfill
    unreadable: int = 0  # folders or files the scan could not read: nothing under them was marked missing
    seconds: float = 0.0
    interrupted_before: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class _Work:
    entry: Entry
    known: KnownFile | None  # the catalog row at this path, when the path is known
    future: Future[FileResult] | None = None
    result: FileResult | None = None
    xmp: list[Path] = field(default_factory=list)  # XMP sidecars beside it (Lightroom, darktable, digiKam)


def metadata_of(config: Config, path: Path, name: str, mtime_ns: int, meta: dict[str, dict[str, Any]],
                xmp: list[Path]) -> Metadata:
    """One media file's metadata from exiftool's answer for it and its XMP sidecars (`meta`, keyed by path), and
    its Google Takeout JSON when read_takeout_json is on: what `index` and `reindex --metadata` both store."""
    tags = meta.get(str(path), {})
    for sidecar in xmp:
        tags = merge_sidecar_tags(tags, meta.get(str(sidecar), {}))
    takeout = read_takeout(path) if config.index.read_takeout_json else None
    return extract(tags, name, mtime_ns / 1e9, takeout) if tags else Metadata(error="not read")


def xmp_sidecars(path: Path) -> list[Path]:
    """IMG_1.xmp and IMG_1.jpg.xmp (any case of .xmp) beside a media file, the ones that exist."""
    out = []
    for base in (path.with_suffix(""), path):
        for ext in (".xmp", ".XMP"):
            candidate = base.with_name(base.name + ext)
            if candidate.is_file() and candidate not in out:
                out.append(candidate)
                break
    return out


@dataclass
class _Batch:
    items: list[_Work]
    meta: Future[dict[str, dict[str, Any]]] | None = None
    sidecars: list[Entry] = field(default_factory=list)


class Indexer:
    """Index the originals folder into the catalog. Nothing under the originals is ever written."""

    def __init__(self, config: Config, db: pw.Database, *, progress: ProgressFn | None = None,
                 exiftool: ExifTool | None = None) -> None:
        self.config = config
        self.db = db
        self.root = config.originals_path
        self.thumbs = ThumbCache(config.thumbs_path, config.thumbnails)
        self.progress = progress or (lambda phase, done, total: None)
        self._exiftool = exiftool
        self._own_exiftool = exiftool is None
        self._folders: dict[str, int] = {}
        self._stop = threading.Event()
        self.changes = PhotoChanges()  # what the last run did to photos (photoshelf/library.py sends it as events)

    def _uploader(self, rel: str) -> int | None:
        """The user who owns a new photo: the one whose WebDAV upload folder (<upload_dir>/<user>/) holds it;
        None (the first admin's) for everything else."""
        prefix = self.config.webdav.upload_dir.strip("/") + "/"
        if not rel.startswith(prefix):
            return None
        name, sep, _ = rel[len(prefix):].partition("/")
        if not sep:
            return None
        from photoshelf.db.schema import User

        user = User.get_or_none(User.name == name)
        return user.id if user is not None else None

    # -- public ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running index to finish its current batch and return."""
        self._stop.set()

    @property
    def exiftool(self) -> ExifTool:
        if self._exiftool is None:
            self._exiftool = ExifTool(self.config.exiftool.path)
        return self._exiftool

    def close(self) -> None:
        if self._own_exiftool and self._exiftool is not None:
            self._exiftool.close()
            self._exiftool = None

    def run(self, paths: Iterable[str | os.PathLike[str]] | None = None, *, force: bool = False,
            settle_seconds: float = 0.0, record: bool = True, allow_empty: bool = False,
            then: Callable[[IndexReport], None] | None = None) -> IndexReport:
        """The catalog stage: bring the catalog in line with the originals (all of them, or only `paths`). What
        follows it (sidecars, places, enrichment) is photoshelf/library.py's: `Library.update` runs the whole order.

        `settle_seconds`: files modified more recently than this are left for later (still being written), and
        listed in report.deferred. `record`: keep a run record in the job table (the watcher's small runs don't).
        `allow_empty`: an empty originals folder really means the library is empty now (see originals.check_root).
        `then`: the stages after the catalog, run inside the same run record (Library.update passes them).
        Raises OriginalsUnavailable, having changed nothing, when the originals cannot be read as a whole.
        """
        originals.check_root(self.root, allow_empty=allow_empty)
        tempfiles.recover_storage(self.config)  # thumbnails and sidecars half-written by a killed process
        started = time.monotonic()
        report = IndexReport()
        self.changes = PhotoChanges()
        scopes = self._scopes(paths)
        stale = jobs.interrupted_runs("index")
        report.interrupted_before = bool(stale)
        for job in stale:
            jobs.mark_interrupted(job)
        run_job = jobs.start("index", {"paths": scopes[:100]}) if record else None
        try:
            self._run(scopes, report, force, settle_seconds)
            if then is not None:
                then(report)
        except BaseException as exc:
            report.seconds = round(time.monotonic() - started, 3)
            if run_job is not None:
                jobs.finish_failed(run_job, f"{type(exc).__name__}: {exc}", report.as_dict())
            raise
        report.seconds = round(time.monotonic() - started, 3)
        if run_job is not None:
            jobs.complete(run_job, report.as_dict())
        return report

    # -- scan -----------------------------------------------------------------------------------

    def relative(self, path: str | os.PathLike[str]) -> str:
        """The originals-relative form of a path ('' for the root); raises if it is outside the originals."""
        absolute = Path(os.path.abspath(path if os.path.isabs(path) else Path.cwd() / path))
        try:
            rel = absolute.relative_to(self.root)
        except ValueError:
            raise PhotoshelfError(f"{path} is not inside the originals folder {self.root}") from None
        return "" if str(rel) == "." else rel.as_posix()

    def _scopes(self, paths: Iterable[str | os.PathLike[str]] | None) -> list[str]:
        if not paths:
            return [""]
        scopes = sorted({self.relative(p) for p in paths})
        if "" in scopes:
            return [""]
        # Drop a path whose folder is also asked for: the folder's walk covers it.
        asked = set(scopes)
        kept: list[str] = []
        for scope in scopes:
            parts = scope.split("/")
            if not any("/".join(parts[:i]) in asked for i in range(1, len(parts))):
                kept.append(scope)
        return kept

    def _known(self, scopes: list[str]) -> dict[str, KnownFile]:
        if scopes == [""]:
            return known_files()
        known: dict[str, KnownFile] = {}
        hashes = [path_hash(s) for s in scopes]
        for chunk in chunks(hashes, 500):
            known.update(known_files(File.path_hash.in_(chunk)))
        folder_scopes = [display(s) for s in scopes if display(s) in self._folders]
        folder_ids = [fid for path, fid in self._folders.items()
                      if any(path == s or path.startswith(s + "/") for s in folder_scopes)] if folder_scopes else []
        for ids in chunks(folder_ids, 500):
            known.update(known_files(File.folder.in_(ids)))
        return known

    def _run(self, scopes: list[str], report: IndexReport, force: bool, settle_seconds: float) -> None:
        walker = Walker(
            self.root,
            skip=[self.config.storage_path],
            skip_hidden=self.config.index.skip_hidden,
            follow_symlinks=self.config.index.follow_symlinks,
            exclude=self.config.index.exclude,
        )
        self._load_folders()
        known = self._known(scopes)
        entries: dict[str, Entry] = {}
        self.progress("scan", 0, 0)
        for scope in scopes:
            for entry in self._scope_entries(walker, scope):
                entries[entry.rel] = entry
                if len(entries) % 5000 == 0:
                    self.progress("scan", len(entries), 0)
        self.progress("scan", len(entries), len(entries))
        fresh: set[str] = set()
        if settle_seconds > 0:
            cutoff = time.time_ns() - int(settle_seconds * 1e9)
            fresh = {rel for rel, e in entries.items() if e.mtime_ns > cutoff}
            report.deferred = sorted(fresh)
        report.seen += len(entries) - len(fresh)
        unreadable = {p.rel for p in walker.problems}
        if "" in unreadable:  # the root went away during the scan (unmounted): nothing is known to be gone
            reason = next(p.reason for p in walker.problems if not p.rel)
            raise OriginalsUnavailable(f"the originals folder {self.root} became unreadable during the scan ({reason}); "
                                       f"{originals.NOTHING_MARKED}")
        for problem in walker.problems:
            log.warning("%s: %s (nothing under it is marked missing)", display_path(problem.rel), problem.reason)
        report.unreadable = len(unreadable)
        self._reconcile([e for rel, e in entries.items() if rel not in fresh], known, report, force, fresh,
                        unreadable)
        originals.record_unreadable(walker.problems, scopes)
        if scopes == [""]:
            originals.record_other(walker.other)
        report.ignored = walker.ignored

    def _scope_entries(self, walker: Walker, scope: str) -> Iterable[Entry]:
        """What a scope holds: the whole tree (''), a folder's files, or one file. A scope that cannot be read
        (as opposed to one that is gone) is a walk problem, so what the catalog has under it stays."""
        if not scope:
            return walker.walk("")
        try:
            st = os.stat(self.root / scope)
        except (FileNotFoundError, NotADirectoryError):
            return []  # gone: what the catalog has under it is marked missing
        except OSError as exc:
            walker.problems.append(WalkProblem(scope, f"cannot read: {exc.strerror}"))
            return []
        if not stat_mod.S_ISDIR(st.st_mode):
            entry = walker.entry_for(scope) if stat_mod.S_ISREG(st.st_mode) else None
            return [entry] if entry is not None else []
        if walker.excluded(scope, is_dir=True):
            return []
        return walker.walk(scope)

    def _reconcile(self, entries: list[Entry], known: dict[str, KnownFile], report: IndexReport, force: bool,
                   still_writing: set[str], unreadable: Collection[str] = ()) -> None:
        todo: list[Entry] = []
        back: list[int] = []
        seen_paths: set[str] = set(still_writing)  # being written: not vanished, not read yet
        touched_folders: set[int] = set()
        for entry in entries:
            rel = entry.rel
            seen_paths.add(rel)
            row = known.get(rel)
            if (
                row is not None
                and not force
                and row.size == entry.size
                and row.mtime_ns == entry.mtime_ns
                and row.inode == entry.inode
            ):
                report.unchanged += 1
                if row.missing_since is not None:
                    back.append(row.id)
                continue
            todo.append(entry)
        if back:
            report.returned += len(back)
            self._mark_back(back)
        # Vanished: known, present before, not seen now, and not under a folder the walk could not read (unknown,
        # not gone: an unmounted share or a permission change must not mark its photos missing).
        vanished = [f for path, f in known.items()
                    if path not in seen_paths and f.missing_since is None and not originals.covered(path, unreadable)]
        todo = self._detect_moves(todo, known, vanished, report, touched_folders)
        self._process(todo, known, report, touched_folders)
        if vanished:
            self._mark_missing(vanished, report, touched_folders)
        self._link_sidecars(touched_folders)
        report.stacks += stacks.restack(touched_folders)
        report.purged += self._purge()

    # -- moves, missing, returning --------------------------------------------------------------

    def _detect_moves(
        self, todo: list[Entry], known: dict[str, KnownFile], vanished: list[KnownFile], report: IndexReport,
        touched: set[int],
    ) -> list[Entry]:
        """A new path whose inode, size and mtime equal a vanished file's is that file moved: no re-hash."""
        if not vanished:
            return todo
        by_inode = {(f.inode, f.size, f.mtime_ns): f for f in vanished}
        by_name = {(f.name, f.size, f.mtime_ns): f for f in vanished}
        moved: set[int] = set()
        rest = []
        with write_transaction(self.db):
            for entry in todo:
                if entry.rel in known:
                    rest.append(entry)
                    continue
                name = display(entry.rel).rsplit("/", 1)[-1]
                f = by_inode.pop((entry.inode, entry.size, entry.mtime_ns), None) or by_name.pop(
                    (name, entry.size, entry.mtime_ns), None
                )
                if f is None or f.id in moved:
                    rest.append(entry)
                    continue
                moved.add(f.id)
                touched.add(f.folder_id)
                folder_id = self._folder_id(entry.rel)
                touched.add(folder_id)
                File.update(**file_names(entry.rel), folder=folder_id, inode=entry.inode, missing_since=None,
                            ).where(File.id == f.id).execute()
                if f.photo_id:
                    Photo.update(missing_since=None).where(Photo.id == f.photo_id).execute()
                    self.changes.moved.add(f.photo_id)
                report.moved += 1
        vanished[:] = [f for f in vanished if f.id not in moved]
        return rest

    def _mark_back(self, file_ids: list[int]) -> None:
        with write_transaction(self.db):
            for chunk in chunks(file_ids, 500):
                File.update(missing_since=None).where(File.id.in_(chunk)).execute()
                photo_ids = [f.photo_id for f in File.select(File.photo).where(File.id.in_(chunk)) if f.photo_id]
                if photo_ids:
                    back: Any = Photo.select(Photo.id).where(Photo.id.in_(photo_ids) & Photo.missing_since.is_null(False))
                    self.changes.added.update(pid for (pid,) in back.tuples())  # photos back from missing
                    Photo.update(missing_since=None).where(Photo.id.in_(photo_ids)).execute()

    def _mark_missing(self, vanished: list[KnownFile], report: IndexReport, touched: set[int]) -> None:
        now = utcnow()
        report.missing += len(vanished)
        with write_transaction(self.db):
            for chunk in chunks([f.id for f in vanished], 500):
                File.update(missing_since=now).where(File.id.in_(chunk)).execute()
            photo_ids = {f.photo_id for f in vanished if f.photo_id}
            touched.update(f.folder_id for f in vanished)
            for chunk in chunks(sorted(photo_ids), 500):
                # A photo is missing only when none of its media files is left.
                present = {
                    f.photo_id
                    for f in File.select(File.photo).where(
                        File.photo.in_(chunk) & File.missing_since.is_null() & (File.role == "media")
                    )
                }
                gone = [pid for pid in chunk if pid not in present]
                if gone:
                    Photo.update(missing_since=now).where(Photo.id.in_(gone) & Photo.missing_since.is_null()).execute()
                    self.changes.removed.update(gone)

    def _purge(self) -> int:
        """Delete what has been missing longer than index.purge_missing_after_days."""
        days = self.config.index.purge_missing_after_days
        cutoff = utcnow() - dt.timedelta(days=days)
        old_photos = list(Photo.select().where(Photo.missing_since.is_null(False) & (Photo.missing_since < cutoff)))
        old_files = File.delete().where(File.missing_since.is_null(False) & (File.missing_since < cutoff))
        with write_transaction(self.db):
            old_files.execute()
            for photo in old_photos:
                if File.select().where((File.photo == photo.id) & (File.role == "media")).exists():
                    continue
                self.thumbs.remove(photo.sha1)
                photo.delete_instance()
        return len(old_photos)

    # -- folders ---------------------------------------------------------------------------------

    def _load_folders(self) -> None:
        self._folders = {f.path: f.id for f in Folder.select(Folder.id, Folder.path)}

    def _folder_id(self, rel_file: str) -> int:
        shown = display(rel_file)  # folders are kept by their display path (photoshelf/filenames.py)
        folder = shown.rsplit("/", 1)[0] if "/" in shown else ""
        return self._ensure_folder(folder)

    def _ensure_folder(self, folder: str) -> int:
        fid = self._folders.get(folder)
        if fid is not None:
            return fid
        parent = None
        if folder:
            parent = self._ensure_folder(folder.rsplit("/", 1)[0] if "/" in folder else "")
        row, _ = Folder.get_or_create(
            path_hash=path_hash(folder),
            defaults={"path": folder, "parent": parent, "name": folder.rsplit("/", 1)[-1]},
        )
        self._folders[folder] = row.id
        return int(row.id)

    # -- reading files ------------------------------------------------------------------------------

    def _process(self, todo: list[Entry], known: dict[str, KnownFile], report: IndexReport, touched: set[int]) -> None:
        media = [e for e in todo if e.role == "media"]
        sidecars = [e for e in todo if e.role == "sidecar"]
        if sidecars:
            self._write_sidecars(sidecars, known, touched)
            if self.config.sidecars.enabled and self.config.sidecars.location == "originals":
                from photoshelf.sidecars.sync import apply_file

                for sc in sidecars:
                    if sc.rel.lower().endswith((".yml", ".yaml")):
                        apply_file(self.config, self.root / sc.rel)  # a hand edit next to the photo
            media.extend(self._media_of_changed_sidecars(sidecars, known, {e.rel for e in media}))
        if not media:
            return
        total = len(media)
        size = self.config.index.batch_size
        workers = self.config.worker_count
        done = 0
        self.progress("index", 0, total)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photoshelf-read") as pool:
            inflight: deque[_Batch] = deque()
            batches = (media[i : i + size] for i in range(0, total, size))
            for chunk in batches:
                inflight.append(self._submit(chunk, known, pool))
                if len(inflight) >= 2:
                    done += self._finish(inflight.popleft(), report, touched)
                    self.progress("index", done, total)
                if self._stop.is_set():
                    break
            while inflight:
                done += self._finish(inflight.popleft(), report, touched)
                self.progress("index", done, total)

    def _submit(self, chunk: list[Entry], known: dict[str, KnownFile], pool: ThreadPoolExecutor) -> _Batch:
        items = [_Work(entry=e, known=known.get(e.rel)) for e in chunk]
        readable = [w for w in items if w.entry.size > 0]
        for w in readable:
            w.future = pool.submit(process_file, self.root / w.entry.rel, w.entry.size, self.thumbs,
                                   self.config.index.max_megapixels)
        paths = [str(self.root / w.entry.rel) for w in readable]
        for w in readable:
            w.xmp = xmp_sidecars(self.root / w.entry.rel)
            paths.extend(str(p) for p in w.xmp)
        batch = _Batch(items=items)
        batch.meta = self.exiftool.read_async(paths)
        return batch

    def _finish(self, batch: _Batch, report: IndexReport, touched: set[int]) -> int:
        meta = batch.meta.result() if batch.meta is not None else {}
        report.metadata_read += len(meta)
        prepared: list[Prepared] = []
        for w in batch.items:
            e = w.entry
            if w.future is None:
                result = FileResult(fatal="empty file (0 bytes)")
            else:
                try:
                    result = w.future.result()
                except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the index
                    log.exception("unexpected error reading %s", e.rel)
                    result = FileResult(fatal=f"internal error while reading the file: {type(exc).__name__}: {exc}")
            report.bytes_read += result.bytes_read
            if result.sha1:
                report.hashed += 1
            report.thumbnails += 0 if result.thumbs_cached else len(result.renditions)
            rel = e.rel
            name = display(rel).rsplit("/", 1)[-1]
            md = metadata_of(self.config, self.root / e.rel, name, e.mtime_ns, meta, w.xmp)
            fatal = result.fatal or self._fatal_reason(md, result)
            folder_id = self._folder_id(rel)
            touched.add(folder_id)
            prepared.append(Prepared(e, w.known, result, md, fatal, rel, name, folder_id))
        with write_transaction(self.db):
            self._store_batch(prepared, report)
        return len(batch.items)

    def _media_of_changed_sidecars(self, sidecars: list[Entry], known: dict[str, KnownFile], queued: set[str]) -> list[Entry]:
        """A changed Takeout JSON (or other sidecar) means its photo's metadata must be read again."""
        out = []
        # Media files by (folder, name) and (folder, stem): one pass over the known files, not one per sidecar.
        by_key: dict[tuple[str, str], list[str]] = {}
        for rel, f in known.items():
            if f.role != "media":
                continue
            folder, _, fname = rel.rpartition("/")
            by_key.setdefault((folder, fname), []).append(rel)
            by_key.setdefault((folder, fname.rsplit(".", 1)[0]), []).append(rel)
        for sc in sidecars:
            if sc.rel.lower().endswith((".yml", ".yaml")):
                continue  # photoshelf's own sidecars (sidecars.location = "originals"): applied, not indexed
            folder, _, base = sc.rel.rpartition("/")
            stem = base[: -len(".json")] if base.lower().endswith(".json") else base.rsplit(".", 1)[0]
            for rel in by_key.get((folder, stem), []):
                if rel in queued:
                    continue
                try:
                    st = os.stat(self.root / rel)
                except OSError:
                    continue  # gone: the reconcile marks it missing
                out.append(Entry(rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
                                 dev=st.st_dev, role="media"))
                queued.add(rel)
        return out

    def _write_sidecars(self, sidecars: list[Entry], known: dict[str, KnownFile], touched: set[int]) -> None:
        with write_transaction(self.db):
            for e in sidecars:
                folder_id = self._folder_id(e.rel)
                touched.add(folder_id)
                fields = dict(size=e.size, mtime_ns=e.mtime_ns, inode=e.inode, missing_since=None,
                              indexed_at=utcnow(), role="sidecar", folder=folder_id)
                self._upsert_file(e.rel, known.get(e.rel), fields)

    def _link_sidecars(self, touched: set[int]) -> None:
        """Point sidecar files at the photo they describe (IMG_1.xmp, IMG_1.jpg.json → IMG_1.jpg's photo)."""
        if not touched:
            return
        rows = list(File.select().where(File.folder.in_(list(touched)) & (File.missing_since.is_null())))
        media_by_name = {(f.folder_id, f.name.lower()): f for f in rows if f.role == "media" and f.photo_id}
        media_by_stem: dict[tuple[int, str], File] = {}
        for f in rows:
            if f.role == "media" and f.photo_id:
                media_by_stem.setdefault((f.folder_id, f.name.rsplit(".", 1)[0].lower()), f)
        with write_transaction(self.db):
            for f in rows:
                if f.role != "sidecar":
                    continue
                name = f.name.lower()
                target = None
                if name.endswith(".json"):
                    target = media_by_name.get((f.folder_id, name[:-5]))
                if target is None:
                    target = media_by_stem.get((f.folder_id, name.rsplit(".", 1)[0]))
                photo_id = target.photo_id if target else None
                if f.photo_id != photo_id:
                    File.update(photo=photo_id).where(File.id == f.id).execute()

    # -- storing a batch --------------------------------------------------------------------------------

    def _store_batch(self, items: list[Prepared], report: IndexReport) -> None:
        """Store a batch: what the catalog has for it, the plan of writes (pure), then the writes."""
        now = utcnow()
        plan = plan_batch(items, load_catalog(items, self._uploader), now)
        removed = apply_plan(plan, self.thumbs, now)
        report.new += plan.new
        report.changed += plan.changed
        report.errors += plan.errors
        report.duplicates += plan.duplicates
        report.warnings += plan.warnings
        self.changes.added.update(p.id for p in plan.new_photos.values())
        self.changes.added.update(plan.returned)
        self.changes.changed.update(plan.dirty)
        self.changes.removed.update(removed)

    def _fatal_reason(self, md: Metadata, result: FileResult) -> str | None:
        decoded = result.renditions or result.thumbs_cached or result.width
        if md.error:
            if decoded:
                return None  # exiftool could not parse it but the pixels decode: keep it
            if "empty" in md.error.lower():
                return "empty file (0 bytes)"
            if "format error" in md.error.lower() or "unknown file type" in md.error.lower():
                return "not a photo or video: the content is not a format photoshelf knows (unknown or corrupt data)"
            return f"cannot read the file: {md.error}"
        if kind_for_filetype(md.filetype) is None and not decoded:
            return f"not a photo or video: exiftool identifies the content as {md.filetype or 'unknown'}"
        return None

    def _upsert_file(self, rel: str, known: KnownFile | None, fields: dict[str, Any]) -> int:
        row_id = known.id if known is not None else (  # else committed by an interrupted run, or new
            File.select(File.id).where(File.path_hash == path_hash(rel)).scalar())
        if row_id is not None:
            File.update(**file_names(rel), **fields).where(File.id == row_id).execute()
            return int(row_id)
        return int(File.insert(**file_names(rel), **fields).execute())



"""The in-place index: stat-walk the originals, read new and changed files once, commit the catalog in batches."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf import jobs
from photoshelf.config import Config
from photoshelf.db.schema import File, Folder, IndexIssue, Photo, Thumbnail, utcnow
from photoshelf.errors import PhotoshelfError
from photoshelf.indexer import stacks
from photoshelf.indexer.exiftool import ExifTool
from photoshelf.indexer.media import kind_for_filetype, orientation_for_rotation
from photoshelf.indexer.metadata import Metadata, extract, read_takeout
from photoshelf.indexer.thumbs import ThumbCache
from photoshelf.indexer.walk import Entry, Walker, display_path
from photoshelf.indexer.worker import FileResult, process_file

log = logging.getLogger(__name__)

META_VERSION = 1  # bump when extraction changes, so `index --rescan-metadata` knows what is stale


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
    seconds: float = 0.0
    interrupted_before: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


def path_hash(rel: str) -> str:
    return hashlib.sha1(rel.encode("utf-8")).hexdigest()


def new_uid() -> str:
    return "p" + secrets.token_hex(8)


@dataclass
class _Work:
    entry: Entry
    known: File | None  # the catalog row at this path, when the path is known
    future: Future[FileResult] | None = None
    result: FileResult | None = None


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

    def run(self, paths: Iterable[str | os.PathLike[str]] | None = None, *, force: bool = False) -> IndexReport:
        """Bring the catalog in line with the originals (all of them, or only `paths`)."""
        if not self.root.is_dir():
            raise PhotoshelfError(f"originals folder not found: {self.root} (library.originals / PHOTOSHELF_ORIGINALS)")
        started = time.monotonic()
        report = IndexReport()
        scopes = self._scopes(paths)
        stale = jobs.interrupted_runs("index")
        report.interrupted_before = bool(stale)
        for job in stale:
            jobs.mark_interrupted(job)
        run_job = jobs.start("index", {"paths": scopes})
        try:
            self._run(scopes, report, force)
        except BaseException as exc:
            report.seconds = round(time.monotonic() - started, 3)
            jobs.finish_failed(run_job, f"{type(exc).__name__}: {exc}", report.as_dict())
            raise
        report.seconds = round(time.monotonic() - started, 3)
        jobs.complete(run_job, report.as_dict())
        return report

    # -- scan -----------------------------------------------------------------------------------

    def _scopes(self, paths: Iterable[str | os.PathLike[str]] | None) -> list[str]:
        if not paths:
            return [""]
        scopes = []
        for p in paths:
            absolute = Path(p) if os.path.isabs(p) else Path.cwd() / p
            absolute = Path(os.path.abspath(absolute))
            try:
                rel = absolute.relative_to(self.root)
            except ValueError:
                raise PhotoshelfError(f"{p} is not inside the originals folder {self.root}") from None
            scopes.append("" if str(rel) == "." else rel.as_posix())
        return scopes

    def _known(self, scope: str) -> dict[str, File]:
        query = File.select()
        if scope:
            query = query.where((File.path == scope) | File.path.startswith(scope + "/"))
        return {f.path: f for f in query.iterator()}

    def _run(self, scopes: list[str], report: IndexReport, force: bool) -> None:
        storage = self.config.storage_path
        walker = Walker(
            self.root,
            skip=[storage],
            skip_hidden=self.config.index.skip_hidden,
            follow_symlinks=self.config.index.follow_symlinks,
            exclude=self.config.index.exclude,
        )
        self._load_folders()
        for scope in scopes:
            known = self._known(scope)
            entries: list[Entry] = []
            self.progress("scan", 0, 0)
            single = bool(scope) and (self.root / scope).is_file()
            for entry in self._single(scope) if single else walker.walk(scope):
                entries.append(entry)
                if len(entries) % 5000 == 0:
                    self.progress("scan", len(entries), 0)
            report.seen += len(entries)
            self._reconcile(entries, known, report, force)
        report.ignored = walker.ignored
        for problem in walker.problems:
            log.warning("%s: %s", problem.rel, problem.reason)

    def _single(self, rel: str) -> Iterable[Entry]:
        from photoshelf.indexer.media import is_media, is_sidecar

        st = os.stat(self.root / rel)
        name = rel.rsplit("/", 1)[-1]
        if is_media(name) or is_sidecar(name):
            yield Entry(rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, dev=st.st_dev,
                        role="media" if is_media(name) else "sidecar")

    def _reconcile(self, entries: list[Entry], known: dict[str, File], report: IndexReport, force: bool) -> None:
        todo: list[Entry] = []
        back: list[int] = []
        seen_paths: set[str] = set()
        touched_folders: set[int] = set()
        for entry in entries:
            rel = display_path(entry.rel) if entry.bad_name else entry.rel
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
        vanished = [f for path, f in known.items() if path not in seen_paths and f.missing_since is None]
        todo = self._detect_moves(todo, known, vanished, report, touched_folders)
        self._process(todo, known, report, touched_folders)
        if vanished:
            self._mark_missing(vanished, report, touched_folders)
        self._link_sidecars(touched_folders)
        report.stacks += stacks.restack(touched_folders)
        report.purged += self._purge()

    # -- moves, missing, returning --------------------------------------------------------------

    def _detect_moves(
        self, todo: list[Entry], known: dict[str, File], vanished: list[File], report: IndexReport,
        touched: set[int],
    ) -> list[Entry]:
        """A new path whose inode, size and mtime equal a vanished file's is that file moved: no re-hash."""
        if not vanished:
            return todo
        by_inode = {(f.inode, f.size, f.mtime_ns): f for f in vanished}
        by_name = {(f.name, f.size, f.mtime_ns): f for f in vanished}
        moved: set[int] = set()
        rest = []
        with self.db.atomic():
            for entry in todo:
                if entry.rel in known or entry.bad_name:
                    rest.append(entry)
                    continue
                name = entry.rel.rsplit("/", 1)[-1]
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
                File.update(
                    path=entry.rel, path_hash=path_hash(entry.rel), name=name, folder=folder_id,
                    inode=entry.inode, missing_since=None,
                ).where(File.id == f.id).execute()
                if f.photo_id:
                    Photo.update(missing_since=None).where(Photo.id == f.photo_id).execute()
                report.moved += 1
        vanished[:] = [f for f in vanished if f.id not in moved]
        return rest

    def _mark_back(self, file_ids: list[int]) -> None:
        with self.db.atomic():
            for chunk in _chunks(file_ids, 500):
                File.update(missing_since=None).where(File.id.in_(chunk)).execute()
                photo_ids = [f.photo_id for f in File.select(File.photo).where(File.id.in_(chunk)) if f.photo_id]
                if photo_ids:
                    Photo.update(missing_since=None).where(Photo.id.in_(photo_ids)).execute()

    def _mark_missing(self, vanished: list[File], report: IndexReport, touched: set[int]) -> None:
        now = utcnow()
        report.missing += len(vanished)
        with self.db.atomic():
            for chunk in _chunks([f.id for f in vanished], 500):
                File.update(missing_since=now).where(File.id.in_(chunk)).execute()
            photo_ids = {f.photo_id for f in vanished if f.photo_id}
            touched.update(f.folder_id for f in vanished)
            for chunk in _chunks(sorted(photo_ids), 500):
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

    def _purge(self) -> int:
        """Delete what has been missing longer than index.purge_missing_after_days."""
        days = self.config.index.purge_missing_after_days
        cutoff = utcnow() - dt.timedelta(days=days)
        old_photos = list(Photo.select().where(Photo.missing_since.is_null(False) & (Photo.missing_since < cutoff)))
        old_files = File.delete().where(File.missing_since.is_null(False) & (File.missing_since < cutoff))
        with self.db.atomic():
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
        folder = rel_file.rsplit("/", 1)[0] if "/" in rel_file else ""
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

    def _process(self, todo: list[Entry], known: dict[str, File], report: IndexReport, touched: set[int]) -> None:
        media = [e for e in todo if e.role == "media"]
        sidecars = [e for e in todo if e.role == "sidecar"]
        if sidecars:
            self._write_sidecars(sidecars, known, touched)
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

    def _submit(self, chunk: list[Entry], known: dict[str, File], pool: ThreadPoolExecutor) -> _Batch:
        items = [_Work(entry=e, known=known.get(display_path(e.rel) if e.bad_name else e.rel)) for e in chunk]
        readable = [w for w in items if not w.entry.bad_name and w.entry.size > 0]
        for w in readable:
            w.future = pool.submit(process_file, self.root / w.entry.rel, w.entry.size, self.thumbs,
                                   self.config.index.max_megapixels)
        paths = [str(self.root / w.entry.rel) for w in readable]
        batch = _Batch(items=items)
        batch.meta = self.exiftool.read_async(paths)
        return batch

    def _finish(self, batch: _Batch, report: IndexReport, touched: set[int]) -> int:
        meta = batch.meta.result() if batch.meta is not None else {}
        report.metadata_read += len(meta)
        with self.db.atomic():
            for w in batch.items:
                e = w.entry
                if e.bad_name:
                    result = FileResult(fatal="the file name is not valid UTF-8: rename it so photoshelf can read it")
                elif w.future is None:
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
                tags = meta.get(str(self.root / e.rel), {}) if not e.bad_name else {}
                self._store(w, result, tags, report, touched)
        return len(batch.items)

    def _media_of_changed_sidecars(self, sidecars: list[Entry], known: dict[str, File], queued: set[str]) -> list[Entry]:
        """A changed Takeout JSON (or other sidecar) means its photo's metadata must be read again."""
        out = []
        for sc in sidecars:
            folder = sc.rel.rsplit("/", 1)[0] if "/" in sc.rel else ""
            base = sc.rel.rsplit("/", 1)[-1]
            stem = base[: -len(".json")] if base.lower().endswith(".json") else base.rsplit(".", 1)[0]
            for rel, f in known.items():
                if f.role != "media" or rel in queued:
                    continue
                fname = rel.rsplit("/", 1)[-1]
                ffolder = rel.rsplit("/", 1)[0] if "/" in rel else ""
                if ffolder == folder and (fname == stem or fname.rsplit(".", 1)[0] == stem):
                    st = os.stat(self.root / rel)
                    out.append(Entry(rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
                                     dev=st.st_dev, role="media"))
                    queued.add(rel)
        return out

    def _write_sidecars(self, sidecars: list[Entry], known: dict[str, File], touched: set[int]) -> None:
        with self.db.atomic():
            for e in sidecars:
                rel = display_path(e.rel) if e.bad_name else e.rel
                folder_id = self._folder_id(rel)
                touched.add(folder_id)
                fields = dict(size=e.size, mtime_ns=e.mtime_ns, inode=e.inode, missing_since=None,
                              indexed_at=utcnow(), role="sidecar", folder=folder_id)
                fields["name"] = rel.rsplit("/", 1)[-1]
                self._upsert_file(rel, known.get(rel), fields)

    def _link_sidecars(self, touched: set[int]) -> None:
        """Point sidecar files at the photo they describe (IMG_1.xmp, IMG_1.jpg.json → IMG_1.jpg's photo)."""
        if not touched:
            return
        rows = list(File.select().where(File.folder.in_(list(touched)) & (File.missing_since.is_null())))
        media_by_name = {(f.folder_id, f.name.lower()): f for f in rows if f.role == "media" and f.photo_id}
        media_by_stem = {}
        for f in rows:
            if f.role == "media" and f.photo_id:
                media_by_stem.setdefault((f.folder_id, f.name.rsplit(".", 1)[0].lower()), f)
        with self.db.atomic():
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

    # -- storing one file -----------------------------------------------------------------------------

    def _store(self, w: _Work, result: FileResult, tags: dict[str, Any], report: IndexReport,
               touched: set[int]) -> None:
        e = w.entry
        rel = display_path(e.rel) if e.bad_name else e.rel
        name = rel.rsplit("/", 1)[-1]
        folder_id = self._folder_id(rel)
        touched.add(folder_id)
        takeout = read_takeout(self.root / e.rel) if (self.config.index.read_takeout_json and not e.bad_name) else None
        md = extract(tags, name, e.mtime_ns / 1e9, takeout) if tags else Metadata(error="not read")
        fatal = result.fatal or self._fatal_reason(md, result)
        if w.known is None:
            report.new += 1
        else:
            report.changed += 1
        file_fields: dict[str, Any] = dict(
            folder=folder_id, name=name, role="media", size=e.size, mtime_ns=e.mtime_ns, inode=e.inode,
            sha1=result.sha1, missing_since=None, indexed_at=utcnow(),
        )
        if fatal:
            report.errors += 1
            file_fields.update(error=fatal, photo=None)
            file_row = self._upsert_file(rel, w.known, file_fields)
            old_photo = w.known.photo_id if w.known else None
            IndexIssue.delete().where(IndexIssue.file == file_row).execute()
            IndexIssue.create(file=file_row, stage="read", severity="error", reason=fatal)
            if old_photo:
                self._orphan_check(old_photo)
            return
        assert result.sha1 is not None
        photo = Photo.get_or_none(Photo.sha1 == result.sha1)
        old_photo_id = w.known.photo_id if w.known else None
        if photo is not None:
            if photo.id != old_photo_id and File.select().where(
                (File.photo == photo.id) & File.missing_since.is_null() & (File.role == "media") & (File.path != rel)
            ).exists():
                report.duplicates += 1
            self._apply_metadata(photo, md, result, refresh=False)
        elif old_photo_id is not None and not File.select().where(
            (File.photo == old_photo_id) & (File.path != rel) & (File.role == "media")
        ).exists():
            # The file's bytes changed (edited in place): same photo, new content. User data stays attached.
            photo = Photo.get_by_id(old_photo_id)
            if photo.sha1 != result.sha1:
                self.thumbs.remove(photo.sha1)
            photo.sha1 = result.sha1
            Thumbnail.delete().where(Thumbnail.photo == photo.id).execute()
            self._apply_metadata(photo, md, result, refresh=True)
        else:
            photo = Photo(uid=new_uid(), sha1=result.sha1, kind="image")
            self._apply_metadata(photo, md, result, refresh=True)
        photo.missing_since = None
        photo.updated_at = utcnow()
        photo.save()
        file_fields.update(error=None, photo=photo.id)
        file_row = self._upsert_file(rel, w.known, file_fields)
        IndexIssue.delete().where(IndexIssue.file == file_row).execute()
        for stage, reason in result.warnings + [("metadata", wmsg) for wmsg in md.warnings if not wmsg.lower().startswith("[minor]")]:
            report.warnings += 1
            IndexIssue.create(file=file_row, stage=stage, severity="warning", reason=reason)
        for r in result.renditions:
            Thumbnail.delete().where((Thumbnail.photo == photo.id) & (Thumbnail.size == r.size)).execute()
            Thumbnail.create(photo=photo.id, size=r.size, width=r.width, height=r.height, format=self.thumbs.ext,
                             bytes=r.bytes)
        if old_photo_id and old_photo_id != photo.id:
            self._orphan_check(old_photo_id)

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

    def _apply_metadata(self, photo: Photo, md: Metadata, result: FileResult, refresh: bool) -> None:
        """Copy extracted metadata onto the photo. For an existing photo (a duplicate path), only fill gaps."""
        if not refresh and photo.meta_version == META_VERSION and photo.taken_src not in ("", "mtime"):
            if result.phash and not photo.phash:
                photo.phash = result.phash
            return
        kind = kind_for_filetype(md.filetype) or ("video" if result.video else "image")
        if photo.kind != "live" or kind != "image":
            photo.kind = kind
        photo.mime = md.mime
        photo.format = md.filetype
        photo.size = result.bytes_read
        width, height = md.width, md.height
        orientation = md.orientation
        if result.video is not None:
            orientation = orientation_for_rotation(result.video.rotation)
            width, height = result.video.width, result.video.height
        elif result.width and result.height:
            width, height = result.width, result.height  # from the decoder: already upright
        elif width and height and orientation in (5, 6, 7, 8):
            width, height = height, width
        photo.width, photo.height, photo.orientation = width, height, orientation
        if md.taken is not None:
            photo.taken_at = md.taken.utc
            photo.taken_at_local = md.taken.local
            photo.tz_offset = md.taken.offset
            photo.timezone = _offset_name(md.taken.offset)
            photo.taken_src = md.taken.source
        photo.lat, photo.lon, photo.altitude = md.lat, md.lon, md.altitude
        photo.camera_make, photo.camera_model, photo.lens = md.camera_make, md.camera_model, md.lens
        photo.iso, photo.exposure, photo.fnumber, photo.focal_length = md.iso, md.exposure, md.fnumber, md.focal_length
        photo.duration = result.video.duration if result.video and result.video.duration else md.duration
        photo.codec = (result.video.codec if result.video else None) or md.codec
        photo.title, photo.description = md.title, md.description
        photo.keywords = ", ".join(md.keywords) or None
        photo.rating = md.rating
        photo.content_id = md.content_id
        photo.phash = result.phash or photo.phash
        photo.has_thumbs = bool(result.renditions or result.thumbs_cached)
        photo.meta_version = META_VERSION

    def _upsert_file(self, rel: str, known: File | None, fields: dict[str, Any]) -> int:
        if known is not None:
            File.update(**fields).where(File.id == known.id).execute()
            return int(known.id)
        existing = File.get_or_none(File.path_hash == path_hash(rel))  # committed by an interrupted run
        if existing is not None:
            File.update(**fields).where(File.id == existing.id).execute()
            return int(existing.id)
        return int(File.insert(path=rel, path_hash=path_hash(rel), **fields).execute())

    def _orphan_check(self, photo_id: int) -> None:
        """A photo whose last file now holds other bytes: keep it as missing so user data survives the grace period."""
        if not File.select().where((File.photo == photo_id) & (File.role == "media")).exists():
            Photo.update(missing_since=utcnow()).where((Photo.id == photo_id) & Photo.missing_since.is_null()).execute()


def _offset_name(offset: int | None) -> str | None:
    if offset is None:
        return None
    sign = "+" if offset >= 0 else "-"
    return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def index_library(config: Config, db: pw.Database, paths: Iterable[str] | None = None, *,
                  progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
    """Index the configured originals (or some paths in them) once; the library entry point for the CLI."""
    indexer = Indexer(config, db, progress=progress)
    try:
        return indexer.run(paths, force=force)
    finally:
        indexer.close()

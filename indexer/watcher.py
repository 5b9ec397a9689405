"""The watcher daemon: keep the catalog in step with the originals, live (inotify) or by polling network mounts."""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf import jobs
from photoshelf.config import Config
from photoshelf.db import settings
from photoshelf.db.rows import chunks
from photoshelf.db.schema import Job, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.errors import DatabaseError, OriginalsUnavailable, PhotoshelfError
from photoshelf.events import PhotoEvent
from photoshelf.indexer.mounts import identity, mount_fstype, network_mounts_under  # noqa: F401 - re-exported
from photoshelf.indexer.originals import NOTHING_MARKED
from photoshelf.indexer.pipeline import IndexReport
from photoshelf.indexer.walk import Walker, not_utf8
from photoshelf.library import Library

log = logging.getLogger(__name__)

PATH_JOB = "path"
DEBOUNCE = 0.25  # seconds of quiet after a close-write before the batch is indexed
MAX_BATCH = 2000  # paths per index run
SIDECAR_SYNC_SECONDS = 2.0  # how often sidecars are synced both ways while the daemon runs
# Enrichment (faces, labels, search index) runs between index runs, in slices this small, so a new photo waits at
# most one slice before its metadata pass; ML follows the metadata by seconds.
ENRICH_BATCH = 4  # photos per stage batch in the daemon
ENRICH_SLICE_SECONDS = 1.0  # a slice ends after the batch that passes this
ENRICH_QUIET_SECONDS = 0.5  # no file event for this long before a slice starts
ENRICH_ERROR_BACKOFF = 300.0  # after an unexpected enrichment error, before trying again
ENRICH_RECHECK_SECONDS = 30.0  # how often to look for pending work (edited titles...) when the last look found none


@dataclass
class _Pending:
    ready_at: float
    closed: bool = False


@dataclass
class WatchStats:
    events: int = 0
    runs: int = 0
    hashed: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    errors: int = 0
    last_event: float | None = None
    last_run: float | None = None
    indexed_paths: int = 0
    enriched: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Watcher:
    """Startup reconciliation, then live events (or polling) turned into small batched index runs. The watcher only
    schedules: what a run does, and in which order, is the library's (photoshelf/library.py).

    Events are persisted as jobs before they are processed, so a crash loses none of them; and the startup
    reconciliation (a stat-only rescan) catches whatever changed while the daemon was down.
    """

    def __init__(self, config: Config, db: pw.Database, stages: Any = None) -> None:
        self.config = config
        self.db = db
        self._stages = stages  # enrichment stages to use (default: the installed ones)
        self._next_enrich = 0.0
        self.library = self._open_library(config)
        self.stats = WatchStats()
        self.mode = "starting"
        self.ready = threading.Event()  # set once startup reconciliation is done and events are live
        self._events: queue.Queue[tuple[str, str, str | None, bool]] = queue.Queue()
        self._pending: dict[str, _Pending] = {}
        self._stop = threading.Event()
        self._reload: Config | None = None
        self._observer: Any = None
        self._walker = self._make_walker()
        self._next_poll = 0.0
        self._last_heartbeat = 0.0
        self._backoff = 0.0
        self._busy = False
        self._next_sidecar_sync = 0.0
        self._sidecar_events: set[str] = set()
        self._unavailable: str | None = None  # why the originals cannot be read now (unmounted share), if so
        self._retry_at = 0.0  # when to try reading them again
        self._watched: tuple[int, int] | None = None  # (device, inode) of the originals folder inotify watches
        self._next_root_check = 0.0
        self._catchups: list[float] = []  # extra stat-only rescans after the originals came back (inotify mode)

    # -- control --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch and return from run()."""
        self._stop.set()
        self.library.stop()

    @property
    def idle(self) -> bool:
        """Nothing queued, pending or being indexed right now."""
        return not self._busy and not self._pending and self._events.empty()

    def reload(self, config: Config) -> None:
        """Apply a new configuration at the next loop (SIGHUP)."""
        self._reload = config

    # -- main loop --------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._startup()
            while not self._stop.is_set():
                try:
                    self._cycle()
                    self._backoff = 0.0
                except (pw.OperationalError, pw.InterfaceError, DatabaseError) as exc:
                    # The database is locked or MariaDB is restarting: the jobs are safe in the table (or still
                    # pending in memory); wait and try again.
                    self._backoff = min(30.0, max(1.0, self._backoff * 2))
                    log.warning("watch: database unavailable (%s); retrying in %.0fs", exc, self._backoff)
                    self._stop.wait(self._backoff)
                    self._reconnect()
        finally:
            self._stop_observer()
            self.library.close()
            try:
                self._heartbeat(state="stopped", force=True)
            except pw.PeeweeException:
                pass

    def _startup(self) -> None:
        recovered = jobs.recover_interrupted(PATH_JOB)
        queued = [j.key for j in Job.select(Job.key).where((Job.kind == PATH_JOB) & (Job.state == "queued"))]
        log.info("watch: starting on %s (%d queued paths from before%s)", self.config.originals_path, len(queued),
                 f", {recovered} interrupted" if recovered else "")
        self._choose_mode()
        started = time.monotonic()
        report = self._scan_all(record=True)
        for rel in queued:
            if rel is not None:
                self._pending.setdefault(rel, _Pending(ready_at=time.monotonic()))
        if report is not None:
            self._account(report)
            log.info("watch: startup rescan done in %.1fs: %d new, %d changed, %d moved, %d missing, %d unchanged",
                     time.monotonic() - started, report.new, report.changed, report.moved, report.missing,
                     report.unchanged)
        self._next_poll = time.monotonic() + self.config.watch.poll_interval
        self._heartbeat(force=True)
        self.ready.set()

    def _cycle(self) -> None:
        if self._reload is not None:
            self._apply_reload()
        self._drain(timeout=0.1)
        now = time.monotonic()
        if self._unavailable is not None:
            if now >= self._retry_at:
                self._rescan()
        elif self.mode == "inotify" and now >= self._next_root_check:
            self._check_watched_root()
        elif self.mode == "inotify" and self._catchups and now >= self._catchups[0]:
            self._catchups.pop(0)
            self._rescan()
        elif self.mode == "poll" and now >= self._next_poll:
            self._busy = True
            try:
                self._poll()
            finally:
                self._busy = False
            self._next_poll = time.monotonic() + self.config.watch.poll_interval
        if self.config.sidecars.enabled and now >= self._next_sidecar_sync:
            self._sync_sidecars()
            self._next_sidecar_sync = now + SIDECAR_SYNC_SECONDS
        # Paths wait while the originals cannot be read: the rescan that finds them back covers them.
        ready = [rel for rel, p in self._pending.items() if p.ready_at <= now] if self._unavailable is None else []
        quiet = self.stats.last_event is None or now - self.stats.last_event >= DEBOUNCE
        oldest = min((p.ready_at for p in self._pending.values()), default=now)
        if ready and (quiet or now - oldest > 1.0 or len(ready) >= MAX_BATCH):
            self._busy = True
            try:
                self._process(sorted(ready)[:MAX_BATCH])
            finally:
                self._busy = False
        elif self.config.models.enabled:
            self._enrich()
        self._heartbeat()

    # -- enrichment ---------------------------------------------------------------------------------

    def _enrich(self) -> None:
        """One slice of pending enrichment, when no file is waiting to be indexed; models are unloaded after
        models.idle_unload_seconds without work."""
        now = time.monotonic()
        if self.library.unload_models(self.config.models.idle_unload_seconds):
            log.info("watch: no enrichment for %ss: unloaded the models", self.config.models.idle_unload_seconds)
        if now < self._next_enrich or not self._events.empty():
            return
        if self.stats.last_event is not None and now - self.stats.last_event < ENRICH_QUIET_SECONDS:
            return
        if any(p.ready_at <= now for p in self._pending.values()):
            return
        self._busy = True
        try:
            # Sidecars: the sync pass every SIDECAR_SYNC_SECONDS writes what the slice added.
            report = self.library.enrich(limit=ENRICH_BATCH, record=False, max_seconds=ENRICH_SLICE_SECONDS,
                                         sidecars=False)
        except (pw.OperationalError, pw.InterfaceError):
            raise  # the database: the main loop waits and reconnects
        except PhotoshelfError as exc:
            log.error("watch: enrichment failed: %s", exc)
            self._next_enrich = time.monotonic() + 60
            return
        except Exception:  # noqa: BLE001 - the daemon's job boundary: a broken stage must not stop the indexing
            log.exception("watch: enrichment failed; trying again in %ss", ENRICH_ERROR_BACKOFF)
            self._next_enrich = time.monotonic() + ENRICH_ERROR_BACKOFF
            return
        finally:
            self._busy = False
        if report.processed:
            self.stats.enriched += report.processed
            log.info("watch: enriched %s", ", ".join(f"{s.name} {s.done + s.errors}" for s in report.stages
                                                   if s.done or s.errors))
        else:
            self._next_enrich = time.monotonic() + ENRICH_RECHECK_SECONDS

    def _wake_enrichment(self, event: PhotoEvent | None = None) -> None:
        """Photos were added or read again (the library's events): look for enrichment work at the next quiet
        moment."""
        self._next_enrich = 0.0

    def _open_library(self, config: Config) -> Library:
        library = Library(config, self.db, stages=self._stages, enrich_batch=ENRICH_BATCH)
        library.events.listen(("photos_added", "photos_changed"), self._wake_enrichment)
        return library

    # -- events -----------------------------------------------------------------------------------

    def _on_event(self, kind: str, src: str, dest: str | None, is_dir: bool) -> None:
        """Called on the observer's thread: only queue it."""
        self._events.put((kind, src, dest, is_dir))

    def _on_sidecar_event(self, path: str) -> None:
        """A file changed in the sidecar tree under storage (observer thread); applied at the next sync pass."""
        if path.endswith((".yml", ".yaml")) and "/." not in path:
            self._sidecar_events.add(path)

    def _drain(self, timeout: float) -> None:
        try:
            first = self._events.get(timeout=timeout)
        except queue.Empty:
            return
        batch = [first]
        while len(batch) < 20000:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        now = time.monotonic()
        settle = self.config.watch.settle_seconds
        new_paths: list[str] = []
        for kind, src, dest, is_dir in batch:
            self.stats.events += 1
            for path in (src, dest):
                if path is None:
                    continue
                rel = self._rel(path)
                if rel is None or (is_dir and kind == "modified"):
                    continue  # a folder's "modified" only echoes a change to a file in it
                if rel and self._walker.excluded(rel, is_dir=is_dir):
                    continue  # temp names, NAS litter, hidden or ignored paths
                if kind == "closed" or kind == "deleted" or kind == "moved" or is_dir:
                    ready_at, closed = now + (DEBOUNCE if kind != "deleted" else 0.0), kind == "closed"
                else:  # created / modified without a close (yet): wait until it has been quiet for `settle`
                    ready_at, closed = now + settle, False
                pending = self._pending.get(rel)
                if pending is None:
                    new_paths.append(rel)
                    self._pending[rel] = _Pending(ready_at=ready_at, closed=closed)
                elif closed:
                    pending.ready_at, pending.closed = ready_at, True
                elif kind == "modified" and pending.closed:
                    pending.ready_at, pending.closed = ready_at, False  # written again after a close
                else:
                    pending.ready_at = max(pending.ready_at, ready_at)
        self.stats.last_event = now
        if new_paths:
            self._persist(new_paths)

    def _rel(self, path: str) -> str | None:
        try:
            rel = Path(path).relative_to(self.config.originals_path).as_posix()
        except ValueError:
            return None
        return job_key("" if rel == "." else rel)

    def _persist(self, rels: list[str]) -> None:
        """Write new paths to the job table in one transaction before anything is indexed."""
        with write_transaction(self.db):
            for chunk in chunks(rels):
                have = {
                    j.key
                    for j in Job.select(Job.key).where(
                        (Job.kind == PATH_JOB) & (Job.state == "queued") & Job.key.in_(chunk)
                    )
                }
                rows = [{"kind": PATH_JOB, "key": rel, "payload": "{}"} for rel in chunk if rel not in have]
                if rows:
                    Job.insert_many(rows).execute()

    def _process(self, rels: list[str]) -> None:
        for rel in rels:
            self._pending.pop(rel, None)
        started = time.monotonic()
        paths = [self.config.originals_path / rel if rel else self.config.originals_path for rel in rels]
        try:
            report = self.library.update(paths, record=False, ml=False).index
        except OriginalsUnavailable as exc:
            self._set_unavailable(exc)
            for rel in rels:
                self._pending.setdefault(rel, _Pending(ready_at=self._retry_at))
            return
        except PhotoshelfError as exc:
            log.error("watch: index failed: %s", exc)
            for rel in rels:
                self._pending.setdefault(rel, _Pending(ready_at=time.monotonic() + 5))
            return
        except BaseException:
            for rel in rels:  # keep them for the retry after the backoff
                self._pending.setdefault(rel, _Pending(ready_at=time.monotonic() + 1))
            raise
        self._account(report)
        self.stats.indexed_paths += len(rels)
        self._done(rels)
        log.info(
            "watch: indexed paths=%d new=%d changed=%d moved=%d missing=%d errors=%d seconds=%.2f",
            len(rels), report.new, report.changed, report.moved, report.missing, report.errors,
            time.monotonic() - started,
        )

    def _done(self, rels: list[str]) -> None:
        with write_transaction(self.db):
            for chunk in chunks(rels):
                Job.delete().where((Job.kind == PATH_JOB) & Job.key.in_(chunk) & (Job.state == "queued")).execute()

    def _account(self, report: IndexReport) -> None:
        self.stats.runs += 1
        self.stats.hashed += report.hashed
        self.stats.new += report.new
        self.stats.changed += report.changed
        self.stats.moved += report.moved
        self.stats.missing += report.missing
        self.stats.errors += report.errors
        self.stats.last_run = time.time()

    def _sync_sidecars(self) -> None:
        """Apply sidecars edited by hand (seen by inotify, or found by the poll's walk), then write the sidecars of
        photos changed since the last pass (viewer edits, index runs). Both sides are incremental."""
        edited, self._sidecar_events = self._sidecar_events, set()
        report = self.library.sync_sidecars([Path(path) for path in edited], stop=self._stop)
        if report.written or report.applied:
            log.info("watch: sidecars written=%d applied=%d", report.written, report.applied)

    # -- polling ----------------------------------------------------------------------------------

    def _scan_all(self, *, record: bool) -> IndexReport | None:
        """Follow events (inotify mode) and rescan all the originals, stat only; files still being written are
        re-checked after settling. None when the originals cannot be read (see _set_unavailable)."""
        try:
            if self.mode == "inotify" and self._observer is None:
                self._start_observer()  # before the rescan, so nothing changing during it is missed
            report = self.library.update(settle_seconds=self.config.watch.settle_seconds, record=record, ml=False).index
        except OriginalsUnavailable as exc:
            self._set_unavailable(exc)
            return None
        if self._unavailable is not None:
            log.warning("watch: the originals can be read again (%s)", self.config.originals_path)
            self._unavailable = None
            if self.mode == "inotify":
                # A share that was just mounted again is often still settling (autofs, NFS/SMB reconnects, a
                # NAS waking its disks) while the new watches are set up: what changed in that window can slip
                # past inotify. Two more stat-only rescans, a few poll intervals apart, catch it.
                now, interval = time.monotonic(), self.config.watch.poll_interval
                self._catchups = [now + 2 * interval, now + 5 * interval]
        for rel in {job_key(r) for r in report.deferred}:
            self._pending.setdefault(rel, _Pending(ready_at=time.monotonic() + self.config.watch.settle_seconds))
        return report

    def _check_watched_root(self) -> None:
        """inotify sends nothing when the share under the originals is unmounted (or the folder renamed away):
        look at the folder itself every poll interval, and rescan when it is not the one being watched."""
        self._next_root_check = time.monotonic() + self.config.watch.poll_interval
        if self._watched is not None and identity(self.config.originals_path) == self._watched:
            return
        log.warning("watch: the originals folder %s is not the one being watched (unmounted, remounted or moved): "
                    "rescanning", self.config.originals_path)
        self._stop_observer()
        self._rescan()

    def _rescan(self) -> None:
        """A rescan outside the polling rhythm: the originals came back, or the watched folder changed."""
        self._busy = True
        try:
            report = self._scan_all(record=False)
        finally:
            self._busy = False
        if report is not None:
            self._account(report)
            self._next_poll = time.monotonic() + self.config.watch.poll_interval

    def _set_unavailable(self, exc: OriginalsUnavailable) -> None:
        """The originals cannot be read (a share not mounted, a vanished or unreadable root): the same rule as
        `index`, nothing is marked missing; the watcher keeps running and tries again every poll interval."""
        if self._unavailable != str(exc):
            log.error("watch: %s; trying again every %ss", exc, self.config.watch.poll_interval)
        self._unavailable = str(exc)
        self._retry_at = time.monotonic() + self.config.watch.poll_interval
        self._stop_observer()  # its watches may have gone with the mount: started afresh when the originals are back

    def _poll(self) -> None:
        """One polling pass: a stat-only rescan, then sidecars edited by hand."""
        report = self._scan_all(record=False)
        if report is None:
            return
        if self.config.sidecars.enabled:
            self.library.apply_edited_sidecars()
        if report.new or report.changed or report.moved or report.missing:
            self._account(report)
            log.info("watch: poll found new=%d changed=%d moved=%d missing=%d", report.new, report.changed,
                     report.moved, report.missing)

    # -- observer ---------------------------------------------------------------------------------

    def _choose_mode(self) -> None:
        wanted = self.config.watch.mode
        if wanted == "poll":
            self.mode = "poll"
            return
        network = network_mounts_under(self.config.originals_path)
        if network and wanted == "auto":
            log.warning("watch: %s is on a network file system (%s); inotify cannot see other hosts' changes, "
                        "polling every %ss instead (set watch.mode = \"inotify\" to force)",
                        network[0][0], network[0][1], self.config.watch.poll_interval)
            self.mode = "poll"
            return
        self.mode = "inotify"

    def _start_observer(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write", "attrib"):
                    return
                dest = getattr(event, "dest_path", None) or None
                watcher._on_event(event.event_type, _str(event.src_path), _str(dest) if dest else None,
                                  event.is_directory)

        class SidecarHandler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("closed", "moved", "created") and not event.is_directory:
                    path = getattr(event, "dest_path", None) or event.src_path
                    watcher._on_sidecar_event(_str(path))

        observer = Observer()
        observer.schedule(Handler(), str(self.config.originals_path), recursive=True)
        if self.config.sidecars.enabled and self.config.sidecars.location == "storage":
            from photoshelf.sidecars.sync import sidecar_root

            root = sidecar_root(self.config)
            root.mkdir(parents=True, exist_ok=True)
            observer.schedule(SidecarHandler(), str(root), recursive=True)
        try:
            observer.start()
        except OSError as exc:
            try:
                observer.stop()
            except Exception:  # noqa: BLE001 - it never fully started
                pass
            if exc.errno not in (errno.ENOSPC, errno.EMFILE):  # the folder is gone or unreadable (unmounted)
                raise OriginalsUnavailable(f"cannot watch the originals folder {self.config.originals_path}: "
                                           f"{exc.strerror}; {NOTHING_MARKED}") from None
            log.error(
                "watch: the inotify watch limit is too low for this tree (%s). Raise it with "
                "`sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it); "
                "until then photoshelf polls every %ss so no folder is missed.",
                exc, self.config.watch.poll_interval,
            )
            self.mode = "poll"
            return
        self._observer = observer
        self._watched = identity(self.config.originals_path)
        self._next_root_check = time.monotonic() + self.config.watch.poll_interval

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
            self._watched = None

    # -- reload, heartbeat, reconnect ---------------------------------------------------------------

    def _make_walker(self) -> Walker:
        return Walker(self.config.originals_path, skip=[self.config.storage_path],
                      skip_hidden=self.config.index.skip_hidden, follow_symlinks=self.config.index.follow_symlinks,
                      exclude=self.config.index.exclude)

    def _apply_reload(self) -> None:
        new, self._reload = self._reload, None
        assert new is not None
        moved = new.originals_path != self.config.originals_path or new.watch.mode != self.config.watch.mode
        self.config = new
        self.library.close()  # stage settings may have changed: the models load again at the next slice
        self.library = self._open_library(new)
        self._wake_enrichment()
        self._walker = self._make_walker()
        log.info("watch: configuration reloaded")
        if moved:
            self._stop_observer()
            self._choose_mode()
            self._pending.clear()
            self._unavailable = None
            report = self._scan_all(record=True)
            if report is not None:
                self._account(report)

    def _heartbeat(self, state: str = "running", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < self.config.watch.heartbeat_seconds:
            return
        self._last_heartbeat = now
        data = {
            "state": state,
            "pid": os.getpid(),
            "mode": self.mode,
            "originals": str(self.config.originals_path),
            "pending": len(self._pending),
            "events": self.stats.events,
            "runs": self.stats.runs,
            "indexed_paths": self.stats.indexed_paths,
            "enriched": self.stats.enriched,
            "at": utcnow().isoformat() + "Z",
            "interval": self.config.watch.heartbeat_seconds,
            "unavailable": self._unavailable,
        }
        settings.put_heartbeat(data)

    def _reconnect(self) -> None:
        try:
            self.db.close()
        except pw.PeeweeException:
            pass
        try:
            self.db.connect(reuse_if_open=True)
        except pw.PeeweeException as exc:
            log.debug("reconnect failed: %s", exc)


def job_key(rel: str) -> str:
    """The path a job row names for `rel`: a name that is not valid UTF-8 cannot be stored as a key (utf8mb4), so its
    nearest folder with a UTF-8 name stands in; rescanning that folder indexes the file (photoshelf/filenames.py)."""
    while rel and not_utf8(rel):
        rel = rel.rpartition("/")[0]
    return rel


def _str(path: str | bytes) -> str:
    return os.fsdecode(path) if isinstance(path, bytes) else path



"""The enrichment runner: finds what each ML stage still has to do, runs it in batches and records it per photo.

Every stage (faces, labels, clip, text; see stages.py) reads the thumbnails the indexer made. A photo is pending
for a stage while it has no `PhotoStage` row at the stage's current version (or, for stages that read catalog
text, a row whose digest no longer matches). Each batch is one transaction: the stage's results and the
`PhotoStage` rows commit together, so a killed run loses at most one batch and the next run resumes there. The
stage's model runs before that transaction (Stage.compute), so the transaction is only the writes: the viewer's
edits never wait for inference.
A photo that failed is recorded with its error and not retried until the stage's version changes.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import peewee as pw

from photoshelf import jobs, tempfiles
from photoshelf.config import Config
from photoshelf.db import settings
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import Job, Photo, PhotoStage, Vector, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.media.thumbs import ThumbCache
from photoshelf.models.stages import Item, Stage

log = logging.getLogger(__name__)

JOB_KIND = "enrich"
NO_THUMBNAIL = "no thumbnail: the fit rendition is missing from the thumbnail cache (run `photoshelf index --force`)"
_CHUNK = 500

# Where the stages live: module, class. A module that is not there (yet) is skipped.
STAGE_MODULES: tuple[tuple[str, str], ...] = (
    ("photoshelf.models.faces", "FacesStage"),
    ("photoshelf.models.labels", "LabelsStage"),
    ("photoshelf.models.scenes", "ScenesStage"),
    ("photoshelf.models.ocr", "OcrStage"),
    ("photoshelf.models.tfmodel", "TFLabelsStage"),
    ("photoshelf.models.clip", "ClipStage"),
    ("photoshelf.models.textsearch", "TextStage"),
    ("photoshelf.models.transcode", "TranscodeStage"),
)

Progress = Callable[[str, int, int], None]


def stage_classes() -> list[type[Stage]]:
    """The stage classes that exist in this installation, in run order (their `order`, then name)."""
    found: dict[str, type[Stage]] = {}
    for module_name, attr in STAGE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # The module itself is missing (not written yet, or left out of a build). A module that exists
            # but fails to import one of its own dependencies is a bug: say so instead of hiding it.
            if getattr(exc, "name", None) != module_name:
                log.warning("enrich: cannot import %s: %s", module_name, exc)
            continue
        cls = getattr(module, attr, None)
        if isinstance(cls, type) and issubclass(cls, Stage) and getattr(cls, "name", None):
            stage_cls = cast("type[Stage]", cls)
            found.setdefault(stage_cls.name, stage_cls)
    return sorted(found.values(), key=lambda c: (c.order, c.name))


def load_stages(config: Config, db: pw.Database, names: Iterable[str] | None = None) -> list[Stage]:
    """Instances of the installed stages (all, or those named); an unknown name is an error."""
    classes = stage_classes()
    if names is not None:
        wanted = list(names)
        known = {c.name for c in classes}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            from photoshelf.errors import NotFound

            raise NotFound(f"no enrichment stage {', '.join(unknown)} (installed: {', '.join(sorted(known)) or 'none'})")
        classes = [c for c in classes if c.name in wanted]
    return [cls(config, db) for cls in classes]


@dataclass
class StageReport:
    name: str
    version: str = ""
    unavailable: str | None = None
    pending: int = 0
    done: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.done + self.errors) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class EnrichReport:
    stages: list[StageReport] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def processed(self) -> int:
        return sum(s.done + s.errors for s in self.stages)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "stages": {s.name: {**{k: v for k, v in asdict(s).items() if k != "name"},
                                "seconds": round(s.seconds, 3)} for s in self.stages},
        }



def splits(stage: Stage) -> bool:
    """Whether the stage computes in compute() (no catalog writes, any thread) rather than in store(): such
    stages run side by side. A stage whose input is catalog text (digest) reads what the others write, so it never
    runs beside them."""
    return type(stage).compute is not Stage.compute and not _has_digest(stage)


def _has_digest(stage: Stage) -> bool:
    """Whether the stage's input is catalog text that can change (it overrides Stage.digest)."""
    return type(stage).digest is not Stage.digest


def _eligible(stage: Stage) -> Any:
    """Photos a stage may run on: indexed, present, and (for image stages) with thumbnails."""
    query = Photo.select(Photo.id, Photo.sha1, Photo.kind).where(Photo.missing_since.is_null())
    if stage.kinds is not None:
        query = query.where(Photo.kind.in_(list(stage.kinds)))
    if stage.needs_thumbnail:
        query = query.where(Photo.has_thumbs == True)  # noqa: E712 - peewee expression
    return query


class Enricher:
    """Runs the enrichment stages over what is pending. One per process (the CLI, or the watcher's thread)."""

    def __init__(self, config: Config, db: pw.Database, stages: Sequence[Stage] | None = None,
                 progress: Progress | None = None, batch_size: int | None = None,
                 parallel: bool | None = None) -> None:
        self.config = config
        self.batch_size = batch_size or config.models.batch_size
        # Stages that split compute() from store() compute side by side on threads (one per stage) when the
        # machine has more than one core; their results are still stored one batch at a time by this thread.
        self.parallel = (os.cpu_count() or 1) > 1 if parallel is None else parallel
        self.db = db
        self.stages = list(stages) if stages is not None else load_stages(config, db)
        self.stages.sort(key=lambda s: (s.order, s.name))
        self.thumbs = ThumbCache(config.thumbs_path, config.thumbnails)
        self.progress = progress
        self._stop = False
        self._reported: set[tuple[str, str]] = set()  # unavailability reasons already logged
        self._versions: dict[str, str] = {}
        self.last_used = 0.0  # monotonic time of the last batch (the daemon unloads models after idling)
        self.loaded = False  # whether a batch ran since the last close()
        self._unfinished: set[str] = set()  # stages that processed photos since their last finish()

    # -- control --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch and return."""
        self._stop = True

    def close(self) -> None:
        """Unload every stage's models."""
        self.loaded = False
        for stage in self.stages:
            try:
                stage.close()
            except Exception:  # noqa: BLE001 - a stage that cannot unload must not stop the others
                log.exception("enrich: closing stage %s failed", stage.name)

    # -- what is pending ----------------------------------------------------------------------------

    def available(self) -> list[Stage]:
        """Stages that can run here; the reason a stage cannot is logged once per process, not per photo."""
        out = []
        for stage in self.stages:
            reason = stage.unavailable()
            if reason:
                if (stage.name, reason) not in self._reported:
                    self._reported.add((stage.name, reason))
                    log.info("enrich: stage %s is skipped: %s", stage.name, reason)
                continue
            out.append(stage)
        return out

    def version(self, stage: Stage) -> str:
        if stage.name not in self._versions:
            version = stage.version()
            if len(version) > 48:
                raise ValueError(f"stage {stage.name}: version {version!r} is longer than 48 characters")
            self._versions[stage.name] = version
        return self._versions[stage.name]

    def pending(self, stage: Stage, limit: int | None = None, after: int = 0) -> Iterator[tuple[Item, str | None]]:
        """Items the stage has still to do (id order, from `after`), with the digest to record for each."""
        version = self.version(stage)
        has_digest = _has_digest(stage)
        yielded = 0
        last = after
        if not after:
            for item in self._thumbnail_retries(stage):
                if limit is not None and yielded >= limit:
                    return
                yield item, None
                yielded += 1
        while limit is None or yielded < limit:
            if has_digest:
                rows = list(_eligible(stage).where(Photo.id > last).order_by(Photo.id).limit(_CHUNK).tuples())
                if not rows:
                    return
                last = rows[-1][0]
                ids = [r[0] for r in rows]
                digests = stage.digest(ids)
                seen = {pid: (ver, dig, err) for pid, ver, dig, err in tuples(PhotoStage.select(
                    PhotoStage.photo, PhotoStage.version, PhotoStage.digest, PhotoStage.error).where(
                    (PhotoStage.stage == stage.name) & PhotoStage.photo.in_(ids)))}
                todo = []
                for pid, sha1, kind in rows:
                    have = seen.get(pid)
                    want = digests.get(pid)
                    if have is None or have[0] != version or (want is not None and have[1] != want):
                        todo.append((pid, sha1, kind, want))
            else:
                done = PhotoStage.select(PhotoStage.photo).where(
                    (PhotoStage.stage == stage.name) & (PhotoStage.version == version))
                rows = list(_eligible(stage).where((Photo.id > last) & Photo.id.not_in(done))
                            .order_by(Photo.id).limit(_CHUNK).tuples())
                if not rows:
                    return
                last = rows[-1][0]
                todo = [(pid, sha1, kind, None) for pid, sha1, kind in rows]
            for pid, sha1, kind, digest in todo:
                if limit is not None and yielded >= limit:
                    return
                yield Item(photo_id=pid, sha1=sha1, fit=self.thumbs.path(sha1, "fit"),
                           tile=self.thumbs.path(sha1, "tile"), kind=kind), digest
                yielded += 1

    def _thumbnail_retries(self, stage: Stage) -> list[Item]:
        """Photos that had no thumbnail at this version and have one now (`index --force` made it again)."""
        if not stage.needs_thumbnail or _has_digest(stage):
            return []
        again = (_eligible(stage).join(PhotoStage, on=(PhotoStage.photo == Photo.id))
                 .where((PhotoStage.stage == stage.name) & (PhotoStage.version == self.version(stage))
                        & (PhotoStage.error == NO_THUMBNAIL)))
        items = [Item(photo_id=pid, sha1=sha1, fit=self.thumbs.path(sha1, "fit"), tile=self.thumbs.path(sha1, "tile"),
                      kind=kind) for pid, sha1, kind in tuples(again)]
        return [item for item in items if item.fit.is_file()]

    def count_pending(self, stage: Stage) -> int:
        if _has_digest(stage):
            return sum(1 for _ in self.pending(stage))
        version = self.version(stage)
        done = PhotoStage.select(PhotoStage.photo).where(
            (PhotoStage.stage == stage.name) & (PhotoStage.version == version))
        return int(_eligible(stage).where(Photo.id.not_in(done)).count()) + len(self._thumbnail_retries(stage))

    # -- running ------------------------------------------------------------------------------------

    def run(self, limit: int | None = None, *, record: bool = True, max_seconds: float | None = None
            ) -> EnrichReport:
        """Run every available stage, in order, over what it has pending (at most `limit` photos per stage).

        `record`: keep a run record (an "enrich" job with progress counts) for the viewer's status page.
        `max_seconds`: stop after the batch that passes this time (the daemon's small slices)."""
        self._stop = False
        self._versions.clear()  # a model installed or a setting changed since the last run gives a new version
        report = EnrichReport()
        started = time.monotonic()
        deadline = started + max_seconds if max_seconds is not None else None
        tempfiles.recover_storage(self.config)  # sidecars half-written by a killed run
        for job in jobs.interrupted_runs(JOB_KIND):
            jobs.mark_interrupted(job)
        stages = self.available()
        reports = {s.name: StageReport(name=s.name) for s in self.stages}
        for s in self.stages:
            reason = s.unavailable() if s not in stages else None
            reports[s.name].unavailable = reason
            if reason is None:
                reports[s.name].version = self.version(s)
        report.stages = list(reports.values())
        self._save_stage_info(reports)
        run_job = None
        try:
            for stage in stages:
                sr = reports[stage.name]
                if limit is not None and _has_digest(stage):
                    sr.pending = limit  # counting would read the whole catalog's text once more: the run finds out
                else:
                    sr.pending = self.count_pending(stage) if limit is None else min(self.count_pending(stage), limit)
            if record and any(r.pending for r in reports.values()):
                run_job = jobs.start(JOB_KIND, {"limit": limit, "stages": [s.name for s in stages]})
                jobs.progress(run_job, report.as_dict())
            for group in self._groups(stages):
                if self._stop or (deadline is not None and time.monotonic() >= deadline):
                    report.stopped = True
                    break
                if len(group) > 1:
                    self._run_group(group, reports, limit, run_job, report, deadline)
                else:
                    self._run_stage(group[0], reports[group[0].name], limit, run_job, report, deadline)
        except BaseException as exc:
            report.seconds = time.monotonic() - started
            if run_job is not None:
                jobs.finish_failed(run_job, f"{type(exc).__name__}: {exc}", report.as_dict())
            raise
        report.stopped = report.stopped or self._stop
        if limit is None and not report.stopped:
            removed = sweep_orphan_vectors(self.db)
            if removed:
                log.info("enrich: removed %d embeddings of deleted photos or faces", removed)
        report.seconds = time.monotonic() - started
        if run_job is not None:
            jobs.complete(run_job, report.as_dict())
        return report

    def _run_stage(self, stage: Stage, sr: StageReport, limit: int | None, run_job: Any,
                   report: EnrichReport, deadline: float | None) -> None:
        if not sr.pending:
            self._finish(stage)
            return
        batch_size = self.batch_size
        started = time.monotonic()
        if self.progress:
            self.progress(stage.name, 0, sr.pending)
        batch: list[tuple[Item, str | None]] = []
        for entry in self.pending(stage, limit=limit):
            batch.append(entry)
            if len(batch) >= batch_size:
                self._batch(stage, batch, sr)
                batch = []
                sr.seconds = time.monotonic() - started
                self._report_progress(stage, sr, run_job, report)
                if self._stop or (deadline is not None and time.monotonic() >= deadline):
                    report.stopped = True
                    return
        if batch:
            self._batch(stage, batch, sr)
        sr.seconds = time.monotonic() - started
        self._report_progress(stage, sr, run_job, report)
        if limit is not None and sr.done + sr.errors >= limit:
            return  # a full slice (the daemon's): there may be more; finish() when a run finds the rest done
        self._finish(stage)

    def _groups(self, stages: list[Stage]) -> list[list[Stage]]:
        """Stages in run order, consecutive ones that can compute side by side grouped together."""
        groups: list[list[Stage]] = []
        for stage in stages:
            if self.parallel and splits(stage) and groups and all(splits(s) for s in groups[-1]):
                groups[-1].append(stage)
            else:
                groups.append([stage])
        return groups

    def _run_group(self, group: list[Stage], reports: dict[str, StageReport], limit: int | None, run_job: Any,
                   report: EnrichReport, deadline: float | None) -> None:
        """Each stage of the group computes its batches on its own thread; this thread stores them as they come
        (one writer, one transaction per batch), so the models of several stages use the cores together."""
        todo = [s for s in group if reports[s.name].pending]
        for stage in group:
            if stage not in todo:
                self._finish(stage)
        if not todo:
            return
        done_marker = object()
        results: queue.Queue[tuple[Stage, Any]] = queue.Queue(maxsize=2 * len(todo))
        halt = threading.Event()

        def work(stage: Stage) -> None:
            try:
                batch: list[tuple[Item, str | None]] = []
                for entry in self.pending(stage, limit=limit):
                    if halt.is_set():
                        return
                    batch.append(entry)
                    if len(batch) >= self.batch_size:
                        results.put((stage, (batch, *self._compute(stage, batch))))
                        batch = []
                if batch and not halt.is_set():
                    results.put((stage, (batch, *self._compute(stage, batch))))
            except BaseException as exc:  # noqa: BLE001 - handed to the storing thread, which raises it
                results.put((stage, exc))
            finally:
                results.put((stage, done_marker))
                self.db.close()  # this thread's own connection

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(s,), name=f"enrich-{s.name}", daemon=True) for s in todo]
        for stage in todo:
            if self.progress:
                self.progress(stage.name, 0, reports[stage.name].pending)
        for thread in threads:
            thread.start()
        running, failure = len(threads), None
        try:
            while running:
                stage, payload = results.get()
                if payload is done_marker:
                    running -= 1
                    continue
                if isinstance(payload, BaseException):
                    failure = failure or payload
                    halt.set()
                    continue
                if halt.is_set():
                    continue  # stopping: computed batches not stored are done again next time
                batch, items, pre, store = payload
                sr = reports[stage.name]
                self._batch(stage, batch, sr, prepared=(items, pre, store))
                sr.seconds = time.monotonic() - started
                self._report_progress(stage, sr, run_job, report)
                if self._stop or (deadline is not None and time.monotonic() >= deadline):
                    report.stopped = True
                    halt.set()
        except BaseException:
            halt.set()
            while running:  # let the threads end (they block on a full queue otherwise)
                if results.get()[1] is done_marker:
                    running -= 1
            raise
        finally:
            for thread in threads:
                thread.join()
        if failure is not None:
            raise failure
        for stage in todo:
            sr = reports[stage.name]
            if not report.stopped and not (limit is not None and sr.done + sr.errors >= limit):
                self._finish(stage)

    def _compute(self, stage: Stage, batch: list[tuple[Item, str | None]]
                 ) -> tuple[list[Item], dict[int, str | None], Callable[[], dict[int, str | None]]]:
        """Outside any transaction (on a worker thread when stages run side by side): the stage's compute() for a
        batch, and how to store it (or re-raise its error)."""
        items, pre = self._prepare(stage, batch)
        if not items:
            return items, pre, dict
        try:
            value = stage.compute(items)
        except Exception as exc:  # noqa: BLE001 - recorded on the batch's photos when stored
            error = exc

            def fail() -> dict[int, str | None]:
                raise error

            return items, pre, fail
        return items, pre, lambda: dict(stage.store(value))

    def _finish(self, stage: Stage) -> None:
        """Call the stage's finish() once it has done all that was pending (e.g. faces re-clusters what stayed
        unassigned), if it processed anything since the last time."""
        if stage.name not in self._unfinished:
            return
        self._unfinished.discard(stage.name)
        stage.finish()

    def _report_progress(self, stage: Stage, sr: StageReport, run_job: Any, report: EnrichReport) -> None:
        if self.progress:
            self.progress(stage.name, sr.done + sr.errors, max(sr.pending, sr.done + sr.errors))
        if run_job is not None:
            jobs.progress(run_job, report.as_dict())

    def _prepare(self, stage: Stage, batch: list[tuple[Item, str | None]]
                 ) -> tuple[list[Item], dict[int, str | None]]:
        """The items the stage can work on, and an error for those whose thumbnail has gone."""
        results: dict[int, str | None] = {}
        items = []
        for item, _ in batch:
            if stage.needs_thumbnail and not item.fit.is_file():
                results[item.photo_id] = NO_THUMBNAIL
            else:
                items.append(item)
        return items, results

    def _batch(self, stage: Stage, batch: list[tuple[Item, str | None]], sr: StageReport,
               prepared: tuple[list[Item], dict[int, str | None], Callable[[], dict[int, str | None]]] | None = None
               ) -> None:
        """The stage's compute() (here, unless a worker did it), then one transaction: store() of what it computed
        and the PhotoStage rows of the batch."""
        version = self.version(stage)
        digests = {item.photo_id: digest for item, digest in batch}
        # The model runs before the transaction: a write transaction holds the catalog's writer lock from its
        # start (SQLite), and the viewer's edits must not wait for inference.
        items, results, run = prepared if prepared is not None else self._compute(stage, batch)
        results = dict(results)
        try:
            with write_transaction(self.db):
                if items:
                    got = run()
                    for item in items:
                        results[item.photo_id] = (got[item.photo_id] if item.photo_id in got
                                                  else "the stage returned no result for this photo")
                self._record(stage.name, version, results, digests)
        except Exception as exc:  # noqa: BLE001 - the job boundary: the batch failed, record why on each photo
            log.warning("enrich: stage %s failed on a batch of %d photos: %s", stage.name, len(items), exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            error = f"{type(exc).__name__}: {exc}"[:2000]
            results = {item.photo_id: results.get(item.photo_id) or error for item, _ in batch}
            with write_transaction(self.db):
                self._record(stage.name, version, results, digests)
        stage.after_batch()
        for outcome in results.values():
            if outcome is None:
                sr.done += 1
            else:
                sr.errors += 1
        self.last_used = time.monotonic()
        self.loaded = True
        self._unfinished.add(stage.name)

    def _record(self, stage: str, version: str, results: dict[int, str | None], digests: dict[int, str | None]
                ) -> None:
        if not results:
            return
        ids = list(results)
        # Photos deleted meanwhile (a purge in another process) get no row: it would violate the foreign key.
        present = {pid for (pid,) in tuples(Photo.select(Photo.id).where(Photo.id.in_(ids)))}
        PhotoStage.delete().where((PhotoStage.stage == stage) & PhotoStage.photo.in_(ids)).execute()
        now = utcnow()
        rows = [{"photo": pid, "stage": stage, "version": version, "digest": digests.get(pid),
                 "error": error, "done_at": now} for pid, error in results.items() if pid in present]
        if rows:
            PhotoStage.insert_many(rows).execute()

    def _save_stage_info(self, reports: dict[str, StageReport]) -> None:
        thumbs = {s.name: s.needs_thumbnail for s in self.stages}
        kinds = {s.name: list(s.kinds) if s.kinds is not None else None for s in self.stages}
        info = {name: {"version": r.version, "unavailable": r.unavailable, "thumbnails": thumbs[name],
                       "kinds": kinds[name]} for name, r in reports.items()}
        settings.put_enrich_stages(info)

    # -- reindex ------------------------------------------------------------------------------------

    def redo(self, stage: Stage) -> int:
        """Make every photo pending for a stage again, keeping its results until the re-run replaces them (what
        a new stage version does): the faces stage then keeps the people a user named or corrected, which
        forget() would delete with the faces. Returns how many photos will run again."""
        with write_transaction(self.db):
            return int(PhotoStage.delete().where(PhotoStage.stage == stage.name).execute())

    def forget(self, stage: Stage, photo_ids: Sequence[int] | None = None) -> int:
        """Drop a stage's results and PhotoStage rows (all photos, or these), so it runs on them again."""
        if photo_ids is None:
            photo_ids = [pid for (pid,) in tuples(PhotoStage.select(PhotoStage.photo).where(
                PhotoStage.stage == stage.name))]
        ids = list(photo_ids)
        for chunk in chunks(ids):
            with write_transaction(self.db):
                stage.forget(chunk)
                PhotoStage.delete().where((PhotoStage.stage == stage.name) & PhotoStage.photo.in_(chunk)).execute()
        return len(ids)


def sweep_orphan_vectors(db: pw.Database) -> int:
    """Remove vectors whose photo (or face) is gone: `vector.item_id` is no foreign key, so a deleted photo's
    embeddings are not cascaded by the database. Face spaces hold face ids, the others photo ids."""
    from photoshelf.db.schema import Face
    from photoshelf.models.vectors import Space, VectorIndex

    removed = 0
    for (space,) in tuples(Vector.select(Vector.space).distinct()):
        owner = Face if space.startswith("face:") else Photo
        orphans = [i for (i,) in tuples(Vector.select(Vector.item_id).where(
            (Vector.space == space) & Vector.item_id.not_in(owner.select(owner.id))))]
        if not orphans:
            continue
        blob = Vector.select(Vector.vector).where(Vector.space == space).limit(1).scalar()
        dim = len(blob) // 4 if blob else 0
        if dim:
            # Face spaces have no binary table (people.py); for the others removing from both tables is safe.
            quantise = not space.startswith("face:") and dim % 8 == 0
            VectorIndex(db, Space(space, dim, quantise=quantise)).remove(orphans)
        removed += len(orphans)
    return removed


def progress(db: pw.Database) -> dict[str, Any]:
    """Per-stage done/pending/errors for the viewer's status page and `photoshelf enrich --status`, from the
    catalog alone (no model is loaded): counts at the versions the last run used, and the current run, if any."""
    info = settings.enrich_stages()
    present = Photo.select().where(Photo.missing_since.is_null())
    with_thumbs = int(present.where(Photo.has_thumbs == True).count())  # noqa: E712 - peewee expression
    all_present = int(present.count())
    stages: dict[str, dict[str, Any]] = {}
    for name, meta in info.items():
        version = meta.get("version") or ""
        counts: dict[Any, int] = dict(tuples(
            PhotoStage.select(PhotoStage.error.is_null(), pw.fn.COUNT(PhotoStage.id)).join(Photo).where(
                (PhotoStage.stage == name) & (PhotoStage.version == version) & Photo.missing_since.is_null()
            ).group_by(PhotoStage.error.is_null())))
        done, errors = int(counts.get(1, 0)), int(counts.get(0, 0))  # MariaDB gives 1/0 for true/false
        eligible = with_thumbs if meta.get("thumbnails", True) else all_present
        if meta.get("kinds"):  # a stage for some kinds only (transcode: videos)
            of_kinds = present.where(Photo.kind.in_(meta["kinds"]))
            eligible = int((of_kinds.where(Photo.has_thumbs == True) if meta.get("thumbnails", True)  # noqa: E712
                            else of_kinds).count())
        stages[name] = {"version": version, "unavailable": meta.get("unavailable"), "done": done, "errors": errors,
                        "pending": 0 if meta.get("unavailable") else max(0, eligible - done - errors)}
    last = Job.select().where(Job.kind == JOB_KIND).order_by(Job.id.desc()).first()
    run = None
    if last is not None:
        run = {"state": last.state, "started": last.created_at.isoformat(), "updated": last.updated_at.isoformat(),
               "error": last.error, "progress": json.loads(last.progress) if last.progress else None}
    return {"stages": stages, "photos": with_thumbs, "run": run,
            "pending": sum(s["pending"] for s in stages.values())}


def progress_line(data: dict[str, Any]) -> str:
    """One line for the status page: 'faces 120/300 (2 errors) · labels 300/300 · text waiting'."""
    parts = []
    for name, s in data["stages"].items():
        if s["unavailable"]:
            parts.append(f"{name} off")  # the reason is in the status page's table and `enrich`'s summary
            continue
        total = s["done"] + s["errors"] + s["pending"]
        part = f"{name} {s['done'] + s['errors']}/{total}"
        if s["errors"]:
            part += f" ({s['errors']} errors)"
        parts.append(part)
    if not parts:
        return "machine learning: not run yet"
    state = data["run"]["state"] if data.get("run") else None
    return ("enriching: " if state == "running" else "enrichment: ") + " · ".join(parts)

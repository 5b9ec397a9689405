"""The `photoshelf` command: a thin shell that parses flags, calls the library and maps errors to exit codes."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from photoshelf import __version__
from photoshelf.config import Config, as_dict, load_config
from photoshelf.errors import ConfigError, NotFound, PhotoshelfError, PortInUse

log = logging.getLogger("photoshelf")

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_NOT_FOUND = 3
EXIT_PORT_IN_USE = 4
# Errors with their own exit code; any other PhotoshelfError (a bad query, a database that fails) exits 1.
_EXIT_CODES: tuple[tuple[type[PhotoshelfError], int], ...] = (
    (ConfigError, EXIT_CONFIG), (NotFound, EXIT_NOT_FOUND), (PortInUse, EXIT_PORT_IN_USE),
)


class State:
    def __init__(self, config_path: str | None, overrides: dict[str, Any], verbose: int) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.verbose = verbose
        self._config: Config | None = None
        self._db: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, overrides=self.overrides)
        return self._config

    def db(self) -> Any:
        if self._db is None:
            from photoshelf.db.catalog import open_catalog

            self._db = open_catalog(self.config)
        return self._db


def _setup_logging(verbose: int, level: str = "info") -> None:
    from rich.logging import RichHandler

    lvl = logging.DEBUG if verbose > 0 else getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=lvl, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(show_path=False, console=_stderr())])
    logging.getLogger("peewee").setLevel(logging.INFO if verbose < 2 else logging.DEBUG)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The CLI's one place that turns domain errors into messages and exit codes."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PhotoshelfError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), EXIT_ERROR))
        except Exception as exc:
            import peewee

            if not isinstance(exc, peewee.PeeweeException):
                raise
            log.debug("database error", exc_info=True)
            click.echo(f"Error: the catalog database failed: {exc} (run with -v for details)", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


class _Commands(click.Group):
    """The command group; commands that live beside the code they drive (the viewer's `serve`, `models`,
    `people`) are added on first lookup, not at import, because their modules import this one."""

    _optional_loaded = False

    def _load_optional(self) -> None:
        if not self._optional_loaded:
            self._optional_loaded = True
            _register_optional_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_optional()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_optional()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoshelf")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="PHOTOSHELF_CONFIG",
              help="TOML configuration file (default: $PHOTOSHELF_CONFIG).")
@click.option("--originals", help="Originals folder to index (library.originals).")
@click.option("--storage", help="Where the catalog, thumbnails and sidecars live (library.storage).")
@click.option("--database", help="sqlite:///path.db or mysql://user:pass@host:port/db (library.database).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for SQL).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, originals: str | None, storage: str | None,
        database: str | None, verbose: int) -> None:
    """photoshelf: index a photo folder in place and browse it."""
    overrides = {"library.originals": originals, "library.storage": storage, "library.database": database}
    ctx.obj = State(config_path, overrides, verbose)
    _setup_logging(verbose)


@cli.command()
@click.pass_obj
@handle_errors
def init(state: State) -> None:
    """Create the storage folder and the catalog (safe to run again)."""
    from photoshelf.db.migrations import current_version

    config = state.config
    db = state.db()
    config.thumbs_path.mkdir(parents=True, exist_ok=True)
    click.echo(f"originals: {config.originals_path}" + ("" if config.originals_path.is_dir() else "  (not found!)"))
    click.echo(f"storage:   {config.storage_path}")
    click.echo(f"catalog:   {config.database_url} (schema version {current_version(db)})")


def _progress_bar() -> tuple[Any, Callable[[str, int, int], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=_stderr(),
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        # The indexer's phases count files; the enrichment stages (faces, labels, ...) count photos.
        label = {"scan": "Scanning", "index": "Indexing", "audit": "Auditing"}.get(phase, phase)
        unit = "files" if phase in ("scan", "index", "audit") else "photos"
        if phase not in tasks:
            tasks[phase] = progress.add_task(label, total=total or None, rate="")
        task = tasks[phase]
        elapsed = progress.tasks[task].elapsed or 0
        rate = f"{done / elapsed:,.1f} {unit}/s" if elapsed > 0.5 and done else ""
        progress.update(task, completed=done, total=total or None, rate=rate)

    return progress, update


def _run_enrichment(state: State, *, stages: list[str] | None = None, limit: int | None = None,
                    quiet: bool = False, reindex: bool = False) -> Any:
    """Run the ML stages over what is pending (after forgetting their results, for reindex), with a progress
    bar unless quiet. SIGTERM finishes the current batch; what was committed stays."""
    from photoshelf.models.enrich import Enricher, load_stages

    config = state.config
    db = state.db()
    progress, update = (None, None) if quiet else _progress_bar()
    enricher = Enricher(config, db, stages=load_stages(config, db, stages), progress=update)

    def stop(signum: int, frame: Any) -> None:
        log.warning("stopping enrichment after the current batch (signal %s)", signum)
        enricher.stop()

    old = signal.signal(signal.SIGTERM, stop)
    try:
        if reindex:
            for stage in enricher.stages:
                again = enricher.redo(stage)
                log.info("reindex: %s runs again on %d photos", stage.name, again)
        if progress is not None:
            with progress:
                return enricher.run(limit)
        return enricher.run(limit)
    except KeyboardInterrupt:
        click.echo("Interrupted: what was committed stays; run `photoshelf enrich` to resume.", err=True)
        sys.exit(130)
    finally:
        enricher.close()
        signal.signal(signal.SIGTERM, old)


def _after_enrichment(state: State, report: Any, as_json: bool) -> None:
    """What `enrich` and `reindex` do after the run: rewrite the changed sidecars, print the report."""
    if state.config.sidecars.enabled:
        from photoshelf.sidecars.sync import sync_changed

        sync_changed(state.config)
    if as_json:
        _echo_json(report.as_dict())
    else:
        _echo_enrich(report)


def _echo_enrich(report: Any) -> None:
    for s in report.stages:
        if s.unavailable:
            click.echo(f"{s.name:10} skipped: {s.unavailable}")
        elif s.done or s.errors:
            click.echo(f"{s.name:10} {s.done} photos in {s.seconds:.1f}s ({s.rate:.1f} photos/s)"
                       + (f", {s.errors} failed" if s.errors else ""))
        else:
            click.echo(f"{s.name:10} up to date")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--force", is_flag=True, help="Read every file again, even unchanged ones.")
@click.option("--no-ml", is_flag=True, help="Only the metadata pass: no faces, labels or search index.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--allow-empty", is_flag=True,
              help="An empty originals folder means the library is empty now: mark its photos missing. Without "
                   "it an empty folder is taken for a share that is not mounted, and nothing is marked.")
@click.pass_obj
@handle_errors
def index(state: State, paths: tuple[str, ...], force: bool, no_ml: bool, as_json: bool, quiet: bool,
          allow_empty: bool) -> None:
    """Index the originals folder (or only PATHS inside it). Unchanged files are not read.
    Then the machine-learning stages run on what is new (unless --no-ml or models.enabled = false)."""
    from photoshelf.indexer.originals import require_listable
    from photoshelf.indexer.pipeline import Indexer

    config = state.config
    require_listable(config.originals_path)  # before the catalog and storage are created
    db = state.db()
    progress, update = (None, None) if (quiet or as_json) else _progress_bar()
    indexer = Indexer(config, db, progress=update)

    def stop(signum: int, frame: Any) -> None:
        log.warning("stopping after the current batch (signal %s)", signum)
        indexer.stop()

    old = signal.signal(signal.SIGTERM, stop)
    try:
        if progress is not None:
            with progress:
                report = indexer.run(list(paths) or None, force=force, allow_empty=allow_empty)
        else:
            report = indexer.run(list(paths) or None, force=force, allow_empty=allow_empty)
    except KeyboardInterrupt:
        click.echo("Interrupted: what was committed stays; run index again to resume.", err=True)
        sys.exit(130)
    finally:
        indexer.close()
        signal.signal(signal.SIGTERM, old)
    enriched = None
    if not no_ml and config.models.enabled:
        enriched = _run_enrichment(state, quiet=quiet or as_json)
        if config.sidecars.enabled:
            from photoshelf.sidecars.sync import sync_changed

            sync_changed(config)  # faces and labels go into the sidecars too
    if as_json:
        _echo_json({**report.as_dict(), "enrich": enriched.as_dict() if enriched else None})
        return
    r = report
    click.echo(
        f"{r.seen} files seen in {r.seconds:.1f}s: {r.new} new, {r.changed} changed, {r.unchanged} unchanged, "
        f"{r.moved} moved, {r.missing} missing, {r.duplicates} duplicates, {r.errors} failed, {r.warnings} warnings"
    )
    if r.places:
        click.echo(f"Named the places of {r.places} geotagged photos from before place names.")
    if r.unreadable:
        click.echo(f"{r.unreadable} folders or files could not be read; nothing in them was marked missing "
                   "(photoshelf doctor lists them).")
    if r.errors:
        click.echo("Files that failed: photoshelf doctor lists them with reasons.")
    if enriched is not None:
        _echo_enrich(enriched)


@cli.command()
@click.option("--stage", "stages", multiple=True, help="Only this stage (faces, labels, clip, text); repeatable.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many photos per stage.")
@click.option("--status", is_flag=True, help="Only print what is done and pending, per stage.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
@handle_errors
def enrich(state: State, stages: tuple[str, ...], limit: int | None, status: bool, as_json: bool,
           quiet: bool) -> None:
    """Run the machine-learning stages (faces, labels, search index) on the photos they have not done yet."""
    from photoshelf.models.enrich import progress, progress_line

    if status:
        data = progress(state.db())
        if as_json:
            _echo_json(data)
        else:
            click.echo(progress_line(data))
        return
    report = _run_enrichment(state, stages=list(stages) or None, limit=limit, quiet=quiet or as_json)
    _after_enrichment(state, report, as_json)


@cli.command()
@click.option("--stage", "stages", multiple=True,
              help="The stage to redo (faces, labels, clip, text, or thumbs: the RAW files' thumbnails); "
                   "repeatable.")
@click.option("--metadata", is_flag=True,
              help="Read the files' metadata again (dates, places, camera, titles...) for photos an older "
                   "photoshelf read; no thumbnails or ML are redone, and fields a person set are kept.")
@click.option("--all", "all_photos", is_flag=True, help="With --metadata: every photo, not only the stale ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
@handle_errors
def reindex(state: State, stages: tuple[str, ...], metadata: bool, all_photos: bool, as_json: bool,
            quiet: bool) -> None:
    """Run a stage again on every photo (e.g. after changing face settings); its results are replaced photo by
    photo, and faces keep the people a user named or corrected.
    A new model version re-runs by itself: `photoshelf enrich` is enough for that."""
    if not stages and not metadata:
        raise click.UsageError("say what to redo: --metadata and/or --stage NAME")
    if all_photos and not metadata:
        raise click.UsageError("--all goes with --metadata")
    if metadata:
        from photoshelf.indexer.reread import reread_metadata, stale_ids

        config = state.config
        db = state.db()
        reread = reread_metadata(config, db, stale_ids(everything=all_photos))
        if config.sidecars.enabled:
            from photoshelf.sidecars.sync import sync_changed

            sync_changed(config)
        if as_json and not stages:
            _echo_json({"metadata": reread.as_dict()})
            return
        if not as_json:
            click.echo(f"metadata   {reread.photos} photos read again, {reread.changed} changed"
                       + (f", {reread.unreadable} not readable (left as they were)" if reread.unreadable else ""))
    ml = [s for s in stages if s != "thumbs"]
    if "thumbs" in stages:
        from photoshelf.indexer.rethumb import redo_thumbnails

        done = redo_thumbnails(state.config, state.db())
        if as_json and not ml:
            _echo_json({"thumbs": done.as_dict()})
            return
        if not as_json:
            click.echo(f"thumbs     {done.done} RAW photos rendered again" + (f", {done.failed} failed" if done.failed
                                                                              else ""))
    if ml:
        report = _run_enrichment(state, stages=ml, quiet=quiet or as_json, reindex=True)
        _after_enrichment(state, report, as_json)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@handle_errors
def restore(state: State, as_json: bool) -> None:
    """Rebuild the catalog after a database loss: index the originals, then bring back every user edit
    (titles, favorites, flags, albums, rotations, hand-set dates) from the sidecars, and the share links from
    users.yaml."""
    from photoshelf.indexer.originals import require_listable
    from photoshelf.indexer.pipeline import Indexer
    from photoshelf.sidecars.sync import restore as restore_sidecars

    config = state.config
    require_listable(config.originals_path)  # before the catalog and storage are created
    db = state.db()
    indexer = Indexer(config, db)
    try:
        indexed = indexer.run(record=True)
    finally:
        indexer.close()
    report = restore_sidecars(config, db)
    from photoshelf import accounts

    links = accounts.restore_shares()  # after the sidecars: the links' albums are back now
    data = {"index": indexed.as_dict(), "sidecars": report.as_dict(), "share_links": links}
    if as_json:
        _echo_json(data)
        return
    click.echo(f"indexed {indexed.seen} files; restored user data of {report.applied} photos from sidecars "
               f"({report.albums_created} albums recreated, {report.faces_restored} faces and "
               f"{report.labels_restored} labels, {report.skipped} sidecars without a photo, "
               f"{report.errors} unreadable); {links} share links restored from users.yaml")
    if state.config.models.enabled:
        click.echo("What the sidecars do not hold (the search index, CLIP embeddings) is rebuilt by "
                   "`photoshelf enrich` (or the watcher).")


@cli.command("import-photoprism")
@click.argument("sidecar_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--database", "database_url", metavar="URL",
              help="PhotoPrism's database: sqlite:///…/storage/index.db or mysql://user:pass@host/photoprism "
                   "(holds albums, labels and people, which its sidecars do not).")
@click.option("--albums", "albums_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="PhotoPrism's album YAML folder (storage/albums), for albums when there is no database.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@handle_errors
def import_photoprism(state: State, sidecar_dir: Path | None, database_url: str | None, albums_dir: Path | None,
                      as_json: bool) -> None:
    """Take what people did in PhotoPrism (titles, descriptions, keywords, favorites, private and archived flags,
    hand-set dates and places, albums, labels they added, people's names) from its database and/or its sidecar
    folder SIDECAR_DIR (storage/sidecar). Run `photoshelf index` on the same originals first (and `photoshelf
    enrich`, for faces to put the names on). See docs/migrating-from-photoprism.md."""
    from photoshelf.sidecars.photoprism import import_library
    from photoshelf.sidecars.sync import sync_changed

    config = state.config
    db = state.db()
    report = import_library(config, db, database_url=database_url, sidecar_dir=sidecar_dir, albums_dir=albums_dir)
    if config.sidecars.enabled:
        sync_changed(config)
    if as_json:
        _echo_json(report.as_dict())
        return
    click.echo(f"imported {report.applied} of {report.photos} PhotoPrism photos ({report.albums_created} albums "
               f"created, {report.album_entries} album entries, {report.labels} labels, {report.people_named} faces "
               f"named; {report.unmatched} matched no photo here, {report.people_unmatched} named faces matched no "
               f"face here, {report.errors} unreadable)")
    if report.unmatched:
        click.echo("Photos that matched nothing (index the same originals first): "
                   + ", ".join(report.unmatched_paths), err=True)


@cli.command()
@click.option("--all", "write_all", is_flag=True, help="Rewrite every sidecar, not only changed photos.")
@click.pass_obj
@handle_errors
def sidecars(state: State, write_all: bool) -> None:
    """Write the YAML sidecars of photos that changed (or all of them)."""
    from photoshelf.db.schema import Photo
    from photoshelf.sidecars.sync import sync_changed, write_sidecars

    config = state.config
    state.db()
    report = write_sidecars(config, Photo.select()) if write_all else sync_changed(config)
    click.echo(f"{report.written} sidecars written, {report.unchanged} unchanged")


@cli.command()
@click.option("--mode", type=click.Choice(["auto", "inotify", "poll"]), help="Override watch.mode.")
@click.option("--poll-interval", type=int, help="Override watch.poll_interval (seconds).")
@click.pass_obj
@handle_errors
def watch(state: State, mode: str | None, poll_interval: int | None) -> None:
    """Run the watcher daemon: rescan what changed while it was down, then follow changes live.

    SIGTERM/SIGINT finish the current batch and exit; SIGHUP reloads the configuration."""
    from photoshelf.indexer.watcher import Watcher

    state.overrides.update({"watch.mode": mode, "watch.poll_interval": poll_interval})
    config = state.config
    watcher = Watcher(config, state.db())

    def stop(signum: int, frame: Any) -> None:
        log.info("watch: signal %s: finishing the current batch, then exiting", signum)
        watcher.stop()

    def reload(signum: int, frame: Any) -> None:
        try:
            watcher.reload(load_config(state.config_path, overrides=state.overrides))
        except ConfigError as exc:
            log.error("watch: not reloading, the new configuration is invalid: %s", exc)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    watcher.run()
    log.info("watch: stopped")


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handle_errors
def show(state: State, ref: str, as_json: bool) -> None:
    """Everything the catalog knows about one photo (by path, id or uid)."""
    from photoshelf.db.schema import File
    from photoshelf.filenames import path_hash
    from photoshelf.records import file_record, find_photo, records

    config = state.config
    state.db()
    originals = str(config.originals_path)
    try:
        data = records([find_photo(ref, originals)])[0]
    except NotFound:
        rel = ref[len(originals) + 1:] if ref.startswith(originals + "/") else ref
        f = File.get_or_none(File.path_hash == path_hash(rel))
        if f is None or f.photo_id is not None:
            raise
        data = file_record(f)
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        if value in (None, [], ""):
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value, ensure_ascii=False)
        click.echo(f"{key:18} {value}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, default=True, help="JSON lines (the default and only format).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Write to a file instead of stdout.")
@click.option("--include-missing/--present-only", default=True, help="Include photos whose files are missing.")
@click.pass_obj
@handle_errors
def export(state: State, as_json: bool, output: Any, include_missing: bool) -> None:
    """Every photo as JSON lines, with the same fields as `show --json`."""
    from photoshelf.records import iter_records

    state.db()
    for record in iter_records(include_missing=include_missing):
        output.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one photo each.")
@click.option("--limit", default=50, show_default=True, help="How many photos to list.")
@click.option("--offset", default=0, help="Skip this many photos.")
@click.pass_obj
@handle_errors
def search(state: State, query: tuple[str, ...], as_json: bool, limit: int, offset: int) -> None:
    """Search the catalog: free text and filters like year:2019 month:7 camera:canon type:video path:Holiday
    after:2019-01-01 before:2020-01-01 taken:2019-06..2019-08, with "quotes", a|b for OR and !x for NOT."""
    from photoshelf import search as search_mod
    from photoshelf.records import records

    state.db()
    text = " ".join(query)
    photos, total = search_mod.search(text, limit=limit, offset=offset, config=state.config)
    rows = records(photos)
    if as_json:
        for row in rows:
            _echo_json(row)
        return
    for row in rows:
        when = (row["taken_at_local"] or "")[:19].replace("T", " ")
        click.echo(f"{row['id']:>7}  {when:19}  {row['type']:5}  {row['path']}")
    click.echo(f"{len(rows)} of {total} photos", err=True)


def _doctor_audit(state: State, as_json: bool) -> None:
    """`doctor --audit`: every original against the catalog's hash, read-only; exit 1 when anything is found."""
    from photoshelf.audit import PROBLEMS, audit_originals, open_catalog_as_is

    config = state.config
    open_catalog_as_is(config)
    progress, update = (None, None) if as_json or not sys.stderr.isatty() else _progress_bar()
    if progress is not None:
        with progress:
            report = audit_originals(config, progress=update)
    else:
        report = audit_originals(config)
    if as_json:
        _echo_json(report.as_dict())
    else:
        for f in report.findings:
            click.echo(f"{click.style(f'{f.problem:10}', fg='red')} {f.path}: {f.detail}")
        counts = ", ".join(f"{n} {problem}" for problem, n in sorted(report.counts().items()))
        click.echo(f"{report.checked} originals read ({report.bytes_read / 1e6:,.1f} MB in {report.seconds:.1f}s): "
                   + (f"{len(report.findings)} found ({counts})" if report.findings else "all match the catalog"))
        for problem in sorted(report.counts()):
            click.echo(f"  {problem}: {PROBLEMS[problem]}")
    if not report.ok:
        sys.exit(EXIT_ERROR)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--audit", is_flag=True, help="Instead: read every original and compare it with the catalog's hash "
              "(bit rot, changed, vanished files); read-only, exit 1 when anything is found.")
@click.pass_obj
@handle_errors
def doctor(state: State, as_json: bool, audit: bool) -> None:
    """Check tools, database, watch limits and disk; list files that failed, with reasons."""
    from photoshelf.doctor import run_checks

    if audit:
        _doctor_audit(state, as_json)
        return
    report = run_checks(state.config, state.db())
    if as_json:
        _echo_json(report)
    else:
        for check in report["checks"]:
            mark = click.style("ok  ", fg="green") if check["ok"] else click.style("FAIL", fg="red")
            click.echo(f"{mark} {check['name']:14} {check['detail']}")
            if check["hint"]:
                click.echo(f"     {'':14} -> {check['hint']}")
        if report["last_index"]:
            li = report["last_index"]
            click.echo(f"last index: {li['state']} (started {li['started'][:19]})" + (f": {li['error']}" if li["error"] else ""))
        if report["failed_files"]:
            click.echo(f"\n{len(report['failed_files'])} files could not be indexed:")
            for f in report["failed_files"]:
                click.echo(f"  {f['path']}: {f['reason']}")
        if report["warnings"]:
            click.echo(f"\n{len(report['warnings'])} warnings:")
            for w in report["warnings"]:
                click.echo(f"  {w['path']} [{w['stage']}]: {w['reason']}")
        if report["unreadable"]:
            click.echo(f"\n{len(report['unreadable'])} folders or files could not be read (nothing in them was "
                       "marked missing):")
            for u in report["unreadable"]:
                click.echo(f"  {u['path'] or '.'}: {u['reason']} (since {u['since'][:19]})")
        for o in report["other_files"]:
            more = f" and {o['count'] - len(o['examples'])} more" if o["count"] > len(o["examples"]) else ""
            click.echo(f"  not indexed ({o['extension'] or 'no extension'}: not a photo or video type): "
                       f"{', '.join(o['examples'])}{more}")
    if not report["ok"]:
        sys.exit(EXIT_ERROR)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handle_errors
def stats(state: State, as_json: bool) -> None:
    """Counts: photos by type, files, folders, failures, duplicates, stacks, thumbnail size."""
    from photoshelf.stats import library_stats

    state.db()
    data = library_stats()
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        if key == "by_type":
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "-"
        elif key == "thumbnail_bytes":
            key, value = "thumbnails", f"{value / 1e6:,.1f} MB"
        click.echo(f"{key.replace('_', ' '):24} {value}")


@cli.command("config")
@click.pass_obj
@handle_errors
def show_config(state: State) -> None:
    """Print the effective configuration (defaults, file, environment and flags combined) as TOML."""
    for section, values in as_dict(state.config).items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            click.echo(f"{key} = {json.dumps(value)}")
        click.echo()


def _register_optional_commands(group: click.Group) -> None:
    """Commands that live beside the code they drive (the viewer's `serve`), registered when present."""
    import importlib

    for module_name, attrs in (("photoshelf.viewer.commands", ("serve",)),
                               ("photoshelf.models.commands", ("commands", "models")),
                               ("photoshelf.models.people_cli", ("commands", "people")),
                               ("photoshelf.accounts_cli", ("users",)),
                               ("photoshelf.accounts_cli", ("share",)),
                               ("photoshelf.ops_cli", ("commands",)),
                               ("photoshelf.duplicates_cli", ("duplicates",))):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found = next((getattr(module, a) for a in attrs if hasattr(module, a)), None)
        if found is None:
            raise AttributeError(f"{module_name} has none of {', '.join(attrs)}")
        for command in found if isinstance(found, (list, tuple)) else [found]:
            group.add_command(command)


def main() -> None:
    cli(prog_name="photoshelf")


if __name__ == "__main__":
    main()

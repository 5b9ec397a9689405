"""The operator's commands: `init`, `doctor`, `stats`, `config`, `backup` (and `backup restore`), `migrate` and
`version`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from photoshelf.cli.common import EXIT_ERROR, State, echo_json, progress_bar
from photoshelf.config import as_dict


@click.command()
@click.pass_obj
def init(state: State) -> None:
    """Create the storage folder and the catalog (safe to run again)."""
    from photoshelf.db.migrations import current_version

    config = state.config
    db = state.db()
    config.thumbs_path.mkdir(parents=True, exist_ok=True)
    click.echo(f"originals: {config.originals_path}" + ("" if config.originals_path.is_dir() else "  (not found!)"))
    click.echo(f"storage:   {config.storage_path}")
    click.echo(f"catalog:   {config.database_url} (schema version {current_version(db)})")



def _doctor_audit(state: State, as_json: bool) -> None:
    """`doctor --audit`: every original against the catalog's hash, read-only; exit 1 when anything is found."""
    from photoshelf.audit import PROBLEMS, audit_originals, open_catalog_as_is

    config = state.config
    open_catalog_as_is(config)
    progress, update = (None, None) if as_json or not sys.stderr.isatty() else progress_bar()
    if progress is not None:
        with progress:
            report = audit_originals(config, progress=update)
    else:
        report = audit_originals(config)
    if as_json:
        echo_json(report.as_dict())
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--audit", is_flag=True, help="Instead: read every original and compare it with the catalog's hash "
              "(bit rot, changed, vanished files); read-only, exit 1 when anything is found.")
@click.pass_obj
def doctor(state: State, as_json: bool, audit: bool) -> None:
    """Check tools, database, watch limits and disk; list files that failed, with reasons."""
    from photoshelf.doctor import run_checks

    if audit:
        _doctor_audit(state, as_json)
        return
    report = run_checks(state.config, state.db())
    if as_json:
        echo_json(report)
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def stats(state: State, as_json: bool) -> None:
    """Counts: photos by type, files, folders, failures, duplicates, stacks, thumbnail size."""
    from photoshelf.stats import library_stats

    state.db()
    data = library_stats()
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if key == "by_type":
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "-"
        elif key == "thumbnail_bytes":
            key, value = "thumbnails", f"{value / 1e6:,.1f} MB"
        click.echo(f"{key.replace('_', ' '):24} {value}")


@click.command("config")
@click.pass_obj
def show_config(state: State) -> None:
    """Print the effective configuration (defaults, file, environment and flags combined) as TOML."""
    for section, values in as_dict(state.config).items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            click.echo(f"{key} = {json.dumps(value)}")
        click.echo()




class _BackupGroup(click.Group):
    """`photoshelf backup DEST` is `photoshelf backup create DEST`; `photoshelf backup restore SRC` restores."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup, subcommand_metavar="DEST | restore SRC")
def backup() -> None:
    """Back up the catalog, users, sidecars and settings into a folder (`backup DEST`), or restore one
    (`backup restore SRC`). The originals and thumbnails are not in it: see docs/backup.md."""


@backup.command("create")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def backup_create(state: State, dest: Path, as_json: bool) -> None:
    """Back up into DEST, a new or empty folder; safe while `serve` or `watch` runs (a consistent copy)."""
    from photoshelf import backup as backups

    report = backups.create(state.config, state.db(), dest)
    if as_json:
        echo_json(report.as_dict())
        return
    c = report.counts
    click.echo(f"backed up {c['photos']} photos, {c['albums']} albums, {c['people']} named people, {c['users']} users "
               f"({report.backend} catalog, schema {report.schema_version}) to {report.path} in {report.seconds:.1f}s")
    click.echo("Not in it: thumbnails (rebuilt by `photoshelf index --force`) and the originals (back them up too).")


@backup.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the catalog, users and sidecars that are there.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def backup_restore(state: State, src: Path, force: bool, as_json: bool) -> None:
    """Restore the backup in SRC into the configured storage folder and catalog (empty ones, unless --force).
    An older backup's catalog is migrated to this photoshelf's schema as it is opened."""
    from photoshelf import backup as backups

    report = backups.restore(state.config, src, force=force)
    state.db()  # open (and migrate) the restored catalog
    differences = backups.check_restored(report)
    if as_json:
        echo_json({**report.as_dict(), "differences": differences})
    else:
        click.echo(f"restored {report.counts.get('photos', 0)} photos, {report.counts.get('users', 0)} users "
                   f"from {report.source} ({', '.join(report.files)})")
        for line in differences:
            click.echo(f"warning: {line} (was the catalog written while the backup was made?)", err=True)
        click.echo("Thumbnails are not in a backup: run `photoshelf index --force` to rebuild them.")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only print the migrations that would run.")
@click.option("--no-backup", is_flag=True, help="Do not copy the catalog to <storage>/backups first.")
@click.pass_obj
def migrate(state: State, dry_run: bool, no_backup: bool) -> None:
    """Apply the catalog's pending schema migrations, after a copy of it in <storage>/backups.
    Every command does this by itself on start; this one says what it does, or only what it would do."""
    from photoshelf.audit import open_catalog_as_is
    from photoshelf.db import migrations
    from photoshelf.db.upgrade import upgrade

    config = state.config
    db = open_catalog_as_is(config) if dry_run else _connect(state)
    have = migrations.current_version(db)
    todo = migrations.pending(db)
    click.echo(f"catalog schema {have}, this photoshelf {migrations.LATEST}: "
               + (f"{len(todo)} migrations pending" if todo else "up to date"))
    if dry_run or not todo:
        for version in todo:
            click.echo(f"  would apply {version}: {migrations.describe(version)}")
        return

    def step(version: int, what: str) -> None:
        click.echo(f"  applying {version}: {what}")

    report = upgrade(db, config.database_url, config.storage_path, backup=not no_backup, on_step=step)
    if report.backup is not None:
        click.echo(f"the catalog was copied to {report.backup} first")
    elif report.backup_skipped:
        click.echo(f"warning: {report.backup_skipped}", err=True)
    click.echo(f"catalog schema now {report.after}")


def _connect(state: State) -> Any:
    """The catalog, created when missing but not migrated (migrate does that itself, saying so)."""
    import peewee as pw

    from photoshelf.db.backends import connect
    from photoshelf.errors import DatabaseError

    config = state.config
    config.storage_path.mkdir(parents=True, exist_ok=True)
    db = connect(config.database_url)
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open the catalog at {config.database_url}: {exc}") from None
    return db


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def version(state: State, as_json: bool) -> None:
    """Versions: photoshelf, the catalog schema (of this code and of the catalog), Python, exiftool, ffmpeg,
    SQLite and sqlite-vec, and the Python packages that do the work."""
    from photoshelf.errors import ConfigError
    from photoshelf.versions import versions

    try:
        config = state.config
    except ConfigError as exc:  # the versions are still worth printing
        click.echo(f"warning: {exc}", err=True)
        config = None
    data = versions(config)
    if as_json:
        echo_json(data)
        return
    catalog = data["schema"]["catalog"] or {}
    click.echo(f"photoshelf      {data['photoshelf']}")
    click.echo(f"schema          {data['schema']['code']} (this code); catalog: "
               f"{catalog.get('version') if catalog.get('version') is not None else '-'} ({catalog.get('detail', '')})")
    for key in ("python", "exiftool", "ffmpeg", "sqlite", "sqlite_vec", "mariadb_dump"):
        click.echo(f"{key.replace('_', '-'):15} {data.get(key) or 'not found'}")
    for name, found in data["packages"].items():
        click.echo(f"{name:15} {found or 'not installed'}")


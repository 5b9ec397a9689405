"""Health checks for `photoshelf doctor`: tools, database, watch limits, disk, what is not installed (with the
command that installs it), and files that failed."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.config import Config
from photoshelf.db import settings
from photoshelf.db.backends import describe
from photoshelf.db.schema import File, Folder, IndexIssue, Job


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def _exiftool(config: Config) -> Check:
    exe = shutil.which(config.exiftool.path)
    if exe is None:
        return Check("exiftool", False, f"{config.exiftool.path!r} not found",
                     "sudo apt-get install libimage-exiftool-perl (Debian, Ubuntu; the container image has it), "
                     "or set exiftool.path to where it is")
    try:
        out = subprocess.run([exe, "-ver"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("exiftool", False, f"{exe} does not run: {exc}")
    return Check("exiftool", True, f"{exe} version {out}")


def _video(config: Config) -> Check:
    try:
        import av
    except ImportError:
        return Check("video (PyAV)", False, "PyAV is not installed", f"{_pip()} install av")
    ffmpeg = shutil.which(config.video.ffmpeg)
    detail = f"PyAV {av.__version__} (FFmpeg libraries bundled)"
    if ffmpeg:
        return Check("video (PyAV)", True, f"{detail}; ffmpeg {ffmpeg} for browser copies of videos")
    if not config.video.transcode:
        return Check("video (PyAV)", True, f"{detail}; no ffmpeg binary (not needed: video.transcode = false)")
    return Check("video (PyAV)", False, f"{detail}; {config.video.ffmpeg!r} not found: videos a browser cannot "
                 "play (AVI, WMV, MTS…) get no playable copy (video.transcode)",
                 "sudo apt-get install ffmpeg (Debian, Ubuntu), or set video.ffmpeg to where it is")


def _images() -> Check:
    parts = []
    try:
        import PIL

        parts.append(f"Pillow {PIL.__version__}")
        import pillow_heif

        parts.append(f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})")
        import rawpy

        parts.append(f"rawpy {rawpy.__version__} (LibRaw {rawpy.libraw_version})")
    except ImportError as exc:
        return Check("images", False, f"missing: {exc.name}", f"{_pip()} install --force-reinstall photoshelf")
    return Check("images", True, ", ".join(str(p) for p in parts))


def _pip() -> str:
    from photoshelf.doctor_install import pip_command

    return pip_command()


def _database(db: pw.Database) -> Check:
    try:
        return Check("database", True, describe(db))
    except pw.PeeweeException as exc:
        return Check("database", False, f"cannot query the catalog: {exc}")


def _inotify(folders: int) -> Check:
    path = Path("/proc/sys/fs/inotify/max_user_watches")
    try:
        limit = int(path.read_text().strip())
    except (OSError, ValueError):
        return Check("inotify", True, "not Linux or limit unknown: the watcher will poll")
    ok = limit >= folders * 2 + 1000
    hint = None
    if not ok:
        want = max(524288, folders * 4)
        hint = (f"sudo sysctl -w fs.inotify.max_user_watches={want} && echo fs.inotify.max_user_watches={want} | "
                "sudo tee /etc/sysctl.d/90-photoshelf.conf (on a NAS: a boot-up task, docs/install.md); until "
                "then the watcher polls the folders it cannot watch")
    return Check("inotify", ok, f"max_user_watches={limit} for {folders} folders", hint)


def _disk(path: Path) -> Check:
    probe = path if path.exists() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1e9
    ok = free_gb >= 1.0
    return Check("disk", ok, f"{free_gb:,.1f} GB free for storage at {path}",
                 None if ok else "thumbnails need space: free some, or point library.storage elsewhere")


def _originals(config: Config) -> Check:
    root = config.originals_path
    if not root.is_dir():
        return Check("originals", False, f"{root} is not a folder", "set library.originals or PHOTOSHELF_ORIGINALS")
    if not os.access(root, os.R_OK | os.X_OK):
        return Check("originals", False, f"{root} is not readable by this user")
    return Check("originals", True, f"{root}")


def _watcher() -> Check:
    beat = settings.heartbeat()
    if beat is None:
        return Check("watcher", True, "has never run (photoshelf watch, or serve, runs it)")
    age = beat.get("age_seconds")
    detail = (f"{beat['state']}, {beat['mode']} mode, pid {beat['pid']}, last heartbeat {age}s ago, "
              f"{beat['pending']} pending, {beat['indexed_paths']} paths indexed")
    if beat["state"] == "running" and age is not None and age > 3 * int(beat.get("interval", 10)) + 5:
        return Check("watcher", False, detail, "the watcher stopped sending heartbeats: is it still running?")
    if beat["state"] == "running" and beat.get("unavailable"):
        return Check("watcher", False, f"{detail}; cannot read the originals: {beat['unavailable']}",
                     "mount the share (or fix its permissions): the watcher tries again by itself")
    return Check("watcher", True, detail)


def _unreadable(paths: list[dict[str, str]]) -> Check:
    if not paths:
        return Check("folders", True, "every folder of the originals could be read")
    return Check("folders", False, f"{len(paths)} folders or files could not be read at the last scan (listed "
                 "below); nothing in them was marked missing",
                 "fix their permissions for the user photoshelf runs as (or mount them), then index again")


def _other(other: list[dict[str, Any]]) -> Check:
    total = sum(o["count"] for o in other)
    if not total:
        return Check("other files", True, "every file of the last full scan is a photo, a video or a sidecar")
    kinds = ", ".join(f"{o['count']} {o['extension'] or '(no extension)'}" for o in other[:8])
    return Check("other files", True, f"{total} files not indexed, by their extension not photos, videos or "
                 f"sidecars: {kinds} (listed below)")


def run_checks(config: Config, db: pw.Database) -> dict[str, Any]:
    from photoshelf import doctor_install

    folders = Folder.select().count()
    cannot_read = settings.unreadable()
    checks = [_originals(config), _exiftool(config), _images(), _video(config), _database(db), _inotify(folders),
              _disk(config.storage_path), _watcher(), _unreadable(cannot_read),
              *doctor_install.extras(config), *doctor_install.models(config)]
    other = settings.other_files()
    checks.append(_other(other))
    failed = [
        {"path": f.path, "reason": f.error}
        for f in File.select().where(File.error.is_null(False) & File.missing_since.is_null()).order_by(File.path)
    ]
    warnings = [
        {"path": i.file.path, "stage": i.stage, "reason": i.reason}
        for i in IndexIssue.select(IndexIssue, File).join(File).where(
            (IndexIssue.severity == "warning") & File.missing_since.is_null()
        ).order_by(File.path)
    ]
    last = Job.select().where(Job.kind == "index").order_by(Job.id.desc()).first()
    last_run = None
    if last is not None:
        last_run = {"state": last.state, "started": str(last.created_at), "finished": str(last.updated_at),
                    "error": last.error}
    return {
        "ok": all(c.ok for c in checks),
        "checks": [asdict(c) for c in checks],
        "failed_files": failed,
        "warnings": warnings,
        "unreadable": cannot_read,
        "other_files": other,
        "last_index": last_run,
    }

"""The status page's data: library counts, health checks, files that failed, the last index, the watcher."""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

from photoshelf.config import Config
from photoshelf.db import settings
from photoshelf.db.rows import tuples
from photoshelf.db.schema import Job
from photoshelf.doctor import run_checks
from photoshelf.stats import library_stats


def status(config: Config, db: pw.Database) -> dict[str, Any]:
    report = run_checks(config, db)
    queue = dict(tuples(Job.select(Job.state, pw.fn.COUNT(Job.id)).group_by(Job.state)))
    running = Job.select().where((Job.kind == "index") & (Job.state == "running")).order_by(Job.id.desc()).first()
    progress = None
    if running is not None and running.progress:
        try:
            progress = json.loads(running.progress)
        except ValueError:
            progress = running.progress
    return {
        "stats": library_stats(),
        "checks": report["checks"],
        "ok": report["ok"],
        "failed_files": report["failed_files"],
        "warnings": report["warnings"],
        "last_index": report["last_index"],
        "indexing": {"since": str(running.created_at), "progress": progress} if running is not None else None,
        "jobs": queue,
        "watcher": settings.heartbeat(),
    }

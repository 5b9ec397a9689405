"""Durable job queue in the catalog: work survives a crash as rows, and is resumed rather than lost."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee as pw

from photoshelf.db.rows import tuples
from photoshelf.db.schema import Job, utcnow

BACKOFF_SECONDS = (5, 30, 120, 600, 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


def enqueue(kind: str, key: str | None = None, payload: dict[str, Any] | None = None, priority: int = 0) -> Job:
    """Queue a job; a queued job of the same kind and key is reused instead of duplicated."""
    if key is not None:
        existing = Job.get_or_none((Job.kind == kind) & (Job.key == key) & (Job.state == "queued"))
        if existing is not None:
            if payload is not None:
                existing.payload = json.dumps(payload)
                existing.updated_at = utcnow()
                existing.save()
            return existing
    return Job.create(kind=kind, key=key, payload=json.dumps(payload or {}), priority=priority)


def claim(kind: str | None = None, limit: int = 1) -> list[Job]:
    """Take up to `limit` queued jobs (highest priority, oldest first) and mark them running."""
    query = Job.select().where((Job.state == "queued") & (Job.run_after <= utcnow()))
    if kind is not None:
        query = query.where(Job.kind == kind)
    jobs = list(query.order_by(Job.priority.desc(), Job.id).limit(limit))
    if jobs:
        Job.update(state="running", updated_at=utcnow(), attempts=Job.attempts + 1).where(
            Job.id.in_([j.id for j in jobs])
        ).execute()
        for job in jobs:
            job.state = "running"
            job.attempts += 1
    return jobs


def start(kind: str, payload: dict[str, Any] | None = None) -> Job:
    """Record a job that runs right now in this process (e.g. an index run)."""
    return Job.create(kind=kind, payload=json.dumps(payload or {}), state="running", attempts=1)


def progress(job: Job, data: dict[str, Any]) -> None:
    Job.update(progress=json.dumps(data), updated_at=utcnow()).where(Job.id == job.id).execute()


def complete(job: Job, data: dict[str, Any] | None = None) -> None:
    fields: dict[Any, Any] = {Job.state: "done", Job.updated_at: utcnow(), Job.error: None}
    if data is not None:
        fields[Job.progress] = json.dumps(data)
    Job.update(fields).where(Job.id == job.id).execute()


def finish_failed(job: Job, error: str, data: dict[str, Any] | None = None) -> None:
    """Record that a run (see start) ended in an error; it is not retried."""
    Job.update(state="failed", error=error, progress=json.dumps(data or {}, default=str), updated_at=utcnow()).where(
        Job.id == job.id
    ).execute()


def fail(job: Job, error: str) -> None:
    """Record a failure; retry later with backoff until MAX_ATTEMPTS, then leave it failed for `doctor`."""
    attempts = job.attempts
    if attempts >= MAX_ATTEMPTS:
        Job.update(state="failed", error=error, updated_at=utcnow()).where(Job.id == job.id).execute()
        return
    delay = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
    Job.update(
        state="queued", error=error, updated_at=utcnow(), run_after=utcnow() + dt.timedelta(seconds=delay)
    ).where(Job.id == job.id).execute()


def recover_interrupted(kind: str | None = None) -> int:
    """Jobs left 'running' by a process that died: queued again (or marked interrupted for run records)."""
    query = Job.update(state="queued", updated_at=utcnow()).where(Job.state == "running")
    if kind is not None:
        query = query.where(Job.kind == kind)
    return int(query.execute())


def interrupted_runs(kind: str) -> list[Job]:
    """Run records (see start) of `kind` that never completed: their process was killed."""
    return list(Job.select().where((Job.kind == kind) & (Job.state == "running")))


def mark_interrupted(job: Job) -> None:
    Job.update(state="failed", error="interrupted (the process was killed)", updated_at=utcnow()).where(
        Job.id == job.id
    ).execute()


def counts() -> dict[str, int]:
    return dict(tuples(Job.select(Job.state, pw.fn.COUNT(Job.id).alias("n")).group_by(Job.state)))

"""Catalog-wide state kept in the setting table: a text or JSON value by key, and typed accessors for the keys
more than one module reads (the watcher's heartbeat, the last sidecar sync, the last scan's findings...)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from photoshelf.db.schema import Setting, utcnow

log = logging.getLogger(__name__)

HEARTBEAT = "watcher"  # the watcher's last heartbeat (indexer/watcher.py writes it; doctor and the viewer read it)
SECRET_KEY = "secret_key"  # hex of the random secret that signs cookies and CSRF tokens (accounts.py)
SHARES_PENDING = "share_links_pending"  # a catalog rebuilt without its share links, until restore_shares
ENRICH_STAGES = "enrich.stages"  # the versions (and unavailability) the last enrich run saw
SIDECARS_SYNCED = "sidecars.synced_at"  # the start of the last pass that wrote changed photos' sidecars
SIDECAR_FILES_SYNCED = "sidecars.files_synced_at"  # its end: sidecar files changed later are hand edits
UNREADABLE = "index.unreadable"  # {path: {"reason": ..., "since": ...}} of the last scans
OTHER_FILES = "index.other_files"  # {extension: {"count": n, "examples": [path, ...]}} of the last full scan


# --- by key ---


def get_text(key: str) -> str | None:
    # A tuple, not a model instance: the vector index reads its stamp here on every search.
    row = Setting.select(Setting.value).where(Setting.key == key).tuples().first()
    return None if row is None else str(row[0])


def put_text(key: str, value: str) -> None:
    Setting.insert(key=key, value=value).on_conflict_replace().execute()


def text_or_put(key: str, make: Callable[[], str]) -> str:
    """The value under `key`; when there is none yet, make() is stored first (the first of racing writers wins)."""
    stored = get_text(key)
    if stored is None:
        Setting.insert(key=key, value=make()).on_conflict_ignore().execute()
        stored = str(Setting.get(Setting.key == key).value)
    return stored


def delete(key: str) -> None:
    Setting.delete().where(Setting.key == key).execute()


def get_json(key: str, default: Any = None) -> Any:
    """The JSON value under `key`; `default` when there is none or it does not parse (logged)."""
    text = get_text(key)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        log.warning("ignoring an unreadable %s setting", key)
        return default


def put_json(key: str, value: Any, *, sort_keys: bool = False) -> None:
    put_text(key, json.dumps(value, sort_keys=sort_keys))


def get_dict(key: str) -> dict[str, Any]:
    """A JSON object kept under `key` ({} when there is none, or something else is stored)."""
    data = get_json(key, {})
    return data if isinstance(data, dict) else {}


def put_dict(key: str, value: dict[str, Any]) -> None:
    """Keep a JSON object (keys sorted) under `key`; an empty one removes the key."""
    if value:
        put_json(key, value, sort_keys=True)
    else:
        delete(key)


def get_time(key: str) -> dt.datetime | None:
    """A naive UTC instant kept under `key` (as put_time writes it)."""
    text = get_text(key)
    return None if text is None else dt.datetime.fromisoformat(text)


def put_time(key: str, when: dt.datetime | None = None) -> None:
    put_text(key, (when or utcnow()).isoformat())


# --- typed, for the keys several modules use ---


def heartbeat() -> dict[str, Any] | None:
    """The watcher's last heartbeat (for `doctor` and the viewer's status page), with its age in seconds."""
    data = get_json(HEARTBEAT)
    if not isinstance(data, dict):
        return None
    try:
        at = dt.datetime.fromisoformat(data["at"].rstrip("Z"))
        data["age_seconds"] = round((utcnow() - at).total_seconds(), 1)
    except (KeyError, ValueError, AttributeError):
        data["age_seconds"] = None
    return data


def put_heartbeat(data: dict[str, Any]) -> None:
    """Record a heartbeat; `data["at"]` is the naive UTC instant in ISO form with a trailing Z."""
    put_json(HEARTBEAT, data)


def shares_pending() -> bool:
    """Whether a rebuilt catalog still waits for its share links (`photoshelf restore` puts them back)."""
    return get_text(SHARES_PENDING) is not None


def set_shares_pending(pending: bool) -> None:
    if pending:
        put_time(SHARES_PENDING)
    else:
        delete(SHARES_PENDING)


def enrich_stages() -> dict[str, dict[str, Any]]:
    """Per stage name, what the last enrich run saw: version, unavailable, thumbnails, kinds (in run order)."""
    return get_json(ENRICH_STAGES) or {}


def put_enrich_stages(info: dict[str, dict[str, Any]]) -> None:
    put_json(ENRICH_STAGES, info)  # unsorted: the stages' order is the run's


def unreadable() -> list[dict[str, str]]:
    """Paths the last scans could not read, with why and since when (nothing under them was marked missing)."""
    return [{"path": path, **value} for path, value in sorted(get_dict(UNREADABLE).items())]


def other_files() -> list[dict[str, Any]]:
    """What the last full scan passed over: [{"extension", "count", "examples"}], most numerous first."""
    out = [{"extension": ext, "count": int(v.get("count", 0)), "examples": list(v.get("examples", []))}
           for ext, v in get_dict(OTHER_FILES).items() if isinstance(v, dict)]
    return sorted(out, key=lambda o: (-o["count"], o["extension"]))

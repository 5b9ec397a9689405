"""photoshelf/db/settings.py against a real catalog on both backends."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from photoshelf.db import settings
from photoshelf.db.schema import Setting, utcnow

from conftest import Library


def test_text_json_and_delete(empty_library: Library, caplog: pytest.LogCaptureFixture) -> None:
    assert settings.get_text("test.a") is None and settings.get_json("test.a", 7) == 7
    settings.put_json("test.a", {"b": [1, 2]})
    assert settings.get_json("test.a") == {"b": [1, 2]}
    settings.put_text("test.a", "{not json")  # replaced, not added
    assert Setting.select().where(Setting.key == "test.a").count() == 1
    with caplog.at_level(logging.WARNING):
        assert settings.get_json("test.a", {}) == {}
    assert "test.a" in caplog.text
    settings.delete("test.a")
    assert settings.get_text("test.a") is None


def test_text_or_put_keeps_the_first(empty_library: Library) -> None:
    assert settings.text_or_put("test.k", lambda: "one") == "one"
    assert settings.text_or_put("test.k", lambda: "two") == "one"


def test_dicts_are_sorted_and_empty_removes(empty_library: Library) -> None:
    settings.put_dict(settings.OTHER_FILES, {"b": 1, "a": 2})
    assert settings.get_text(settings.OTHER_FILES) == '{"a": 2, "b": 1}'
    settings.put_text(settings.OTHER_FILES, "[1]")
    assert settings.get_dict(settings.OTHER_FILES) == {}  # not an object
    settings.put_dict(settings.OTHER_FILES, {})
    assert settings.get_text(settings.OTHER_FILES) is None


def test_times(empty_library: Library) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    settings.put_time(settings.SIDECARS_SYNCED, when)
    assert settings.get_time(settings.SIDECARS_SYNCED) == when
    assert settings.get_time(settings.SIDECAR_FILES_SYNCED) is None


def test_heartbeat_age(empty_library: Library) -> None:
    assert settings.heartbeat() is None
    at = utcnow() - dt.timedelta(seconds=30)
    settings.put_heartbeat({"state": "running", "at": at.isoformat() + "Z"})
    beat = settings.heartbeat()
    assert beat is not None and beat["state"] == "running" and 29 <= beat["age_seconds"] < 120
    settings.put_heartbeat({"state": "running", "at": "yesterday"})
    assert settings.heartbeat()["age_seconds"] is None  # type: ignore[index]


def test_shares_pending_and_enrich_stages(empty_library: Library) -> None:
    assert not settings.shares_pending()
    settings.set_shares_pending(True)
    assert settings.shares_pending()
    settings.set_shares_pending(False)
    assert not settings.shares_pending()
    assert settings.enrich_stages() == {}
    info = {"zeta": {"version": "2"}, "alpha": {"version": "1"}}
    settings.put_enrich_stages(info)
    assert list(settings.enrich_stages()) == ["zeta", "alpha"]  # the run's order, not sorted

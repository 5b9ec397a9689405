"""The duplicates page and its API (issue 16) through the real app on both backends: groups side by side with the
keeper and why, confirm per group and in bulk (members and admins, with the CSRF token), take back, bad forms
answered 400/404, a viewer gets no forms and a 403; nothing under the originals changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logins import viewer_client
from starlette.testclient import TestClient
from test_duplicates import COPIES, ORIG, make_source

from photoshelf.db.schema import File, Photo
from photoshelf.library import index_library

from conftest import Library, make_library
from support import checksums


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = make_library(tmp_path, database_url, make_source(tmp_path / "source"))
    index_library(library.config, library.db)
    yield library
    library.db.close()


def _near(client: TestClient) -> dict[str, Any]:
    groups = client.get("/api/v1/duplicates").json()["groups"]
    return next(g for g in groups if g["kind"] == "near")


def _search_ids(client: TestClient) -> set[int]:
    return {p["id"] for p in client.get("/api/v1/search", params={"q": "", "limit": "500"}).json()["photos"]}


def test_page_confirm_undo_and_bulk(lib: Library) -> None:
    before = checksums(lib.originals)
    orig = File.get(File.path == ORIG).photo_id
    with viewer_client(lib.config, lib.db, role="member") as client:
        page = client.get("/duplicates")
        assert page.status_code == 200
        html = page.text
        for text in ("Exact copies", "Near-duplicates", "Bursts", "would free", "Keep</b>", ORIG, COPIES[0],
                     "Confirm all 1 near-duplicate group as suggested", "/static/duplicates.css"):
            assert text in html, text
        api = client.get("/api/v1/duplicates").json()
        kinds = [g["kind"] for g in api["groups"]]
        assert kinds.index("exact") < kinds.index("near") < kinds.index("burst")
        exact = next(g for g in api["groups"] if g["kind"] == "exact")
        assert len(exact["photos"][0]["files"]) == 2
        near = _near(client)
        assert {p["id"] for p in near["photos"] if p["keep"]} == {orig}
        assert all(p["reason"] and p["path"] for p in near["photos"])
        copies = {p["id"] for p in near["photos"] if not p["keep"]}
        assert len(copies) == len(COPIES) and copies <= _search_ids(client)

        # Confirm this group, keeping another photo than the suggested one.
        other = min(copies)
        r = client.post("/duplicates/resolve", data={"group": near["group"], "keep": str(other)},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/duplicates")
        near = _near(client)
        assert near["resolved"] and {p["id"] for p in near["photos"] if p["keep"]} == {other}
        hidden = {p.id for p in Photo.select().where(Photo.duplicate_of == other)}
        assert hidden == (copies - {other}) | {orig} and not hidden & _search_ids(client)
        assert "Undo: show the copies again" in client.get("/duplicates").text
        # Undo, then confirm every suggested group at once.
        assert client.post("/duplicates/unresolve", data={"photo": str(other)}, follow_redirects=False).status_code == 303
        assert not _near(client)["resolved"] and Photo.select().where(Photo.archived == True).count() == 0  # noqa: E712
        assert client.post("/duplicates/resolve", data={"all": "suggested"}, follow_redirects=False).status_code == 303
        assert Photo.select().where(Photo.duplicate_of == orig).count() == len(COPIES)
        burst = next(g for g in client.get("/api/v1/duplicates").json()["groups"] if g["kind"] == "burst")
        assert not burst["resolved"], "bulk confirmation leaves bursts (distinct shots) alone"

        # Bad forms lose nothing and say why.
        assert client.post("/duplicates/resolve", data={}).status_code == 400
        assert client.post("/duplicates/resolve", data={"group": "near:nosuchphoto"}).status_code == 404
        assert client.post("/duplicates/resolve", data={"group": near["group"], "keep": "abc"}).status_code == 400
        assert client.post("/duplicates/resolve", data={"group": exact["group"]}).status_code == 400
        assert client.post("/duplicates/resolve", data={"group": [near["group"], burst["group"]],
                                                       "keep": str(orig)}).status_code == 400
        assert client.post("/duplicates/unresolve", data={"photo": "x"}).status_code == 400
    assert checksums(lib.originals) == before


def test_viewer_role_sees_no_forms_and_is_refused(lib: Library) -> None:
    with viewer_client(lib.config, lib.db, role="viewer") as client:
        html = client.get("/duplicates").text
        assert "Near-duplicates" in html
        assert not re.search(r'<form[^>]*method="post"[^>]*duplicates', html)
        near = _near(client)
        r = client.post("/duplicates/resolve", data={"group": near["group"]})
        assert r.status_code == 403
    assert Photo.select().where(Photo.archived == True).count() == 0  # noqa: E712

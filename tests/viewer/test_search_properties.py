"""The search syntax under arbitrary input: every string parses or fails with a position, and the API never
answers 500 (hypothesis)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf import search
from photoshelf.errors import QueryError

from conftest import Library

# Text that looks like queries: filter names, values, quotes, bars, bangs, unicode and control characters.
WORDS = st.sampled_from([*(f"{f}:" for f in search.FILTERS), "beach", "!", "|", '"', "\\", ":", "2019", "-",
                         "..", "true", "no", "ü", "😀", " ", "\t", "%", "_", "'", "*", "(", ")", "\x00", "é"])
QUERIES = st.one_of(st.text(max_size=60), st.lists(WORDS, max_size=12).map("".join))


@given(QUERIES)
@settings(max_examples=400, deadline=None)
def test_any_string_parses_or_says_where(text: str) -> None:
    try:
        query = search.parse(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        assert str(exc)
        return
    for term in query.terms:
        assert term.key is None or term.key in search.FILTERS
        assert term.values


@pytest.fixture
def sqlite_client(sqlite_lib: Library) -> TestClient:  # type: ignore[misc]
    with viewer_client(sqlite_lib.config, sqlite_lib.db) as c:
        yield c


@given(QUERIES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_search_api_never_fails_on_sqlite(sqlite_client: TestClient, text: str) -> None:
    r = sqlite_client.get("/api/v1/search", params={"q": text, "limit": "5"})
    assert r.status_code in (200, 400), (text, r.text)
    body = r.json()
    if r.status_code == 400:
        assert body["error"] and 0 <= body["position"] <= len(text.strip()) + 1
    else:
        assert isinstance(body["photos"], list) and body["count"] >= len(body["photos"])
    page = sqlite_client.get("/search", params={"q": text})
    assert page.status_code == 200
    geo = sqlite_client.get("/api/v1/map", params={"q": text})
    assert geo.status_code in (200, 400)


@pytest.mark.mariadb
@given(QUERIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_search_api_never_fails_on_mariadb(client: TestClient, lib: Library, text: str) -> None:
    if lib.database_url.startswith("sqlite"):
        return
    r = client.get("/api/v1/search", params={"q": text, "limit": "5"})
    assert r.status_code in (200, 400), (text, r.text)


# Cursors as a client may send them: random text, and encodings of near-valid payloads (kinds, dates, huge and
# negative numbers, non-ASCII digits, surrogates).
_PARTS = st.sampled_from(["k", "o", "r", ":", "-", "0", "1", "9" * 25, "-5", "²", "٣", "2019-07-04T12:00:00",
                          "9999-12-31T23:59:59", "0000-01-01", "\ud800", "a" * 40, "nan", "inf", " "])
CURSORS = st.one_of(
    st.text(max_size=80),
    st.lists(_PARTS, max_size=8).map(lambda parts: base64.urlsafe_b64encode(
        "".join(parts).encode("utf-8", "surrogatepass")).decode().rstrip("=")),
)


@given(CURSORS)
@settings(max_examples=400, deadline=None)
def test_any_cursor_decodes_or_is_a_query_error(text: str) -> None:
    from photoshelf.viewer.listing import Cursor

    try:
        cursor = Cursor.decode(text)
    except QueryError:
        return
    # What decodes encodes back to a cursor that decodes the same.
    assert Cursor.decode(cursor.encode()) == cursor
    assert cursor.photo_id >= 0 and (cursor.offset is None or 0 <= cursor.offset < 2**63)


@given(CURSORS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_search_api_never_fails_on_a_cursor(sqlite_client: TestClient, text: str) -> None:
    response = sqlite_client.get("/api/v1/search", params={"cursor": text})
    assert response.status_code in (200, 400), response.text[:300]

"""What the viewer answers to ordinary bad input (issue #12): ids past 64 bits or in other scripts' digits, JSON
bodies too large, too deep or not text, over-long queries and forged cursors. Each is a 4xx naming the problem
(JSON under /api/), never a 500; test_hostile.py throws the same at every route, this checks the answers."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from photoshelf import search
from photoshelf.viewer.views.common import BODY_MAX, JSON_DEPTH_MAX


@pytest.mark.parametrize("ref", [str(2**63), str(2**64), "%C2%B2", "%D9%A3", "-1", "0"])
def test_ids_that_are_not_ids_are_not_found(client: TestClient, ref: str) -> None:
    for url in (f"/api/v1/photos/{ref}", f"/api/v1/albums/{ref}", f"/api/v1/people/{ref}",
                f"/api/v1/folders/{ref}", f"/photos/{ref}/original"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.text)
        assert not url.startswith("/api/") or "error" in r.json()


def test_arabic_indic_digits_are_not_an_id(client: TestClient) -> None:
    """int('٣') is 3: the id parser must not read it so (photo 3 exists in the test catalog)."""
    assert client.get("/api/v1/photos/3").status_code == 200
    assert client.get("/api/v1/photos/%D9%A3").status_code == 404


def test_json_bodies_too_large_too_deep_or_not_text(client: TestClient) -> None:
    url = "/api/v1/albums"
    headers = {"content-type": "application/json"}
    r = client.post(url, content=b'{"title": "' + b"x" * BODY_MAX + b'"}', headers=headers)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    r = client.post(url, content=b"[" * 100_000, headers=headers)
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]
    deep = b'{"title": "t", "x": ' + b"[" * (JSON_DEPTH_MAX + 1) + b"]" * (JSON_DEPTH_MAX + 1) + b"}"
    assert "nested too deeply" in client.post(url, content=deep, headers=headers).json()["error"]
    r = client.post(url, content=b'{"title": "a\\ud800b"}', headers=headers)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]
    r = client.post(url, content=b'{"title": "t", "photos": [18446744073709551616]}', headers=headers)
    assert r.status_code == 400 and "out of range" in r.json()["error"]
    r = client.post(url, content=b'{"title": "t", "photos": [NaN]}', headers=headers)
    assert r.status_code == 400
    # A valid pair of surrogates is one character (an emoji), and fine.
    r = client.post(url, content=b'{"title": "hostile \\ud83d\\ude00 test"}', headers=headers)
    assert r.status_code == 201 and r.json()["title"] == "hostile \U0001F600 test"
    client.delete(f"/api/v1/albums/{r.json()['id']}")


def test_people_refs_past_64_bits(client: TestClient) -> None:
    r = client.post("/api/v1/people/18446744073709551616/merge", json={"into": "99999999999999999999"})
    assert r.status_code in (404, 400) and "error" in r.json()


def test_an_over_long_query_is_refused_with_a_reason(client: TestClient) -> None:
    long = "a" * 60_000
    r = client.get("/api/v1/search", params={"q": long})
    assert r.status_code == 400
    assert f"at most {search.QUERY_MAX:,}" in r.json()["error"]
    many = " ".join(["x"] * (search.VALUES_MAX + 1))
    assert "too many words" in client.get("/api/v1/search", params={"q": many}).json()["error"]
    page = client.get("/search", params={"q": long})  # the page shows it where the query is typed
    assert page.status_code == 200 and f"at most {search.QUERY_MAX:,}" in page.text


@pytest.mark.parametrize("raw", ["k:-:18446744073709551616", "o:-1", "o:\u0663", "r:99999999999999999999:ab",
                                 "k:not-a-date:1"])
def test_forged_cursors_are_refused(client: TestClient, raw: str) -> None:
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    r = client.get("/api/v1/search", params={"cursor": cursor})
    assert r.status_code == 400 and "cursor" in r.json()["error"]


@pytest.mark.parametrize("query", ["limit=18446744073709551616", "limit=%D9%A3", "limit=1e9999"])
def test_number_parameters(client: TestClient, query: str) -> None:
    r = client.get(f"/api/v1/search?{query}")
    assert r.status_code == 400 and "limit must be a whole number" in r.json()["error"]

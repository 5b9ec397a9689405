"""Hostile HTTP against every route of the real viewer, generated from its router (so a new route cannot be
forgotten): traversal strings, huge, negative and non-ASCII numbers, over-long queries and cursors, oversized
and deeply nested bodies, lone surrogates, wrong methods and content types. Never a 5xx, never a traceback in
the body, never a file from outside the originals and storage; under /api/ every error is JSON."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from logins import viewer_client
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from conftest import Library, indexed_subset

SUBSET = ["2019/Pets/dog_orange.jpg", "Misc/Formats/example.png", "Phone/DCIM/Camera/VID_20170222_082028.mp4"]
SECRET = "NOT-IN-THE-LIBRARY-7f3a"  # in a file next to the originals and storage folders
PASSWD = "root:x:0:0"
# The probes run as an admin (who reaches every route past its login check): tests/logins.py's role names, or
# None for no login. The anonymous pass below runs without one either way.
PROBE_ROLE = "admin"
# Routes that end the probing client's session: probed last, so that the others run logged in.
LOGOUTS = ("/logout", "/api/v1/session")

# Path parameter values, as they go on the wire (percent-encoded).
NUMBERS = [str(2**63), str(2**64), "-1", "0", "%C2%B2", "%D9%A3", "%EF%BC%91", "1e9999", "9" * 400, "+1", "1_0",
           "%201"]
TRAVERSALS = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fsecret.txt", "..%5C..%5Csecret.txt", "%2e%2e",
              "%252e%252e%252fsecret.txt", "secret.txt%00.jpg", "....%2F%2F....%2F%2Fetc%2Fpasswd"]
TEXTS = ["%ED%A0%80", "%00", "%FF%FE", "x" * 5000]
# Names of files the viewer makes (/faces/{id}.jpg, /thumb/{size}/{sha1}.jpg) with a hostile stem.
FILE_NAMES = [f"{stem}.jpg" for stem in (str(2**64), "%C2%B2", "%D9%A3", "-1", "..%5C..%5Csecret")]
PATH_VALUES = NUMBERS + TRAVERSALS + TEXTS + FILE_NAMES
ABSENT = "999999999"  # the other path parameters of a probe: an id and a name nothing has


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# Search filters with hostile numbers: asked of the routes without path parameters (the listings and their APIs).
FILTERS = [
    "q=person:%D9%A3", "q=face:%C2%B2", "q=album:18446744073709551616", "q=year:%D9%A3", "q=day:9999999999999999999999",
    "q=face:18446744073709551616", "q=taken:9999-99-99..0000-00-00", "q=lookalike:p%00",
]
QUERIES = [
    "q=" + "a" * 60_000, "q=" + "x%20" * 120, "q=" + "a%7C" * 200, "q=%ED%A0%80", "q=%00", "q=%22unclosed",
    "cursor=" + _cursor("k:-:18446744073709551616"), "cursor=" + _cursor("o:-1"),
    "cursor=" + _cursor("r:99999999999999999999999:abc"), "cursor=" + _cursor("k:9999-99-99:1"),
    "cursor=" + _cursor("o:%D9%A3".replace("%D9%A3", "\u0663")), "cursor=%ED%A0%80", "cursor=" + "A" * 10_000,
    "cursor=!!!", "limit=18446744073709551616", "limit=%D9%A3", "limit=-1", "limit=1e9999", "k=18446744073709551616",
    "k=%C2%B2", "zoom=1e9999", "zoom=%D9%A3", "bbox=1e9999,1e9999,1e9999,1e9999", "bbox=nan,nan,nan,nan",
    "bbox=-90,-1e309,90,1e309", "bbox=%ED%A0%80", "album=18446744073709551616&folder=%D9%A3",
    "album=%C2%B2&folder=-1", "hidden=%00&all=%FF", "partial=1&cursor=bad", "download=1&v=%00",
]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
BODIES: list[tuple[bytes, str]] = [
    (b"[" * 100_000, JSON),
    (b'{"a":' * 50_000, JSON),
    (b'{"title": "' + b"x" * 1_100_000 + b'"}', JSON),
    (b'{"title": "\\ud800", "name": "\\udfff", "description": "a\\ud800b"}', JSON),
    (b'{"username": "\\ud800", "password": "\\ud800"}', JSON),
    (b'{"photos": [18446744073709551616, 9223372036854775808]}', JSON),
    (b'{"photos": [1e9999]}', JSON),
    (b'{"photos": [NaN, Infinity]}', JSON),
    (b'{"photos": "1", "cover": -1}', JSON),
    (b'{"cover": 18446744073709551616, "title": 5}', JSON),
    (b'{"into": "99999999999999999999"}', JSON),
    (b'{"into": 18446744073709551616}', JSON),
    (b'{"from": ["\\u0663", "\\u00b2", 9223372036854775808]}', JSON),
    (b'{"person": "\\u00b2"}', JSON),
    (b'{"person": "18446744073709551616", "reject": "9223372036854775808"}', JSON),
    (b'{"name": "' + b"n" * 10_000 + b'"}', JSON),
    (b'{"favorite": "\\ud800", "rotate": 1e308, "hidden": [[[]]]}', JSON),
    (b"[]", JSON), (b'"x"', JSON), (b"null", JSON), (b"\xff\xfe\x00", JSON), (b"{", JSON),
    (b'{"photos": [1]}', FORM),
    (b"title=%ED%A0%80&photo=18446744073709551616&photo=%D9%A3&photo=%C2%B2&album=%00&back=%2F%2Fevil.example",
     FORM),
    (b"action=favorite&value=true&to=%ED%A0%80&person=%00&name=" + b"n" * 5000 + b"&into=99999999999999999999",
     FORM),
    (b"username=%ED%A0%80&password=%00&csrf_token=%FF", FORM),
    (b"--x\r\n", "multipart/form-data"),
    (b"--x\r\nContent-Disposition: form-data\r\n\r\nbroken", "multipart/form-data; boundary=x"),
    (b"just text", "text/plain"),
]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Probe:
    method: str
    url: str
    body: bytes | None = None
    content_type: str | None = None

    def __str__(self) -> str:
        body = "" if self.body is None else f" [{self.content_type}] {self.body[:60]!r}"
        return f"{self.method} {self.url[:120]}{body}"


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), ABSENT), path)


def probes(routes: list[object]) -> list[Probe]:
    """Every route of the app, each path parameter with each hostile value, wrong methods, hostile query strings
    (read methods) and bodies (write methods). Logging-out routes come last."""
    out: list[Probe] = []
    for route in routes:
        if isinstance(route, Mount):
            out += [Probe("GET", f"{route.path}/{value}") for value in TRAVERSALS + TEXTS]
            out += [Probe("GET", f"{route.path}/{value}/{value}") for value in ("..", "%2e%2e", "..%2F..")]
            continue
        assert isinstance(route, Route), f"a route of a kind this test does not know: {route!r}"
        allowed = sorted((route.methods or {"GET"}) - {"HEAD"})
        writes = [m for m in allowed if m not in ("GET", "OPTIONS")]
        base = _fill(route.path, {})
        probed = []
        for name in route.param_convertors:
            for value in PATH_VALUES:
                url = _fill(route.path, {name: value})
                probed += [Probe(method, url, b"{}" if method in writes else None, JSON) for method in allowed]
        wrong = [Probe(method, base) for method in METHODS if method not in allowed]
        asked = QUERIES + (FILTERS if not route.param_convertors else [])
        queried = [Probe("GET", f"{base}?{query}") for query in asked if "GET" in allowed]
        bodied = [Probe(method, base, body, ctype) for method in writes for body, ctype in BODIES]
        out += probed + wrong + queried + bodied
    return sorted(out, key=lambda p: p.url.split("?")[0].startswith(LOGOUTS))


def problems(probe: Probe, status: int, body: bytes, content_type: str) -> list[str]:
    """What is wrong with one answer (nothing, for a good one)."""
    found = []
    if status >= 500:
        found.append(f"answered {status}")
    if b"Traceback" in body or re.search(rb'File "[^"]+\.py", line \d+', body):
        found.append("a traceback in the body")
    if SECRET.encode() in body or PASSWD.encode() in body:
        found.append("a file from outside the originals and storage")
    if probe.url.startswith("/api/") and status >= 400 and status != 401:
        if not content_type.startswith("application/json") or b'"error"' not in body:
            found.append(f"an API error ({status}) that is not JSON with an error: {body[:80]!r}")
    return found


def run(client: TestClient, batch: list[Probe]) -> list[str]:
    failures = []
    for probe in batch:
        headers = {"content-type": probe.content_type} if probe.content_type else {}
        response = client.request(probe.method, probe.url, content=probe.body, headers=headers,
                                  follow_redirects=False)
        found = problems(probe, response.status_code, response.content, response.headers.get("content-type", ""))
        if found:
            failures.append(f"{probe}: {'; '.join(found)}")
    return failures


@pytest.fixture
def hostile(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """A few indexed photos (and a video), and a file next to the originals that no request may return."""
    lib = indexed_subset(tmp_path, database_url, SUBSET)
    (tmp_path / "secret.txt").write_text(SECRET)
    yield lib
    lib.db.close()


@contextmanager
def prober(lib: Library, role: str | None = PROBE_ROLE) -> Iterator[TestClient]:
    """The client the probes run as (see PROBE_ROLE); an unhandled error comes back as the 500 a user would get."""
    with viewer_client(lib.config, lib.db, role=role, raise_server_exceptions=False) as client:
        yield client


def _report(failures: list[str]) -> str:
    return f"{len(failures)} bad answers, the first ones:\n" + "\n".join(failures[:60])


def test_no_route_answers_hostile_input_with_an_error_of_its_own(hostile: Library) -> None:
    with prober(hostile) as client:
        batch = probes(client.app.routes)  # type: ignore[attr-defined]
        assert len(batch) > 1000, "the router gave fewer routes than the viewer has"
        failures = run(client, batch)
    assert not failures, _report(failures)


def test_hostile_requests_without_a_login(hostile: Library) -> None:
    """The login check sees the same requests first: it must not fail on them either."""
    with prober(hostile, role=None) as client:
        batch = [p for p in probes(client.app.routes) if p.body is None or p.body == b"{}"]  # type: ignore[attr-defined]
        failures = run(client, batch[::3])
    assert not failures, _report(failures)

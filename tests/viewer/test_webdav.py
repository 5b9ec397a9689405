"""WebDAV at /webdav/ against a real `photoshelf serve` (with its watcher) on each backend, with real clients:
rclone copies photos in and the watcher indexes each once, complete, owned by the uploader; litmus runs its
suites (basic and copymove must pass); raw HTTP checks the refusals (wrong password, roles, the read-only
originals, path tricks, quota, overwrites, an upload cut off mid-body). The originals outside Upload/ stay
byte-identical (the originals audit in tests/conftest.py, after every test)."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient

from photoshelf import accounts
from photoshelf.db.schema import File, Photo, database_proxy
from photoshelf.viewer.app import create_app
from photoshelf.viewer.webdav_files import TEMP_PREFIX

from conftest import (  # tests/conftest.py: the shared fixtures' helpers
    SMALL_CORPUS,
    Library,
    _mariadb_admin,
    catalog_url,
    make_config,
    make_library,
)

T = TypeVar("T")

ORIGINALS = ["2004/Fiji/smallFiji.JPG", "2016/Pets/cat_brown.jpg"]
UPLOADS = ["2019/Pets/dog_orange.jpg", "2020/Berlin/digikam.jpg", "2022/Utah Roadtrip/thompson-springs.jpg"]
# A name from an old Latin-1 system, in the originals. In a hidden folder: the watcher's event path cannot take
# such a name yet (UnicodeEncodeError in pipeline.path_hash stops the watcher), and this module needs it running.
NOT_UTF8 = b".old/caf\xe9.jpg"
PASSWORDS = {"admin1": "admin-pass-1", "alice": "alice-pass-1", "lit": "litmus-pass-1", "vic": "viewer-pass-1",
             "carol": "carol-pass-1", "dave": "dave-pass-11"}
ROLES = {"admin1": "admin", "alice": "member", "lit": "member", "vic": "viewer", "carol": "member",
         "dave": "member"}
QUOTA_MB = 2
PER_USER_LIMIT = 3
WAIT = 60.0  # seconds a test waits at most for the server or the watcher


@dataclass
class Server:
    lib: Library
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webdav/"

    @property
    def uploads(self) -> Path:
        return self.lib.originals / "Upload"

    def request(self, method: str, path: str, user: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None, password: str | None = None) -> http.client.HTTPResponse:
        """One request, the path sent as is (no client-side clean-up of `..` or encoding)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Authorization"] = basic(user, password if password is not None else PASSWORDS[user])
        conn.request(method, path, body=body, headers=all_headers,
                     encode_chunked=all_headers.get("Transfer-Encoding") == "chunked")
        response = conn.getresponse()
        response.data = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    def status(self, method: str, path: str, user: str | None = None, **kw: Any) -> int:
        return self.request(method, path, user, **kw).status


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll until fn returns something truthy (a bounded wait for another process, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def temp_files(root: Path) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.startswith(TEMP_PREFIX)]


def indexed(rel: str) -> File | None:
    return File.select().where((File.path == rel) & File.photo.is_null(False)).first()


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`photoshelf serve` (viewer + watcher) over a library of two photos, with users of every role; admins may
    browse the originals; a 2 MB quota; 3 failed logins per user name."""
    root = tmp_path_factory.mktemp(f"webdav-{request.param}")
    url = catalog_url(request.param, root, "webdav")
    source = root / "source"
    for rel in ORIGINALS:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SMALL_CORPUS / rel, source / rel)
    not_utf8 = os.fsencode(source) + b"/" + NOT_UTF8
    os.makedirs(os.path.dirname(not_utf8), exist_ok=True)
    with open(not_utf8, "wb") as fh:
        fh.write(b"not a photo")
    lib = make_library(root, url, source)
    lib.allow_growth("Upload")  # the one place photoshelf may write into the originals
    for user, password in PASSWORDS.items():
        accounts.add_user(user, ROLES[user], password)
    (root / "config.toml").write_text("")
    env = {**os.environ, "PHOTOSHELF_CONFIG": str(root / "config.toml"), "PHOTOSHELF_ORIGINALS": str(lib.originals),
           "PHOTOSHELF_STORAGE": str(lib.storage), "PHOTOSHELF_DATABASE": url, "PHOTOSHELF_MODELS_ENABLED": "false",
           "PHOTOSHELF_WEBDAV_BROWSE_ORIGINALS": "true", "PHOTOSHELF_WEBDAV_QUOTA_MB": str(QUOTA_MB),
           "PHOTOSHELF_AUTH_LOGIN_ATTEMPTS_PER_USER": str(PER_USER_LIMIT),
           "PHOTOSHELF_AUTH_LOGIN_ATTEMPTS_PER_IP": "1000"}
    port = free_port()
    log = root / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("photoshelf")), "serve", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(lib, port, log, proc)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"photoshelf serve exited ({proc.returncode}):\n{log.read_text()}")
            try:
                return srv.status("GET", "/api/v1/health") == 200
            except OSError:
                return False

        wait_for("the server to answer", up)
        wait_for("the startup scan", lambda: File.select().where(File.photo.is_null(False)).count() >= 2)
        yield srv
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert not temp_files(lib.originals), "unfinished uploads left behind"
        lib.db.close()
        if request.param == "mariadb":
            admin = _mariadb_admin()
            admin.connect()
            admin.execute_sql(f"DROP DATABASE IF EXISTS `{lib.db.database}`")
            admin.close()


@pytest.fixture
def srv(server: Server) -> Server:
    database_proxy.initialize(server.lib.db)  # another module's library may have been bound since
    server.lib.db.connect(reuse_if_open=True)
    return server


# --- real clients ---


def test_rclone_uploads_are_indexed_once_complete_and_owned(srv: Server, tmp_path: Path) -> None:
    source = tmp_path / "phone"
    source.mkdir()
    for rel in UPLOADS:
        shutil.copy(SMALL_CORPUS / rel, source / Path(rel).name)
    (tmp_path / "rclone.conf").write_text("")
    obscured = subprocess.run(["rclone", "obscure", PASSWORDS["alice"]], check=True, capture_output=True,
                              text=True).stdout.strip()
    done = subprocess.run(["rclone", "copy", str(source), ":webdav:Camera", "--webdav-url", srv.url,
                           "--webdav-user", "alice", "--webdav-pass", obscured, "--config",
                           str(tmp_path / "rclone.conf"), "-v"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    folder = srv.uploads / "alice" / "Camera"
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(rel).name for rel in UPLOADS)
    alice = accounts.get_user("alice")
    for rel in UPLOADS:
        path = f"Upload/alice/Camera/{Path(rel).name}"
        row: File = wait_for(f"{path} to be indexed", functools.partial(indexed, path))
        assert row.sha1 == sha1(SMALL_CORPUS / rel), "indexed before it was complete"
        assert row.error is None
        assert Photo.get_by_id(row.photo_id).owner == alice.id
        assert File.select().where(File.path == path).count() == 1
    assert not File.select().where(File.path.contains(TEMP_PREFIX)).exists(), "a temporary name was indexed"
    assert not temp_files(srv.uploads)
    # A second copy finds everything there already: nothing is sent, nothing renamed.
    again = subprocess.run(["rclone", "copy", str(source), ":webdav:Camera", "--webdav-url", srv.url,
                            "--webdav-user", "alice", "--webdav-pass", obscured, "--config",
                            str(tmp_path / "rclone.conf")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert len(list(folder.iterdir())) == len(UPLOADS)


def test_litmus(srv: Server, tmp_path: Path) -> None:
    """basic and copymove must pass in full; the other groups are reported (docs/webdav.md has the table)."""
    env = {**os.environ, "TESTS": "basic copymove props locks http"}
    # litmus writes debug.log and child.log into its working folder.
    done = subprocess.run(["litmus", srv.url, "lit", PASSWORDS["lit"]], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    summary = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in re.findall(
        r"summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed", done.stdout)}
    print("litmus against /webdav/:")
    for group, (ran, passed, failed) in summary.items():
        print(f"  {group:9} {passed}/{ran} passed, {failed} failed")
    for group in ("basic", "copymove"):
        assert group in summary, done.stdout[-3000:]
        ran, passed, failed = summary[group]
        assert failed == 0 and passed == ran, done.stdout[-3000:]
    assert not temp_files(srv.uploads)


# --- logins and roles ---


def test_logins(srv: Server) -> None:
    assert srv.status("PROPFIND", "/webdav/", headers={"Depth": "0"}) == 401
    assert srv.request("PROPFIND", "/webdav/").getheader("WWW-Authenticate") == 'Basic realm="photoshelf"'
    assert srv.status("PROPFIND", "/webdav/", "alice", password="not her password") == 401
    assert srv.status("PROPFIND", "/webdav/", "nobody", password="whatever-1") == 401
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"no colon").decode(), "Basic " +
                   base64.b64encode(b"\xff\xfe:x").decode(), 'Digest username="alice"', "Bearer x"):
        assert srv.status("PROPFIND", "/webdav/", headers={"Authorization": header}) == 401, header
    assert srv.status("PROPFIND", "/webdav/", "alice", headers={"Depth": "1"}) == 207
    assert srv.status("PROPFIND", "/webdav/", "vic", headers={"Depth": "1"}) == 403
    assert srv.status("PUT", "/webdav/x.txt", "vic", body=b"x") == 403


def test_a_password_or_role_change_or_removal_counts_at_once(srv: Server) -> None:
    assert srv.status("PROPFIND", "/webdav/", "dave") == 207  # now cached
    accounts.set_password("dave", "dave-pass-22")
    assert srv.status("PROPFIND", "/webdav/", "dave") == 401
    assert srv.status("PROPFIND", "/webdav/", "dave", password="dave-pass-22") == 207
    accounts.set_role("dave", "viewer")
    assert srv.status("PROPFIND", "/webdav/", "dave", password="dave-pass-22") == 403
    accounts.remove_user("dave")
    assert srv.status("PROPFIND", "/webdav/", "dave", password="dave-pass-22") == 401


def test_failed_logins_share_the_web_logins_limit(srv: Server) -> None:
    for _ in range(PER_USER_LIMIT):
        assert srv.status("PROPFIND", "/webdav/", "carol", password="guess-guess") == 401
    blocked = srv.request("PROPFIND", "/webdav/", "carol")  # the right password, too late
    assert blocked.status == 429
    assert b"too many failed logins" in blocked.data  # type: ignore[attr-defined]
    assert int(blocked.getheader("Retry-After") or 0) > 0
    web = srv.request("POST", "/api/v1/session", body=json.dumps({"username": "carol",
                                                                  "password": PASSWORDS["carol"]}),
                      headers={"Content-Type": "application/json"})
    assert web.status == 429


# --- the originals, read-only, for admins ---


def test_admins_browse_the_originals_read_only(srv: Server) -> None:
    rel = ORIGINALS[0]
    got = srv.request("GET", f"/webdav/originals/{rel}", "admin1")
    assert got.status == 200 and got.data == (srv.lib.originals / rel).read_bytes()  # type: ignore[attr-defined]
    listing = srv.request("PROPFIND", "/webdav/", "admin1", headers={"Depth": "1"})
    assert listing.status == 207 and b"<ns0:href>/webdav/originals/</ns0:href>" in listing.data  # type: ignore
    old = srv.request("PROPFIND", "/webdav/originals/.old/", "admin1", headers={"Depth": "1"})
    assert old.status == 207  # the name that is not UTF-8 is left out, not a 500
    assert old.data.count(b"<ns0:response>") == 1  # type: ignore[attr-defined]
    dest = {"Destination": f"{srv.url}copied.jpg"}
    writes = [("PUT", f"/webdav/originals/{rel}", {}), ("PUT", "/webdav/originals/new.jpg", {}),
              ("DELETE", f"/webdav/originals/{rel}", {}), ("DELETE", "/webdav/originals/2004", {}),
              ("MKCOL", "/webdav/originals/new", {}), ("MOVE", f"/webdav/originals/{rel}", dest),
              ("COPY", f"/webdav/originals/{rel}", {"Destination": f"{srv.url}originals/copy.jpg"}),
              ("PROPPATCH", f"/webdav/originals/{rel}", {}), ("LOCK", f"/webdav/originals/{rel}", {})]
    for method, path, headers in writes:
        assert srv.status(method, path, "admin1", body=b"x", headers=headers) == 403, (method, path)
    assert srv.status("PROPFIND", "/webdav/originals/", "alice") == 403
    assert srv.status("GET", f"/webdav/originals/{rel}", "alice") == 403
    assert not (srv.uploads / "admin1" / "copied.jpg").exists()


# --- path tricks ---


def test_paths_cannot_leave_the_upload_folder(srv: Server, tmp_path: Path) -> None:
    assert srv.status("PROPFIND", "/webdav/", "alice") == 207
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (srv.uploads / "alice" / "link").symlink_to(outside)
    for path in ("/webdav/../", "/webdav/..%2f..%2fetc/passwd", "/webdav/%2e%2e/%2e%2e/etc/passwd",
                 "/webdav/a/../../../x", "/webdav/./x"):
        assert srv.status("GET", path, "alice") in (400, 403, 404), path
    assert srv.status("GET", "/webdav/link/secret.txt", "alice") == 403
    assert srv.status("PUT", "/webdav/link/new.txt", "alice", body=b"x") == 403
    assert srv.status("GET", "/webdav/link", "alice") == 403
    listing = srv.request("PROPFIND", "/webdav/", "alice", headers={"Depth": "1"})
    assert b"link" not in listing.data  # type: ignore[attr-defined]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert srv.status("MOVE", "/webdav/x.txt", "alice", headers={"Destination": "/webdav/../../x.txt"}) in (400, 404)
    assert srv.status("PUT", "/webdav/a%00b.txt", "alice", body=b"x") == 400
    # (a newline: Starlette's mount pattern does not match it, so the request never reaches WebDAV)
    assert srv.status("PUT", "/webdav/a%0ab.txt", "alice", body=b"x") in (400, 401, 404)
    assert srv.status("PUT", "/webdav/a%1bb.txt", "alice", body=b"x") == 400
    assert srv.status("PUT", "/webdav/caf%e9.txt", "alice", body=b"x") == 400  # not UTF-8
    assert srv.status("PUT", "/webdav/" + "x" * 300 + ".txt", "alice", body=b"x") == 400
    assert srv.status("PUT", f"/webdav/{TEMP_PREFIX}x.part", "alice", body=b"x") == 400
    assert srv.status("PUT", "/webdav/caf%C3%A9%20%F0%9F%98%80.txt", "alice", body=b"x") == 201  # UTF-8 is fine
    assert (srv.uploads / "alice" / "café 😀.txt").read_bytes() == b"x"
    (srv.uploads / "alice" / "link").unlink()


# --- writing ---


def test_an_existing_name_is_never_overwritten(srv: Server) -> None:
    folder = srv.uploads / "alice"
    assert srv.status("PUT", "/webdav/notes.txt", "alice", body=b"first") == 201
    assert srv.status("PUT", "/webdav/notes.txt", "alice", body=b"first") == 204  # the same bytes: nothing to do
    second = srv.request("PUT", "/webdav/notes.txt", "alice", body=b"second")
    assert second.status == 201 and second.getheader("Location") == "/webdav/notes%20(1).txt"
    again = srv.request("PUT", "/webdav/notes.txt", "alice", body=b"second")  # a retry finds its earlier copy
    assert again.status == 204 and again.getheader("Content-Location") == "/webdav/notes%20(1).txt"
    assert (folder / "notes.txt").read_bytes() == b"first"
    assert (folder / "notes (1).txt").read_bytes() == b"second"
    assert srv.status("GET", "/webdav/notes%20(1).txt", "alice") == 200

    # COPY/MOVE with Overwrite: T gives the client what it asked for; what was there is kept beside it.
    assert srv.status("PUT", "/webdav/third.txt", "alice", body=b"third") == 201
    dest = {"Destination": f"{srv.url}notes.txt"}
    assert srv.status("MOVE", "/webdav/third.txt", "alice", headers={**dest, "Overwrite": "F"}) == 412
    assert srv.status("MOVE", "/webdav/third.txt", "alice", headers={**dest, "Overwrite": "T"}) == 204
    assert (folder / "notes.txt").read_bytes() == b"third"
    assert (folder / "notes (2).txt").read_bytes() == b"first"
    assert not (folder / "third.txt").exists()
    # A placeholder (an empty file: LOCK on a new name, or "create, then write" clients) is filled, not kept.
    assert srv.status("PUT", "/webdav/empty.txt", "alice", body=b"") == 201
    assert srv.status("PUT", "/webdav/empty.txt", "alice", body=b"content") == 204
    assert (folder / "empty.txt").read_bytes() == b"content"
    # Deleting one's own upload is allowed (docs/webdav.md); the folder itself is not.
    assert srv.status("DELETE", "/webdav/empty.txt", "alice") == 204
    assert srv.status("DELETE", "/webdav/", "alice") == 403
    assert (folder / "notes.txt").exists()  # and nothing in it was deleted on the way
    assert not temp_files(folder)


def test_quota(srv: Server) -> None:
    big = b"\0" * (QUOTA_MB << 20)
    assert srv.status("PUT", "/webdav/big.bin", "alice", body=big) == 507  # Content-Length says it all
    assert srv.status("PUT", "/webdav/big.bin", "alice", body=iter([big[:1 << 20], big[1 << 20:]]),
                      headers={"Transfer-Encoding": "chunked"}) == 507  # found out while writing
    assert not (srv.uploads / "alice" / "big.bin").exists()
    assert not temp_files(srv.uploads)
    assert srv.status("PUT", "/webdav/small.bin", "alice", body=b"\0" * 1000) == 201


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_upload_cut_off_leaves_nothing(srv: Server, chunked: bool) -> None:
    name = f"cut-{'chunked' if chunked else 'length'}.jpg"
    head = f"PUT /webdav/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {basic('alice', PASSWORDS['alice'])}\r\n"
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        if chunked:
            sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + b"10000\r\n" + b"x" * 0x10000)
        else:
            sock.sendall(f"{head}Content-Length: 1000000\r\n\r\n".encode() + b"x" * 100000)
        wait_for("the server to start writing", lambda: temp_files(srv.uploads / "alice"), timeout=10)
    wait_for("the unfinished upload to be removed", lambda: not temp_files(srv.uploads / "alice"))
    assert not (srv.uploads / "alice" / name).exists()


# --- off switches (in process: no server needed) ---


@pytest.mark.parametrize("env", [{"PHOTOSHELF_AUTH_MODE": "public"}, {"PHOTOSHELF_WEBDAV_ENABLED": "false"}],
                         ids=["public-mode", "disabled"])
def test_webdav_off(srv: Server, env: dict[str, str]) -> None:
    lib = srv.lib
    config = make_config(lib.originals, lib.storage, lib.database_url, **env)
    with TestClient(create_app(config, lib.db), base_url="http://127.0.0.1") as client:
        login = {"Authorization": basic("alice", PASSWORDS["alice"])}
        for method, body in (("PROPFIND", None), ("PUT", b"x")):
            response = client.request(method, "/webdav/off.txt", content=body, headers=login)
            # The viewer's own answer to a path it does not have (401 without a session), not WebDAV's.
            assert response.status_code in (401, 403, 404)
            assert "Basic" not in response.headers.get("WWW-Authenticate", "")
    assert not (lib.originals / "Upload" / "alice" / "off.txt").exists()

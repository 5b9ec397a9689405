"""The originals audit itself (tests/audit.py, wired in tests/conftest.py): what it catches, what a test may
declare, and that every library a test makes is audited without opting in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit import OriginalsAudit
from conftest import REPO


def _tree(root: Path) -> Path:
    (root / "2019/Trip").mkdir(parents=True)
    (root / "2019/Trip/a.jpg").write_bytes(b"\xff\xd8" + b"a" * 5000)
    (root / "2019/Trip/b.jpg").write_bytes(b"\xff\xd8" + b"b" * 5000)
    (root / "Upload/alice").mkdir(parents=True)
    (root / "Upload/alice/old.jpg").write_bytes(b"old upload")
    os.symlink("2019", root / "latest")
    return root


def _fails(audit: OriginalsAudit, *lines: str, may_grow: tuple[str, ...] = ()) -> None:
    with pytest.raises(AssertionError) as caught:
        audit.verify(may_grow)
    message = str(caught.value)
    assert "photoshelf must never write there" in message and "lib.user_changes()" in message
    for line in lines:
        assert line in message, message


def test_a_flipped_bit_with_the_same_size_and_mtime_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path / "originals")
    audit = OriginalsAudit(root)
    audit.verify()
    path = root / "2019/Trip/a.jpg"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[100] ^= 0x04
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    _fails(audit, "changed  2019/Trip/a.jpg: sha1 ")


def test_added_removed_touched_and_relinked_paths_are_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path / "originals")
    audit = OriginalsAudit(root)
    (root / "2019/Trip/a.yml").write_text("title: x\n")
    (root / "2019/Trip/b.jpg").unlink()
    os.utime(root / "2019/Trip/a.jpg", ns=(0, 10**18))
    (root / "latest").unlink()
    os.symlink("2019/Trip", root / "latest")
    (root / "new folder").mkdir()
    _fails(audit, "added    2019/Trip/a.yml (file, 9 bytes", "removed  2019/Trip/b.jpg", "changed  2019/Trip/a.jpg: mtime",
           "changed  latest: target 2019 -> 2019/Trip", "added    new folder (dir)")
    audit.verify()  # reported once: the state it found is the one the next check starts from


def test_user_changes_and_the_upload_folder(tmp_path: Path) -> None:
    root = _tree(tmp_path / "originals")
    audit = OriginalsAudit(root)
    with audit.user_changes():
        (root / "2019/Trip/a.jpg").unlink()
        (root / "2019/Trip/c.jpg").write_bytes(b"c")
    audit.verify()
    # Uploads may come under the declared folder; nothing else may change, not even an older upload.
    (root / "Upload/bob").mkdir()
    (root / "Upload/bob/new.jpg").write_bytes(b"new")
    audit.verify(may_grow=("Upload",))
    (root / "Upload/bob/new.jpg").write_bytes(b"overwritten by the same client")  # still an upload of this run
    (root / "Upload/alice/old.jpg").write_bytes(b"changed")
    (root / "2019/Trip/elsewhere.jpg").write_bytes(b"x")
    _fails(audit, "changed  Upload/alice/old.jpg", "added    2019/Trip/elsewhere.jpg",
           "(additions allowed under: Upload)", may_grow=("Upload",))
    # Without the declaration, an upload is a write like any other.
    (root / "Upload/carol.jpg").write_bytes(b"c")
    _fails(audit, "added    Upload/carol.jpg")
    # A user change made while something wrote unannounced is still reported.
    (root / "stray.txt").write_text("x")
    with pytest.raises(AssertionError, match="added    stray.txt"), audit.user_changes():
        pass


PROBE = '''
import pytest

from conftest import keep_for_session, make_library, SMALL_CORPUS

_kept = {}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("shared"), "sqlite:///:memory:", None)


def test_function_library_written(empty_library):
    (empty_library.originals / "x.txt").write_text("x")


def test_function_library_user_changes(empty_library):
    with empty_library.user_changes():
        (empty_library.originals / "x.txt").write_text("x")


def test_made_in_the_test_body(tmp_path):
    lib = make_library(tmp_path, "sqlite:///:memory:", None)
    (lib.originals / "y.txt").write_text("y")


@pytest.mark.originals_may_grow("Upload")
def test_upload_declared(empty_library):
    (empty_library.originals / "Upload/bob").mkdir(parents=True)
    (empty_library.originals / "Upload/bob/a.jpg").write_bytes(b"a")


def test_upload_undeclared(empty_library):
    (empty_library.originals / "Upload").mkdir()


def test_module_library_written(shared):
    (shared.originals / "m.txt").write_text("m")


def test_module_library_next_test_is_not_blamed(shared):
    assert (shared.originals / "m.txt").exists()


def test_session_library_written(tmp_path_factory):
    if "lib" not in _kept:
        _kept["lib"] = make_library(tmp_path_factory.mktemp("kept"), "sqlite:///:memory:", None)
        keep_for_session(_kept["lib"])
    (_kept["lib"].originals / "s.txt").write_text("s")


def test_untouched(library):
    assert (library.originals / "2016/Pets/cat_brown.jpg").is_file()
'''


def test_every_library_is_audited_without_opting_in(tmp_path: Path) -> None:
    """A pytest run of a probe module with tests/conftest.py as its plugin: which tests the audit fails."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "test_probe.py").write_text(textwrap.dedent(PROBE))
    report = tmp_path / "report.xml"
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-c", os.devnull, "--rootdir", str(probe), "-q",
         "-p", "no:cacheprovider", "-k", "not mariadb", f"--junitxml={report}", str(probe / "test_probe.py")],
        env=env, capture_output=True, text=True, timeout=240, cwd=probe)
    outcome: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "").replace("[sqlite]", "")
        bad = [child for child in case if child.tag in ("error", "failure")]
        outcome[name] = outcome.get(name, "") + ("".join(b.get("message", "") for b in bad) if bad else "ok")
    assert outcome.keys() >= {"test_function_library_written", "test_untouched"}, proc.stdout + proc.stderr
    assert "added    x.txt" in outcome["test_function_library_written"]
    assert outcome["test_function_library_user_changes"] == "ok"
    assert "added    y.txt" in outcome["test_made_in_the_test_body"]
    assert outcome["test_upload_declared"] == "ok"
    assert "added    Upload (dir)" in outcome["test_upload_undeclared"]
    assert "added    m.txt" in outcome["test_module_library_written"]
    assert outcome["test_module_library_next_test_is_not_blamed"] == "ok"
    assert "added    s.txt" in outcome["test_session_library_written"]
    assert outcome["test_untouched"] == "ok"

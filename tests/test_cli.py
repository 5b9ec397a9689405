"""The `photoshelf` command as a user runs it: a real process, real exiftool, the catalog on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL_CORPUS, Library
from support import checksums, read_manifest

SHOW_FIELDS = {
    "id", "path", "files", "size", "sha1", "type", "mime", "width", "height", "orientation", "taken_at",
    "taken_at_local", "timezone", "taken_at_source", "lat", "lon", "altitude", "camera", "lens", "iso",
    "exposure", "f_number", "focal_length", "duration", "stack", "duplicates", "error",
}


def run(lib: Library, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(lib.originals), PHOTOSHELF_STORAGE=str(lib.storage),
                    PHOTOSHELF_DATABASE=lib.database_url, COLUMNS="200")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"photoshelf {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_cli_end_to_end(library: Library) -> None:
    lib = library
    before = checksums(lib.originals)
    out = run(lib, "init").stdout
    assert str(lib.originals) in out and "schema version" in out
    report = json.loads(run(lib, "index", "--json").stdout)
    manifest = read_manifest(SMALL_CORPUS)
    assert report["seen"] == len(manifest) and report["errors"] == 3
    again = json.loads(run(lib, "index", "--json").stdout)
    assert again["hashed"] == 0 and again["unchanged"] == report["seen"]

    show = json.loads(run(lib, "show", "--json", "Phone/DCIM/101APPLE/IMG_1502.HEIC").stdout)
    assert SHOW_FIELDS <= set(show)
    assert show["type"] == "live" and show["taken_at"] == "2023-10-31T10:44:43.432000Z"
    assert show["taken_at_local"].startswith("2023-10-31T11:44:43") and show["timezone"] == "Europe/Berlin"
    assert show["tz_offset_minutes"] == 60
    # No offset in the file: the time zone comes from where it was taken (GPS), offline.
    fiji = json.loads(run(lib, "show", "--json", "2004/Fiji/smallFiji.JPG").stdout)
    assert fiji["timezone"] == "Pacific/Fiji" and fiji["taken_at"] == "2004-06-16T21:04:12Z"
    assert fiji["taken_at_local"] == "2004-06-17T09:04:12"
    assert show["stack"]["kind"] == "live" and len(show["stack"]["members"]) == 2
    by_abs = json.loads(run(lib, "show", "--json", str(lib.originals / "2016/Pets/cat_brown.jpg")).stdout)
    assert sorted(by_abs["duplicates"] + [by_abs["path"]]) == ["2016/Pets/cat_brown.jpg", "Backup/Old Phone/cat_brown copy.jpg"]
    by_id = json.loads(run(lib, "show", "--json", str(show["id"])).stdout)
    assert by_id["sha1"] == show["sha1"]
    failed = json.loads(run(lib, "show", "--json", "bad/empty.jpg").stdout)
    assert failed["error"] == "empty file (0 bytes)"
    human = run(lib, "show", "2004/Fiji/smallFiji.JPG").stdout
    assert "Canon PowerShot A70" in human

    lines = run(lib, "export").stdout.splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == report["new"] - report["errors"] - 1  # two paths of the duplicate are one photo
    assert SHOW_FIELDS <= set(exported[0])

    found = [json.loads(x) for x in run(lib, "search", "--json", "year:2020").stdout.splitlines()]
    assert [p["path"] for p in found] == ["2020/Berlin/digikam.jpg"]
    videos = [json.loads(x) for x in run(lib, "search", "--json", "type:video").stdout.splitlines()]
    assert {p["path"] for p in videos} == {"Phone/DCIM/101APPLE/IMG_1502.MOV", "Phone/DCIM/Camera/VID_20170222_082028.mp4"}
    ranged = [json.loads(x) for x in run(lib, "search", "--json", "taken:2016..2019-12").stdout.splitlines()]
    assert {p["path"] for p in ranged} >= {"2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg"}
    assert all("2016" <= p["taken_at_local"][:4] <= "2019" for p in ranged)
    canon = run(lib, "search", "camera:canon", "month:6").stdout
    assert "smallFiji" in canon and "IMG_6D_0001" in canon
    bad = run(lib, "search", "year:twenty", check=False)
    assert bad.returncode == 1 and "year:twenty" in bad.stderr and "character 1" in bad.stderr

    doctor = json.loads(run(lib, "doctor", "--json").stdout)
    assert {c["name"] for c in doctor["checks"]} >= {"exiftool", "database", "inotify", "disk", "video (PyAV)"}
    assert {f["path"] for f in doctor["failed_files"]} == {"bad/empty.jpg", "bad/random_bytes.jpg",
                                                          "bad/decompression_bomb.png"}
    assert all(f["reason"] for f in doctor["failed_files"])
    stats = json.loads(run(lib, "stats", "--json").stdout)
    assert stats["photos_with_duplicates"] == 1 and stats["stacks"] >= 2 and stats["failed_files"] == 3
    assert checksums(lib.originals) == before


def test_cli_errors_are_clear(empty_library: Library, tmp_path: Path) -> None:
    lib = empty_library
    bad = tmp_path / "bad.toml"
    bad.write_text("[index]\nworkerz = 4\n")
    proc = run(lib, "--config", str(bad), "stats", check=False)
    assert proc.returncode == 2 and "index.workerz" in proc.stderr
    proc = run(lib, "stats", check=False, env={"PHOTOSHELF_THUMBNAILS_QUALITY": "high"})
    assert proc.returncode == 2 and "thumbnails.quality" in proc.stderr
    proc = run(lib, "show", "no/such/file.jpg", check=False)
    assert proc.returncode == 3 and "no/such/file.jpg" in proc.stderr
    proc = run(lib, "index", "/etc", check=False)
    assert proc.returncode == 1 and "not inside the originals" in proc.stderr
    proc = run(lib, "index", check=False, env={"PHOTOSHELF_ORIGINALS": str(tmp_path / "nope")})
    assert proc.returncode == 1 and "originals folder not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sqlite_catalog_loads_sqlite_vec(tmp_path: Path) -> None:
    from conftest import make_library

    lib = make_library(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", None)
    version, journal = lib.db.execute_sql("SELECT vec_version(), (SELECT * FROM pragma_journal_mode)").fetchone()
    assert version.startswith("v") and journal == "wal"
    lib.db.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user for an unreadable file")
def test_unreadable_file_is_recorded(tmp_path: Path) -> None:
    """A file the daemon's user cannot read gets a 'permission denied' row; the rest is indexed."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="photoshelf-perm-", dir="/tmp"))
    originals, storage = root / "originals", root / "storage"
    (originals / "ok").mkdir(parents=True)
    storage.mkdir()
    shutil.copy(SMALL_CORPUS / "2016/Pets/cat_brown.jpg", originals / "ok/a.jpg")
    shutil.copy(SMALL_CORPUS / "2019/Pets/dog_orange.jpg", originals / "ok/secret.jpg")
    os.chmod(originals / "ok/secret.jpg", 0o000)
    for p in (root, originals, originals / "ok"):
        os.chmod(p, 0o755)
    os.chmod(storage, 0o777)
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(originals), PHOTOSHELF_STORAGE=str(storage), HOME=str(storage))
    env.pop("PHOTOSHELF_DATABASE", None)
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "photoshelf.cli"]
    probe = subprocess.run([*cmd, "--version"], env=env, capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"photoshelf cannot run as 'nobody' here (its venv is not readable): {probe.stderr[-200:]}")
    proc = subprocess.run([*cmd, "index", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["errors"] == 1 and report["new"] == 2
    doctor = subprocess.run([*cmd, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    failed = json.loads(doctor.stdout)["failed_files"]
    assert failed == [{"path": "ok/secret.jpg", "reason": failed[0]["reason"]}]
    assert "permission denied" in failed[0]["reason"]
    shutil.rmtree(root)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The command failed with `code` and said why in one line naming `words`, without a traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, proc.stderr
    assert all(word in errors[0] for word in words), (errors[0], words)
    return errors[0]


def test_bad_settings_and_input_are_one_line_errors(empty_library: Library, tmp_path: Path) -> None:
    lib = empty_library
    _one_line_error(run(lib, "--config", "/bin/ls", "stats", check=False), 2, "--config", "/bin/ls")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    _one_line_error(run(lib, "stats", check=False, env={"PHOTOSHELF_STORAGE": str(a_file)}), 2,
                    "library.storage", "not a folder")
    _one_line_error(run(lib, "stats", check=False, env={"PHOTOSHELF_STORAGE": "/proc/photoshelf"}), 2,
                    "library.storage", "/proc/photoshelf")
    for url in ("mysql://[::1", "mysql://root@127.0.0.1:port/photos", "mysql://root@127.0.0.1:99999/photos"):
        _one_line_error(run(lib, "stats", check=False, env={"PHOTOSHELF_DATABASE": url}), 2, "library.database", url)
    _one_line_error(run(lib, "show", "99999999999999999999999", check=False), 3, "99999999999999999999999")


def test_index_checks_the_originals_before_creating_anything(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(tmp_path / "not-mounted"), PHOTOSHELF_STORAGE=str(storage))
    env.pop("PHOTOSHELF_DATABASE", None)
    for command in ("index", "restore"):
        proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", command], env=env, capture_output=True,
                              text=True, timeout=120)
        _one_line_error(proc, 1, "originals folder not found", "not-mounted")
        assert not storage.exists()


def test_storage_in_the_originals_is_refused(library: Library) -> None:
    lib = library
    before = checksums(lib.originals)
    for storage in (lib.originals, lib.originals / ".photoshelf"):
        proc = run(lib, "index", "--no-ml", check=False, env={"PHOTOSHELF_STORAGE": str(storage)})
        _one_line_error(proc, 2, "library.storage", str(storage))
    assert checksums(lib.originals) == before and not (lib.originals / ".photoshelf").exists()


def test_serve_on_a_taken_port_says_so(empty_library: Library) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run(empty_library, "serve", "--no-watch", "--host", "127.0.0.1", "--port", str(port), check=False)
    _one_line_error(proc, 4, f"127.0.0.1:{port}", "in use")

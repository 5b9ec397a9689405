"""What a face model is: the FaceModel protocol (a detector + embedder pair), the FoundFace it returns, and the
default (dlib) model's name and vector space. The faces stage, the ONNX model and the people all build on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
    """A detector + embedder pair. dlib is the default; an ONNX pair (SCRFD detector + ArcFace embedder, in
    Immich's layout <models_path>/<name>/detection/model.onnx and recognition/model.onnx) plugs in here.

    `model` names the pair (it is stored on every face and names the vector space), `dim` is the embedding
    size and `metric` how embeddings compare ("l2" for dlib, "cosine" for ArcFace)."""

    model: str
    dim: int
    metric: str

    def find(self, image: np.ndarray) -> list[FoundFace]:
        """Faces in an RGB uint8 array (H, W, 3), boxes as fractions of it."""
        ...

"""A pluggable ONNX face model: an SCRFD detector (with 5 landmarks) and an ArcFace embedder, in the layout
Immich uses (<models_path>/<name>/detection/model.onnx and recognition/model.onnx, e.g. buffalo_l)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.errors import ToolMissing
from photoshelf.models.facemodel import FoundFace
from photoshelf.models.runtime import onnx_session

# Where ArcFace expects the eyes, nose and mouth corners in its 112 x 112 input (insightface's template).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
STRIDES = (8, 16, 32)
NMS_IOU = 0.4


def files(folder: Path) -> tuple[Path, Path]:
    return folder / "detection" / "model.onnx", folder / "recognition" / "model.onnx"


def missing(folder: Path) -> str | None:
    """Why the model in `folder` cannot load (a file missing), or None."""
    for path in files(folder):
        if not path.is_file():
            return f"face model file {path} is missing (copy the model's detection/ and recognition/ folders there)"
    return None


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity transform (rotation, uniform scale, shift) that best maps src points onto dst
    (Umeyama's least squares)."""
    n = len(src)
    mean_s, mean_d = src.mean(axis=0), dst.mean(axis=0)
    sc, dc = src - mean_s, dst - mean_d
    u, sv, vt = np.linalg.svd(dc.T @ sc / n)
    d = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ np.diag(d) @ vt
    var = (sc ** 2).sum() / n
    scale = float((sv * d).sum() / var) if var > 0 else 1.0
    shift = mean_d - scale * rot @ mean_s
    return np.hstack([scale * rot, shift[:, None]])


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> list[int]:
    """Indices of the boxes (x1, y1, x2, y2) kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        order = rest[inter <= threshold * np.maximum(union, 1e-9)]
    return keep


class OnnxFaces:
    """SCRFD + ArcFace on onnxruntime. Embeddings are unit vectors compared by cosine distance."""

    metric = "cosine"

    def __init__(self, folder: Path, threads: int = 0, min_size: int = 40, min_score: float = 0.0,
                 det_size: int = 640) -> None:
        reason = missing(folder)
        if reason:
            raise ToolMissing(reason)
        detection, recognition = files(folder)
        self.model = folder.name[:32]
        self.det = onnx_session(str(detection), threads)
        self.rec = onnx_session(str(recognition), threads)
        self.det_input = self.det.get_inputs()[0].name
        self.rec_input = self.rec.get_inputs()[0].name
        shape = self.det.get_inputs()[0].shape
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        self.det_size = fixed[0] if fixed else det_size
        out = self.rec.get_outputs()[0].shape[-1]
        self.dim = out if isinstance(out, int) else int(self._embed(np.zeros((1, 112, 112, 3), np.uint8)).shape[1])
        self.min_size = min_size
        # SCRFD scores are probabilities; dlib's min_score (a HOG margin, default 0) means nothing here.
        self.threshold = min_score if min_score > 0 else 0.5

    def find(self, image: np.ndarray) -> list[FoundFace]:
        from PIL import Image

        height, width = image.shape[:2]
        scale = self.det_size / max(height, width)
        resized = Image.fromarray(image).resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                                Image.Resampling.BILINEAR)
        canvas = np.zeros((self.det_size, self.det_size, 3), np.float32)
        canvas[: resized.height, : resized.width] = np.asarray(resized, np.float32)
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        boxes, scores, points = self._decode(self.det.run(None, {self.det_input: blob}))
        if not len(scores):
            return []
        keep = nms(boxes, scores)
        boxes, scores, points = boxes[keep] / scale, scores[keep], points[keep] / scale
        sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        chosen = [i for i in range(len(scores)) if sizes[i] >= self.min_size]
        if not chosen:
            return []
        chips = np.stack([self._align(image, points[i]) for i in chosen])
        embeddings = self._embed(chips)
        out = []
        for row, i in enumerate(chosen):
            x1, y1 = max(0.0, boxes[i, 0]), max(0.0, boxes[i, 1])
            x2, y2 = min(float(width), boxes[i, 2]), min(float(height), boxes[i, 3])
            out.append(FoundFace(x=x1 / width, y=y1 / height, w=(x2 - x1) / width, h=(y2 - y1) / height,
                                 score=float(scores[i]), embedding=embeddings[row]))
        return out

    def _decode(self, outputs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SCRFD's outputs: scores, box distances and landmark offsets per stride (8, 16, 32), two anchors per
        grid point, distances in units of the stride from the anchor point."""
        levels = len(STRIDES)
        if len(outputs) != 3 * levels:
            raise ToolMissing(f"the face detector has {len(outputs)} outputs: SCRFD with landmarks has 9")
        all_boxes, all_scores, all_points = [], [], []
        for idx, stride in enumerate(STRIDES):
            scores = np.asarray(outputs[idx]).reshape(-1)
            dist = np.asarray(outputs[idx + levels]).reshape(-1, 4) * stride
            kps = np.asarray(outputs[idx + 2 * levels]).reshape(-1, 10) * stride
            side = self.det_size // stride
            anchors = len(scores) // (side * side)
            ys, xs = np.mgrid[:side, :side]
            centres = np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1) * stride, anchors, axis=0).astype(
                np.float32)
            hit = scores >= self.threshold
            if not hit.any():
                continue
            c, d, k = centres[hit], dist[hit], kps[hit]
            all_boxes.append(np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]],
                                      axis=1))
            all_points.append(k.reshape(-1, 5, 2) + c[:, None, :])
            all_scores.append(scores[hit])
        if not all_scores:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_points)

    @staticmethod
    def _align(image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The 112 x 112 chip ArcFace wants: the face turned and scaled so its landmarks sit on the template."""
        from PIL import Image

        # PIL's affine transform maps output pixels to input pixels: estimate template -> image directly.
        m = similarity(ARCFACE_TEMPLATE, points.astype(np.float64))
        chip = Image.fromarray(image).transform((112, 112), Image.Transform.AFFINE, data=tuple(m.ravel()),
                                                resample=Image.Resampling.BILINEAR)
        return np.asarray(chip)

    def _embed(self, chips: np.ndarray) -> np.ndarray:
        blob = ((chips.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
        if self.rec.get_inputs()[0].shape[0] == 1:  # an export with a fixed batch of one
            parts = [self.rec.run(None, {self.rec_input: blob[i : i + 1]})[0] for i in range(len(blob))]
            vectors = np.concatenate(parts).astype(np.float32).reshape(len(chips), -1)
        else:
            vectors = np.asarray(self.rec.run(None, {self.rec_input: blob})[0], np.float32).reshape(len(chips), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

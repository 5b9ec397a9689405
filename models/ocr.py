"""Text in photos: the `ocr` enrichment stage (PP-OCRv4 from rapidocr-onnxruntime) that reads signs, receipts,
screenshots and documents, detecting text first and recognising it only where enough of the picture is text."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.db.schema import PhotoText
from photoshelf.models.runtime import Lazy, require
from photoshelf.models.stages import Item, Stage

log = logging.getLogger(__name__)

MODEL = "ppocrv4"  # rapidocr-onnxruntime's shipped detector and recogniser (Chinese + Latin letters and digits)
VERSION = 2  # bump when what the stage keeps changes (the junk filter, the gate)
PACKAGE = "rapidocr_onnxruntime"
MIN_CHARS = 2  # a line needs this many letters or digits (single glyphs are mostly noise: bricks, leaves)
# A text box this tall (its short side, as a share of the picture's short side) is texture, not a line of text:
# on the corpus the detector's false boxes on sand, elephant skin or a dog's fur were 0.4-0.9 of the picture.
MAX_LINE_HEIGHT = 0.3


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float


@dataclass(frozen=True)
class Reading:
    """What the stage found in one photo: the share of the picture covered by text boxes, whether recognition
    ran (the detector found enough text), and the lines kept."""

    text_area: float
    recognised: bool
    lines: tuple[Line, ...]


def available() -> bool:
    """Whether the OCR package is installed (checked without importing it: it imports OpenCV)."""
    return importlib.util.find_spec(PACKAGE) is not None


def _rapid_config(threads: int, rec_model: str, max_side: int = 0) -> dict[str, Any]:
    utils = require(f"{PACKAGE}.utils", extra="ocr")
    root = Path(require(PACKAGE, extra="ocr").__file__).parent
    config: dict[str, Any] = utils.update_model_path(utils.read_yaml(str(root / "config.yaml")))
    for part in ("Det", "Cls", "Rec"):
        config[part]["intra_op_num_threads"] = threads if threads > 0 else -1
        config[part]["inter_op_num_threads"] = 1 if threads > 0 else -1
    if rec_model:
        config["Rec"]["model_path"] = str(Path(rec_model).expanduser())
    if max_side:
        # Detect at the picture's own size, at most max_side (rapidocr's default scales the short side UP to 736
        # px: 2-5 times the work on a thumbnail, and more false boxes in textures).
        config["Det"]["limit_type"] = "max"
        config["Det"]["limit_side_len"] = max_side
    return config


def box_area(box: np.ndarray) -> float:
    """A quadrilateral's area (shoelace formula) from its four corner points."""
    x, y = box[:, 0].astype(np.float64), box[:, 1].astype(np.float64)
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def line_height(box: np.ndarray) -> float:
    """A text box's height: its shorter pair of opposite sides."""
    p = box.astype(np.float64)
    return float(min(max(np.linalg.norm(p[0] - p[3]), np.linalg.norm(p[1] - p[2])),
                     max(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[2] - p[3]))))


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The text box cut out and straightened (a perspective warp to its own width and height); a tall narrow box
    is turned to lie flat, as PP-OCR's recogniser reads left to right."""
    cv2 = require("cv2", extra="ocr")
    points = box.astype(np.float32)
    width = int(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])))
    height = int(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(points, target)
    out = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                              flags=cv2.INTER_CUBIC)
    if out.shape[0] >= 1.5 * out.shape[1]:
        out = np.rot90(out)
    return np.ascontiguousarray(out)


def reading_order(boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Boxes top to bottom, and left to right within a line (tops within 10 px count as one line)."""
    ordered = sorted(boxes, key=lambda b: (float(b[0][1]), float(b[0][0])))
    for i in range(1, len(ordered)):
        j = i
        while j > 0 and abs(ordered[j][0][1] - ordered[j - 1][0][1]) < 10 and ordered[j][0][0] < ordered[j - 1][0][0]:
            ordered[j], ordered[j - 1] = ordered[j - 1], ordered[j]
            j -= 1
    return ordered


def keep(text: str, confidence: float, min_confidence: float) -> bool:
    """A recognised line worth keeping: sure enough, and with at least MIN_CHARS letters or digits."""
    return confidence >= min_confidence and sum(ch.isalnum() for ch in text) >= MIN_CHARS


class Reader:
    """The three PP-OCR networks, each loaded on first use and unloaded when idle: a library without text loads
    only the detector."""

    def __init__(self, threads: int = 0, rec_model: str = "", idle_seconds: float = 300.0,
                 max_side: int = 640) -> None:
        self._config = lambda: _rapid_config(threads, rec_model, max_side)
        self.det = Lazy("ocr-det", self._detector, idle_seconds)
        self.cls = Lazy("ocr-cls", self._classifier, idle_seconds)
        self.rec = Lazy("ocr-rec", self._recogniser, idle_seconds)

    def _detector(self) -> Any:
        return require(f"{PACKAGE}.ch_ppocr_det", extra="ocr").TextDetector(self._config()["Det"])

    def _classifier(self) -> Any:
        return require(f"{PACKAGE}.ch_ppocr_cls", extra="ocr").TextClassifier(self._config()["Cls"])

    def _recogniser(self) -> Any:
        return require(f"{PACKAGE}.ch_ppocr_rec", extra="ocr").TextRecognizer(self._config()["Rec"])

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """The text boxes (four corner points each) in a BGR image."""
        boxes, _ = self.det.get()(image)
        return [] if boxes is None else [np.asarray(b) for b in boxes]

    def gate(self, image: np.ndarray) -> tuple[list[np.ndarray], float]:
        """The line-like text boxes (not taller than MAX_LINE_HEIGHT) and the share of the picture they cover."""
        tallest = MAX_LINE_HEIGHT * min(image.shape[0], image.shape[1])
        boxes = [b for b in self.detect(image) if line_height(b) <= tallest]
        return boxes, sum(box_area(b) for b in boxes) / float(image.shape[0] * image.shape[1])

    def recognise(self, image: np.ndarray, boxes: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Each box's text and confidence, in the boxes' order (upside-down boxes turned by the classifier)."""
        crops = [crop(image, b) for b in boxes]
        crops, _, _ = self.cls.get()(crops)
        results, _ = self.rec.get()(crops)
        return [(str(r[0]), float(r[1])) for r in results]

    def read(self, image: np.ndarray, min_text_area: float, min_confidence: float) -> Reading:
        """Detect; when the line-like boxes (not taller than MAX_LINE_HEIGHT) cover at least `min_text_area` of the
        picture, recognise them and keep the lines that pass keep()."""
        boxes, area = self.gate(image)
        if not boxes or area < min_text_area:
            return Reading(round(area, 5), False, ())
        ordered = reading_order(boxes)
        lines = tuple(Line(" ".join(t.split()), round(c, 4)) for t, c in self.recognise(image, ordered)
                      if keep(t, c, min_confidence))
        return Reading(round(area, 5), True, lines)

    def unload(self) -> None:
        for lazy in (self.det, self.cls, self.rec):
            lazy.unload()


def load_bgr(path: Path, max_side: int) -> np.ndarray:
    """A thumbnail as the BGR array OpenCV-style models take, its longer side at most `max_side`."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (max_side, max_side))
        rgb = im.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def store_text(found: dict[int, tuple[Line, ...]], model: str) -> None:
    """Replace the photos' text rows with what was found (a photo without lines has none)."""
    ids = list(found)
    if not ids:
        return
    PhotoText.delete().where(PhotoText.photo.in_(ids)).execute()
    rows = [{"photo": pid, "text": "\n".join(line.text for line in lines),
             "lines": json.dumps([[line.text, line.confidence] for line in lines], ensure_ascii=False),
             "model": model[:48]} for pid, lines in found.items() if lines]
    if rows:
        PhotoText.insert_many(rows).execute()


def lines_of(row_lines: str) -> list[tuple[str, float]]:
    """The (line, confidence) pairs stored in a PhotoText row's `lines`."""
    try:
        data = json.loads(row_lines)
    except ValueError:
        return []
    return [(str(t), float(c)) for t, c in data if isinstance(t, str)] if isinstance(data, list) else []


class OcrStage(Stage):
    """Reads the text in photos (not videos) from the fit thumbnail: PP-OCR's detector first, the recogniser only
    when text boxes cover at least `models.ocr_min_text_area` of the picture."""

    name = "ocr"
    order = 30  # after the labels and scenes, before the text index (90)
    kinds = ("image", "raw", "live")

    def __init__(self, config: Any, db: Any) -> None:
        super().__init__(config, db)
        m = config.models
        self.reader = Reader(m.threads, m.ocr_rec_model, float(m.idle_unload_seconds), m.ocr_max_side)
        self.gated = 0  # photos the detector alone settled (no recognition)
        self.recognised = 0  # photos recognition ran on

    def unavailable(self) -> str | None:
        m = self.config.models
        if not m.enabled or not m.ocr:
            return "turned off (models.enabled / models.ocr)"
        if not available():
            return "needs rapidocr-onnxruntime: pip install 'photoshelf[ocr]'"
        if m.ocr_rec_model and not Path(m.ocr_rec_model).expanduser().is_file():
            return f"models.ocr_rec_model: no file {m.ocr_rec_model}"
        return None

    def version(self) -> str:
        m = self.config.models
        rec = Path(m.ocr_rec_model).stem[:12] if m.ocr_rec_model else "v4"
        return (f"{MODEL}-{rec} c{m.ocr_min_confidence:g} a{m.ocr_min_text_area:g} s{m.ocr_max_side} "
                f"v{VERSION}")[:48]

    def compute(self, items: Sequence[Item]) -> dict[int, Reading | str]:
        m = self.config.models
        out: dict[int, Reading | str] = {}
        for item in items:
            try:
                image = load_bgr(item.fit, m.ocr_max_side)
            except OSError as exc:
                out[item.photo_id] = f"cannot read the thumbnail: {exc}"
                continue
            reading = self.reader.read(image, m.ocr_min_text_area, m.ocr_min_confidence)
            if reading.recognised:
                self.recognised += 1
            else:
                self.gated += 1
            out[item.photo_id] = reading
        return out

    def store(self, value: dict[int, Reading | str]) -> dict[int, str | None]:
        store_text({pid: r.lines for pid, r in value.items() if isinstance(r, Reading)}, self.version())
        return {pid: (r if isinstance(r, str) else None) for pid, r in value.items()}

    def forget(self, photo_ids: Sequence[int]) -> None:
        PhotoText.delete().where(PhotoText.photo.in_(list(photo_ids))).execute()

    def close(self) -> None:
        self.reader.unload()

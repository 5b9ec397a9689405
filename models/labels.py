"""Photo labels: EfficientNet-Lite0 ImageNet probabilities mapped through a rules file to labels and categories."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.errors import ConfigError

log = logging.getLogger(__name__)

MODEL = "efficientnet-lite0-1"


@dataclass(frozen=True)
class Rule:
    name: str
    categories: tuple[str, ...]
    classes: tuple[int, ...]
    threshold: float | None = None


@dataclass(frozen=True)
class Label:
    name: str
    categories: tuple[str, ...]
    confidence: float
    source: str = "imagenet"

    @property
    def category(self) -> str:
        return self.categories[0] if self.categories else ""


def class_names() -> list[str]:
    text = resources.files("photoshelf.models").joinpath("imagenet_classes.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _parse_classes(values: list[Any], where: str) -> tuple[int, ...]:
    out: list[int] = []
    for value in values:
        text = str(value)
        lo, sep, hi = text.partition("-")
        try:
            ids = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise ConfigError("models.label_rules", f"{where}: bad class {text!r} (an index 0-999 or a range a-b)") from None
        for i in ids:
            if not 0 <= i < 1000:
                raise ConfigError("models.label_rules", f"{where}: class {i} is outside 0-999")
            out.append(i)
    return tuple(out)


def load_rules(path: str | Path | None = None) -> tuple[list[Rule], str]:
    """The rules (built-in, or a user's YAML file) and a short digest that goes into the stage version."""
    import yaml

    if path:
        try:
            text = Path(path).expanduser().read_text("utf-8")
        except OSError as exc:
            raise ConfigError("models.label_rules", f"cannot read {path}: {exc.strerror}") from None
    else:
        text = resources.files("photoshelf.models").joinpath("label_rules.yml").read_text("utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("models.label_rules", f"not valid YAML: {exc}") from None
    rules = []
    for name, spec in (data.get("labels") or {}).items():
        if not isinstance(spec, dict) or "classes" not in spec:
            raise ConfigError("models.label_rules", f"label {name!r} needs a list of classes")
        rules.append(Rule(
            name=str(name), categories=tuple(str(c) for c in spec.get("categories") or ()),
            classes=_parse_classes(list(spec["classes"]), f"label {name!r}"),
            threshold=float(spec["threshold"]) if spec.get("threshold") is not None else None,
        ))
    return rules, hashlib.sha1(text.encode()).hexdigest()[:8]


class LabelMapper:
    """Sums class probabilities per rule (an unsure breed is still surely a dog) and keeps those above threshold."""

    def __init__(self, rules: list[Rule], threshold: float, max_labels: int = 5) -> None:
        self.rules = rules
        self.threshold = threshold
        self.max_labels = max_labels
        self._matrix = np.zeros((1000, len(rules)), dtype=np.float32)
        for j, rule in enumerate(rules):
            self._matrix[list(rule.classes), j] = 1.0

    def map(self, probs: np.ndarray) -> list[Label]:
        scores = probs @ self._matrix
        found = []
        for j in np.argsort(-scores):
            rule = self.rules[int(j)]
            if scores[j] >= (rule.threshold if rule.threshold is not None else self.threshold):
                found.append(Label(rule.name, rule.categories, round(float(min(scores[j], 1.0)), 4)))
            if len(found) >= self.max_labels or scores[j] < self.threshold / 2:
                break
        return found


def views(image: Any) -> np.ndarray:
    """The inputs for one photo: the centre crop and two overlapping crops along the long side, because the
    subject of a photo is often off centre (a bird on a rock). The probabilities are averaged."""
    from photoshelf.models.efficientnet import preprocess

    w, h = image.size
    side = int(min(w, h) * 0.75) if abs(w - h) < 0.1 * max(w, h) else min(w, h)
    crops = [image]
    if w >= h:
        crops += [image.crop((0, (h - side) // 2, side, (h - side) // 2 + side)),
                  image.crop((w - side, (h - side) // 2, w, (h - side) // 2 + side))]
    else:
        crops += [image.crop(((w - side) // 2, 0, (w - side) // 2 + side, side)),
                  image.crop(((w - side) // 2, h - side, (w - side) // 2 + side, h))]
    return np.stack([preprocess(c) for c in crops])


class Classifier:
    """EfficientNet-Lite0 on onnxruntime; the graph is built from the .pth once and cached on disk."""

    def __init__(self, cache_dir: Path | None, threads: int) -> None:
        from photoshelf.models import efficientnet
        from photoshelf.models.runtime import onnx_session

        model_bytes: bytes | None = None
        cached = cache_dir / f"{MODEL}.onnx" if cache_dir else None
        if cached is not None and cached.is_file():
            model_bytes = cached.read_bytes()
        if model_bytes is None:
            from photoshelf.models.torchfile import load_state_dict

            model_bytes = efficientnet.build_onnx(load_state_dict(efficientnet.weights_path()))
            if cached is not None:
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_suffix(".tmp")
                    tmp.write_bytes(model_bytes)
                    tmp.replace(cached)
                except OSError as exc:
                    log.warning("cannot cache the label model in %s: %s", cached.parent, exc)
        self.session = onnx_session(model_bytes, threads)

    def probabilities(self, images: list[Any]) -> np.ndarray:
        """(len(images), 1000) class probabilities, each the mean over the image's views."""
        if not images:
            return np.zeros((0, 1000), dtype=np.float32)
        batches = [views(im) for im in images]
        counts = [len(b) for b in batches]
        probs = self.session.run(None, {"image": np.concatenate(batches).astype(np.float32)})[0]
        out, start = [], 0
        for n in counts:
            out.append(probs[start : start + n].mean(axis=0))
            start += n
        return np.stack(out)

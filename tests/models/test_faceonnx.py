"""The pluggable ONNX face model (SCRFD + ArcFace layout) with tiny models the test builds: a "detector" that
finds bright 32 px squares on the stride-32 grid, an "embedder" that returns a face's mean colour. They drive the
real loading, decoding, NMS, landmark alignment, the cosine face space and clustering through the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from photoshelf import people as core
from photoshelf.db.schema import Face, File, Vector
from photoshelf.library import index_library
from photoshelf.models import people
from photoshelf.models.enrich import Enricher
from photoshelf.models.faces import FacesStage

from conftest import Library

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from photoshelf.models.faceonnx import ARCFACE_TEMPLATE, OnnxFaces, nms, similarity  # noqa: E402

SIZE = 640


def _save(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], path: Path) -> None:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def build_models(folder: Path) -> Path:
    """detection/model.onnx and recognition/model.onnx in Immich's layout."""
    nodes = [helper.make_node("ReduceMean", ["input.1"], ["grey"], axes=[1], keepdims=1)]
    inits = []
    outs: dict[str, list[Any]] = {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        side = SIZE // stride
        n = side * side * 2
        s = str(stride)
        nodes.append(helper.make_node("AveragePool", ["grey"], ["pool" + s], kernel_shape=[stride, stride],
                                      strides=[stride, stride]))
        # Only the stride-32 level fires: sigmoid(10 * (cell mean + 0.5)); the others say "no face".
        gain, bias = (10.0, 5.0) if stride == 32 else (0.0, -20.0)
        inits += [numpy_helper.from_array(np.array(gain, np.float32), "gain" + s),
                  numpy_helper.from_array(np.array(bias, np.float32), "bias" + s),
                  numpy_helper.from_array(np.array([-1, 1], np.int64), "col" + s),
                  # The box is the grid cell whose top-left corner is the anchor point; landmarks where ArcFace
                  # wants them in it.
                  numpy_helper.from_array(np.tile(np.array([[0, 0, 1, 1]], np.float32), (n, 1)), "dist" + s),
                  numpy_helper.from_array(np.tile((ARCFACE_TEMPLATE / 112).astype(np.float32).reshape(1, 10),
                                                  (n, 1)), "pts" + s)]
        nodes += [
            helper.make_node("Mul", ["pool" + s, "gain" + s], ["scaled" + s]),
            helper.make_node("Add", ["scaled" + s, "bias" + s], ["logit" + s]),
            helper.make_node("Sigmoid", ["logit" + s], ["prob" + s]),
            helper.make_node("Reshape", ["prob" + s, "col" + s], ["one" + s]),
            helper.make_node("Concat", ["one" + s, "one" + s], ["two" + s], axis=1),  # two anchors per point
            helper.make_node("Reshape", ["two" + s, "col" + s], ["score_" + s]),
            helper.make_node("Identity", ["dist" + s], ["bbox_" + s]),
            helper.make_node("Identity", ["pts" + s], ["kps_" + s]),
        ]
        outs["score"].append(helper.make_tensor_value_info("score_" + s, TensorProto.FLOAT, [n, 1]))
        outs["bbox"].append(helper.make_tensor_value_info("bbox_" + s, TensorProto.FLOAT, [n, 4]))
        outs["kps"].append(helper.make_tensor_value_info("kps_" + s, TensorProto.FLOAT, [n, 10]))
    _save(nodes, [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
          outs["score"] + outs["bbox"] + outs["kps"], inits, folder / "detection" / "model.onnx")
    # The embedder: the chip's mean colour, padded to 8 dimensions.
    proj = np.zeros((3, 8), np.float32)
    proj[0, 0] = proj[1, 1] = proj[2, 2] = 1.0
    _save([helper.make_node("GlobalAveragePool", ["input.1"], ["gap"]),
           helper.make_node("Flatten", ["gap"], ["flat"]),
           helper.make_node("MatMul", ["flat", "proj"], ["embedding"])],
          [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["n", 3, 112, 112])],
          [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 8])],
          [numpy_helper.from_array(proj, "proj")], folder / "recognition" / "model.onnx")
    return folder


YELLOW, CYAN = (255, 255, 0), (0, 255, 255)


def picture(squares: list[tuple[int, int, tuple[int, int, int]]]) -> np.ndarray:
    """A black 640 x 640 picture with 32 px squares at grid cells (column, row) in the given colours."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for col, row, colour in squares:
        image[row * 32 : row * 32 + 32, col * 32 : col * 32 + 32] = colour
    return image


def test_detects_aligns_and_embeds(tmp_path: Path) -> None:
    model = OnnxFaces(build_models(tmp_path / "tiny"), min_size=20)
    assert (model.model, model.dim, model.metric) == ("tiny", 8, "cosine")
    found = model.find(picture([(5, 7, YELLOW), (12, 3, CYAN)]))
    assert len(found) == 2
    by_x = sorted(found, key=lambda f: f.x)
    assert [(round(f.x * SIZE), round(f.y * SIZE), round(f.w * SIZE), round(f.h * SIZE)) for f in by_x] == [
        (160, 224, 32, 32), (384, 96, 32, 32)]
    # The aligned chip is the square itself, so the embedding is its colour (unit length).
    yellow = np.array([1, 1, -1, 0, 0, 0, 0, 0]) / np.sqrt(3)
    cyan = np.array([-1, 1, 1, 0, 0, 0, 0, 0]) / np.sqrt(3)
    assert np.allclose(by_x[0].embedding, yellow, atol=0.05) and np.allclose(by_x[1].embedding, cyan, atol=0.05)
    # A smaller picture is scaled up to the detector's size and the boxes come back in its own fractions.
    # min_size (pixels of the picture given) drops small faces.
    small = np.asarray(Image.fromarray(picture([(5, 7, YELLOW)])).resize((320, 320), Image.Resampling.NEAREST))
    assert model.find(small) == []
    model.min_size = 10
    (face,) = model.find(small)
    assert (round(face.x * 320), round(face.y * 320), round(face.w * 320)) == (80, 112, 16)
    assert model.find(picture([])) == []


def test_geometry_helpers() -> None:
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = ARCFACE_TEMPLATE @ (scale * rot).T + shift
    assert np.allclose(similarity(ARCFACE_TEMPLATE, dst), np.hstack([scale * rot, shift[:, None]]), atol=1e-9)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float64)
    assert nms(boxes, np.array([0.8, 0.9, 0.7])) == [1, 2]


def test_stage_with_an_onnx_model(empty_library: Library) -> None:
    """Through the runner: four photos, yellow faces in two, cyan in two; 2 people in the model's cosine space."""
    lib = empty_library
    layout = [[(3, 3, YELLOW)], [(10, 12, YELLOW)], [(4, 15, CYAN)], [(14, 5, CYAN), (2, 2, YELLOW)]]
    with lib.user_changes():
        for i, squares in enumerate(layout):
            Image.fromarray(picture(squares)).save(lib.originals / f"p{i}.png")
    index_library(lib.config, lib.db)
    model = OnnxFaces(build_models(tmp_models := lib.storage / "models" / "tiny"), min_size=20)
    assert tmp_models.is_dir()
    stage = FacesStage(lib.config, lib.db, model)
    assert stage.version().startswith("tiny ")
    report = Enricher(lib.config, lib.db, stages=[stage]).run(record=False)
    assert (report.stages[0].done, report.stages[0].errors) == (4, 0)
    assert Face.select().where(Face.model == "tiny").count() == 5
    assert Vector.select().where(Vector.space == "face:tiny").count() == 5
    paths = {f.photo_id: f.path for f in File.select()}
    groups: dict[int, set[tuple[int, int, int]]] = {}
    for face in Face.select():
        # The truth: the colour of the original at the middle of the face's box.
        with Image.open(lib.originals / paths[face.photo_id]) as original:
            colour = original.convert("RGB").getpixel((int((face.x + face.w / 2) * SIZE),
                                                       int((face.y + face.h / 2) * SIZE)))
        assert colour in (YELLOW, CYAN) and face.person_id is not None, (paths[face.photo_id], face.x, face.y)
        groups.setdefault(face.person_id, set()).add(colour)
    assert sorted(len(v) for v in groups.values()) == [1, 1] and len(groups) == 2
    assert [r["faces"] for r in core.list_people()] == [3, 2]
    # `people cluster` works on the ONNX model's space without the model loaded (dimension read from storage).
    Face.update(person=None, assigned_by=None).execute()
    core.prune_empty()
    report2 = people.recluster(lib.db, lib.config.models.face_distance, lib.config.models.face_cluster_min)
    assert (report2.new_people, report2.clustered) == (2, 5)

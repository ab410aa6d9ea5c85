"""Small ONNX models with exactly the official I/O, built in the tests (no weights needed).

- ``make_pose_onnx``: ``input`` [B,3,H,W] -> ``simcc_x`` [B,133,W*2], ``simcc_y`` [B,133,H*2],
  a real input-dependent network (1x1 conv, axis means, bin projections).
- ``make_detector_onnx``: ``images`` [1,3,S,S] -> ``output`` [1,N,85] raw YOLOX head output,
  laid out so that it decodes to the given person boxes (a known answer for the decoder).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engines.models import YOLOX_STRIDES, yolox_num_anchors


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_pose_onnx(path: Path, input_size: tuple[int, int] = (288, 384), num_keypoints: int = 133,
                   dynamic_batch: bool = True, split_ratio: int = 2, seed: int = 0) -> Path:
    """A SimCC-shaped pose model: input (w, h) -> bins (w * k, h * k)."""
    w, h = input_size
    rng = np.random.default_rng(seed)
    batch = "batch" if dynamic_batch else 1
    shapes = {"cw": (num_keypoints, 3, 1, 1), "cb": (num_keypoints,),
              "px": (w, w * split_ratio), "py": (h, h * split_ratio)}
    init = [numpy_helper.from_array(rng.normal(0, 1, shape).astype(np.float32), name)
            for name, shape in shapes.items()]
    nodes = [
        helper.make_node("Conv", ["input", "cw", "cb"], ["feat"]),  # [B, K, H, W]
        helper.make_node("ReduceMean", ["feat"], ["fx"], axes=[2], keepdims=0),  # [B, K, W]
        helper.make_node("ReduceMean", ["feat"], ["fy"], axes=[3], keepdims=0),  # [B, K, H]
        helper.make_node("MatMul", ["fx", "px"], ["simcc_x"]),
        helper.make_node("MatMul", ["fy", "py"], ["simcc_y"]),
    ]
    graph = helper.make_graph(
        nodes, "pose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT,
                                       [batch, num_keypoints, w * split_ratio]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT,
                                       [batch, num_keypoints, h * split_ratio])],
        init)
    return _save(graph, path)


Box = tuple[float, float, float, float, float]  # x1, y1, x2, y2, score


def yolox_raw_output(size: int, boxes: list[Box]) -> np.ndarray:
    """Raw [N, 85] head output that decodes to ``boxes`` = (x1, y1, x2, y2, score) in network
    pixels, each placed on the stride-8 anchor under its centre."""
    raw = np.zeros((yolox_num_anchors(size), 85), np.float32)
    raw[:, 4] = 0.0  # objectness 0 everywhere else: no candidates
    n8 = size // YOLOX_STRIDES[0]
    for x1, y1, x2, y2, score in boxes:
        cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        gx, gy = int(cx // 8), int(cy // 8)
        row = raw[gy * n8 + gx]
        row[0], row[1] = cx / 8 - gx, cy / 8 - gy
        row[2], row[3] = np.log(bw / 8), np.log(bh / 8)
        row[4], row[5] = 1.0, score
    return raw


def make_detector_onnx(path: Path, size: int = 416, boxes: list[Box] = ()) -> Path:
    """A YOLOX-shaped detector whose output is fixed: it decodes to ``boxes`` (network pixels).

    The image still flows through the graph (times zero) so the runtime cannot skip the input.
    """
    const = yolox_raw_output(size, list(boxes))[None]
    init = [numpy_helper.from_array(const, "raw"),
            numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["raw", "z"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "yolox",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                       [1, yolox_num_anchors(size), 85])],
        init)
    return _save(graph, path)

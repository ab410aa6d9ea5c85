"""Small ONNX models with exactly the official I/O, built in the tests (no weights needed).

Every released signature of COMPAT section 1 has a builder:

- ``make_pose_onnx``: ``input`` [B,3,H,W] -> ``simcc_x`` [B,K,W*2], ``simcc_y`` [B,K,H*2],
  a real input-dependent network (1x1 conv, axis means, bin projections). B static (1: the
  official ``dw-ll_ucoco_384.onnx``; 5: ComfyUI's ``*_bs5``) or symbolic; K declared static
  or symbolic (``MatMulsimcc_x_dim_1``, the OpenMMLab SDKs); float32 or float16 I/O.
- ``upstream_pose_onnx``: the real upstream DWPose-t export in ../shared (weights stripped)
  with seeded random weights: symbolic batch and keypoint axis, the real operators.
- ``make_detector_onnx``: ``images`` [1,3,S,S] -> ``output`` [1,N,85] raw YOLOX head output,
  laid out so that it decodes to the given person boxes (a known answer for the decoder).
- ``make_end2end_onnx``: an mmdeploy-style end2end detector, ``input`` [1,3,H,W] (static or
  symbolic) -> ``dets`` [1,N,5] + ``labels`` int64 [1,N], with NonMaxSuppression and TopK in
  the graph; its scores are a known function of the input (``end2end_scores``).
- ``make_rtmo_onnx``: a one-stage RTMO-shaped model (``dets`` + ``keypoints`` [1,N,17,3]).
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
                   batch: int | str = "batch", split_ratio: int = 2, seed: int = 0,
                   symbolic_keypoints: bool = False, fp16: bool = False) -> Path:
    """A SimCC-shaped pose model: input (w, h) -> bins (w * k, h * k).

    ``batch``: a static batch (int) or the name of a symbolic one. ``symbolic_keypoints``:
    declare the keypoint axis as the OpenMMLab SDKs do. ``fp16``: float16 input and outputs
    (the network computes in float32 between two Casts, as the community FP16 files' I/O).
    """
    w, h = input_size
    rng = np.random.default_rng(seed)
    shapes = {"cw": (num_keypoints, 3, 1, 1), "cb": (num_keypoints,),
              "px": (w, w * split_ratio), "py": (h, h * split_ratio)}
    init = [numpy_helper.from_array(rng.normal(0, 1, shape).astype(np.float32), name)
            for name, shape in shapes.items()]
    x, sx, sy = ("input32", "sx32", "sy32") if fp16 else ("input", "simcc_x", "simcc_y")
    nodes = [helper.make_node("Conv", [x, "cw", "cb"], ["conv"])]  # [B, K, H, W]
    if symbolic_keypoints:  # a reshape to a runtime shape, as the upstream head's flatten:
        # shape inference loses K after it, as it does in the released files
        init += [numpy_helper.from_array(np.array([0], np.int64), "s0"),
                 numpy_helper.from_array(np.array([2], np.int64), "s2"),
                 numpy_helper.from_array(np.array([h, w], np.int64), "hw")]
        nodes += [helper.make_node("Shape", ["conv"], ["shape"]),
                  helper.make_node("Slice", ["shape", "s0", "s2"], ["bk"]),
                  helper.make_node("Concat", ["bk", "hw"], ["target"], axis=0),
                  helper.make_node("Reshape", ["conv", "target"], ["feat"])]
    else:
        nodes += [helper.make_node("Identity", ["conv"], ["feat"])]
    nodes += [
        helper.make_node("ReduceMean", ["feat"], ["fx"], axes=[2], keepdims=0),  # [B, K, W]
        helper.make_node("ReduceMean", ["feat"], ["fy"], axes=[3], keepdims=0),  # [B, K, H]
        helper.make_node("MatMul", ["fx", "px"], [sx]),
        helper.make_node("MatMul", ["fy", "py"], [sy]),
    ]
    io_type = TensorProto.FLOAT
    if fp16:
        io_type = TensorProto.FLOAT16
        nodes = ([helper.make_node("Cast", ["input"], [x], to=TensorProto.FLOAT)] + nodes
                 + [helper.make_node("Cast", [sx], ["simcc_x"], to=TensorProto.FLOAT16),
                    helper.make_node("Cast", [sy], ["simcc_y"], to=TensorProto.FLOAT16)])
    k = "MatMulsimcc_x_dim_1" if symbolic_keypoints else num_keypoints
    graph = helper.make_graph(
        nodes, "pose",
        [helper.make_tensor_value_info("input", io_type, [batch, 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", io_type, [batch, k, w * split_ratio]),
         helper.make_tensor_value_info("simcc_y", io_type, [batch, k, h * split_ratio])],
        init)
    return _save(graph, path)


def upstream_pose_onnx(source: Path, path: Path, seed: int = 0,
                       static_keypoints: bool = False) -> Path:
    """The upstream export ``source`` (weights stripped) with seeded random weights.

    ``static_keypoints``: the same graph and weights with its outputs declared [b,133,bins]
    instead of the symbolic keypoint axis upstream writes.
    """
    model = onnx.load(str(source))
    rng = np.random.default_rng(seed)
    for tensor in model.graph.initializer:
        if tensor.dims and not (tensor.raw_data or tensor.float_data or tensor.int64_data):
            dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
            value = rng.normal(0, 0.1, list(tensor.dims)).astype(dtype)
            tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
    if static_keypoints:
        for output in model.graph.output:
            output.type.tensor_type.shape.dim[1].Clear()
            output.type.tensor_type.shape.dim[1].dim_value = 133
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


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


#: Head parameter names an end2end export carries, per training family (mmdet's modules).
END2END_HEADS = {"yolox": "bbox_head.multi_level_conv_obj.0.weight",
                 "rtmdet": "bbox_head.rtm_cls.0.weight", None: "score_weights"}


def end2end_scores(blob: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The scores ``make_end2end_onnx`` gives its boxes for a network input ``blob``
    [1,3,H,W]: sigmoid(channel means @ weights + bias), in float64."""
    means = blob.astype(np.float64).mean(axis=(2, 3))  # [1, 3]
    return 1 / (1 + np.exp(-(means @ weights + bias)))[0]


def make_end2end_onnx(path: Path, boxes: np.ndarray, labels: list[int], weights: np.ndarray,
                      bias: np.ndarray, size: int | None = None, batch: int | str = 1,
                      head: str | None = "yolox", iou_thr: float = 0.5,
                      score_thr: float = 0.05) -> Path:
    """An mmdeploy-style end2end detector with NMS and a score sort inside the graph.

    ``boxes`` [K, 4] xyxy network pixels and ``labels`` [K] are fixed; each box's score is
    ``end2end_scores(input)`` (``weights`` [3, K], ``bias`` [K]). The graph keeps the boxes
    NonMaxSuppression keeps (IoU ``iou_thr``, score > ``score_thr``, class-agnostic), sorted
    by score: ``dets`` [1,N,5] and ``labels`` [1,N]. ``size``: a static square input, or
    None for [1,3,height,width]. ``head``: whose head parameter name the graph carries.
    """
    k = len(boxes)
    init = [numpy_helper.from_array(np.asarray(weights, np.float32), END2END_HEADS[head]),
            numpy_helper.from_array(np.asarray(bias, np.float32), "score_bias"),
            numpy_helper.from_array(np.asarray(boxes, np.float32)[None], "boxes"),  # [1,K,4]
            numpy_helper.from_array(np.asarray(boxes, np.float32), "boxes2d"),  # [K,4]
            numpy_helper.from_array(np.asarray(labels, np.int64), "box_labels"),
            numpy_helper.from_array(np.array([k], np.int64), "max_out"),
            numpy_helper.from_array(np.array([iou_thr], np.float32), "iou"),
            numpy_helper.from_array(np.array([score_thr], np.float32), "min_score"),
            numpy_helper.from_array(np.array([2], np.int64), "col2"),
            numpy_helper.from_array(np.array([1, 1, k], np.int64), "nms_scores_shape"),
            numpy_helper.from_array(np.array([0], np.int64), "zero")]
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["means4"], axes=[2, 3], keepdims=0),  # [1,3]
        helper.make_node("MatMul", ["means4", END2END_HEADS[head]], ["logits"]),  # [1, K]
        helper.make_node("Add", ["logits", "score_bias"], ["logits_b"]),
        helper.make_node("Sigmoid", ["logits_b"], ["scores"]),  # [1, K]
        helper.make_node("Reshape", ["scores", "nms_scores_shape"], ["nms_scores"]),  # [1,1,K]
        helper.make_node("NonMaxSuppression", ["boxes", "nms_scores", "max_out", "iou",
                                               "min_score"], ["selected"]),  # [M, 3]
        helper.make_node("Gather", ["selected", "col2"], ["picked2"], axis=1),  # [M, 1]
        helper.make_node("Flatten", ["picked2"], ["picked_flat"], axis=0),  # [1, M]
        helper.make_node("Squeeze", ["picked_flat", "zero"], ["picked"]),  # [M]
        helper.make_node("Gather", ["scores", "picked"], ["kept_scores"], axis=1),  # [1, M]
        helper.make_node("Shape", ["picked"], ["m"]),
        helper.make_node("TopK", ["kept_scores", "m"], ["sorted_scores", "order"], axis=1),
        helper.make_node("Squeeze", ["order", "zero"], ["order1"]),  # [M]
        helper.make_node("Gather", ["picked", "order1"], ["final"]),  # [M]
        helper.make_node("Gather", ["boxes2d", "final"], ["final_boxes"]),  # [M, 4]
        helper.make_node("Transpose", ["sorted_scores"], ["score_col"], perm=[1, 0]),  # [M,1]
        helper.make_node("Concat", ["final_boxes", "score_col"], ["dets2d"], axis=1),  # [M,5]
        helper.make_node("Unsqueeze", ["dets2d", "zero"], ["dets"]),  # [1, M, 5]
        helper.make_node("Gather", ["box_labels", "final"], ["labels1"]),  # [M]
        helper.make_node("Unsqueeze", ["labels1", "zero"], ["labels"]),  # [1, M]
    ]
    hw = [size, size] if size else ["height", "width"]
    graph = helper.make_graph(
        nodes, "end2end",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, *hw])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [batch, "num_dets", 5]),
         helper.make_tensor_value_info("labels", TensorProto.INT64, [batch, "num_dets"])],
        init)
    return _save(graph, path)


def make_rtmo_onnx(path: Path, size: int = 640) -> Path:
    """A one-stage RTMO-shaped model: ``dets`` [1,N,5] and ``keypoints`` [1,N,17,3]."""
    init = [numpy_helper.from_array(np.zeros((1, 2, 5), np.float32), "d"),
            numpy_helper.from_array(np.zeros((1, 2, 17, 3), np.float32), "k")]
    nodes = [helper.make_node("Identity", ["d"], ["dets"]),
             helper.make_node("Identity", ["k"], ["keypoints"])]
    graph = helper.make_graph(
        nodes, "rtmo",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, "N", 5]),
         helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, "N", 17, 3])],
        init)
    return _save(graph, path)

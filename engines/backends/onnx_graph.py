"""An ONNX graph as a torch module: every node run as the torch operation with the ONNX
semantics, on the file's own weights (``OnnxGraph``, ``load_onnx``).

Exported graphs have BatchNorm folded into the convolutions, so their weights cannot be loaded
back into the trainer's modules; running the graph itself is exact for any file. The operators
of the YOLOX, RTMDet and RTMPose/DWPose/RTMW exports (opset 11 to 18), raw and end2end (with
NonMaxSuppression, TopK and NonZero), are covered; any other one is named in a ``ModelError`` at
load time. onnx2torch would do the same, but it imports torchvision, whose wheel pulls a CUDA
build of torch (gigabytes) into CPU-only installs.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from .base import TensorSpec

if TYPE_CHECKING:
    import onnx


@dataclass
class _Node:
    """One ONNX node: its op, tensor names, attributes and the values of constant inputs."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    opset: int
    constants: dict[int, np.ndarray] = field(default_factory=dict)

    def value(self, index: int, args: tuple) -> np.ndarray | None:
        """Input ``index`` as a flat host array (``None`` when absent): constants are read
        from the file, small runtime tensors (shapes, axes) from the CPU."""
        if index in self.constants:
            value = self.constants[index].reshape(-1)
        elif index < len(args) and args[index] is not None:
            value = np.asarray(args[index].reshape(-1).tolist())
        else:
            return None
        return value if value.size else None

    def ints(self, index: int, args: tuple, attr: str | None = None) -> list[int] | None:
        """Integer list given as input ``index`` (newer opsets) or as attribute ``attr``."""
        value = self.value(index, args)
        if value is not None:
            return [int(v) for v in value]
        return list(self.attrs[attr]) if attr in self.attrs else None

    def fail(self, why: str) -> ModelError:
        return ModelError(f"ONNX node {self.name or self.op!r} ({self.op}): {why}; "
                          "the torch backend cannot run it (use --backend onnxruntime)")


_OPS: dict[str, Callable[..., Tensor | tuple[Tensor, ...]]] = {}


def _op(*names: str):
    def register(fn):
        for name in names:
            _OPS[name] = fn
        return fn
    return register


def _align(*tensors: Tensor) -> list[Tensor]:
    """Put the operands on one device: shape arithmetic lives on the CPU, weights may not."""
    devices = {t.device for t in tensors}
    if len(devices) == 1:
        return list(tensors)
    target = next(d for d in devices if d.type != "cpu")
    return [t.to(target) for t in tensors]


def _binary(fn: Callable[[Tensor, Tensor], Tensor]):
    return lambda g, node, a, b: fn(*_align(a, b))


def _unary(fn: Callable[[Tensor], Tensor]):
    return lambda g, node, x: fn(x)


def _int_div(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer Div truncates


_BINARY = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _int_div,
           "Pow": torch.pow, "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt,
           "LessOrEqual": torch.le, "GreaterOrEqual": torch.ge, "And": torch.logical_and,
           "Or": torch.logical_or}
_OPS.update({name: _binary(fn) for name, fn in _BINARY.items()})

_UNARY = {"Sigmoid": torch.sigmoid, "Relu": torch.relu, "Exp": torch.exp, "Log": torch.log,
          "Sqrt": torch.sqrt, "Neg": torch.neg, "Abs": torch.abs, "Reciprocal": torch.reciprocal,
          "Tanh": torch.tanh, "Erf": torch.erf, "Floor": torch.floor, "Ceil": torch.ceil,
          "Not": torch.logical_not, "Identity": lambda x: x, "HardSwish": F.hardswish}
_OPS.update({name: _unary(fn) for name, fn in _UNARY.items()})


@_op("Dropout")
def _dropout(g, node, x, *_):
    if len(node.outputs) > 1:
        raise node.fail("the mask output is not supported")
    return x  # inference: identity


@_op("HardSigmoid")
def _hard_sigmoid(g, node, x):
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    return torch.clamp(x * alpha + beta, 0, 1)


@_op("LeakyRelu")
def _leaky_relu(g, node, x):
    return F.leaky_relu(x, node.attrs.get("alpha", 0.01))


@_op("Max", "Min")
def _max_min(g, node, *xs):
    fn = torch.maximum if node.op == "Max" else torch.minimum
    xs = _align(*xs)
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out


@_op("Where")
def _where(g, node, cond, a, b):
    return torch.where(*_align(cond, a, b))


@_op("Clip")
def _clip(g, node, *args):
    if node.opset < 11:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    else:
        lo, hi = (node.value(i, args) for i in (1, 2))
        lo, hi = (None if v is None else float(v[0]) for v in (lo, hi))
    return torch.clamp(args[0], lo, hi)


@_op("Cast")
def _cast(g, node, x):
    return x.to(g.dtype_of(node.attrs["to"]))


@_op("ConstantOfShape")
def _constant_of_shape(g, node, *args):
    value = node.attrs.get("value", np.zeros(1, np.float32))
    floating = np.issubdtype(value.dtype, np.floating)
    return torch.full(node.ints(0, args), value.reshape(-1)[0].item(),
                      dtype=g.float_dtype if floating else torch_dtype(value.dtype),
                      device=g.device if floating else "cpu")


@_op("Range")
def _range(g, node, *args):
    start, limit, delta = (node.value(i, args)[0].item() for i in range(3))
    floating = any(isinstance(v, float) for v in (start, limit, delta))
    return torch.arange(start, limit, delta, dtype=g.float_dtype if floating else torch.int64,
                        device=g.device if floating else "cpu")


@_op("Shape")
def _shape(g, node, x):
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return torch.tensor(x.shape[start:end], dtype=torch.int64)


@_op("Size")
def _size(g, node, x):
    return torch.tensor(x.numel(), dtype=torch.int64)


@_op("Gather")
def _gather(g, node, data, indices):
    axis = node.attrs.get("axis", 0) % data.dim()
    indices = indices.to(data.device)
    indices = torch.where(indices < 0, indices + data.shape[axis], indices)
    picked = torch.index_select(data, axis, indices.reshape(-1))
    return picked.reshape(data.shape[:axis] + indices.shape + data.shape[axis + 1:])


@_op("Reshape")
def _reshape(g, node, *args):
    x, dims = args[0], node.ints(1, args)
    if not node.attrs.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@_op("Flatten")
def _flatten(g, node, x):
    axis = node.attrs.get("axis", 1) % (x.dim() or 1)
    return x.reshape(math.prod(x.shape[:axis]), -1)


@_op("Transpose")
def _transpose(g, node, x):
    return x.permute(node.attrs.get("perm", list(range(x.dim()))[::-1]))


@_op("DepthToSpace")
def _depth_to_space(g, node, x):
    # [N, C*b*b, H, W] -> [N, C, H*b, W*b]; CRD (torch's PixelShuffle, RTMW's head) or DCR
    b, mode = node.attrs["blocksize"], node.attrs.get("mode", "DCR")
    if mode == "CRD":
        return F.pixel_shuffle(x, b)
    n, c, h, w = x.shape
    x = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c // (b * b), h * b, w * b)


@_op("Concat")
def _concat(g, node, *xs):
    return torch.cat(_align(*xs), dim=node.attrs["axis"])


@_op("Split")
def _split(g, node, *args):
    x, axis = args[0], node.attrs.get("axis", 0)
    sizes = node.ints(1, args, "split")
    if sizes is None:  # equal parts, the last one smaller when it does not divide (opset 18)
        sizes = math.ceil(x.shape[axis] / len(node.outputs))
    return tuple(torch.split(x, sizes, dim=axis))


@_op("Slice")
def _slice(g, node, *args):
    x = args[0]
    if node.opset < 10:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes"), None
    else:
        starts, ends, axes, steps = (node.ints(i, args) for i in range(1, 5))
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index: list = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = x.shape[axis]
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            index[axis] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        else:  # torch has no negative steps: gather the indices
            picks = range(min(max(start, 0), dim - 1), min(max(end, -1), dim - 1), step)
            x = torch.index_select(x, axis, torch.tensor(picks, dtype=torch.int64,
                                                         device=x.device))
    return x[tuple(index)]


@_op("Squeeze")
def _squeeze(g, node, *args):
    x, axes = args[0], node.ints(1, args, "axes")
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.dim() for a in axes))


@_op("Unsqueeze")
def _unsqueeze(g, node, *args):
    x, axes = args[0], node.ints(1, args, "axes")
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


@_op("Expand")
def _expand(g, node, *args):
    return args[0].expand(torch.broadcast_shapes(args[0].shape, tuple(node.ints(1, args))))


@_op("Tile")
def _tile(g, node, *args):
    return args[0].repeat(node.ints(1, args))


@_op("MatMul")
def _matmul(g, node, a, b):
    return torch.matmul(*_align(a, b))


@_op("Gemm")
def _gemm(g, node, a, b, c=None):
    a = a.transpose(0, 1) if node.attrs.get("transA", 0) else a
    b = b.transpose(0, 1) if node.attrs.get("transB", 0) else b
    out = torch.matmul(a, b) * node.attrs.get("alpha", 1.0)
    return out if c is None else out + c * node.attrs.get("beta", 1.0)


def _padding(node: _Node, spatial: int) -> tuple[list[int], list[int] | None]:
    """ONNX ``pads`` -> symmetric torch padding, or the explicit F.pad list when asymmetric."""
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise node.fail(f"auto_pad {node.attrs['auto_pad']} is not supported")
    pads = node.attrs.get("pads", [0] * 2 * spatial)
    begin, end = pads[:spatial], pads[spatial:]
    if begin == end:
        return begin, None
    explicit = []
    for b, e in zip(reversed(begin), reversed(end)):
        explicit += [b, e]
    return [0] * spatial, explicit


@_op("Conv")
def _conv(g, node, x, w, b=None):
    spatial = w.dim() - 2
    padding, explicit = _padding(node, spatial)
    if explicit is not None:
        x = F.pad(x, explicit)
    conv = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
    return conv(x, w, b, node.attrs.get("strides", 1), padding,
                node.attrs.get("dilations", 1), node.attrs.get("group", 1))


@_op("MaxPool", "AveragePool")
def _pool(g, node, x):
    if len(node.outputs) > 1:
        raise node.fail("the Indices output is not supported")
    kernel = node.attrs["kernel_shape"]
    spatial = len(kernel)
    padding, explicit = _padding(node, spatial)
    strides = node.attrs.get("strides", [1] * spatial)
    ceil = bool(node.attrs.get("ceil_mode", 0))
    if node.op == "MaxPool":
        if explicit is not None:
            x = F.pad(x, explicit, value=-math.inf)
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
        return pool(x, kernel, strides, padding, node.attrs.get("dilations", 1), ceil)
    if explicit is not None:
        raise node.fail("asymmetric average-pool padding is not supported")
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
    return pool(x, kernel, strides, padding, ceil, bool(node.attrs.get("count_include_pad", 0)))


@_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(g, node, x):
    dims = tuple(range(2, x.dim()))
    return x.mean(dims, keepdim=True) if node.op == "GlobalAveragePool" else x.amax(
        dims, keepdim=True)


@_op("BatchNormalization")
def _batch_norm(g, node, x, scale, bias, mean, var):
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, node.attrs.get("epsilon", 1e-5))


@_op("LayerNormalization")
def _layer_norm(g, node, x, scale, bias=None):
    if len(node.outputs) > 1:
        raise node.fail("the Mean / InvStdDev outputs are not supported")
    axis = node.attrs.get("axis", -1) % x.dim()
    return F.layer_norm(x, x.shape[axis:], scale, bias, node.attrs.get("epsilon", 1e-5))


def _reduce_l2(x: Tensor, dims, keepdim: bool) -> Tensor:
    """The L2 norm, accumulated in float32: squares of FP16 activations overflow easily."""
    return torch.linalg.vector_norm(x, dim=dims, keepdim=keepdim, dtype=torch.float32).to(x.dtype)


_REDUCE = {"ReduceMean": torch.mean, "ReduceSum": torch.sum, "ReduceMax": torch.amax,
           "ReduceMin": torch.amin, "ReduceL2": _reduce_l2}


@_op(*_REDUCE)
def _reduce(g, node, *args):
    x, axes = args[0], node.ints(1, args, "axes")
    keep = bool(node.attrs.get("keepdims", 1))
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.dim()))
    return _REDUCE[node.op](x, tuple(axes), keepdim=keep)


@_op("ArgMax")
def _argmax(g, node, x):
    axis, keep = node.attrs.get("axis", 0), bool(node.attrs.get("keepdims", 1))
    if node.attrs.get("select_last_index", 0):
        raise node.fail("select_last_index is not supported")
    return torch.argmax(x, dim=axis, keepdim=keep)


@_op("TopK")
def _topk(g, node, x, k):
    axis = node.attrs.get("axis", -1) % x.dim()
    largest = bool(node.attrs.get("largest", 1))
    # a stable sort: equal values keep the lower index first, as ONNX asks
    values, indices = torch.sort(x, dim=axis, descending=largest, stable=True)
    count = int(node.value(1, (x, k))[0])
    return values.narrow(axis, 0, count), indices.narrow(axis, 0, count)


@_op("NonZero")
def _nonzero(g, node, x):
    return torch.nonzero(x).transpose(0, 1).contiguous()  # [rank, N], row-major order


def _iou(box: Tensor, others: Tensor) -> Tensor:
    """IoU of one corner box [4] with [N, 4] (no "+1": ONNX NonMaxSuppression)."""
    lt = torch.maximum(box[:2], others[:, :2])
    rb = torch.minimum(box[2:], others[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area = (box[2:] - box[:2]).prod()
    areas = (others[:, 2:] - others[:, :2]).prod(dim=1)
    return inter / (area + areas - inter)


@_op("NonMaxSuppression")
def _non_max_suppression(g, node, boxes, scores, *args):
    """Greedy per batch and class, best score first (ties: lower index), on the host."""
    limit, iou_thr, score_thr = (node.value(i, (boxes, scores, *args)) for i in (2, 3, 4))
    limit = int(limit[0]) if limit is not None else 0
    iou_thr = float(iou_thr[0]) if iou_thr is not None else 0.0
    boxes, scores = boxes.float().cpu(), scores.float().cpu()
    if node.attrs.get("center_point_box", 0):
        centre, half = boxes[..., :2], boxes[..., 2:] / 2
        boxes = torch.cat([centre - half, centre + half], dim=-1)
    else:  # any diagonal pair of corners
        boxes = torch.cat([torch.minimum(boxes[..., :2], boxes[..., 2:]),
                           torch.maximum(boxes[..., :2], boxes[..., 2:])], dim=-1)
    selected = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            row = scores[b, c]
            order = torch.sort(row, descending=True, stable=True).indices
            if score_thr is not None:
                order = order[row[order] > float(score_thr[0])]
            kept: list[int] = []
            while order.numel() and len(kept) < limit:
                best = int(order[0])
                kept.append(best)
                rest = order[1:]
                order = rest[_iou(boxes[b, best], boxes[b, rest]) <= iou_thr]
            selected += [(b, c, i) for i in kept]
    return torch.tensor(selected, dtype=torch.int64).reshape(-1, 3)


@_op("Softmax", "LogSoftmax")
def _softmax(g, node, x):
    fn = torch.softmax if node.op == "Softmax" else torch.log_softmax
    if node.opset >= 13:
        return fn(x, dim=node.attrs.get("axis", -1))
    axis = node.attrs.get("axis", 1) % x.dim()  # before 13: softmax of the 2-D flattening
    return fn(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)


_RESIZE_MODES = {("nearest", "asymmetric"): ("nearest", None),
                 ("linear", "half_pixel"): ("linear", False),
                 ("linear", "pytorch_half_pixel"): ("linear", False),
                 ("linear", "align_corners"): ("linear", True)}


@_op("Resize", "Upsample")
def _resize(g, node, *args):
    x = args[0]
    mode = node.attrs.get("mode", "nearest")
    transform = node.attrs.get("coordinate_transformation_mode",
                               "asymmetric" if node.op == "Upsample" or node.opset < 11
                               else "half_pixel")
    if (mode, transform) not in _RESIZE_MODES or (
            mode == "nearest" and node.attrs.get("nearest_mode", "round_prefer_floor")
            != "floor" and node.opset >= 11):
        raise node.fail(f"mode {mode!r} with {transform!r} is not supported")
    kind, align = _RESIZE_MODES[(mode, transform)]
    kind = kind if kind == "nearest" else ("linear", "bilinear", "trilinear")[x.dim() - 3]
    scales_at = 1 if node.op == "Upsample" or node.opset < 11 else 2  # X, (roi,) scales, sizes
    scales = node.attrs.get("scales")
    scales = [float(v) for v in scales] if scales else node.value(scales_at, args)
    sizes = node.ints(3, args) if node.opset >= 11 else None
    if sizes:
        return F.interpolate(x, size=sizes[2:], mode=kind, align_corners=align)
    if list(scales[:2]) != [1.0, 1.0]:
        raise node.fail("resizing the batch or channel axes is not supported")
    return F.interpolate(x, scale_factor=[float(v) for v in scales[2:]], mode=kind,
                         align_corners=align)


@_op("Pad")
def _pad(g, node, *args):
    x, mode = args[0], node.attrs.get("mode", "constant")
    if node.opset < 11:
        pads, value = node.attrs["pads"], node.attrs.get("value", 0.0)
    else:
        pads, value = node.ints(1, args), node.value(2, args)
        value = 0.0 if value is None else value[0].item()
    axes = node.ints(3, args) or list(range(x.dim()))
    half = len(pads) // 2
    full = [0] * 2 * x.dim()
    for i, axis in enumerate(axes):
        full[axis % x.dim()], full[axis % x.dim() + x.dim()] = pads[i], pads[i + half]
    explicit = []
    for axis in reversed(range(x.dim())):
        explicit += [full[axis], full[axis + x.dim()]]
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}.get(mode)
    if torch_mode is None:
        raise node.fail(f"pad mode {mode!r} is not supported")
    if torch_mode == "constant":
        return F.pad(x, explicit, value=value)
    while explicit and explicit[-2:] == [0, 0]:  # torch pads non-constant modes on trailing dims
        explicit = explicit[:-2]
    return F.pad(x, explicit, mode=torch_mode)


def _attributes(node) -> dict:
    import onnx

    attrs = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        attrs[attr.name] = value
    return attrs


def _constant_value(attrs: dict) -> np.ndarray:
    """The value of a ``Constant`` node, whichever attribute holds it."""
    for key, dtype in (("value", None), ("value_float", np.float32),
                       ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise ModelError(f"Constant node with unsupported attribute(s) {', '.join(attrs)}")


def _spec(value) -> TensorSpec:
    import onnx

    tensor = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                  for d in tensor.shape.dim)
    return TensorSpec(value.name, shape, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(
        tensor.elem_type)))


class OnnxGraph(nn.Module):
    """An ONNX graph run node by node with torch operations: the ONNX model's torch twin.

    Float weights and constants are buffers (``.to(device, dtype)`` moves and casts them);
    integer constants stay on the CPU, with the shape arithmetic, so reading a shape never
    waits for the GPU. Intermediate tensors are released after their last use.
    """

    def __init__(self, model: onnx.ModelProto, path: Path) -> None:
        super().__init__()
        graph = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        unsupported = sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}"
                              for n in graph.node if n.domain not in ("", "ai.onnx")
                              or n.op_type not in (*_OPS, "Constant")})
        if unsupported:
            raise ModelError(f"{path}: the torch backend cannot run ONNX op(s) "
                             f"{', '.join(unsupported)} (use --backend onnxruntime)")
        import onnx

        values = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self._host: dict[str, Tensor] = {}
        self._buffer_of: dict[str, str] = {}
        self._nodes: list[_Node] = []
        for proto in graph.node:
            attrs = _attributes(proto)
            if proto.op_type == "Constant":
                values[proto.output[0]] = _constant_value(attrs)
                continue
            self._nodes.append(_Node(proto.op_type, proto.name, list(proto.input),
                                     list(proto.output), attrs, opset))
        for name, array in values.items():
            self._store(name, array)
        for node in self._nodes:
            node.constants = {i: values[n] for i, n in enumerate(node.inputs) if n in values}
        self.input_names = [v.name for v in graph.input if v.name not in values]
        self.output_names = [v.name for v in graph.output]
        self._release = self._last_uses()

    def _store(self, name: str, array: np.ndarray) -> None:
        tensor = torch.from_numpy(np.array(array))
        if tensor.is_floating_point():
            key = f"w{len(self._buffer_of)}"
            self.register_buffer(key, tensor)
            self._buffer_of[name] = key
        else:
            self._host[name] = tensor

    def _last_uses(self) -> list[list[str]]:
        """For each node, the tensors no later node (nor the output) needs."""
        last: dict[str, int] = {}
        for i, node in enumerate(self._nodes):
            for name in node.inputs:
                last[name] = i
        keep = set(self.output_names) | set(self._host) | set(self._buffer_of)
        release: list[list[str]] = [[] for _ in self._nodes]
        for name, i in last.items():
            if name and name not in keep:
                release[i].append(name)
        return release

    @property
    def float_dtype(self) -> torch.dtype:
        return next(iter(self.buffers())).dtype if self._buffer_of else torch.float32

    @property
    def device(self) -> torch.device:
        return next(iter(self.buffers())).device if self._buffer_of else torch.device("cpu")

    def dtype_of(self, onnx_type: int) -> torch.dtype:
        """Torch dtype of an ONNX element type; float types become the working float dtype."""
        import onnx

        dtype = torch.from_numpy(np.zeros(0, onnx.helper.tensor_dtype_to_np_dtype(
            onnx_type))).dtype
        return self.float_dtype if dtype.is_floating_point else dtype

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        env: dict[str, Tensor] = dict(self._host)
        env.update((name, getattr(self, key)) for name, key in self._buffer_of.items())
        env.update(zip(self.input_names, inputs))
        for node, release in zip(self._nodes, self._release):
            args = tuple(env[n] if n else None for n in node.inputs)
            out = _OPS[node.op](self, node, *args)
            if isinstance(out, Tensor):
                out = (out,)
            env.update(zip(node.outputs, out))
            for name in release:
                env.pop(name, None)
        return tuple(env[name] for name in self.output_names)


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def load_onnx(path: Path) -> tuple[nn.Module, list[TensorSpec], list[TensorSpec]]:
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf / onnx raise their own types for bad files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from None
    graph = OnnxGraph(model, path)
    specs = {v.name: _spec(v) for v in model.graph.input}
    return (graph, [specs[name] for name in graph.input_names],
            [_spec(v) for v in model.graph.output])

"""FP32 -> FP16 ONNX conversion for strongly typed TensorRT builds (TensorRT 11).

TensorRT 11 dropped the FP16 builder flag: precision comes from the tensor types in the
network. This converts float32 weights, constants and casts to float16 and keeps the model's
inputs and outputs float32 (a Cast at each end), so callers feed and read the same arrays as
with the FP32 model. NVIDIA's ModelOpt AutoCast does the same with per-layer accuracy checks;
this is the plain version for the CNN/attention ops of YOLOX and DWPose.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: (op type, input index) of inputs that the ONNX spec types as float32 whatever the data type.
FLOAT32_ONLY = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def _float32_only_names(graph: onnx.GraphProto) -> set[str]:
    names = set()
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in FLOAT32_ONLY and name:
                names.add(name)
    return names


def _to_fp16(tensor: onnx.TensorProto) -> onnx.TensorProto:
    array = numpy_helper.to_array(tensor)
    fp16 = np.clip(array, -65504, 65504).astype(np.float16)
    return numpy_helper.from_array(fp16, tensor.name)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of ``model`` with float32 inputs and outputs (sub-graphs unsupported)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
           for node in graph.node for a in node.attribute):
        raise ValueError("FP16 conversion does not handle sub-graphs (If/Loop/Scan)")
    keep = _float32_only_names(graph)
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            graph.initializer[i].CopyFrom(_to_fp16(init))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            elif (attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT
                  and not set(node.output) & keep):
                attr.t.CopyFrom(_to_fp16(attr.t))

    weights = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input
              if v.name not in weights and v.type.tensor_type.elem_type == TensorProto.FLOAT]
    outputs = [v for v in graph.output if v.type.tensor_type.elem_type == TensorProto.FLOAT]
    renamed = {v.name: f"{v.name}__fp16" for v in inputs}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    produced = {v.name: f"{v.name}__fp16" for v in outputs}
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name in produced:
                node.output[i] = produced[name]
    head = [helper.make_node("Cast", [v.name], [renamed[v.name]], to=TensorProto.FLOAT16,
                             name=f"{v.name}_to_fp16") for v in inputs]
    tail = [helper.make_node("Cast", [produced[v.name]], [v.name], to=TensorProto.FLOAT,
                             name=f"{v.name}_to_fp32") for v in outputs]
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # intermediate types changed; shape inference recomputes them
    onnx.checker.check_model(model)
    return model

"""Read an ONNX model's inputs and outputs, and tell which stage it is for.

``OnnxSignature`` is a ``Backend`` that describes tensors from the file, so the stage checks
(``check_detector`` / ``check_pose``) and the stage preprocessing (``Detector.preprocess``,
``RTMPose.preprocess``) work on a model that is about to be built or calibrated. Its ``infer``
runs the file with ONNX Runtime on the CPU, created on first use: ``check_pose`` needs one
probe inference when the file leaves its keypoint axis symbolic.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..backends.base import Backend, TensorSpec
from ..errors import ModelError
from ..models import DetectorIO, PoseIO, check_detector, check_pose


def _spec(info: onnx.ValueInfoProto) -> TensorSpec:
    tensor = info.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                  for d in tensor.shape.dim)
    return TensorSpec(info.name, shape, np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)))


class OnnxSignature(Backend):
    """The I/O of an ONNX file (weights are not loaded); ``infer`` loads them into ONNX Runtime
    on first use."""

    name = "onnx-signature"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: ONNX model file not found")
        try:
            graph = onnx.load(str(self.path), load_external_data=False).graph
        except Exception as exc:  # protobuf raises its own DecodeError types
            raise ModelError(f"{self.path}: not an ONNX model ({type(exc).__name__})") from None
        weights = {t.name for t in graph.initializer}
        self.inputs = [_spec(v) for v in graph.input if v.name not in weights]
        self.outputs = [_spec(v) for v in graph.output]
        self._runtime: Backend | None = None

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._runtime is None:
            from ..backends.onnxruntime import OnnxRuntimeBackend

            self._runtime = OnnxRuntimeBackend(self.path, device="cpu", threads=1)
        return self._runtime.infer(feeds)


@dataclass(frozen=True)
class ModelInfo:
    """Which stage an ONNX model is for and what its input expects."""

    kind: str  # "detector" or "pose"
    signature: OnnxSignature
    io: DetectorIO | PoseIO

    @property
    def input(self) -> TensorSpec:
        return self.signature.inputs[0]

    @property
    def input_size(self) -> tuple[int, int]:
        """(w, h) of the network input."""
        if isinstance(self.io, PoseIO):
            return self.io.input_size
        return (self.io.input_size, self.io.input_size)

    @property
    def static_batch(self) -> int | None:
        """The fixed batch of the input, or None when the batch axis is dynamic."""
        return self.input.shape[0]


def inspect_onnx(path: str | Path, det_size: int | None = None,
                 det_size_source: str = "--det-size") -> ModelInfo:
    """Check that ``path`` is a detector (either family) or a SimCC pose model, and say which;
    ``det_size`` fills a detector's symbolic input size (``check_detector``)."""
    signature = OnnxSignature(path)
    if {t.name for t in signature.outputs} == {"simcc_x", "simcc_y"}:
        return ModelInfo("pose", signature, check_pose(signature))
    return ModelInfo("detector", signature,
                     check_detector(signature, det_size, det_size_source))

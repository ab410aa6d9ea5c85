"""ONNX Runtime backend: CPU by default, the CUDA provider when onnxruntime-gpu and a GPU exist."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..device import has_cuda
from ..errors import ModelError
from .base import Backend, TensorSpec, float32_outputs

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorSpec(arg.name, shape, np.dtype(_ORT_DTYPES.get(arg.type, np.float32)))


class OnnxRuntimeBackend(Backend):
    """Runs an ONNX file with ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when the provider and a GPU exist).
        threads: intra-op threads; 0 lets ONNX Runtime use one per physical core.
        spin: let idle worker threads spin. Spinning wins a little latency on an idle machine
            but burns the cores that decoding, cropping and drawing need in a live pipeline.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spin: bool = False) -> None:
        super().__init__(path)
        import onnxruntime as ort

        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=self._providers(ort, device))
        except Exception as exc:  # ORT raises its own exception types for bad files
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({reason})") from None
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self._output_names = [t.name for t in self.outputs]

    @staticmethod
    def _providers(ort, device: str) -> list[str]:
        available = ort.get_available_providers()
        cuda_ok = "CUDAExecutionProvider" in available and has_cuda()
        if device == "cuda" and not cuda_ok:
            raise ModelError("device 'cuda' asked for, but onnxruntime-gpu with a CUDA GPU is "
                             f"not available (providers: {', '.join(available)})")
        if device in ("cuda", "auto") and cuda_ok:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.session.run(self._output_names, self.cast_feeds(feeds))
        return float32_outputs(dict(zip(self._output_names, results)))

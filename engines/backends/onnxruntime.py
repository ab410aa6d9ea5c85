"""ONNX Runtime backend: CPU by default, the CUDA provider when onnxruntime-gpu and a GPU exist,
CoreML (macOS) when asked for.

ONNX Runtime quietly runs on the CPU when a provider it was given fails to load (CUDA or cuDNN
libraries missing or of another version). The session's providers are compared with what was
asked: for ``--device cuda``/``coreml`` that is an error naming the cause, for ``auto`` a
warning the start-up line shows (``fallback``). Before the CUDA provider loads,
``onnxruntime.preload_dlls()`` (ONNX Runtime 1.21+) loads the CUDA and cuDNN libraries of the
``nvidia-*`` wheels, which Windows would not find on its own.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import device as gpu
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
        device: ``"cpu"``, ``"cuda"``, ``"coreml"`` or ``"auto"`` (CUDA when the provider and a
            GPU exist).
        threads: intra-op threads; 0 lets ONNX Runtime use one per physical core.
        spin: let idle worker threads spin. Spinning wins a little latency on an idle machine
            but burns the cores that decoding, cropping and drawing need in a live pipeline.
        streams: calls run side by side (frames in flight, ``engines.throughput``); the
            cores are shared between them. 0: ``min(4, cores)``; 1: one call at a time.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spin: bool = False, streams: int = 1) -> None:
        super().__init__(path)
        import onnxruntime as ort

        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        cores = os.cpu_count() or 1
        self.streams = streams or min(4, cores)
        if self.streams > 1 and not threads:
            threads = max(1, cores // self.streams)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        providers = self._providers(ort, device)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad files
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({reason})") from None
        self._check_providers(providers[0], device)
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self._output_names = [t.name for t in self.outputs]

    @staticmethod
    def _providers(ort, device: str) -> list[str]:
        available = ort.get_available_providers()
        if device == "coreml":
            if "CoreMLExecutionProvider" not in available:
                raise ModelError("device 'coreml' asked for, but this ONNX Runtime has no "
                                 f"CoreML provider (macOS builds have it; providers: "
                                 f"{', '.join(available)})")
            return ["CoreMLExecutionProvider", "CPUExecutionProvider"]
        has_provider = "CUDAExecutionProvider" in available
        if device == "cuda" and not (has_provider and gpu.has_cuda()):
            why = ("no NVIDIA GPU was found" if has_provider else
                   "this ONNX Runtime has no CUDA provider (pip install onnxruntime-gpu, after "
                   "pip uninstall onnxruntime)")
            raise ModelError(f"device 'cuda' asked for, but {why} (providers: "
                             f"{', '.join(available)}); 'dwpose doctor' says more")
        if device in ("cuda", "auto") and has_provider and gpu.has_cuda():
            preload = getattr(ort, "preload_dlls", None)
            if preload is not None:  # a missing wheel: the provider check below says so
                with contextlib.suppress(Exception):
                    preload()
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def _check_providers(self, wanted: str, device: str) -> None:
        """Say when ``wanted`` did not load and the session fell back to the CPU."""
        if wanted == "CPUExecutionProvider" or wanted in self.session.get_providers():
            return
        short = wanted.replace("ExecutionProvider", "")
        why = (f"ONNX Runtime's {short} provider did not load (its CUDA or cuDNN libraries are "
               "missing or of another version); the model runs on the CPU: 'dwpose doctor' "
               "says why" if short == "CUDA" else
               f"ONNX Runtime's {short} provider did not load; the model runs on the CPU")
        if device != "auto":
            raise ModelError(f"{self.path}: {why}")
        self.fallback = why

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.session.run(self._output_names, self.cast_feeds(feeds))
        return float32_outputs(dict(zip(self._output_names, results)))

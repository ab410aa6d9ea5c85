"""Runtimes behind one interface; ``create_backend`` imports each one only when asked for."""
from __future__ import annotations

import importlib
from pathlib import Path

from .base import Backend, DoneJob, Job, TensorSpec, float32_outputs

#: ``--backend`` name -> "module:Class", imported lazily so a missing runtime costs nothing.
BACKENDS: dict[str, str] = {
    "onnxruntime": "engines.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "engines.backends.openvino:OpenVinoBackend",
    "tensorrt": "engines.backends.tensorrt:TensorRTBackend",
    "torch": "engines.backends.torch:TorchBackend",
}


def create_backend(name: str, path: str | Path, **options) -> Backend:
    """Load ``path`` with the runtime called ``name`` (a key of ``BACKENDS``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(sorted(BACKENDS))}")
    module_name, class_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(path, **options)


__all__ = ["BACKENDS", "Backend", "DoneJob", "Job", "TensorSpec", "create_backend",
           "float32_outputs"]

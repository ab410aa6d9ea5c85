"""Fake ``tensorrt`` and CUDA bindings for tests on machines without an NVIDIA GPU.

``install(monkeypatch)`` puts them into ``sys.modules`` and makes ``engines.device.has_cuda``
say True, for one test. ``version="11.0.0"`` gives the TensorRT 11 variant: no FP16/INT8
builder flags, no calibrator, no ``platform_has_fast_fp16``, every network strongly typed.
``layer`` picks the CUDA binding the runtime finds: ``"pycuda"`` (``pycuda.driver``) or
``"cuda-python"`` (``cuda.bindings.driver``, with pycuda not importable); both drive the same
fake device.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from . import cuda, cuda_bindings
from . import tensorrt as fake_tensorrt

GTX_1660_TI = ("NVIDIA GeForce GTX 1660 Ti", (7, 5))
LAYERS = ("pycuda", "cuda-python")

_REMOVED_IN_11 = ("IInt8Calibrator", "IInt8EntropyCalibrator2")


@dataclass
class FakeGpu:
    """The installed fakes: ``trt`` (module), ``cuda`` (the fake device's pycuda.driver, whose
    state both layers share), ``layer`` (the binding the runtime finds) and their state."""

    trt: types.ModuleType
    cuda: types.ModuleType
    layer: str = "pycuda"

    @property
    def state(self) -> fake_tensorrt._State:
        return fake_tensorrt.STATE

    @property
    def builds(self) -> list[dict]:
        return fake_tensorrt.STATE.builds

    def set_version(self, version: str) -> None:
        """Pretend another TensorRT is installed from now on (new builds, loads)."""
        fake_tensorrt.STATE.version = version
        self.trt.__version__ = version

    def set_gpu(self, name: str, compute_capability: tuple[int, int]) -> None:
        cuda.STATE.gpu_name, cuda.STATE.compute_capability = name, tuple(compute_capability)


def _tensorrt_module(version: str) -> types.ModuleType:
    module = types.ModuleType("tensorrt")
    for name in dir(fake_tensorrt):
        if not name.startswith("__"):
            setattr(module, name, getattr(fake_tensorrt, name))
    module.__version__ = version
    if int(version.split(".")[0]) >= 11:
        module.BuilderFlag = fake_tensorrt.BuilderFlag11
        module.NetworkDefinitionCreationFlag = fake_tensorrt.NetworkDefinitionCreationFlag11
        for name in _REMOVED_IN_11:
            delattr(module, name)
    return module


def _package(name: str, **members: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []
    for key, value in members.items():
        setattr(module, key, value)
    return module


def install(monkeypatch: pytest.MonkeyPatch, version: str = "10.3.0",
            gpu: tuple[str, tuple[int, int]] = GTX_1660_TI, strict: bool = True,
            layer: str = "pycuda") -> FakeGpu:
    """Install fresh fakes for one test (undone by ``monkeypatch`` afterwards)."""
    import engines.device

    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r}: expected one of {LAYERS}")
    cuda.reset(*gpu)
    cuda_bindings.reset()
    monkeypatch.setattr(fake_tensorrt, "STATE", fake_tensorrt._State(version, strict))
    trt = _tensorrt_module(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    if layer == "pycuda":
        monkeypatch.setitem(sys.modules, "pycuda", _package("pycuda", driver=cuda))
        monkeypatch.setitem(sys.modules, "pycuda.driver", cuda)
    else:  # None in sys.modules: "import pycuda" raises ImportError
        monkeypatch.setitem(sys.modules, "pycuda", None)
        monkeypatch.setitem(sys.modules, "pycuda.driver", None)
        bindings = _package("cuda.bindings", driver=cuda_bindings)
        monkeypatch.setitem(sys.modules, "cuda", _package("cuda", bindings=bindings))
        monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
        monkeypatch.setitem(sys.modules, "cuda.bindings.driver", cuda_bindings)
    monkeypatch.setattr(engines.device, "has_cuda", lambda: True)
    return FakeGpu(trt, cuda, layer)

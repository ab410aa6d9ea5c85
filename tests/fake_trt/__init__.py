"""Fake ``tensorrt`` and ``pycuda`` for tests on machines without an NVIDIA GPU.

``install(monkeypatch)`` puts them into ``sys.modules`` and makes ``engines.device.has_cuda``
say True, for one test. ``version="11.0.0"`` gives the TensorRT 11 variant: no FP16/INT8
builder flags, no calibrator, no ``platform_has_fast_fp16``, every network strongly typed.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from . import cuda
from . import tensorrt as fake_tensorrt

GTX_1660_TI = ("NVIDIA GeForce GTX 1660 Ti", (7, 5))

_REMOVED_IN_11 = ("IInt8Calibrator", "IInt8EntropyCalibrator2")


@dataclass
class FakeGpu:
    """The installed fakes: ``trt`` (module), ``cuda`` (pycuda.driver) and their state."""

    trt: types.ModuleType
    cuda: types.ModuleType

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


def install(monkeypatch: pytest.MonkeyPatch, version: str = "10.3.0",
            gpu: tuple[str, tuple[int, int]] = GTX_1660_TI, strict: bool = True) -> FakeGpu:
    """Install fresh fakes for one test (undone by ``monkeypatch`` afterwards)."""
    import engines.device

    cuda.reset(*gpu)
    monkeypatch.setattr(fake_tensorrt, "STATE", fake_tensorrt._State(version, strict))
    trt = _tensorrt_module(version)
    pycuda = types.ModuleType("pycuda")
    pycuda.__path__ = []
    pycuda.driver = cuda
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", cuda)
    monkeypatch.setattr(engines.device, "has_cuda", lambda: True)
    return FakeGpu(trt, cuda)

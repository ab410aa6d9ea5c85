"""The part of ``pycuda.driver`` the TensorRT runtime uses, on NVIDIA's cuda-python.

``cuda.bindings.driver`` (the ``cuda-python`` wheels, for Windows and Linux, no compiler
needed; the binding TensorRT's own Python samples use since TensorRT 10) wraps the CUDA
driver API one call at a time: each returns ``(CUresult, value...)``. ``CudaPythonDriver``
gives the runtime the pycuda names it already speaks (``Device``, ``mem_alloc``,
``pagelocked_empty``, ``Stream``, ``Event``, the async copies), with the same semantics:
the device's primary context (shared with TensorRT), pinned host memory for async copies,
events for GPU time. A failing call raises ``CudaError`` with the driver's error name.
"""
from __future__ import annotations

import ctypes
import weakref
from types import ModuleType
from typing import Any

import numpy as np


class CudaError(RuntimeError):
    """A CUDA driver call failed."""


class CudaPythonDriver:
    """A ``pycuda.driver``-like namespace over ``cuda.bindings.driver`` (``driver``)."""

    name = "cuda-python"

    def __init__(self, driver: ModuleType) -> None:
        self._d = driver
        layer = self

        class Device:
            """One CUDA device (``pycuda.driver.Device``)."""

            def __init__(self, index: int) -> None:
                self.handle = layer.call("cuDeviceGet", index)

            @staticmethod
            def count() -> int:
                return int(layer.call("cuDeviceGetCount"))

            def name(self) -> str:
                raw = layer.call("cuDeviceGetName", 256, self.handle)
                return bytes(raw).split(b"\0", 1)[0].decode(errors="replace")

            def compute_capability(self) -> tuple[int, int]:
                attribute = layer._d.CUdevice_attribute
                return (
                    int(layer.call("cuDeviceGetAttribute",
                                   attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                   self.handle)),
                    int(layer.call("cuDeviceGetAttribute",
                                   attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                   self.handle)))

            def retain_primary_context(self) -> PrimaryContext:
                return PrimaryContext(layer, self.handle)

        class Stream:
            """A CUDA stream; ``handle`` is what TensorRT's ``execute_async_v3`` takes."""

            def __init__(self, flags: int = 0) -> None:
                self.stream = layer.call("cuStreamCreate", flags)
                self.handle = int(self.stream)

            def synchronize(self) -> None:
                layer.call("cuStreamSynchronize", self.stream)

        class Event:
            """A CUDA event recorded on a stream (GPU time between two of them)."""

            def __init__(self, flags: int = 0) -> None:
                self.event = layer.call("cuEventCreate", flags)

            def record(self, stream: Stream) -> Event:
                layer.call("cuEventRecord", self.event, stream.stream)
                return self

            def synchronize(self) -> Event:
                layer.call("cuEventSynchronize", self.event)
                return self

            def time_till(self, end: Event) -> float:
                """Milliseconds from this event to ``end``."""
                return float(layer.call("cuEventElapsedTime", self.event, end.event))

        self.Device, self.Stream, self.Event = Device, Stream, Event

    def call(self, function: str, *args: Any) -> Any:
        """``driver.<function>(*args)``: its value (or values), ``CudaError`` on failure."""
        result = getattr(self._d, function)(*args)
        error, values = result[0], result[1:]
        if int(error) != 0:
            raise CudaError(f"{function} failed: {self._error_name(error)}")
        return values[0] if len(values) == 1 else values or None

    def _error_name(self, error: Any) -> str:
        found = self._d.cuGetErrorName(error)
        name = found[1] if int(found[0]) == 0 else None
        return f"{name.decode() if isinstance(name, bytes) else error} ({int(error)})"

    def init(self, flags: int = 0) -> None:
        self.call("cuInit", flags)

    def mem_alloc(self, nbytes: int) -> DeviceAllocation:
        return DeviceAllocation(self, self.call("cuMemAlloc", int(nbytes)))

    def pagelocked_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        """A numpy array in page-locked host memory (freed with the array)."""
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
        address = int(self.call("cuMemHostAlloc", nbytes, 0))
        buffer = (ctypes.c_byte * nbytes).from_address(address)
        weakref.finalize(buffer, self._d.cuMemFreeHost, address)
        return np.frombuffer(buffer, dtype, int(np.prod(shape))).reshape(shape)

    def memcpy_htod(self, dest: Any, src: np.ndarray) -> None:
        src = np.ascontiguousarray(src)
        self.call("cuMemcpyHtoD", int(dest), src.ctypes.data, src.nbytes)

    def memcpy_htod_async(self, dest: Any, src: np.ndarray, stream: Any) -> None:
        self.call("cuMemcpyHtoDAsync", int(dest), src.ctypes.data, src.nbytes, stream.stream)

    def memcpy_dtoh_async(self, dest: np.ndarray, src: Any, stream: Any) -> None:
        self.call("cuMemcpyDtoHAsync", dest.ctypes.data, int(src), dest.nbytes, stream.stream)


class PrimaryContext:
    """A device's primary context, retained (``pycuda``'s ``retain_primary_context()``)."""

    def __init__(self, layer: CudaPythonDriver, device: Any) -> None:
        self._layer, self._device = layer, device
        self._context = layer.call("cuDevicePrimaryCtxRetain", device)

    def push(self) -> None:
        self._layer.call("cuCtxPushCurrent", self._context)

    def pop(self) -> None:
        self._layer.call("cuCtxPopCurrent")

    def detach(self) -> None:
        self._layer.call("cuDevicePrimaryCtxRelease", self._device)


class DeviceAllocation:
    """Device memory; ``int()`` is its address (as pycuda's)."""

    def __init__(self, layer: CudaPythonDriver, pointer: Any) -> None:
        self._layer, self._pointer = layer, pointer

    def __int__(self) -> int:
        return int(self._pointer)

    __index__ = __int__

    def free(self) -> None:
        self._layer.call("cuMemFree", self._pointer)

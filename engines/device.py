"""Find out, without crashing, whether an NVIDIA GPU is usable from this process, and what the
driver says about it.

TensorRT and the CUDA bindings can abort the interpreter when no driver or device exists, so
every GPU code path asks here first. The check talks to the CUDA driver library through ctypes and
treats any failure (no library, no device, driver error) as "no GPU", keeping the reason.

The driver library is ``nvcuda.dll`` on Windows (in System32, installed with the display
driver), ``libcuda.so.1`` on Linux (WSL2 included); macOS has had no CUDA driver since 10.14.
``SYSTEM`` is ``sys.platform`` and ``load_library`` opens the library; tests set both.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from dataclasses import dataclass
from typing import Any

#: The operating system whose rules apply (``sys.platform``); tests set another.
SYSTEM = sys.platform
_COMPUTE_MAJOR, _COMPUTE_MINOR = 75, 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*


@dataclass(frozen=True)
class Gpu:
    """One CUDA device as the driver reports it."""

    index: int
    name: str
    compute_capability: tuple[int, int]
    memory_bytes: int

    def describe(self) -> str:
        major, minor = self.compute_capability
        return (f"{self.name} (compute {major}.{minor}, "
                f"{self.memory_bytes / 2 ** 30:.1f} GiB)")


@dataclass(frozen=True)
class CudaDriver:
    """What the CUDA driver library says: the CUDA version it supports (``cuDriverGetVersion``,
    e.g. 12040 = 12.4), its GPUs, and why there is none (``problem``)."""

    library: str | None
    version: int | None = None
    gpus: tuple[Gpu, ...] = ()
    problem: str | None = None

    @property
    def cuda_version(self) -> tuple[int, int] | None:
        """The newest CUDA (major, minor) this driver runs."""
        return None if self.version is None else (self.version // 1000,
                                                  self.version % 1000 // 10)

    def describe(self) -> str:
        if self.version is None:
            return self.problem or "no NVIDIA driver"
        major, minor = self.cuda_version
        return f"driver for CUDA {major}.{minor} ({self.library})"


def library_name() -> str | None:
    """The CUDA driver library of this system (None: macOS has none)."""
    if SYSTEM == "win32":
        return "nvcuda.dll"
    if SYSTEM == "darwin":
        return None
    return ctypes.util.find_library("cuda") or "libcuda.so.1"


def load_library(name: str) -> Any:
    """The driver library ``name`` (``OSError`` when it cannot be loaded)."""
    return ctypes.CDLL(name)


def _error_name(lib: Any, code: int) -> str:
    name = ctypes.c_char_p()
    try:
        if lib.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return f"{name.value.decode()} ({code})"
    except AttributeError:
        pass
    return f"error {code}"


def _gpu(lib: Any, index: int) -> Gpu | None:
    device, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
    major, minor, memory = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_size_t(0)
    if (lib.cuDeviceGet(ctypes.byref(device), index) != 0
            or lib.cuDeviceGetName(name, len(name), device) != 0
            or lib.cuDeviceGetAttribute(ctypes.byref(major), _COMPUTE_MAJOR, device) != 0
            or lib.cuDeviceGetAttribute(ctypes.byref(minor), _COMPUTE_MINOR, device) != 0):
        return None
    if lib.cuDeviceTotalMem_v2(ctypes.byref(memory), device) != 0:
        memory.value = 0
    return Gpu(index, name.value.decode(errors="replace"), (major.value, minor.value),
               int(memory.value))


@functools.lru_cache(maxsize=1)
def cuda_driver() -> CudaDriver:
    """The CUDA driver of this machine (cached: the driver does not change while we run)."""
    name = library_name()
    if name is None:
        return CudaDriver(None, problem="no CUDA on macOS (NVIDIA GPUs need Windows or Linux)")
    try:
        lib = load_library(name)
    except OSError:
        return CudaDriver(name, problem=f"no NVIDIA driver ({name} not found)")
    try:
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
            version.value = 0
        code = lib.cuInit(0)
        if code != 0:
            return CudaDriver(name, version.value or None,
                              problem=f"the NVIDIA driver does not start: cuInit says "
                                      f"{_error_name(lib, code)}")
        count = ctypes.c_int(0)
        code = lib.cuDeviceGetCount(ctypes.byref(count))
        if code != 0:
            return CudaDriver(name, version.value or None,
                              problem=f"cuDeviceGetCount says {_error_name(lib, code)}")
        gpus = tuple(g for g in (_gpu(lib, i) for i in range(count.value)) if g is not None)
    except AttributeError:  # a stub library without the entry points
        return CudaDriver(name, problem=f"{name} is not a working CUDA driver (a stub?)")
    return CudaDriver(name, version.value or None, gpus,
                      None if gpus else "the NVIDIA driver reports no CUDA device")


def cuda_device_count() -> int:
    """Number of CUDA devices the driver reports; 0 when there is no driver or device."""
    return len(cuda_driver().gpus)


def has_cuda() -> bool:
    return cuda_device_count() > 0

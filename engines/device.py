"""Find out, without crashing, whether an NVIDIA GPU is usable from this process.

TensorRT and pycuda can abort the interpreter when no driver or device exists, so every GPU
code path asks here first. The check talks to the CUDA driver library through ctypes and
treats any failure (no library, no device, driver error) as "no GPU".
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices the driver reports; 0 when there is no driver or device."""
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return 0
    count = ctypes.c_int(0)
    try:
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
    except AttributeError:  # a stub library without the entry points
        return 0
    return int(count.value)


def has_cuda() -> bool:
    return cuda_device_count() > 0

"""A fake ``cuda.bindings.driver`` (NVIDIA's cuda-python) on the fake device of
``tests.fake_trt.cuda``, so one fake GPU serves both CUDA layers and the fake TensorRT.

Faithful where our code could go wrong, beyond the device rules of ``tests.fake_trt.cuda``
(a current context, live allocations, page-locked memory for async copies, work that runs
only when its stream is synchronized):
- every call returns a tuple whose first item is a ``CUresult``; errors are returned, never
  raised, so a caller that ignores them goes on with a wrong value;
- handles are objects (``CUdevice``, ``CUcontext``, ``CUstream``, ``CUevent``,
  ``CUdeviceptr``) whose ``int()`` is the handle; plain ints are taken where the real binding
  takes them;
- host memory is an integer address; page-locked memory comes from ``cuMemHostAlloc`` as one;
- ``cuDeviceGetName`` returns the whole buffer, padded with NUL bytes;
- a primary context stays usable until each retain is matched by a release.
"""
from __future__ import annotations

import ctypes
import enum
from typing import Any

import numpy as np

from . import cuda


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_NOT_INITIALIZED = 3
    CUDA_ERROR_INVALID_DEVICE = 101
    CUDA_ERROR_INVALID_CONTEXT = 201
    CUDA_ERROR_INVALID_HANDLE = 400
    CUDA_ERROR_NOT_READY = 600


class CUdevice_attribute(enum.IntEnum):  # noqa: N801 (the binding's name)
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class _Handle:
    def __init__(self, value: int = 0) -> None:
        self._value = int(value)

    def __int__(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} 0x{self._value:x}>"


class CUdevice(_Handle):
    pass


class CUcontext(_Handle):
    pass


class CUstream(_Handle):
    pass


class CUevent(_Handle):
    pass


class CUdeviceptr(_Handle):
    pass


_OK = CUresult.CUDA_SUCCESS
_contexts: dict[int, list[cuda.Context]] = {}  # device -> its retained primary contexts
_allocations: dict[int, cuda.DeviceAllocation] = {}
_pinned: dict[int, np.ndarray] = {}
_events: dict[int, cuda.Event] = {}


def reset() -> None:
    """Forget every handle (with ``cuda.reset``: a fresh process)."""
    for table in (_contexts, _allocations, _pinned, _events):
        table.clear()


def _code(error: cuda.LogicError) -> CUresult:
    text = str(error)
    if "cuInit" in text:
        return CUresult.CUDA_ERROR_NOT_INITIALIZED
    if "context" in text:
        return CUresult.CUDA_ERROR_INVALID_CONTEXT
    if "ordinal" in text:
        return CUresult.CUDA_ERROR_INVALID_DEVICE
    if "handle" in text or "Stream" in text:
        return CUresult.CUDA_ERROR_INVALID_HANDLE
    if "not ready" in text:
        return CUresult.CUDA_ERROR_NOT_READY
    return CUresult.CUDA_ERROR_INVALID_VALUE


def _call(fn, *args: Any) -> tuple:
    """``(CUDA_SUCCESS, fn(*args))``, or ``(error,)`` when the fake device refuses."""
    try:
        value = fn(*args)
    except cuda.LogicError as exc:
        return (_code(exc), None)
    return (_OK,) if value is None else (_OK, value)


def _host(address: int, nbytes: int) -> np.ndarray:
    """The host bytes at ``address`` (this process's memory), as numpy sees them."""
    return np.ctypeslib.as_array((ctypes.c_uint8 * int(nbytes)).from_address(int(address)))


def _stream(handle: Any) -> cuda.Stream:
    return cuda.stream_by_handle(int(handle))


def _event(handle: Any) -> cuda.Event:
    if int(handle) not in _events:
        raise cuda.LogicError("invalid resource handle: no such event")
    return _events[int(handle)]


def cuGetErrorName(error: Any) -> tuple:  # noqa: N802
    try:
        return _OK, CUresult(int(error)).name.encode()
    except ValueError:
        return (CUresult.CUDA_ERROR_INVALID_VALUE, None)


def cuInit(flags: int) -> tuple:  # noqa: N802
    return _call(cuda.init, flags)


def cuDriverGetVersion() -> tuple:  # noqa: N802
    return _OK, 12040


def cuDeviceGetCount() -> tuple:  # noqa: N802
    return _call(cuda.Device.count)


def cuDeviceGet(ordinal: int) -> tuple:  # noqa: N802
    return _call(lambda: CUdevice(cuda.Device(int(ordinal)).index))


def cuDeviceGetName(length: int, dev: Any) -> tuple:  # noqa: N802
    def name() -> bytes:
        raw = cuda.Device(int(dev)).name().encode()[:length - 1]
        return raw + b"\0" * (length - len(raw))
    return _call(name)


def cuDeviceGetAttribute(attrib: CUdevice_attribute, dev: Any) -> tuple:  # noqa: N802
    def value() -> int:
        major, minor = cuda.Device(int(dev)).compute_capability()
        return {CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: major,
                CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: minor}[attrib]
    return _call(value)


def cuDevicePrimaryCtxRetain(dev: Any) -> tuple:  # noqa: N802
    def retain() -> CUcontext:
        context = cuda.Device(int(dev)).retain_primary_context()
        _contexts.setdefault(int(dev), []).append(context)
        return CUcontext(id(context))
    return _call(retain)


def cuDevicePrimaryCtxRelease(dev: Any) -> tuple:  # noqa: N802
    retained = _contexts.get(int(dev))
    if not retained:
        return (CUresult.CUDA_ERROR_INVALID_CONTEXT,)
    retained.pop().detach()
    return (_OK,)


def _context(handle: Any) -> cuda.Context:
    for retained in _contexts.values():
        for context in retained:
            if id(context) == int(handle):
                return context
    raise cuda.LogicError("invalid device context: not a retained context")


def cuCtxPushCurrent(ctx: Any) -> tuple:  # noqa: N802
    return _call(lambda: _context(ctx).push())


def cuCtxPopCurrent() -> tuple:  # noqa: N802
    def pop() -> CUcontext:
        current = cuda.Context.get_current()
        cuda.Context.pop()
        return CUcontext(id(current))
    return _call(pop)


def cuMemAlloc(bytesize: int) -> tuple:  # noqa: N802
    def alloc() -> CUdeviceptr:
        allocation = cuda.mem_alloc(int(bytesize))
        _allocations[int(allocation)] = allocation
        return CUdeviceptr(int(allocation))
    return _call(alloc)


def cuMemFree(dptr: Any) -> tuple:  # noqa: N802
    allocation = _allocations.pop(int(dptr), None)
    if allocation is None:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    return _call(allocation.free)


def cuMemHostAlloc(bytesize: int, flags: int) -> tuple:  # noqa: N802
    def alloc() -> int:
        array = cuda.pagelocked_empty(int(bytesize), np.uint8)
        _pinned[array.ctypes.data] = array
        return array.ctypes.data
    return _call(alloc)


def cuMemFreeHost(p: int) -> tuple:  # noqa: N802
    array = _pinned.pop(int(p), None)
    if array is None:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    cuda.STATE.pinned = [a for a in cuda.STATE.pinned if a is not array]
    return (_OK,)


def cuMemcpyHtoD(dstDevice: Any, srcHost: int, ByteCount: int) -> tuple:  # noqa: N802, N803
    return _call(lambda: cuda.memcpy_htod(int(dstDevice), _host(srcHost, ByteCount)))


def cuMemcpyHtoDAsync(dstDevice: Any, srcHost: int, ByteCount: int,  # noqa: N802, N803
                      hStream: Any) -> tuple:  # noqa: N803
    return _call(lambda: cuda.memcpy_htod_async(int(dstDevice), _host(srcHost, ByteCount),
                                                _stream(hStream)))


def cuMemcpyDtoHAsync(dstHost: int, srcDevice: Any, ByteCount: int,  # noqa: N802, N803
                      hStream: Any) -> tuple:  # noqa: N803
    return _call(lambda: cuda.memcpy_dtoh_async(_host(dstHost, ByteCount), int(srcDevice),
                                                _stream(hStream)))


def cuStreamCreate(flags: int) -> tuple:  # noqa: N802
    return _call(lambda: CUstream(cuda.Stream(flags).handle))


def cuStreamSynchronize(hStream: Any) -> tuple:  # noqa: N802, N803
    return _call(lambda: _stream(hStream).synchronize())


def cuEventCreate(flags: int) -> tuple:  # noqa: N802
    def create() -> CUevent:
        event = cuda.Event(flags)
        _events[id(event)] = event
        return CUevent(id(event))
    return _call(create)


def cuEventRecord(hEvent: Any, hStream: Any) -> tuple:  # noqa: N802, N803
    return _call(lambda: _event(hEvent).record(_stream(hStream)) and None)


def cuEventSynchronize(hEvent: Any) -> tuple:  # noqa: N802, N803
    return _call(lambda: _event(hEvent).synchronize() and None)


def cuEventElapsedTime(hStart: Any, hEnd: Any) -> tuple:  # noqa: N802, N803
    return _call(lambda: _event(hStart).time_till(_event(hEnd)))

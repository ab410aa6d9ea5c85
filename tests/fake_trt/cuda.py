"""A fake ``pycuda.driver``: device memory is a map of numbered byte arrays, streams are queues.

Faithful where our code could go wrong:
- ``init()`` before ``Device``; a current context (``push``) for allocations, copies, streams;
- ``int(allocation)`` is an address; copies check that [address, address + nbytes) lies in one
  live allocation (freed or too-small buffers raise, as an illegal address would fail);
- async copies and kernels run only when their stream is synchronized, so results read
  before ``stream.synchronize()`` are stale (fresh device memory is 0xFF bytes: NaN floats);
- async copies need page-locked host memory (``pagelocked_empty``): stricter than CUDA,
  which silently falls back to a synchronous copy for pageable memory;
- ``Event.synchronize`` runs its stream only up to the event (later work stays queued);
  ``Event.time_till`` needs both events recorded and completed.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class Error(Exception):
    """pycuda.driver.Error."""


class LogicError(Error):
    """pycuda.driver.LogicError: API misuse (no context, bad address, bad handle)."""


@dataclass
class _State:
    gpu_name: str = "NVIDIA GeForce GTX 1660 Ti"
    compute_capability: tuple[int, int] = (7, 5)
    initialized: bool = False
    allocations: dict[int, np.ndarray] = field(default_factory=dict)
    pinned: list[np.ndarray] = field(default_factory=list)
    streams: dict[int, Stream] = field(default_factory=dict)
    clock_ms: float = 0.0
    kernel_ms: float = 1.5  # simulated duration of one engine execution
    tls: threading.local = field(default_factory=threading.local)


STATE = _State()
_addresses = itertools.count(0x7F00_0000_0000, 0x100_0000)
_handles = itertools.count(0x5000)


def reset(gpu_name: str = "NVIDIA GeForce GTX 1660 Ti",
          compute_capability: tuple[int, int] = (7, 5)) -> None:
    """Forget every allocation, stream and context (a fresh process)."""
    global STATE
    STATE = _State(gpu_name=gpu_name, compute_capability=tuple(compute_capability))


def _stack() -> list:
    if not hasattr(STATE.tls, "stack"):
        STATE.tls.stack = []
    return STATE.tls.stack


def _require_context() -> None:
    if not STATE.initialized:
        raise LogicError("cuInit has not been called")
    if not _stack():
        raise LogicError("explicit_context_dependent failed: invalid device context - "
                         "no currently active context?")


def init(flags: int = 0) -> None:
    STATE.initialized = True


class Context:
    """A CUDA context; the primary one of the fake's single device."""

    def __init__(self) -> None:
        self.attached = True

    def push(self) -> None:
        if not self.attached:
            raise LogicError("context was detached")
        _stack().append(self)

    @staticmethod
    def pop() -> None:
        if not _stack():
            raise LogicError("cuCtxPopCurrent failed: invalid device context")
        _stack().pop()

    def detach(self) -> None:
        self.attached = False

    @staticmethod
    def get_current() -> Context | None:
        return _stack()[-1] if _stack() else None

    @staticmethod
    def synchronize() -> None:
        for stream in list(STATE.streams.values()):
            stream.synchronize()


class Device:
    def __init__(self, index: int) -> None:
        if not STATE.initialized:
            raise LogicError("cuInit has not been called")
        if index != 0:
            raise LogicError(f"cuDeviceGet failed: invalid device ordinal {index}")
        self.index = index

    @staticmethod
    def count() -> int:
        if not STATE.initialized:
            raise LogicError("cuInit has not been called")
        return 1

    def name(self) -> str:
        return STATE.gpu_name

    def compute_capability(self) -> tuple[int, int]:
        return STATE.compute_capability

    def retain_primary_context(self) -> Context:
        return Context()

    def make_context(self) -> Context:
        ctx = Context()
        ctx.push()
        return ctx


class DeviceAllocation:
    """``int(alloc)`` is the device address, as in pycuda."""

    def __init__(self, nbytes: int) -> None:
        self.address = next(_addresses)
        self.nbytes = nbytes
        STATE.allocations[self.address] = np.full(nbytes, 0xFF, np.uint8)

    def __int__(self) -> int:
        return self.address

    __index__ = __int__

    def free(self) -> None:
        _require_context()
        STATE.allocations.pop(self.address, None)


def device_view(address: int, nbytes: int) -> np.ndarray:
    """The bytes [address, address + nbytes) of one live allocation, as a writable view."""
    address = int(address)
    for base, memory in STATE.allocations.items():
        if base <= address < base + memory.size:
            offset = address - base
            if offset + nbytes > memory.size:
                raise LogicError(f"illegal address: {nbytes} bytes at 0x{address:x} overrun an "
                                 f"allocation of {memory.size} bytes (offset {offset})")
            return memory[offset:offset + nbytes]
    raise LogicError(f"illegal address 0x{address:x}: not a live device allocation")


def mem_alloc(nbytes: int) -> DeviceAllocation:
    _require_context()
    if int(nbytes) <= 0:
        raise LogicError("cuMemAlloc failed: invalid argument (size 0)")
    return DeviceAllocation(int(nbytes))


def pagelocked_empty(shape, dtype, order: str = "C", mem_flags: int = 0) -> np.ndarray:
    _require_context()
    array = np.empty(shape, dtype, order=order)
    array.view(np.uint8).reshape(-1)[:] = 0xAB
    STATE.pinned.append(array)
    return array


def _host_bytes(array: np.ndarray, pinned: bool) -> np.ndarray:
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise LogicError("host buffer must be a C-contiguous numpy array")
    if pinned:
        start, end = array.ctypes.data, array.ctypes.data + array.nbytes
        if not any(p.ctypes.data <= start and end <= p.ctypes.data + p.nbytes
                   for p in STATE.pinned):
            raise LogicError("async copy from/to pageable host memory: use pagelocked_empty")
    return array.reshape(-1).view(np.uint8)


def _stream(stream: Stream | None) -> Stream:
    if not isinstance(stream, Stream) or stream.handle not in STATE.streams:
        raise LogicError("async operation needs a live Stream")
    return stream


def memcpy_htod(dest, src: np.ndarray) -> None:
    _require_context()
    data = _host_bytes(np.asarray(src), pinned=False)
    device_view(dest, data.size)[:] = data


def memcpy_dtoh(dest: np.ndarray, src) -> None:
    _require_context()
    out = _host_bytes(dest, pinned=False)
    out[:] = device_view(src, out.size)


def memcpy_htod_async(dest, src: np.ndarray, stream: Stream | None = None) -> None:
    _require_context()
    data = _host_bytes(src, pinned=True)
    view = device_view(dest, data.size)  # checked now, copied when the stream runs

    def copy() -> None:
        view[:] = data

    _stream(stream).enqueue(copy)


def memcpy_dtoh_async(dest: np.ndarray, src, stream: Stream | None = None) -> None:
    _require_context()
    out = _host_bytes(dest, pinned=True)
    view = device_view(src, out.size)

    def copy() -> None:
        out[:] = view

    _stream(stream).enqueue(copy)


class Stream:
    """Operations queue up and run, in order, on ``synchronize()``."""

    def __init__(self, flags: int = 0) -> None:
        _require_context()
        self.handle = next(_handles)
        self._queue: list[Callable[[], None]] = []
        STATE.streams[self.handle] = self

    def enqueue(self, operation: Callable[[], None]) -> None:
        self._queue.append(operation)

    def synchronize(self) -> None:
        while self._queue:
            self._queue.pop(0)()

    def run_until(self, done: Callable[[], bool]) -> None:
        """Run queued operations in order until ``done()`` holds (an event has completed)."""
        while self._queue and not done():
            self._queue.pop(0)()

    def is_done(self) -> bool:
        return not self._queue

    @property
    def pending(self) -> int:
        """Operations queued and not run yet."""
        return len(self._queue)


def stream_by_handle(handle: int) -> Stream:
    """The stream whose ``handle`` TensorRT was given; unknown handles raise."""
    if handle not in STATE.streams:
        raise LogicError(f"invalid resource handle: no stream 0x{int(handle):x}")
    return STATE.streams[handle]


class Event:
    def __init__(self, flags: int = 0) -> None:
        _require_context()
        self.time_ms: float | None = None
        self.stream: Stream | None = None

    def record(self, stream: Stream | None = None) -> Event:
        self.stream, self.time_ms = _stream(stream), None

        def mark() -> None:
            self.time_ms = STATE.clock_ms

        self.stream.enqueue(mark)
        return self

    def query(self) -> bool:
        return self.time_ms is not None

    def synchronize(self) -> Event:
        if self.stream is None:
            raise LogicError("event was never recorded")
        self.stream.run_until(self.query)
        return self

    def time_till(self, end: Event) -> float:
        """Milliseconds from this event to ``end`` (``start.time_till(end)``)."""
        if self.time_ms is None or end.time_ms is None:
            raise LogicError("cuEventElapsedTime failed: device not ready")
        return end.time_ms - self.time_ms

    def time_since(self, start: Event) -> float:
        return start.time_till(self)

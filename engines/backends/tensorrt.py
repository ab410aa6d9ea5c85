"""TensorRT backend: runs a serialized engine (``dwpose build``) on an NVIDIA GPU.

Follows TensorRT 10's tensor-name API: I/O tensors are discovered by name, each gets a pinned
host buffer and a device buffer sized for the largest batch of the engine's optimization
profile, and a call is ``set_input_shape`` / ``set_tensor_address`` / async copies /
``execute_async_v3`` on the backend's own CUDA stream. ``submit`` returns once that work is
queued; the job's ``result()`` waits on a CUDA event recorded after the output copies (not on
the whole device), so another engine's stream keeps running. GPU time per call is measured
with CUDA events (``last_gpu_ms``). One job is in flight per engine: the host buffers are
shared, so ``submit`` first completes the previous job.

Outputs whose shape depends on the data (the ``dets`` / ``labels`` of an end2end detector, whose
NMS keeps a varying number of boxes) have no size before the engine runs: TensorRT asks an
``IOutputAllocator`` (``_OutputBuffers``) for their memory during ``execute_async_v3`` and
tells it their shape, and their copies back are queued with that shape.

An engine only runs under the TensorRT version and on the GPU model it was built for. The
engine header (``engines.trt.metadata``) records both, so a mismatch is reported clearly and,
when the source ONNX model still exists, the engine is rebuilt in place. Given an ``.onnx``
file, the backend builds (once) and then reuses ``<model>.<precision>.engine`` beside it.
"""
from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ModelError, UserError
from ..trt.metadata import EngineMetadata, file_sha256, unpack_engine
from ..trt.runtime import CudaContext, import_cuda, import_tensorrt
from .base import Backend, Job, TensorSpec, float32_outputs


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class TensorRTBackend(Backend):
    """Runs a TensorRT engine file (or builds one from an ``.onnx`` file first).

    Args:
        path: a ``.engine`` file from ``dwpose build``, a bare TensorRT plan, or an ONNX model.
        device_index: the CUDA device to run on.
        rebuild: rebuild an engine made by another TensorRT version or for another GPU
            when its source ONNX model exists (otherwise such an engine is an error).
        precision, max_batch: used when building from an ONNX model.
    """

    name = "tensorrt"
    asynchronous = True

    def __init__(self, path: str | Path, device_index: int = 0, rebuild: bool = True,
                 precision: str = "fp16", max_batch: int = 8) -> None:
        super().__init__(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: engine file not found")
        self.trt = trt = import_tensorrt()
        self.cuda = cuda = import_cuda()
        self._gpu_context = CudaContext(cuda, device_index)
        self.gpu = self._gpu_context.gpu
        self._lock = threading.Lock()
        self._inflight: _TensorRTJob | None = None
        self.last_gpu_ms = 0.0
        if self.path.suffix.lower() == ".onnx":
            self.path = self._engine_for_onnx(self.path, precision, max_batch)
        self.metadata, plan = self._read(rebuild)
        self.logger = trt.Logger(trt.Logger.WARNING)
        with self._gpu_context:
            self._runtime = trt.Runtime(self.logger)
            self.engine = self._runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise ModelError(
                    f"{self.path}: TensorRT {trt.__version__} cannot load this file: not a "
                    "TensorRT engine, damaged, or built by another TensorRT version or for "
                    f"another GPU; rebuild it: dwpose build --onnx MODEL.onnx --output {self.path}")
            self.context = self.engine.create_execution_context()
            self._discover()
            self._allocate()

    # -- loading -------------------------------------------------------------------------

    def _engine_for_onnx(self, onnx_path: Path, precision: str, max_batch: int) -> Path:
        """``model.onnx`` -> ``model.<precision>.engine``, built when missing or stale."""
        from ..trt.builder import build_engine

        engine = onnx_path.with_name(f"{onnx_path.stem}.{precision}.engine")
        if engine.is_file():
            meta, _ = unpack_engine(engine.read_bytes(), engine)
            if (meta is not None and meta.onnx_sha256 == file_sha256(onnx_path)
                    and meta.incompatibility(self.trt.__version__, self.gpu) is None):
                return engine
        _log(f"{onnx_path}: building a TensorRT engine once ({engine.name})")
        build_engine(onnx_path, engine, precision, max_batch=max_batch, log=_log)
        return engine

    def _read(self, rebuild: bool) -> tuple[EngineMetadata | None, bytes]:
        meta, plan = unpack_engine(self.path.read_bytes(), self.path)
        if meta is None:
            return meta, plan
        problem = meta.incompatibility(self.trt.__version__, self.gpu)
        if problem is None:
            return meta, plan
        source = Path(meta.onnx_path)
        if not rebuild or not source.is_file():
            why = "rebuilding is off" if not rebuild else f"its source {source} is gone"
            raise ModelError(f"{self.path}: engine {problem} and {why}; rebuild it: dwpose "
                             f"build --onnx MODEL.onnx --output {self.path}")
        from ..trt.builder import rebuild_engine

        _log(f"{self.path}: engine {problem}; rebuilding from {source}")
        try:
            rebuild_engine(meta, self.path, log=_log)
        except UserError as exc:
            raise ModelError(f"{self.path}: engine {problem}; rebuilding failed: {exc}") from None
        return unpack_engine(self.path.read_bytes(), self.path)

    def _discover(self) -> None:
        """Find the I/O tensors by name, with the largest shapes the profile allows.

        An input axis the profile fixes (min = max: a detector's image size) is reported
        static; outputs still unsized at the largest inputs are data-dependent.
        """
        trt, engine = self.trt, self.engine
        self._max_shapes: dict[str, tuple[int, ...]] = {}
        self._dynamic: list[str] = []  # data-dependent outputs
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                declared = tuple(d if d >= 0 else None for d in shape)
                if -1 in shape:
                    low, _, high = (tuple(s) for s in engine.get_tensor_profile_shape(name, 0))
                    declared = tuple(h if d is None and lo == h else d
                                     for d, lo, h in zip(declared, low, high))
                    shape = high
                    if not self.context.set_input_shape(name, shape):
                        raise ModelError(f"{self.path}: cannot set {name!r} to {shape}")
                self.inputs.append(TensorSpec(name, declared, dtype))
                self._max_shapes[name] = shape
            else:
                self.outputs.append(TensorSpec(name, tuple(d if d >= 0 else None for d in shape),
                                               dtype))
        for spec in self.outputs:
            shape = tuple(self.context.get_tensor_shape(spec.name))
            if any(d < 0 for d in shape):
                self._dynamic.append(spec.name)
            else:
                self._max_shapes[spec.name] = shape
        if not self.inputs or not self.outputs:
            raise ModelError(f"{self.path}: engine has no inputs or no outputs")

    def _allocate(self) -> None:
        """Pinned host + device buffer per tensor (largest batch), one stream, three events;
        an output allocator for the data-dependent outputs."""
        cuda = self.cuda
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, object] = {}
        for spec in self.inputs + self.outputs:
            if spec.name in self._dynamic:
                continue
            size = int(np.prod(self._max_shapes[spec.name]))
            self._host[spec.name] = cuda.pagelocked_empty(size, spec.dtype)
            self._device[spec.name] = cuda.mem_alloc(max(size * spec.dtype.itemsize, 1))
        self.stream = cuda.Stream()
        self._start, self._end, self._done = cuda.Event(), cuda.Event(), cuda.Event()
        self._buffers = None
        if self._dynamic:
            self._buffers = _output_buffers_class(self.trt)(
                cuda, {s.name: s.dtype for s in self.outputs if s.name in self._dynamic})
            for name in self._dynamic:
                if not self.context.set_output_allocator(name, self._buffers):
                    raise ModelError(f"{self.path}: TensorRT refused the output allocator of "
                                     f"{name!r}")

    @property
    def max_batch(self) -> int | None:
        """Largest batch the engine's profile accepts (the stages split bigger batches)."""
        return self._max_shapes[self.inputs[0].name][0]

    @property
    def precision(self) -> str:
        """The precision the engine was built with (from its header; bare plans: the I/O's)."""
        return self.metadata.precision if self.metadata is not None else super().precision

    # -- inference -----------------------------------------------------------------------

    def _check_batch(self, spec: TensorSpec, array: np.ndarray) -> np.ndarray:
        limit = self._max_shapes[spec.name]
        if array.shape[0] > limit[0] or array.shape[0] < 1:
            raise ModelError(f"{self.path}: batch of {array.shape[0]} for {spec.name!r}; this "
                             f"engine takes 1 to {limit[0]} (rebuild with a larger --max-batch)")
        return array

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.submit(feeds).result()

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        """Queue copies in, the engine and copies out on this engine's stream; do not wait."""
        feeds = self.checked_feeds(feeds)
        arrays = {s.name: self._check_batch(s, feeds[s.name]) for s in self.inputs}
        with self._lock, self._gpu_context:
            if self._inflight is not None:
                self._finish(self._inflight)
            self._inflight = _TensorRTJob(self, self._enqueue(arrays))
            return self._inflight

    def _enqueue(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Queue one batch; returns the host views its outputs will land in."""
        cuda, context, stream = self.cuda, self.context, self.stream
        for name, array in arrays.items():
            if not context.set_input_shape(name, array.shape):
                raise ModelError(f"{self.path}: TensorRT refused shape {array.shape} for {name!r}")
            host = self._host[name][:array.size].reshape(array.shape)
            np.copyto(host, array)
            cuda.memcpy_htod_async(self._device[name], host, stream)
        outputs = {}
        for spec in self.outputs:
            if spec.name not in self._dynamic:
                shape = tuple(context.get_tensor_shape(spec.name))
                outputs[spec.name] = self._host[spec.name][:int(np.prod(shape))].reshape(shape)
        for name, buffer in self._device.items():
            context.set_tensor_address(name, int(buffer))
        self._start.record(stream)
        if not context.execute_async_v3(stream.handle):
            stream.synchronize()
            raise ModelError(f"{self.path}: TensorRT failed to run the engine")
        self._end.record(stream)
        devices = dict(self._device)
        if self._buffers is not None:  # sized and shaped by TensorRT during the call
            for name in self._dynamic:
                outputs[name], devices[name] = self._buffers.host_view(name)
        for name, host in outputs.items():
            if host.size:
                cuda.memcpy_dtoh_async(host, devices[name], stream)
        self._done.record(stream)
        return outputs

    def _finish(self, job: _TensorRTJob) -> None:
        """Wait for ``job`` (the one in flight) and copy its outputs out of the shared buffers.

        Called with the lock held and the context pushed.
        """
        self._done.synchronize()
        self.last_gpu_ms = job.elapsed_ms = self._start.time_till(self._end)
        job.outputs = float32_outputs({name: host.copy() for name, host in job.outputs.items()})
        job.finished = True
        self._inflight = None

    def close(self) -> None:
        """Free the GPU buffers and let go of the CUDA context (after any job in flight)."""
        with self._lock, self._gpu_context:
            if self._inflight is not None:
                self._finish(self._inflight)
            for buffer in self._device.values():
                buffer.free()
            self._device = {}
            if self._buffers is not None:
                self._buffers.free()
            self.context = self.engine = None
        self._gpu_context.close()


@functools.cache
def _output_buffers_class(trt) -> type:
    """``_OutputBuffers`` for the TensorRT module ``trt`` (its base class lives there)."""

    class _OutputBuffers(trt.IOutputAllocator):
        """The ``IOutputAllocator`` of an engine's data-dependent outputs: grows a device
        buffer (and its pinned host twin) when TensorRT asks for more, and keeps the shape
        TensorRT reports."""

        def __init__(self, cuda, dtypes: dict[str, np.dtype]) -> None:
            trt.IOutputAllocator.__init__(self)
            self._cuda, self._dtypes = cuda, dtypes
            self._device: dict[str, object] = {}
            self._host: dict[str, np.ndarray] = {}
            self._nbytes: dict[str, int] = {}
            self.shapes: dict[str, tuple[int, ...]] = {}

        def reallocate_output(self, tensor_name: str, memory: int, size: int,
                              alignment: int) -> int:
            if size > self._nbytes.get(tensor_name, 0):
                if tensor_name in self._device:
                    self._device[tensor_name].free()
                dtype = self._dtypes[tensor_name]
                count = -(-size // dtype.itemsize)
                self._device[tensor_name] = self._cuda.mem_alloc(count * dtype.itemsize)
                self._host[tensor_name] = self._cuda.pagelocked_empty(count, dtype)
                self._nbytes[tensor_name] = count * dtype.itemsize
            return int(self._device[tensor_name])

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int,
                                    alignment: int, stream: int) -> int:
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name: str, shape) -> None:
            self.shapes[tensor_name] = tuple(int(d) for d in shape)

        def host_view(self, name: str) -> tuple[np.ndarray, object]:
            """The host array the last call's output lands in, and its device buffer."""
            shape = self.shapes[name]
            return self._host[name][:int(np.prod(shape))].reshape(shape), self._device[name]

        def free(self) -> None:
            for buffer in self._device.values():
                buffer.free()
            self._device, self._host, self._nbytes = {}, {}, {}

    return _OutputBuffers


class _TensorRTJob(Job):
    """One batch queued on a ``TensorRTBackend``'s stream."""

    def __init__(self, backend: TensorRTBackend, outputs: dict[str, np.ndarray]) -> None:
        self.backend, self.outputs, self.finished = backend, outputs, False

    def result(self) -> dict[str, np.ndarray]:
        backend = self.backend
        with backend._lock:
            if not self.finished:
                with backend._gpu_context:
                    backend._finish(self)
        return self.outputs

"""OpenVINO backend: ONNX files on the CPU at FP32, BF16 or INT8, with asynchronous submit.

OpenVINO reads the ONNX files directly, symbolic axes included (the batch axis stays dynamic;
the keypoint axis of the OpenMMLab SDKs comes out static from OpenVINO's own shape inference).

Precision (``INFERENCE_PRECISION_HINT`` of the CPU plugin):

- ``auto``: BF16 where OpenVINO reports the CPU can run it (``OPTIMIZATION_CAPABILITIES``: the
  AVX-512 BF16 and AMX CPUs), else FP32. A QDQ file from ``dwpose quantize`` is INT8 whatever
  is asked for, so ``auto`` on such a file is ``int8``.
- ``fp32`` / ``bf16``: that arithmetic for every layer; ``bf16`` on a CPU without it is an
  error rather than a silent FP32 run (a benchmark must run what it says).
- ``int8``: the ``dwpose quantize`` model. Given the FP32 file, its ``<model>.int8.onnx``
  beside it is loaded (``dwpose quantize`` writes it there by default); given the QDQ file,
  that file. OpenVINO turns the Q/DQ pairs into integer convolutions and matrix products;
  the layers left in floating point run at BF16 where the CPU has it.

``runtime_precisions`` reads what the compiled model really runs: the precision of every
convolution and matrix product (``u8`` for the INT8 kernels), the check behind ``precision``.

Asynchronous: ``submit`` starts one of the backend's infer requests (``start_async``) and
returns; OpenVINO's own threads compute while the caller goes on, and the job's ``result()``
waits for that request only. A backend keeps up to ``MAX_REQUESTS`` requests, so several jobs
(the pose chunks of a static-batch model) can be in flight; a further ``submit`` first
completes the oldest. ``elapsed_ms`` is the request's own latency.

Threads: ``threads`` (0: OpenVINO's default, one per core). CPU pinning is off by default: on
a machine shared with other work a pinned thread waits for its busy core (measured: FP32 on
2 pinned threads ran at half the speed of 2 unpinned ones while another job used one core).

Start-up: compiling a model for the CPU takes most of a start (OpenVINO 2026.4, DWPose-l 384
at FP32 on this project's 2-core Xeon: 0.58 s cold, 0.11-0.14 s from the cache). Compiled
models are kept in OpenVINO's own cache (``CACHE_DIR``), ``openvino/`` in the model cache
(``compile_cache``): OpenVINO keys each entry by the model's content, the device's settings
(the precision hint among them) and its own version, so a changed model, precision or OpenVINO
compiles again. A cache folder that cannot be written is skipped.
"""
from __future__ import annotations

import mmap
import os
import threading
from collections import Counter, deque
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ModelError, UserError, one_line
from ..paths import default_cache_dir
from ..quantize import int8_path
from .base import Backend, Job, TensorSpec, float32_outputs

NO_OPENVINO = "the openvino backend needs OpenVINO: pip install -e .[openvino]"

try:
    import openvino as ov
except ImportError:  # this module is imported only when --backend openvino is asked for
    raise UserError(NO_OPENVINO) from None

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: The CPU plugin's precision hint for each floating-point precision.
_HINTS = {"fp32": "f32", "bf16": "bf16"}
#: Infer requests a backend keeps for jobs in flight.
MAX_REQUESTS = 4
#: Layers whose runtime precision tells the arithmetic of the model.
COMPUTE_LAYERS = frozenset({"Convolution", "GroupConvolution", "FullyConnected", "MatMul"})


def _declared_shapes(path: Path) -> dict[str, tuple[int | None, ...]]:
    """The input and output shapes an ONNX file declares (``None`` on a symbolic axis)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return {v.name: tuple(d.dim_value if d.HasField("dim_value") else None
                          for d in v.type.tensor_type.shape.dim)
            for v in [*graph.input, *graph.output]}


def _spec(port, declared: dict[str, tuple[int | None, ...]]) -> TensorSpec:
    """A port's spec; an axis OpenVINO's shape inference leaves open keeps the size the file
    declares (an end2end detector's box size 5 with a symbolic input size)."""
    name = port.get_any_name()
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    fixed = declared.get(name, ())
    if len(fixed) == len(shape):
        shape = tuple(ov_dim if ov_dim is not None else dim for ov_dim, dim in zip(shape, fixed))
    return TensorSpec(name, shape, np.dtype(port.get_element_type().to_dtype()))


def cpu_capabilities(core) -> list[str]:
    """What OpenVINO's CPU plugin says this CPU runs (``BF16``, ``FP32``, ``INT8``...)."""
    return list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _compile_cache(folder: str | Path | None) -> Path | None:
    """The compiled-model cache folder, made if needed; None when off or not writable."""
    if folder == "":
        return None
    folder = Path(folder) if folder is not None else default_cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


#: The quantization operators: Q/DQ pairs become OpenVINO's integer kernels.
_QUANTIZED_OPS = frozenset({b"QuantizeLinear", b"QLinearConv", b"QLinearMatMul"})


def _varint(data: mmap.mmap, at: int) -> tuple[int, int]:
    """The protobuf varint at ``at``: (value, position after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _fields(data: mmap.mmap, start: int, end: int):
    """(field number, start, end) of the length-delimited fields in ``data[start:end]``;
    the others (varints, fixed 32 and 64 bits) are stepped over."""
    at = start
    while at < end:
        key, at = _varint(data, at)
        kind = key & 7
        if kind == 2:
            size, at = _varint(data, at)
            yield key >> 3, at, at + size
            at += size
        elif kind == 0:
            at = _varint(data, at)[1]
        else:
            at += 8 if kind == 1 else 4


def _is_quantized(path: Path) -> bool:
    """Whether the ONNX file at ``path`` holds quantization operators, read off its protobuf
    (``ModelProto.graph`` 7, ``GraphProto.node`` 1, ``NodeProto.op_type`` 4) with the weights
    stepped over unread: no model is loaded for it."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for field, start, end in _fields(data, 0, len(data)):
                if field != 7:
                    continue
                for node, n_start, n_end in _fields(data, start, end):
                    if node == 1 and any(
                            f == 4 and data[a:b] in _QUANTIZED_OPS
                            for f, a, b in _fields(data, n_start, n_end)):
                        return True
            return False
    except (OSError, ValueError, IndexError):  # not an ONNX file: compiling it says what
        return False


class OpenVinoBackend(Backend):
    """Runs an ONNX file with OpenVINO's CPU plugin.

    Args:
        path: the ``.onnx`` file (FP32, FP16 I/O, or INT8 QDQ from ``dwpose quantize``).
        device: ``"auto"`` or ``"cpu"``; OpenVINO runs no NVIDIA GPU.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"int8"`` (see the module docstring).
        threads: inference threads; 0 lets OpenVINO use one per core.
        pin: pin the threads to cores (OpenVINO's own default; off here, see above).
        compile_cache: the folder of compiled models (default: ``openvino/`` in the model
            cache; ``""`` compiles every time).
        streams: 1 compiles for the lowest latency (one request uses every core); more
            compiles for throughput with that many streams, 0 with OpenVINO's own number
            (frames in flight, ``engines.throughput``).
    """

    name = "openvino"
    asynchronous = True

    def __init__(self, path: str | Path, device: str = "auto", precision: str = "auto",
                 threads: int = 0, pin: bool = False,
                 compile_cache: str | Path | None = None, streams: int = 1) -> None:
        super().__init__(path)
        if device not in ("auto", "cpu"):
            raise UserError(f"device {device!r}: the openvino backend runs on the CPU "
                            "(--device cpu or auto)")
        if precision not in PRECISIONS:
            raise UserError(f"precision {precision!r}: the openvino backend runs "
                            f"{', '.join(PRECISIONS)}")
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        self.core = ov.Core()
        capabilities = cpu_capabilities(self.core)
        self.cpu_bf16 = "BF16" in capabilities
        quantized = _is_quantized(self.path)
        if precision == "int8" and not quantized:
            source = self.path
            self.path = int8_path(source)
            if not self.path.is_file():
                raise UserError(
                    f"precision int8: {source.name} is not quantized and {self.path} does not "
                    f"exist; write it first: dwpose quantize --onnx {source} --images FRAMES "
                    "(or pass the INT8 file itself)")
            quantized = _is_quantized(self.path)
        if quantized and precision in _HINTS:
            raise UserError(f"precision {precision}: {self.path.name} is an INT8 (QDQ) model; "
                            "give its FP32 original for fp32 or bf16 (or --precision int8)")
        if precision == "bf16" and not self.cpu_bf16:
            raise UserError("precision bf16: this CPU has no BF16 arithmetic (OpenVINO reports "
                            f"{', '.join(capabilities)}); use fp32 or auto")
        self._precision = "int8" if quantized else (
            precision if precision != "auto" else "bf16" if self.cpu_bf16 else "fp32")
        hint = "bf16" if self._precision == "int8" and self.cpu_bf16 else _HINTS.get(
            self._precision, "f32")
        config = {"INFERENCE_PRECISION_HINT": hint, "ENABLE_CPU_PINNING": pin,
                  "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT"}
        if streams > 1:
            config["NUM_STREAMS"] = streams
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        cache = _compile_cache(compile_cache)
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        try:  # from the file: a cached model is loaded without reading and converting it
            self.compiled = self.core.compile_model(str(self.path), "CPU", config)
        except RuntimeError as exc:
            raise ModelError(f"{self.path}: not a loadable ONNX model, or OpenVINO cannot "
                             f"compile it ({one_line(exc)[:300]})") from None
        self.streams = (1 if streams == 1 else
                        int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        ports = [*self.compiled.inputs, *self.compiled.outputs]
        open_axes = any(not d.is_static for p in ports for d in list(p.get_partial_shape())[1:])
        # reading the file's declarations costs the import of onnx (about 1 s): only for an
        # axis past the batch that OpenVINO leaves open
        declared = (_declared_shapes(self.path)
                    if open_axes and self.path.suffix.lower() == ".onnx" else {})
        self.inputs = [_spec(p, declared) for p in self.compiled.inputs]
        self.outputs = [_spec(p, declared) for p in self.compiled.outputs]
        self._idle: list = []
        self._requests = 0
        self._in_flight: deque[_OpenVinoJob] = deque()
        self._lock = threading.Lock()

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def on_gpu(self) -> bool:
        return False

    def runtime_precisions(self) -> Counter:
        """(layer type, precision) -> count, over the compiled model's compute layers."""
        counts: Counter = Counter()
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            layer = info["layerType"].astype(str)
            if layer in COMPUTE_LAYERS:
                counts[layer, info["runtimePrecision"].astype(str)] += 1
        return counts

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.submit(feeds).result()

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        feeds = self.checked_feeds(feeds)
        request = self._take_request()
        job = _OpenVinoJob(self, request)
        with self._lock:
            self._in_flight.append(job)
        request.start_async(feeds)
        return job

    def _take_request(self):
        """An idle infer request: a free one, a new one, or the oldest job's once it is done."""
        while True:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
                if self._requests < max(MAX_REQUESTS, self.streams):
                    self._requests += 1
                    return self.compiled.create_infer_request()
                oldest = self._in_flight[0]
            oldest.result()

    def _release(self, job: _OpenVinoJob) -> None:
        with self._lock:
            self._in_flight.remove(job)
            self._idle.append(job.request)


class _OpenVinoJob(Job):
    """One batch running on an infer request of an ``OpenVinoBackend``."""

    def __init__(self, backend: OpenVinoBackend, request) -> None:
        self.backend, self.request = backend, request
        self._outputs: dict[str, np.ndarray] | None = None
        self._error: ModelError | None = None
        self._lock = threading.Lock()

    def result(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._outputs is None and self._error is None:
                self._collect()
        if self._error is not None:
            raise self._error
        return self._outputs

    def _collect(self) -> None:
        """Wait for the request, copy its outputs out and give the request back."""
        backend = self.backend
        try:
            self.request.wait()
            self.elapsed_ms = self.request.latency
            self._outputs = float32_outputs({
                spec.name: self.request.get_output_tensor(i).data.copy()
                for i, spec in enumerate(backend.outputs)})
        except RuntimeError as exc:
            self._error = ModelError(f"{backend.path}: OpenVINO inference failed "
                                     f"({one_line(exc)[:300]})")
        finally:
            backend._release(self)

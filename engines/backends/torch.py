"""PyTorch backend: a model's torch twin on a CUDA GPU (FP16 by default) or on the CPU (FP32).

What it loads:

- ``.onnx`` (any detector or pose file: released, or written by ``dwpose export``): the graph
  runs as a torch module, ``onnx_graph.OnnxGraph``.
- ``.pth`` / ``.pt``: a trainer, mmpose or DWPose checkpoint, through the ``checkpoint``
  loader its caller hands in (``trainer.deploy.checkpoint_loader``): the inference core does
  not import the trainer, the commands above both compose them.

Precision ``"auto"`` is FP16 on CUDA and FP32 on the CPU. FP16 on the CPU is refused with a
clear error rather than silently run in FP32: a benchmark must run what it says it runs.

On CUDA every backend owns a ``torch.cuda.Stream``. ``submit`` queues the host-to-device copy,
the forward pass and the copy back into pinned memory on that stream, records CUDA events
around the forward pass and after the copy back, and returns; the job's ``result()`` waits on
that last event only. Two backends (detector, pose) therefore run concurrently on two streams
(``engines.overlap``). On the CPU, ``submit`` runs the model before returning.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..errors import ModelError, UserError
from .base import Backend, DoneJob, Job, TensorSpec

NO_TORCH = "the torch backend needs PyTorch: pip install -e .[train]"

try:
    import torch
    from torch import Tensor, nn

    from .onnx_graph import load_onnx, torch_dtype
except ImportError:  # this module is imported only when --backend torch is asked for
    raise UserError(NO_TORCH) from None

PRECISIONS = ("auto", "fp16", "fp32")

#: Turns a checkpoint file into (module, input specs, output specs).
CheckpointLoader = Callable[[Path], "tuple[nn.Module, list[TensorSpec], list[TensorSpec]]"]


def _device(name: str) -> torch.device:
    if name not in ("auto", "cuda", "cpu") and not name.startswith("cuda:"):
        raise UserError(f"device {name!r}: the torch backend runs on auto, cuda, cuda:N or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but PyTorch {torch.__version__} sees no "
                        "CUDA GPU (a CPU-only build, or no driver)")
    return torch.device(name)


def _dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise UserError("precision fp16 needs a CUDA GPU; on the CPU the torch backend runs "
                        "fp32 (--precision fp32 or auto)")
    fp16 = precision == "fp16" or (precision == "auto" and device.type == "cuda")
    return torch.float16 if fp16 else torch.float32


class TorchBackend(Backend):
    """Runs an ONNX model's torch twin, or a trainer checkpoint, with PyTorch.

    Args:
        path: an ``.onnx`` file, or a ``.pth`` / ``.pt`` pose checkpoint.
        device: ``"auto"`` (CUDA when PyTorch sees a GPU, else CPU), ``"cuda"``, ``"cuda:N"``
            or ``"cpu"``.
        precision: ``"auto"`` (FP16 on CUDA, FP32 on the CPU), ``"fp16"`` (CUDA only) or
            ``"fp32"``.
        checkpoint: what loads a ``.pth`` / ``.pt`` file (``trainer.deploy.checkpoint_loader``);
            not needed for ONNX files.
    """

    name = "torch"

    def __init__(self, path: str | Path, device: str = "auto", precision: str = "auto",
                 checkpoint: CheckpointLoader | None = None) -> None:
        super().__init__(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        self.device = _device(device)
        self.dtype = _dtype(precision, self.device)
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            model, self.inputs, self.outputs = load_onnx(self.path)
        elif suffix in (".pth", ".pt"):
            if checkpoint is None:
                raise ModelError(f"{self.path}: a checkpoint needs the trainer's loader (run it "
                                 "with dwpose --backend torch, or export it: dwpose export)")
            model, self.inputs, self.outputs = checkpoint(self.path)
        else:
            raise ModelError(f"{self.path}: the torch backend loads .onnx, .pth or .pt files")
        self.model = model.to(self.device, self.dtype).eval()
        self.asynchronous = self.device.type == "cuda"
        if self.asynchronous:
            self.stream = torch.cuda.Stream(self.device)
            torch.cuda.synchronize(self.device)  # weights are in place before any stream runs

    @property
    def precision(self) -> str:
        return "fp16" if self.dtype == torch.float16 else "fp32"

    def _host_inputs(self, feeds: Mapping[str, np.ndarray]) -> list[Tensor]:
        feeds = self.checked_feeds(feeds)
        tensors = [torch.from_numpy(feeds[spec.name]) for spec in self.inputs]
        return [t.pin_memory() for t in tensors] if self.asynchronous else tensors

    def _to_device(self, tensors: list[Tensor]) -> list[Tensor]:
        inputs = [t.to(self.device, non_blocking=True) for t in tensors]
        return [t.to(self.dtype) if t.is_floating_point() else t for t in inputs]

    def _forward(self, inputs: list[Tensor]) -> list[Tensor]:
        """The model on device tensors; float outputs as float32, others as declared."""
        outputs = self.model(*inputs)
        return [o.float() if o.is_floating_point() else o.to(torch_dtype(s.dtype))
                for o, s in zip(outputs, self.outputs)]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.submit(feeds).result()

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        tensors = self._host_inputs(feeds)
        names = [s.name for s in self.outputs]
        if not self.asynchronous:
            start = time.perf_counter()
            with torch.inference_mode():
                outputs = [t.numpy() for t in self._forward(self._to_device(tensors))]
            return DoneJob(dict(zip(names, outputs)), (time.perf_counter() - start) * 1e3)
        stream = self.stream
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        done = torch.cuda.Event()
        with torch.cuda.stream(stream), torch.inference_mode():
            inputs = self._to_device(tensors)
            start.record(stream)
            outputs = self._forward(inputs)
            end.record(stream)
            host = [torch.empty(o.shape, dtype=o.dtype, pin_memory=True) for o in outputs]
            for h, o in zip(host, outputs):
                h.copy_(o, non_blocking=True)
            done.record(stream)
        return _TorchJob(dict(zip(names, host)), start, end, done)


class _TorchJob(Job):
    """One batch queued on a ``TorchBackend``'s CUDA stream; outputs land in pinned memory."""

    def __init__(self, host: dict[str, Tensor], start, end, done) -> None:
        self._host, self._events = host, (start, end, done)
        self._outputs: dict[str, np.ndarray] | None = None

    def result(self) -> dict[str, np.ndarray]:
        if self._outputs is None:
            start, end, done = self._events
            done.synchronize()
            self.elapsed_ms = start.elapsed_time(end)
            self._outputs = {name: t.numpy().copy() for name, t in self._host.items()}
            self._host = {}
        return self._outputs

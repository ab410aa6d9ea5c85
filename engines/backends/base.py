"""The interface every runtime implements: load a model, describe its tensors, run a batch.

Besides the blocking ``infer``, every backend has ``submit``: it queues one batch and returns a
``Job`` whose ``result()`` waits for it. GPU backends queue the work on their own CUDA stream
and return at once, so two models (two backends, two streams) run at the same time and the
host keeps working meanwhile (``engines.overlap``). The default ``submit`` here simply runs
``infer``: correct for every runtime, concurrent for none (``asynchronous`` is False).

Dtypes: callers feed float32 blobs whatever the model's precision; a backend casts each feed
to the dtype its model declares (``cast_feeds``) and returns float outputs as float32
(``float32_outputs``), so FP16 files (float16 input and outputs) run unchanged.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (``None`` on a dynamic axis) and dtype of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {np.dtype(self.dtype).name}[{dims}]"

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether an array of ``shape`` fits (same rank, equal on every static axis)."""
        return len(shape) == len(self.shape) and all(
            want is None or got == want for got, want in zip(shape, self.shape))


def float32_outputs(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``outputs`` with float16 arrays widened to float32 (other dtypes as they are)."""
    return {name: a.astype(np.float32) if a.dtype == np.float16 else a
            for name, a in outputs.items()}


class Job(ABC):
    """One submitted batch. ``result()`` waits for it and returns the outputs by name.

    ``elapsed_ms`` is valid once ``result()`` returned: the runtime's own time for the batch,
    GPU time between CUDA events on GPU backends, the wall time of the call otherwise.
    """

    elapsed_ms: float = 0.0

    @abstractmethod
    def result(self) -> dict[str, np.ndarray]:
        """Wait until the batch is done; its outputs (host arrays owned by the caller)."""


class DoneJob(Job):
    """A job that finished before ``submit`` returned (synchronous runtimes)."""

    def __init__(self, outputs: dict[str, np.ndarray], elapsed_ms: float) -> None:
        self._outputs, self.elapsed_ms = outputs, elapsed_ms

    def result(self) -> dict[str, np.ndarray]:
        return self._outputs


class Backend(ABC):
    """One model loaded in one runtime.

    Subclasses fill ``inputs`` / ``outputs`` at load time and implement ``infer``; the
    stage classes (detector, pose) only ever talk to this interface.
    """

    #: Short name used on the command line (``--backend``).
    name: str = ""
    #: True when ``submit`` returns before the work is done (it runs on the backend's stream).
    asynchronous: bool = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []

    @abstractmethod
    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; ``feeds`` maps input names to arrays, the result maps output names."""

    def cast_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` as contiguous arrays of the dtypes the model declares for its inputs."""
        dtypes = {t.name: t.dtype for t in self.inputs}
        return {name: np.ascontiguousarray(a, dtype=dtypes.get(name, np.asarray(a).dtype))
                for name, a in feeds.items()}

    def checked_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``cast_feeds(feeds)``, after checking that every input is there and has a shape the
        model takes; else a ``ModelError`` naming the file, the input and what it expects."""
        missing = [repr(s.name) for s in self.inputs if s.name not in feeds]
        if missing:
            raise ModelError(f"{self.path}: missing input{'s' * (len(missing) > 1)} "
                             f"{', '.join(missing)}")
        feeds = self.cast_feeds(feeds)
        for spec in self.inputs:
            shape = feeds[spec.name].shape
            if not spec.fits(shape):
                raise ModelError(f"{self.path}: input {spec.name!r} has shape {shape}; the model "
                                 f"expects {spec.describe()}")
        return feeds

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        """Queue one batch; ``result()`` of the returned job waits for it.

        This default runs ``infer`` before returning. Asynchronous backends override it.
        """
        start = time.perf_counter()
        outputs = self.infer(feeds)
        return DoneJob(outputs, (time.perf_counter() - start) * 1e3)

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.infer(feeds)

    @property
    def precision(self) -> str:
        """Arithmetic the model runs in, as ``dwpose bench`` reports it (``fp32``, ``fp16``)."""
        dtype = np.dtype(self.inputs[0].dtype) if self.inputs else np.dtype(np.float32)
        return "fp16" if dtype == np.float16 else "fp32"

    #: Calls the runtime runs side by side at full speed (its streams): frames in flight for
    #: ``engines.throughput``. 1 for a runtime set up for the lowest latency.
    streams: int = 1
    #: Why the model runs on a device other than the one asked for ("" when it does not): a
    #: provider that failed to load and left ONNX Runtime on the CPU. Start-up lines show it.
    fallback: str = ""

    @property
    def on_gpu(self) -> bool:
        """Whether the model runs on a GPU: a job's ``elapsed_ms`` is then GPU time. Only GPU
        backends are asynchronous, but for the CPU ones that override this."""
        return self.asynchronous

    @property
    def max_batch(self) -> int | None:
        """Largest batch one call accepts: ``None`` when the batch axis is dynamic."""
        return self.inputs[0].shape[0] if self.inputs else None

    def describe(self) -> str:
        ins = ", ".join(t.describe() for t in self.inputs)
        outs = ", ".join(t.describe() for t in self.outputs)
        return f"inputs {ins}; outputs {outs}"

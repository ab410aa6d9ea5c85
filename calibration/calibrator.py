"""TensorRT 10 INT8 entropy calibrator fed by an ``ImageBatcher``, with a cache file.

``tensorrt`` may be absent, so the ``IInt8EntropyCalibrator2`` subclass is created on first
use (``entropy_calibrator_class``). TensorRT first asks ``read_calibration_cache``: when the
cache file exists the images are not read at all. TensorRT 11 has no calibrator (see
``engines.trt.runtime.INT8_NEEDS_TRT10``).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from engines.errors import UserError
from engines.files import write_file
from engines.trt.runtime import INT8_NEEDS_TRT10, import_cuda, import_tensorrt, major_version

from .batcher import ImageBatcher


@functools.lru_cache(maxsize=4)
def entropy_calibrator_class(trt: ModuleType, cuda: ModuleType) -> type:
    """``EntropyCalibrator(batcher, cache_file)``: a subclass of TensorRT's entropy calibrator."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Copies each batch into one device buffer and hands TensorRT its address.

        Args:
            batcher: the calibration batches; None to build from ``cache_file`` only.
            cache_file: read when it exists (no calibration), written after calibrating.
            read_cache: False to recalibrate even when ``cache_file`` exists.
        """

        def __init__(self, batcher: ImageBatcher | None, cache_file: str | Path,
                     read_cache: bool = True) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batcher = batcher
            self.cache_file = Path(cache_file)
            self.read_cache = read_cache
            self.batches_used = 0
            self._batches: Iterator[np.ndarray] | None = None
            self._device = None

        def get_batch_size(self) -> int:
            return self.batcher.batch_size if self.batcher else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.batcher is None:
                return None
            if self._batches is None:
                self._batches = iter(self.batcher)
            batch = next(self._batches, None)
            if batch is None:
                return None
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            if self._device is None:
                self._device = cuda.mem_alloc(batch.nbytes)
            cuda.memcpy_htod(self._device, batch)
            self.batches_used += 1
            print(f"  calibration batch {self.batches_used} ({len(batch)} samples)", flush=True)
            return [int(self._device)]

        def read_calibration_cache(self) -> bytes | None:
            if self.read_cache and self.cache_file.is_file():
                print(f"  using calibration cache {self.cache_file}", flush=True)
                return self.cache_file.read_bytes()
            return None

        def write_calibration_cache(self, cache) -> None:
            write_file(self.cache_file, bytes(memoryview(cache)), "calibration cache")
            print(f"  wrote calibration cache {self.cache_file}", flush=True)

        def free(self) -> None:
            """Release the device buffer (call once the build is over)."""
            if self._device is not None:
                self._device.free()
                self._device = None

    return EntropyCalibrator


def require_calibrator() -> ModuleType:
    """The installed TensorRT, when it has a calibrator (10); a ``UserError`` otherwise."""
    trt = import_tensorrt()
    if major_version(trt) >= 11 or not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise UserError(INT8_NEEDS_TRT10.format(version=trt.__version__))
    return trt


def create_entropy_calibrator(batcher: ImageBatcher | None, cache_file: str | Path,
                              read_cache: bool = True):
    """An ``EntropyCalibrator`` for the installed TensorRT (needs a GPU and TensorRT 10)."""
    trt = require_calibrator()
    return entropy_calibrator_class(trt, import_cuda())(batcher, cache_file, read_cache)

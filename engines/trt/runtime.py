"""Import TensorRT and a CUDA binding safely, and hold the GPU's primary CUDA context.

Order matters: ask the driver (through ctypes) whether a CUDA device exists before importing
``tensorrt`` or a CUDA binding; without one they can abort the interpreter instead of raising.

The CUDA binding (device memory, streams, events) is pycuda where it is installed, else
NVIDIA's cuda-python (``engines.trt.cuda_python``, the ``trt`` extra's: wheels for Windows and
Linux, where pycuda must be compiled against the CUDA toolkit).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .. import device
from ..errors import UserError
from .cuda_python import CudaPythonDriver

NO_GPU = "TensorRT needs an NVIDIA GPU with CUDA; none found (no CUDA driver or device)"
NO_TENSORRT = "tensorrt is not installed: pip install -e .[trt]"
NO_CUDA_BINDING = ("no CUDA binding for Python: pip install -e .[trt] (cuda-python; or "
                   "pycuda, where it builds)")
INT8_NEEDS_TRT10 = ("INT8 calibration needs TensorRT 10 (TensorRT {version} removed the "
                    "calibrator and the INT8 builder flag): use --fp16, or build from an ONNX "
                    "model with Q/DQ quantization nodes")


def import_tensorrt() -> ModuleType:
    """``tensorrt``, once a CUDA device is known to exist; ``UserError`` otherwise."""
    if not device.has_cuda():
        raise UserError(NO_GPU)
    try:
        import tensorrt
    except ImportError:
        raise UserError(NO_TENSORRT) from None
    return tensorrt


def import_cuda() -> ModuleType | CudaPythonDriver:
    """``pycuda.driver``, else cuda-python behind the same names, initialised; ``UserError``
    without a GPU or without either binding."""
    if not device.has_cuda():
        raise UserError(NO_GPU)
    try:
        import pycuda.driver as cuda
    except ImportError:
        try:
            from cuda.bindings import driver
        except ImportError:
            raise UserError(NO_CUDA_BINDING) from None
        cuda = CudaPythonDriver(driver)
    cuda.init()
    return cuda


def major_version(trt: ModuleType) -> int:
    """TensorRT's major version (10, 11, ...) from ``tensorrt.__version__``."""
    return int(str(trt.__version__).split(".")[0])


@dataclass(frozen=True)
class GpuInfo:
    """What an engine is tied to: the GPU model and its compute capability."""

    name: str
    compute_capability: tuple[int, int]

    def describe(self) -> str:
        major, minor = self.compute_capability
        return f"{self.name} (compute {major}.{minor})"


class CudaContext:
    """The primary CUDA context of one GPU, pushed around every piece of GPU work.

    TensorRT's runtime uses the primary context too, so the binding's buffers, streams and
    TensorRT share one context. Pushing it per call (``with ctx:``) makes the owner usable from any
    thread, e.g. a GUI's worker thread, not only from the one that loaded the model.
    """

    def __init__(self, cuda: ModuleType, device_index: int = 0) -> None:
        count = cuda.Device.count()
        if not 0 <= device_index < count:
            raise UserError(f"CUDA device {device_index} does not exist ({count} found)")
        self.device = cuda.Device(device_index)
        self.gpu = GpuInfo(str(self.device.name()),
                           tuple(int(v) for v in self.device.compute_capability()))
        self._context = self.device.retain_primary_context()

    def __enter__(self) -> CudaContext:
        self._context.push()
        return self

    def __exit__(self, *exc) -> None:
        self._context.pop()

    def close(self) -> None:
        """Release this object's hold on the primary context."""
        self._context.detach()

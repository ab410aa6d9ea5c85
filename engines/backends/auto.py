"""``--backend auto``: the runtime and precision for this machine, and the reason for them.

The rule (measured; docs/performance.md has the numbers):

1. An NVIDIA GPU and TensorRT installed (with cuda-python or pycuda): ``tensorrt`` at FP16.
2. Otherwise the CPU. With OpenVINO installed and native BF16 arithmetic in the CPU's flags
   (``avx512_bf16`` or ``amx_bf16``): ``openvino`` at BF16 (models alone, against ONNX
   Runtime FP32: 2.2-3.1x on a 2-core AMX Xeon, 1.46-1.75x on an AVX-512 BF16 EPYC; also
   1.8-2.5x ONNX Runtime INT8 and 1.15-1.6x OpenVINO INT8 on the Xeon).
3. Otherwise ``onnxruntime`` with the file's own precision: OpenVINO FP32 ran at 0.83-0.96x
   of ONNX Runtime.

INT8 is never picked by itself: it needs a model calibrated on the user's frames (``dwpose
quantize``) and moves keypoints more than BF16 does. Where it is the faster path (ONNX
Runtime INT8 on AVX2-only CPUs: 2.0x FP32 on DWPose-m) the start-up line says so.

``choose_backend`` is the single entry point: the commands and the app call it with what the
user asked for and print ``BackendChoice.describe()``. Everything it looks at (CPU flags, GPU
count, installed packages) comes through parameters with the real machine as the default, so
tests can pose as any machine.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from ..cpu import BF16_FLAGS, CpuInfo, cpu_info
from ..device import has_cuda
from ..errors import UserError


def installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


@dataclass(frozen=True)
class BackendChoice:
    """What runs the models: ``name`` (a key of ``BACKENDS``), ``device`` and ``precision`` to
    pass to it, why, and whether it is a GPU."""

    name: str
    device: str
    precision: str
    reason: str
    on_gpu: bool
    cpu: CpuInfo

    def options(self) -> dict:
        """The chosen backend's constructor options (``create_backend``) for device and
        precision; ONNX Runtime runs the file's own precision, TensorRT builds FP16 by
        default."""
        if self.name == "onnxruntime":
            return {"device": self.device}
        if self.name == "tensorrt":
            return {"precision": "fp16" if self.precision == "auto" else self.precision}
        return {"device": self.device, "precision": self.precision}

    def describe(self) -> str:
        """The start-up line: backend, precision, reason and the CPU's features."""
        precision = "the file's own precision" if self.precision == "auto" else self.precision
        return (f"backend {self.name} ({precision}, {'GPU' if self.on_gpu else 'CPU'}): "
                f"{self.reason}; CPU {self.cpu.describe()}")


def choose_backend(requested: str = "auto", device: str = "auto", precision: str = "auto",
                   cpu: CpuInfo | None = None, gpu: Callable[[], bool] = has_cuda,
                   have: Callable[[str], bool] = installed,
                   ort_cuda: Callable[[], bool] | None = None) -> BackendChoice:
    """The backend for ``requested`` ("auto" or a key of ``BACKENDS``) on this machine.

    ``device`` / ``precision``: what the user asked for ("auto": let the rule decide). ``cpu``,
    ``gpu``, ``have`` and ``ort_cuda`` describe the machine (its CPU, whether an NVIDIA GPU is
    usable, whether a package is installed, whether ONNX Runtime has its CUDA provider); the
    defaults look at the real one.
    """
    cpu = cpu or cpu_info()
    ort_cuda = ort_cuda or _ort_cuda
    if requested != "auto":
        on_gpu = requested == "tensorrt" or (
            requested in ("onnxruntime", "torch") and device in ("auto", "cuda") and gpu()
            and (device == "cuda" or (_torch_cuda() if requested == "torch" else ort_cuda())))
        return BackendChoice(requested, device, precision, "asked for (--backend)", on_gpu, cpu)
    if device == "coreml":
        return BackendChoice("onnxruntime", "coreml", _file_precision(precision),
                             "--device coreml: ONNX Runtime's CoreML provider", False, cpu)
    if device in ("auto", "cuda") and gpu():
        if have("tensorrt") and (have("cuda.bindings") or have("pycuda")):
            return BackendChoice("tensorrt", "cuda", _gpu_precision(precision),
                                 "NVIDIA GPU with TensorRT", True, cpu)
        if ort_cuda():
            return BackendChoice("onnxruntime", "cuda", _file_precision(precision),
                                 "NVIDIA GPU without TensorRT: ONNX Runtime's CUDA provider "
                                 "(pip install -e .[trt] for TensorRT)", True, cpu)
    if device == "cuda":  # ONNX Runtime says clearly why it cannot
        return BackendChoice("onnxruntime", "cuda", _file_precision(precision),
                             "--device cuda without TensorRT", True, cpu)
    if not cpu.bf16:
        if precision == "bf16":
            raise UserError(f"--precision bf16: this CPU has no BF16 arithmetic "
                            f"({cpu.features()}); use auto, fp32 (--backend openvino) or int8")
        why = ("an ARM CPU: ONNX Runtime (OpenVINO's BF16 path needs x86 AVX-512 BF16 or AMX)"
               if cpu.arm else
               "no BF16 in this CPU: ONNX Runtime, faster than OpenVINO FP32 there; an INT8 "
               "model from dwpose quantize runs 2.0x FP32 (DWPose-m, AVX2)")
        return BackendChoice("onnxruntime", "cpu", _file_precision(precision), why, False, cpu)
    if not have("openvino"):
        return BackendChoice("onnxruntime", "cpu", _file_precision(precision),
                             "OpenVINO is not installed (pip install -e .[openvino]: BF16, "
                             "several times faster on this CPU)", False, cpu)
    if precision == "fp16":
        raise UserError("--precision fp16 is a GPU precision; this machine runs the CPU: "
                        "auto, fp32, bf16 or int8")
    bf16 = " ".join(sorted(cpu.flags & BF16_FLAGS))
    return BackendChoice("openvino", "cpu", "bf16" if precision == "auto" else precision,
                         f"this CPU has BF16 ({bf16}): OpenVINO, the fastest CPU path "
                         "measured", False, cpu)


def _gpu_precision(precision: str) -> str:
    """TensorRT's precision for ``--precision`` (auto: FP16)."""
    if precision == "bf16":
        raise UserError("--precision bf16 is a CPU precision (openvino); TensorRT builds "
                        "fp16, fp32 or int8")
    return "fp16" if precision == "auto" else precision


def _file_precision(precision: str) -> str:
    """ONNX Runtime runs the model file's own precision: only ``auto`` fits it."""
    if precision != "auto":
        raise UserError(f"--precision {precision}: --backend auto chose ONNX Runtime here, "
                        "which runs the model file's own precision (for INT8 pass the "
                        ".int8.onnx from dwpose quantize)")
    return precision


def _ort_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()

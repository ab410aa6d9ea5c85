"""``--backend auto``: the runtime and precision for this machine, and the reason for them.

The rule (measured; docs/performance.md has the numbers):

1. An NVIDIA GPU and TensorRT installed (with cuda-python or pycuda): ``tensorrt`` at FP16.
2. Otherwise the CPU. With OpenVINO installed and native BF16 arithmetic in the CPU's flags
   (``avx512_bf16`` or ``amx_bf16``): ``openvino`` at BF16 (models alone, against ONNX
   Runtime FP32: 2.2-3.1x on a 2-core AMX Xeon, 1.46-1.75x on an AVX-512 BF16 EPYC; also
   1.8-2.5x ONNX Runtime INT8 and 1.15-1.6x OpenVINO INT8 on the Xeon).
3. Otherwise ``onnxruntime`` with the file's own precision: OpenVINO FP32 ran at 0.83-0.96x
   of ONNX Runtime.

4. INT8 proves itself first. Given the pose model, ``--precision auto`` on the CPU runs its
   ``<model>.int8.onnx`` (``dwpose quantize``) instead only where the file's stored
   precision-gate verdict (``engines.precision_gate``) passed on this CPU, with the runtime
   and version that will run it, and was faster than what it replaces when measured. With
   ``--backend auto`` an OpenVINO verdict comes first (NNCF's INT8 under OpenVINO was the
   fastest CPU path measured, docs/quantization.md), then, where rule 3 chose ONNX Runtime,
   an ONNX Runtime one. Otherwise the start-up reason says why not (no INT8 file, no verdict,
   a failed part, another CPU or runtime version, slower). ``--precision int8`` (or an
   ``.int8.onnx`` given as the pose model) runs it anyway, with a warning when its verdict is
   missing or failed.

``choose_backend`` is the single entry point: the commands and the app call it with what the
user asked for and print ``BackendChoice.describe()``. Everything it looks at (CPU flags, GPU
count, installed packages) comes through parameters with the real machine as the default, so
tests can pose as any machine.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

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
    pose_file: str | None = None  # the gated INT8 pose model run instead of the one given
    warning: str = ""  # said before the start-up line: an INT8 model run without a pass

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
        if self.pose_file:
            detector = ("bf16" if self.cpu.bf16 else "fp32") if self.name == "openvino" else (
                "its file's precision")
            precision = f"INT8 pose model {Path(self.pose_file).name}, detector {detector}"
        return (f"backend {self.name} ({precision}, {'GPU' if self.on_gpu else 'CPU'}): "
                f"{self.reason}; CPU {self.cpu.describe()}")


def choose_backend(requested: str = "auto", device: str = "auto", precision: str = "auto",
                   cpu: CpuInfo | None = None, gpu: Callable[[], bool] = has_cuda,
                   have: Callable[[str], bool] = installed,
                   ort_cuda: Callable[[], bool] | None = None,
                   pose: str | Path | None = None) -> BackendChoice:
    """The backend for ``requested`` ("auto" or a key of ``BACKENDS``) on this machine.

    ``device`` / ``precision``: what the user asked for ("auto": let the rule decide). ``cpu``,
    ``gpu``, ``have`` and ``ort_cuda`` describe the machine (its CPU, whether an NVIDIA GPU is
    usable, whether a package is installed, whether ONNX Runtime has its CUDA provider); the
    defaults look at the real one. ``pose``: the pose model, whose INT8 file rule 4 weighs.
    """
    cpu = cpu or cpu_info()
    choice = _runtime_choice(requested, device, precision, cpu, gpu, have, ort_cuda or _ort_cuda)
    if pose is None or choice.on_gpu or choice.device == "coreml" or choice.name not in (
            "openvino", "onnxruntime"):
        return choice
    return _int8_choice(choice, requested, precision, Path(pose), have)


def _runtime_choice(requested: str, device: str, precision: str, cpu: CpuInfo,
                    gpu: Callable[[], bool], have: Callable[[str], bool],
                    ort_cuda: Callable[[], bool]) -> BackendChoice:
    """Rules 1-3: the runtime and precision for this machine (the module docstring)."""
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


def _int8_choice(choice: BackendChoice, requested: str, precision: str, pose: Path,
                 have: Callable[[str], bool]) -> BackendChoice:
    """Rule 4: ``choice``, or the gated INT8 pose model in its place (the module docstring)."""
    from ..precision_gate import check_verdict, cpu_fingerprint
    from ..quantize import int8_path

    def verdict(file: Path, runtime: str):
        return check_verdict(file, cpu_fingerprint(runtime, "int8", choice.cpu))

    if precision == "int8" or pose.name.endswith(".int8.onnx"):  # asked for: warn only
        file = pose if pose.name.endswith(".int8.onnx") else int8_path(pose)
        found, why = verdict(file, choice.name) if file.is_file() else (None, "")
        if file.is_file() and (found is None or not found.passed):
            return replace(choice, warning=f"running INT8 {file.name} as asked, although "
                                           f"{why}")
        return choice
    if precision != "auto":
        return choice
    file = int8_path(pose)
    if not file.is_file():
        return replace(choice, reason=f"{choice.reason}; INT8: no {file.name} beside the pose "
                                      "model (dwpose quantize makes and checks one)")
    runtimes = [choice.name] if requested != "auto" else (
        (["openvino"] if have("openvino") else [])
        + (["onnxruntime"] if choice.name == "onnxruntime" else []))
    results = [(runtime, *verdict(file, runtime)) for runtime in runtimes]
    for runtime, found, _ in results:
        if found is not None and found.passed and (found.speedup or 1) >= 1:
            faster = (f", {found.speedup:.2f}x {found.speed['reference']} when measured"
                      if found.speed else "")
            return BackendChoice(runtime, "cpu", "auto", f"{file.name} passed its precision "
                                 f"gate on this CPU with {runtime} {found.fingerprint.version}"
                                 f"{faster}", False, choice.cpu, str(file))
    # the verdicts measured here say most; without any, the first runtime's reason
    reasons = [(f"{file.name} passed its precision gate but ran {found.speedup:.2f}x "
                f"{found.speed['reference']} when measured" if found.passed else why)
               for _, found, why in results if found is not None] or [results[0][2]]
    return replace(choice, reason=f"{choice.reason}; INT8 not used: {'; '.join(reasons)}")


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

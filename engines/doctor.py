"""``dwpose doctor``: what this machine can run and why, in a few seconds and one screen.

It looks at the system and Python, the CPU and its features, the NVIDIA driver and its GPUs,
each runtime (ONNX Runtime and whether its CUDA provider really loads, OpenVINO and its
devices, TensorRT and the CUDA major of its wheel, the CUDA binding, PyTorch), the cameras
that open, the model cache and the engines in it, and what ``--backend auto`` picks. Every
problem found is one line with its fix: the command to run or the wheel to take instead.

The causes it names are the ones DWPose users meet most ("the GPU is not used"): no driver,
a driver older than the CUDA of the runtime, ``onnxruntime`` installed beside
``onnxruntime-gpu`` (they share one package folder), a CUDA provider whose libraries do not
load, a TensorRT or cuda-python wheel for the other CUDA major, an engine built by another
TensorRT version, a CPU-only PyTorch on a machine with an NVIDIA GPU.

Every fact comes through ``Machine``, whose defaults look at this machine, so tests pose as
others. Nothing here imports TensorRT or a CUDA binding without a GPU (they can abort).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import platform
import re
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .cpu import CpuInfo, cpu_info
from .device import CudaDriver, cuda_driver

#: Order and names of the report's sections.
SECTIONS = ("system", "cpu", "gpu", "onnxruntime", "openvino", "tensorrt", "torch", "cameras",
            "model cache", "auto")
ORT_FLAVOURS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml",
                "onnxruntime-openvino", "onnxruntime-silicon")
#: PyTorch's CUDA wheels (the index is named after the CUDA version).
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu126"


@dataclass(frozen=True)
class Problem:
    """One thing that keeps this machine from running as it could, and its fix."""

    text: str
    fix: str


@dataclass
class Report:
    """Facts by section (one line each, in ``SECTIONS`` order) and the problems found."""

    facts: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def fact(self, section: str, text: str) -> None:
        self.facts[section] = text

    def problem(self, text: str, fix: str) -> None:
        self.problems.append(Problem(text, fix))

    def format(self) -> str:
        """The report as the terminal shows it."""
        width = max(map(len, SECTIONS))
        lines = [f"{name:<{width}}  {self.facts[name]}" for name in SECTIONS
                 if name in self.facts]
        if not self.problems:
            lines.append(f"{'problems':<{width}}  none found")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {p.text}; fix: {p.fix}" for p in self.problems]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {"facts": self.facts, "seconds": round(self.seconds, 2),
                "problems": [{"problem": p.text, "fix": p.fix} for p in self.problems]}


def _distributions() -> dict[str, str]:
    """Installed distributions: normalised name -> version."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name") or ""
        found[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return found


def _module(name: str) -> ModuleType | None:
    """The module ``name``, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


def _cameras() -> tuple[list[int], str]:
    from .camera import backend_order, probe_cameras

    return probe_cameras(4), "/".join(backend_order())


def _cache() -> Path:
    from .paths import default_cache_dir

    return default_cache_dir()


@dataclass
class Machine:
    """Where the report's facts come from (defaults: this machine)."""

    system: str = sys.platform
    driver: Callable[[], CudaDriver] = cuda_driver
    cpu: Callable[[], CpuInfo] = cpu_info
    distributions: Callable[[], dict[str, str]] = _distributions
    module: Callable[[str], ModuleType | None] = _module
    cameras: Callable[[], tuple[list[int], str]] = _cameras
    cache_dir: Callable[[], Path] = _cache
    engines: Sequence[Path] = ()


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)", version or "")
    return int(match.group(1)) if match else None


def _pip(*args: str) -> str:
    return f"{Path(sys.executable).name} -m pip " + " ".join(args)


def _system(report: Report, machine: Machine) -> None:
    bits = struct.calcsize("P") * 8
    report.fact("system", f"{platform.platform()}; Python {platform.python_version()} "
                          f"({bits}-bit) at {sys.executable}")
    if bits != 64:
        report.problem("a 32-bit Python: no runtime here has 32-bit wheels",
                       "install the 64-bit Python from python.org")


def _cpu(report: Report, machine: Machine) -> CpuInfo:
    cpu = machine.cpu()
    report.fact("cpu", f"{cpu.describe()} (features from {cpu.source})")
    return cpu


def _gpu(report: Report, machine: Machine) -> CudaDriver:
    driver = machine.driver()
    if driver.gpus:
        gpus = "; ".join(g.describe() for g in driver.gpus)
        report.fact("gpu", f"{gpus}; {driver.describe()}")
        old = [g for g in driver.gpus if g.compute_capability < (7, 5)]
        if old:
            report.problem(f"{old[0].name} is compute {old[0].compute_capability[0]}."
                           f"{old[0].compute_capability[1]}: TensorRT 10 needs 7.5 or newer",
                           f"use ONNX Runtime's CUDA provider: {_pip('install onnxruntime-gpu')}")
    else:
        report.fact("gpu", f"no NVIDIA GPU: {driver.problem or 'none found'}")
    return driver


#: Distributions that only make sense with an NVIDIA GPU.
GPU_PACKAGES = re.compile(r"tensorrt(-cu\d+)?|onnxruntime-gpu|cuda-bindings|pycuda")


def _gpu_expected(report: Report, machine: Machine, driver: CudaDriver,
                  dists: dict[str, str]) -> None:
    """GPU packages installed but no GPU usable: the driver is the cause."""
    wanted = sorted(n for n in dists if GPU_PACKAGES.fullmatch(n))
    if wanted and not driver.gpus and machine.system != "darwin":
        report.problem(f"{', '.join(wanted)} installed, but {driver.problem or 'no GPU found'}",
                       "install or update the driver of the NVIDIA GPU (nvidia.com/drivers), "
                       "then run dwpose doctor again")


def _cuda_wheels(dists: dict[str, str], pattern: str) -> dict[str, int]:
    """Distributions matching ``pattern`` (a regex with the CUDA major as group 1)."""
    return {name: int(m.group(1)) for name in dists if (m := re.fullmatch(pattern, name))}


def _onnxruntime(report: Report, machine: Machine, driver: CudaDriver,
                 dists: dict[str, str]) -> bool:
    """Returns whether the CUDA provider loads."""
    flavours = [name for name in ORT_FLAVOURS if name in dists]
    if len(flavours) > 1:
        report.problem(f"{' and '.join(flavours)} are both installed: they share the "
                       "'onnxruntime' package folder, and the last one installed wins (often "
                       "the CPU one)", _pip("uninstall -y", *flavours) + " && "
                       + _pip("install", flavours[1] if flavours[0] == "onnxruntime"
                              else flavours[0]))
    ort = machine.module("onnxruntime")
    if ort is None:
        report.fact("onnxruntime", "not installed")
        report.problem("ONNX Runtime is not installed (every command needs it)",
                       _pip("install -e ."))
        return False
    providers = list(ort.get_available_providers())
    short = ", ".join(p.replace("ExecutionProvider", "") for p in providers)
    text = f"{ort.__version__} ({', '.join(flavours) or '?'}); providers {short}"
    loads = False
    if "CUDAExecutionProvider" in providers:
        if not driver.gpus:
            text += "; CUDA provider: no GPU to run on"
        else:
            loads = _cuda_provider_loads(ort)
            text += f"; CUDA provider {'loads' if loads else 'does NOT load'}"
            if not loads:
                report.problem(*_why_cuda_provider_fails(ort, driver, dists))
    elif driver.gpus:
        text += "; no CUDA provider (the CPU build)"
    report.fact("onnxruntime", text)
    return loads


def _cuda_provider_loads(ort: ModuleType) -> bool:
    """Whether a session asked for the CUDA provider really gets it (ONNX Runtime falls back
    to the CPU without an error when its CUDA or cuDNN libraries do not load)."""
    import warnings

    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    preload = getattr(ort, "preload_dlls", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if preload is not None:
                preload()
            options = ort.SessionOptions()
            options.log_severity_level = 4
            session = ort.InferenceSession(model.SerializeToString(), options,
                                           providers=["CUDAExecutionProvider",
                                                      "CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 (any failure means: it does not load)
            return False
    return "CUDAExecutionProvider" in session.get_providers()


def _why_cuda_provider_fails(ort: ModuleType, driver: CudaDriver,
                             dists: dict[str, str]) -> tuple[str, str]:
    info = getattr(getattr(ort, "capi", None), "build_and_package_info", None)
    built_for = getattr(info, "cuda_version", None)
    major = _major(built_for)
    have = driver.cuda_version
    if major and have and have[0] < major:
        return (f"ONNX Runtime's CUDA provider is built for CUDA {built_for}; the driver "
                f"supports CUDA {have[0]}.{have[1]} only",
                "update the NVIDIA driver (nvidia.com/drivers)")
    return ("ONNX Runtime's CUDA provider does not load: its CUDA or cuDNN libraries are "
            f"missing or of another version (it is built for CUDA {built_for or '12'})",
            _pip("install", f"\"onnxruntime-gpu[cuda,cudnn]=={ort.__version__}\""))


def _openvino(report: Report, machine: Machine, cpu: CpuInfo) -> bool:
    ov = machine.module("openvino")
    if ov is None:
        report.fact("openvino", "not installed")
        if cpu.bf16:
            report.problem("OpenVINO is not installed, and this CPU has BF16: it runs the "
                           "models 1.5-3x faster than ONNX Runtime here",
                           _pip("install -e .[openvino]"))
        return False
    core = ov.Core()
    devices = list(core.available_devices)
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")) if "CPU" in devices else []
    version = ov.__version__.split("-")[0]
    report.fact("openvino", f"{version}; devices {', '.join(devices) or 'none'}; CPU "
                            f"{' '.join(caps) or 'capabilities unknown'}")
    return True


def _tensorrt(report: Report, machine: Machine, driver: CudaDriver,
              dists: dict[str, str]) -> str | None:
    """Returns the installed TensorRT's version (None when there is none)."""
    wheels = _cuda_wheels(dists, r"tensorrt-cu(\d+)(?:-bindings|-libs)?")
    version = next((dists[n] for n in ("tensorrt", *sorted(wheels)) if n in dists), None)
    binding_major = _major(dists.get("cuda-bindings"))
    binding = ("pycuda " + dists["pycuda"] if "pycuda" in dists else
               f"cuda-python {dists['cuda-bindings']}" if "cuda-bindings" in dists else None)
    if version is None:
        report.fact("tensorrt", "not installed")
        if driver.gpus:
            report.problem("TensorRT is not installed: the GPU runs ONNX Runtime or nothing, "
                           "not FP16 engines", _pip("install -e .[trt]"))
        return None
    majors = sorted(set(wheels.values()))
    text = f"{version} for CUDA {'/'.join(map(str, majors)) or '?'}; CUDA binding " \
           f"{binding or 'none'}"
    report.fact("tensorrt", text)
    have = driver.cuda_version
    if have and majors and max(majors) > have[0]:
        report.problem(f"this TensorRT is the wheel for CUDA {max(majors)}; the driver runs "
                       f"CUDA {have[0]}.{have[1]} at most",
                       f"update the NVIDIA driver, or take the CUDA {have[0]} wheel: "
                       + _pip("uninstall -y", *sorted(wheels)) + " && "
                       + _pip("install", f"\"tensorrt-cu{have[0]}=={version}\""))
    if len(majors) > 1:
        report.problem(f"TensorRT wheels for CUDA {' and '.join(map(str, majors))} are both "
                       "installed", _pip("uninstall -y", *sorted(wheels)) + " && "
                       + _pip("install", "-e", ".[trt]"))
    if binding is None:
        report.problem("TensorRT has no CUDA binding to copy data with",
                       _pip("install", "cuda-python"))
    elif have and binding_major and binding_major > have[0] and "pycuda" not in dists:
        report.problem(f"cuda-python {dists['cuda-bindings']} is for CUDA {binding_major}; "
                       f"the driver runs CUDA {have[0]}.{have[1]}",
                       _pip("install", f"\"cuda-python>=12.6,<{have[0] + 1}\""))
    if driver.gpus and machine.module("tensorrt") is None:
        report.problem(f"tensorrt {version} is installed but does not import",
                       _pip("install --force-reinstall", *sorted(wheels) or ["tensorrt"]))
    return version


def _engines(report: Report, machine: Machine, version: str | None,
             engines: Sequence[Path]) -> None:
    """Engines built by another TensorRT version (they do not load in this one)."""
    from .errors import ModelError
    from .trt.metadata import read_metadata

    if version is None:
        return
    here = version.split(".")[:3]
    for path in engines:
        try:
            meta = read_metadata(path)
        except (OSError, ModelError):
            continue
        if meta is not None and meta.tensorrt.split(".")[:3] != here:
            report.problem(f"{path} was built by TensorRT {meta.tensorrt}; this is {version}, "
                           "which cannot load it",
                           f"dwpose build --onnx {meta.onnx_path} --output {path} (or delete "
                           "it: an .onnx beside it is built again on first use)")


def _torch(report: Report, machine: Machine, driver: CudaDriver) -> None:
    torch = machine.module("torch")
    if torch is None:
        report.fact("torch", "not installed (only training and --backend torch need it)")
        return
    cuda = torch.version.cuda
    if cuda and torch.cuda.is_available():
        text = f"{torch.__version__}, CUDA {cuda}: sees {torch.cuda.get_device_name(0)}"
    else:
        text = f"{torch.__version__}, {'CUDA ' + cuda if cuda else 'CPU build'}: no GPU"
    report.fact("torch", text)
    if driver.gpus and not cuda:
        report.problem("this PyTorch is a CPU build, so training and --backend torch do not "
                       "use the NVIDIA GPU",
                       _pip("install --force-reinstall torch --index-url", TORCH_CUDA_INDEX))


def _cameras(report: Report, machine: Machine) -> None:
    from .camera import not_opened_reason

    found, backends = machine.cameras()
    if found:
        report.fact("cameras", f"{', '.join(map(str, found))} open ({backends})")
    else:
        report.fact("cameras", f"none opens ({backends}): {not_opened_reason()}")


def _cache(report: Report, machine: Machine) -> list[Path]:
    """Returns the engines in the cache."""
    from .files import check_output_dir
    from .hub import RELEASES

    cache = machine.cache_dir()
    try:
        check_output_dir(cache, "model cache")
        writable = "writable"
    except Exception as exc:  # noqa: BLE001 (reported)
        writable = "NOT writable"
        report.problem(str(exc), "set DWPOSE_HOME to a folder you can write, or pass "
                                 "--cache-dir")
    names = sorted(r.name for r in RELEASES.values() if (cache / r.filename).is_file())
    engines = sorted(cache.glob("*.engine")) if cache.is_dir() else []
    report.fact("model cache", f"{cache}: {writable}; {len(names)} model(s)"
                               f"{' (' + ', '.join(names) + ')' if names else ''}"
                               f"{f'; {len(engines)} engine(s)' if engines else ''}")
    return engines


def _auto(report: Report, cpu: CpuInfo, driver: CudaDriver, dists: dict[str, str],
          cuda_provider: bool) -> None:
    from .backends.auto import choose_backend
    from .errors import UserError

    names = {n.replace("-", "_") for n in dists} | {"onnxruntime"}
    have = {"tensorrt": "tensorrt" in names or any(n.startswith("tensorrt_cu") for n in names),
            "cuda.bindings": "cuda_bindings" in names, "pycuda": "pycuda" in names,
            "openvino": "openvino" in names}
    try:
        choice = choose_backend(cpu=cpu, gpu=lambda: bool(driver.gpus),
                                have=lambda p: have.get(p, False),
                                ort_cuda=lambda: cuda_provider)
    except UserError as exc:
        report.fact("auto", f"no choice: {exc}")
        return
    precision = "the file's precision" if choice.precision == "auto" else choice.precision
    report.fact("auto", f"backend {choice.name} ({precision}, "
                        f"{'GPU' if choice.on_gpu else 'CPU'}): {choice.reason}")


def diagnose(machine: Machine | None = None) -> Report:
    """The report of ``machine`` (this one by default)."""
    machine = machine or Machine()
    start = time.perf_counter()
    report = Report()
    dists = machine.distributions()
    _system(report, machine)
    cpu = _cpu(report, machine)
    driver = _gpu(report, machine)
    _gpu_expected(report, machine, driver, dists)
    cuda_provider = _onnxruntime(report, machine, driver, dists)
    _openvino(report, machine, cpu)
    version = _tensorrt(report, machine, driver, dists)
    _torch(report, machine, driver)
    _cameras(report, machine)
    engines = _cache(report, machine)
    _engines(report, machine, version, [*engines, *machine.engines])
    _auto(report, cpu, driver, dists, cuda_provider)
    report.seconds = time.perf_counter() - start
    return report

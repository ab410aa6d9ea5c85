"""``dwpose doctor`` names the real cause, posed machine by posed machine.

Each case is a ``Machine`` whose facts are faked the way a real one shows them: the driver as
``engines.device`` reads it, installed distributions as ``importlib.metadata`` lists them,
modules as they import (an ONNX Runtime whose session falls back to the CPU, as it does when
its CUDA libraries do not load). The default machine is a Windows desktop with a GTX 1660 Ti
and a driver for CUDA 12.4.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.cli import main
from engines.cpu import CpuInfo
from engines.device import CudaDriver, Gpu
from engines.doctor import Machine, diagnose
from engines.trt.metadata import EngineMetadata, write_engine

GTX = Gpu(0, "NVIDIA GeForce GTX 1660 Ti", (7, 5), 6 * 2 ** 30)
DRIVER_12_4 = CudaDriver("nvcuda.dll", 12040, (GTX,))
RYZEN = CpuInfo("AMD Ryzen 7 3700X 8-Core Processor", 16, frozenset({"avx2"}), "numpy")


class FakeSession:
    def __init__(self, model: bytes, options, providers: list[str], loads: bool) -> None:
        self.providers = providers if loads else ["CPUExecutionProvider"]

    def get_providers(self) -> list[str]:
        return self.providers


def onnxruntime(version: str = "1.20.1", cuda: bool = False, loads: bool = True,
                built_for: str | None = "12.2") -> SimpleNamespace:
    """An ``onnxruntime`` module: the CPU build, or the GPU build (``cuda``) whose CUDA
    provider loads or silently falls back to the CPU (``loads``)."""
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else \
        ["CPUExecutionProvider"]
    info = SimpleNamespace(cuda_version=built_for) if cuda else SimpleNamespace()
    return SimpleNamespace(
        __version__=version, get_available_providers=lambda: providers,
        SessionOptions=lambda: SimpleNamespace(log_severity_level=0),
        InferenceSession=lambda m, o, providers: FakeSession(m, o, providers, loads),
        capi=SimpleNamespace(build_and_package_info=info))


def machine(tmp_path: Path, dists: dict[str, str] | None = None, modules: dict | None = None,
            **facts) -> Machine:
    dists = {"onnxruntime": "1.20.1", **(dists or {})}
    modules = {"onnxruntime": onnxruntime(), **(modules or {})}
    facts = {"system": "win32", "driver": lambda: DRIVER_12_4, "cpu": lambda: RYZEN,
             "cameras": lambda: ([0], "msmf/dshow"), "cache_dir": lambda: tmp_path / "cache",
             **facts}
    return Machine(distributions=lambda: dists, module=lambda name: modules.get(name),
                   **facts)


def problems(report) -> list[str]:
    return [f"{p.text}; fix: {p.fix}" for p in report.problems]


def test_no_driver_is_named_when_gpu_packages_are_installed(tmp_path):
    no_driver = CudaDriver("nvcuda.dll", problem="no NVIDIA driver (nvcuda.dll not found)")
    report = diagnose(machine(tmp_path, {"tensorrt-cu12": "10.3.0", "cuda-bindings": "12.9.0"},
                              driver=lambda: no_driver))
    assert report.facts["gpu"] == "no NVIDIA GPU: no NVIDIA driver (nvcuda.dll not found)"
    (line,) = [p for p in problems(report) if "driver" in p]
    assert line.startswith("cuda-bindings, tensorrt-cu12 installed, but no NVIDIA driver "
                           "(nvcuda.dll not found); fix: install or update the driver")


def test_a_driver_older_than_the_runtimes_cuda(tmp_path):
    ort = onnxruntime(cuda=True, loads=False, built_for="13.0")
    report = diagnose(machine(tmp_path, {"onnxruntime-gpu": "1.23.0"}, {"onnxruntime": ort}))
    assert report.facts["onnxruntime"].endswith("CUDA provider does NOT load")
    assert any(p.startswith("ONNX Runtime's CUDA provider is built for CUDA 13.0; the driver "
                            "supports CUDA 12.4 only; fix: update the NVIDIA driver")
               for p in problems(report))


def test_onnxruntime_gpu_beside_onnxruntime(tmp_path):
    report = diagnose(machine(tmp_path, {"onnxruntime-gpu": "1.20.1"},
                              {"onnxruntime": onnxruntime(cuda=True)}))
    (line,) = [p for p in problems(report) if "both installed" in p]
    assert "onnxruntime and onnxruntime-gpu are both installed" in line
    pip = f"{Path(sys.executable).name} -m pip"
    assert line.endswith(f"fix: {pip} uninstall -y onnxruntime onnxruntime-gpu && {pip} "
                         "install onnxruntime-gpu")


def test_a_cuda_provider_that_fails_to_load(tmp_path):
    report = diagnose(machine(tmp_path, {"onnxruntime-gpu": "1.20.1"},
                              {"onnxruntime": onnxruntime(cuda=True, loads=False)}))
    (line,) = [p for p in problems(report) if "does not load" in p]
    assert "its CUDA or cuDNN libraries are missing or of another version" in line
    assert line.endswith('install "onnxruntime-gpu[cuda,cudnn]==1.20.1"')
    assert report.facts["auto"].startswith("backend onnxruntime (the file's precision, CPU)")


def test_a_working_cuda_provider_is_what_auto_takes_without_tensorrt(tmp_path):
    report = diagnose(machine(tmp_path, {"onnxruntime-gpu": "1.20.1"},
                              {"onnxruntime": onnxruntime(cuda=True)}))
    assert report.facts["onnxruntime"].endswith("CUDA provider loads")
    assert report.facts["auto"].startswith("backend onnxruntime (the file's precision, GPU)")


def test_a_tensorrt_wheel_for_the_other_cuda_major(tmp_path):
    dists = {"tensorrt": "10.13.3", "tensorrt-cu13": "10.13.3",
             "tensorrt-cu13-bindings": "10.13.3", "tensorrt-cu13-libs": "10.13.3",
             "cuda-bindings": "12.9.0"}
    report = diagnose(machine(tmp_path, dists, {"tensorrt": object()}))
    assert report.facts["tensorrt"] == "10.13.3 for CUDA 13; CUDA binding cuda-python 12.9.0"
    (line,) = [p for p in problems(report) if "CUDA 13" in p]
    assert line.startswith("this TensorRT is the wheel for CUDA 13; the driver runs CUDA 12.4 "
                           "at most; fix: update the NVIDIA driver, or take the CUDA 12 wheel")
    assert line.endswith('install "tensorrt-cu12==10.13.3"')
    assert report.facts["auto"] == "backend tensorrt (fp16, GPU): NVIDIA GPU with TensorRT"


def test_cuda_python_for_a_newer_cuda_than_the_driver(tmp_path):
    dists = {"tensorrt-cu12": "10.3.0", "cuda-bindings": "13.4.4"}
    report = diagnose(machine(tmp_path, dists, {"tensorrt": object()}))
    assert any(p.startswith("cuda-python 13.4.4 is for CUDA 13; the driver runs CUDA 12.4")
               and p.endswith('install "cuda-python>=12.6,<13"') for p in problems(report))


def test_an_engine_built_by_another_tensorrt(tmp_path):
    cache = tmp_path / "cache"
    meta = EngineMetadata("pose", "input", (192, 256), "RGB", None, None, 2.0, "fp16", 8, 1,
                          1024, "10.3.0", GTX.name, (7, 5), str(tmp_path / "m.onnx"), "0" * 64)
    write_engine(cache / "m.fp16.engine", meta, b"plan")
    own = tmp_path / "own.engine"
    write_engine(own, EngineMetadata(**{**meta.__dict__, "tensorrt": "10.8.0"}), b"plan")
    report = diagnose(machine(tmp_path, {"tensorrt-cu12": "10.8.0", "cuda-bindings": "12.9"},
                              {"tensorrt": object()}, engines=(own,)))
    assert report.facts["model cache"].endswith("; 1 engine(s)")
    (line,) = [p for p in problems(report) if "built by TensorRT" in p]
    assert line.startswith(f"{cache / 'm.fp16.engine'} was built by TensorRT 10.3.0; this is "
                           "10.8.0, which cannot load it; fix: dwpose build --onnx")


def test_each_absence_is_one_line(tmp_path):
    """No OpenVINO, no torch, no camera, no GPU (macOS): each is one fact, not a failure."""
    report = diagnose(machine(tmp_path, system="darwin", cameras=lambda: ([], "avfoundation"),
                              driver=lambda: CudaDriver(None, problem="no CUDA on macOS")))
    assert report.facts["openvino"] == "not installed"
    assert report.facts["torch"] == "not installed (only training and --backend torch need it)"
    assert report.facts["cameras"].startswith("none opens (avfoundation): ")
    assert report.facts["gpu"] == "no NVIDIA GPU: no CUDA on macOS"
    assert report.problems == []
    text = report.format()
    assert len(text.splitlines()) == len(report.facts) + 1
    assert text.splitlines()[-1].split() == ["problems", "none", "found"]


def test_a_cpu_only_torch_beside_a_gpu_and_a_missing_openvino_on_a_bf16_cpu(tmp_path):
    torch = SimpleNamespace(__version__="2.5.1+cpu", version=SimpleNamespace(cuda=None),
                            cuda=SimpleNamespace(is_available=lambda: False))
    bf16 = CpuInfo("Xeon", 8, frozenset({"avx2", "avx512f", "avx512_bf16"}), "numpy")
    report = diagnose(machine(tmp_path, modules={"torch": torch}, cpu=lambda: bf16))
    lines = problems(report)
    assert any("this PyTorch is a CPU build" in p and "download.pytorch.org/whl/cu" in p
               for p in lines)
    assert any(p.startswith("OpenVINO is not installed, and this CPU has BF16") for p in lines)


def test_an_unwritable_cache_is_a_problem(tmp_path):
    (tmp_path / "file").write_text("x")
    report = diagnose(machine(tmp_path, cache_dir=lambda: tmp_path / "file" / "cache"))
    assert "NOT writable" in report.facts["model cache"]
    assert any("DWPOSE_HOME" in p for p in problems(report))


def test_the_command_on_this_machine(capsys):
    code = main(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert set(data["facts"]) >= {"system", "cpu", "gpu", "onnxruntime", "cameras", "auto"}
    assert code == (1 if data["problems"] else 0)
    assert all(set(p) == {"problem", "fix"} for p in data["problems"])


@pytest.mark.parametrize("system", ["win32", "linux"])
def test_the_text_report_is_one_screen(tmp_path, system):
    report = diagnose(machine(tmp_path, {"onnxruntime-gpu": "1.20.1"},
                              {"onnxruntime": onnxruntime(cuda=True, loads=False)},
                              system=system))
    assert all(len(line) < 400 for line in report.format().splitlines())
    assert len(report.format().splitlines()) <= 16

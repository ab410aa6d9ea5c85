"""What the machine is, on every system: the CUDA driver (``engines.device``) and the CPU's
features (``engines.cpu``), with Windows' and macOS's facts posed here.

The driver is a fake library with the CUDA driver API's C signatures (values come back through
``ctypes.byref`` pointers, as from ``nvcuda.dll`` / ``libcuda.so.1``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engines import cpu, device
from engines.cpu import CpuInfo, numpy_features, parse_cpuinfo

GTX_1660_TI = ("NVIDIA GeForce GTX 1660 Ti", (7, 5), 6 * 2 ** 30)


class FakeDriver:
    """The entry points ``engines.device`` calls, answering as a driver with ``gpus``;
    ``init_error`` makes cuInit fail with that code (100: CUDA_ERROR_NO_DEVICE)."""

    ERRORS = {100: b"CUDA_ERROR_NO_DEVICE", 999: b"CUDA_ERROR_UNKNOWN"}

    def __init__(self, version: int = 12040, gpus=(GTX_1660_TI,), init_error: int = 0) -> None:
        self.version, self.gpus, self.init_error = version, list(gpus), init_error

    @staticmethod
    def _set(pointer, value) -> int:
        pointer._obj.value = value
        return 0

    def cuDriverGetVersion(self, version):  # noqa: N802
        return self._set(version, self.version)

    def cuInit(self, flags):  # noqa: N802
        return self.init_error

    def cuGetErrorName(self, code, name):  # noqa: N802
        return self._set(name, self.ERRORS.get(code, b"CUDA_ERROR_X"))

    def cuDeviceGetCount(self, count):  # noqa: N802
        return self._set(count, len(self.gpus))

    def cuDeviceGet(self, dev, ordinal):  # noqa: N802
        return self._set(dev, ordinal) if ordinal < len(self.gpus) else 101

    def cuDeviceGetName(self, buf, length, dev):  # noqa: N802
        buf.value = self.gpus[dev.value][0].encode()[:length - 1]
        return 0

    def cuDeviceGetAttribute(self, value, attribute, dev):  # noqa: N802
        major, minor = self.gpus[dev.value][1]
        return self._set(value, {75: major, 76: minor}[attribute])

    def cuDeviceTotalMem_v2(self, size, dev):  # noqa: N802
        return self._set(size, self.gpus[dev.value][2])


@pytest.fixture
def driver(monkeypatch):
    """Pose a system and driver: ``driver(system, library or None)``; returns the loads."""
    loads: list[str] = []

    def pose(system: str, library: FakeDriver | None):
        def load(name: str):
            loads.append(name)
            if library is None:
                raise FileNotFoundError(f"Could not find module '{name}'")
            return library

        monkeypatch.setattr(device, "SYSTEM", system)
        monkeypatch.setattr(device, "load_library", load)
        device.cuda_driver.cache_clear()
        return loads

    yield pose
    device.cuda_driver.cache_clear()


def test_windows_finds_the_gpu_through_nvcuda_dll(driver):
    loads = driver("win32", FakeDriver())
    found = device.cuda_driver()
    assert loads == ["nvcuda.dll"] and device.has_cuda()
    assert found.cuda_version == (12, 4) and found.problem is None
    (gpu,) = found.gpus
    assert gpu.name == "NVIDIA GeForce GTX 1660 Ti" and gpu.compute_capability == (7, 5)
    assert gpu.describe() == "NVIDIA GeForce GTX 1660 Ti (compute 7.5, 6.0 GiB)"


def test_linux_loads_libcuda(driver):
    loads = driver("linux", FakeDriver(version=13000))
    assert device.cuda_driver().cuda_version == (13, 0)
    assert loads[0].startswith("libcuda.so")


def test_macos_has_no_cuda_and_loads_nothing(driver):
    loads = driver("darwin", FakeDriver())
    assert not device.has_cuda() and loads == []
    assert "no CUDA on macOS" in device.cuda_driver().problem


@pytest.mark.parametrize(("library", "problem"), [
    (None, "no NVIDIA driver (nvcuda.dll not found)"),
    (FakeDriver(init_error=100), "cuInit says CUDA_ERROR_NO_DEVICE (100)"),
    (FakeDriver(gpus=()), "the NVIDIA driver reports no CUDA device"),
])
def test_no_gpu_comes_with_its_reason(driver, library, problem):
    driver("win32", library)
    assert not device.has_cuda() and problem in device.cuda_driver().problem


def test_a_stub_library_is_no_driver(driver):
    driver("linux", object())
    assert "not a working CUDA driver" in device.cuda_driver().problem


def test_the_real_lookup_never_raises():
    device.cuda_driver.cache_clear()
    try:
        found = device.cuda_driver()
    finally:
        device.cuda_driver.cache_clear()
    assert (found.gpus and found.version) or found.problem


# ---------------------------------------------------------------------------------- the CPU


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file() or sys.platform != "linux",
                    reason="needs Linux's /proc/cpuinfo to compare with")
def test_numpy_sees_the_flags_the_kernel_reports():
    """Windows and macOS read the features through NumPy's detection: on this machine it
    agrees with the kernel on every flag both can name."""
    kernel = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    comparable = set(cpu._NUMPY_NAMES.values())
    assert numpy_features() == kernel.flags & comparable


def test_windows_reads_the_name_from_the_registry_and_flags_from_numpy(monkeypatch):
    monkeypatch.setattr(cpu, "SYSTEM", "win32")
    monkeypatch.setattr(cpu, "_windows_name", lambda: "AMD Ryzen 9 7950X 16-Core Processor")
    monkeypatch.setattr(cpu, "numpy_features",
                        lambda: frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
    cpu.cpu_info.cache_clear()
    try:
        info = cpu.cpu_info()
    finally:
        cpu.cpu_info.cache_clear()
    assert info.name == "AMD Ryzen 9 7950X 16-Core Processor" and info.source == "numpy"
    assert info.bf16 and info.features() == "avx2 avx512f avx512_vnni avx512_bf16"


def test_a_cpu_without_known_features_says_so(monkeypatch):
    info = CpuInfo("Apple M2", 8, frozenset(), source="unknown", arch="arm")
    assert info.features() == "features unknown" and info.arm
    assert CpuInfo("M2", 8, frozenset({"asimd", "asimddp"}), "numpy", "arm").describe() == (
        "M2, 8 cores, asimd asimddp")


def test_macos_asks_sysctl_for_the_name(monkeypatch):
    monkeypatch.setattr(cpu, "SYSTEM", "darwin")
    monkeypatch.setattr(cpu, "_macos_name", lambda: "Apple M3 Pro")
    assert cpu._name() == "Apple M3 Pro"
    monkeypatch.setattr(cpu, "_macos_name", lambda: (_ for _ in ()).throw(OSError("no sysctl")))
    assert cpu._name()  # falls back to the machine type


# ------------------------------------------------- ONNX Runtime's providers, as they load


@pytest.fixture
def pose_model(tmp_path_factory):
    from tests.onnx_models import make_pose_onnx

    return make_pose_onnx(tmp_path_factory.mktemp("ort") / "pose.onnx", (48, 64))


#: ONNX Runtime's own warning when a listed provider is not there (what these tests pose).
quiet_fallback = pytest.mark.filterwarnings("ignore:Specified provider")


def claim_provider(monkeypatch, provider: str) -> None:
    """This ONNX Runtime (a CPU build) says it has ``provider``, and a GPU is there: the
    session then falls back to the CPU as a broken CUDA install makes it do."""
    import onnxruntime

    real = onnxruntime.get_available_providers()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [provider, *real])
    monkeypatch.setattr(device, "has_cuda", lambda: True)


@quiet_fallback
def test_a_cuda_provider_that_does_not_load_is_said_at_start_up(monkeypatch, pose_model):
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.errors import ModelError

    claim_provider(monkeypatch, "CUDAExecutionProvider")
    backend = OnnxRuntimeBackend(pose_model, device="auto")
    assert backend.providers == ["CPUExecutionProvider"]
    assert backend.fallback.startswith("ONNX Runtime's CUDA provider did not load")
    with pytest.raises(ModelError, match="CUDA provider did not load"):
        OnnxRuntimeBackend(pose_model, device="cuda")


@quiet_fallback
def test_the_start_up_line_carries_the_fallback(monkeypatch, pose_model, tmp_path):
    from engines.pipeline import build_pipeline
    from tests.onnx_models import make_detector_onnx

    claim_provider(monkeypatch, "CUDAExecutionProvider")
    det = make_detector_onnx(tmp_path / "det.onnx", 64, [(8, 4, 40, 60, 0.9)])
    line = build_pipeline(str(det), str(pose_model), backend="onnxruntime").describe()
    assert line.count("WARNING: ONNX Runtime's CUDA provider did not load") == 1


@quiet_fallback
def test_coreml_is_asked_for_by_name(monkeypatch, pose_model):
    from engines.backends.auto import choose_backend
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.errors import ModelError

    choice = choose_backend("auto", device="coreml", gpu=lambda: False)
    assert (choice.name, choice.device) == ("onnxruntime", "coreml")
    import onnxruntime

    if "CoreMLExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ModelError, match="no CoreML provider"):
            OnnxRuntimeBackend(pose_model, device="coreml")
    claim_provider(monkeypatch, "CoreMLExecutionProvider")
    with pytest.raises(ModelError, match="CoreML provider did not load"):
        OnnxRuntimeBackend(pose_model, device="coreml")

"""The CPU on Windows, macOS and Linux: its name, its cores and the instruction-set features
that decide the CPU runtime (``engines.backends.auto``), named as Linux names them.

- Linux: ``/proc/cpuinfo`` (the kernel's flags, AMX included; ``Features`` on ARM).
- Windows and macOS: NumPy's own run-time detection (CPUID on x86; numpy's
  ``__cpu_features__``), mapped to the kernel's names. It has no AMX flags; every CPU with AMX
  (Sapphire Rapids and later) also has ``avx512_bf16``, which is what the BF16 rule needs.
  The name comes from the registry (Windows) or ``sysctl`` (macOS).

``SYSTEM`` is ``sys.platform`` and ``CPUINFO`` the path of ``/proc/cpuinfo``; tests set both.
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: The operating system whose rules apply (``sys.platform``); tests set another.
SYSTEM = sys.platform
CPUINFO = Path("/proc/cpuinfo")

#: Flags that decide or explain the CPU choice, in the order they are printed.
X86_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
                "amx_int8")
#: ARM: NEON (asimd), its int8 dot product, half-precision arithmetic, SVE.
ARM_FEATURES = ("asimd", "asimddp", "asimdhp", "sve")
CPU_FEATURES = X86_FEATURES + ARM_FEATURES
#: Flags with native BF16 arithmetic (dot products in BF16): OpenVINO's BF16 path.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: NumPy's feature names -> the kernel's.
_NUMPY_NAMES = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni",
                "AVX512BF16": "avx512_bf16", "ASIMD": "asimd", "ASIMDDP": "asimddp",
                "ASIMDHP": "asimdhp", "SVE": "sve"}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name, core count, the flags of ``CPU_FEATURES`` it has, and where they
    were read (``source``: ``/proc/cpuinfo``, ``numpy`` or ``unknown``)."""

    name: str
    cores: int
    flags: frozenset[str]
    source: str = "/proc/cpuinfo"
    arch: str = ""  # "x86" or "arm"; "" = this machine's

    @property
    def bf16(self) -> bool:
        return bool(self.flags & BF16_FLAGS)

    @property
    def arm(self) -> bool:
        """An ARM CPU (``arch``, else this machine's type)."""
        return (self.arch or _arch()) == "arm"

    def features(self) -> str:
        """The decisive flags present, space separated (what is missing when none is)."""
        present = [f for f in CPU_FEATURES if f in self.flags]
        if present:
            return " ".join(present)
        if self.source == "unknown":
            return "features unknown"
        return "no NEON" if self.arm else "no AVX2"

    def describe(self) -> str:
        return f"{self.name}, {self.cores} cores, {self.features()}"


def _arch() -> str:
    return "arm" if platform.machine().lower() in ("arm64", "aarch64") else "x86"


def parse_cpuinfo(text: str) -> CpuInfo:
    """A ``CpuInfo`` from the text of ``/proc/cpuinfo`` (its first processor; x86 lists
    ``flags``, ARM ``Features``)."""
    default = platform.machine() or "CPU"
    name, flags, arch = default, frozenset(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and name == default:
            name = value.strip()
        elif key in ("flags", "Features") and not arch:
            flags = frozenset(value.split()) & frozenset(CPU_FEATURES)
            arch = "x86" if key == "flags" else "arm"
    return CpuInfo(name, os.cpu_count() or 1, flags, arch=arch)


def numpy_features() -> frozenset[str]:
    """The flags of ``CPU_FEATURES`` that NumPy detected at run time."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as found
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as found
    return frozenset(_NUMPY_NAMES[k] for k, on in found.items() if on and k in _NUMPY_NAMES)


def _windows_name() -> str | None:
    import winreg

    key = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as handle:
        return str(winreg.QueryValueEx(handle, "ProcessorNameString")[0]).strip()


def _macos_name() -> str | None:
    done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                          text=True, timeout=5, check=False)
    return done.stdout.strip() or None


def _name() -> str:
    """The model name the system reports (the machine type when it reports none)."""
    read = {"win32": _windows_name, "darwin": _macos_name}.get(SYSTEM)
    try:
        name = read() if read else None
    except (OSError, ImportError, subprocess.SubprocessError):
        name = None
    return name or platform.processor() or platform.machine() or "CPU"


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (see the module docstring for where each fact comes from)."""
    if SYSTEM.startswith("linux") and CPUINFO.is_file():
        return parse_cpuinfo(CPUINFO.read_text(errors="replace"))
    try:
        flags, source = numpy_features(), "numpy"
    except ImportError:
        flags, source = frozenset(), "unknown"
    return CpuInfo(_name(), os.cpu_count() or 1, flags, source)

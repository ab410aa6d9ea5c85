"""Which backends can run here and which models there are, for the model chooser.

A model is a release name of ``engines.hub`` (cached by ``dwpose fetch``) or a file path.
A backend is a key of ``engines.backends.BACKENDS``; by the registry's convention the key is
also the runtime's Python package, so "not importable" is checked without importing it.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from engines.backends import BACKENDS
from engines.backends.auto import choose_backend
from engines.device import has_cuda
from engines.hub import RELEASES, Release, cached_path

#: Backends that only run on an NVIDIA GPU (torch also runs on the CPU).
GPU_BACKENDS = frozenset({"tensorrt"})


def backend_names() -> list[str]:
    """The backends to offer: ``auto`` (the machine's choice, ``engines.backends.auto``) and
    every runtime."""
    return ["auto", *BACKENDS]


@functools.lru_cache(maxsize=1)
def auto_choice() -> str:
    """What ``auto`` runs here, for the status bar: " = openvino bf16"."""
    choice = choose_backend("auto")
    precision = "" if choice.precision == "auto" else f" {choice.precision}"
    return f" = {choice.name}{precision}"


def backend_problem(name: str) -> str | None:
    """Why backend ``name`` cannot run here (None when it can; ``auto`` always can)."""
    if name == "auto":
        return None
    if name not in BACKENDS:
        return f"unknown backend {name!r}"
    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed"
    if name in GPU_BACKENDS and not has_cuda():
        return f"{name} needs an NVIDIA GPU"
    return None


def release_names(stage: str) -> list[str]:
    """Released models of ``stage`` ("detector" or "pose"), in the hub's order."""
    return [r.name for r in RELEASES.values() if r.stage == stage]


def is_cached(name: str) -> bool:
    return cached_path(name).exists()


def missing_release(spec: str, stage: str) -> Release | None:
    """The release to download when ``spec`` names one of ``stage`` that is not cached yet."""
    release = RELEASES.get(spec)
    if release is None or release.stage != stage or Path(spec).exists() or is_cached(spec):
        return None
    return release


def model_label(spec: str) -> str:
    """Short name of a model for the status bar: the release name or the file name."""
    return spec if spec in RELEASES else Path(spec).name

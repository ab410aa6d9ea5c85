"""Shared fixtures: test models with the official I/O, the real data, the references.

The real data (the YOLOX-Nano detector, COCO images, videos) comes through ``need`` and
``need_dir``: from ../shared, the model cache or a download (``tests/realdata.py``), else the
test skips with the reason for each. The parity references CI installs (xtcocotools) go
through ``need_reference``: with ``REQUIRE_REFERENCES=1`` (set by ``.ci/run``) a missing one
fails the test instead of skipping it.
"""
from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests import fake_trt, realdata
from tests.onnx_models import make_pose_onnx

REQUIRE_ENV = "REQUIRE_REFERENCES"


def need(path: str) -> Path:
    """The real file at ``path`` under shared/data, or a skip that says how to get it."""
    try:
        return realdata.resolve(path)
    except realdata.Missing as exc:
        pytest.skip(str(exc))


def need_dir(folder: str) -> Path:
    """The folder with every real file under ``folder`` (shared/data layout), or a skip."""
    try:
        return realdata.resolve_dir(folder)
    except realdata.Missing as exc:
        pytest.skip(str(exc))


def need_reference(why: str) -> None:
    """A parity reference is missing: skip, or fail when ``$REQUIRE_REFERENCES`` is 1."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1: the references must be installed)")
    pytest.skip(why)


def pytest_terminal_summary(terminalreporter) -> None:
    """A line counting the parity tests run ('parity' in their id) by outcome."""
    counts = Counter()
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            counts[outcome] += "parity" in getattr(report, "nodeid", "")
    if sum(counts.values()):
        text = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
        terminalreporter.write_line(f"parity tests: {text}")


@pytest.fixture(autouse=True)
def _keep_sigchld():
    """Give each test the SIGCHLD handling it started with. A torch DataLoader with worker
    processes installs a process-wide SIGCHLD handler that stays after the loader is gone;
    with it, a later test that signals its subprocesses crashed the test process (SIGSEGV).
    Windows has no SIGCHLD."""
    if not hasattr(signal, "SIGCHLD"):
        yield
        return
    before = signal.getsignal(signal.SIGCHLD)
    yield
    signal.signal(signal.SIGCHLD, before)


@pytest.fixture(params=fake_trt.LAYERS)
def fake(monkeypatch, request) -> fake_trt.FakeGpu:
    """A fake TensorRT 10 on a fake GTX 1660 Ti, for this test only (tests/fake_trt), once
    with each CUDA binding the runtime can use: pycuda and cuda-python."""
    return fake_trt.install(monkeypatch, layer=request.param)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def pose384(model_dir) -> Path:
    """DWPose-l-shaped: input [B,3,384,288] -> simcc_x [B,133,576], simcc_y [B,133,768]."""
    return make_pose_onnx(model_dir / "pose_384x288.onnx", (288, 384))


@pytest.fixture(scope="session")
def pose256(model_dir) -> Path:
    """DWPose-m-shaped: input [B,3,256,192] -> simcc_x [B,133,384], simcc_y [B,133,512]."""
    return make_pose_onnx(model_dir / "pose_256x192.onnx", (192, 256))


@pytest.fixture(scope="session")
def pose256_static(model_dir) -> Path:
    """The same 256x192 network exported with a fixed batch of 1 (the released files)."""
    return make_pose_onnx(model_dir / "pose_256x192_b1.onnx", (192, 256), batch=1)


@pytest.fixture(scope="session")
def yolox_nano() -> Path:
    """The real Megvii YOLOX-Nano COCO detector (416x416)."""
    return need("models/yolox_nano.onnx")


@pytest.fixture(scope="session")
def coco_dir() -> Path:
    """The 4 real COCO val2017 images with their COCO-WholeBody annotations."""
    return need_dir("coco_wholebody")


@pytest.fixture(scope="session")
def coco(coco_dir) -> dict:
    """The real COCO-WholeBody annotations of the 4 images (14 persons)."""
    with open(coco_dir / "test_coco_wholebody.json") as f:
        return json.load(f)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

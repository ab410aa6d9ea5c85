"""Shared fixtures: test models with the official I/O, and the real data in ../shared."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_models import make_pose_onnx

#: The real data: ../shared beside the checkout, or $DWPOSE_SHARED (a machine that gets only
#: the repository, e.g. the GPU check's copy in ./shared).
SHARED = Path(os.environ.get("DWPOSE_SHARED") or Path(__file__).resolve().parents[2] / "shared")
SHARED_DATA = SHARED / "data"
YOLOX_NANO = SHARED_DATA / "models" / "yolox_nano.onnx"
COCO_DIR = SHARED_DATA / "coco_wholebody"
VIDEO_DIR = SHARED_DATA / "video"


def need_shared(path: Path) -> Path:
    """Skip (with the reason) when the project's shared data is not next to the checkout."""
    if not path.exists():
        pytest.skip(f"{path} not found: the real test data lives in ../shared beside the "
                    "checkout (a user's clone does not have it)")
    return path


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
    return make_pose_onnx(model_dir / "pose_256x192_b1.onnx", (192, 256), dynamic_batch=False)


@pytest.fixture(scope="session")
def yolox_nano() -> Path:
    return need_shared(YOLOX_NANO)


@pytest.fixture(scope="session")
def coco() -> dict:
    """The real COCO-WholeBody annotations of the 4 images in ../shared."""
    with open(need_shared(COCO_DIR / "test_coco_wholebody.json")) as f:
        return json.load(f)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

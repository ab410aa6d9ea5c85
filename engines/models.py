"""What each stage needs of a model file, and the check that says clearly when it does not fit.

A model given by path is checked when it is loaded: a missing file, a file that is not a model,
or a model whose inputs/outputs do not fit the stage raises ``ModelError`` with one line naming
the file, what was expected and what was found.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .backends import Backend, create_backend
from .errors import ModelError

YOLOX_STRIDES = (8, 16, 32)
YOLOX_EXPECTED = "a YOLOX detector: one input [1,3,S,S] (S divisible by 32), one output [1,N,85]"
POSE_EXPECTED = ("an RTMPose/DWPose SimCC model: input 'input' [B,3,H,W], outputs "
                 "'simcc_x' [B,133,W*k] and 'simcc_y' [B,133,H*k]")


@dataclass(frozen=True)
class DetectorIO:
    input_name: str
    output_name: str
    input_size: int  # S of the square S x S network input


@dataclass(frozen=True)
class PoseIO:
    input_size: tuple[int, int]  # (w, h) of the network input
    num_keypoints: int
    split_ratio: float  # SimCC bins per input pixel (2.0 for every released model)


def _mismatch(backend: Backend, expected: str, why: str) -> ModelError:
    hint = ""
    names = {t.name for t in backend.outputs}
    if {"simcc_x", "simcc_y"} <= names and "YOLOX" in expected:
        hint = " (this looks like a pose model: pass it as the pose model)"
    elif len(backend.outputs) == 1 and "SimCC" in expected:
        hint = " (this looks like a detector: pass it as the detector)"
    return ModelError(
        f"{backend.path}: {why}; expected {expected}; found {backend.describe()}{hint}")


def yolox_num_anchors(size: int) -> int:
    return sum((size // s) ** 2 for s in YOLOX_STRIDES)


def check_detector(backend: Backend) -> DetectorIO:
    """Validate a YOLOX model and return its input size (416 for nano/tiny, 640 for s..x)."""
    if len(backend.inputs) != 1 or len(backend.outputs) != 1:
        raise _mismatch(backend, YOLOX_EXPECTED, "wrong number of inputs/outputs")
    inp, out = backend.inputs[0], backend.outputs[0]
    if len(inp.shape) != 4 or inp.shape[1] != 3:
        raise _mismatch(backend, YOLOX_EXPECTED, "input is not a 3-channel NCHW image")
    h, w = inp.shape[2:]
    if h is None or h != w or h % 32:
        raise _mismatch(backend, YOLOX_EXPECTED, "input is not a static square multiple of 32")
    if len(out.shape) != 3 or out.shape[2] != 85:
        raise _mismatch(backend, YOLOX_EXPECTED, "output is not [1,N,85] (80 COCO classes)")
    if out.shape[1] not in (None, yolox_num_anchors(h)):
        raise _mismatch(backend, YOLOX_EXPECTED,
                        f"output has {out.shape[1]} anchors, {yolox_num_anchors(h)} fit a "
                        f"{h}x{h} input (raw output without NMS needed)")
    return DetectorIO(inp.name, out.name, h)


def check_pose(backend: Backend) -> PoseIO:
    """Validate a SimCC pose model and return its input size, keypoints and split ratio."""
    specs = {t.name: t for t in backend.outputs}
    if [t.name for t in backend.inputs] != ["input"] or set(specs) != {"simcc_x", "simcc_y"}:
        raise _mismatch(backend, POSE_EXPECTED, "wrong input/output names")
    inp, sx, sy = backend.inputs[0], specs["simcc_x"], specs["simcc_y"]
    if len(inp.shape) != 4 or inp.shape[1] != 3 or None in inp.shape[2:]:
        raise _mismatch(backend, POSE_EXPECTED, "input is not a static-size 3-channel image")
    h, w = inp.shape[2:]
    if len(sx.shape) != 3 or len(sy.shape) != 3 or None in sx.shape[1:] + sy.shape[1:]:
        raise _mismatch(backend, POSE_EXPECTED, "SimCC outputs are not [B,K,bins]")
    if sx.shape[1] != 133 or sy.shape[1] != 133:
        raise _mismatch(backend, POSE_EXPECTED, "not 133 COCO-WholeBody keypoints")
    kx, ky = sx.shape[2] / w, sy.shape[2] / h
    if kx != ky or kx < 1:
        raise _mismatch(backend, POSE_EXPECTED, "SimCC bins do not match the input size")
    return PoseIO((w, h), sx.shape[1], kx)


def load_model(path: str | Path, stage: str, backend: str = "onnxruntime",
               **options) -> tuple[Backend, DetectorIO | PoseIO]:
    """Load ``path`` for ``stage`` ("detector" or "pose") and check it fits."""
    checks = {"detector": check_detector, "pose": check_pose}
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: {stage} model file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; expected a {stage} model file (.onnx)")
    model = create_backend(backend, path, **options)
    return model, checks[stage](model)

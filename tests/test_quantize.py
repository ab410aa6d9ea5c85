"""INT8 quantization for the CPU: the quantized file runs in the pipeline, the agreement
measures are right on known answers, and mistakes give clear errors."""
from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest

import app.cli as cli
from calibration.batcher import ImageBatcher
from engines.detectors import YOLOX
from engines.models import load_model
from engines.pipeline import build_pipeline
from engines.pose import RTMPose
from engines.quantize import (
    QuantizeError,
    detector_agreement,
    pose_agreement,
    quantize,
    speed,
)
from tests.onnx_models import make_detector_onnx, make_pose_onnx

POSE_SIZE = (48, 64)  # (w, h)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """8 random 64x48 images (the pose input size, so a whole-image box crops 1:1)."""
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(3)
    for i in range(8):
        cv2.imwrite(str(folder / f"f{i}.png"), rng.integers(0, 255, (64, 48, 3), np.uint8))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qm")
    return (make_pose_onnx(folder / "pose.onnx", POSE_SIZE),
            make_detector_onnx(folder / "det.onnx", 64, [(8, 4, 40, 60, 0.9)]))


@pytest.mark.parametrize("fmt, op", [("qoperator", "QLinearConv"), ("qdq", "QuantizeLinear")])
def test_quantized_pose_model_runs_in_the_pipeline(models, frames, tmp_path, fmt, op):
    pose, det = models
    calls = []
    out = quantize(pose, tmp_path / "pose.int8.onnx", ImageBatcher(frames, pose, batch_size=2),
                   fmt=fmt, progress=calls.append)
    assert calls == [1, 2, 3, 4]  # 8 frames in batches of 2, reported one by one
    assert op in {n.op_type for n in onnx.load(str(out)).graph.node}
    assert not list(out.parent.glob(".*.part*"))  # no temporary file is left
    pipeline = build_pipeline(str(det), str(out), device="cpu")
    result = pipeline(cv2.imread(str(frames / "f0.png")))
    assert result.keypoints.shape == (1, 133, 2) and np.isfinite(result.keypoints).all()


class _Peaks(RTMPose):
    """Pose stage whose SimCC logits peak at fixed bins, whatever the crop."""

    def __init__(self, backend, x_bin: int, y_bin: int) -> None:
        super().__init__(backend)
        self.bins = x_bin, y_bin

    def infer(self, blob):
        n, (w, h) = len(blob), self.input_size
        sx, sy = np.zeros((n, 133, w * 2), np.float32), np.zeros((n, 133, h * 2), np.float32)
        sx[:, :, self.bins[0]], sy[:, :, self.bins[1]] = 0.9, 0.8
        return sx, sy


def test_pose_agreement_known_shift(models, frames):
    backend = load_model(models[0], "pose")[0]
    images = [cv2.imread(str(p)) for p in sorted(frames.glob("*.png"))]
    ref = _Peaks(backend, 40, 60)
    same = pose_agreement(ref, _Peaks(backend, 40, 60), images)
    assert same.persons == 8 and same.mean_px == 0 and same.pck == {0.01: 1.0, 0.05: 1.0}
    # 6 bins = 3 input pixels along x; the 48x64 whole-image box becomes a 60x80 crop, so
    # 3 input pixels are 3.75 image pixels, 3.75 / 80 = 4.7% of the crop's long side.
    shifted = pose_agreement(ref, _Peaks(backend, 46, 60), images)
    assert shifted.mean_px == pytest.approx(3.75, abs=1e-4)
    assert shifted.mean_rel == pytest.approx(3.75 / 80, abs=1e-6)
    assert shifted.pck == {0.01: 0.0, 0.05: 1.0} and shifted.score_diff == 0
    # Boxes from a finder: two persons per image, each compared.
    two = pose_agreement(ref, _Peaks(backend, 46, 60), images[:2],
                         lambda img: np.array([[0, 0, 48, 64], [0, 0, 24, 32]], np.float32))
    assert two.persons == 4


def test_detector_agreement_known_iou(tmp_path):
    def detector(name, box):
        return YOLOX(load_model(make_detector_onnx(tmp_path / name, 416, [box]), "detector")[0])

    ref = detector("a.onnx", (10, 10, 110, 110, 0.9))
    images = [np.zeros((416, 416, 3), np.uint8)] * 3
    assert detector_agreement(ref, ref, images).mean_iou == pytest.approx(1.0)
    part = detector_agreement(ref, detector("b.onnx", (10, 10, 110, 85, 0.9)), images)
    assert part.images == 3 and part.boxes == 3 and part.found == 1.0
    assert part.mean_iou == pytest.approx(0.75, abs=1e-3) and part.count_diff == 0
    none = detector_agreement(ref, detector("c.onnx", (200, 200, 300, 300, 0.2)), images)
    assert none.found == 0 and none.mean_iou == 0 and none.count_diff == 1


def test_speed_alternates_and_reports_both():
    calls = []
    a, b = speed(lambda: calls.append("a"), lambda: calls.append("b"), runs=4, warmup=1)
    assert calls.count("a") == calls.count("b") == 5 and a >= 0 and b >= 0
    assert calls[:4] == ["b", "a", "a", "b"]  # the order flips every round


def test_batcher_split_is_disjoint(models, frames):
    batcher = ImageBatcher(frames, models[0], batch_size=2)
    first, rest = batcher.split(5)
    assert first.items + rest.items == batcher.items and len(first.items) == 5
    assert len(list(first)) == 2 and len(list(rest)) == 1  # 5 -> 2 batches, 3 -> 1


def test_quantize_errors(models, tmp_path):
    with pytest.raises(QuantizeError, match="unknown format"):
        quantize(models[0], tmp_path / "x.onnx", [], fmt="int4")
    with pytest.raises(QuantizeError, match="no calibration batch"):
        quantize(models[0], tmp_path / "x.onnx", [])
    assert not (tmp_path / "x.onnx").exists()


def test_cli_quantizes_and_reports(models, frames, tmp_path, capsys):
    report = tmp_path / "r.json"
    code = cli.main(["quantize", "--onnx", str(models[0]), "--images", str(frames),
                     "--frames", "4", "--holdout", "3", "--batch", "2",
                     "--output", str(tmp_path / "p8.onnx"), "--json", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "calibrating: 2 batch(es)" in out and "PCK@0.05" in out and "x\n" in out
    data = json.loads(report.read_text())
    assert data["calibration_frames"] == 4 and data["holdout_frames"] == 3
    assert data["agreement"]["persons"] == 3 and data["speedup"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--onnx", "{missing}"], "no such ONNX file"),
    (["--onnx", "{pose}", "--output", "{pose}"], "would overwrite"),
    (["--onnx", "{pose}", "--images", "{one}"], "at least 2 frames"),
])
def test_cli_errors(models, frames, tmp_path, capsys, argv, message):
    one = tmp_path / "one"
    one.mkdir()
    cv2.imwrite(str(one / "a.png"), np.zeros((64, 48, 3), np.uint8))
    names = {"missing": tmp_path / "nope.onnx", "pose": models[0], "one": one}
    argv = [a.format(**names) for a in argv]
    if "--images" not in argv:
        argv += ["--images", str(frames)]
    assert cli.main(["quantize", *argv]) == 2
    assert message in capsys.readouterr().err


def test_old_opset_models_are_upgraded_for_per_channel_qdq(frames, tmp_path):
    """The released YOLOX files are opset 11, whose DequantizeLinear has no per-channel axis."""
    model = onnx.load(str(make_pose_onnx(tmp_path / "p17.onnx", POSE_SIZE)))
    model.opset_import[0].version = 11  # its ops (Conv, ReduceMean, MatMul) are all valid at 11
    old = tmp_path / "p11.onnx"
    onnx.save(model, str(old))
    out = quantize(old, tmp_path / "p11.int8.onnx", ImageBatcher(frames, old, batch_size=4))
    assert load_model(out, "pose")[0].max_batch is None


def test_pose_head_stays_float(models, frames, tmp_path):
    """A pose model's convolutions are quantized, its SimCC matrix products are not."""
    pose, _ = models
    out = quantize(pose, tmp_path / "head.int8.onnx", ImageBatcher(frames, pose, batch_size=2))
    graph = onnx.load(str(out)).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    by_op = {}
    for node in graph.node:
        by_op.setdefault(node.op_type, []).append(node)
    assert all(set(n.input) & dequantized for n in by_op["Conv"])
    assert not any(set(n.input) & dequantized for n in by_op["MatMul"])

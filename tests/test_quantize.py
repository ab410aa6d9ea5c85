"""INT8 quantization for the CPU: the quantized files (ONNX Runtime's quantizer, NNCF for
OpenVINO) run in the pipeline and in integer kernels, the detector agreement is right on known
answers, and mistakes give clear errors. The precision gate has tests/test_precision_gate.py."""
from __future__ import annotations

import importlib.util
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
    AccuracyControl,
    QuantizeError,
    detector_agreement,
    int8_path,
    quantize,
    quantize_nncf,
    speed,
)
from tests.images import noise_images
from tests.onnx_models import make_detector_onnx, make_pose_onnx

POSE_SIZE = (48, 64)  # (w, h)
needs_nncf = pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="nncf and openvino are not installed (pip install -e .[openvino])")


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """8 random 64x48 images (the pose input size, so a whole-image box crops 1:1)."""
    return noise_images(tmp_path_factory.mktemp("frames"), 8, seed=3)


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


def test_cli_quantizes_and_gates(models, frames, tmp_path, capsys):
    report = tmp_path / "r.json"
    out_file = tmp_path / "p8.onnx"
    code = cli.main(["quantize", "--onnx", str(models[0]), "--images", str(frames),
                     "--runtime", "onnxruntime", "--frames", "4", "--holdout", "3",
                     "--batch", "2", "--output", str(out_file), "--json", str(report)])
    data = json.loads(report.read_text())
    assert code == (0 if data["gate"]["passed"] else 1)
    out = capsys.readouterr().out
    assert "calibrating: 2 batch(es)" in out and "precision gate (each part: " in out
    assert data["calibration_frames"] == 4 and data["holdout_frames"] == 3
    gate = data["gate"]
    assert gate["persons"] == 3 and gate["fingerprint"]["runtime"] == "onnxruntime"
    assert gate["speed"]["reference"] == "onnxruntime fp32" and gate["speed"]["candidate_ms"] > 0
    assert json.loads((tmp_path / "p8.gate.json").read_text())["verdicts"] == [gate]


def test_cli_quantizes_a_detector_with_its_box_agreement(models, frames, tmp_path, capsys):
    assert cli.main(["quantize", "--onnx", str(models[1]), "--images", str(frames),
                     "--runtime", "onnxruntime", "--frames", "4", "--holdout", "2"]) == 0
    out = capsys.readouterr().out
    assert "found at IoU >= 0.5" in out and "INT8" in out
    assert int8_path(models[1]).is_file() and not (models[1].parent / "det.int8.gate.json"
                                                   ).exists()


@pytest.mark.parametrize("argv, message", [
    (["--onnx", "{missing}"], "no such ONNX file"),
    (["--onnx", "{pose}", "--output", "{pose}"], "would overwrite"),
    (["--onnx", "{pose}", "--images", "{one}"], "at least 2 frames"),
    (["--onnx", "{pose}", "--runtime", "onnxruntime", "--plain"],
     "--plain applies to --runtime openvino"),
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


@needs_nncf
@pytest.mark.parametrize("head_float", [True, False])
def test_nncf_runs_in_integer_kernels_under_openvino(models, frames, tmp_path, head_float):
    """NNCF's QDQ file: OpenVINO runs its convolutions in u8/i8 kernels; the SimCC head's
    matrix products stay float unless asked, and the outputs stay close to FP32."""
    from engines.backends import create_backend

    pose, _ = models
    out = quantize_nncf(pose, tmp_path / "n.int8.onnx", ImageBatcher(frames, pose, batch_size=2),
                        head_float=head_float)
    assert not list(tmp_path.glob(".*.part*"))
    backend = create_backend("openvino", out, precision="int8", compile_cache="")
    kernels = backend.runtime_precisions()
    convs = {p for (layer, p) in kernels if layer == "Convolution"}
    assert convs and convs <= {"u8", "i8"}
    heads = {p for (layer, p) in kernels if layer in ("MatMul", "FullyConnected")}
    assert heads and (heads == {"f32"}) == head_float
    blob = np.random.default_rng(1).normal(0, 1, (2, 3, 64, 48)).astype(np.float32)
    got = backend.infer({"input": blob})
    want = load_model(pose, "pose")[0].infer({"input": blob})
    for name in want:
        scale = np.abs(want[name]).max()
        assert np.abs(got[name] - want[name]).max() < 0.1 * scale


@needs_nncf
def test_accuracy_control_asks_the_gate_metric(models, frames, tmp_path):
    """NNCF's accuracy-aware quantization calls the gate's OKS: 1 for FP32 itself, and the
    quantized model's value per frame."""
    pose, _ = models
    reference = RTMPose(load_model(pose, "pose")[0])
    images = [cv2.imread(str(p)) for p in sorted(frames.glob("*.png"))[:3]]
    control = AccuracyControl(0.5, reference, images)
    real, calls = control.validate, []

    def validate(model, items):
        items = list(items)
        result = real(model, items)
        calls.append((any(n.op_type == "QuantizeLinear" for n in model.graph.node),
                      len(items), *result))
        return result

    control.validate = validate
    out = quantize_nncf(pose, tmp_path / "a.int8.onnx", ImageBatcher(frames, pose, batch_size=2),
                        accuracy=control)
    assert out.is_file()
    fp32 = [c for c in calls if not c[0] and c[1] == 3]
    int8 = [c for c in calls if c[0] and c[1] == 3]
    assert fp32 and int8
    assert fp32[0][2] == pytest.approx(1.0, abs=1e-3) and len(fp32[0][3]) == 3
    assert all(0 <= v <= 1 for c in int8 for v in c[3]) and int8[0][2] == np.mean(int8[0][3])


def test_nncf_errors(models, tmp_path):
    pytest.importorskip("nncf")
    with pytest.raises(QuantizeError, match="no calibration batch"):
        quantize_nncf(models[0], tmp_path / "x.onnx", [])
    assert not (tmp_path / "x.onnx").exists()

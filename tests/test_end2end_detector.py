"""The end2end family on real weights: YOLOX-Nano with decode + NMS inside the graph (the
benchmark's ``wrap_end2end``) finds the persons our raw YOLOX pipeline finds."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import app.cli as cli
from benchmarks.end2end_detector import main, wrap_end2end
from engines.detectors import load_detector
from engines.detectors.end2end import End2EndDetector
from engines.detectors.yolox import YOLOX
from engines.errors import ModelError
from tests.conftest import need
from tests.onnx_models import make_pose_onnx


@pytest.fixture(scope="module")
def end2end_nano(yolox_nano, tmp_path_factory):
    return wrap_end2end(yolox_nano, tmp_path_factory.mktemp("e2e") / "nano_end2end.onnx")


def _frames(coco_dir):
    images = [cv2.imread(str(p)) for p in sorted(coco_dir.glob("*.jpg"))]
    cap = cv2.VideoCapture(str(need("video/single_person_dance.mp4")))
    for _ in range(3):
        ok, frame = cap.read()
        assert ok
        images.append(frame)
    return images


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_parity_end2end_boxes_equal_the_raw_pipelines(yolox_nano, end2end_nano, coco_dir, backend):
    raw = load_detector(yolox_nano, "onnxruntime")
    e2e = load_detector(end2end_nano, backend, norm="yolox", device="cpu")
    assert isinstance(raw, YOLOX) and isinstance(e2e, End2EndDetector)
    found = 0
    for image in _frames(coco_dir):
        want, got = raw(image), e2e(image)
        assert len(got.boxes) == len(want.boxes)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
        found += len(want.boxes)
    assert found >= 10  # the 4 COCO images hold 14 annotated persons, the clip one


def test_parity_its_tensorrt_engine_finds_the_same_persons(fake, yolox_nano, end2end_nano,
                                                         coco_dir, tmp_path, capsys):
    """``dwpose build`` (fake TensorRT 10, data-dependent NMS outputs) keeps the family and the
    normalisation in the engine, and the engine finds the raw pipeline's persons."""
    engine = tmp_path / "nano_end2end.engine"
    assert cli.main(["build", "--onnx", str(end2end_nano), "--output", str(engine),
                     "--det-norm", "yolox"]) == 0, capsys.readouterr().err
    raw, trt = load_detector(yolox_nano, "onnxruntime"), load_detector(engine, "tensorrt")
    assert isinstance(trt, End2EndDetector) and trt.input_size == 416
    for image in _frames(coco_dir)[:4]:
        want, got = raw(image), trt(image)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


def test_the_wrapper_refuses_what_is_not_a_raw_yolox(tmp_path):
    pose = make_pose_onnx(tmp_path / "pose.onnx", (192, 256))
    with pytest.raises(ModelError, match="not a raw YOLOX export"):
        wrap_end2end(pose, tmp_path / "out.onnx")


def test_the_benchmark_says_what_is_missing(tmp_path, capsys):
    assert main(["--det", str(tmp_path / "no.onnx"), "--pose", str(tmp_path / "p.onnx"),
                 "--input", str(tmp_path / "v.mp4")]) == 2
    assert "no.onnx: not found" in capsys.readouterr().err

"""Model files given by path are checked at load: one clear line, exit code 2, no traceback."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.cli import main
from engines.errors import ModelError
from engines.models import check_detector, check_pose, load_model
from tests.onnx_models import make_detector_onnx, make_pose_onnx


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.onnx: detector model file not found"):
        load_model(tmp_path / "nope.onnx", "detector")


def test_not_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("this is not a model")
    with pytest.raises(ModelError, match=r"bad\.onnx: not a loadable ONNX model"):
        load_model(bad, "pose")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ModelError, match="is a folder"):
        load_model(tmp_path, "pose")


def test_pose_model_given_as_detector(pose256):
    with pytest.raises(ModelError) as err:
        load_model(pose256, "detector")
    msg = str(err.value)
    assert str(pose256) in msg and "expected a raw YOLOX export" in msg
    assert "or an mmdeploy end2end detector" in msg
    assert "found inputs input float32[?,3,256,192]" in msg and "pass it as the pose model" in msg
    assert "\n" not in msg


def test_detector_given_as_pose(tmp_path):
    det = make_detector_onnx(tmp_path / "det.onnx")
    with pytest.raises(ModelError) as err:
        load_model(det, "pose")
    msg = str(err.value)
    assert "expected an RTMPose/DWPose/RTMW SimCC model" in msg
    assert "output float32[1,3549,85]" in msg
    assert "pass it as the detector" in msg


def test_body_only_pose_model_is_refused(tmp_path):
    body17 = make_pose_onnx(tmp_path / "body17.onnx", (192, 256), num_keypoints=17)
    with pytest.raises(ModelError, match="not 133 COCO-WholeBody keypoints"):
        load_model(body17, "pose")


def test_signatures_read_from_models(tmp_path, pose384):
    backend, io = load_model(pose384, "pose")
    assert io.input_size == (288, 384) and io.split_ratio == 2.0 and io.num_keypoints == 133
    assert check_pose(backend) == io
    backend, io = load_model(make_detector_onnx(tmp_path / "d640.onnx", 640), "detector")
    assert io.input_size == 640 and check_detector(backend).input_name == "images"


def test_real_yolox_nano_signature(yolox_nano):
    _, io = load_model(yolox_nano, "detector")
    assert (io.family, io.input_name, io.output_names, io.input_size) == (
        "yolox", "images", ("output",), 416)


@pytest.mark.parametrize("which", ["det", "pose"])
def test_cli_bad_model_is_one_line_and_exit_2(tmp_path, capsys, pose256, which):
    det = make_detector_onnx(tmp_path / "det.onnx")
    img = _image(tmp_path)
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    args = {"det": str(det), "pose": str(pose256)}
    args[which] = str(bad)
    code = main(["predict", "--input", str(img), "--det", args["det"], "--pose", args["pose"],
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "garbage.onnx: not a loadable ONNX model" in err
    assert "Traceback" not in err


def test_cli_missing_model_file(tmp_path, capsys, pose256):
    code = main(["predict", "--input", str(_image(tmp_path)), "--det", str(tmp_path / "d.onnx"),
                 "--pose", str(pose256), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == (
        f"dwpose predict: error: {tmp_path / 'd.onnx'}: detector model file not found\n")


def _image(folder):
    path = folder / "img.png"
    cv2.imwrite(str(path), np.zeros((64, 64, 3), np.uint8))
    return path

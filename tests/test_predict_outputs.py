"""``dwpose predict``'s ControlNet options end to end: --parts in every output, --face70,
--openpose-layout, --pose-map-size, --pose-map-stroke, --max-persons (a test detector that
finds two persons, the small pose model with the official I/O)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from app.cli import main
from engines import openpose as op
from engines import skeleton
from engines.prominence import most_prominent, prominence
from tests.onnx_models import make_detector_onnx

BIG, SMALL = (100, 60, 220, 380, 0.9), (330, 300, 370, 400, 0.8)  # network = image pixels


@pytest.fixture(scope="module")
def det_two(tmp_path_factory):
    """Two persons on a 416x416 image: a big one near the centre, a small one at the side."""
    return make_detector_onnx(tmp_path_factory.mktemp("det") / "det.onnx", 416, [SMALL, BIG])


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "in" / "shot.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (416, 416, 3), np.uint8))
    return path


def _predict(image, det, pose, out, *extra) -> tuple[list[dict], dict, np.ndarray]:
    """results.json, the OpenPose JSON and the pose map (RGB) of one image."""
    assert main(["predict", "-i", str(image), "--det", str(det), "--pose", str(pose),
                 "-o", str(out), "--openpose-json", "--pose-map", *extra]) == 0
    pose_map = cv2.imread(str(out / "shot_pose.png"))[:, :, ::-1]
    return (json.loads((out / "results.json").read_text()),
            json.loads((out / "shot_keypoints.json").read_text()), pose_map)


def _colours(pose_map: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(c) for c in np.unique(pose_map.reshape(-1, 3), axis=0)}


def test_defaults_face70_coco18_and_the_results(tmp_path, image, det_two, pose256):
    results, doc, pose_map = _predict(image, det_two, pose256, tmp_path / "out")
    assert len(results) == len(doc["people"]) == 2
    for person in doc["people"]:
        assert len(person["pose_keypoints_2d"]) == 54 and len(person["face_keypoints_2d"]) == 210
        assert len(person["hand_left_keypoints_2d"]) == 63
    assert (doc["canvas_height"], doc["canvas_width"]) == pose_map.shape[:2] == (416, 416)
    # the map is the annotator's drawing of the written keypoints (results.json rounds them)
    kpts = np.array([r["keypoints"] for r in results]).reshape(-1, 133, 3)
    redrawn = op.draw_pose_map(kpts[..., :2], kpts[..., 2], 416, 416)
    assert np.mean(np.any(redrawn != pose_map, axis=-1)) < 0.01


def test_parts_apply_to_every_output(tmp_path, image, det_two, pose256):
    results, doc, pose_map = _predict(image, det_two, pose256, tmp_path / "out",
                                      "--parts", "body,left_hand")
    for person in doc["people"]:
        assert person["face_keypoints_2d"] is None and person["hand_right_keypoints_2d"] is None
        assert len(person["hand_left_keypoints_2d"]) == 63
        assert any(person["pose_keypoints_2d"])
    left_out = ~skeleton.part_mask(("body", "left_hand"))
    for entry in results:
        triples = np.array(entry["keypoints"]).reshape(133, 3)
        assert not triples[left_out].any() and triples[~left_out, 2].any()
        assert entry["score"] > 0  # the person's own score, from every keypoint
    assert (255, 255, 255) not in _colours(pose_map)  # no face dot
    _, doc, pose_map = _predict(image, det_two, pose256, tmp_path / "face", "--parts", "face")
    assert _colours(pose_map) <= {(0, 0, 0), (255, 255, 255)}  # face dots only
    assert doc["people"][0]["pose_keypoints_2d"] == [0.0] * 54  # a body is always there


def test_face68_and_body25(tmp_path, image, det_two, pose256):
    _, doc, _ = _predict(image, det_two, pose256, tmp_path / "a", "--no-face70",
                         "--openpose-layout", "body25")
    for person in doc["people"]:
        assert len(person["face_keypoints_2d"]) == 204
        assert len(person["pose_keypoints_2d"]) == 75


@pytest.mark.parametrize(("size", "canvas"), [("512", (512, 512)), ("640x480", (480, 640)),
                                              ("1000", (1024, 1024))])
def test_pose_map_size_draws_at_the_canvas(tmp_path, image, det_two, pose256, size, canvas):
    results, doc, pose_map = _predict(image, det_two, pose256, tmp_path / "out",
                                      "--pose-map-size", size)
    assert pose_map.shape[:2] == canvas == (doc["canvas_height"], doc["canvas_width"])
    scale = np.array([canvas[1] / 416, canvas[0] / 416])
    frame_px = np.array(results[0]["keypoints"]).reshape(133, 3)[:17, :2]  # frame pixels
    body = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    nose = body[0]  # COCO-18 0 = COCO 0
    if nose[2] == 1.0:
        np.testing.assert_allclose(nose[:2], (frame_px[0] + 0.5) * scale - 0.5, atol=1e-3)
    kpts = np.array([r["keypoints"] for r in results]).reshape(-1, 133, 3)
    redrawn = op.draw_pose_map(op.to_canvas(kpts[..., :2], (416, 416), canvas), kpts[..., 2],
                               *canvas)
    assert np.mean(np.any(redrawn != pose_map, axis=-1)) < 0.01


def test_scaled_strokes_widen_the_sticks_of_a_large_map(tmp_path, image, det_two, pose256):
    _, _, fixed = _predict(image, det_two, pose256, tmp_path / "f", "--pose-map-size", "1024")
    _, _, scaled = _predict(image, det_two, pose256, tmp_path / "s", "--pose-map-size", "1024",
                            "--pose-map-stroke", "scaled")
    lit = lambda m: np.any(m > 0, axis=-1).sum()  # noqa: E731
    assert lit(scaled) > 1.5 * lit(fixed)  # sticks x3 at 1024 px
    _, _, small = _predict(image, det_two, pose256, tmp_path / "t", "--pose-map-size", "400x300",
                           "--pose-map-stroke", "scaled")
    _, _, small_fixed = _predict(image, det_two, pose256, tmp_path / "u", "--pose-map-size",
                                 "400x300")
    np.testing.assert_array_equal(small, small_fixed)  # under 500 px: the annotator's sizes


def test_max_persons_keeps_the_most_prominent(tmp_path, image, det_two, pose256):
    results, doc, _ = _predict(image, det_two, pose256, tmp_path / "out", "--max-persons", "1")
    assert len(results) == len(doc["people"]) == 1
    np.testing.assert_allclose(results[0]["bbox"], [100, 60, 120, 320], atol=0.01)


def test_prominence_is_area_times_centrality():
    shape = (400, 800)
    boxes = np.array([[350, 100, 450, 300],  # centred, 100x200
                      [0, 100, 100, 300],  # same size at the left edge
                      [300, 0, 500, 400],  # twice the width, centred
                      [-100, 0, 50, 400]])  # partly outside: only the inside counts
    area = np.array([100 * 200, 100 * 200, 200 * 400, 50 * 400]) / (400 * 800)
    off = np.array([0.0, 350 / 400, 0.0, 375 / 400])
    np.testing.assert_allclose(prominence(boxes, shape), area * (1 - 0.5 * off))
    assert most_prominent(boxes, shape, 2).tolist() == [0, 2]  # in their own order
    assert most_prominent(boxes, shape, 9).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(("args", "message"), [
    (["--pose-map-size", "32"], "expected a short side >= 64, got 32"),
    (["--pose-map-size", "10x"], "expected WxH (e.g. 1024x768) or a short side"),
    (["--openpose-layout", "body_25"], "invalid choice: 'body_25'"),
    (["--shard", "3/2"], "expected I/N with 1 <= I <= N (e.g. 2/4), got '3/2'"),
    (["--smooth", "fast"], "invalid choice: 'fast'"),
])
def test_bad_options_are_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "-i", "x.mp4", *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_help_says_where_each_option_applies(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("those editors do not read it", "sd-webui-openpose-editor needs",
                   "rounded to a multiple of 64", "xinsir's SDXL openpose ControlNet",
                   "PowerShell and cmd", "--skip-existing", "--shard I/N", "--max-persons N",
                   "two-pass", "causal"):
        assert needle in text, needle

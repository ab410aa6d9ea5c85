"""YOLOX detector: known-answer decoding through ONNX Runtime, NMS, and the real YOLOX-Nano."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.detectors import YOLOX, nms
from engines.models import load_model
from engines.tracking import box_iou
from tests.onnx_models import make_detector_onnx


def _detector(path, **kw) -> YOLOX:
    return YOLOX(load_model(path, "detector")[0], **kw)


def test_known_boxes_decode_through_the_letterbox(tmp_path):
    # Network pixels: the image (832 x 624) is letterboxed into 416 at ratio 0.5.
    boxes = [(40, 60, 140, 300, 0.9), (200, 50, 260, 200, 0.5), (300, 80, 340, 150, 0.2)]
    det = _detector(make_detector_onnx(tmp_path / "d.onnx", 416, boxes))
    assert det.input_size == 416
    out = det(np.zeros((624, 832, 3), np.uint8))
    # The 0.2 box is under the 0.3 person threshold; the rest come back at image scale.
    np.testing.assert_allclose(out.boxes, [[80, 120, 280, 600], [400, 100, 520, 400]], atol=1e-3)
    np.testing.assert_allclose(out.scores, [0.9, 0.5], atol=1e-6)


def test_thresholds_are_parameters(tmp_path):
    boxes = [(40, 60, 140, 300, 0.9), (300, 80, 340, 150, 0.2)]
    det = _detector(make_detector_onnx(tmp_path / "d.onnx", 416, boxes), score_thr=0.15)
    assert len(det(np.zeros((416, 416, 3), np.uint8))) == 2


def test_input_size_read_from_model(tmp_path):
    det = _detector(make_detector_onnx(tmp_path / "d640.onnx", 640, [(10, 10, 100, 200, 0.8)]))
    assert det.input_size == 640
    blob, ratio = det.preprocess(np.zeros((480, 640, 3), np.uint8))
    assert blob.shape == (1, 3, 640, 640) and ratio == 1.0
    assert blob.dtype == np.float32 and blob[0, :, 479, 0].tolist() == [0, 0, 0]
    assert blob[0, :, 480, 0].tolist() == [114, 114, 114]


def test_preprocess_keeps_bgr_and_0_255(tmp_path):
    det = _detector(make_detector_onnx(tmp_path / "d.onnx"))
    img = np.zeros((416, 416, 3), np.uint8)
    img[..., 0], img[..., 2] = 10, 200  # B = 10, R = 200
    blob, _ = det.preprocess(img)
    assert blob[0, 0, 5, 5] == 10 and blob[0, 2, 5, 5] == 200


def test_nms_plus_one_areas_and_threshold():
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 9], [5, 0, 14, 9], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    # With +1 areas, box 2 overlaps box 0 by 5x10 / (100 + 100 - 50) = 1/3.
    np.testing.assert_array_equal(nms(boxes, scores, 0.45), [0, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [0, 3])


def _clearly_visible(annotations):
    """GT person boxes with keypoints, of some size, and at most half covered by another."""
    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                       a["bbox"][1] + a["bbox"][3]] for a in annotations])
    keep = []
    for i, a in enumerate(annotations):
        if a["num_keypoints"] < 10 or a["area"] < 1500:
            continue
        others = np.delete(boxes, i, axis=0)
        lt = np.maximum(boxes[i, :2], others[:, :2])
        rb = np.minimum(boxes[i, 2:], others[:, 2:])
        covered = np.prod(np.clip(rb - lt, 0, None), axis=1).max(initial=0)
        if covered / np.prod(boxes[i, 2:] - boxes[i, :2]) <= 0.5:
            keep.append(boxes[i])
    return np.array(keep)


def test_real_yolox_nano_finds_the_annotated_people(yolox_nano, coco, coco_dir):
    det = _detector(yolox_nano)
    assert det.input_size == 416
    checked = 0
    for image in coco["images"]:
        img = cv2.imread(str(coco_dir / image["file_name"]))
        gt = _clearly_visible([a for a in coco["annotations"] if a["image_id"] == image["id"]])
        found = det(img)
        assert found.boxes.dtype == np.float32 and (np.diff(found.scores) <= 0).all()
        if len(gt):
            best = box_iou(gt, found.boxes).max(axis=1)
            assert (best >= 0.5).all(), f"{image['file_name']}: best IoU per person {best}"
            checked += len(gt)
    assert checked >= 10  # the test really looked at most of the 14 annotated persons


def test_real_yolox_nano_on_an_empty_image(yolox_nano):
    det = _detector(yolox_nano)
    assert len(det(np.full((480, 640, 3), 128, np.uint8))) == 0


@pytest.mark.parametrize("size", [320, 416])
def test_any_letterbox_size_round_trips(tmp_path, size):
    det = _detector(make_detector_onnx(tmp_path / f"d{size}.onnx", size,
                                       [(32, 32, 96, 160, 0.95)]))
    img = np.zeros((size * 2, size, 3), np.uint8)  # tall: ratio 0.5
    np.testing.assert_allclose(det(img).boxes, [[64, 64, 192, 320]], atol=1e-3)

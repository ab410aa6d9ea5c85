"""Tracking between detector runs: boxes from keypoints, identities, forced re-detection."""
from __future__ import annotations

import numpy as np
import pytest

from engines.tracking import PoseTracker, box_iou, keypoints_to_boxes


def _person(x1, y1, x2, y2, k=133, score=0.9):
    """Keypoints spread over a box (corners included), all with ``score``."""
    rng = np.random.default_rng(int(x1 + y1))
    pts = np.column_stack([rng.uniform(x1, x2, k), rng.uniform(y1, y2, k)])
    pts[0], pts[1] = (x1, y1), (x2, y2)
    return pts.astype(np.float32), np.full(k, score, np.float32)


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_keypoint_box_uses_confident_points_and_expands():
    pts, scores = _person(100, 200, 200, 400)
    pts[5], scores[5] = (5000, 5000), 0.1  # low score outlier must not stretch the box
    boxes, valid = keypoints_to_boxes(pts[None], scores[None], 0.3, 1.25)
    np.testing.assert_allclose(boxes[0], [87.5, 175, 212.5, 425], atol=1e-4)
    assert valid.tolist() == [True]
    _, valid = keypoints_to_boxes(pts[None], np.zeros((1, 133)), 0.3, 1.25)
    assert valid.tolist() == [False]


def test_detector_schedule_and_identities():
    tracker = PoseTracker(det_interval=3)
    schedule = []
    a, b = _person(100, 100, 200, 400), _person(400, 100, 500, 400)
    for frame in range(7):
        detected = tracker.needs_detection()
        schedule.append(detected)
        shift = 5 * frame  # both people walk right
        kpts = np.stack([a[0] + [shift, 0], b[0] + [shift, 0]])
        scores = np.stack([a[1], b[1]])
        detections = np.array([[100, 100, 200, 400], [400, 100, 500, 400]], np.float32)
        boxes = detections + [shift, 0, shift, 0] if detected else tracker.tracks.boxes
        ids = tracker.update(boxes, np.array([0.9, 0.8]), kpts, scores, detected)
        assert ids.tolist() == [0, 1]  # identities survive detector runs and tracked frames
    assert schedule == [True, False, False, True, False, False, True]


def test_detection_order_change_keeps_identity():
    tracker = PoseTracker(det_interval=1)
    boxes = np.array([[0, 0, 100, 200], [300, 0, 400, 200]], np.float32)
    kp = np.zeros((2, 133, 2), np.float32)
    sc = np.ones((2, 133), np.float32)
    first = tracker.update(boxes, np.ones(2), kp, sc, True)
    second = tracker.update(boxes[::-1] + 3, np.ones(2), kp, sc, True)
    assert second.tolist() == first[::-1].tolist()
    third = tracker.update(np.array([[800, 0, 900, 200]], np.float32), np.ones(1), kp[:1], sc[:1],
                           True)
    assert third.tolist() == [2]  # someone new


def test_lost_person_forces_detection_on_the_next_frame():
    tracker = PoseTracker(det_interval=10)
    pts, scores = _person(100, 100, 200, 400)
    tracker.update(np.array([[100, 100, 200, 400]], np.float32), np.ones(1), pts[None],
                   scores[None], True)
    assert not tracker.needs_detection()
    tracker.update(tracker.tracks.boxes, tracker.tracks.scores, pts[None],
                   np.full((1, 133), 0.05, np.float32), False)  # pose collapsed
    assert tracker.needs_detection() and len(tracker.tracks.boxes) == 0


def test_tracks_collapsing_onto_one_person_are_merged():
    tracker = PoseTracker(det_interval=5)
    pts, scores = _person(100, 100, 200, 400)
    kpts = np.stack([pts, pts + 1])
    tracker.update(np.array([[100, 100, 200, 400], [110, 100, 210, 400]], np.float32),
                   np.ones(2), kpts, np.stack([scores, scores * 0.9]), True)
    assert tracker.tracks.ids.tolist() == [0]


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        PoseTracker(det_interval=0)

"""RTMPose/DWPose stage: official preprocessing, known-answer decoding, batching."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.models import load_model
from engines.pose import MEAN_RGB, STD_RGB, RTMPose
from engines.transforms import affine_points, get_warp_matrix


def _pose(path) -> RTMPose:
    return RTMPose(load_model(path, "pose")[0])


@pytest.mark.parametrize("fixture, size, bins", [("pose384", (288, 384), 2.0),
                                                  ("pose256", (192, 256), 2.0)])
def test_reads_input_size_and_split_ratio(request, fixture, size, bins):
    pose = _pose(request.getfixturevalue(fixture))
    assert pose.input_size == size and pose.codec.split_ratio == bins
    assert pose.backend.max_batch is None  # dynamic batch axis


def test_crops_are_rgb_normalised_official_affine(pose384, rng):
    pose = _pose(pose384)
    img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = np.array([[100, 50, 300, 400]], np.float32)
    batch = pose.preprocess(img, box)
    # Reference: mmpose's recipe written out step by step.
    center = np.array([200, 225], np.float32)
    scale = np.array([200, 350], np.float32) * 1.25
    scale = np.array([scale[1] * 0.75, scale[1]], np.float32)  # tall box: widen to 3:4
    np.testing.assert_allclose(batch.centers[0], center)
    np.testing.assert_allclose(batch.scales[0], scale)
    crop = cv2.warpAffine(img, get_warp_matrix(center, scale, 0, (288, 384)), (288, 384),
                          flags=cv2.INTER_LINEAR)
    rgb = crop[:, :, ::-1].astype(np.float64)
    ref = ((rgb - np.array(MEAN_RGB)) / np.array(STD_RGB)).transpose(2, 0, 1)
    np.testing.assert_allclose(batch.blob[0], ref, atol=1e-5)


def test_known_simcc_peak_decodes_to_known_image_point(pose384):
    """A SimCC output peaking at chosen bins lands on the image point the crop maps there."""
    pose = _pose(pose384)
    boxes = np.array([[100, 50, 300, 400], [400, 100, 460, 180]], np.float32)
    batch = pose.preprocess(np.zeros((480, 640, 3), np.uint8), boxes)
    targets = np.array([[160.0, 90.0], [430.0, 150.0]])  # image pixels inside each crop
    sx = np.zeros((2, 133, 576), np.float32)
    sy = np.zeros((2, 133, 768), np.float32)
    expected = []
    for i in range(2):
        m = get_warp_matrix(batch.centers[i], batch.scales[i], 0, (288, 384))
        bx, by = np.round(affine_points(targets[i], m) * 2).astype(int)  # bin of the target
        sx[i, :, bx], sy[i, :, by] = 0.8, 0.6
        inv = get_warp_matrix(batch.centers[i], batch.scales[i], 0, (288, 384), inv=True)
        expected.append(affine_points(np.array([bx, by]) / 2.0, inv))
    points, scores = pose.postprocess(sx, sy, batch)
    for i in range(2):
        np.testing.assert_allclose(points[i], np.broadcast_to(expected[i], (133, 2)), atol=1e-3)
        # Within half a bin of the target in crop pixels, scaled back to the image.
        px_per_bin = batch.scales[i][0] / 576
        assert np.abs(points[i, 0] - targets[i]).max() <= px_per_bin + 1e-3
    np.testing.assert_allclose(scores, 0.6)


def test_batched_and_looped_give_identical_keypoints(pose256, pose256_static, rng):
    """One dynamic-batch call and a loop over a batch-1 export of the same net agree exactly."""
    img = rng.integers(0, 256, (540, 960, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 200, 500], [300, 40, 420, 300], [600, 100, 900, 530],
                      [-50, -30, 100, 200]], np.float32)
    batched, looped = _pose(pose256), _pose(pose256_static)
    assert looped.backend.max_batch == 1
    kb, sb = batched(img, boxes)
    kl, sl = looped(img, boxes)
    assert kb.shape == (4, 133, 2) and sb.shape == (4, 133)
    np.testing.assert_array_equal(kb, kl)
    np.testing.assert_allclose(sb, sl, rtol=1e-5, atol=1e-5)
    # And each person alone gives the same as within the batch.
    for i in range(4):
        k1, _ = batched(img, boxes[i:i + 1])
        np.testing.assert_array_equal(k1[0], kb[i])


def test_no_boxes_no_persons(pose256):
    k, s = _pose(pose256)(np.zeros((100, 100, 3), np.uint8), np.zeros((0, 4)))
    assert k.shape == (0, 133, 2) and s.shape == (0, 133)

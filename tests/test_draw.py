"""engines.draw: part toggles, thresholds and no-op cases of the mmpose-style overlay."""

from __future__ import annotations

import numpy as np
import pytest

from engines import draw, skeleton


def _person(h: int = 400, w: int = 600) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """One person whose face landmarks sit alone in the top-left corner of the image.

    Returns keypoints [1,133,2], scores [1,133] (all 1) and the face region (rows, cols).
    """
    rng = np.random.default_rng(0)
    kpts = np.empty((1, 133, 2))
    kpts[0, :, 0] = rng.uniform(0.4 * w, 0.95 * w, 133)
    kpts[0, :, 1] = rng.uniform(0.4 * h, 0.95 * h, 133)
    face = skeleton.PARTS["face"]
    kpts[0, face.start : face.stop, 0] = rng.uniform(0.05 * w, 0.25 * w, len(face))
    kpts[0, face.start : face.stop, 1] = rng.uniform(0.05 * h, 0.25 * h, len(face))
    region = (slice(0, int(0.25 * h) + 15), slice(0, int(0.25 * w) + 15))
    return kpts, np.ones((1, 133)), region


def _blank(h: int = 400, w: int = 600) -> np.ndarray:
    return np.zeros((h, w, 3), dtype=np.uint8)


def test_draws_and_returns_same_image():
    kpts, scores, _ = _person()
    img = _blank()
    out = draw.draw_skeleton(img, kpts, scores)
    assert out is img
    assert img.any()


def test_disabling_face_changes_exactly_the_face_region():
    kpts, scores, region = _person()
    full = draw.draw_skeleton(_blank(), kpts, scores)
    no_face = draw.draw_skeleton(_blank(), kpts, scores, parts=("body", "foot", "hand"))
    face_only = draw.draw_skeleton(_blank(), kpts, scores, parts=("face",))
    assert not no_face[region].any()  # face region untouched without the face
    assert face_only[region].any()
    outside = np.ones(full.shape[:2], dtype=bool)
    outside[region] = False
    assert not face_only[outside].any()  # face points draw nothing elsewhere
    # full drawing = face-only inside the face region, no-face drawing outside it
    np.testing.assert_array_equal(full[region], face_only[region])
    np.testing.assert_array_equal(full[outside], no_face[outside])


def test_parts_select_points_and_links():
    h, w = 300, 300
    kpts = np.zeros((1, 133, 2))
    scores = np.zeros((1, 133))
    # a left-hand chain: root -> thumb1, far from everything else
    kpts[0, 91], kpts[0, 92] = (50, 50), (50, 150)
    scores[0, [91, 92]] = 1.0
    with_hand = draw.draw_skeleton(
        _blank(h, w), kpts, scores, parts=("left_hand",), radius=3, thickness=3
    )
    assert with_hand[100, 50].any()  # the link, halfway
    for parts in (("body",), ("right_hand",), ("face", "foot")):
        assert not draw.draw_skeleton(_blank(h, w), kpts, scores, parts=parts).any(), parts
    hand = draw.draw_skeleton(_blank(h, w), kpts, scores, parts=("hand",), radius=3, thickness=3)
    np.testing.assert_array_equal(hand, with_hand)
    # keypoint colour: hand root is white, thumb orange (RGB 255,128,0 -> BGR 0,128,255)
    assert with_hand[50, 50].tolist() == [255, 255, 255]
    assert with_hand[150, 50].tolist() == [0, 128, 255]
    # link colour: thumb links are orange too
    assert with_hand[100, 50].tolist() == [0, 128, 255]


def test_threshold_filters_points_and_links():
    kpts, scores, _ = _person()
    assert not draw.draw_skeleton(_blank(), kpts, scores * 0.3).any()  # <= thr: nothing
    assert draw.draw_skeleton(_blank(), kpts, scores * 0.31).any()
    assert not draw.draw_skeleton(_blank(), kpts, scores * 0.5, kpt_thr=0.6).any()
    assert draw.draw_skeleton(_blank(), kpts, scores * 0.5, kpt_thr=0.4).any()

    # one low-score point removes its circle and every link touching it
    h, w = 200, 200
    k = np.zeros((1, 133, 2))
    s = np.zeros((1, 133))
    k[0, 15], k[0, 13] = (100, 40), (100, 160)  # left ankle - left knee, link 0
    s[0, [13, 15]] = 0.9
    drawn = draw.draw_skeleton(_blank(h, w), k, s, radius=4, thickness=2)
    assert drawn[100, 100].any() and drawn[40, 100].any() and drawn[160, 100].any()
    s[0, 13] = 0.1
    partial = draw.draw_skeleton(_blank(h, w), k, s, radius=4, thickness=2)
    assert not partial[100, 100].any() and not partial[160, 100].any()
    assert partial[40, 100].tolist() == [0, 255, 0]  # left joints are green


def test_empty_input_is_a_no_op():
    img = np.full((50, 60, 3), 7, dtype=np.uint8)
    before = img.copy()
    assert draw.draw_skeleton(img, np.zeros((0, 133, 2)), np.zeros((0, 133))) is img
    assert draw.draw_boxes(img, np.zeros((0, 4))) is img
    kpts, scores, _ = _person(50, 60)
    draw.draw_skeleton(img, kpts, scores, parts=())
    np.testing.assert_array_equal(img, before)


def test_non_finite_points_are_skipped():
    kpts, scores, _ = _person()
    kpts[0, :] = np.nan
    assert not draw.draw_skeleton(_blank(), kpts, scores).any()


def test_shape_errors():
    with pytest.raises(ValueError):
        draw.draw_skeleton(_blank(), np.zeros((1, 17, 2)), np.ones((1, 17)))
    with pytest.raises(ValueError):
        draw.draw_boxes(_blank(), np.zeros((2, 4)), labels=["a"])


def test_default_sizes_scale_with_image():
    assert draw.default_radius((480, 640)) < draw.default_radius((1080, 1920))
    assert draw.default_thickness((100, 100)) >= 1 and draw.default_radius((10, 10)) >= 1


def test_draw_boxes():
    img = _blank(100, 100)
    out = draw.draw_boxes(img, np.array([[10, 30, 60, 90]]), labels=["person 0.91"],
                          color=(0, 0, 255), thickness=1)  # fmt: skip
    assert out is img
    assert img[60, 10].tolist() == [0, 0, 255]  # left edge
    assert not img[60, 35].any()  # inside stays untouched
    assert img[25, 12].any()  # label tab above the box

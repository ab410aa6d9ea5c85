"""engines.openpose against a literal re-statement of DWPose's ControlNet annotator.

``_annotator_reference`` below walks the annotator's steps one by one, the way its code does
(``wholebody.py``: neck + remap; ``__init__.py``: normalise, body subset of candidate indices,
invisible points set to -1, hands stacked left-then-right; ``util.py``: draw_bodypose,
draw_handpose, draw_facepose with plain per-person / per-joint loops). The module under test
must produce the same pixels.
"""

from __future__ import annotations

import colorsys
import json
import math

import numpy as np
import pytest

from engines import openpose as op
from engines import skeleton
from tests.conftest import need

# ------------------------------------------------------------------ literal reference

_REF_LIMBS_1BASED = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11],
                     [2, 12], [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18],
                     [3, 17], [6, 18]]  # fmt: skip
_REF_COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0],
               [85, 255, 0], [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255],
               [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255], [170, 0, 255],
               [255, 0, 255], [255, 0, 170], [255, 0, 85]]  # fmt: skip
_REF_HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9],
                   [9, 10], [10, 11], [11, 12], [0, 13], [13, 14], [14, 15], [15, 16], [0, 17],
                   [17, 18], [18, 19], [19, 20]]  # fmt: skip


def _annotator_reference(keypoints, scores, H, W, stickwidth=4):
    """The annotator's drawing; ``stickwidth`` is its half-width of the body sticks (4), which
    comfyui_controlnet_aux's xinsir option multiplies."""
    import cv2

    # wholebody.py: neck, insertion at 17, remap to OpenPose order
    info = np.concatenate((keypoints, scores[..., None]), axis=-1)
    neck = np.mean(info[:, [5, 6]], axis=1)
    neck[:, 2:4] = np.logical_and(info[:, 5, 2:4] > 0.3, info[:, 6, 2:4] > 0.3).astype(int)
    info = np.insert(info, 17, neck, axis=1)
    src = [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3]
    dst = [1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17]
    info[:, dst] = info[:, src]
    candidate, subset = info[..., :2], info[..., 2]

    # __init__.py: normalise, body subset of indices, hide the rest with -1
    nums, keys, locs = candidate.shape
    candidate[..., 0] /= float(W)
    candidate[..., 1] /= float(H)
    body = candidate[:, :18].copy().reshape(nums * 18, locs)
    score = subset[:, :18]  # a view: writing it rewrites subset, as upstream
    for i in range(len(score)):
        for j in range(len(score[i])):
            score[i][j] = int(18 * i + j) if score[i][j] > 0.3 else -1
    candidate[subset < 0.3] = -1
    faces = candidate[:, 24:92]
    hands = np.vstack([candidate[:, 92:113], candidate[:, 113:]])

    canvas = np.zeros((H, W, 3), dtype=np.uint8)
    eps = 0.01
    # util.draw_bodypose
    for i in range(17):
        for n in range(len(score)):
            index = score[n][np.array(_REF_LIMBS_1BASED[i]) - 1]
            if -1 in index:
                continue
            Y = body[index.astype(int), 0] * float(W)
            X = body[index.astype(int), 1] * float(H)
            mX, mY = np.mean(X), np.mean(Y)
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
            poly = cv2.ellipse2Poly((int(mY), int(mX)), (int(length / 2), stickwidth),
                                    int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, poly, _REF_COLORS[i])
    canvas = (canvas * 0.6).astype(np.uint8)
    for i in range(18):
        for n in range(len(score)):
            index = int(score[n][i])
            if index == -1:
                continue
            x, y = body[index][0:2]
            cv2.circle(canvas, (int(x * W), int(y * H)), 4, _REF_COLORS[i], thickness=-1)
    # util.draw_handpose
    for peaks in hands:
        for ie, e in enumerate(_REF_HAND_EDGES):
            x1, y1 = peaks[e[0]]
            x2, y2 = peaks[e[1]]
            x1, y1, x2, y2 = int(x1 * W), int(y1 * H), int(x2 * W), int(y2 * H)
            if x1 > eps and y1 > eps and x2 > eps and y2 > eps:
                color = np.array(colorsys.hsv_to_rgb(ie / float(len(_REF_HAND_EDGES)), 1.0, 1.0))
                cv2.line(canvas, (x1, y1), (x2, y2), color * 255, thickness=2)
        for x, y in peaks:
            x, y = int(x * W), int(y * H)
            if x > eps and y > eps:
                cv2.circle(canvas, (x, y), 4, (0, 0, 255), thickness=-1)
    # util.draw_facepose
    for lmks in faces:
        for x, y in lmks:
            x, y = int(x * W), int(y * H)
            if x > eps and y > eps:
                cv2.circle(canvas, (x, y), 3, (255, 255, 255), thickness=-1)
    return canvas


# ------------------------------------------------------------------ data


def _random_people(rng, n, H, W, spread=1.0, dtype=np.float32):
    """n people: points around a centre (some off-canvas), scores in [0, 1] incl. exact 0.3."""
    centre = rng.uniform([0.2 * W, 0.2 * H], [0.8 * W, 0.8 * H], size=(n, 1, 2))
    kpts = centre + rng.normal(0.0, spread * 0.25 * min(H, W), size=(n, 133, 2))
    scores = rng.uniform(0.0, 1.0, size=(n, 133)).astype(dtype)
    scores[rng.uniform(size=(n, 133)) < 0.1] = 0.3  # the threshold itself: body > 0.3, rest >= 0.3
    scores[:, 5:7][rng.uniform(size=(n, 2)) < 0.2] = 0.0
    # the annotator's keypoints are float64 (rescaled from the model input), its scores float32;
    # float64 scores make an exact 0.3 possible (float32 0.3 is slightly above 0.3)
    return kpts.astype(np.float64), scores


def _coco_people():
    data = json.loads(need("coco_wholebody/test_coco_wholebody.json").read_text())
    out = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        rows = [
            np.array(a["keypoints"] + a["foot_kpts"] + a["face_kpts"] + a["lefthand_kpts"]
                     + a["righthand_kpts"], dtype=np.float64).reshape(133, 3)
            for a in anns
        ]  # fmt: skip
        arr = np.stack(rows)
        out.append((image, arr[..., :2], arr[..., 2]))
    return out


# ------------------------------------------------------------------ to_openpose


def test_neck_and_remap_known_answer():
    kpts = np.stack([np.arange(133.0), 1000.0 + np.arange(133.0)], axis=-1)[None]  # x=k, y=1000+k
    scores = np.linspace(0.5, 0.9, 133)[None]
    out, sc = op.to_openpose(kpts, scores)
    assert out.shape == (1, 134, 2) and sc.shape == (1, 134)
    # neck = mean of the shoulders (5, 6), score 1 since both > 0.3
    assert out[0, 1].tolist() == [5.5, 1005.5] and sc[0, 1] == 1.0
    # each OpenPose body point comes from the mmpose point of the same name
    for i, name in enumerate(op.OPENPOSE_BODY_NAMES):
        if name == "neck":
            continue
        k = skeleton.KEYPOINT_INDEX[name]
        assert out[0, i].tolist() == [k, 1000 + k], name
        assert sc[0, i] == scores[0, k]
    expected_src = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    assert [None if i == 1 else int(out[0, i, 0]) for i in range(18)] == expected_src
    # feet, face, hands keep their order, shifted by the inserted neck
    assert out[0, 18:, 0].tolist() == list(range(17, 133))
    assert np.array_equal(sc[0, 18:], scores[0, 17:])

    # neck score drops to 0 unless both shoulders score > 0.3
    for s5, s6, expected in [(0.9, 0.2, 0.0), (0.3, 0.9, 0.0), (0.31, 0.31, 1.0)]:
        s = scores.copy()
        s[0, 5], s[0, 6] = s5, s6
        assert op.to_openpose(kpts, s)[1][0, 1] == expected


def test_to_openpose_empty_and_single():
    out, sc = op.to_openpose(np.zeros((0, 133, 2)), np.zeros((0, 133)))
    assert out.shape == (0, 134, 2) and sc.shape == (0, 134)
    one, s1 = op.to_openpose(np.ones((133, 2)), np.ones(133))
    assert one.shape == (1, 134, 2) and s1.shape == (1, 134)
    with pytest.raises(ValueError):
        op.to_openpose(np.zeros((1, 17, 2)), np.zeros((1, 17)))


# ------------------------------------------------------------------ pose map parity


@pytest.mark.parametrize(("H", "W", "n", "spread"), [
    (480, 640, 1, 1.0), (333, 500, 3, 0.6), (512, 512, 5, 2.0), (97, 131, 2, 1.0),
])  # fmt: skip
def test_pose_map_matches_annotator_on_random_people(H, W, n, spread):
    rng = np.random.default_rng(H * W + n)
    for dtype in (np.float32, np.float64, np.float64):
        kpts, scores = _random_people(rng, n, H, W, spread, dtype)
        expected = _annotator_reference(kpts.copy(), scores.copy(), H, W)
        got = op.draw_pose_map(kpts, scores, H, W)
        assert got.dtype == np.uint8 and got.shape == (H, W, 3)
        assert expected.any()
        np.testing.assert_array_equal(got, expected)


def test_pose_map_matches_annotator_on_real_annotations():
    rng = np.random.default_rng(7)
    for image, kpts, vis in _coco_people():
        H, W = image["height"], image["width"]
        # visibility flags (0/1/2) as scores, then random scores on the same real points
        for scores in (vis, rng.uniform(0.0, 1.0, size=vis.shape).astype(np.float32)):
            expected = _annotator_reference(kpts.copy(), scores.copy(), H, W)
            got = op.draw_pose_map(kpts, scores, H, W)
            assert expected.any()
            np.testing.assert_array_equal(got, expected, err_msg=image["file_name"])


def test_pose_map_accepts_openpose_form_and_empty():
    rng = np.random.default_rng(3)
    kpts, scores = _random_people(rng, 2, 200, 300)
    direct = op.draw_pose_map(kpts, scores, 200, 300)
    k134, s134 = op.to_openpose(kpts, scores)
    np.testing.assert_array_equal(op.draw_pose_map(k134, s134, 200, 300), direct)
    blank = op.draw_pose_map(np.zeros((0, 133, 2)), np.zeros((0, 133)), 20, 30)
    assert blank.shape == (20, 30, 3) and not blank.any()


def test_pose_map_channel_order_is_rgb():
    # a lone right hand point: drawn (0, 0, 255) in the annotator's RGB canvas -> blue
    kpts = np.full((1, 133, 2), 50.0)
    scores = np.zeros((1, 133))
    scores[0, 112] = 1.0
    canvas = op.draw_pose_map(kpts, scores, 100, 100)
    assert canvas[50, 50].tolist() == [0, 0, 255]
    # the nose (OpenPose colour 0 = (255, 0, 0), red in RGB) after no limbs
    scores[:] = 0.0
    scores[0, 0] = 1.0
    canvas = op.draw_pose_map(kpts, scores, 100, 100)
    assert canvas[50, 50].tolist() == [255, 0, 0]


def test_hand_colours_are_the_hsv_hue_wheel():
    # matplotlib's hsv_to_rgb([i / 20, 1, 1]) * 255, the annotator's colours, at known hues.
    expected = {0: [255.0, 0.0, 0.0], 5: [127.5, 255.0, 0.0], 10: [0.0, 255.0, 255.0],
                15: [127.5, 0.0, 255.0], 19: [255.0, 0.0, 76.5]}
    for i, rgb in expected.items():
        np.testing.assert_allclose(op.HAND_EDGE_COLORS[i], rgb, atol=1e-9)



# ------------------------------------------------------------------ parts, canvas, stroke


def test_parts_left_out_are_not_drawn():
    """A part left out draws exactly what the annotator draws without that part's points."""
    rng = np.random.default_rng(5)
    kpts, scores = _random_people(rng, 2, 300, 400, 0.6, np.float64)
    for parts, hidden in [(("body", "face"), skeleton.part_mask("hand")),
                          (("body", "hand"), skeleton.part_mask("face")),
                          (("face", "left_hand"), skeleton.part_mask(("body", "right_hand")))]:
        kept = np.where(hidden, 0.0, scores)
        expected = _annotator_reference(kpts.copy(), kept, 300, 400)
        got = op.draw_pose_map(kpts, scores, 300, 400, parts=parts)
        np.testing.assert_array_equal(got, expected, err_msg=str(parts))
    # feet are never drawn, so "foot" alone is a black map; body alone has no hand or face dot
    assert not op.draw_pose_map(kpts, scores, 300, 400, parts=("foot",)).any()
    body = op.draw_pose_map(kpts, scores, 300, 400, parts=("body",))
    assert body.any() and not (body == [255, 255, 255]).all(axis=-1).any()


def _controlnet_resize_shape(h, w, resolution):
    """The output size of ControlNet's ``resize_image`` (annotator/util.py), step by step."""
    H, W = float(h), float(w)
    k = float(resolution) / min(H, W)
    H *= k
    W *= k
    return int(np.round(H / 64.0)) * 64, int(np.round(W / 64.0)) * 64


def test_canvas_size_follows_controlnet_rounding():
    # known answers: the short side scaled, each side rounded to a multiple of 64
    assert op.canvas_size(425, 640, 512) == (512, 768)  # 000000000785.jpg
    assert op.canvas_size(720, 1280, 512) == (512, 896)  # 910.2 -> 896
    assert op.canvas_size(1024, 576, 768) == (1344, 768)  # portrait: 1365.3 -> 1344
    assert op.canvas_size(480, 640, 1024) == (1024, 1344)  # 1365.3 -> 1344
    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(32, 4000, size=2))
        n = int(rng.integers(64, 2048))
        assert op.canvas_size(h, w, n) == _controlnet_resize_shape(h, w, n), (h, w, n)
    assert op.canvas_size(425, 640, None) == (425, 640)
    assert op.canvas_size(425, 640, (1024, 768)) == (768, 1024)  # WxH given as (W, H)


def test_to_canvas_maps_pixel_centres_and_edges():
    kpts = np.array([[[-0.5, -0.5], [0.0, 0.0], [639.5, 424.5], [319.5, 212.0]]])
    moved = op.to_canvas(kpts, (425, 640), (850, 1280))  # twice the size
    np.testing.assert_allclose(moved[0, 0], [-0.5, -0.5])  # the image's edges stay its edges
    np.testing.assert_allclose(moved[0, 1], [0.5, 0.5])  # pixel 0's centre: between 0 and 1
    np.testing.assert_allclose(moved[0, 2], [1279.5, 849.5])
    np.testing.assert_allclose(moved[0, 3], [639.5, 424.5])
    assert op.to_canvas(kpts, (425, 640), (425, 640)) is kpts  # the default leaves them be


def test_to_canvas_follows_cv2_resize():
    """A blob centred on a keypoint, resized with cv2, is centred where to_canvas puts it."""
    import cv2

    ys, xs = np.mgrid[0:120, 0:160]
    frame = np.exp(-((xs - 101.0) ** 2 + (ys - 37.0) ** 2) / (2 * 4.0**2)).astype(np.float32)
    for size in ((240, 320), (90, 120), (200, 480)):
        resized = cv2.resize(frame, size[::-1], interpolation=cv2.INTER_LINEAR)
        rows, cols = np.mgrid[0:size[0], 0:size[1]]
        centroid = [np.average(cols, weights=resized), np.average(rows, weights=resized)]
        np.testing.assert_allclose(op.to_canvas(np.array([[101.0, 37.0]]), (120, 160), size),
                                   [centroid], atol=0.02)


def test_stick_scale_is_xinsirs_rule():
    for (h, w), scale in [((400, 480), 1), ((499, 300), 1), ((512, 768), 2), ((768, 1024), 3),
                          ((1024, 1536), 3), ((2160, 3840), 5), ((8000, 9000), 7)]:
        assert op.stick_scale(h, w, "scaled") == scale, (h, w)
        assert op.stick_scale(h, w, "fixed") == 1
    with pytest.raises(ValueError):
        op.stick_scale(10, 10, "thick")


@pytest.mark.parametrize(("H", "W"), [(480, 360), (512, 768), (1024, 1536), (2176, 3840)])
def test_scaled_strokes_match_the_annotator_with_xinsirs_sticks(H, W):
    """``scaled`` = the annotator with its stick half-width times xinsir's factor (what
    comfyui_controlnet_aux's xinsr_stick_scaling draws); a small canvas stays at the default."""
    rng = np.random.default_rng(H)
    kpts, scores = _random_people(rng, 2, H, W, 0.5, np.float64)
    scale = op.stick_scale(H, W, "scaled")
    expected = _annotator_reference(kpts.copy(), scores.copy(), H, W, stickwidth=4 * scale)
    got = op.draw_pose_map(kpts, scores, H, W, stroke="scaled")
    np.testing.assert_array_equal(got, expected)
    if scale == 1:
        np.testing.assert_array_equal(got, op.draw_pose_map(kpts, scores, H, W))


def test_a_map_drawn_at_the_canvas_size_is_the_annotators_on_the_resized_image():
    """--pose-map-size draws at the target size: the real annotation moved onto a 1024 canvas
    draws what the annotator draws from keypoints found on the frame resized to it."""
    image, kpts, vis = _coco_people()[0]
    h, w = image["height"], image["width"]
    H, W = op.canvas_size(h, w, 1024)
    moved = op.to_canvas(kpts, (h, w), (H, W))
    expected = _annotator_reference(moved.copy(), vis.copy(), H, W)
    np.testing.assert_array_equal(op.draw_pose_map(moved, vis, H, W), expected)
    assert expected.shape == (1024, 1536, 3) and expected.any()

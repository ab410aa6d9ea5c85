"""Parity with the official DWPose pipeline, re-implemented here literally from COMPAT.md.

The reference below follows the upstream algorithm step by step (all 80 classes through
class-aware NMS, per-person loops, float64 normalisation) and shares no code with
``engines``; the production pipeline takes shortcuts (person class only, pre-filtered
candidates, batched crops) that must not change a single box or keypoint.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.detectors import YOLOX
from engines.models import load_model
from engines.pipeline import WholeBody
from engines.pose import RTMPose
from tests.conftest import need, need_dir


def ref_detect(session, img):
    """Official YOLOX inference: letterbox, grid decode, class-aware NMS, person > 0.3."""
    size = session.get_inputs()[0].shape[2]
    padded = np.ones((size, size, 3), np.uint8) * 114
    r = min(size / img.shape[0], size / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                         interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[:int(img.shape[0] * r), :int(img.shape[1] * r)] = resized
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)[None]
    out = session.run(None, {session.get_inputs()[0].name: blob})[0][0].copy()
    grids, strides = [], []
    for s in (8, 16, 32):
        n = size // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grids, strides = np.concatenate(grids), np.concatenate(strides)
    out[:, :2] = (out[:, :2] + grids) * strides
    out[:, 2:4] = np.exp(out[:, 2:4]) * strides
    boxes = np.ones_like(out[:, :4])
    boxes[:, 0] = out[:, 0] - out[:, 2] / 2.0
    boxes[:, 1] = out[:, 1] - out[:, 3] / 2.0
    boxes[:, 2] = out[:, 0] + out[:, 2] / 2.0
    boxes[:, 3] = out[:, 1] + out[:, 3] / 2.0
    boxes /= r
    scores = out[:, 4:5] * out[:, 5:]
    dets = []
    for c in range(scores.shape[1]):  # class-aware NMS over every class
        valid = scores[:, c] > 0.1
        if not valid.any():
            continue
        b, s = boxes[valid], scores[valid, c]
        for i in ref_nms(b, s, 0.45):
            dets.append((*b[i], s[i], c))
    dets = [d for d in dets if d[5] == 0 and d[4] > 0.3]
    return np.array([d[:4] for d in dets]).reshape(-1, 4), np.array([d[4] for d in dets])


def ref_nms(boxes, scores, thr):
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thr)[0] + 1]
    return keep


def ref_pose(session, img, boxes):
    """Official top-down pose, one crop per call, RGB, score = min of the two maxima."""
    _, _, h, w = session.get_inputs()[0].shape
    if len(boxes) == 0:
        boxes = np.array([[0, 0, img.shape[1], img.shape[0]]])
    all_k, all_s = [], []
    for x0, y0, x1, y1 in boxes:
        center = np.array([x0 + x1, y0 + y1]) * 0.5
        scale = np.array([x1 - x0, y1 - y0]) * 1.25
        if scale[0] > scale[1] * w / h:
            scale = np.array([scale[0], scale[0] / (w / h)])
        else:
            scale = np.array([scale[1] * (w / h), scale[1]])
        src = np.zeros((3, 2), np.float32)
        dst = np.zeros((3, 2), np.float32)
        src[0] = center
        src[1] = center + np.array([0.0, scale[0] * -0.5])
        src[2] = src[1] + np.array([-(src[0] - src[1])[1], (src[0] - src[1])[0]])
        dst[0] = [w * 0.5, h * 0.5]
        dst[1] = np.array([w * 0.5, h * 0.5]) + np.array([0.0, w * -0.5])
        dst[2] = dst[1] + np.array([-(dst[0] - dst[1])[1], (dst[0] - dst[1])[0]])
        m = cv2.getAffineTransform(src, dst)
        crop = cv2.warpAffine(img, m, (int(w), int(h)), flags=cv2.INTER_LINEAR)
        crop = crop[:, :, ::-1]  # RGB, as the configs train it
        crop = (crop - np.array([123.675, 116.28, 103.53])) / np.array([58.395, 57.12, 57.375])
        blob = crop.transpose(2, 0, 1)[None].astype(np.float32)
        sx, sy = session.run(None, {"input": blob})
        k = sx.shape[1]
        kpts = np.zeros((k, 2))
        scores = np.zeros(k)
        for j in range(k):
            mx, my = sx[0, j].max(), sy[0, j].max()
            scores[j] = min(mx, my)
            loc = np.array([sx[0, j].argmax(), sy[0, j].argmax()], np.float64)
            if scores[j] <= 0:
                loc[:] = -1
            kpts[j] = loc / 2.0
        all_k.append(kpts / np.array([w, h]) * scale + center - scale / 2)
        all_s.append(scores)
    return np.array(all_k), np.array(all_s), (sx, sy)


def _near_ties(session, img, boxes):
    """[N, K] mask of keypoints whose top-two SimCC logits are within 1e-4 (either axis)."""
    masks = []
    for box in (boxes if len(boxes) else np.array([[0, 0, img.shape[1], img.shape[0]]])):
        _, _, (sx, sy) = ref_pose(session, img, box[None])
        tie = np.zeros(sx.shape[1], bool)
        for s in (sx[0], sy[0]):
            top2 = np.sort(s, axis=1)[:, -2:]
            tie |= (top2[:, 1] - top2[:, 0]) < 1e-4
        masks.append(tie)
    return np.array(masks)


@pytest.fixture(scope="module")
def models(yolox_nano, pose384):
    det_backend, _ = load_model(yolox_nano, "detector", threads=1)
    pose_backend, _ = load_model(pose384, "pose", threads=1)
    return det_backend, pose_backend


def _frames():
    for path in sorted(need_dir("coco_wholebody").glob("*.jpg")):
        yield path.name, cv2.imread(str(path))
    cap = cv2.VideoCapture(str(need("video/street_multi_person.mp4")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    yield "street", frame
    yield "empty", np.full((300, 400, 3), 30, np.uint8)  # nobody: whole-image fallback


def test_pipeline_matches_the_official_algorithm(models):
    det_backend, pose_backend = models
    pipeline = WholeBody(YOLOX(det_backend), RTMPose(pose_backend))
    compared = 0
    for name, img in _frames():
        ref_boxes, ref_scores = ref_detect(det_backend.session, img)
        ours = pipeline(img)
        if len(ref_boxes):
            np.testing.assert_allclose(ours.boxes, ref_boxes, atol=1e-3, err_msg=name)
            np.testing.assert_allclose(ours.box_scores, ref_scores, rtol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(ours.boxes, [[0, 0, img.shape[1], img.shape[0]]])
        ref_k, ref_s, _ = ref_pose(pose_backend.session, img, ref_boxes)
        ties = _near_ties(pose_backend.session, img, ref_boxes)
        ok = ~ties
        np.testing.assert_allclose(ours.keypoints[ok], ref_k[ok], atol=1e-2, err_msg=name)
        np.testing.assert_allclose(ours.scores, ref_s, rtol=1e-4, atol=1e-4, err_msg=name)
        compared += ok.sum()
    assert compared > 133 * 10

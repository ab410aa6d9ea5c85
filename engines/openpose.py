"""OpenPose / ControlNet form of whole-body poses: the pose map image and the JSON.

ControlNet's openpose models are conditioned on pose maps drawn by DWPose's ControlNet annotator
(``ControlNet-v1-1-nightly/annotator/dwpose``). :func:`draw_pose_map` reproduces that drawing
pixel for pixel from our 133-keypoint results, so a map made here can replace the annotator's:

1. :func:`to_openpose`: append a neck (mean of the two shoulders; score 1 when both shoulders
   score > 0.3, else 0) by inserting it at index 17 (134 points), then move the body points into
   OpenPose order (mmpose ``[17,6,8,10,7,9,12,14,16,13,15,2,1,4,3]`` -> OpenPose
   ``[1,2,3,4,6,7,8,9,10,12,13,14,15,16,17]``). Points 18-23 are the feet (not drawn),
   24-91 the face, 92-112 the left hand, 113-133 the right hand.
2. Coordinates are normalised by the canvas size and scaled back when drawn (the round trip is
   kept because it changes the float values that get truncated to pixels).
3. Body: a body point is visible when its score is > 0.3. The first 17 of OpenPose's 19 limbs
   (the two ear-shoulder limbs are never drawn) are filled ellipses (``cv2.ellipse2Poly`` with
   ``int()`` truncations, half-width 4), limb-major over all people; then the whole canvas is
   scaled by 0.6 (truncated to uint8); then the 18 joints are filled circles of radius 4,
   joint-major over all people. Both use the 18 fixed OpenPose colours.
4. Hands: a hand or face point is visible when its score is >= 0.3 (the annotator marks points
   with score < 0.3 invisible here, while the body test is > 0.3). All left hands, then all right
   hands; per hand 20 edges (thickness 2, colour ``hsv(i / 20, 1, 1) * 255``) then red joints
   (``(0, 0, 255)``, radius 4). Pixel coordinates are ``int(x_norm * W)``; a point or edge is drawn
   only when all its coordinates are > 0.01 (that is >= 1 px).
5. Face: 68 white dots of radius 3, with the same test.

The canvas is in RGB channel order as the annotator makes it (it is what ControlNet consumes):
convert with ``cv2.cvtColor(m, cv2.COLOR_RGB2BGR)`` before ``cv2.imwrite``.

Arithmetic is float64 like the annotator's (its keypoints become float64 when rescaled from the
model input and the float32 scores follow when concatenated); float32 inputs are upcast exactly.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import cv2
import numpy as np

from engines import skeleton

__all__ = [
    "OPENPOSE_BODY_NAMES",
    "NUM_OPENPOSE_KEYPOINTS",
    "to_openpose",
    "draw_pose_map",
    "openpose_json",
]

NUM_OPENPOSE_KEYPOINTS = 134
VIS_THR = 0.3  # the annotator's visibility threshold
NECK_INDEX = 17  # where the neck is inserted, before the remap
MMPOSE_IDX = (17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3)
OPENPOSE_IDX = (1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17)

#: names of the 18 OpenPose (COCO-18) body points, index 0-17 of the 134-point form
OPENPOSE_BODY_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip

BODY = slice(0, 18)
FOOT = slice(18, 24)
FACE = slice(24, 92)
LEFT_HAND = slice(92, 113)
RIGHT_HAND = slice(113, 134)

# OpenPose limbs (0-based here; the annotator writes them 1-based). Only the first 17 are drawn.
LIMB_SEQ: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
NUM_DRAWN_LIMBS = 17
STICK_WIDTH = 4

# The 18 OpenPose colours: hue steps of 1/18 around the wheel, rounded to multiples of 85.
BODY_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

# 20 hand edges: each finger a chain from the wrist (hand point 0).
HAND_EDGES: tuple[tuple[int, int], ...] = tuple(
    (0 if j == 0 else 4 * f + j, 4 * f + j + 1) for f in range(5) for j in range(4)
)
# colorsys.hsv_to_rgb gives the same floats as matplotlib.colors.hsv_to_rgb (same formulas)
HAND_EDGE_COLORS: tuple[tuple[float, float, float], ...] = tuple(
    tuple(c * 255 for c in colorsys.hsv_to_rgb(i / float(len(HAND_EDGES)), 1.0, 1.0))
    for i in range(len(HAND_EDGES))
)
HAND_POINT_COLOR = (0, 0, 255)
FACE_POINT_COLOR = (255, 255, 255)
EPS = 0.01


def _as_batch(keypoints: Any, scores: Any, k: int | tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """float64 ``[N, K, 2]`` and ``[N, K]``; ``[K, 2]`` / ``[K]`` is one person."""
    kpts = np.asarray(keypoints, dtype=np.float64)
    scs = np.asarray(scores, dtype=np.float64)
    allowed = (k,) if isinstance(k, int) else k
    if kpts.size == 0 and scs.size == 0:
        return np.zeros((0, allowed[0], 2)), np.zeros((0, allowed[0]))
    if kpts.ndim == 2:
        kpts, scs = kpts[None], scs.reshape(1, -1)
    if kpts.ndim != 3 or kpts.shape[1:] not in [(n, 2) for n in allowed]:
        sizes = "|".join(map(str, allowed))
        raise ValueError(f"expected keypoints [N,{sizes},2], got {kpts.shape}")
    if scs.shape != kpts.shape[:2]:
        raise ValueError(f"scores {scs.shape} do not match keypoints {kpts.shape}")
    return kpts, scs


def to_openpose(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """133 mmpose points -> 134 OpenPose-ordered points (neck added, body remapped).

    Args:
        keypoints: ``[N, 133, 2]`` pixel coordinates.
        scores: ``[N, 133]``.

    Returns:
        ``(keypoints [N, 134, 2], scores [N, 134])`` float64, pixel coordinates.
    """
    kpts, scs = _as_batch(keypoints, scores, skeleton.NUM_KEYPOINTS)
    info = np.concatenate([kpts, scs[..., None]], axis=-1)  # [N, 133, 3]
    neck = np.mean(info[:, [5, 6]], axis=1)
    neck[:, 2] = np.logical_and(info[:, 5, 2] > VIS_THR, info[:, 6, 2] > VIS_THR)
    out = np.insert(info, NECK_INDEX, neck, axis=1)
    out[:, list(OPENPOSE_IDX)] = out[:, list(MMPOSE_IDX)]
    return out[..., :2].copy(), out[..., 2].copy()


def _openpose_form(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kpts, scs = _as_batch(keypoints, scores, (skeleton.NUM_KEYPOINTS, NUM_OPENPOSE_KEYPOINTS))
    if kpts.shape[1] == skeleton.NUM_KEYPOINTS:
        return to_openpose(kpts, scs)
    return kpts, scs


def draw_pose_map(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """The ControlNet pose map, pixel-identical to DWPose's annotator, RGB uint8 ``[H, W, 3]``.

    Args:
        keypoints: ``[N, 133, 2]`` pixel coordinates of the original image (``[N, 134, 2]`` is
            taken as already converted by :func:`to_openpose`).
        scores: ``[N, 133]`` (or ``[N, 134]``).
        height, width: canvas size, normally the original image size.

    Returns:
        the canvas in RGB channel order (what ControlNet consumes); convert it to BGR before
        writing it with ``cv2.imwrite``.
    """
    H, W = int(height), int(width)
    canvas = np.zeros((H, W, 3), dtype=np.uint8)
    kpts, scs = _openpose_form(keypoints, scores)
    n_people = kpts.shape[0]

    # normalised coordinates, as the annotator keeps them
    norm = kpts.copy()
    norm[..., 0] /= float(W)
    norm[..., 1] /= float(H)
    finite = np.isfinite(norm).all(axis=-1)

    # --- body
    body = norm[:, BODY]
    body_vis = (scs[:, BODY] > VIS_THR) & finite[:, BODY]
    for i in range(NUM_DRAWN_LIMBS):
        a, b = LIMB_SEQ[i]
        for n in np.flatnonzero(body_vis[:, a] & body_vis[:, b]).tolist():
            ends = body[n, [a, b]]
            Y = ends[:, 0] * float(W)
            X = ends[:, 1] * float(H)
            mX = np.mean(X)
            mY = np.mean(Y)
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
            polygon = cv2.ellipse2Poly(
                (int(mY), int(mX)), (int(length / 2), STICK_WIDTH), int(angle), 0, 360, 1
            )
            cv2.fillConvexPoly(canvas, polygon, BODY_COLORS[i])
    canvas = (canvas * 0.6).astype(np.uint8)

    body_px = np.zeros(body.shape, dtype=np.int64)
    body_px[body_vis] = np.trunc(body[body_vis] * (W, H)).astype(np.int64)
    for i in range(18):
        for n in np.flatnonzero(body_vis[:, i]).tolist():
            x, y = body_px[n, i].tolist()
            cv2.circle(canvas, (x, y), 4, BODY_COLORS[i], thickness=-1)

    # --- hands and face: invisible points become (-1, -1) normalised, hence never drawn
    drawn = (scs >= VIS_THR) & finite  # the annotator's "not (score < 0.3)"
    px = np.full(norm.shape, -1, dtype=np.int64)
    px[drawn] = np.trunc(norm[drawn] * (W, H)).astype(np.int64)
    ok = (px > EPS).all(axis=-1)  # [N, 134]: both pixel coordinates >= 1

    for part in (LEFT_HAND, RIGHT_HAND):
        for n in range(n_people):
            hp, hok = px[n, part].tolist(), ok[n, part]
            for ie, (a, b) in enumerate(HAND_EDGES):
                if hok[a] and hok[b]:
                    cv2.line(canvas, hp[a], hp[b], HAND_EDGE_COLORS[ie], thickness=2)
            for k in np.flatnonzero(hok).tolist():
                cv2.circle(canvas, hp[k], 4, HAND_POINT_COLOR, thickness=-1)

    for n in range(n_people):
        fp = px[n, FACE].tolist()
        for k in np.flatnonzero(ok[n, FACE]).tolist():
            cv2.circle(canvas, fp[k], 3, FACE_POINT_COLOR, thickness=-1)
    return canvas


def openpose_json(
    keypoints: np.ndarray,
    scores: np.ndarray,
    height: int,
    width: int,
    face70: bool = False,
) -> dict[str, Any]:
    """The poses as OpenPose JSON, in the layout sd-webui-controlnet reads and writes.

    ``{"people": [{"pose_keypoints_2d": [x, y, c] * 18, "face_keypoints_2d": [...] * 68,
    "hand_left_keypoints_2d": [...] * 21, "hand_right_keypoints_2d": [...] * 21}, ...],
    "animals": [], "canvas_height": H, "canvas_width": W}``, coordinates in pixels of the
    ``width`` x ``height`` canvas. Like sd-webui-controlnet's DWPose path, a point is present when
    its score is >= 0.3 and is then written with confidence 1.0 (its JSON loader drops any point
    with c < 1.0, so writing the raw score would lose points); other points are written 0, 0, 0.

    Deliberate differences from sd-webui-controlnet's ``encode_poses_as_json``: every list always
    has its full length (sd-webui writes ``null`` for a part with no visible point; its loader
    accepts both); the face has the 68 DWPose points unless ``face70`` is set, which appends the
    right and left eye as points 68 and 69 like sd-webui does for OpenPose's 70-point face.

    Args:
        keypoints: ``[N, 133, 2]`` pixel coordinates (``[N, 134, 2]`` already in OpenPose form).
        scores: ``[N, 133]`` (or ``[N, 134]``).
        height, width: canvas size.
        face70: append the two eyes to the face (70 points, as sd-webui-controlnet does).
    """
    kpts, scs = _openpose_form(keypoints, scores)
    present = (scs >= VIS_THR) & np.isfinite(kpts).all(axis=-1)
    triples = np.where(
        present[..., None], np.concatenate([kpts, np.ones_like(scs)[..., None]], axis=-1), 0.0
    )  # [N, 134, 3]
    people = []
    for person in triples:
        face = person[FACE]
        if face70:
            face = np.concatenate([face, person[[14, 15]]])
        people.append(
            {
                "pose_keypoints_2d": person[BODY].ravel().tolist(),
                "face_keypoints_2d": face.ravel().tolist(),
                "hand_left_keypoints_2d": person[LEFT_HAND].ravel().tolist(),
                "hand_right_keypoints_2d": person[RIGHT_HAND].ravel().tolist(),
            }
        )
    return {
        "people": people,
        "animals": [],
        "canvas_height": int(height),
        "canvas_width": int(width),
    }

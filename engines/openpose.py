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

Beyond the annotator, each a choice that leaves the default drawing untouched:

- ``parts``: the parts left out are not drawn (a body part left out also drops the neck).
- The canvas (:func:`canvas_size`, :func:`to_canvas`): the map is drawn at the size it is used
  at, never upscaled. A short side ``N`` sizes it as ControlNet's annotators size their output
  (the short side scaled to ``N``, then each side rounded to the nearest multiple of 64); the
  keypoints follow the frame onto the canvas as a resize of the frame moves its pixels.
- ``stroke="scaled"``: the body sticks' half-width times :func:`stick_scale`, the factor of
  xinsir's SDXL openpose ControlNet (1 below 500 px on the long side, else
  ``min(2 + long // 1000, 7)``), as comfyui_controlnet_aux's ``xinsr_stick_scaling`` draws
  them; joints, hands and face keep their sizes.

:func:`openpose_json` writes the same poses as OpenPose JSON for the editors and ControlNet
(its docstring gives the rules it follows), in OpenPose's COCO-18 body layout or in BODY_25.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from engines import skeleton

__all__ = [
    "OPENPOSE_BODY_NAMES",
    "BODY25_NAMES",
    "NUM_OPENPOSE_KEYPOINTS",
    "LAYOUTS",
    "STROKES",
    "to_openpose",
    "canvas_size",
    "to_canvas",
    "stick_scale",
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

#: names of the 25 BODY_25 points, OpenPose's order: COCO-18 with a mid-hip at 8 and six feet
BODY25_NAMES: tuple[str, ...] = (
    OPENPOSE_BODY_NAMES[:8] + ("mid_hip",) + OPENPOSE_BODY_NAMES[8:]
    + tuple(f"{side}_{point}" for side in ("left", "right")
            for point in ("big_toe", "small_toe", "heel"))
)
#: ``openpose_json`` body layouts: OpenPose's COCO-18 (what the editors read) and BODY_25
LAYOUTS = ("coco18", "body25")
#: ``draw_pose_map`` stroke modes: the annotator's sizes, or sticks scaled like xinsir's maps
STROKES = ("fixed", "scaled")
#: every part (``skeleton.part_mask`` names)
ALL_PARTS: tuple[str, ...] = tuple(skeleton.PARTS)

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


def _part_mask(parts: Iterable[str]) -> np.ndarray:
    """[134] mask of the OpenPose-form points in ``parts``; the neck goes with the body."""
    mask = skeleton.part_mask(parts)
    return np.insert(mask, NECK_INDEX, mask[0])


def canvas_size(height: int, width: int,
                size: int | tuple[int, int] | None = None) -> tuple[int, int]:
    """``(H, W)`` of the canvas for a ``height`` x ``width`` frame.

    ``None``: the frame's own size. An int ``N``: the short side scaled to ``N``, then each side
    rounded to the nearest multiple of 64 (numpy's round, half to even), as ControlNet's
    annotators size their output; ``N`` >= 32 keeps both sides > 0. A ``(W, H)`` pair: exactly
    that size.
    """
    if size is None:
        return int(height), int(width)
    if isinstance(size, tuple):
        return int(size[1]), int(size[0])
    k = float(size) / min(height, width)
    return int(np.round(height * k / 64.0)) * 64, int(np.round(width * k / 64.0)) * 64


def to_canvas(keypoints: np.ndarray, frame_hw: tuple[int, int],
              canvas_hw: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates of a ``frame_hw`` (H, W) frame moved onto a ``canvas_hw`` canvas: where
    resizing the frame to the canvas moves them (pixel centres map onto pixel centres, as in
    ``cv2.resize``). The very same array when the sizes are equal."""
    if tuple(frame_hw) == tuple(canvas_hw):
        return keypoints
    scale = np.array([canvas_hw[1] / frame_hw[1], canvas_hw[0] / frame_hw[0]])
    return (np.asarray(keypoints, np.float64) + 0.5) * scale - 0.5


def stick_scale(height: int, width: int, stroke: str = "fixed") -> int:
    """The factor on the body sticks' half-width: 1 for ``fixed``; for ``scaled`` xinsir's rule,
    1 when the long side is under 500 px, else ``min(2 + long // 1000, 7)``."""
    if stroke not in STROKES:
        raise ValueError(f"stroke {stroke!r}: choose one of {', '.join(STROKES)}")
    longest = max(int(height), int(width))
    return 1 if stroke == "fixed" or longest < 500 else min(2 + longest // 1000, 7)


def draw_pose_map(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                  parts: Iterable[str] = ALL_PARTS, stroke: str = "fixed") -> np.ndarray:
    """The ControlNet pose map, pixel-identical to DWPose's annotator, RGB uint8 ``[H, W, 3]``.

    Args:
        keypoints: ``[N, 133, 2]`` pixel coordinates of the canvas (``[N, 134, 2]`` is taken as
            already converted by :func:`to_openpose`); :func:`to_canvas` moves a frame's.
        scores: ``[N, 133]`` (or ``[N, 134]``).
        height, width: canvas size (:func:`canvas_size`), normally the original image size.
        parts: the parts drawn (``skeleton.part_mask`` names); the feet are never drawn.
        stroke: ``fixed`` (the annotator's sizes) or ``scaled`` (:func:`stick_scale`).

    Returns:
        the canvas in RGB channel order (what ControlNet consumes); convert it to BGR before
        writing it with ``cv2.imwrite``.
    """
    H, W = int(height), int(width)
    half_width = STICK_WIDTH * stick_scale(H, W, stroke)
    canvas = np.zeros((H, W, 3), dtype=np.uint8)
    kpts, scs = _openpose_form(keypoints, scores)
    scs = np.where(_part_mask(parts), scs, 0.0)
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
                (int(mY), int(mX)), (int(length / 2), half_width), int(angle), 0, 360, 1
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


def _on_canvas(kpts: np.ndarray, height: int, width: int) -> np.ndarray:
    """Points an editor reads where they are: ``1 <= x < W``, ``1 <= y < H``, not both 1."""
    x, y = kpts[..., 0], kpts[..., 1]
    with np.errstate(invalid="ignore"):
        return ((x >= 1) & (x < width) & (y >= 1) & (y < height)) & ((x > 1) | (y > 1))


def _triples(kpts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``[..., 3]``: ``x, y, 1.0`` where present, ``0, 0, 0`` elsewhere."""
    full = np.concatenate([kpts, np.ones(kpts.shape[:-1] + (1,))], axis=-1)
    return np.where(present[..., None], full, 0.0)


def openpose_json(
    keypoints: np.ndarray,
    scores: np.ndarray,
    height: int,
    width: int,
    parts: Iterable[str] = ALL_PARTS,
    face70: bool = True,
    layout: str = "coco18",
) -> dict[str, Any]:
    """The poses as OpenPose JSON that sd-webui-controlnet, sd-webui-openpose-editor,
    comfyui_controlnet_aux and ComfyUI's openpose editor nodes load without loss.

    ``{"people": [{"pose_keypoints_2d": [x, y, c] * 18, "face_keypoints_2d": [...] * 70,
    "hand_left_keypoints_2d": [...] * 21, "hand_right_keypoints_2d": [...] * 21}, ...],
    "animals": [], "canvas_height": H, "canvas_width": W}``, pixel coordinates of the
    ``width`` x ``height`` canvas (integers). The rules, each what one of those loaders needs:

    - A point is present when its score is >= 0.3 (sd-webui-controlnet's DWPose rule) and it
      lies on the canvas, ``1 <= x < W`` and ``1 <= y < H``: ControlNet draws no hand or face
      point below 1 px and the sd-webui editor shows none at 0, and a point beyond the canvas
      makes the ComfyUI editor's view read its whole part at another scale. Not at exactly
      (1, 1) either: a part whose numbers all lie within [-1, 1] is read as normalised.
    - A present point is ``x, y, 1.0`` (the loaders drop c < 1, so raw scores would lose
      points), any other ``0, 0, 0``.
    - Every person has a body array, also when ``parts`` leaves the body out (then all its
      points are 0, 0, 0): without one, ControlNet fails and the sd-webui editor skips the
      person. Face and hands have their full length, or are ``null`` when ``parts`` leaves them
      out (every loader reads null as no part).
    - ``face70`` (default): OpenPose's 70-point face, the sd-webui editor skips any other. Points
      68 and 69 are the right and left pupils (OpenPose's order), each the mean of its eye's six
      contour points (iBUG 36-41 and 42-47), present when all six are. (sd-webui-controlnet pads
      with the body's eyes instead; DWPose has no pupils.) False: DWPose's 68 points.
    - ``layout="body25"``: OpenPose's BODY_25 order, COCO-18 with a mid-hip at 8 (the mean of
      the hips, present when both score > 0.3, like the neck) and the feet at 19-24 (left big
      toe, small toe, heel, right big toe, small toe, heel: COCO-WholeBody's 17-22 in order).
      None of the editors above reads it (the sd-webui editor fails on more than 18 body
      points, ControlNet reads them as COCO-18): it is for tools that ask for BODY_25.

    Args:
        keypoints: ``[N, 133, 2]`` canvas pixels (``[N, 134, 2]`` already in OpenPose form).
        scores: ``[N, 133]`` (or ``[N, 134]``).
        height, width: canvas size.
        parts: the parts written (``skeleton.part_mask`` names); feet only exist in body25.
        face70: the 70-point face (else 68).  layout: ``coco18`` or ``body25``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    H, W = int(height), int(width)
    kpts, scs = _openpose_form(keypoints, scores)
    wanted = _part_mask(parts)
    present = (scs >= VIS_THR) & _on_canvas(kpts, H, W) & wanted
    triples = _triples(kpts, present)  # [N, 134, 3]
    body = triples[:, BODY]
    if layout == "body25":
        hips = kpts[:, [8, 11]].mean(axis=1)  # COCO-18 right hip 8, left hip 11
        mid = (scs[:, [8, 11]] > VIS_THR).all(axis=1) & _on_canvas(hips, H, W) & wanted[0]
        body = np.concatenate([body[:, :8], _triples(hips, mid)[:, None], body[:, 8:],
                               triples[:, FOOT]], axis=1)
    face = triples[:, FACE]
    if face70:
        contours = slice(FACE.start + 36, FACE.start + 48)  # right eye 36-41, left eye 42-47
        eyes = kpts[:, contours].reshape(-1, 2, 6, 2).mean(axis=2)
        seen = present[:, contours].reshape(-1, 2, 6).all(axis=2) & _on_canvas(eyes, H, W)
        face = np.concatenate([face, _triples(eyes, seen)], axis=1)
    written = {key: bool(wanted[part.start]) for key, part in (
        ("face_keypoints_2d", FACE), ("hand_left_keypoints_2d", LEFT_HAND),
        ("hand_right_keypoints_2d", RIGHT_HAND))}
    people = []
    for n in range(kpts.shape[0]):
        arrays = {"pose_keypoints_2d": body[n], "face_keypoints_2d": face[n],
                  "hand_left_keypoints_2d": triples[n, LEFT_HAND],
                  "hand_right_keypoints_2d": triples[n, RIGHT_HAND]}
        people.append({key: (values.ravel().tolist() if written.get(key, True) else None)
                       for key, values in arrays.items()})
    return {"people": people, "animals": [], "canvas_height": H, "canvas_width": W}

"""Keypoint groups the framing talks about, and geometry on keypoints and boxes.

Every index comes from :mod:`engines.skeleton`. Points are camera-image pixels [..., 2].
"""
from __future__ import annotations

import numpy as np

from engines.skeleton import KEYPOINT_INDEX, part_mask

#: Image edges, in camera-image coordinates ("left" is x = 0).
EDGES = ("left", "top", "right", "bottom")


def _idx(*names: str) -> np.ndarray:
    return np.array([KEYPOINT_INDEX[n] for n in names], np.int64)


def _both(joint: str) -> tuple[str, str]:
    return f"left_{joint}", f"right_{joint}"


#: Named keypoint groups the profiles and messages talk about.
GROUPS: dict[str, np.ndarray] = {
    "head": _idx("nose", *_both("eye"), *_both("ear")),
    "shoulders": _idx(*_both("shoulder")),
    "arms": _idx(*_both("elbow"), *_both("wrist")),
    "hips": _idx(*_both("hip")),
    "legs": _idx(*_both("knee"), *_both("ankle")),
    "feet": np.flatnonzero(part_mask("foot")),
    "face": np.flatnonzero(part_mask("face")),
    "left_hand": np.flatnonzero(part_mask("left_hand")),
    "right_hand": np.flatnonzero(part_mask("right_hand")),
}
#: What a message calls each group, and whether it takes "are".
GROUP_LABELS: dict[str, tuple[str, bool]] = {
    "head": ("head", False), "shoulders": ("shoulders", True), "arms": ("arms", True),
    "hips": ("hips", True), "legs": ("legs", True), "feet": ("feet", True),
    "face": ("face", False), "left_hand": ("left hand", False),
    "right_hand": ("right hand", False),
}
#: Edges beyond which a missing group can be, for a person standing upright.
GROUP_EDGES: dict[str, tuple[str, ...]] = {
    "head": ("top",), "face": ("top",), "shoulders": ("bottom", "left", "right"),
    "arms": EDGES, "left_hand": EDGES, "right_hand": EDGES,
    "hips": ("bottom",), "legs": ("bottom",), "feet": ("bottom",),
}
#: The 17 body keypoints (what counts a detection as a person).
BODY = np.flatnonzero(part_mask("body"))
#: Body and feet: the body's extent.
EXTENT = np.flatnonzero(part_mask(("body", "foot")))
NOSE = KEYPOINT_INDEX["nose"]
L_SHOULDER, R_SHOULDER = (KEYPOINT_INDEX[n] for n in _both("shoulder"))
L_HIP, R_HIP = (KEYPOINT_INDEX[n] for n in _both("hip"))
L_EAR, R_EAR = (KEYPOINT_INDEX[n] for n in _both("ear"))
L_WRIST, R_WRIST = (KEYPOINT_INDEX[n] for n in _both("wrist"))
#: Head points a turned back hides (the ears stay in sight).
FRONT_OF_HEAD = _idx("nose", *_both("eye"))
#: iBUG-68 face landmarks: the jaw line's ends (0: the subject's right, at the ear; 16: their
#: left) and the nose tip (30).
JAW_RIGHT, JAW_LEFT, NOSE_TIP = (KEYPOINT_INDEX[f"face-{i}"] for i in (0, 16, 30))
#: Each hand's fingers, [5 fingers (thumb to pinky), 4 points (base to tip)]; the root is
#: the first point of the hand's group.
FINGERS: dict[str, np.ndarray] = {g: GROUPS[g][1:].reshape(5, 4)
                                  for g in ("left_hand", "right_hand")}
#: The wrist each hand's keypoint set belongs to.
HAND_WRIST = {"left_hand": L_WRIST, "right_hand": R_WRIST}


def visible(keypoints: np.ndarray, scores: np.ndarray, w: float, h: float,
            thr: float) -> np.ndarray:
    """Keypoints above ``thr`` and inside the image (pose crops reach past the border)."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (scores > thr) & (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


def edge_distances(xy: np.ndarray, w: float, h: float) -> dict[str, np.ndarray]:
    """Normalised distance of points [..., 2] inside each edge (negative beyond it)."""
    return {"left": xy[..., 0] / w, "top": xy[..., 1] / h,
            "right": 1 - xy[..., 0] / w, "bottom": 1 - xy[..., 1] / h}


def box_touches_edges(box: np.ndarray, shape: tuple[int, ...],
                      margin: float = 0.02) -> frozenset[str]:
    """Edges of an image of ``shape`` (h, w, ...) that the xyxy ``box`` reaches.

    A box within ``margin`` (fraction of the side) of an edge, or beyond it, touches it. A
    detector box ending at the border is evidence that the person continues outside.
    """
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    found = {"left": x1 <= margin * w, "top": y1 <= margin * h,
             "right": x2 >= (1 - margin) * w, "bottom": y2 >= (1 - margin) * h}
    return frozenset(e for e, hit in found.items() if hit)


def head_level(kp: np.ndarray, vis: np.ndarray) -> np.ndarray | None:
    """The head's point at nose height: the nose, else the mean of the visible eyes and ears
    (seen from behind only the ears show; all of them sit about level with the nose)."""
    if vis[NOSE]:
        return kp[NOSE]
    side = GROUPS["head"][1:][vis[GROUPS["head"][1:]]]
    return kp[side].mean(0) if len(side) else None


def head_top(kp: np.ndarray, vis: np.ndarray, ratio: float) -> float | None:
    """Estimated y of the top of the head (above the highest head or face point).

    With the head level (:func:`head_level`) and both shoulders visible the skull reaches
    ``ratio`` times the head level to shoulder-line height above the head level.
    """
    head = np.concatenate([GROUPS["head"], GROUPS["face"]])
    head = head[vis[head]]
    if not len(head):
        return None
    top = float(kp[head, 1].min())
    level = head_level(kp, vis)
    if level is not None and vis[[L_SHOULDER, R_SHOULDER]].all():
        neck = (kp[L_SHOULDER, 1] + kp[R_SHOULDER, 1]) / 2 - level[1]
        top = min(top, float(level[1] - ratio * max(neck, 0.0)))
    return top


def body_height(kp: np.ndarray, vis: np.ndarray, top: float | None, default: float) -> float:
    """Vertical extent (px) of the visible body, head ``top`` included (``default`` when no
    body point is visible)."""
    ys = kp[EXTENT[vis[EXTENT]], 1]
    if not len(ys):
        return default
    top = ys.min() if top is None else min(ys.min(), top)
    return max(float(ys.max() - top), 1.0)

"""Which way the guided person faces: two measured angles and the turned back.

- **Head yaw** comes from the face itself: the nose tip's position along the line between the
  jaw line's two ends (iBUG landmarks 0 and 16, at the ears), else between the ears, as a
  fraction of half that line, read as the sine of the angle (the nose tip on a circle whose
  diameter is the line). The line turns with the head, so a tilted head or a lean is no yaw.
- **Torso yaw** compares the shoulders' width with the torso's height (shoulder midpoint to
  hip midpoint), which a turn about the vertical axis does not shorten:
  ``arccos(ratio / frontal ratio)``. Without both hips (a portrait) the height is the head
  level's distance from the shoulder line, with its own frontal ratio. Both heights are
  measured along the body, so leaning sideways changes neither.
- **The back**: for a person facing the camera their left shoulder (index 5) is on the image
  right of their right shoulder, "right" taken across the torso (perpendicular to the
  shoulder-to-hip axis, so a lean keeps it). Reversed, the torso faces away: the torso yaw is
  then over 90 degrees. Keypoints are camera-image coordinates: the guide never sees the
  mirrored (selfie) display, so mirroring changes nothing here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .keypoints import (
    GROUPS,
    JAW_LEFT,
    JAW_RIGHT,
    L_EAR,
    L_HIP,
    L_SHOULDER,
    NOSE,
    NOSE_TIP,
    R_EAR,
    R_HIP,
    R_SHOULDER,
    head_level,
)


@dataclass(frozen=True)
class Orientation:
    """The guided person's turn away from the camera, in degrees.

    ``head_yaw``: + when the nose points to the person's own left (the image right); None
    when the face gives no measure. ``torso_yaw``: 0 square to the camera, 90 side-on, over 90
    the back turned; None without both shoulders and a torso or neck height.
    ``face_visible``: fraction of the 68 face landmarks visible.
    """

    head_yaw: float | None
    torso_yaw: float | None
    face_visible: float

    @property
    def away(self) -> bool:
        """The torso faces away from the camera (shoulders in reversed order)."""
        return self.torso_yaw is not None and self.torso_yaw > 90.0


def head_yaw(kp: np.ndarray, vis: np.ndarray) -> float | None:
    """Head yaw (degrees) from the nose tip between the jaw ends, else between the ears."""
    nose = NOSE_TIP if vis[NOSE_TIP] else NOSE if vis[NOSE] else None
    if nose is None:
        return None
    for right, left in ((JAW_RIGHT, JAW_LEFT), (R_EAR, L_EAR)):
        if not vis[[right, left]].all():
            continue
        axis = kp[left] - kp[right]
        half = float(np.linalg.norm(axis)) / 2
        if half < 1e-6:
            continue
        offset = float(np.dot(kp[nose] - (kp[left] + kp[right]) / 2, axis)) / (2 * half * half)
        return math.degrees(math.asin(min(max(offset, -1.0), 1.0)))
    return None


@dataclass(frozen=True)
class Shoulders:
    """The shoulders' width over the torso's height (``hips``: shoulder to hip midpoints;
    else the head level's distance from the shoulder line), and whether they are in the
    order of a person facing the camera (``front``)."""

    ratio: float
    hips: bool
    front: bool


def shoulders(kp: np.ndarray, vis: np.ndarray) -> Shoulders | None:
    """The :class:`Shoulders` of one person (None without both shoulders and a height)."""
    if not vis[[L_SHOULDER, R_SHOULDER]].all():
        return None
    across = kp[L_SHOULDER] - kp[R_SHOULDER]  # the person's right to left shoulder
    mid = (kp[L_SHOULDER] + kp[R_SHOULDER]) / 2
    width = float(np.linalg.norm(across))
    level = head_level(kp, vis)
    hips = bool(vis[[L_HIP, R_HIP]].all())
    if hips:
        down = (kp[L_HIP] + kp[R_HIP]) / 2 - mid
        height = float(np.linalg.norm(down))
    elif level is not None and width > 1e-6:
        down = mid - level
        height = abs(float(across[0] * down[1] - across[1] * down[0])) / width
    else:
        return None
    if height < 1e-6:
        return None
    right = np.array([down[1], -down[0]])  # the image right of a person facing the camera
    return Shoulders(width / height, hips, float(np.dot(across, right)) >= 0)


def torso_yaw(kp: np.ndarray, vis: np.ndarray, frontal_torso: float,
              frontal_neck: float) -> float | None:
    """Torso yaw (degrees, 0-180): ``arccos(ratio / frontal)`` of the :func:`shoulders`
    (``frontal_torso`` or ``frontal_neck`` is the ratio square to the camera), over 90 when
    the shoulders are in reversed order."""
    s = shoulders(kp, vis)
    if s is None:
        return None
    frontal = frontal_torso if s.hips else frontal_neck
    yaw = math.degrees(math.acos(min(s.ratio / frontal, 1.0)))
    return yaw if s.front else 180.0 - yaw


def orientation(kp: np.ndarray, vis: np.ndarray, frontal_torso: float,
                frontal_neck: float) -> Orientation:
    """Head yaw, torso yaw and visible face fraction of one person's keypoints."""
    return Orientation(head_yaw(kp, vis), torso_yaw(kp, vis, frontal_torso, frontal_neck),
                       float(vis[GROUPS["face"]].mean()))

"""``motion``: moving too much for a sharp capture (keypoint speed over a time window)."""
from __future__ import annotations

from collections import deque

import numpy as np

from ..direction import Direction
from ..keypoints import body_height
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


class MotionWindow:
    """The guided person's recent keypoints and the speed measured at each frame."""

    def __init__(self) -> None:
        self._frames: deque[tuple[float, np.ndarray, np.ndarray, float | None]] = deque()

    def clear(self) -> None:
        """Start over (another person is guided)."""
        self._frames.clear()

    def add(self, p: Person, t: float, points: np.ndarray, window: float) -> None:
        """Add this frame's speed (median over ``points`` visible in this frame and the
        previous one, in body heights per second) and keep the last ``window`` seconds."""
        m = self._frames
        if m and t <= m[-1][0]:
            m.clear()  # the clock went back or repeated: start over
        speed = None
        if m:
            t0, kp0, vis0, _ = m[-1]
            common = points[vis0[points] & p.vis[points]]
            if len(common) >= 3:
                step = np.linalg.norm(p.kp[common] - kp0[common], axis=1)
                speed = (float(np.median(step)) / (t - t0)
                         / body_height(p.kp, p.vis, p.head_top, p.h))
        m.append((t, p.kp.copy(), p.vis.copy(), speed))
        while m and t - m[0][0] > window:
            m.popleft()

    def speed(self) -> float | None:
        """Mean speed over the window (from frames whose predecessor is in it), or None."""
        speeds = [s for _, _, _, s in list(self._frames)[1:] if s is not None]
        return float(np.mean(speeds)) if speeds else None


def check_motion(p: Person, ctx: Context) -> CheckResult:
    """The person's ``speed`` at most ``motion_max`` (passes until it is measured)."""
    if p.speed is None:
        return CheckResult("motion", True, "not measured yet")
    limit = ctx.config.motion_max - ctx.margin("motion", ctx.config.motion_margin)
    if p.speed > limit:
        return fail("motion", f"moving ({p.speed:.2f} body heights/s)", "Hold still",
                    Direction.NONE, p.speed)
    return CheckResult("motion", True, f"still ({p.speed:.2f} body heights/s)", value=p.speed)

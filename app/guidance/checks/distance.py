"""``distance``: too close / too far (head top to the profile's lowest part, per frame
height)."""
from __future__ import annotations

from ..direction import Direction
from ..keypoints import GROUPS
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_distance(p: Person, ctx: Context) -> CheckResult:
    """The extent, head top to ``extent_bottom``, within the profile's ``size_range``."""
    bottom = ctx.profile.extent_bottom
    bottom_idx = GROUPS[bottom][p.vis[GROUPS[bottom]]]
    if p.head_top is None or not len(bottom_idx):
        return CheckResult("distance", False, f"needs head and {bottom} in frame")
    size = (float(p.kp[bottom_idx, 1].max()) - p.head_top) / p.h
    lo, hi = ctx.profile.size_range
    m = ctx.margin("distance", ctx.config.size_margin)
    if size < lo + m:
        return fail("distance", f"too far ({size:.0%} of the height)", "Come closer",
                    Direction.FORWARD, size)
    if size > hi - m:
        return fail("distance", f"too close ({size:.0%} of the height)",
                    "Step back, you are too close", Direction.BACK, size)
    return CheckResult("distance", True, f"distance ok ({size:.0%} of the height)", value=size)

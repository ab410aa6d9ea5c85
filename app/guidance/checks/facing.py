"""``facing``: not facing the camera."""
from __future__ import annotations

from ..direction import Direction
from ..keypoints import GROUPS, L_SHOULDER, NOSE, R_SHOULDER
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_facing(p: Person, ctx: Context) -> CheckResult:
    """Shoulders wide for their height, nose between them and the face visible, where the
    profile needs facing."""
    if not ctx.profile.need_facing:
        return CheckResult("facing", True, "not needed for this profile")
    cfg = ctx.config
    text = "Turn to face the camera"
    if not p.vis[[NOSE, L_SHOULDER, R_SHOULDER]].all():
        return fail("facing", "face or shoulders not visible", text, Direction.NONE)
    width = p.kp[L_SHOULDER, 0] - p.kp[R_SHOULDER, 0]  # > 0 when facing the camera
    if width <= 0:
        return fail("facing", "back to the camera", "Turn around to face the camera",
                    Direction.NONE)
    mid = (p.kp[L_SHOULDER] + p.kp[R_SHOULDER]) / 2
    ratio = float(width / max(mid[1] - p.kp[NOSE, 1], 1e-6))
    offset = float(abs(p.kp[NOSE, 0] - mid[0]) / width)
    face = float(p.vis[GROUPS["face"]].mean())
    k = 1 + ctx.margin("facing", cfg.facing_margin)
    if (ratio < cfg.facing_min_shoulder_ratio * k or offset > cfg.facing_max_nose_offset / k
            or face < min(cfg.facing_min_face_visible * k, 1.0)):
        return fail("facing", f"turned away (shoulders {ratio:.1f}, nose {offset:.2f}, "
                    f"face {face:.0%})", text, Direction.NONE, ratio)
    return CheckResult("facing", True, "facing the camera", value=ratio)

"""``centre``: off-centre left / right."""
from __future__ import annotations

from ..direction import Direction, own_side
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_centre(p: Person, ctx: Context) -> CheckResult:
    """The middle of the visible framed points within ``center_tol`` of ``center_x``."""
    idx = ctx.profile.framed_points()
    xs = p.kp[idx[p.vis[idx]], 0]
    if not len(xs):
        return CheckResult("centre", False, "nothing to centre")
    offset = (float(xs.min() + xs.max()) / 2) / p.w - ctx.profile.center_x
    tol = ctx.profile.center_tol - ctx.margin("centre", ctx.config.center_margin)
    if abs(offset) > tol:
        raw = Direction.LEFT if offset > 0 else Direction.RIGHT
        return fail("centre", f"off-centre by {abs(offset):.0%} of the width",
                    f"Move a little to {own_side(raw)}", raw, offset)
    return CheckResult("centre", True, "centred", value=offset)

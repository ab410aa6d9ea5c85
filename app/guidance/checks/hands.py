"""``hands``: a needed hand not visible (or cut off at an edge)."""
from __future__ import annotations

from dataclasses import replace

from ..person import Person
from ..results import CheckResult
from .base import Context
from .cutoff import cut_or_hidden, find_cut


def check_hands(p: Person, ctx: Context) -> CheckResult:
    """Both hands inside the frame with ``hand_min_visible`` of their points visible, where
    the profile needs hands."""
    if not ctx.profile.need_hands:
        return CheckResult("hands", True, "not needed for this profile")
    need = ctx.profile.hand_min_visible + ctx.margin("hands", ctx.config.hand_margin)
    cut, hidden = find_cut(p, ["left_hand", "right_hand"], min(need, 1.0), "hands", ctx)
    failed = cut_or_hidden("hands", cut, hidden)
    if failed is not None and not cut and len(hidden) == 2:
        return replace(failed, instruction=replace(failed.instruction, text="Show both hands"))
    return failed or CheckResult("hands", True, "both hands visible")

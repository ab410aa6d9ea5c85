"""``in_frame``: a part the profile needs is cut off at an edge (feet at the bottom: "step
back") or hidden."""
from __future__ import annotations

from ..person import Person
from ..results import CheckResult
from .base import Context
from .cutoff import cut_or_hidden, find_cut


def check_in_frame(p: Person, ctx: Context) -> CheckResult:
    """Every required group of the profile inside the frame and visible."""
    cut, hidden = find_cut(p, list(ctx.profile.required), ctx.config.group_min_visible,
                           "in_frame", ctx)
    return cut_or_hidden("in_frame", cut, hidden) or CheckResult(
        "in_frame", True, "all needed parts in frame")

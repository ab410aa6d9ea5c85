"""``single``: other people in the frame.

The guide picks one person and guides them; the others are reported only once that person's
own framing is right: the pose map must show one skeleton, but the others are not the
subject's to move. Readiness needs them gone.
"""
from __future__ import annotations

from ..direction import Direction
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_single(p: Person, ctx: Context) -> CheckResult:
    """Nobody else counts as a person in the frame."""
    if p.others:
        return fail("single", f"{p.others + 1} people in the frame",
                    "Only one person in the frame, please", Direction.NONE, float(p.others + 1))
    return CheckResult("single", True, "one person")

"""``head_room``: too little / too much space above the head (the vertical placement)."""
from __future__ import annotations

from ..direction import Direction
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_head_room(p: Person, ctx: Context) -> CheckResult:
    """The space above the head top within the profile's ``head_room``."""
    if p.head_top is None:
        return CheckResult("head_room", False, "head not found")
    room = p.head_top / p.h
    lo, hi = ctx.profile.head_room
    m = ctx.margin("head_room", ctx.config.head_room_margin)
    if room < lo + m:
        return fail("head_room", f"too little space above the head ({room:.0%})",
                    "Leave space above your head: tilt the camera up a little",
                    Direction.DOWN, room)
    if room > hi - m:
        return fail("head_room", f"too much space above the head ({room:.0%})",
                    "Too much space above your head: tilt the camera down a little",
                    Direction.UP, room)
    return CheckResult("head_room", True, f"head room ok ({room:.0%})", value=room)

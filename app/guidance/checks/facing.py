"""``facing``: not facing the camera (:mod:`~app.guidance.orientation` measures the turn).

A turned back asks to turn around; a face mostly hidden or a torso turned past
``facing_max_torso_yaw`` asks to face the camera; a head turned past ``facing_max_head_yaw``
over a square torso asks only the head to turn. A tilted head or a lean is no turn.
"""
from __future__ import annotations

from ..direction import Direction
from ..person import Person
from ..results import CheckResult, fail
from .base import Context


def check_facing(p: Person, ctx: Context) -> CheckResult:
    """Torso and head yaw within their limits and the face visible, where the profile needs
    facing. ``value``: the larger of the two yaws."""
    if not ctx.profile.need_facing:
        return CheckResult("facing", True, "not needed for this profile")
    cfg, o = ctx.config, p.orientation
    k = 1 + ctx.margin("facing", cfg.facing_margin)
    head = abs(o.head_yaw) if o.head_yaw is not None else None
    turn = max((a for a in (head, o.torso_yaw) if a is not None), default=None)
    angles = (f"head {'?' if head is None else f'{head:.0f}'}°, body "
              f"{'?' if o.torso_yaw is None else f'{o.torso_yaw:.0f}'}°, "
              f"face {o.face_visible:.0%}")
    text = "Turn to face the camera"
    if o.away:
        return fail("facing", f"back to the camera ({angles})", "Turn around to face the camera",
                    Direction.NONE, turn)
    if o.torso_yaw is None:
        return fail("facing", f"shoulders not measurable ({angles})", text, Direction.NONE)
    if o.face_visible < min(cfg.facing_min_face_visible * k, 1.0):
        return fail("facing", f"face hidden ({angles})", text, Direction.NONE, turn)
    if o.torso_yaw > cfg.facing_max_torso_yaw / k:
        return fail("facing", f"body turned ({angles})", text, Direction.NONE, turn)
    if head is not None and head > cfg.facing_max_head_yaw / k:
        return fail("facing", f"head turned ({angles})", "Turn your head towards the camera",
                    Direction.NONE, turn)
    return CheckResult("facing", True, f"facing the camera ({angles})", value=turn)

"""``hands``: a needed hand not visible, cut off at an edge, or read wrong.

A ControlNet hand pose needs each hand once, at its own wrist, with its fingers. In order:

1. a hand cut off at an edge (move or step back), or not found at all, not even its root
   (show it);
2. one hand reported twice: the two keypoint sets' centres closer than ``hand_duplicate``
   hand sizes, as a pose model reports one hand seen alone, or two hands on top of each other;
3. left and right swapped: the sets' distances to the other wrist, summed, under
   ``hand_swap`` times their distances to their own wrist;
4. fingers unclear: a hand with fewer than the profile's ``min_fingers`` fingers seen (a
   finger is seen with ``finger_min_points`` of its 4 points visible), or found (its root
   visible) with fewer than ``hand_min_visible`` of its points.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..direction import Direction
from ..keypoints import FINGERS, GROUP_LABELS, GROUPS, HAND_WRIST
from ..person import Person
from ..results import CheckResult, fail
from .base import Context
from .cutoff import cut_or_hidden, find_cut

HANDS = ("left_hand", "right_hand")


@dataclass(frozen=True)
class HandReading:
    """How the two hands' keypoint sets read.

    ``fingers``: fingers seen per hand. ``apart``: distance between the sets' centres (mean
    of their visible points) in hand sizes (the larger set's box diagonal), None unless both
    sets have 3 visible points. ``swap``: cross-wrist over own-wrist distance sums, None
    without both sets and both wrists (about 1 when both hands are at the same place; under
    1 when each set is nearer the other wrist).
    """

    fingers: dict[str, int]
    apart: float | None
    swap: float | None


def read_hands(p: Person, finger_min_points: int) -> HandReading:
    """The guided person's :class:`HandReading`."""
    fingers = {g: int((p.vis[FINGERS[g]].sum(1) >= finger_min_points).sum()) for g in HANDS}
    sets = {g: p.kp[GROUPS[g][p.vis[GROUPS[g]]]] for g in HANDS}
    if min(len(s) for s in sets.values()) < 3:
        return HandReading(fingers, None, None)
    centre = {g: s.mean(0) for g, s in sets.items()}
    size = max(float(np.linalg.norm(s.max(0) - s.min(0))) for s in sets.values())
    apart = float(np.linalg.norm(centre["left_hand"] - centre["right_hand"])) / max(size, 1e-6)
    wrists = [HAND_WRIST[g] for g in HANDS]
    if not p.vis[wrists].all():
        return HandReading(fingers, apart, None)
    own = sum(float(np.linalg.norm(centre[g] - p.kp[HAND_WRIST[g]])) for g in HANDS)
    cross = sum(float(np.linalg.norm(centre[g] - p.kp[HAND_WRIST[h]]))
                for g, h in zip(HANDS, reversed(HANDS)))
    return HandReading(fingers, apart, cross / max(own, 1e-6))


def check_hands(p: Person, ctx: Context) -> CheckResult:
    """Both hands inside the frame, found once each at their own wrist with their fingers,
    where the profile needs hands."""
    if not ctx.profile.need_hands:
        return CheckResult("hands", True, "not needed for this profile")
    cfg = ctx.config
    margin = ctx.margin("hands", cfg.hand_margin)
    cut, hidden = find_cut(p, list(HANDS), min(ctx.profile.hand_min_visible + margin, 1.0),
                           "hands", ctx)
    lost = [g for g in hidden if not p.vis[GROUPS[g][0]]]  # not even the hand's root
    failed = cut_or_hidden("hands", cut, lost)
    if failed is not None:
        if not cut and len(lost) == 2:
            return replace(failed, instruction=replace(failed.instruction,
                                                       text="Show both hands"))
        return failed
    hands = read_hands(p, cfg.finger_min_points)
    if hands.apart is not None and hands.apart < cfg.hand_duplicate * (1 + margin):
        return fail("hands", f"one hand reported twice ({hands.apart:.2f} hand sizes apart)",
                    "Show both hands, apart from each other", Direction.NONE, hands.apart)
    if hands.swap is not None and hands.swap < cfg.hand_swap * (1 + margin):
        return fail("hands", f"left and right hands swapped (wrist ratio {hands.swap:.2f})",
                    "Hold your hands apart, not crossed", Direction.NONE, hands.swap)
    unclear = [g for g in HANDS if g in hidden or hands.fingers[g] < ctx.profile.min_fingers]
    if unclear:
        seen = ", ".join(f"{GROUP_LABELS[g][0]} {hands.fingers[g]}/5" for g in unclear)
        what = "both hands" if len(unclear) == 2 else f"your {GROUP_LABELS[unclear[0]][0]}"
        return fail("hands", f"fingers unclear ({seen} fingers seen)",
                    f"Show the fingers of {what}", Direction.NONE,
                    float(min(hands.fingers[g] for g in unclear)))
    return CheckResult("hands", True, "both hands visible")

"""Kinds of shot: what an ideal frame looks like for each (:class:`Profile`, :data:`PROFILES`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keypoints import GROUPS


@dataclass(frozen=True)
class Profile:
    """What an ideal frame looks like for one kind of shot (fractions of the frame).

    Attributes:
        name: identifier (key of :data:`PROFILES`).
        required: groups of :data:`GROUPS` that must be inside the frame.
        extent_bottom: required group whose lowest visible point ends the measured extent.
        size_range: (too far, too close) bounds of the extent, head top to ``extent_bottom``,
            as a fraction of the frame height.
        head_room: (min, max) space above the head top, fraction of the frame height.
        center_x: wanted horizontal centre of the required parts, fraction of the width.
        center_tol: allowed horizontal offset from ``center_x``, fraction of the width.
        need_hands: both hands must be visible (ControlNet hand poses need them).
        hand_min_visible: fraction of a hand's 21 keypoints that must be visible.
        min_fingers: fingers of each hand (of 5) that must be seen, each with
            ``finger_min_points`` of its 4 keypoints visible (a hand pose needs its fingers,
            not only the wrist region).
        need_facing: the person must face the camera.
    """

    name: str
    required: tuple[str, ...]
    extent_bottom: str
    size_range: tuple[float, float]
    head_room: tuple[float, float]
    center_x: float = 0.5
    center_tol: float = 0.1
    need_hands: bool = True
    hand_min_visible: float = 0.5
    min_fingers: int = 3
    need_facing: bool = True

    def __post_init__(self) -> None:
        unknown = [g for g in self.required if g not in GROUPS]
        if unknown:
            raise ValueError(f"profile {self.name!r}: unknown groups {unknown}")
        if self.extent_bottom not in self.required:
            raise ValueError(f"profile {self.name!r}: extent_bottom must be a required group")
        if not 0 <= self.min_fingers <= 5:
            raise ValueError(f"profile {self.name!r}: min_fingers must be 0 to 5")

    def framed_points(self) -> np.ndarray:
        """Keypoints the framing is about: the required groups, plus the hands if needed."""
        groups = list(self.required)
        if self.need_hands:
            groups += ["left_hand", "right_hand"]
        return np.concatenate([GROUPS[g] for g in groups])


#: Head to feet, filling 60-90 % of the height: the classic ControlNet full-body pose.
FULL_BODY = Profile("full_body", ("head", "shoulders", "arms", "hips", "legs", "feet"),
                    "feet", size_range=(0.6, 0.9), head_room=(0.03, 0.25))
#: Waist up: head to hips fill 50-80 % of the height, hands visible.
UPPER_BODY = Profile("upper_body", ("head", "shoulders", "arms", "hips"), "hips",
                     size_range=(0.5, 0.8), head_room=(0.03, 0.25))
#: Head and shoulders: head top to shoulder line fills 35-65 % of the height.
PORTRAIT = Profile("portrait", ("head", "shoulders"), "shoulders", size_range=(0.35, 0.65),
                   head_room=(0.05, 0.25), need_hands=False)
#: Hand poses: upper body close enough for the fingers, both hands almost fully visible with
#: every finger seen.
HANDS = Profile("hands", ("head", "shoulders", "arms"), "shoulders", size_range=(0.18, 0.3),
                head_room=(0.03, 0.25), hand_min_visible=0.8, min_fingers=5)

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL_BODY, UPPER_BODY, PORTRAIT, HANDS)}

"""Every threshold of the guide (:class:`GuideConfig`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GuideConfig:
    """Every threshold of the guide. Fractions are of the frame side unless stated."""

    #: a keypoint is visible above this score (the OpenPose visibility threshold, COMPAT §4)
    kpt_thr: float = 0.3
    #: visible body keypoints a detection needs to count as a person
    min_person_keypoints: int = 4
    #: a challenger must score this many times the guided person to take over the guidance
    person_switch_ratio: float = 1.5
    #: fraction of a group's keypoints that must be visible for the group to be in frame
    group_min_visible: float = 0.6
    #: a visible needed keypoint this close to the border touches it (the limb goes beyond)
    edge_margin: float = 0.01
    #: a missing keypoint reported this close to (or beyond) an edge is taken as cut off there
    edge_evidence: float = 0.05
    #: a person's box this close to an edge reaches it (detector boxes are looser than points)
    box_margin: float = 0.02
    #: head top = nose - ratio * (shoulder line - nose), in y; the skull above the nose
    head_top_ratio: float = 0.6
    #: hysteresis margins: how far inside its range a failed check must come back to pass
    edge_exit_margin: float = 0.02
    size_margin: float = 0.03
    center_margin: float = 0.03
    head_room_margin: float = 0.02
    hand_margin: float = 0.1
    exposure_margin: float = 0.03
    facing_margin: float = 0.15  # relative to each facing threshold
    motion_margin: float = 0.03
    #: facing: largest head yaw (degrees, from the nose tip between the jaw ends); a
    #: three-quarter head measures about 45
    facing_max_head_yaw: float = 30.0
    #: facing: largest torso yaw (degrees, from the shoulders' width against the torso)
    facing_max_torso_yaw: float = 55.0
    #: facing: shoulder width / torso height (shoulder to hip midpoints) square to the camera
    frontal_torso_ratio: float = 0.55
    #: facing without both hips: shoulder width / head level's distance from the shoulder line
    frontal_neck_ratio: float = 1.4
    #: facing: fraction of the 68 face landmarks visible
    facing_min_face_visible: float = 0.5
    #: hands: a finger is seen with this many of its 4 keypoints visible
    finger_min_points: int = 3
    #: hands: the two hand sets' centres closer than this many hand sizes are one hand twice
    hand_duplicate: float = 0.3
    #: hands: cross-wrist over own-wrist distances below this is left and right swapped
    hand_swap: float = 0.5
    #: exposure bounds on :class:`Exposure` (mean grey, crushed and clipped fractions)
    dark_mean: float = 0.2
    bright_mean: float = 0.85
    max_dark_frac: float = 0.6
    max_bright_frac: float = 0.25
    #: motion: window (s) over which keypoint speed is averaged
    motion_window: float = 0.5
    #: motion: largest median keypoint speed, in body heights per second, for a still pose
    motion_max: float = 0.15
    #: debounce: frames and seconds a new instruction must persist before it is shown
    switch_frames: int = 3
    switch_seconds: float = 0.3
    #: seconds of continuous readiness before ``capture`` fires
    capture_after: float = 1.0

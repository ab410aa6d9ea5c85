"""Facing as two measured angles (app/guidance/orientation.py) and what the guide says with
them: known answers on the synthetic person, a tilt or lean is no turn, a turned back asks to
turn around and nothing about a head that is in the frame."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.guidance import FULL_BODY, PORTRAIT, Direction, Guide
from app.guidance.keypoints import FRONT_OF_HEAD, GROUPS, JAW_LEFT, JAW_RIGHT, NOSE_TIP
from app.guidance.orientation import head_yaw, torso_yaw
from engines.skeleton import KEYPOINT_INDEX
from tests.guidance_people import CFG, Pose, canonical, frame, measurements, place

SHAPE = (720, 1280, 3)
NOSE, L_SH, R_SH = (KEYPOINT_INDEX[n] for n in ("nose", "left_shoulder", "right_shoulder"))
L_HIP, R_HIP = KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]


def _all_seen(kp: np.ndarray) -> np.ndarray:
    return np.ones(len(kp), bool)


def _rotated(kp: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return kp @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])


@pytest.mark.parametrize("roll", [0.0, 25.0, -40.0])
@pytest.mark.parametrize("offset,degrees", [(0.0, 0.0), (0.5, 30.0), (-0.5, -30.0),
                                            (math.sqrt(0.5), 45.0)])
def test_head_yaw_is_the_nose_tip_along_the_jaw_line(offset, degrees, roll):
    """The nose tip ``offset`` half jaw widths towards the person's left reads as
    asin(offset), whatever the head's roll."""
    kp = canonical()
    half = (kp[JAW_LEFT, 0] - kp[JAW_RIGHT, 0]) / 2
    mid = (kp[JAW_LEFT] + kp[JAW_RIGHT]) / 2
    kp[[NOSE_TIP, NOSE]] = mid + np.array([offset * half, 0.02])
    assert head_yaw(_rotated(kp, roll), _all_seen(kp)) == pytest.approx(degrees, abs=1e-6)


def test_head_yaw_falls_back_to_the_ears_then_gives_up():
    kp = canonical()
    seen = _all_seen(kp)
    seen[JAW_RIGHT] = False
    half = (kp[KEYPOINT_INDEX["left_ear"], 0] - kp[KEYPOINT_INDEX["right_ear"], 0]) / 2
    kp[NOSE_TIP, 0] = half * 0.5
    assert head_yaw(kp, seen) == pytest.approx(30.0)
    seen[KEYPOINT_INDEX["left_ear"]] = False
    assert head_yaw(kp, seen) is None


@pytest.mark.parametrize("lean", [0.0, 30.0, -30.0])
@pytest.mark.parametrize("degrees", [0.0, 30.0, 50.0, 70.0])
def test_torso_yaw_from_the_shoulders_against_the_torso(degrees, lean):
    """Shoulders ``cos(yaw)`` of the frontal width for their torso read as ``yaw``, leaning
    or not; reversed they read as the back (180 - yaw)."""
    kp = canonical()
    height = kp[L_HIP, 1] - kp[L_SH, 1]
    half = CFG.frontal_torso_ratio * height * math.cos(math.radians(degrees)) / 2
    kp[[L_SH, R_SH], 0] = half, -half
    seen = _all_seen(kp)
    front = torso_yaw(_rotated(kp, lean), seen, CFG.frontal_torso_ratio, CFG.frontal_neck_ratio)
    assert front == pytest.approx(degrees, abs=1e-4)
    kp[[L_SH, R_SH]] = kp[[R_SH, L_SH]]
    back = torso_yaw(_rotated(kp, lean), seen, CFG.frontal_torso_ratio, CFG.frontal_neck_ratio)
    assert back == pytest.approx(180.0 - degrees, abs=1e-4)


def test_torso_yaw_without_hips_uses_the_neck():
    kp = canonical()
    seen = _all_seen(kp)
    seen[[L_HIP, R_HIP]] = False
    neck = kp[L_SH, 1] - kp[NOSE, 1]
    half = CFG.frontal_neck_ratio * neck * 0.5 / 2  # cos 60
    kp[[L_SH, R_SH], 0] = half, -half
    yaw = torso_yaw(_rotated(kp, 20), seen, CFG.frontal_torso_ratio, CFG.frontal_neck_ratio)
    assert yaw == pytest.approx(60.0, abs=1e-6)
    seen[GROUPS["head"]] = False
    assert torso_yaw(kp, seen, CFG.frontal_torso_ratio, CFG.frontal_neck_ratio) is None


def test_the_synthetic_yaw_measures_close_to_what_it_turned():
    """The cylinder turn of the test people reads back within 5 degrees up to 45 degrees."""
    pose = Pose(canonical())
    for degrees in (-45, -30, -10, 10, 30, 45):
        assert measurements(pose.head_turned(degrees))["head_yaw"] == pytest.approx(degrees,
                                                                                    abs=5)


def _state(pose: Pose, profile=FULL_BODY, **placement):
    return Guide(profile).update(frame(place(pose, profile, SHAPE, **placement)), SHAPE, 0.0)


@pytest.mark.parametrize("change", [lambda p: p.leaning(30), lambda p: p.leaning(-30),
                                    lambda p: p.head_tilted(35), lambda p: p.head_tilted(-35)],
                         ids=["lean-right", "lean-left", "tilt-right", "tilt-left"])
@pytest.mark.parametrize("profile", [FULL_BODY, PORTRAIT], ids=lambda p: p.name)
def test_a_lean_or_a_tilted_head_is_not_turning_away(change, profile):
    pose = change(Pose(canonical()))
    placed = place(pose, profile, SHAPE)
    mid = placed.kp[[L_SH, R_SH]].mean(0)
    width = placed.kp[L_SH, 0] - placed.kp[R_SH, 0]
    assert abs(placed.kp[NOSE, 0] - mid[0]) / width > 0.25  # the nose is off the shoulders
    state = _state(pose, profile)
    assert state.check("facing").ok and state.candidate is None, state.check("facing")


@pytest.mark.parametrize("degrees", [45, -45])
def test_head_turned_three_quarter_asks_the_head_to_turn(degrees):
    state = _state(Pose(canonical()).head_turned(degrees))
    assert state.candidate.check == "facing" and state.candidate.direction is Direction.NONE
    assert state.candidate.text == "Turn your head towards the camera"
    assert state.check("in_frame").ok


def test_body_turned_asks_to_face_the_camera():
    pose = Pose(canonical())
    kp = pose.kp.copy()
    kp[:, 0] *= math.cos(math.radians(70))  # the whole person turned 70 degrees
    state = _state(Pose(kp))
    assert state.candidate.text == "Turn to face the camera"
    assert "body turned" in state.check("facing").message


@pytest.mark.parametrize("unseen_at_top", [False, True])
def test_a_back_is_told_to_turn_around_not_that_its_head_is_out(unseen_at_top):
    """The issue's case: face, nose and eyes hidden, left and right swapped, the head well
    inside the frame. A pose model may report the points it cannot see at the top of its
    crop, past the frame's top edge: they read as a head cut off ("Step back, your head is
    out of frame") unless the head of a back is judged by its ears."""
    placed = place(Pose(canonical()).back_turned(), FULL_BODY, SHAPE)
    if unseen_at_top:
        placed.kp[np.r_[GROUPS["face"], FRONT_OF_HEAD], 1] = -10.0
    state = Guide(FULL_BODY).update(frame(placed), SHAPE, 0.0)
    assert state.check("in_frame").ok and state.check("head_room").ok, state.checks
    assert (state.candidate.check, state.candidate.text) == ("facing",
                                                             "Turn around to face the camera")


def test_a_back_whose_head_is_out_of_frame_is_still_told_so():
    back = Pose(canonical()).back_turned()
    state = _state(back, room=-0.2)
    assert state.candidate.check == "in_frame" and state.candidate.direction is Direction.BACK
    assert "head" in state.candidate.text


def test_a_back_hides_its_own_arms_without_a_framing_instruction():
    back = Pose(canonical()).back_turned().hide("left_hand", "right_hand")
    back = back.with_scores(np.r_[GROUPS["arms"]], 0.0)
    state = _state(back)
    assert state.check("in_frame").ok
    assert state.candidate.text == "Turn around to face the camera"

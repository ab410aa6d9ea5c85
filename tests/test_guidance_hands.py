"""Hands read right before a capture (app/guidance/checks/hands.py): one hand reported twice,
left and right swapped, fingers under the threshold, each with its own instruction, and the
hands profile checks every finger."""
from __future__ import annotations

import pytest

from app.guidance import FULL_BODY, HANDS, UPPER_BODY, Direction, Guide
from app.guidance.keypoints import FINGERS, GROUPS
from tests.conftest import need_dir
from tests.guidance_people import CFG, Pose, canonical, frame, measurements, place, real_people

SHAPE = (720, 1280, 3)
NEED_HANDS = [FULL_BODY, UPPER_BODY, HANDS]


def _candidate(pose: Pose, profile=FULL_BODY, mirror: bool = False):
    state = Guide(profile).update(frame(place(pose, profile, SHAPE)), SHAPE, 0.0, mirror=mirror)
    return state.candidate, state


def test_readings_of_the_synthetic_hands():
    pose = Pose(canonical())
    plain = measurements(pose)
    assert (plain["fingers_left"], plain["fingers_right"]) == (5, 5)
    assert plain["hands_apart"] > 3 and plain["wrist_ratio"] > 3
    assert measurements(pose.hand_twice())["hands_apart"] == 0.0
    swapped = measurements(pose.hands_swapped())
    assert swapped["hands_apart"] == pytest.approx(plain["hands_apart"])
    assert swapped["wrist_ratio"] == pytest.approx(1 / plain["wrist_ratio"])
    unclear = measurements(pose.fingers_unclear("right_hand"))
    assert (unclear["fingers_left"], unclear["fingers_right"]) == (5, 0)


@pytest.mark.parametrize("profile", NEED_HANDS, ids=lambda p: p.name)
@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("change,text", [
    (Pose.hand_twice, "Show both hands, apart from each other"),
    (Pose.hands_swapped, "Hold your hands apart, not crossed"),
    (lambda p: p.fingers_unclear("left_hand"), "Show the fingers of your left hand"),
    (lambda p: p.fingers_unclear("left_hand").fingers_unclear("right_hand"),
     "Show the fingers of both hands"),
], ids=["twice", "swapped", "left-fingers", "both-fingers"])
def test_hands_read_wrong_hold_the_capture(profile, mirror, change, text):
    candidate, state = _candidate(change(Pose(canonical())), profile, mirror)
    assert (candidate.check, candidate.text, candidate.direction) == ("hands", text,
                                                                      Direction.NONE)
    assert not state.ready and not state.capture
    assert all(c.ok for c in state.checks if c.name != "hands")


def test_a_found_hand_without_fingers_is_asked_for_its_fingers():
    """A hand whose root shows but most of whose points are under the threshold is there,
    unclear: not 'make sure it is visible'."""
    pose = Pose(canonical()).with_scores(GROUPS["left_hand"][2:], 0.1)
    assert pose.vis[GROUPS["left_hand"]].mean() < FULL_BODY.hand_min_visible
    candidate, _ = _candidate(pose)
    assert candidate.text == "Show the fingers of your left hand"


@pytest.mark.parametrize("profile,ready", [(FULL_BODY, True), (UPPER_BODY, True),
                                           (HANDS, False)], ids=lambda v: str(v))
def test_the_hands_profile_needs_every_finger(profile, ready):
    """One finger's tip and middle points unseen: a full-body pose does without it, a hand
    pose does not."""
    pose = Pose(canonical()).with_scores(FINGERS["right_hand"][4, 2:], 0.1)
    candidate, state = _candidate(pose, profile)
    assert state.ready is ready
    if not ready:
        assert candidate.text == "Show the fingers of your right hand"
        assert "right hand 4/5" in state.check("hands").message


def test_real_hands_together_on_a_bat_are_two_hands():
    """The batter (460541) holds the bat with both hands touching: two hands, not one twice
    (0.73 hand sizes apart); so close together, left and right swapped cannot be told apart
    from right (the wrist ratio only inverts, 1.86 to 0.54) and is not flagged."""
    pose = real_people(need_dir("coco_wholebody"))[460541]
    m = measurements(pose)
    assert CFG.hand_duplicate < m["hands_apart"] < 1.0
    assert 1 < m["wrist_ratio"] < 1 / CFG.hand_swap
    swapped = measurements(pose.hands_swapped())["wrist_ratio"]
    assert swapped == pytest.approx(1 / m["wrist_ratio"]) and swapped > CFG.hand_swap
    assert measurements(pose.hand_twice())["hands_apart"] == 0.0

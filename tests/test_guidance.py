"""Framing guidance: scripted keypoint scenarios for every check and profile, plus real data.

Persons are built from one canonical standing pose (tests/guidance_people.py: 133 keypoints
placed anatomically, in units of body height, facing the camera) and transformed: scaled,
shifted, cropped at the frame edges (points outside score 0, as a pose model reports them),
turned sideways, with hidden hands or jitter. The real annotated people in every situation
are tests/test_guidance_framing.py.
"""
from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from app.guidance import (
    CHECKS,
    FULL_BODY,
    GROUPS,
    HANDS,
    PORTRAIT,
    PROFILES,
    UPPER_BODY,
    Direction,
    Guide,
    GuideConfig,
    Profile,
    box_touches_edges,
    choose_person,
    exposure_stats,
)
from engines.detectors import YOLOX
from engines.models import load_model
from engines.pipeline import FrameResult
from engines.skeleton import KEYPOINT_INDEX, NUM_KEYPOINTS, PARTS
from tests.conftest import need
from tests.guidance_people import Pose, canonical, frame, place

H, W = 720, 1280
SHAPE = (H, W, 3)
FPS = 30.0
CFG = GuideConfig()
ALL = list(PROFILES.values())
NEED_HANDS = [p for p in ALL if p.need_hands]

class Person(Pose):
    """A synthetic detection (keypoints [133, 2] in pixels, scores [133]) of the canonical
    person or a variation of it."""

    @classmethod
    def place(cls, profile: Profile, size: float | None = None, room: float = 0.14,
              cx: float = 0.5, pose: np.ndarray | None = None) -> Person:
        """The canonical ``pose`` with the profile's extent ``size`` of the height (default:
        the middle of its range), head top at ``room``, centred at ``cx``."""
        placed = place(Pose(canonical() if pose is None else pose), profile, SHAPE, size, room,
                       cx)
        return cls(placed.kp, placed.scores)


def run(guide: Guide, results, seconds: float = 0.0, t0: float = 0.0, **kw):
    """Feed ``results`` (one FrameResult or a callable of the frame number) at 30 FPS for
    ``seconds`` (at least one frame); returns the last state and the next time."""
    n = max(1, round(seconds * FPS))
    state = None
    for i in range(n):
        r = results(i) if callable(results) else results
        state = guide.update(r, SHAPE, t0 + i / FPS, **kw)
    return state, t0 + n / FPS


def first_failure(profile: Profile, result: FrameResult, **kw):
    """The candidate instruction of a fresh guide on one frame."""
    state = Guide(profile).update(result, SHAPE, 0.0, **kw)
    return state.candidate, state


# --------------------------------------------------------------------------------------------
# The synthetic person itself
# --------------------------------------------------------------------------------------------


def test_canonical_pose_is_anatomical():
    kp = canonical()
    idx = KEYPOINT_INDEX
    assert kp[idx["left_shoulder"], 0] > 0 > kp[idx["right_shoulder"], 0]  # facing the camera
    ys = [kp[idx[n], 1] for n in ("nose", "left_shoulder", "left_hip", "left_knee",
                                   "left_ankle", "left_heel")]
    assert ys == sorted(ys)
    hand = kp[PARTS["left_hand"].start:PARTS["left_hand"].stop]
    assert np.linalg.norm(hand - kp[idx["left_wrist"]], axis=1).max() < 0.1
    face = kp[PARTS["face"].start:PARTS["face"].stop]
    assert np.linalg.norm(face - kp[idx["nose"]], axis=1).max() < 0.07


# --------------------------------------------------------------------------------------------
# Every profile: ideal, too far, too close, off-centre, cut off, head room, facing, hands
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_ideal_frame_passes_every_check(profile):
    candidate, state = first_failure(profile, frame(Person.place(profile)),
                                     exposure=(0.5, 0.01, 0.01))
    assert candidate is None, candidate
    assert [c.name for c in state.checks] == list(CHECKS)
    assert all(c.ok for c in state.checks), [c for c in state.checks if not c.ok]
    assert state.ready and state.person == 0 and state.track_id == 0


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_too_far_asks_to_come_closer(profile):
    size = profile.size_range[0] * 0.8
    candidate, state = first_failure(profile, frame(Person.place(profile, size=size)))
    assert candidate.check == "distance" and candidate.direction is Direction.FORWARD
    assert "closer" in candidate.text.lower()
    assert state.check("distance").value == pytest.approx(size, abs=0.01)


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_too_close_asks_to_step_back(profile):
    size = profile.size_range[1] + 0.04
    candidate, _ = first_failure(profile, frame(Person.place(profile, size=size, room=0.02)))
    assert candidate.check == "distance" and candidate.direction is Direction.BACK
    assert "step back" in candidate.text.lower()


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
@pytest.mark.parametrize("mirror", [False, True])
def test_off_centre_moves_towards_the_middle(profile, mirror):
    # The person stands in the right part of the camera image: their own right brings them
    # to the middle. On a plain display that is towards the screen's left; mirrored, right.
    candidate, _ = first_failure(profile, frame(Person.place(profile, cx=0.72)), mirror=mirror)
    assert candidate.check == "centre"
    assert candidate.direction is (Direction.RIGHT if mirror else Direction.LEFT)
    assert "your right" in candidate.text
    candidate, _ = first_failure(profile, frame(Person.place(profile, cx=0.28)), mirror=mirror)
    assert candidate.direction is (Direction.LEFT if mirror else Direction.RIGHT)
    assert "your left" in candidate.text


@pytest.mark.parametrize("profile,room,part", [
    (FULL_BODY, 0.3, "feet"), (UPPER_BODY, 0.45, "hips"), (PORTRAIT, 0.55, "shoulders"),
    (HANDS, 0.5, "arms")], ids=lambda v: getattr(v, "name", str(v)))
def test_cut_at_the_bottom_asks_to_step_back(profile, room, part):
    candidate, state = first_failure(profile, frame(Person.place(profile, room=room)))
    assert candidate.check == "in_frame" and candidate.direction is Direction.BACK
    assert candidate.text.startswith("Step back") and part in candidate.text
    assert "bottom" in state.check("in_frame").message


def test_feet_out_of_frame_message():
    candidate, _ = first_failure(FULL_BODY, frame(Person.place(FULL_BODY, room=0.25)))
    assert candidate.text == "Step back, your feet are out of frame"


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_head_cut_at_the_top_asks_to_step_back(profile):
    candidate, state = first_failure(profile, frame(Person.place(profile, room=-0.2)))
    assert candidate.check == "in_frame" and candidate.direction is Direction.BACK
    assert "head" in candidate.text and "top" in state.check("in_frame").message


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_head_room(profile):
    lo, hi = profile.head_room
    candidate, _ = first_failure(profile, frame(Person.place(profile, room=lo / 2)))
    assert candidate.check == "head_room" and candidate.direction is Direction.DOWN
    # too much room: smaller so that the bottom stays inside the frame
    size = profile.size_range[0] + 0.03
    candidate, _ = first_failure(profile, frame(Person.place(profile, size=size,
                                                             room=hi + 0.03)))
    assert candidate.check == "head_room" and candidate.direction is Direction.UP


def _turned(profile: Profile, degrees: float) -> Person:
    """The person turned about the vertical axis; the far side of the face is hidden."""
    person = Person.place(profile)
    centre = person.kp[KEYPOINT_INDEX["nose"], 0]
    rel = person.kp[:, 0] - centre
    kp = person.kp.copy()
    kp[:, 0] = centre + rel * math.cos(math.radians(degrees))
    head = np.r_[0:5, PARTS["face"].start:PARTS["face"].stop]
    scale = person.kp[KEYPOINT_INDEX["left_hip"], 1] - person.kp[KEYPOINT_INDEX["nose"], 1]
    kp[head, 0] += 0.1 * scale * math.sin(math.radians(degrees))  # the face turns too
    scores = person.scores.copy()
    scores[head[rel[head] < -1e-6]] = 0  # the far side (the person's right) is out of sight
    return Person(kp, scores)


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_turned_sideways_asks_to_face_the_camera(profile):
    candidate, state = first_failure(profile, frame(_turned(profile, 70)))
    assert candidate.check == "facing" and candidate.text == "Turn to face the camera"
    assert state.check("in_frame").ok and state.check("centre").ok
    # a slight turn is fine
    candidate, _ = first_failure(profile, frame(_turned(profile, 20)))
    assert candidate is None


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_back_to_the_camera(profile):
    person = Person.place(profile)
    nose_x = person.kp[KEYPOINT_INDEX["nose"], 0]
    kp = person.kp.copy()
    kp[:, 0] = 2 * nose_x - kp[:, 0]  # left and right swap sides
    candidate, _ = first_failure(profile, frame(Person(kp).hide("face")))
    assert candidate.check == "facing" and "Turn around" in candidate.text


@pytest.mark.parametrize("profile", NEED_HANDS, ids=lambda p: p.name)
def test_hidden_hands(profile):
    candidate, state = first_failure(profile, frame(Person.place(profile).hide("left_hand",
                                                                                "right_hand")))
    assert candidate.check == "hands" and candidate.text == "Show both hands"
    assert candidate.direction is Direction.NONE
    candidate, _ = first_failure(profile, frame(Person.place(profile).hide("left_hand")))
    assert candidate.text == "Make sure your left hand is visible"


def test_hands_not_needed_for_portrait():
    person = Person.place(PORTRAIT).hide("left_hand", "right_hand")
    candidate, state = first_failure(PORTRAIT, frame(person))
    assert candidate is None and state.check("hands").ok


@pytest.mark.parametrize("profile", NEED_HANDS, ids=lambda p: p.name)
@pytest.mark.parametrize("mirror", [False, True])
def test_hand_out_at_the_side(profile, mirror):
    # Left arm stretched out sideways (towards the image right); place the person so the
    # wrist is just inside the frame and the fingers are past the right edge.
    pose = canonical(left_arm=90)
    person = Person.place(profile, pose=pose)
    wrist = person.kp[KEYPOINT_INDEX["left_wrist"], 0]
    person.kp[:, 0] += (W - 0.03 * W) - wrist
    # Off-centre as well: centring comes first and points the same way.
    candidate, _ = first_failure(profile, frame(person), mirror=mirror)
    assert candidate.check == "centre" and candidate.text == "Move a little to your right"
    assert candidate.direction is (Direction.RIGHT if mirror else Direction.LEFT)
    # With centring out of the way, the hand check says what is wrong.
    relaxed = replace(profile, center_tol=0.5)
    candidate, state = first_failure(relaxed, frame(person), mirror=mirror)
    assert state.check("in_frame").ok
    assert candidate.check == "hands"
    assert candidate.text == "Move to your right, your left hand is out of frame"
    assert candidate.direction is (Direction.RIGHT if mirror else Direction.LEFT)


def test_both_sides_cut_asks_to_step_back():
    pose = canonical(left_arm=90, right_arm=90)
    person = Person.place(FULL_BODY, size=0.7, pose=pose)
    person.kp[:, 0] = W / 2 + (person.kp[:, 0] - W / 2) * 3.5  # arms span past both edges
    candidate, _ = first_failure(FULL_BODY, frame(person))
    assert candidate.check == "in_frame" and candidate.direction is Direction.BACK


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_no_person(profile):
    candidate, state = first_failure(profile, frame())
    assert candidate.check == "person" and candidate.text == "Step into the frame"
    assert state.person is None and not state.ready
    assert all(not c.ok for c in state.checks[1:])


def test_a_few_keypoints_are_not_a_person():
    person = Person.place(FULL_BODY)
    person.scores[:] = 0
    person.scores[:3] = 0.9
    candidate, _ = first_failure(FULL_BODY, frame(person))
    assert candidate.check == "person"


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_exposure_comes_first(profile):
    far = frame(Person.place(profile, size=profile.size_range[0] / 2))
    candidate, _ = first_failure(profile, far, exposure=(0.05, 0.9, 0.0))
    assert candidate.check == "exposure" and "dark" in candidate.text
    candidate, _ = first_failure(profile, far, exposure=(0.93, 0.0, 0.6))
    assert candidate.check == "exposure" and "bright" in candidate.text
    candidate, state = first_failure(profile, far, exposure=(0.45, 0.05, 0.02))
    assert candidate.check == "distance" and state.check("exposure").ok


def test_exposure_without_stats_is_not_measured():
    _, state = first_failure(FULL_BODY, frame(Person.place(FULL_BODY)))
    assert state.check("exposure").ok and state.check("exposure").message == "not measured"


# --------------------------------------------------------------------------------------------
# More than one person
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_other_people_reported_last_while_the_main_person_is_guided(profile):
    main = Person.place(profile)
    other = Person.place(profile, size=profile.size_range[0] * 0.7, cx=0.12)
    candidate, state = first_failure(profile, frame(other, main, ids=[7, 3]))
    assert state.person == 1 and state.track_id == 3  # the larger, central one
    assert candidate.check == "single" and "one person" in candidate.text
    assert not state.ready
    # the guided person's own problems come first
    far = Person.place(profile, size=profile.size_range[0] * 0.8)
    candidate, _ = first_failure(profile, frame(other, far, ids=[7, 3]))
    assert candidate.check == "distance"


def test_guided_person_is_sticky_by_track_id():
    a = Person.place(FULL_BODY, cx=0.3)
    b = Person.place(FULL_BODY, size=0.78, cx=0.7)  # slightly larger
    result = frame(a, b, ids=[1, 2])
    idx, people = choose_person(result, SHAPE, CFG)
    assert idx == 1 and people == [0, 1]
    assert choose_person(result, SHAPE, CFG, previous_track=1)[0] == 0  # keeps the guided one
    much_larger = Person.place(FULL_BODY, size=0.88, cx=0.55)
    result = frame(a, much_larger, ids=[1, 2])
    assert choose_person(result, SHAPE, CFG, previous_track=1)[0] == 1


# --------------------------------------------------------------------------------------------
# Motion
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_moving_too_much_asks_to_hold_still(profile):
    rng = np.random.default_rng(0)
    base = Person.place(profile)
    height = base.kp[:, 1].max() - base.kp[:, 1].min()

    def jitter(sigma):
        return lambda i: frame(Person(base.kp + rng.normal(0, sigma * height, base.kp.shape)))

    guide = Guide(profile)
    state, _ = run(guide, jitter(0.005), 1.0)
    assert state.candidate.check == "motion" and state.candidate.text == "Hold still"
    assert state.instruction.check == "motion"
    assert state.check("motion").value > CFG.motion_max
    guide = Guide(profile)
    state, _ = run(guide, jitter(0.0003), 1.0)  # sub-pixel noise of a still person
    assert state.candidate is None and state.check("motion").ok


def test_steady_walk_is_motion():
    guide = Guide(FULL_BODY)

    def walking(i):  # 0.5 body heights per second to the side
        return frame(Person.place(FULL_BODY, cx=0.45 + 0.5 * 0.75 * H / W * i / FPS / 1.0))

    state, _ = run(guide, walking, 0.5)
    assert state.check("motion").value == pytest.approx(0.5, rel=0.05)
    assert not state.check("motion").ok


# --------------------------------------------------------------------------------------------
# Mirror convention, hysteresis, readiness
# --------------------------------------------------------------------------------------------


def test_mirror_only_flips_left_right_arrows():
    for d in Direction:
        m = d.mirrored()
        assert m.mirrored() is d
        assert (m is not d) == (d in (Direction.LEFT, Direction.RIGHT))
    off = frame(Person.place(FULL_BODY, cx=0.75))
    plain = Guide(FULL_BODY).update(off, SHAPE, 0.0)
    mirrored = Guide(FULL_BODY).update(off, SHAPE, 0.0, mirror=True)
    assert plain.instruction.text == mirrored.instruction.text
    assert plain.instruction.direction is Direction.LEFT
    assert mirrored.instruction.direction is Direction.RIGHT
    assert mirrored.check("centre").instruction.direction is Direction.RIGHT


def test_toggling_mirror_does_not_restart_the_debounce():
    guide = Guide(FULL_BODY)
    off = frame(Person.place(FULL_BODY, cx=0.75))
    for i in range(10):
        state = guide.update(off, SHAPE, i / FPS, mirror=bool(i % 2))
        assert state.instruction.check == "centre"


def test_alternating_input_does_not_flicker():
    guide = Guide(FULL_BODY)
    far = frame(Person.place(FULL_BODY, size=0.45))
    off = frame(Person.place(FULL_BODY, cx=0.75))
    state, t = run(guide, far, 0.5)
    assert state.instruction.check == "distance"
    shown = set()
    for i in range(60):
        state = guide.update(far if i % 2 else off, SHAPE, t + i / FPS)
        shown.add(state.instruction.key)
    assert shown == {("distance", Direction.FORWARD)}
    ideal = frame(Person.place(FULL_BODY))
    state, t = run(guide, ideal, 1.0, t + 2.0)
    assert state.ready
    for i in range(60):  # one bad frame in two never takes readiness away
        state = guide.update(off if i % 2 else ideal, SHAPE, t + i / FPS)
        assert state.ready and state.instruction is None
        assert not state.capture or state.candidate is None


def test_persistent_change_switches_after_the_debounce():
    guide = Guide(FULL_BODY)
    state, t = run(guide, frame(Person.place(FULL_BODY)), 0.5)
    assert state.ready
    far = frame(Person.place(FULL_BODY, size=0.45))
    switched = None
    for i in range(30):
        state = guide.update(far, SHAPE, t + i / FPS)
        if state.instruction is not None and switched is None:
            switched = i / FPS
    assert switched is not None
    assert CFG.switch_seconds <= switched <= CFG.switch_seconds + 2 / FPS
    assert state.instruction.check == "distance" and not state.ready


def test_threshold_hysteresis():
    guide = Guide(FULL_BODY)
    lo = FULL_BODY.size_range[0]

    def at(size, t):
        return guide.update(frame(Person.place(FULL_BODY, size=size)), SHAPE, t)

    assert not at(lo - 0.01, 0.0).check("distance").ok
    # back inside the range, but not by the exit margin: still failing
    assert not at(lo + CFG.size_margin / 2, 0.1).check("distance").ok
    assert at(lo + CFG.size_margin * 1.5, 0.2).check("distance").ok
    # once passing, the plain bound applies again
    assert at(lo + CFG.size_margin / 2, 0.3).check("distance").ok


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_ready_for_counts_up_and_capture_fires_once(profile):
    guide = Guide(profile, GuideConfig(capture_after=0.8))
    ideal = frame(Person.place(profile))
    captures = []
    for i in range(60):
        state = guide.update(ideal, SHAPE, i / FPS)
        assert state.ready and state.instruction is None
        assert state.ready_for == pytest.approx(i / FPS)
        if state.capture:
            captures.append(i / FPS)
    assert len(captures) == 1 and captures[0] == pytest.approx(0.8, abs=1.5 / FPS)
    far = frame(Person.place(profile, size=profile.size_range[0] * 0.7))
    state, t = run(guide, far, 0.5, 2.0)
    assert not state.ready and state.ready_for == 0.0
    # Back in place: the jump reads as motion for a moment, then readiness and one capture.
    states = [guide.update(ideal, SHAPE, t + i / FPS) for i in range(75)]
    ready_at = next(i for i, s in enumerate(states) if s.ready) / FPS
    assert ready_at < CFG.motion_window + CFG.switch_seconds + 0.1
    assert [s.capture for s in states].count(True) == 1
    assert states[-1].ready_for == pytest.approx(2.5 - ready_at - 1 / FPS, abs=1e-6)


def test_set_profile_starts_over():
    guide = Guide(FULL_BODY)
    run(guide, frame(Person.place(FULL_BODY)), 0.5)
    guide.set_profile(PORTRAIT)
    state = guide.update(frame(Person.place(PORTRAIT)), SHAPE, 10.0)
    assert guide.profile is PORTRAIT and state.ready and state.ready_for == 0.0


def test_profile_validation():
    with pytest.raises(ValueError, match="extent_bottom"):
        replace(PORTRAIT, extent_bottom="feet")
    with pytest.raises(ValueError, match="unknown groups"):
        replace(PORTRAIT, required=("head", "tail"))


# --------------------------------------------------------------------------------------------
# Helpers: box edges, exposure statistics
# --------------------------------------------------------------------------------------------


def test_box_touches_edges():
    shape = (100, 200)
    assert box_touches_edges([50, 20, 150, 80], shape) == frozenset()
    assert box_touches_edges([2.5, 20, 150, 98.5], shape) == {"left", "bottom"}
    assert box_touches_edges([2.5, 20, 150, 98.5], shape, margin=0.01) == frozenset()
    assert box_touches_edges([-10, -5, 250, 120], shape) == set(("left", "top", "right",
                                                                 "bottom"))
    assert box_touches_edges([50, 5, 150, 80], shape, margin=0.1) == {"top"}


def test_exposure_stats():
    black = np.zeros((1080, 1920, 3), np.uint8)
    assert exposure_stats(black) == (0.0, 1.0, 0.0)
    assert exposure_stats(black + 255) == (1.0, 0.0, 1.0)
    for grey in (np.full((480, 640), 128, np.uint8), np.full((480, 640, 1), 128, np.uint8)):
        mean, dark, bright = exposure_stats(grey)
        assert mean == pytest.approx(128 / 255) and dark == bright == 0.0
    # a bright window over a quarter of a mid-grey frame (BGRA input too)
    img = np.full((720, 1280, 4), 100, np.uint8)
    img[:360, :640] = 255
    mean, dark, bright = exposure_stats(img)
    assert bright == pytest.approx(0.25, abs=0.01) and dark == 0.0
    assert mean == pytest.approx((0.75 * 100 + 0.25 * 255) / 255, abs=0.01)
    # blue is darker than green to the eye (BGR order)
    blue, green = np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)
    blue[..., 0], green[..., 1] = 200, 200
    assert exposure_stats(blue).mean < exposure_stats(green).mean


# --------------------------------------------------------------------------------------------
# Real data: YOLOX-Nano on a dance video whose legs are cut off by the bottom edge
# --------------------------------------------------------------------------------------------


def _keypoints_in_box(box: np.ndarray) -> Person:
    """The canonical pose filling the detected box from the head down to mid-thigh (what
    the video shows), with the lower body scored 0 and reported inside the box, as a pose
    model does for legs it cannot see."""
    x1, y1, x2, y2 = box
    height = (y2 - y1) / 0.6  # the box ends at mid-thigh, 60 % of the body height down
    kp = canonical() * height + np.array([(x1 + x2) / 2, y1])
    scores = np.full(NUM_KEYPOINTS, 0.9)
    lower = np.r_[GROUPS["legs"], GROUPS["feet"]]
    scores[lower] = 0.0
    kp[lower, 1] = y2 - 0.2 * (y2 - y1)  # inside the box, not at the border
    return Person(kp, scores)


def test_real_detector_box_evidence_feet_cut_at_the_bottom():
    path = need("video/single_person_dance.mp4")
    detector = YOLOX(load_model(need("models/yolox_nano.onnx"), "detector")[0])
    cap = cv2.VideoCapture(str(path))
    guide, n, state = Guide(FULL_BODY), 0, None
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            shape = image.shape
            dets = detector(image)
            assert len(dets) >= 1, f"frame {n}: nobody detected"
            # The dancer is the top-scoring box (Nano also finds a half-body box in a frame).
            box = dets.boxes[int(np.argmax(dets.scores))]
            assert "bottom" in box_touches_edges(box, image.shape), f"frame {n}: {box}"
            person = _keypoints_in_box(box)
            result = replace(frame(person, shape=image.shape), boxes=box[None])
            state = guide.update(result, image.shape, n / FPS,
                                 exposure=exposure_stats(image))
            assert state.candidate.check == "in_frame", (n, state.candidate)
            assert state.candidate.direction is Direction.BACK
            assert "bottom" in state.check("in_frame").message
            n += 1
    finally:
        cap.release()
    assert n == 61
    assert state.instruction.text == "Step back, your legs and feet are out of frame"
    assert state.check("exposure").ok and not state.ready

    # Control: the same keypoints with a box that stops short of the bottom edge: the legs
    # are hidden (e.g. behind a desk), not cut off, so nobody is told to step back.
    short = box.copy()
    short[3] = 0.8 * shape[0]
    result = replace(frame(person, shape=shape), boxes=short[None])
    state = Guide(FULL_BODY).update(result, shape, 0.0)
    assert state.candidate.check == "in_frame"
    assert state.candidate.direction is Direction.NONE
    assert state.candidate.text == "Make sure your legs and feet are visible"

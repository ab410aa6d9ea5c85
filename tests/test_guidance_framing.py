"""The framing test set: people placed in 16:9 and 9:16 webcam frames, in the situations a
guide must get right, each with the instruction (check, arrow, words) a sensible guide gives.

The people (tests/guidance_people.py): the synthetic standing person (no data needed) and real
annotated people of COCO-WholeBody (../shared, else skipped with the reason):

- 437295, a skier in a lunge with face, hands and feet labelled; in the data the head is
  turned three-quarter (44 degrees), for the situations it is turned to the camera
  (``head_turned``); 16:9 only: across 90 % of a 9:16 frame's width the lunge leaves it
  61 % of the height, at the edge of the full-body range;
- 442619, a skier facing the camera (no left hand labelled) and 230195, a seated man facing
  the camera, both in head-and-shoulders (portrait) frames;
- as labelled: 437295 three-quarter, 442619 without its left hand, the backs of a batter
  (460541) and a catcher (1717641), and 198196 seated with his back to the camera looking
  over his shoulder;
- 1724673 (a small player facing the camera) and 460541 as the second person of "two
  people".

Arrows are in the camera image unless the case mirrors the display.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np
import pytest

from app.guidance import FULL_BODY, PORTRAIT, UPPER_BODY, Direction, Guide, Profile
from app.guidance import exposure_stats as stats
from engines.pipeline import FrameResult
from engines.smoothing import KeypointSmoother
from tests.conftest import need_dir
from tests.guidance_people import (
    CFG,
    LEAN,
    THREE_QUARTER,
    TILT,
    Pose,
    brightened,
    canonical,
    darkened,
    facing_437295,
    frame,
    image_files,
    place,
    real_people,
    turn_head_to,
)

FPS = 30.0
SHAPES = {"16:9": (720, 1280, 3), "9:16": (1280, 720, 3)}
BOTH = tuple(SHAPES)
People = dict[int, Pose]


@dataclass(frozen=True)
class Expect:
    """The instruction a sensible guide gives: its check, arrow and words (None: ready)."""

    check: str
    direction: Direction
    text: str


@dataclass(frozen=True)
class Subject:
    """A person of the set: how to build it, its kind of shot, the frames it fits, its photo
    (annotation id; None: a synthetic scene), the second person of "two people", and where
    its own shape makes a sensible guide say something else than :data:`SITUATIONS` does
    ((frame, situation) -> instruction)."""

    name: str
    profile: Profile
    frames: tuple[str, ...]
    build: Callable[[People], Pose]
    photo: int | None = None
    other: Callable[[People], Pose] = field(default=lambda _: Pose(canonical()))
    differs: dict[tuple[str, str], Expect] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return self.photo is not None


#: 230195's head and shoulders fill most of a 9:16 frame's width: off-centre or too close he
#: leaves it at a side, and the cut-off check asks the same move.
_FILLS_9_16 = {
    ("9:16", "off-centre right"): Expect("in_frame", Direction.LEFT, "Move to your right"),
    ("9:16", "off-centre left"): Expect("in_frame", Direction.RIGHT, "Move to your left"),
    ("9:16", "mirrored person off-centre"): Expect("in_frame", Direction.LEFT,
                                                   "Move to your right"),
    ("9:16", "too close"): Expect("in_frame", Direction.BACK, "Step back"),
}

#: The well-framed people every situation starts from.
SUBJECTS = (
    Subject("synthetic", FULL_BODY, BOTH, lambda _: Pose(canonical())),
    Subject("437295-facing", FULL_BODY, ("16:9",), facing_437295, 437295,
            lambda p: p[1724673]),
    Subject("442619", PORTRAIT, BOTH, lambda p: p[442619], 442619, lambda p: p[460541]),
    Subject("230195", PORTRAIT, BOTH, lambda p: p[230195], 230195, lambda p: p[1724673],
            _FILLS_9_16),
)


@dataclass
class Scene:
    """One situation: the frame the guide sees (over and over), how it is displayed."""

    result: FrameResult
    shape: tuple[int, ...]
    image: np.ndarray
    mirror: bool = False


def _scene_image(subject: Subject, shape: tuple[int, ...]) -> np.ndarray:
    """The picture behind the person: the subject's photo filling the frame, or a synthetic
    room (a mid-grey gradient)."""
    h, w = shape[:2]
    if subject.real:
        path = image_files(need_dir("coco_wholebody"))[subject.photo]
        return cv2.resize(cv2.imread(str(path)), (w, h), interpolation=cv2.INTER_AREA)
    ramp = np.linspace(70, 170, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)


def _bottom_cut(p: Profile) -> dict:
    """Placement that ends the profile's extent 10 % below the frame."""
    return {"room": 1.1 - sum(p.size_range) / 2}


#: What the lowest part of each profile's extent is called in the instruction.
BOTTOM = {"feet": "feet", "hips": "hips", "shoulders": "shoulders"}


#: name -> (changes the pose, placement, expected instruction)
SITUATIONS: dict[str, tuple[Callable[[Pose], Pose], Callable[[Profile], dict], Expect | None]] = {
    "well framed": (lambda p: p, lambda _: {}, None),
    "mirrored person": (Pose.mirrored, lambda _: {}, None),
    "leaning left": (lambda p: p.leaning(-LEAN), lambda _: {}, None),
    "leaning right": (lambda p: p.leaning(LEAN), lambda _: {}, None),
    "head tilted left": (lambda p: p.head_tilted(-TILT), lambda _: {}, None),
    "head tilted right": (lambda p: p.head_tilted(TILT), lambda _: {}, None),
    "off-centre right": (lambda p: p, lambda _: {"cx": 0.7},
                         Expect("centre", Direction.LEFT, "Move a little to your right")),
    "off-centre left": (lambda p: p, lambda _: {"cx": 0.3},
                        Expect("centre", Direction.RIGHT, "Move a little to your left")),
    "mirrored person off-centre": (Pose.mirrored, lambda _: {"cx": 0.7},
                                   Expect("centre", Direction.LEFT,
                                          "Move a little to your right")),
    "too far": (lambda p: p, lambda pr: {"size": pr.size_range[0] * 0.7},
                Expect("distance", Direction.FORWARD, "Come closer")),
    "too close": (lambda p: p, lambda pr: {"size": pr.size_range[1] + 0.05, "room": 0.02},
                  Expect("distance", Direction.BACK, "Step back, you are too close")),
    "head cut off": (lambda p: p, lambda _: {"room": -0.25},
                     Expect("in_frame", Direction.BACK, "Step back, your head")),
    "bottom cut off": (lambda p: p, _bottom_cut,
                       Expect("in_frame", Direction.BACK, "{bottom} are out of frame")),
    "back turned": (Pose.back_turned, lambda _: {},
                    Expect("facing", Direction.NONE, "Turn around to face the camera")),
    "mirrored person back turned": (lambda p: p.mirrored().back_turned(), lambda _: {},
                                    Expect("facing", Direction.NONE,
                                           "Turn around to face the camera")),
    "head turned left": (lambda p: turn_head_to(p, THREE_QUARTER), lambda _: {},
                         Expect("facing", Direction.NONE, "Turn your head towards the camera")),
    "head turned right": (lambda p: turn_head_to(p, -THREE_QUARTER), lambda _: {},
                          Expect("facing", Direction.NONE,
                                 "Turn your head towards the camera")),
    "hands hidden": (lambda p: p.hide("left_hand", "right_hand"), lambda _: {},
                     Expect("hands", Direction.NONE, "Show both hands")),
    "one hand twice": (Pose.hand_twice, lambda _: {},
                       Expect("hands", Direction.NONE, "Show both hands, apart from each other")),
    "hands swapped": (Pose.hands_swapped, lambda _: {},
                      Expect("hands", Direction.NONE, "Hold your hands apart, not crossed")),
    "fingers unclear": (lambda p: p.fingers_unclear("left_hand"), lambda _: {},
                        Expect("hands", Direction.NONE, "Show the fingers of your left hand")),
}
HAND_SITUATIONS = {"hands hidden", "one hand twice", "hands swapped", "fingers unclear"}


def _cases() -> list:
    return [pytest.param(s, f, name, id=f"{s.name}-{f}-{name}")
            for s in SUBJECTS for f in s.frames for name in SITUATIONS
            if s.profile.need_hands or name not in HAND_SITUATIONS]


@pytest.fixture(scope="module")
def people() -> People:
    """The annotated people of ../shared/data/coco_wholebody (skips without them)."""
    return real_people(need_dir("coco_wholebody"))


def _pose(subject: Subject, request: pytest.FixtureRequest) -> tuple[Pose, People]:
    people = request.getfixturevalue("people") if subject.real else {}
    return subject.build(people), people


def _expect_shown(guide: Guide, scene: Scene, expect: Expect | None) -> None:
    """The first frame's candidate and, the frame held for half a second, the shown
    instruction are ``expect``."""
    exposure = stats(scene.image)
    for i in range(round(0.5 * FPS)):
        state = guide.update(scene.result, scene.shape, i / FPS, exposure, scene.mirror)
        got = state.candidate if i == 0 else state.instruction
        if expect is None:
            assert got is None, (i, got, [c for c in state.checks if not c.ok])
        else:
            assert got is not None, (i, state.checks)
            assert (got.check, got.direction) == (expect.check, expect.direction), got
            assert expect.text in got.text, got


@pytest.mark.parametrize("subject,shape_name,situation", _cases())
def test_situation(subject: Subject, shape_name: str, situation: str, request) -> None:
    pose, _ = _pose(subject, request)
    change, placement, expect = SITUATIONS[situation]
    shape = SHAPES[shape_name]
    placed = place(change(pose), subject.profile, shape, **placement(subject.profile))
    scene = Scene(frame(placed, shape=shape), shape, _scene_image(subject, shape))
    expect = subject.differs.get((shape_name, situation), expect)
    if expect is not None:
        expect = replace(expect, text=expect.text.format(
            bottom=BOTTOM[subject.profile.extent_bottom]))
    _expect_shown(Guide(subject.profile), scene, expect)


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.name)
def test_mirrored_display_swaps_the_arrow_not_the_words(subject: Subject, request) -> None:
    pose, _ = _pose(subject, request)
    shape = SHAPES["16:9"]
    scene = Scene(frame(place(pose, subject.profile, shape, cx=0.7), shape=shape), shape,
                  _scene_image(subject, shape), mirror=True)
    _expect_shown(Guide(subject.profile), scene,
                  Expect("centre", Direction.RIGHT, "Move a little to your right"))


@pytest.mark.parametrize("subject,shape_name",
                         [pytest.param(s, f, id=f"{s.name}-{f}") for s in SUBJECTS
                          for f in s.frames])
def test_well_framed_is_ready_then_captured_once(subject: Subject, shape_name: str,
                                                 request) -> None:
    pose, _ = _pose(subject, request)
    shape = SHAPES[shape_name]
    result = frame(place(pose, subject.profile, shape), shape=shape)
    exposure = stats(_scene_image(subject, shape))
    guide = Guide(subject.profile)
    states = [guide.update(result, shape, i / FPS, exposure) for i in range(round(1.5 * FPS))]
    assert all(s.ready and s.instruction is None for s in states)
    captures = [i / FPS for i, s in enumerate(states) if s.capture]
    assert captures == [pytest.approx(CFG.capture_after, abs=1.5 / FPS)]


@pytest.mark.parametrize("subject,shape_name",
                         [pytest.param(s, f, id=f"{s.name}-{f}") for s in SUBJECTS
                          for f in s.frames])
def test_exposure_nobody_two_people(subject: Subject, shape_name: str, request) -> None:
    pose, people = _pose(subject, request)
    shape = SHAPES[shape_name]
    profile = subject.profile
    placed = place(pose, profile, shape)
    image = _scene_image(subject, shape)
    _expect_shown(Guide(profile), Scene(frame(placed, shape=shape), shape, darkened(image)),
                  Expect("exposure", Direction.NONE, "It's too dark"))
    _expect_shown(Guide(profile), Scene(frame(placed, shape=shape), shape, brightened(image)),
                  Expect("exposure", Direction.NONE, "It's too bright"))
    _expect_shown(Guide(profile), Scene(frame(shape=shape), shape, image),
                  Expect("person", Direction.NONE, "Step into the frame"))
    other = place(subject.other(people), FULL_BODY, shape, size=0.4, cx=0.12)
    scene = Scene(frame(other, placed, ids=[5, 1], shape=shape), shape, image)
    _expect_shown(Guide(profile), scene,
                  Expect("single", Direction.NONE, "Only one person in the frame, please"))


@pytest.mark.parametrize("subject,shape_name",
                         [pytest.param(s, f, id=f"{s.name}-{f}") for s in SUBJECTS
                          for f in s.frames])
def test_moving_asks_to_hold_still(subject: Subject, shape_name: str, request) -> None:
    """Swaying side to side (3 Hz, 2 % of the frame width) reads as motion, nothing else."""
    pose, _ = _pose(subject, request)
    shape = SHAPES[shape_name]
    placed = place(pose, subject.profile, shape)
    amplitude = 0.02 * shape[1]
    exposure = stats(_scene_image(subject, shape))
    guide = Guide(subject.profile)
    for i in range(round(1.0 * FPS)):
        moved = placed.shifted(amplitude * math.sin(2 * math.pi * 3.0 * i / FPS))
        state = guide.update(frame(moved, shape=shape), shape, i / FPS, exposure)
        assert all(c.ok for c in state.checks if c.name != "motion"), state.checks
    assert state.instruction is not None
    assert (state.instruction.check, state.instruction.text) == ("motion", "Hold still")


@pytest.mark.parametrize("subject,shape_name",
                         [pytest.param(s, f, id=f"{s.name}-{f}") for s in SUBJECTS
                          for f in s.frames])
def test_model_noise_does_not_flicker(subject: Subject, shape_name: str, request) -> None:
    """A still, well-framed person as a pose model reports them for 3 s: every point jitters
    (Gaussian, 0.5 % of the box height the model crops: about 3 px on a 540 px person, twice
    the SimCC bin of a 256x192 model there) and 3 % of the points drop under the threshold
    each frame, smoothed as the app smooths them: ready throughout, one capture."""
    pose, _ = _pose(subject, request)
    shape = SHAPES[shape_name]
    placed = place(pose, subject.profile, shape)
    box = frame(placed, shape=shape).boxes[0]
    rng = np.random.default_rng(7)
    smoother, guide = KeypointSmoother(), Guide(subject.profile)
    exposure = stats(_scene_image(subject, shape))
    states = []
    for i in range(round(3.0 * FPS)):
        noisy = frame(placed.jittered(rng, 0.005 * float(box[3] - box[1]), 0.03), shape=shape)
        states.append(guide.update(smoother(noisy, i / FPS), shape, i / FPS, exposure))
    assert all(s.instruction is None and s.ready for s in states), \
        [(i, s.instruction) for i, s in enumerate(states) if s.instruction][:3]
    assert sum(s.capture for s in states) == 1


_TURN_HEAD = Expect("facing", Direction.NONE, "Turn your head towards the camera")
_TURN_AROUND = Expect("facing", Direction.NONE, "Turn around to face the camera")
#: Real people as labelled: (annotation id, profile, frames, expected instruction, expected
#: for the mirror-image person).
AS_LABELLED = (
    (437295, FULL_BODY, ("16:9",), _TURN_HEAD, _TURN_HEAD),
    (442619, FULL_BODY, BOTH, Expect("hands", Direction.NONE,
                                     "Make sure your left hand is visible"),
     Expect("hands", Direction.NONE, "Make sure your right hand is visible")),
    (460541, FULL_BODY, BOTH, _TURN_AROUND, _TURN_AROUND),
    (1717641, UPPER_BODY, ("16:9",), _TURN_AROUND, _TURN_AROUND),
    (198196, UPPER_BODY, BOTH, _TURN_AROUND, _TURN_AROUND),
)


@pytest.mark.parametrize("person,profile,shape_name,expect,mirrored", [
    pytest.param(i, p, f, e, m, id=f"{i}-{p.name}-{f}{'-mirrored' if m else ''}")
    for i, p, frames, plain, mirror in AS_LABELLED for f in frames
    for m, e in ((False, plain), (True, mirror))])
def test_real_people_as_labelled(people: People, person: int, profile: Profile,
                                 shape_name: str, expect: Expect, mirrored: bool) -> None:
    pose = people[person].mirrored() if mirrored else people[person]
    shape = SHAPES[shape_name]
    image = cv2.resize(cv2.imread(str(image_files(need_dir("coco_wholebody"))[person])),
                       shape[1::-1])
    scene = Scene(frame(place(pose, profile, shape), shape=shape), shape, image)
    _expect_shown(Guide(profile), scene, expect)

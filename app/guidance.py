"""Framing guidance: from one frame's keypoints to the one thing the person should do next.

Pure logic (no Qt, no drawing): the GUI feeds every :class:`~engines.pipeline.FrameResult`
(preferably smoothed by :class:`~engines.smoothing.KeypointSmoother`) to :meth:`Guide.update`
and shows the returned :class:`GuidanceState`: one instruction, a status line per check, and
``ready`` / ``ready_for`` / ``capture`` for automatic capture.

**Checks, most urgent first** (the shown instruction comes from the first failing one):

1. ``exposure``: too dark or washed out (nothing else is reliable without light).
2. ``person``: nobody in the frame.
3. ``in_frame``: a part the profile needs is cut off at an edge (feet at the bottom: "step
   back") or hidden.
4. ``distance``: too close / too far (head top to the profile's lowest part, per frame height).
5. ``centre``: off-centre left / right.
6. ``head_room``: too little / too much space above the head (the vertical placement).
7. ``facing``: not facing the camera.
8. ``hands``: a needed hand not visible (or cut off at an edge).
9. ``single``: other people in the frame. The guide picks one person (largest and most
   central, kept while their track id lasts) and guides them; the others are reported only
   once that person's own framing is right: the pose map must show one skeleton, but the
   others are not the subject's to move. Readiness needs them gone.
10. ``motion``: moving too much for a sharp capture.

**Directions and mirror view.** Checks work in camera-image coordinates. A
:class:`Direction` is an arrow on the *displayed* image: the way the person's picture should
move (``FORWARD`` / ``BACK``: towards / away from the camera; ``UP`` / ``DOWN`` come with
"tilt the camera" texts, as a standing person cannot move up or down). The text names the
person's own side ("move to your left"), which is the same whatever the display: the camera
faces the person, so their own left is the camera image's right. With ``mirror=True`` (selfie
view) the display is flipped, so the arrows LEFT/RIGHT swap and then agree with the text,
like a mirror. Hands are the person's own ("your left hand"), as COCO labels them.

**Hysteresis.** Two layers keep the instruction steady: (1) thresholds: a check that failed on
the previous frame passes again only with a margin inside its range (``*_margin`` fields);
(2) debounce: a different instruction replaces the shown one only after it has been the top
candidate for ``switch_frames`` consecutive frames *and* ``switch_seconds`` (the first frame
after a reset is shown at once). "Ready" (no instruction) is debounced the same way.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from typing import NamedTuple

import numpy as np

from engines.pipeline import FrameResult
from engines.skeleton import KEYPOINT_INDEX, PARTS, part_mask

__all__ = [
    "CHECKS",
    "EDGES",
    "GROUPS",
    "PROFILES",
    "FULL_BODY",
    "UPPER_BODY",
    "PORTRAIT",
    "HANDS",
    "CheckResult",
    "Direction",
    "Exposure",
    "Guide",
    "GuideConfig",
    "GuidanceState",
    "Instruction",
    "Profile",
    "box_touches_edges",
    "choose_person",
    "exposure_stats",
]

#: Check names, most urgent first.
CHECKS = ("exposure", "person", "in_frame", "distance", "centre", "head_room", "facing",
          "hands", "single", "motion")

#: Image edges, in camera-image coordinates ("left" is x = 0).
EDGES = ("left", "top", "right", "bottom")

# --------------------------------------------------------------------------------------------
# Keypoint groups (all indices come from engines.skeleton)
# --------------------------------------------------------------------------------------------


def _idx(*names: str) -> np.ndarray:
    return np.array([KEYPOINT_INDEX[n] for n in names], np.int64)


def _both(joint: str) -> tuple[str, str]:
    return f"left_{joint}", f"right_{joint}"


#: Named keypoint groups the profiles and messages talk about.
GROUPS: dict[str, np.ndarray] = {
    "head": _idx("nose", *_both("eye"), *_both("ear")),
    "shoulders": _idx(*_both("shoulder")),
    "arms": _idx(*_both("elbow"), *_both("wrist")),
    "hips": _idx(*_both("hip")),
    "legs": _idx(*_both("knee"), *_both("ankle")),
    "feet": np.flatnonzero(part_mask("foot")),
    "face": np.flatnonzero(part_mask("face")),
    "left_hand": np.flatnonzero(part_mask("left_hand")),
    "right_hand": np.flatnonzero(part_mask("right_hand")),
}
#: What a message calls each group, and whether it takes "are".
_LABELS: dict[str, tuple[str, bool]] = {
    "head": ("head", False), "shoulders": ("shoulders", True), "arms": ("arms", True),
    "hips": ("hips", True), "legs": ("legs", True), "feet": ("feet", True),
    "face": ("face", False), "left_hand": ("left hand", False),
    "right_hand": ("right hand", False),
}
#: Edges beyond which a missing group can be, for a person standing upright.
_GROUP_EDGES: dict[str, tuple[str, ...]] = {
    "head": ("top",), "face": ("top",), "shoulders": ("bottom", "left", "right"),
    "arms": EDGES, "left_hand": EDGES, "right_hand": EDGES,
    "hips": ("bottom",), "legs": ("bottom",), "feet": ("bottom",),
}
_BODY = np.arange(PARTS["body"].start, PARTS["foot"].stop)  # body + feet: the body's extent
_NOSE = KEYPOINT_INDEX["nose"]
_L_SHOULDER, _R_SHOULDER = (KEYPOINT_INDEX[n] for n in _both("shoulder"))

# --------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------


class Direction(str, Enum):
    """Arrow on the displayed image: where the person's picture should move."""

    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"
    FORWARD = "forward"  # towards the camera
    BACK = "back"  # away from the camera
    NONE = "none"

    def mirrored(self) -> Direction:
        """The same movement seen in a horizontally flipped display."""
        swap = {Direction.LEFT: Direction.RIGHT, Direction.RIGHT: Direction.LEFT}
        return swap.get(self, self)


@dataclass(frozen=True)
class Instruction:
    """What to tell the person: ``text`` in plain words and a ``direction`` arrow.

    ``priority`` is higher for more urgent checks (``len(CHECKS)`` for the first).
    """

    check: str
    text: str
    direction: Direction
    priority: int

    @property
    def key(self) -> tuple[str, Direction]:
        """Identity for debouncing: same check, same arrow (the text may vary in detail)."""
        return self.check, self.direction

    def mirrored(self) -> Instruction:
        return replace(self, direction=self.direction.mirrored())


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for the UI's status list.

    ``instruction`` is set when the check failed and knows what to ask; a check that cannot be
    evaluated (its inputs are missing because an earlier check failed) fails without one.
    ``value`` is the measured quantity where there is one (for display and tuning).
    """

    name: str
    ok: bool
    message: str
    instruction: Instruction | None = None
    value: float | None = None


class Exposure(NamedTuple):
    """Frame brightness statistics, all in [0, 1]."""

    mean: float  # mean grey level / 255
    dark_frac: float  # fraction of pixels at or below the dark level
    bright_frac: float  # fraction of pixels at or above the clipped level


#: Grey levels (0-255) counted as crushed black and as clipped white by :func:`exposure_stats`.
DARK_LEVEL, BRIGHT_LEVEL = 16, 250
#: Longest side of the grid :func:`exposure_stats` samples (a few thousand pixels suffice).
EXPOSURE_SIDE = 160
_BGR_TO_GREY = np.array([0.114, 0.587, 0.299], np.float32)  # ITU-R BT.601 luma, BGR order


def exposure_stats(image: np.ndarray, max_side: int = EXPOSURE_SIDE) -> Exposure:
    """Brightness of a BGR (or grey) uint8 image from a strided sample of at most ``max_side``.

    Striding instead of resizing keeps it well under a millisecond for a 1080p frame.
    """
    h, w = image.shape[:2]
    step = max(1, math.ceil(max(h, w) / max_side))
    small = image[::step, ::step]
    if small.ndim == 3 and small.shape[2] >= 3:
        grey = small[..., :3].astype(np.float32) @ _BGR_TO_GREY
    else:
        grey = small.reshape(small.shape[:2]).astype(np.float32)
    return Exposure(float(grey.mean() / 255.0), float((grey <= DARK_LEVEL).mean()),
                    float((grey >= BRIGHT_LEVEL).mean()))


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
    need_facing: bool = True

    def __post_init__(self) -> None:
        unknown = [g for g in self.required if g not in GROUPS]
        if unknown:
            raise ValueError(f"profile {self.name!r}: unknown groups {unknown}")
        if self.extent_bottom not in self.required:
            raise ValueError(f"profile {self.name!r}: extent_bottom must be a required group")


#: Head to feet, filling 60-90 % of the height: the classic ControlNet full-body pose.
FULL_BODY = Profile("full_body", ("head", "shoulders", "arms", "hips", "legs", "feet"),
                    "feet", size_range=(0.6, 0.9), head_room=(0.03, 0.25))
#: Waist up: head to hips fill 50-80 % of the height, hands visible.
UPPER_BODY = Profile("upper_body", ("head", "shoulders", "arms", "hips"), "hips",
                     size_range=(0.5, 0.8), head_room=(0.03, 0.25))
#: Head and shoulders: head top to shoulder line fills 35-65 % of the height.
PORTRAIT = Profile("portrait", ("head", "shoulders"), "shoulders", size_range=(0.35, 0.65),
                   head_room=(0.05, 0.25), need_hands=False)
#: Hand poses: upper body close enough for the fingers, both hands almost fully visible.
HANDS = Profile("hands", ("head", "shoulders", "arms"), "shoulders", size_range=(0.18, 0.3),
                head_room=(0.03, 0.25), hand_min_visible=0.8)

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL_BODY, UPPER_BODY, PORTRAIT, HANDS)}


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
    #: facing: shoulder width / (shoulder line - nose) height; frontal about 2, side-on 0.5
    facing_min_shoulder_ratio: float = 1.0
    #: facing: |nose x - shoulder midpoint x| / shoulder width (head turned away)
    facing_max_nose_offset: float = 0.25
    #: facing: fraction of the 68 face landmarks visible
    facing_min_face_visible: float = 0.5
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


@dataclass
class GuidanceState:
    """What the GUI shows after one frame (directions already in the display's frame).

    Attributes:
        instruction: the debounced instruction to show; None when ready.
        candidate: this frame's top failing check's instruction (undebounced), or None.
        checks: every check in :data:`CHECKS` order.
        ready: all checks pass (debounced).
        ready_for: seconds the state has been ready (0 when not).
        capture: true on the one update where ``ready_for`` reaches ``capture_after`` while
            this frame still passes; fires again only after readiness was lost.
        person: index of the guided person in the FrameResult, or None.
        track_id: their track id, or None.
    """

    instruction: Instruction | None
    candidate: Instruction | None
    checks: tuple[CheckResult, ...]
    ready: bool
    ready_for: float
    capture: bool
    person: int | None
    track_id: int | None

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        return next(c for c in self.checks if c.name == name)


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def box_touches_edges(box: np.ndarray, shape: tuple[int, ...],
                      margin: float = 0.02) -> frozenset[str]:
    """Edges of an image of ``shape`` (h, w, ...) that the xyxy ``box`` reaches.

    A box within ``margin`` (fraction of the side) of an edge, or beyond it, touches it. A
    detector box ending at the border is evidence that the person continues outside.
    """
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    found = {"left": x1 <= margin * w, "top": y1 <= margin * h,
             "right": x2 >= (1 - margin) * w, "bottom": y2 >= (1 - margin) * h}
    return frozenset(e for e, hit in found.items() if hit)


def _edge_distances(xy: np.ndarray, w: float, h: float) -> dict[str, np.ndarray]:
    """Normalised distance of points [..., 2] inside each edge (negative beyond it)."""
    return {"left": xy[..., 0] / w, "top": xy[..., 1] / h,
            "right": 1 - xy[..., 0] / w, "bottom": 1 - xy[..., 1] / h}


def _visible(keypoints: np.ndarray, scores: np.ndarray, w: float, h: float,
             thr: float) -> np.ndarray:
    """Keypoints above ``thr`` and inside the image (pose crops reach past the border)."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (scores > thr) & (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


def choose_person(result: FrameResult, shape: tuple[int, ...], cfg: GuideConfig,
                  previous_track: int | None = None) -> tuple[int | None, list[int]]:
    """Pick the person to guide: largest box area times centrality, sticky by track id.

    Returns the chosen index (None when nobody counts as a person) and the indices of every
    person that counts. The previously guided track keeps the guidance unless someone else
    scores ``person_switch_ratio`` times more (no ping-pong between two similar people).
    """
    h, w = shape[:2]
    people = [i for i in range(len(result))
              if _visible(result.keypoints[i, _BODY[:17]], result.scores[i, _BODY[:17]], w, h,
                          cfg.kpt_thr).sum() >= cfg.min_person_keypoints]
    if not people:
        return None, []
    boxes = np.clip(np.asarray(result.boxes, np.float64)[people], 0, [w, h, w, h])
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) / (w * h)
    off_centre = np.abs((boxes[:, 0] + boxes[:, 2]) / 2 - w / 2) / (w / 2)
    score = area * (1 - 0.5 * off_centre)
    best = int(np.argmax(score))
    ids = np.asarray(result.track_ids)[people].tolist()
    if previous_track in ids:
        keep = ids.index(previous_track)
        if score[best] < cfg.person_switch_ratio * score[keep]:
            best = keep
    return people[best], people


# --------------------------------------------------------------------------------------------
# The guide
# --------------------------------------------------------------------------------------------


@dataclass
class _Person:
    """The guided person's measurements for one frame (camera-image pixels)."""

    kp: np.ndarray  # [133, 2]
    vis: np.ndarray  # [133] visible
    box_edges: frozenset[str]
    w: float
    h: float
    head_top: float | None
    others: int


@dataclass
class _Debounce:
    """The shown instruction and the candidate waiting to replace it."""

    shown: Instruction | None = None
    pending: tuple[str, Direction] | None = None
    pending_count: int = 0
    pending_since: float = 0.0
    started: bool = False


def _join(groups: list[str]) -> str:
    """'your legs and feet are' from group names."""
    labels = [_LABELS[g][0] for g in groups]
    plural = len(groups) > 1 or _LABELS[groups[0]][1]
    text = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"your {text} {'are' if plural else 'is'}"


def _own_side(raw: Direction) -> str:
    """The person's own side for a camera-image direction (the camera faces them)."""
    return "your left" if raw is Direction.RIGHT else "your right"


class Guide:
    """Turns frame results into one steady instruction, per-check status and readiness.

    Args:
        profile: the kind of shot (:data:`FULL_BODY`, :data:`UPPER_BODY`, ...).
        config: thresholds; defaults are tuned for a webcam at 30 FPS.
    """

    def __init__(self, profile: Profile = FULL_BODY, config: GuideConfig | None = None) -> None:
        self.profile = profile
        self.config = config or GuideConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the history (guided person, hysteresis, motion, readiness)."""
        self._track: int | None = None
        self._prev_ok: dict[str, bool] = dict.fromkeys(CHECKS, True)
        self._motion: deque[tuple[float, np.ndarray, np.ndarray, float | None]] = deque()
        self._debounce = _Debounce()
        self._ready_since: float | None = None
        self._captured = False

    def set_profile(self, profile: Profile) -> None:
        """Switch the kind of shot and start over."""
        self.profile = profile
        self.reset()

    # ---------------------------------------------------------------------------- update

    def update(self, result: FrameResult, image_shape: tuple[int, ...], t: float,
               exposure: Exposure | tuple[float, float, float] | None = None,
               mirror: bool = False) -> GuidanceState:
        """Evaluate one frame taken at ``t`` seconds and return what to show.

        Args:
            result: the pipeline's result for the frame (camera-image coordinates).
            image_shape: the frame's (h, w, ...).
            exposure: :func:`exposure_stats` of the frame, or None to skip that check.
            mirror: the GUI shows the frame flipped left-right (selfie view).
        """
        index, people = choose_person(result, image_shape, self.config, self._track)
        track = None if index is None else int(result.track_ids[index])
        if track != self._track:
            self._motion.clear()
        self._track = track
        person = None if index is None else self._measure(result, index, image_shape, people)
        if person is not None:
            self._record_motion(person, t)

        checks = self._evaluate(person, exposure)
        self._prev_ok = {c.name: c.ok for c in checks}
        candidate = next((c.instruction for c in checks if not c.ok and c.instruction), None)
        shown = self._debounced(candidate, t)

        ready = shown is None  # checks fail without an instruction only after one that has it
        if not ready:
            self._ready_since, self._captured = None, False
        elif self._ready_since is None:
            self._ready_since = t
        ready_for = 0.0 if self._ready_since is None else max(0.0, t - self._ready_since)
        capture = (ready and not self._captured and candidate is None
                   and ready_for >= self.config.capture_after)
        self._captured |= capture

        def display(instr: Instruction | None) -> Instruction | None:
            return instr.mirrored() if instr is not None and mirror else instr

        shown_checks = tuple(replace(c, instruction=display(c.instruction)) for c in checks)
        return GuidanceState(display(shown), display(candidate), shown_checks, ready, ready_for,
                             capture, index, track)

    def _debounced(self, candidate: Instruction | None, t: float) -> Instruction | None:
        """The instruction to show: ``candidate`` once it has persisted long enough."""
        d, cfg = self._debounce, self.config
        key = None if candidate is None else candidate.key
        shown_key = None if d.shown is None else d.shown.key
        if not d.started or key == shown_key:
            d.started, d.shown, d.pending = True, candidate, None
            return d.shown
        if d.pending != key:
            d.pending, d.pending_count, d.pending_since = key, 0, t
        d.pending_count += 1
        if d.pending_count >= cfg.switch_frames and t - d.pending_since >= cfg.switch_seconds:
            d.shown, d.pending, d.pending_count = candidate, None, 0
        return d.shown

    # ------------------------------------------------------------------------ measuring

    def _measure(self, result: FrameResult, i: int, shape: tuple[int, ...],
                 people: list[int]) -> _Person:
        h, w = (float(v) for v in shape[:2])
        kp = np.asarray(result.keypoints[i], np.float64)
        vis = _visible(kp, np.asarray(result.scores[i]), w, h, self.config.kpt_thr)
        edges = box_touches_edges(result.boxes[i], shape, self.config.box_margin)
        return _Person(kp, vis, edges, w, h, self._head_top(kp, vis), len(people) - 1)

    def _head_top(self, kp: np.ndarray, vis: np.ndarray) -> float | None:
        """Estimated y of the top of the head (above the highest head or face point)."""
        head = np.concatenate([GROUPS["head"], GROUPS["face"]])
        head = head[vis[head]]
        if not len(head):
            return None
        top = float(kp[head, 1].min())
        if vis[[_NOSE, _L_SHOULDER, _R_SHOULDER]].all():
            neck = (kp[_L_SHOULDER, 1] + kp[_R_SHOULDER, 1]) / 2 - kp[_NOSE, 1]
            top = min(top, float(kp[_NOSE, 1] - self.config.head_top_ratio * max(neck, 0.0)))
        return top

    def _body_height(self, p: _Person) -> float:
        """Vertical extent (px) of the visible body, head top included."""
        ys = p.kp[_BODY[p.vis[_BODY]], 1]
        if not len(ys):
            return p.h
        top = ys.min() if p.head_top is None else min(ys.min(), p.head_top)
        return max(float(ys.max() - top), 1.0)

    def _framed_points(self) -> np.ndarray:
        """Keypoints the framing is about: the required groups, plus the hands if needed."""
        groups = list(self.profile.required)
        if self.profile.need_hands:
            groups += ["left_hand", "right_hand"]
        return np.concatenate([GROUPS[g] for g in groups])

    def _record_motion(self, p: _Person, t: float) -> None:
        """Add this frame's speed (median over the framed keypoints visible in this frame and
        the previous one, in body heights per second) to the window."""
        m = self._motion
        if m and t <= m[-1][0]:
            m.clear()  # the clock went back or repeated: start over
        speed = None
        if m:
            t0, kp0, vis0, _ = m[-1]
            points = self._framed_points()
            common = points[vis0[points] & p.vis[points]]
            if len(common) >= 3:
                step = np.linalg.norm(p.kp[common] - kp0[common], axis=1)
                speed = float(np.median(step)) / (t - t0) / self._body_height(p)
        m.append((t, p.kp.copy(), p.vis.copy(), speed))
        while m and t - m[0][0] > self.config.motion_window:
            m.popleft()

    def _speed(self) -> float | None:
        """Mean speed over the window (from frames whose predecessor is in it), or None."""
        speeds = [s for _, _, _, s in list(self._motion)[1:] if s is not None]
        return float(np.mean(speeds)) if speeds else None

    # ---------------------------------------------------------------------- the checks

    def _evaluate(self, p: _Person | None, exposure: tuple[float, float, float] | None
                  ) -> list[CheckResult]:
        results = [self._check_exposure(exposure)]
        if p is None:
            results.append(self._fail("person", "nobody in the frame", "Step into the frame",
                                      Direction.NONE))
            results += [CheckResult(n, False, "waiting for a person") for n in CHECKS[2:]]
            return results
        results.append(CheckResult("person", True, "person found"))
        for check in (self._check_in_frame, self._check_distance, self._check_centre,
                      self._check_head_room, self._check_facing, self._check_hands,
                      self._check_single, self._check_motion):
            results.append(check(p))
        return results

    def _fail(self, name: str, message: str, text: str, direction: Direction,
              value: float | None = None) -> CheckResult:
        instr = Instruction(name, text, direction, len(CHECKS) - CHECKS.index(name))
        return CheckResult(name, False, message, instr, value)

    def _margin(self, name: str, margin: float) -> float:
        """Hysteresis: 0 while the check passes, ``margin`` once it has failed."""
        return 0.0 if self._prev_ok[name] else margin

    def _check_exposure(self, exposure: tuple[float, float, float] | None) -> CheckResult:
        if exposure is None:
            return CheckResult("exposure", True, "not measured")
        cfg, (mean, dark, bright) = self.config, exposure
        m = self._margin("exposure", cfg.exposure_margin)
        if mean < cfg.dark_mean + m or dark > cfg.max_dark_frac - m:
            return self._fail("exposure", f"too dark (mean {mean:.2f})",
                              "It's too dark: turn on a light or face a window",
                              Direction.NONE, mean)
        if mean > cfg.bright_mean - m or bright > cfg.max_bright_frac - m:
            return self._fail("exposure", f"washed out ({bright:.0%} clipped)",
                              "It's too bright: dim the light or avoid a bright light behind you",
                              Direction.NONE, mean)
        return CheckResult("exposure", True, f"exposure ok (mean {mean:.2f})", value=mean)

    def _edges(self, p: _Person, groups: list[str], min_visible: float, name: str,
               ) -> tuple[dict[str, list[str]], list[str]]:
        """Which of ``groups`` are cut off at which edge, and which are hidden in the frame.

        A group is cut at an edge when one of its visible points touches that edge, or when
        too few of its points are visible and missing points are beyond an edge the group
        can leave by. Each missing point is assigned the nearest such edge and is beyond it
        when reported near or past it, or, for a group the anatomy lets leave by one edge only
        (head: top, legs: bottom), when the person's box reaches that edge
        (:func:`box_touches_edges`, supporting evidence where a pose model reports invisible
        points anywhere in its crop). A missing group with no point beyond an edge is hidden
        (occluded, or turned away).
        """
        cfg = self.config
        touch = cfg.edge_margin + self._margin(name, cfg.edge_exit_margin)
        cut: dict[str, list[str]] = {}
        hidden: list[str] = []
        for g in groups:
            idx = GROUPS[g]
            seen = p.vis[idx]
            beyond = set()
            dist = _edge_distances(p.kp[idx[seen]], p.w, p.h)
            for edge in EDGES:
                if (dist[edge] <= touch).any():
                    beyond.add(edge)
            if seen.mean() < min_visible:
                edges = _GROUP_EDGES[g]
                gone = _edge_distances(p.kp[idx[~seen]], p.w, p.h)
                near = np.stack([gone[e] for e in edges])  # [edges, missing points]
                for e, d in zip(np.asarray(edges)[near.argmin(0)], near.min(0)):
                    if d <= cfg.edge_evidence or (len(edges) == 1 and e in p.box_edges):
                        beyond.add(str(e))
                if not beyond:
                    hidden.append(g)
            for edge in beyond:
                cut.setdefault(edge, []).append(g)
        return cut, hidden

    def _cut_or_hidden(self, name: str, cut: dict[str, list[str]], hidden: list[str],
                       ) -> CheckResult | None:
        """The failure for cut-off or hidden groups (None when there are none)."""
        if cut:
            groups = list(dict.fromkeys(g for edge in EDGES for g in cut.get(edge, [])))
            what = _join(groups)
            sides = set(cut) & {"left", "right"}
            message = f"{what} out of frame ({', '.join(e for e in EDGES if e in cut)})"
            if set(cut) == sides and len(sides) == 1:
                raw = Direction.RIGHT if "left" in sides else Direction.LEFT
                return self._fail(name, message,
                                  f"Move to {_own_side(raw)}, {what} out of frame", raw)
            return self._fail(name, message, f"Step back, {what} out of frame",
                              Direction.BACK)
        if hidden:
            what = _join(hidden)
            return self._fail(name, f"{what} hidden", f"Make sure {what} visible",
                              Direction.NONE)
        return None

    def _check_in_frame(self, p: _Person) -> CheckResult:
        cut, hidden = self._edges(p, list(self.profile.required), self.config.group_min_visible,
                                  "in_frame")
        return self._cut_or_hidden("in_frame", cut, hidden) or CheckResult(
            "in_frame", True, "all needed parts in frame")

    def _check_distance(self, p: _Person) -> CheckResult:
        bottom_idx = GROUPS[self.profile.extent_bottom]
        bottom_idx = bottom_idx[p.vis[bottom_idx]]
        if p.head_top is None or not len(bottom_idx):
            return CheckResult("distance", False,
                               f"needs head and {self.profile.extent_bottom} in frame")
        size = (float(p.kp[bottom_idx, 1].max()) - p.head_top) / p.h
        lo, hi = self.profile.size_range
        m = self._margin("distance", self.config.size_margin)
        if size < lo + m:
            return self._fail("distance", f"too far ({size:.0%} of the height)", "Come closer",
                              Direction.FORWARD, size)
        if size > hi - m:
            return self._fail("distance", f"too close ({size:.0%} of the height)",
                              "Step back, you are too close", Direction.BACK, size)
        return CheckResult("distance", True, f"distance ok ({size:.0%} of the height)",
                           value=size)

    def _check_centre(self, p: _Person) -> CheckResult:
        idx = self._framed_points()
        xs = p.kp[idx[p.vis[idx]], 0]
        if not len(xs):
            return CheckResult("centre", False, "nothing to centre")
        offset = (float(xs.min() + xs.max()) / 2) / p.w - self.profile.center_x
        tol = self.profile.center_tol - self._margin("centre", self.config.center_margin)
        if abs(offset) > tol:
            raw = Direction.LEFT if offset > 0 else Direction.RIGHT
            return self._fail("centre", f"off-centre by {abs(offset):.0%} of the width",
                              f"Move a little to {_own_side(raw)}", raw, offset)
        return CheckResult("centre", True, "centred", value=offset)

    def _check_head_room(self, p: _Person) -> CheckResult:
        if p.head_top is None:
            return CheckResult("head_room", False, "head not found")
        room = p.head_top / p.h
        lo, hi = self.profile.head_room
        m = self._margin("head_room", self.config.head_room_margin)
        if room < lo + m:
            return self._fail("head_room", f"too little space above the head ({room:.0%})",
                              "Leave space above your head: tilt the camera up a little",
                              Direction.DOWN, room)
        if room > hi - m:
            return self._fail("head_room", f"too much space above the head ({room:.0%})",
                              "Too much space above your head: tilt the camera down a little",
                              Direction.UP, room)
        return CheckResult("head_room", True, f"head room ok ({room:.0%})", value=room)

    def _check_facing(self, p: _Person) -> CheckResult:
        if not self.profile.need_facing:
            return CheckResult("facing", True, "not needed for this profile")
        cfg = self.config
        text = "Turn to face the camera"
        if not p.vis[[_NOSE, _L_SHOULDER, _R_SHOULDER]].all():
            return self._fail("facing", "face or shoulders not visible", text, Direction.NONE)
        width = p.kp[_L_SHOULDER, 0] - p.kp[_R_SHOULDER, 0]  # > 0 when facing the camera
        if width <= 0:
            return self._fail("facing", "back to the camera", "Turn around to face the camera",
                              Direction.NONE)
        mid = (p.kp[_L_SHOULDER] + p.kp[_R_SHOULDER]) / 2
        ratio = float(width / max(mid[1] - p.kp[_NOSE, 1], 1e-6))
        offset = float(abs(p.kp[_NOSE, 0] - mid[0]) / width)
        face = float(p.vis[GROUPS["face"]].mean())
        k = 1 + self._margin("facing", cfg.facing_margin)
        if (ratio < cfg.facing_min_shoulder_ratio * k or offset > cfg.facing_max_nose_offset / k
                or face < min(cfg.facing_min_face_visible * k, 1.0)):
            return self._fail("facing", f"turned away (shoulders {ratio:.1f}, nose {offset:.2f}, "
                              f"face {face:.0%})", text, Direction.NONE, ratio)
        return CheckResult("facing", True, "facing the camera", value=ratio)

    def _check_hands(self, p: _Person) -> CheckResult:
        if not self.profile.need_hands:
            return CheckResult("hands", True, "not needed for this profile")
        need = self.profile.hand_min_visible + self._margin("hands", self.config.hand_margin)
        cut, hidden = self._edges(p, ["left_hand", "right_hand"], min(need, 1.0), "hands")
        failed = self._cut_or_hidden("hands", cut, hidden)
        if failed is not None and not cut and len(hidden) == 2:
            return replace(failed, instruction=replace(failed.instruction,
                                                       text="Show both hands"))
        return failed or CheckResult("hands", True, "both hands visible")

    def _check_single(self, p: _Person) -> CheckResult:
        if p.others:
            return self._fail("single", f"{p.others + 1} people in the frame",
                              "Only one person in the frame, please", Direction.NONE,
                              float(p.others + 1))
        return CheckResult("single", True, "one person")

    def _check_motion(self, p: _Person) -> CheckResult:
        speed = self._speed()
        if speed is None:
            return CheckResult("motion", True, "not measured yet")
        limit = self.config.motion_max - self._margin("motion", self.config.motion_margin)
        if speed > limit:
            return self._fail("motion", f"moving ({speed:.2f} body heights/s)", "Hold still",
                              Direction.NONE, speed)
        return CheckResult("motion", True, f"still ({speed:.2f} body heights/s)", value=speed)

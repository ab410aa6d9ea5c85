"""People for the framing-guidance tests: a synthetic standing person and the real annotated
people of COCO-WholeBody, turned into what a pose model reports and placed in camera frames.

- :func:`canonical`: one standing pose (133 keypoints placed anatomically, in units of body
  height: head top y = 0, soles y = 1, facing the camera); needs no data.
- :func:`real_people`: the annotated people of ``coco_wholebody/test_coco_wholebody.json`` as
  detections (:data:`SCORES`; a point nobody labelled sits at its nearest labelled neighbour
  along the skeleton, below the threshold, as a model reports what it cannot see).
- :class:`Pose` (keypoints and scores) and its changes of situation: mirrored, back turned,
  head turned (a yaw of the head as a cylinder), head tilted, leaning, hands read wrong,
  keypoint noise; :func:`place` puts a pose in a frame by scale and shift, :func:`frame`
  makes the pipeline's :class:`~engines.pipeline.FrameResult`.

``python -m tests.guidance_people`` prints what the guide measures of each real person (the
tables of docs/app.md).
"""
from __future__ import annotations

import json
import math
import sys
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from app.guidance import FULL_BODY, GROUPS, PORTRAIT, GuideConfig, Profile, exposure_stats
from app.guidance.checks.hands import read_hands
from app.guidance.keypoints import FINGERS, FRONT_OF_HEAD, JAW_LEFT, JAW_RIGHT, head_top
from app.guidance.orientation import orientation, shoulders
from app.guidance.person import Person
from engines.pipeline import FrameResult
from engines.skeleton import FLIP_INDICES, KEYPOINT_INDEX, LINKS, NUM_KEYPOINTS, PARTS

CFG = GuideConfig()

# --------------------------------------------------------------------------------------------
# The synthetic person (x to the image right = the person's own left, y down)
# --------------------------------------------------------------------------------------------

NOSE_Y = 0.065
SHOULDER_Y = NOSE_Y + NOSE_Y / CFG.head_top_ratio  # so the guide's head-top estimate is y = 0


def _arm(side: int, angle: float) -> dict[str, tuple[float, float]]:
    """Elbow, wrist and hand points of one arm; ``angle`` degrees out from hanging down."""
    a = math.radians(angle)
    d = np.array([side * math.sin(a), math.cos(a)])  # unit vector along the arm
    n = np.array([d[1], -d[0]]) * side  # across the hand, towards the thumb side
    shoulder = np.array([side * 0.115, SHOULDER_Y])
    prefix = "left" if side > 0 else "right"
    pts = {f"{prefix}_elbow": shoulder + 0.145 * d, f"{prefix}_wrist": shoulder + 0.29 * d}
    root = shoulder + 0.30 * d
    pts[f"{prefix}_hand_root"] = root
    fingers = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
    for f, spread in zip(fingers, (0.9, 0.35, 0.0, -0.3, -0.6)):
        direction = d + spread * 0.5 * n
        direction /= np.linalg.norm(direction)
        base = root + (0.01 if f == "thumb" else 0.02) * direction
        for j in range(4):
            pts[f"{prefix}_{f}{j + 1}"] = base + 0.012 * j * direction
    return {k: tuple(v) for k, v in pts.items()}


def canonical(left_arm: float = 10.0, right_arm: float = 10.0) -> np.ndarray:
    """[133, 2] standing pose in body-height units, arms at the given angles (degrees)."""
    named: dict[str, tuple[float, float]] = {
        "nose": (0.0, NOSE_Y),
        "left_eye": (0.022, 0.05), "right_eye": (-0.022, 0.05),
        "left_ear": (0.045, 0.06), "right_ear": (-0.045, 0.06),
        "left_shoulder": (0.115, SHOULDER_Y), "right_shoulder": (-0.115, SHOULDER_Y),
        "left_hip": (0.065, 0.52), "right_hip": (-0.065, 0.52),
        "left_knee": (0.07, 0.72), "right_knee": (-0.07, 0.72),
        "left_ankle": (0.07, 0.94), "right_ankle": (-0.07, 0.94),
    }
    for side, s in (("left", 1), ("right", -1)):
        named[f"{side}_big_toe"] = (s * 0.055, 0.99)
        named[f"{side}_small_toe"] = (s * 0.095, 0.985)
        named[f"{side}_heel"] = (s * 0.07, 0.965)
    named.update(_arm(1, left_arm))
    named.update(_arm(-1, right_arm))
    kp = np.zeros((NUM_KEYPOINTS, 2))
    for name, xy in named.items():
        kp[KEYPOINT_INDEX[name]] = xy
    kp[PARTS["face"].start:PARTS["face"].stop] = _face()
    return kp


def _face() -> np.ndarray:
    """The 68 iBUG landmarks (landmark 0 on the subject's right, i.e. the image left)."""
    pts = []
    for i in range(17):  # jaw, ear to ear under the chin
        a = math.pi * i / 16
        pts.append((-0.05 * math.cos(a), 0.05 + 0.055 * math.sin(a)))
    pts += [(-0.04 + 0.0075 * i, 0.04) for i in range(5)]  # right brow
    pts += [(0.01 + 0.0075 * i, 0.04) for i in range(5)]  # left brow
    pts += [(0.0, 0.045 + 0.0075 * i) for i in range(4)]  # nose bridge
    pts += [(-0.012 + 0.006 * i, 0.072) for i in range(5)]  # nostrils
    for cx in (-0.022, 0.022):  # eyes
        pts += [(cx + 0.008 * math.cos(a), 0.05 + 0.004 * math.sin(a))
                for a in np.linspace(math.pi, -math.pi, 6, endpoint=False)]
    pts += [(0.02 * math.cos(a), 0.088 + 0.008 * math.sin(a))
            for a in np.linspace(math.pi, -math.pi, 12, endpoint=False)]  # outer lip
    pts += [(0.012 * math.cos(a), 0.088 + 0.004 * math.sin(a))
            for a in np.linspace(math.pi, -math.pi, 8, endpoint=False)]  # inner lip
    assert len(pts) == 68
    return np.array(pts)


# --------------------------------------------------------------------------------------------
# A detection and the situations it can be put in
# --------------------------------------------------------------------------------------------

#: Scores given to the points of a detection: seen, labelled but occluded (COCO v = 1 of a
#: body point: a model usually still finds it, less sure), and not there to see.
SCORES = {"seen": 0.9, "occluded": 0.6, "unseen": 0.05}
#: The head's points that turn with a yaw: the 68 face landmarks, nose, eyes and ears.
HEAD_POINTS = np.r_[GROUPS["head"], GROUPS["face"]]
#: The points above the hips, which a lean rotates about the hips.
UPPER_BODY = np.setdiff1d(np.arange(NUM_KEYPOINTS),
                          np.r_[GROUPS["hips"], GROUPS["legs"], GROUPS["feet"]])
_CONTOUR = np.arange(JAW_RIGHT, JAW_LEFT + 1)  # the jaw line, iBUG 0-16


def _rotate(xy: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    """Points rotated about ``centre``, clockwise on the image (y down) for degrees > 0."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (xy - centre) @ rot.T + centre


@dataclass(frozen=True)
class Pose:
    """A detection: keypoints [133, 2] (pixels, or body heights for :func:`canonical`) and
    scores [133]."""

    kp: np.ndarray
    scores: np.ndarray = field(default_factory=lambda: np.full(NUM_KEYPOINTS, SCORES["seen"]))

    @property
    def vis(self) -> np.ndarray:
        """Points above the guide's score threshold."""
        return self.scores > CFG.kpt_thr

    def with_scores(self, idx: np.ndarray, score: float) -> Pose:
        """The points ``idx`` scored ``score``, positions kept."""
        scores = self.scores.copy()
        scores[idx] = score
        return replace(self, scores=scores)

    def _relabelled(self, index: np.ndarray) -> Pose:
        """Point i reported where point ``index[i]`` is, with its score."""
        return replace(self, kp=self.kp[index], scores=self.scores[index])

    def hide(self, *parts: str) -> Pose:
        """Score 0 for whole parts (names of engines.skeleton.PARTS), positions kept."""
        return self.with_scores(np.r_[tuple(PARTS[p] for p in parts)], 0.0)

    def mirrored(self) -> Pose:
        """The mirror-image person: x flipped, left and right labels swapped (still facing
        the camera)."""
        flipped = self._relabelled(FLIP_INDICES)
        return replace(flipped, kp=flipped.kp * np.array([-1.0, 1.0]))

    def back_turned(self) -> Pose:
        """The same pose seen from behind: each side's points are where the other side's
        were (the person's left shoulder on the image left), the face, nose and eyes out of
        sight; the ears and the backs of the hands still show."""
        hidden = np.r_[GROUPS["face"], FRONT_OF_HEAD]
        return self._relabelled(FLIP_INDICES).with_scores(hidden, SCORES["unseen"])

    def head_turned(self, degrees: float, hide: bool = True) -> Pose:
        """The head turned about its vertical axis, the nose towards the person's own left
        for degrees > 0, as on a cylinder through the jaw line's ends: a point ``a`` along
        the jaw line from its middle, at depth ``z = sqrt(R^2 - a^2)`` (R half the jaw
        line), goes to ``a cos + z sin``; a point turned behind the cylinder is out of
        sight (unless not ``hide``: a turned head turned back keeps what was seen), except
        the jaw line's, which stays on the outline (as annotators and models place it)."""
        ends = self.kp[[JAW_RIGHT, JAW_LEFT]]
        centre, axis = ends.mean(0), ends[1] - ends[0]
        radius = float(np.linalg.norm(axis)) / 2
        u = axis / (2 * radius)
        pts = self.kp[HEAD_POINTS]
        a = (pts - centre) @ u
        z = np.sqrt(np.maximum(radius ** 2 - a ** 2, 0.0))
        t = math.radians(degrees)
        turned, depth = a * math.cos(t) + z * math.sin(t), z * math.cos(t) - a * math.sin(t)
        behind = depth < 0
        on_contour = np.isin(HEAD_POINTS, _CONTOUR)
        turned = np.where(behind & on_contour, np.sign(turned) * radius, turned)
        kp = self.kp.copy()
        kp[HEAD_POINTS] = pts + np.outer(turned - a, u)
        gone = HEAD_POINTS[behind & ~on_contour] if hide else HEAD_POINTS[:0]
        return replace(self, kp=kp).with_scores(gone, SCORES["unseen"])

    def head_tilted(self, degrees: float) -> Pose:
        """The head rolled sideways about the shoulders' midpoint (the neck bends)."""
        kp = self.kp.copy()
        kp[HEAD_POINTS] = _rotate(kp[HEAD_POINTS], kp[GROUPS["shoulders"]].mean(0), degrees)
        return replace(self, kp=kp)

    def leaning(self, degrees: float) -> Pose:
        """Everything above the hips rotated about the hips' midpoint (a sideways lean)."""
        kp = self.kp.copy()
        kp[UPPER_BODY] = _rotate(kp[UPPER_BODY], kp[GROUPS["hips"]].mean(0), degrees)
        return replace(self, kp=kp)

    def hand_twice(self) -> Pose:
        """The right hand reported as both hands (the left hand's set on the right hand)."""
        index = np.arange(NUM_KEYPOINTS)
        index[GROUPS["left_hand"]] = GROUPS["right_hand"]
        return self._relabelled(index)

    def hands_swapped(self) -> Pose:
        """Each hand's keypoint set given the other hand's label (the wrists kept)."""
        index = np.arange(NUM_KEYPOINTS)
        index[GROUPS["left_hand"]], index[GROUPS["right_hand"]] = (GROUPS["right_hand"],
                                                                   GROUPS["left_hand"])
        return self._relabelled(index)

    def fingers_unclear(self, hand: str, score: float = 0.15) -> Pose:
        """Every finger of ``hand`` (e.g. "left_hand") below the threshold past its base
        point, as a model scores a blurred or curled hand; the root and bases stay seen."""
        return self.with_scores(FINGERS[hand][:, 1:].ravel(), score)

    def jittered(self, rng: np.random.Generator, sigma: float, dropout: float) -> Pose:
        """Gaussian noise of ``sigma`` (pixels) on every coordinate and a fraction
        ``dropout`` of the points scored under the threshold."""
        kp = self.kp + rng.normal(0.0, sigma, self.kp.shape)
        drop = rng.random(NUM_KEYPOINTS) < dropout
        return replace(self, kp=kp, scores=np.where(drop, 0.1, self.scores))

    def shifted(self, dx: float) -> Pose:
        """Moved ``dx`` pixels to the image right."""
        return replace(self, kp=self.kp + np.array([dx, 0.0]))

    def seen_in(self, shape: tuple[int, ...]) -> Pose:
        """What a pose model reports in a frame of ``shape`` (h, w, ...): points outside it
        score 0 and sit at its border (the model only sees the image)."""
        h, w = shape[:2]
        x, y = self.kp[:, 0], self.kp[:, 1]
        outside = (x < 0) | (x > w) | (y < 0) | (y > h)
        return Pose(np.clip(self.kp, 0, [w, h]), np.where(outside, 0.0, self.scores))


#: The sizes of the situations: a sideways lean and a head tilt a person facing the camera
#: may have (degrees), and the head yaw of a three-quarter view.
LEAN, TILT, THREE_QUARTER = 20.0, 20.0, 50.0
#: How much of the light a too dark frame keeps, and of the shade a too bright one.
DIM = 0.15


def turn_head_to(pose: Pose, degrees: float) -> Pose:
    """The head turned until it measures ``degrees`` of yaw (from where it is)."""
    return pose.head_turned(degrees - measurements(pose)["head_yaw"])


def darkened(image: np.ndarray) -> np.ndarray:
    """A frame too dark: :data:`DIM` of its light."""
    return (image.astype(np.float32) * DIM).astype(np.uint8)


def brightened(image: np.ndarray) -> np.ndarray:
    """A frame too bright: :data:`DIM` of its shade."""
    return (255 - (255 - image.astype(np.float32)) * DIM).astype(np.uint8)


#: The widest a placed person's framed points may span by default, fraction of the width.
FIT_WIDTH = 0.9


def place(pose: Pose, profile: Profile, shape: tuple[int, ...], size: float | None = None,
          room: float = 0.14, cx: float = 0.5) -> Pose:
    """``pose`` scaled and shifted into a frame of ``shape`` (h, w, ...): the profile's extent
    (the guide's head top to its ``extent_bottom``'s lowest visible point) ``size`` of the
    frame height, the head top at ``room`` of the height and the middle of its visible
    framed points at ``cx`` of the width. The default size is the middle of ``size_range``,
    or less where the framed points would span more than :data:`FIT_WIDTH` of the width.
    """
    h, w = shape[:2]
    vis = pose.vis
    top = head_top(pose.kp, vis, CFG.head_top_ratio)
    bottom_idx = GROUPS[profile.extent_bottom][vis[GROUPS[profile.extent_bottom]]]
    framed = profile.framed_points()
    xs = pose.kp[framed[vis[framed]], 0]
    extent = float(pose.kp[bottom_idx, 1].max()) - top
    if size is None:
        size = min(sum(profile.size_range) / 2,
                   FIT_WIDTH * w / float(xs.max() - xs.min()) * extent / h)
    origin = np.array([(xs.min() + xs.max()) / 2, top])
    return replace(pose, kp=(pose.kp - origin) * size * h / extent + np.array([cx * w, room * h]))


def frame(*poses: Pose, ids: list[int] | None = None,
          shape: tuple[int, ...] = (720, 1280, 3)) -> FrameResult:
    """What the pipeline reports: each pose :meth:`~Pose.seen_in` the frame, boxes cover the
    person's part in the image with 5 % to spare, up to the image edges."""
    h, w = shape[:2]
    kps, scores, boxes = [], [], []
    for p in (p.seen_in(shape) for p in poses):
        kps.append(p.kp)
        scores.append(p.scores)
        lo, hi = p.kp.min(0), p.kp.max(0)
        pad = 0.05 * (hi - lo)
        boxes.append(np.clip(np.concatenate([lo - pad, hi + pad]), 0, [w, h, w, h]))
    n = len(poses)
    return FrameResult(
        boxes=np.array(boxes, np.float32).reshape(n, 4),
        box_scores=np.full(n, 0.9, np.float32),
        keypoints=np.array(kps, np.float32).reshape(n, NUM_KEYPOINTS, 2),
        scores=np.array(scores, np.float32).reshape(n, NUM_KEYPOINTS),
        track_ids=np.array(ids if ids is not None else list(range(n)), np.int64),
        detected=True)


# --------------------------------------------------------------------------------------------
# The real people
# --------------------------------------------------------------------------------------------

ANNOTATIONS = "test_coco_wholebody.json"
_PARTS_IN_FILE = ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")
#: Skeleton neighbours an unlabelled point is placed by: the drawn links, plus each hand's
#: root at its wrist and each face landmark at the nose.
_NEIGHBOURS: dict[int, set[int]] = {i: set() for i in range(NUM_KEYPOINTS)}
for _a, _b in [*LINKS,
               *((GROUPS[f"{s}_hand"][0], KEYPOINT_INDEX[f"{s}_wrist"]) for s in ("left", "right")),
               *((int(f), KEYPOINT_INDEX["nose"]) for f in GROUPS["face"])]:
    _NEIGHBOURS[_a].add(_b)
    _NEIGHBOURS[_b].add(_a)


def _nearest_labelled(i: int, labelled: np.ndarray) -> int | None:
    """The labelled point fewest skeleton links away from point ``i`` (breadth first)."""
    seen, queue = {i}, deque([i])
    while queue:
        j = queue.popleft()
        if labelled[j]:
            return j
        for k in sorted(_NEIGHBOURS[j] - seen):
            seen.add(k)
            queue.append(k)
    return None


def detection(annotation: dict) -> Pose:
    """One COCO-WholeBody annotation as a pose model would report the person (see
    :data:`SCORES`): an unlabelled point at its nearest labelled neighbour (a hand at its
    wrist, a face at the nose), else at the labelled points' centre, and unseen."""
    raw = np.concatenate([np.asarray(annotation[k], np.float64).reshape(-1, 3)
                          for k in _PARTS_IN_FILE])
    labelled = raw[:, 2] > 0
    occluded = np.zeros(NUM_KEYPOINTS, bool)
    occluded[PARTS["body"].start:PARTS["body"].stop] = raw[:17, 2] == 1
    kp = raw[:, :2].copy()
    centre = kp[labelled].mean(0)
    for i in np.flatnonzero(~labelled):
        j = _nearest_labelled(int(i), labelled)
        kp[i] = centre if j is None else kp[j]
    scores = np.where(labelled, np.where(occluded, SCORES["occluded"], SCORES["seen"]),
                      SCORES["unseen"])
    return Pose(kp, scores)


def real_people(coco_dir: Path) -> dict[int, Pose]:
    """Every annotated person with a labelled body point, by annotation id."""
    with open(coco_dir / ANNOTATIONS) as f:
        data = json.load(f)
    return {a["id"]: detection(a) for a in data["annotations"] if a["num_keypoints"] > 0}


def facing_437295(people: dict[int, Pose]) -> Pose:
    """437295 (a skier in a lunge, the only person with face, both hands and feet labelled)
    with the head turned from its labelled three-quarter view to the camera."""
    pose = people[437295]
    return pose.head_turned(-measurements(pose)["head_yaw"], hide=False)


def facing_people(people: dict[int, Pose]) -> dict[str, tuple[Pose, Profile]]:
    """The people of the framing set who face the camera, by name, with their kind of shot."""
    return {"synthetic": (Pose(canonical()), FULL_BODY),
            "437295, head turned": (facing_437295(people), FULL_BODY),
            "442619": (people[442619], PORTRAIT), "230195": (people[230195], PORTRAIT)}


def image_files(coco_dir: Path) -> dict[int, Path]:
    """The photo each annotated person is in, by annotation id."""
    with open(coco_dir / ANNOTATIONS) as f:
        data = json.load(f)
    files = {im["id"]: coco_dir / im["file_name"] for im in data["images"]}
    return {a["id"]: files[a["image_id"]] for a in data["annotations"]}


# --------------------------------------------------------------------------------------------
# What the guide measures (docs/app.md)
# --------------------------------------------------------------------------------------------


def measurements(pose: Pose) -> dict[str, float | None]:
    """Head yaw, torso yaw, the shoulders' width over the torso and over the neck (the ratio
    the torso yaw reads with and without hips), visible face fraction and hand readings of
    one pose, as the guide measures them (every value is scale-free)."""
    vis = pose.vis
    o = orientation(pose.kp, vis, CFG.frontal_torso_ratio, CFG.frontal_neck_ratio)
    person = Person(pose.kp, vis, frozenset(), 1.0, 1.0, None, o, 0)
    hands = read_hands(person, CFG.finger_min_points)
    no_hips = vis.copy()
    no_hips[GROUPS["hips"]] = False
    torso, neck = shoulders(pose.kp, vis), shoulders(pose.kp, no_hips)
    return {"head_yaw": o.head_yaw, "torso_yaw": o.torso_yaw,
            "over_torso": torso.ratio if torso is not None and torso.hips else None,
            "over_neck": None if neck is None else neck.ratio,
            "face": o.face_visible,
            "fingers_left": hands.fingers["left_hand"],
            "fingers_right": hands.fingers["right_hand"],
            "hands_apart": hands.apart, "wrist_ratio": hands.swap}


def _table(rows: dict[str, Pose]) -> str:
    """A markdown table of :func:`measurements`."""
    def fmt(v: float | None, spec: str, unit: str = "") -> str:
        return "-" if v is None else format(round(v) if unit else v, spec) + unit

    lines = ["| person | head yaw | torso yaw | shoulders / torso | shoulders / neck "
             "| face seen | fingers L/R | hands apart | wrist ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, pose in rows.items():
        m = measurements(pose)
        lines.append(f"| {name} | {fmt(m['head_yaw'], '+.0f', '°')} "
                     f"| {fmt(m['torso_yaw'], '.0f', '°')} | {fmt(m['over_torso'], '.2f')} "
                     f"| {fmt(m['over_neck'], '.2f')}"
                     f" | {m['face']:.0%} | {m['fingers_left']}/{m['fingers_right']} "
                     f"| {fmt(m['hands_apart'], '.2f')} | {fmt(m['wrist_ratio'], '.2f')} |")
    return "\n".join(lines)


def _exposure_table(coco_dir: Path) -> str:
    """A markdown table of :func:`~app.guidance.exposure_stats` of each photo as it is,
    :func:`darkened` and :func:`brightened`."""
    lines = ["| photo | as taken (mean, dark, clipped) | darkened | brightened |",
             "|---|---|---|---|"]
    for path in sorted({*image_files(coco_dir).values()}):
        image = cv2.imread(str(path))
        cells = [" / ".join(f"{v:.2f}" for v in exposure_stats(im))
                 for im in (image, darkened(image), brightened(image))]
        lines.append(f"| {path.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the measurements of the people as labelled, of the people facing the camera
    placed in a 16:9 frame for their kind of shot in the situations about facing, and the
    exposure of the photos."""
    from tests.realdata import Missing, resolve_dir

    try:
        coco_dir = resolve_dir("coco_wholebody")
    except Missing as exc:
        print(exc, file=sys.stderr)
        return 1
    people = real_people(coco_dir)
    rows = {"synthetic": Pose(canonical())}
    rows.update({str(i): p for i, p in people.items()})
    print(_table(rows), end="\n\n")
    situations = {f"leaning {LEAN:.0f}°": lambda p: p.leaning(LEAN),
                  f"head tilted {TILT:.0f}°": lambda p: p.head_tilted(TILT),
                  f"head turned to {THREE_QUARTER:+.0f}°": lambda p: turn_head_to(p, THREE_QUARTER),
                  f"head turned to {-THREE_QUARTER:+.0f}°":
                      lambda p: turn_head_to(p, -THREE_QUARTER),
                  "back turned": Pose.back_turned}
    shape = (720, 1280, 3)
    print(_table({f"{name} ({profile.name}), {what}":
                  place(change(pose), profile, shape).seen_in(shape)
                  for name, (pose, profile) in facing_people(people).items()
                  for what, change in {"as it is": lambda p: p, **situations}.items()}),
          end="\n\n")
    print(_exposure_table(coco_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

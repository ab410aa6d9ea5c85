"""The 133-keypoint COCO-WholeBody skeleton: the one definition every module reads.

The detector-free parts of the project (drawing, the OpenPose conversion, SimCC training with flip
augmentation, OKS evaluation) all need the same facts about the skeleton: keypoint names and order,
which points mirror each other, which points are linked, the colours mmpose draws them in and the
OKS sigmas used for evaluation. They are defined once, here, so that the app, the engines and the
trainer can never disagree.

Every value equals mmpose's ``configs/_base_/datasets/coco_wholebody.py`` (names, order, swap
pairs, the 65 skeleton links in mmpose's order, link and keypoint colours, sigmas). Rather than a
literal table the values are built from the structure of the body: part lists, finger chains and
mirror groups, which makes the layout easy to check by eye.

Layout (index ranges): body 0-16 (COCO order), feet 17-22, face 23-90 (68 iBUG landmarks),
left hand 91-111, right hand 112-132 (root, then four points per finger, thumb to pinky).
Colours are RGB, exactly as mmpose stores them; convert to BGR before drawing with OpenCV.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "NUM_KEYPOINTS",
    "KEYPOINT_NAMES",
    "KEYPOINT_INDEX",
    "PARTS",
    "LINKS",
    "LINK_PARTS",
    "LINK_COLORS",
    "KEYPOINT_COLORS",
    "FLIP_INDICES",
    "FLIP_PAIRS",
    "SIGMAS",
    "coco_person_category",
    "part_mask",
]

# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_SIDES = ("left", "right")
_BODY_NAMES = ("nose",) + tuple(
    f"{side}_{joint}"
    for joint in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    for side in _SIDES
)
_FOOT_NAMES = tuple(
    f"{side}_{point}" for side in _SIDES for point in ("big_toe", "small_toe", "heel")
)
_NUM_FACE = 68
_FACE_NAMES = tuple(f"face-{i}" for i in range(_NUM_FACE))
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
_POINTS_PER_FINGER = 4


def _hand_names(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root",) + tuple(
        f"{side}_{finger}{j}" for finger in _FINGERS for j in range(1, _POINTS_PER_FINGER + 1)
    )


KEYPOINT_NAMES: tuple[str, ...] = (
    _BODY_NAMES + _FOOT_NAMES + _FACE_NAMES + _hand_names("left") + _hand_names("right")
)
NUM_KEYPOINTS: int = 133
assert len(KEYPOINT_NAMES) == NUM_KEYPOINTS

#: name -> index
KEYPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

#: part name -> index range, in keypoint order
PARTS: dict[str, range] = {}
_start = 0
for _part, _names in (
    ("body", _BODY_NAMES),
    ("foot", _FOOT_NAMES),
    ("face", _FACE_NAMES),
    ("left_hand", _hand_names("left")),
    ("right_hand", _hand_names("right")),
):
    PARTS[_part] = range(_start, _start + len(_names))
    _start += len(_names)
del _start, _part, _names

# --------------------------------------------------------------------------------------------
# Colours (RGB, mmpose's palette)
# --------------------------------------------------------------------------------------------

_BLUE = (51, 153, 255)  # centre line and head
_GREEN = (0, 255, 0)  # left limbs
_ORANGE = (255, 128, 0)  # right limbs (and every foot point)
_WHITE = (255, 255, 255)
_FINGER_COLORS = {
    "thumb": (255, 128, 0),
    "forefinger": (255, 153, 255),
    "middle_finger": (102, 178, 255),
    "ring_finger": (255, 51, 51),
    "pinky_finger": (0, 255, 0),
}
_SIDE_COLORS = {"left": _GREEN, "right": _ORANGE, "centre": _BLUE}


def _keypoint_color(index: int, name: str) -> tuple[int, int, int]:
    if index in PARTS["body"]:
        if index <= KEYPOINT_INDEX["right_ear"]:
            return _BLUE
        return _GREEN if name.startswith("left_") else _ORANGE
    if index in PARTS["foot"]:
        return _ORANGE
    if index in PARTS["face"] or name.endswith("hand_root"):
        return _WHITE
    finger = name.split("_", 1)[1].rstrip("1234")
    return _FINGER_COLORS[finger]


KEYPOINT_COLORS: np.ndarray = np.array(
    [_keypoint_color(i, n) for i, n in enumerate(KEYPOINT_NAMES)], dtype=np.uint8
)

# --------------------------------------------------------------------------------------------
# Links, in mmpose's order: 19 body, 6 foot, 20 left hand, 20 right hand
# --------------------------------------------------------------------------------------------

# (from, to, colour key); "L"/"R" prefixes expand to left_/right_
_BODY_LINKS = (
    ("L_ankle", "L_knee", "left"),
    ("L_knee", "L_hip", "left"),
    ("R_ankle", "R_knee", "right"),
    ("R_knee", "R_hip", "right"),
    ("L_hip", "R_hip", "centre"),
    ("L_shoulder", "L_hip", "centre"),
    ("R_shoulder", "R_hip", "centre"),
    ("L_shoulder", "R_shoulder", "centre"),
    ("L_shoulder", "L_elbow", "left"),
    ("R_shoulder", "R_elbow", "right"),
    ("L_elbow", "L_wrist", "left"),
    ("R_elbow", "R_wrist", "right"),
    ("L_eye", "R_eye", "centre"),
    ("nose", "L_eye", "centre"),
    ("nose", "R_eye", "centre"),
    ("L_eye", "L_ear", "centre"),
    ("R_eye", "R_ear", "centre"),
    ("L_ear", "L_shoulder", "centre"),
    ("R_ear", "R_shoulder", "centre"),
)


def _expand(name: str) -> str:
    if name.startswith("L_"):
        return "left_" + name[2:]
    if name.startswith("R_"):
        return "right_" + name[2:]
    return name


def _build_links() -> tuple[list[tuple[str, str]], list[str], list[tuple[int, int, int]]]:
    pairs: list[tuple[str, str]] = []
    parts: list[str] = []
    colors: list[tuple[int, int, int]] = []
    for a, b, key in _BODY_LINKS:
        pairs.append((_expand(a), _expand(b)))
        parts.append("body")
        colors.append(_SIDE_COLORS[key])
    for side in _SIDES:  # ankle -> toes and heel
        for point in ("big_toe", "small_toe", "heel"):
            pairs.append((f"{side}_ankle", f"{side}_{point}"))
            parts.append("foot")
            colors.append(_SIDE_COLORS[side])
    for side in _SIDES:  # each finger is a chain hanging from the hand root
        for finger in _FINGERS:
            chain = [f"{side}_hand_root"] + [
                f"{side}_{finger}{j}" for j in range(1, _POINTS_PER_FINGER + 1)
            ]
            for a, b in zip(chain[:-1], chain[1:]):
                pairs.append((a, b))
                parts.append(f"{side}_hand")
                colors.append(_FINGER_COLORS[finger])
    return pairs, parts, colors


_link_pairs, _link_parts, _link_colors = _build_links()

LINKS: tuple[tuple[int, int], ...] = tuple(
    (KEYPOINT_INDEX[a], KEYPOINT_INDEX[b]) for a, b in _link_pairs
)
LINK_PARTS: tuple[str, ...] = tuple(_link_parts)
LINK_COLORS: np.ndarray = np.array(_link_colors, dtype=np.uint8)
assert len(LINKS) == 65
del _link_pairs, _link_parts, _link_colors

# --------------------------------------------------------------------------------------------
# Horizontal flip
# --------------------------------------------------------------------------------------------

# Face landmarks (iBUG-68) mirror within these groups: each sequence maps onto its reverse.
# Landmarks in no group (the nose bridge 27-30) lie on the symmetry axis and map to themselves.
_FACE_MIRROR_GROUPS = (
    tuple(range(0, 17)),  # jaw line
    tuple(range(17, 27)),  # eyebrows
    tuple(range(31, 36)),  # nostrils
    (36, 37, 38, 39, 40, 41, 46, 47, 42, 43, 44, 45),  # eyes, walked so that reversal mirrors
    tuple(range(48, 55)),  # outer lip, upper
    tuple(range(55, 60)),  # outer lip, lower
    tuple(range(60, 65)),  # inner lip, upper
    tuple(range(65, 68)),  # inner lip, lower
)


def _flip_indices() -> np.ndarray:
    flip = np.arange(NUM_KEYPOINTS)
    for i, name in enumerate(KEYPOINT_NAMES):
        if name.startswith("left_"):
            j = KEYPOINT_INDEX["right_" + name[5:]]
            flip[i], flip[j] = j, i
    face0 = PARTS["face"].start
    for group in _FACE_MIRROR_GROUPS:
        for a, b in zip(group, reversed(group)):
            flip[face0 + a] = face0 + b
    return flip


FLIP_INDICES: np.ndarray = _flip_indices()
FLIP_INDICES.setflags(write=False)
#: (i, j) with i < j for every keypoint that has a distinct mirror, ascending by i
FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, int(j)) for i, j in enumerate(FLIP_INDICES) if i < j
)

# --------------------------------------------------------------------------------------------
# OKS sigmas (COCO-WholeBody evaluation, as in mmpose / myeval_wholebody.py)
# --------------------------------------------------------------------------------------------

_BODY_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
_FOOT_SIGMAS = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
_FACE_SIGMAS = (
    0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032,
    0.037, 0.038, 0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011,
    0.011, 0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.010,
    0.017, 0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.010, 0.034,
    0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009, 0.009, 0.009, 0.007,
    0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.010, 0.008,
)  # fmt: skip
_HAND_SIGMAS = (
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
    0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.020, 0.019, 0.022, 0.031,
)  # fmt: skip

SIGMAS: np.ndarray = np.array(
    _BODY_SIGMAS + _FOOT_SIGMAS + _FACE_SIGMAS + _HAND_SIGMAS + _HAND_SIGMAS, dtype=np.float64
)
assert SIGMAS.shape == (NUM_KEYPOINTS,)

for _arr in (KEYPOINT_COLORS, LINK_COLORS, SIGMAS):
    _arr.setflags(write=False)
del _arr


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def part_mask(parts: Iterable[str]) -> np.ndarray:
    """Boolean mask [133] of the keypoints in ``parts``.

    Part names are the keys of :data:`PARTS`; ``"hand"`` means both hands and ``"feet"`` is
    accepted for ``"foot"``. Unknown names raise ``ValueError``.
    """
    if isinstance(parts, str):
        parts = (parts,)
    mask = np.zeros(NUM_KEYPOINTS, dtype=bool)
    for part in parts:
        names = _ALIASES.get(part, (part,))
        for name in names:
            if name not in PARTS:
                known = ", ".join([*PARTS, *_ALIASES])
                raise ValueError(f"unknown skeleton part {part!r} (known: {known})")
            r = PARTS[name]
            mask[r.start : r.stop] = True
    return mask


_ALIASES: dict[str, tuple[str, ...]] = {
    "hand": ("left_hand", "right_hand"),
    "hands": ("left_hand", "right_hand"),
    "feet": ("foot",),
}


def coco_person_category() -> dict:
    """The COCO ``categories`` entry of a whole-body annotation file: id 1, person, the 17 body
    keypoint names and the 19 body links, 1-based (COCO's ``person_keypoints`` skeleton).

    COCO-WholeBody files carry it; UBody's are made to carry it before COCO tools read them.
    """
    body = PARTS["body"]
    return {"supercategory": "person", "id": 1, "name": "person",
            "keypoints": list(KEYPOINT_NAMES[body.start:body.stop]),
            "skeleton": [[a + 1, b + 1] for a, b in LINKS
                         if a < body.stop and b < body.stop]}

"""A small synthetic COCO-WholeBody dataset: TEST FIXTURE / DEMO DATA, not training data.

``generate`` renders stick figures whose 133 keypoints are known exactly and writes them in
the exact COCO-WholeBody file layout (JPEG images + one JSON with ``images``, ``annotations``
holding ``keypoints`` / ``foot_kpts`` / ``face_kpts`` / ``lefthand_kpts`` / ``righthand_kpts``,
the part boxes and ``*_valid`` flags, and ``categories``). It lets the data pipeline, the trainer
and the evaluation run end to end, and lets a model visibly learn something, without the real
COCO-WholeBody download. Numbers measured on it say nothing about real-image accuracy.

Figures: a parametric body (random limb angles, lean and size) drawn with thick limbs and filled
shapes in a fixed per-part palette; a head ellipse with the 68 iBUG face landmarks laid out on
it; hands with a root and five four-joint fingers; feet with big toe, small toe and heel.
Backgrounds are random gradients, noise and shapes; random rectangles occlude parts.
Visibility follows COCO: 2 visible, 1 labelled but occluded (by an occluder or a later-drawn
person), 0 (with x = y = 0) outside the image. Output is a pure function of the seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engines.files import write_file, write_image
from engines.skeleton import KEYPOINT_INDEX, NUM_KEYPOINTS, PARTS, coco_person_category

__all__ = ["generate"]

_I = KEYPOINT_INDEX
_SIDES = (("left", 1.0), ("right", -1.0))  # person's left is on the image right (facing us)
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
# BGR palette per drawn part, jittered per person
_PALETTE = {
    "torso": (160, 90, 40), "head": (150, 180, 230), "face": (40, 40, 60),
    "left_upper_arm": (60, 200, 60), "left_forearm": (30, 140, 30),
    "right_upper_arm": (40, 140, 250), "right_forearm": (20, 90, 200),
    "left_thigh": (200, 200, 40), "left_shin": (140, 140, 20),
    "right_thigh": (200, 60, 200), "right_shin": (140, 30, 140),
    "left_hand": (120, 230, 250), "right_hand": (250, 200, 120),
    "left_foot": (60, 60, 200), "right_foot": (200, 60, 60),
}


def _unit(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` radians, measured from image-down towards image-right."""
    return np.array([np.sin(angle), np.cos(angle)])


def _face_layout() -> np.ndarray:
    """[68, 2] iBUG landmarks in a unit face frame (x right, y up; index 0 on the image left)."""
    pts = []
    theta = np.linspace(0.0, np.pi, 17)
    pts += list(zip(-np.cos(theta), 0.2 - 0.95 * np.sin(theta)))  # jaw 0-16, through the chin
    brow = np.linspace(0.0, 1.0, 5)
    pts += list(zip(-0.75 + 0.6 * brow, 0.5 + 0.1 * np.sin(np.pi * brow)))  # brow 17-21
    pts += list(zip(0.15 + 0.6 * brow, 0.5 + 0.1 * np.sin(np.pi * brow)))  # brow 22-26
    pts += [(0.0, y) for y in np.linspace(0.35, -0.05, 4)]  # nose bridge 27-30
    pts += list(zip(np.linspace(-0.2, 0.2, 5), (-0.15, -0.18, -0.2, -0.18, -0.15)))  # 31-35

    def ring(cx: float, cy: float, rx: float, ry: float, degrees: tuple[float, ...]) -> list:
        a = np.deg2rad(degrees)
        return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))

    eye = (180, 120, 60, 0, -60, -120)
    pts += ring(-0.4, 0.3, 0.17, 0.07, eye)  # eye 36-41: outer corner, upper, inner, lower
    pts += ring(0.4, 0.3, 0.17, 0.07, eye)  # eye 42-47: inner corner first
    pts += ring(0.0, -0.45, 0.35, 0.13, (180, 150, 120, 90, 60, 30, 0, -30, -60, -90, -120, -150))
    pts += ring(0.0, -0.45, 0.25, 0.06, (180, 135, 90, 45, 0, -45, -90, -135))  # lips 48-67
    out = np.array(pts, dtype=np.float64)
    assert out.shape == (68, 2)
    return out


_FACE = _face_layout()


def _pose(rng: np.random.Generator, hip: np.ndarray, u: float) -> np.ndarray:
    """[133, 2] keypoints of one random figure with its hip centre at ``hip``, height ~``u``."""
    kp = np.zeros((NUM_KEYPOINTS, 2))
    lean = np.deg2rad(rng.normal(0.0, 8.0))
    up = -_unit(lean)  # torso axis, pointing up
    side = np.array([-up[1], up[0]])  # towards the person's left (image right when upright)
    neck = hip + up * 0.30 * u

    roll = lean + np.deg2rad(rng.normal(0.0, 10.0))
    h_up, h_side = -_unit(roll), np.array([np.cos(roll), np.sin(roll)])
    head = neck + up * 0.11 * u
    kp[_I["nose"]] = head - h_up * 0.01 * u
    for name, sg in _SIDES:
        kp[_I[f"{name}_eye"]] = head + h_side * sg * 0.025 * u + h_up * 0.015 * u
        kp[_I[f"{name}_ear"]] = head + h_side * sg * 0.06 * u + h_up * 0.005 * u
    face = PARTS["face"]
    kp[face.start:face.stop] = (head + np.outer(_FACE[:, 0], h_side) * 0.055 * u
                                + np.outer(_FACE[:, 1], h_up) * 0.07 * u)

    for name, sg in _SIDES:
        shoulder = neck + side * sg * 0.11 * u - up * 0.02 * u
        a1 = lean + sg * np.deg2rad(rng.uniform(-30.0, 150.0))  # outward from hanging down
        a2 = a1 + sg * np.deg2rad(rng.uniform(-10.0, 140.0))
        elbow = shoulder + _unit(a1) * 0.16 * u
        wrist = elbow + _unit(a2) * 0.14 * u
        kp[_I[f"{name}_shoulder"]], kp[_I[f"{name}_elbow"]], kp[_I[f"{name}_wrist"]] = (
            shoulder, elbow, wrist)
        _hand(rng, kp, name, sg, wrist, a2 + np.deg2rad(rng.normal(0.0, 15.0)), u)

        hip_s = hip + side * sg * 0.07 * u
        b1 = lean + sg * np.deg2rad(rng.uniform(-15.0, 40.0))
        b2 = b1 + sg * np.deg2rad(rng.uniform(-35.0, 20.0))
        knee = hip_s + _unit(b1) * 0.24 * u
        ankle = knee + _unit(b2) * 0.24 * u
        kp[_I[f"{name}_hip"]], kp[_I[f"{name}_knee"]], kp[_I[f"{name}_ankle"]] = (
            hip_s, knee, ankle)
        toe_dir = _unit(b2 + sg * np.deg2rad(rng.uniform(60.0, 100.0)))
        normal = _unit(b2)
        kp[_I[f"{name}_big_toe"]] = ankle + toe_dir * 0.07 * u + normal * 0.02 * u
        kp[_I[f"{name}_small_toe"]] = ankle + toe_dir * 0.055 * u + normal * 0.035 * u
        kp[_I[f"{name}_heel"]] = ankle - toe_dir * 0.02 * u + normal * 0.03 * u
    return kp


def _hand(rng: np.random.Generator, kp: np.ndarray, name: str, sg: float, wrist: np.ndarray,
          angle: float, u: float) -> None:
    """Fill the 21 points of one hand: root, then 4 joints per finger from thumb to pinky."""
    root = wrist + _unit(angle) * 0.015 * u
    kp[_I[f"{name}_hand_root"]] = root
    spread = sg * np.deg2rad(np.array([-60.0, -22.0, 0.0, 18.0, 36.0]) + rng.normal(0, 4, 5))
    palm = np.array([0.025, 0.045, 0.047, 0.044, 0.04]) * u
    segs = np.array([[0.02, 0.016, 0.013], [0.02, 0.014, 0.012], [0.022, 0.015, 0.012],
                     [0.02, 0.014, 0.011], [0.016, 0.011, 0.009]]) * u
    for f, finger in enumerate(_FINGERS):
        a = angle + spread[f]
        point = root + _unit(a) * palm[f]
        kp[_I[f"{name}_{finger}1"]] = point
        curl = -sg * np.deg2rad(rng.uniform(0.0, 35.0))
        for j in range(3):
            a += curl
            point = point + _unit(a) * segs[f, j]
            kp[_I[f"{name}_{finger}{j + 2}"]] = point


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """[h, w, 3] uint8 BGR: a gradient, low-frequency noise or shapes (mixed at random)."""
    kind = rng.integers(3)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == 0:
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h)
        ramp = c0 + (c1 - c0) * t[:, None]
        img = np.broadcast_to(ramp[None] if len(t) == w else ramp[:, None], (h, w, 3))
    else:
        small = rng.uniform(0, 255, (rng.integers(2, 9), rng.integers(2, 9), 3))
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    if kind == 2:
        for _ in range(int(rng.integers(3, 9))):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            x, y = int(rng.integers(w)), int(rng.integers(h))
            r = int(rng.integers(5, max(6, min(w, h) // 4)))
            if rng.random() < 0.5:
                cv2.circle(img, (x, y), r, color, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), color, -1)
    return np.ascontiguousarray(img)


def _draw(img: np.ndarray, mask: np.ndarray, kp: np.ndarray, u: float,
          colors: dict[str, tuple[int, ...]]) -> None:
    """Draw one figure on ``img`` (BGR) and its silhouette on ``mask`` (uint8, 255 inside)."""
    sh = 4  # sub-pixel bits for cv2 drawing
    p = np.round(kp * (1 << sh)).astype(np.int32)

    def both(fn, *args, color: tuple[int, ...], thickness: int) -> None:
        fn(img, *args, color, thickness, cv2.LINE_AA, sh)
        fn(mask, *args, 255, thickness, cv2.LINE_8, sh)

    def line(a: str, b: str, part: str, width: float) -> None:
        t = max(1, int(round(width * u)))
        both(cv2.line, tuple(p[_I[a]]), tuple(p[_I[b]]), color=colors[part], thickness=t)

    def poly(idx: list[int], part: str) -> None:
        pts = [p[idx].reshape(-1, 1, 2)]
        cv2.fillPoly(img, pts, colors[part], cv2.LINE_AA, sh)
        cv2.fillPoly(mask, pts, 255, cv2.LINE_8, sh)

    poly([_I["left_shoulder"], _I["right_shoulder"], _I["right_hip"], _I["left_hip"]], "torso")
    for side, _sg in _SIDES:
        line(f"{side}_hip", f"{side}_knee", f"{side}_thigh", 0.06)
        line(f"{side}_knee", f"{side}_ankle", f"{side}_shin", 0.05)
        poly([_I[f"{side}_ankle"], _I[f"{side}_big_toe"], _I[f"{side}_small_toe"],
              _I[f"{side}_heel"]], f"{side}_foot")
        line(f"{side}_shoulder", f"{side}_elbow", f"{side}_upper_arm", 0.045)
        line(f"{side}_elbow", f"{side}_wrist", f"{side}_forearm", 0.04)
        hand = PARTS[f"{side}_hand"]
        root = hand.start
        poly([root, root + 1, root + 5, root + 17], f"{side}_hand")  # palm
        for f in range(5):
            chain = [root] + [root + 1 + 4 * f + j for j in range(4)]
            for a, b in zip(chain[:-1], chain[1:]):
                both(cv2.line, tuple(p[a]), tuple(p[b]), color=colors[f"{side}_hand"],
                     thickness=max(1, int(round(0.01 * u))))
    line("left_shoulder", "right_shoulder", "torso", 0.03)

    face = kp[PARTS["face"].start:PARTS["face"].stop]
    center = face[27] - (face[27] - face[30]) * (0.35 / 0.4)  # the head centre (nose bridge)
    axes = (0.068 * u, 0.085 * u)
    angle = float(np.degrees(np.arctan2(face[16, 1] - face[0, 1], face[16, 0] - face[0, 0])))
    box = ((float(center[0]), float(center[1])), (2 * axes[0], 2 * axes[1]), angle)
    cv2.ellipse(img, box, colors["head"], -1, cv2.LINE_AA)
    cv2.ellipse(mask, box, 255, -1, cv2.LINE_8)
    fp = p[PARTS["face"].start:PARTS["face"].stop]
    t = max(1, int(round(0.006 * u)))
    for lo, hi, closed in ((0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False),
                           (31, 36, False), (36, 42, True), (42, 48, True), (48, 60, True),
                           (60, 68, True)):
        cv2.polylines(img, [fp[lo:hi].reshape(-1, 1, 2)], closed, colors["face"], t,
                      cv2.LINE_AA, sh)


def _jitter(rng: np.random.Generator) -> dict[str, tuple[int, ...]]:
    return {k: tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in v)
            for k, v in _PALETTE.items()}


def _xywh(points: np.ndarray) -> list[float]:
    if len(points) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = points.min(axis=0), points.max(axis=0)
    return [round(float(v), 2) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])]


def _render(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, list[dict]]:
    """One image and its per-person annotation fields (without ids)."""
    img = _background(rng, w, h)
    n = int(rng.integers(1, 4))
    persons = []
    for i in range(n):
        for _attempt in range(20):  # resample until enough of the body is in the image
            u = rng.uniform(0.45, 1.05) * h / max(1.0, 0.5 + 0.35 * (n - 1))
            hip = np.array([(i + 0.5 + rng.uniform(-0.2, 0.2)) * w / n,
                            rng.uniform(0.35, 0.7) * h])
            kp = _pose(rng, hip, u)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
            if inside[PARTS["body"].start:PARTS["body"].stop].sum() >= 8:
                break
        mask = np.zeros((h, w), np.uint8)
        _draw(img, mask, kp, u, _jitter(rng))
        persons.append((kp, inside, mask))

    occluders = []
    for _ in range(int(rng.integers(0, 3))):
        ow, oh = (int(rng.uniform(0.1, 0.35) * s) for s in (w, h))
        x0, y0 = int(rng.integers(0, w - ow)), int(rng.integers(0, h - oh))
        color = rng.integers(0, 256, 3)
        patch = np.clip(color + rng.normal(0, 20, (oh, ow, 3)), 0, 255).astype(np.uint8)
        img[y0:y0 + oh, x0:x0 + ow] = patch
        occluders.append((x0, y0, x0 + ow, y0 + oh))

    anns = []
    for i, (kp, inside, mask) in enumerate(persons):
        px = np.clip(np.floor(kp).astype(int), 0, [w - 1, h - 1])
        covered = np.zeros(NUM_KEYPOINTS, bool)
        for _kp2, _in2, later in persons[i + 1:]:
            covered |= later[px[:, 1], px[:, 0]] > 0
        for x0, y0, x1, y1 in occluders:
            covered |= (kp[:, 0] >= x0) & (kp[:, 0] < x1) & (kp[:, 1] >= y0) & (kp[:, 1] < y1)
        vis = np.where(inside, np.where(covered, 1, 2), 0)
        coords = np.where(inside[:, None], kp, 0.0)
        ys, xs = np.nonzero(mask)
        if inside.sum() == 0 or len(xs) == 0:
            continue
        labelled = coords[vis > 0]
        x1 = max(0.0, min(xs.min(), labelled[:, 0].min()))
        y1 = max(0.0, min(ys.min(), labelled[:, 1].min()))
        x2 = min(float(w), max(xs.max() + 1.0, labelled[:, 0].max()))
        y2 = min(float(h), max(ys.max() + 1.0, labelled[:, 1].max()))
        flat = np.concatenate([np.round(coords, 2), vis[:, None]], axis=1)  # [133, 3]
        ann = {"bbox": [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)],
               "area": float(len(xs)), "num_keypoints": int((vis[:17] > 0).sum())}
        for key, part in (("keypoints", "body"), ("foot_kpts", "foot"), ("face_kpts", "face"),
                          ("lefthand_kpts", "left_hand"), ("righthand_kpts", "right_hand")):
            r = PARTS[part]
            ann[key] = [float(v) if j % 3 < 2 else int(v)
                        for j, v in enumerate(flat[r.start:r.stop].ravel())]
        for key, part in (("face", "face"), ("lefthand", "left_hand"),
                          ("righthand", "right_hand"), ("foot", "foot")):
            r = PARTS[part]
            labelled_part = coords[r.start:r.stop][vis[r.start:r.stop] > 0]
            ann[f"{key}_valid"] = bool(len(labelled_part) > 0)
            if key != "foot":
                ann[f"{key}_box"] = _xywh(labelled_part)
        anns.append(ann)
    return img, anns


def generate(out_dir: str | Path, num_images: int, seed: int = 0,
             image_size: tuple[int, int] = (320, 256)) -> Path:
    """Write ``num_images`` synthetic images (``out_dir/images/*.jpg``) and their COCO-WholeBody
    annotations (``out_dir/synthetic_coco_wholebody.json``); returns the JSON path.

    TEST FIXTURE / DEMO DATA. Deterministic: the same ``seed`` and sizes give the same files.
    ``image_size`` is (w, h). Read it back with
    ``CocoWholeBodyDataset(json_path, out_dir / "images", ...)``.
    """
    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in image_size)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(num_images):
        img, anns = _render(rng, w, h)
        file_name = f"{i + 1:012d}.jpg"
        write_image(img_dir / file_name, img, "synthetic image")
        images.append({"id": i + 1, "file_name": file_name, "width": w, "height": h})
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1,
                                "iscrowd": 0, "segmentation": [], **ann})
    data = {"info": {"description": "synthetic COCO-WholeBody (test fixture / demo data)",
                     "seed": seed},
            "licenses": [], "categories": [coco_person_category()], "images": images,
            "annotations": annotations}
    return write_file(out / "synthetic_coco_wholebody.json", json.dumps(data),
                      "synthetic annotations")

"""The pose map pictures and OpenPose JSON excerpts of docs/commands.md, from a real
COCO-WholeBody annotation (../shared/data/coco_wholebody, image 000000000785, 640x425).

Writes docs/pose-map-<short side>-<stroke>.png for short sides 512 and 1024 (canvases 768x512
and 1536x1024, each side a multiple of 64 as ``--pose-map-size N`` makes them) and both stroke
modes, drawn by ``engines.openpose`` exactly as ``dwpose predict --pose-map`` draws them (the
annotated visibility flags as scores), and prints the JSON excerpts of both layouts at 512.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines import openpose as op  # noqa: E402
from engines.files import write_image  # noqa: E402

DEFAULT_COCO = ROOT.parent / "shared" / "data" / "coco_wholebody" / "test_coco_wholebody.json"
IMAGE_ID = 785


def annotation(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Keypoints [N, 133, 2], visibility [N, 133] and (h, w) of the image."""
    data = json.loads(path.read_text())
    image = next(i for i in data["images"] if i["id"] == IMAGE_ID)
    rows = [np.array(a["keypoints"] + a["foot_kpts"] + a["face_kpts"] + a["lefthand_kpts"]
                     + a["righthand_kpts"], np.float64).reshape(133, 3)
            for a in data["annotations"] if a["image_id"] == IMAGE_ID]
    arr = np.stack(rows)
    return arr[..., :2], arr[..., 2], (image["height"], image["width"])


def excerpt(values: list[float], picks: list[int]) -> str:
    """The triples ``picks`` of a flat [x, y, c, ...] list, with the gaps marked."""
    parts, last = [], -1
    for i in picks:
        if i != last + 1:
            parts.append("...")
        x, y, c = values[3 * i:3 * i + 3]
        parts.append(f"{x:.1f}, {y:.1f}, {c:.1f}")
        last = i
    if last != len(values) // 3 - 1:
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco", type=Path, default=DEFAULT_COCO)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    if not args.coco.is_file():
        print(f"{args.coco}: not found (the COCO-WholeBody annotations of ../shared/data)",
              file=sys.stderr)
        return 2
    kpts, vis, (h, w) = annotation(args.coco)
    for short in (512, 1024):
        H, W = op.canvas_size(h, w, short)
        moved = op.to_canvas(kpts, (h, w), (H, W))
        for stroke in op.STROKES:
            pose_map = op.draw_pose_map(moved, vis, H, W, stroke=stroke)
            path = args.out / f"pose-map-{short}-{stroke}.png"
            write_image(path, pose_map[:, :, ::-1], "pose map")
            print(f"{path.name}: {W}x{H}, sticks x{op.stick_scale(H, W, stroke)}")
    H, W = op.canvas_size(h, w, 512)
    moved = op.to_canvas(kpts, (h, w), (H, W))
    for layout, picks in (("coco18", [0, 1, 2]), ("body25", [0, 1, 8, 19, 20, 21])):
        doc = op.openpose_json(moved, vis, H, W, layout=layout)
        person = doc["people"][0]
        print(f"\n--openpose-layout {layout}:")
        print(json.dumps({"people": [{
            "pose_keypoints_2d": excerpt(person["pose_keypoints_2d"], picks),
            "face_keypoints_2d": excerpt(person["face_keypoints_2d"], [68, 69]),
            "hand_left_keypoints_2d": excerpt(person["hand_left_keypoints_2d"], [0]),
            "hand_right_keypoints_2d": excerpt(person["hand_right_keypoints_2d"], [0])}],
            "animals": [], "canvas_height": H, "canvas_width": W}, indent=1)
            .replace('"[', "[").replace(']"', "]"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

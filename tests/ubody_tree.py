"""A small UBody-shaped download (two scenes, short videos), for the tests and the docs' demo.

``python -m tests.ubody_tree DIR`` writes it to ``DIR``. Layout as UBody's::

    DIR/videos/<scene>/<video>.mp4                 cv2.VideoWriter (mp4v)
    DIR/annotations/<scene>/keypoint_annotation.json   one line of JSON, no 'categories'
    DIR/splits/intra_scene_test_list.npy           the test videos

Every decoded frame shows its own index as 8 black/white blocks along the top edge
(``frame_index``), and one person whose 133 keypoints sit on 5x5 squares coloured by part
(``PART_COLORS``). Image records follow upstream's naming: image ``n`` of a video is
``<video>/<n:06d>.png``, the n-th frame at 30 fps (``Speech`` names start with ``/``, as
some of UBody's do).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engines.skeleton import NUM_KEYPOINTS, PARTS

WIDTH, HEIGHT = 224, 128
#: BGR colour of each part's keypoint squares.
PART_COLORS = {"body": (0, 0, 255), "foot": (0, 255, 255), "face": (255, 0, 0),
               "left_hand": (0, 255, 0), "right_hand": (255, 0, 255)}
BACKGROUND = 90
FIELDS = {"body": "keypoints", "foot": "foot_kpts", "face": "face_kpts",
          "left_hand": "lefthand_kpts", "right_hand": "righthand_kpts"}


@dataclass(frozen=True)
class Video:
    scene: str
    name: str
    fps: float
    frames: int  # decoded frames in the file
    first_id: int  # image id of its image 000001
    images: int  # image records (000001 ...)


#: Speech: ids 0-29 and 35-64 (sampled at 10: frames 1, 11, 21 and 6, 16, 26);
#: Fitness: a 15 fps video, whose 30 fps image n shows decoded frame (n - 1) // 2.
VIDEOS = (
    Video("Speech", "spk_a", 30.0, 30, 0, 30),
    Video("Speech", "spk_b_Trim1", 30.0, 30, 35, 30),
    Video("Fitness", "fit_a", 30.0, 30, 100, 30),
    Video("Fitness", "fit_b", 15.0, 16, 200, 32),
)
TEST_VIDEOS = ("spk_b", "fit_b")


def keypoint_grid() -> np.ndarray:
    """[133, 2] pixel positions: each part on its own rows, 8 px apart."""
    xy = np.zeros((NUM_KEYPOINTS, 2), np.float64)
    row = 0
    for part in PARTS.values():
        for j, k in enumerate(part):
            xy[k] = (12 + 8 * (j % 25), 20 + 8 * (row + j // 25))
        row += (len(part) + 24) // 25
    return xy


def frame_image(index: int) -> np.ndarray:
    """The frame with decoded index ``index``: its bits on top, the person's squares below."""
    img = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
    for bit in range(8):
        if index >> bit & 1:
            img[:8, bit * 8:(bit + 1) * 8] = 255
    xy = keypoint_grid().astype(int)
    for part, rng in PARTS.items():
        for k in rng:
            x, y = xy[k]
            img[y - 2:y + 3, x - 2:x + 3] = PART_COLORS[part]
    return img


def frame_index(img: np.ndarray) -> int:
    """The index ``frame_image`` drew into ``img`` (read back after lossy compression)."""
    return sum(1 << bit for bit in range(8) if img[:8, bit * 8:(bit + 1) * 8].mean() > 128)


def part_at(img: np.ndarray, x: float, y: float) -> str:
    """The part whose colour is nearest to the pixel at (x, y)."""
    pixel = img[int(round(y)), int(round(x))].astype(float)
    return min(PART_COLORS, key=lambda p: np.abs(pixel - PART_COLORS[p]).sum())


def _annotation(ann_id: int, image_id: int) -> dict:
    xy = keypoint_grid()
    kpts = np.concatenate([xy, np.full((NUM_KEYPOINTS, 1), 2.0)], axis=1)
    x0, y0 = xy.min(0) - 6
    x1, y1 = xy.max(0) + 6
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
           "person_id": 0, "valid_label": 1, "segmentation": [],
           "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
           "area": float((x1 - x0) * (y1 - y0)), "num_keypoints": len(PARTS["body"])}
    for part, key in FIELDS.items():
        rng = PARTS[part]
        ann[key] = kpts[rng.start:rng.stop].ravel().tolist()
    for side in ("lefthand", "righthand", "face", "foot"):
        ann[f"{side}_valid"] = True
    return ann


def write_video(path: Path, fps: float, frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"cv2.VideoWriter cannot write {path}")
    for i in range(frames):
        writer.write(frame_image(i))
    writer.release()


def build(root: str | Path) -> Path:
    """Write the tree under ``root``; returns ``root``."""
    root = Path(root)
    scenes: dict[str, dict] = {}
    for v in VIDEOS:
        write_video(root / "videos" / v.scene / f"{v.name}.mp4", v.fps, v.frames)
        data = scenes.setdefault(v.scene, {"images": [], "annotations": []})
        lead = "/" if v.scene == "Speech" else ""
        for n in range(1, v.images + 1):
            image_id = v.first_id + n - 1
            data["images"].append({"id": image_id, "file_name": f"{lead}{v.name}/{n:06d}.png",
                                   "width": WIDTH, "height": HEIGHT})
            data["annotations"].append(_annotation(len(data["annotations"]) + 1, image_id))
    for scene, data in scenes.items():
        path = root / "annotations" / scene / "keypoint_annotation.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data) + "\n")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    np.save(root / "splits" / "intra_scene_test_list.npy", np.array(TEST_VIDEOS))
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.ubody_tree DIR")
    print(f"UBody-shaped demo tree: {build(sys.argv[1])}")

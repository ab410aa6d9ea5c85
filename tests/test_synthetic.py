"""The synthetic COCO-WholeBody generator writes the real file format, deterministically."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.skeleton import PARTS
from trainer.data.synthetic import generate

SIZE = (192, 160)  # (w, h): small images keep the tests fast
PART_LENGTHS = {"keypoints": 17 * 3, "foot_kpts": 6 * 3, "face_kpts": 68 * 3,
                "lefthand_kpts": 21 * 3, "righthand_kpts": 21 * 3}
ANN_KEYS = {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "num_keypoints",
            "face_box", "lefthand_box", "righthand_box", "face_valid", "lefthand_valid",
            "righthand_valid", "foot_valid", "segmentation", *PART_LENGTHS}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, dict]:
    path = generate(tmp_path_factory.mktemp("syn"), 10, seed=7, image_size=SIZE)
    return path, json.loads(path.read_text())


def _all_keypoints(ann: dict) -> np.ndarray:
    """[133, 3] in the order mmpose concatenates the parts."""
    return np.array(sum((ann[k] for k in PART_LENGTHS), [])).reshape(-1, 3)


def test_layout_matches_coco_wholebody(synthetic):
    path, data = synthetic
    assert {"images", "annotations", "categories"} <= set(data)
    cat = data["categories"][0]
    assert cat["id"] == 1 and cat["name"] == "person"
    assert len(cat["keypoints"]) == 17 and len(cat["skeleton"]) == 19
    assert cat["skeleton"][0] == [16, 14]  # 1-based, as in the real file
    assert len(data["images"]) == 10 and data["annotations"]
    for img in data["images"]:
        assert {"id", "file_name", "width", "height"} <= set(img)
        decoded = cv2.imread(str(path.parent / "images" / img["file_name"]))
        assert decoded is not None and decoded.shape == (img["height"], img["width"], 3)
    ids = {img["id"] for img in data["images"]}
    per_image = np.bincount([a["image_id"] for a in data["annotations"]])
    assert per_image.max() <= 3
    for ann in data["annotations"]:
        assert set(ann) == ANN_KEYS
        assert ann["image_id"] in ids and ann["category_id"] == 1 and ann["iscrowd"] == 0
        assert ann["segmentation"] == []
        for key, n in PART_LENGTHS.items():
            assert len(ann[key]) == n, key


def test_keypoints_boxes_and_visibility(synthetic):
    _path, data = synthetic
    w, h = SIZE
    seen = set()
    for ann in data["annotations"]:
        kp = _all_keypoints(ann)
        v = kp[:, 2]
        seen |= set(v.astype(int).tolist())
        assert set(np.unique(v)) <= {0, 1, 2}
        assert (kp[v == 0, :2] == 0).all()  # unlabelled points are (0, 0, 0) as in COCO
        x, y, bw, bh = ann["bbox"]
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
        lab = kp[v > 0, :2]
        assert (lab[:, 0] >= x - 0.01).all() and (lab[:, 0] <= x + bw + 0.01).all()
        assert (lab[:, 1] >= y - 0.01).all() and (lab[:, 1] <= y + bh + 0.01).all()
        assert ann["num_keypoints"] == int((v[:17] > 0).sum()) > 0
        for key, part in (("face", "face"), ("lefthand", "left_hand"),
                          ("righthand", "right_hand")):
            r = PARTS[part]
            part_v = v[r.start:r.stop]
            assert ann[f"{key}_valid"] == bool((part_v > 0).any())
            if not ann[f"{key}_valid"]:
                assert ann[f"{key}_box"] == [0.0, 0.0, 0.0, 0.0]
        assert ann["foot_valid"] == bool((v[PARTS["foot"].start:PARTS["foot"].stop] > 0).any())
    assert seen == {0, 1, 2}  # out-of-image, occluded and visible points all occur


def test_deterministic_by_seed(tmp_path, synthetic):
    _path, data = synthetic
    again = generate(tmp_path / "a", 10, seed=7, image_size=SIZE)
    assert json.loads(again.read_text()) == data
    first = sorted((_path.parent / "images").iterdir())
    second = sorted((tmp_path / "a" / "images").iterdir())
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = generate(tmp_path / "b", 2, seed=8, image_size=SIZE)
    assert json.loads(other.read_text())["annotations"] != data["annotations"][:2]

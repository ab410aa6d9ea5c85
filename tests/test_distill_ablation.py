"""The distillation ablation's image-blind baseline and PCK (benchmarks/distill_ablation.py)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.distill_ablation import mean_pose_results, pck_per_part
from engines.skeleton import NUM_KEYPOINTS


def _person(img_id: int, box: tuple[float, float, float, float], rel: np.ndarray,
            visible: np.ndarray | None = None) -> dict:
    """A dataset sample whose keypoints sit at ``rel`` box sizes from the box centre."""
    x1, y1, x2, y2 = box
    size = np.array([x2 - x1, y2 - y1], np.float32)
    center = np.array([x1 + x2, y1 + y2], np.float32) / 2
    visible = np.ones(NUM_KEYPOINTS) if visible is None else visible
    return {"img_id": img_id, "bbox": np.array(box, np.float32),
            "keypoints": (center + rel * size).astype(np.float32),
            "keypoints_visible": visible.astype(np.float32)}


def test_mean_pose_baseline_places_the_mean_relative_pose_in_each_box():
    """Training poses rel - d, rel + d and rel average to rel (an unlabelled keypoint, far
    away, does not count): in boxes of the crop's 3:4 aspect the baseline lands exactly on
    validation persons posed at rel, whatever the size and place of the box."""
    rng = np.random.default_rng(0)
    rel = rng.uniform(-0.4, 0.4, (NUM_KEYPOINTS, 2)).astype(np.float32)
    d = rng.uniform(-0.05, 0.05, (NUM_KEYPOINTS, 2)).astype(np.float32)
    far = rel.copy()
    far[5] += 5.0
    hidden = np.ones(NUM_KEYPOINTS)
    hidden[5] = 0
    train = [_person(1, (0, 0, 75, 100), rel - d), _person(2, (10, 20, 160, 220), rel + d),
             _person(3, (0, 0, 75, 100), far, hidden)]
    val = [_person(7, (100, 50, 130, 90), rel), _person(8, (5, 5, 305, 405), rel)]
    results = mean_pose_results(train, val)
    assert [r["image_id"] for r in results] == [7, 8]
    for sample, result in zip(val, results):
        points = np.asarray(result["keypoints"]).reshape(NUM_KEYPOINTS, 3)
        np.testing.assert_allclose(points[:, :2], sample["keypoints"], atol=1e-3)
        assert (points[:, 2] == 1).all()
        x1, y1, x2, y2 = sample["bbox"]
        assert result["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert pck_per_part(val, results)["wholebody"] == 1.0
    moved = mean_pose_results([_person(1, (0, 0, 75, 100), rel + 0.2)], val)
    assert pck_per_part(val, moved)["wholebody"] == 0.0  # 0.2 x the box on each axis: missed

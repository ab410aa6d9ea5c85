"""Person boxes from a detector's results file, for top-down evaluation (mmpose's ``bbox_file``).

mmpose evaluates COCO-WholeBody val on detected boxes (``COCO_val2017_detections_AP_H_56_
person.json``) rather than the ground-truth ones; ``BaseCocoStyleDataset._load_detection_results``
turns each person detection into one sample. The same here: the detections are a COCO results
list ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``; entries of another
category or below ``score_thr`` are dropped; the box is used as is (not clipped to the image);
keypoints are dummies (zeros, visible) and the detection score becomes ``bbox_score``, which the
evaluation rescores with the keypoint scores. Detections of images missing from the annotation
file or from disk are skipped and counted, as the training dataset does with broken entries.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UserError
from engines.skeleton import NUM_KEYPOINTS

from .coco_wholebody import CocoWholeBodyDataset, Transform

__all__ = ["DetectionsDataset"]

PERSON_CATEGORY = 1


class DetectionsDataset(CocoWholeBodyDataset):
    """One sample per person detection of ``bbox_file`` on the images of ``ann_file``.

    Samples are those of ``CocoWholeBodyDataset`` (``bbox`` xyxy float32, dummy ``keypoints``)
    plus ``bbox_score``; ``ann_id`` is the detection's position in the file.

    Raises:
        UserError: ``bbox_file`` is missing, is not a results list, or has no usable detection.
    """

    def __init__(self, ann_file: str | Path, img_dir: str | Path, bbox_file: str | Path,
                 transform: Transform | Sequence[Transform] | None = None,
                 score_thr: float = 0.0) -> None:
        self.bbox_file = Path(bbox_file)
        self.score_thr = float(score_thr)
        super().__init__(ann_file, img_dir, transform)
        if not self.samples:
            raise UserError(f"{self.bbox_file}: no person detection of an image of "
                            f"{self.ann_file.name} ({dict(self.skipped) or 'empty file'})")

    def _read_detections(self) -> list[Any]:
        try:
            detections = json.loads(self.bbox_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.bbox_file}: file not found (expected detections)") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.bbox_file}: not a JSON file ({exc})") from None
        if not isinstance(detections, list):
            raise UserError(f"{self.bbox_file}: expected a COCO results list "
                            '[{"image_id", "category_id", "bbox", "score"}, ...]')
        return detections

    def _parse(self, data: dict, check_files: bool) -> list[dict]:
        images = {img["id"]: img for img in data.get("images", []) if "id" in img}
        exists: dict[Path, bool] = {}
        samples = []
        for i, det in enumerate(self._read_detections()):
            try:
                category = int(det.get("category_id", PERSON_CATEGORY))
                xywh = np.asarray(det["bbox"][:4], np.float32).reshape(4)
                score = float(det["score"])
                img = images.get(det["image_id"])
            except (AttributeError, KeyError, TypeError, ValueError):  # incl. a short bbox
                self.skipped["malformed_detection"] += 1
                continue
            if category != PERSON_CATEGORY:
                self.skipped["not_a_person"] += 1
                continue
            if score < self.score_thr:
                self.skipped["below_score_thr"] += 1
                continue
            if img is None or "file_name" not in img:
                self.skipped["unknown_image"] += 1
                continue
            path = self._image_path(img, check_files, exists)
            if path is None:
                continue
            samples.append({
                "img_path": str(path),
                "img_id": int(img["id"]),
                "ann_id": i,
                "bbox": np.concatenate([xywh[:2], xywh[:2] + xywh[2:]]),  # float32, as mmpose
                "bbox_score": score,
                "keypoints": np.zeros((NUM_KEYPOINTS, 2), np.float32),
                "keypoints_visible": np.ones(NUM_KEYPOINTS, np.float32),
            })
        return samples

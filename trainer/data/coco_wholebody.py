"""COCO-WholeBody person samples for top-down training, and a ratio-mixing dataset.

Parsing follows mmpose's ``CocoWholeBodyDataset`` + ``BaseCocoStyleDataset`` (topdown mode):
keypoints are body + foot + face + left hand + right hand (133), visibility is ``min(v, 1)``,
the box is the annotated ``bbox`` clipped to ``[0, size - 1]``, and crowd instances, instances
with ``num_keypoints == 0`` and boxes of zero area are dropped. Unlike mmpose, broken entries
(missing image file or image record, malformed or NaN keypoint lists) are skipped and counted
instead of raising, so one bad record in a large JSON never stops training.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from engines.skeleton import NUM_KEYPOINTS, PARTS
from engines.sources import read_image

__all__ = ["CocoWholeBodyDataset", "MixedDataset", "Transform"]

log = logging.getLogger(__name__)

#: a pipeline step: ``step(sample, rng) -> sample``
Transform = Callable[[dict, np.random.Generator], dict]

#: annotation key -> number of keypoints, in the order they are concatenated
_PART_KEYS = (
    ("keypoints", len(PARTS["body"])),
    ("foot_kpts", len(PARTS["foot"])),
    ("face_kpts", len(PARTS["face"])),
    ("lefthand_kpts", len(PARTS["left_hand"])),
    ("righthand_kpts", len(PARTS["right_hand"])),
)


def _apply(transform: Transform | Sequence[Transform] | None, sample: dict,
           rng: np.random.Generator) -> dict:
    if transform is None:
        return sample
    steps = transform if isinstance(transform, Sequence) else (transform,)
    for step in steps:
        sample = step(sample, rng)
    return sample


class CocoWholeBodyDataset(Dataset):
    """One sample per annotated person of a COCO-WholeBody-format JSON (COCO-WholeBody, UBody).

    A raw sample (before ``transform``) is a dict: ``img`` [H, W, 3] uint8 BGR, ``img_path``,
    ``img_id``, ``ann_id``, ``bbox`` [4] xyxy float32, ``keypoints`` [133, 2] float32,
    ``keypoints_visible`` [133] float32 in {0, 1}, ``img_shape`` (h, w).

    ``transform`` is one step or a list of steps ``step(sample, rng) -> sample``; ``rng`` is the
    dataset's numpy Generator, re-seeded per DataLoader worker by ``make_loader``.
    ``skipped`` maps a reason to the number of annotations dropped for it; ``decode_failures``
    counts images that failed to decode in ``__getitem__`` (in this process).
    """

    def __init__(self, ann_file: str | Path, img_dir: str | Path,
                 transform: Transform | Sequence[Transform] | None = None, seed: int = 0,
                 check_files: bool = True) -> None:
        self.ann_file = Path(ann_file)
        self.img_dir = Path(img_dir)
        self.transform = transform
        self.rng = np.random.default_rng(seed)
        self.skipped: Counter[str] = Counter()
        self.decode_failures = 0
        with open(self.ann_file, encoding="utf-8") as f:
            data = json.load(f)
        self.samples = self._parse(data, check_files)
        if self.skipped:
            log.warning("%s: skipped %d of %d annotations (%s)", self.ann_file.name,
                        sum(self.skipped.values()), sum(self.skipped.values()) + len(self),
                        ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())))

    def _image_path(self, img: dict, check_files: bool,
                    exists: dict[Path, bool]) -> Path | None:
        """The image file of record ``img``, or None (counted) when ``check_files`` finds none.

        ``exists`` caches the answer per file: many annotations share one image.
        """
        path = self.img_dir / img["file_name"]
        if check_files:
            if path not in exists:
                exists[path] = path.is_file()
            if not exists[path]:
                self.skipped["missing_image_file"] += 1
                return None
        return path

    def _parse(self, data: dict, check_files: bool) -> list[dict]:
        images = {img["id"]: img for img in data.get("images", []) if "id" in img}
        exists: dict[Path, bool] = {}
        samples = []
        for ann in data.get("annotations", []):
            img = images.get(ann.get("image_id"))
            if img is None or "file_name" not in img:
                self.skipped["missing_image_record"] += 1
                continue
            if ann.get("iscrowd", 0):
                self.skipped["iscrowd"] += 1
                continue
            keypoints = self._keypoints(ann)
            if keypoints is None:
                self.skipped["bad_keypoints"] += 1
                continue
            bbox = self._bbox(ann, img)
            if bbox is None:
                self.skipped["bad_bbox"] += 1
                continue
            if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
                self.skipped["zero_area_bbox"] += 1
                continue
            num_body = ann.get("num_keypoints")
            if num_body is None:
                num_body = int(np.count_nonzero(keypoints[:len(PARTS["body"]), 2]))
            if num_body == 0 or keypoints[:, :2].max() <= 0:
                self.skipped["no_keypoints"] += 1
                continue
            path = self._image_path(img, check_files, exists)
            if path is None:
                continue
            samples.append({
                "img_path": str(path),
                "img_id": int(img["id"]),
                "ann_id": int(ann.get("id", -1)),
                "bbox": bbox,
                "keypoints": keypoints[:, :2].astype(np.float32),
                "keypoints_visible": np.minimum(keypoints[:, 2] > 0, 1).astype(np.float32),
            })
        return samples

    @staticmethod
    def _keypoints(ann: dict) -> np.ndarray | None:
        """[133, 3] (x, y, v) or None when a part list is missing, mis-sized or not finite."""
        parts = []
        for key, count in _PART_KEYS:
            values = ann.get(key)
            if not isinstance(values, list) or len(values) != count * 3:
                return None
            try:
                arr = np.asarray(values, dtype=np.float64).reshape(count, 3)
            except (TypeError, ValueError):
                return None
            parts.append(arr)
        out = np.concatenate(parts)
        return out if np.isfinite(out).all() and out.shape[0] == NUM_KEYPOINTS else None

    @staticmethod
    def _bbox(ann: dict, img: dict) -> np.ndarray | None:
        """xyxy [4] float32 clipped to the image as mmpose does, or None when malformed."""
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            img_w, img_h = float(img["width"]), float(img["height"])
        except (KeyError, TypeError, ValueError):
            return None
        box = np.array([np.clip(x, 0, img_w - 1), np.clip(y, 0, img_h - 1),
                        np.clip(x + w, 0, img_w - 1), np.clip(y + h, 0, img_h - 1)], np.float32)
        return box if np.isfinite(box).all() else None

    def set_rng(self, rng: np.random.Generator) -> None:
        """Use ``rng`` for the random transforms (called once per DataLoader worker)."""
        self.rng = rng

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> dict:
        """The raw sample ``index`` with its image; if that image fails to decode, the next
        decodable one (deterministic), counting the failure."""
        for step in range(len(self.samples)):
            info = self.samples[(index + step) % len(self.samples)]
            img = read_image(info["img_path"])
            if img is not None:
                sample = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                          for k, v in info.items()}
                sample["img"] = img
                sample["img_shape"] = img.shape[:2]
                return sample
            self.decode_failures += 1
            if self.decode_failures == 1:
                log.warning("cannot decode %s; using the next sample instead", info["img_path"])
        raise RuntimeError(f"{self.ann_file}: no image of the dataset can be decoded")

    def __getitem__(self, index: int) -> dict:
        return _apply(self.transform, self.load(index), self.rng)


class MixedDataset(Dataset):
    """Several datasets sampled with fixed ratios (e.g. COCO-WholeBody 0.7 + UBody 0.3).

    Each epoch has ``length`` items (default: the sum of the datasets' lengths); dataset ``d``
    contributes ``round(ratio_d / sum(ratios) * length)`` of them, drawn without replacement
    while it has enough samples (with replacement otherwise) from ``Generator([seed, epoch])``.
    Call ``set_epoch`` before creating an epoch's DataLoader iterator (workers copy the mapping
    when the iterator starts). ``source(i)`` tells which dataset item ``i`` comes from.
    """

    def __init__(self, datasets: Sequence[tuple[Dataset, float]], length: int | None = None,
                 seed: int = 0) -> None:
        if not datasets:
            raise ValueError("MixedDataset needs at least one (dataset, ratio) pair")
        self.datasets = [d for d, _ in datasets]
        ratios = np.array([float(r) for _, r in datasets])
        if (ratios < 0).any() or ratios.sum() <= 0:
            raise ValueError(f"sampling ratios must be >= 0 with a positive sum, got {ratios}")
        if any(len(d) == 0 for d, r in zip(self.datasets, ratios) if r > 0):
            raise ValueError("a dataset with a positive ratio is empty")
        self.ratios = ratios / ratios.sum()
        self.length = int(length) if length is not None else sum(len(d) for d in self.datasets)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's index mapping [length, 2] (dataset, index)."""
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        counts = np.floor(self.ratios * self.length).astype(int)
        remainder = self.ratios * self.length - counts  # hand leftovers to the largest fractions
        counts[np.argsort(-remainder, kind="stable")[: self.length - counts.sum()]] += 1
        parts = []
        for d, (dataset, count) in enumerate(zip(self.datasets, counts)):
            if count == 0:
                continue
            idx = rng.choice(len(dataset), size=count, replace=bool(count > len(dataset)))
            parts.append(np.stack([np.full(count, d), idx], axis=1))
        mapping = np.concatenate(parts)
        self.mapping = mapping[rng.permutation(len(mapping))]

    def set_rng(self, rng: np.random.Generator) -> None:
        """Share ``rng`` with every member dataset that takes one."""
        for dataset in self.datasets:
            if hasattr(dataset, "set_rng"):
                dataset.set_rng(rng)

    def source(self, index: int) -> int:
        return int(self.mapping[index, 0])

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        d, i = self.mapping[index]
        return self.datasets[d][int(i)]

"""mmpose's top-down RTMPose training augmentation, without mmcv / albumentations.

Each step is a small picklable class ``step(sample, rng) -> sample`` working on one person
(no leading instance axis). Values follow mmpose's
``projects/rtmpose/rtmpose/wholebody_2d_keypoint/rtmpose-m_8xb64-270e_coco-wholebody-256x192.py``
and the defaults of the transforms it names (see ``build_pipeline``). Images stay BGR uint8
until ``PackInputs``, which converts to RGB as mmpose's data preprocessor (bgr_to_rgb) does.

Sample keys: ``img``, ``bbox`` [4] xyxy, ``keypoints`` [K, 2], ``keypoints_visible`` [K];
added on the way: ``bbox_center`` [2], ``bbox_scale`` [2], ``bbox_rotation`` (degrees),
``flip``, ``transformed_keypoints`` [K, 2] (input pixels), ``x_labels`` [K, Wx],
``y_labels`` [K, Wy], ``weights`` [K].
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from engines.codec import SimCCCodec
from engines.pose import BBOX_PADDING, MEAN_RGB, STD_RGB
from engines.skeleton import FLIP_INDICES
from engines.transforms import affine_points, bbox_xyxy2cs, fix_aspect_ratio, get_warp_matrix
from trainer.variants import INPUT_SIZES

from .coco_wholebody import Transform

__all__ = [
    "GetBBoxCenterScale", "RandomFlip", "RandomHalfBody", "RandomBBoxTransform",
    "TopdownAffine", "HSVRandomAug", "Blur", "MedianBlur", "CoarseDropout", "GenerateTarget",
    "PackInputs", "build_pipeline", "collate", "seed_worker", "make_loader",
    "UPPER_BODY_IDS", "LOWER_BODY_IDS",
]

#: keypoints typed 'upper' / 'lower' in mmpose's configs/_base_/datasets/coco_wholebody.py
UPPER_BODY_IDS = tuple(range(0, 11))  # nose .. wrists
LOWER_BODY_IDS = tuple(range(11, 23))  # hips .. ankles, feet


class GetBBoxCenterScale:
    """``bbox`` xyxy -> ``bbox_center``, ``bbox_scale`` (w, h times ``padding``)."""

    def __init__(self, padding: float = BBOX_PADDING) -> None:
        self.padding = padding

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        sample["bbox_center"], sample["bbox_scale"] = bbox_xyxy2cs(sample["bbox"], self.padding)
        return sample


class RandomFlip:
    """Horizontal flip with probability ``prob``: image, box, centre (x -> w - 1 - x, as mmpose)
    and keypoints (mirrored and re-ordered with ``FLIP_INDICES``)."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        flip = bool(rng.random() < self.prob)
        sample["flip"] = flip
        if not flip:
            return sample
        w = sample["img"].shape[1]
        sample["img"] = np.ascontiguousarray(sample["img"][:, ::-1])
        if "bbox" in sample:
            x1, y1, x2, y2 = sample["bbox"]
            sample["bbox"] = np.array([w - 1 - x2, y1, w - 1 - x1, y2], np.float32)
        if "bbox_center" in sample:
            center = sample["bbox_center"].copy()
            center[0] = w - 1 - center[0]
            sample["bbox_center"] = center
        kp = sample["keypoints"][FLIP_INDICES].copy()
        kp[:, 0] = w - 1 - kp[:, 0]
        sample["keypoints"] = kp
        sample["keypoints_visible"] = sample["keypoints_visible"][FLIP_INDICES].copy()
        return sample


class RandomHalfBody:
    """With probability ``prob``, re-centre the box on the visible upper or lower body
    (mmpose defaults; the RTMPose configs use them unchanged)."""

    def __init__(self, min_total_keypoints: int = 9, min_upper_keypoints: int = 2,
                 min_lower_keypoints: int = 3, padding: float = 1.5, prob: float = 0.3,
                 upper_prioritized_prob: float = 0.7) -> None:
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def select(self, visible: np.ndarray, rng: np.random.Generator) -> list[int] | None:
        """The keypoint ids of the chosen half, or None (same draws and order as mmpose)."""
        if visible.sum() < self.min_total_keypoints or rng.random() > self.prob:
            return None
        upper = [i for i in UPPER_BODY_IDS if visible[i] > 0]
        lower = [i for i in LOWER_BODY_IDS if visible[i] > 0]
        prefer_upper = rng.random() < self.upper_prioritized_prob
        if len(upper) < self.min_upper_keypoints and len(lower) < self.min_lower_keypoints:
            return None
        if len(lower) < self.min_lower_keypoints:
            return upper
        if len(upper) < self.min_upper_keypoints:
            return lower
        return upper if prefer_upper else lower

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        ids = self.select(sample["keypoints_visible"], rng)
        if ids is not None:
            pts = sample["keypoints"][ids]  # [n, 2]
            sample["bbox_center"] = pts.mean(axis=0).astype(np.float32)
            sample["bbox_scale"] = ((pts.max(axis=0) - pts.min(axis=0))
                                    * self.padding).astype(np.float32)
        return sample


def _truncnorm(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of a standard normal truncated to [-1, 1] (scipy's truncnorm(-1, 1))."""
    out = rng.standard_normal(size)
    bad = np.abs(out) > 1
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 1
    return out


class RandomBBoxTransform:
    """Random shift, scale and rotation of the box (mmpose's ``RandomBBoxTransform``).

    Each factor is a truncated normal on [-1, 1]: shift ``v * shift_factor * scale`` with
    probability ``shift_prob``, scale ``mu + v * sigma`` of ``scale_factor``'s range with
    probability ``scale_prob``, rotation ``v * rotate_factor`` degrees with ``rotate_prob``.
    """

    def __init__(self, shift_factor: float = 0.16, shift_prob: float = 0.3,
                 scale_factor: tuple[float, float] = (0.5, 1.5), scale_prob: float = 1.0,
                 rotate_factor: float = 80.0, rotate_prob: float = 0.6) -> None:
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = tuple(scale_factor)
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        v = _truncnorm(rng, 4)
        offset = v[:2] * self.shift_factor if rng.random() < self.shift_prob else np.zeros(2)
        lo, hi = self.scale_factor
        scale = v[2] * (hi - lo) * 0.5 + (hi + lo) * 0.5 if rng.random() < self.scale_prob else 1.0
        rotate = v[3] * self.rotate_factor if rng.random() < self.rotate_prob else 0.0
        bbox_scale = sample["bbox_scale"]
        sample["bbox_center"] = (sample["bbox_center"] + offset * bbox_scale).astype(np.float32)
        sample["bbox_scale"] = (bbox_scale * scale).astype(np.float32)
        sample["bbox_rotation"] = float(rotate)
        return sample


class TopdownAffine:
    """Warp the box (aspect fixed to ``input_size``, rotated by ``bbox_rotation``) to
    ``input_size`` (w, h) with INTER_LINEAR, and map the keypoints with the same matrix."""

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        w, h = self.input_size
        scale = fix_aspect_ratio(sample["bbox_scale"], w / h)
        rot = float(sample.get("bbox_rotation", 0.0))
        matrix = get_warp_matrix(sample["bbox_center"], scale, rot, (w, h))
        sample["img"] = cv2.warpAffine(sample["img"], matrix, (w, h), flags=cv2.INTER_LINEAR)
        sample["transformed_keypoints"] = affine_points(sample["keypoints"],
                                                        matrix).astype(np.float32)
        sample["bbox_scale"] = scale.astype(np.float32)
        sample["bbox_rotation"] = rot
        sample["input_size"] = (w, h)
        return sample


class HSVRandomAug:
    """mmdet's ``YOLOXHSVRandomAug`` on a BGR image: each of hue / saturation / value gets,
    with probability 1/2, an integer shift from U(-delta, delta); hue wraps at 180."""

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30,
                 value_delta: int = 30) -> None:
        self.deltas = np.array([hue_delta, saturation_delta, value_delta], dtype=np.float64)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        gains = rng.uniform(-1, 1, 3) * self.deltas * rng.integers(0, 2, 3)
        gains = gains.astype(np.int16)
        hsv = cv2.cvtColor(sample["img"], cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
        hsv[..., 1:] = np.clip(hsv[..., 1:] + gains[1:], 0, 255)
        sample["img"] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
        return sample


def _odd_kernel(rng: np.random.Generator, limits: tuple[int, int]) -> int:
    """An odd kernel size in ``limits`` (albumentations' Blur/MedianBlur choice)."""
    return int(rng.choice(np.arange(limits[0], limits[1] + 1, 2)))


class Blur:
    """Box blur with an odd kernel from ``blur_limit``, probability ``prob`` (albumentations
    ``Blur`` defaults: (3, 7))."""

    def __init__(self, prob: float = 0.1, blur_limit: tuple[int, int] = (3, 7)) -> None:
        self.prob = prob
        self.blur_limit = tuple(blur_limit)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if rng.random() < self.prob:
            k = _odd_kernel(rng, self.blur_limit)
            sample["img"] = cv2.blur(sample["img"], (k, k))
        return sample


class MedianBlur(Blur):
    """Median blur, odd kernel from ``blur_limit`` (albumentations ``MedianBlur`` defaults)."""

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if rng.random() < self.prob:
            sample["img"] = cv2.medianBlur(sample["img"], _odd_kernel(rng, self.blur_limit))
        return sample


class CoarseDropout:
    """Fill ``holes`` random rectangles with ``fill`` (albumentations ``CoarseDropout`` with
    fractional sizes: height in ``height`` x image height, width likewise)."""

    def __init__(self, prob: float = 1.0, holes: tuple[int, int] = (1, 1),
                 height: tuple[float, float] = (0.2, 0.4),
                 width: tuple[float, float] = (0.2, 0.4), fill: int = 0) -> None:
        self.prob = prob
        self.holes = tuple(holes)
        self.height = tuple(height)
        self.width = tuple(width)
        self.fill = fill

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return sample
        img = sample["img"].copy()
        h, w = img.shape[:2]
        for _ in range(int(rng.integers(self.holes[0], self.holes[1] + 1))):
            hh = int(rng.integers(int(h * self.height[0]), int(h * self.height[1]) + 1))
            hw = int(rng.integers(int(w * self.width[0]), int(w * self.width[1]) + 1))
            y0 = int(rng.integers(0, h - hh + 1))
            x0 = int(rng.integers(0, w - hw + 1))
            img[y0:y0 + hh, x0:x0 + hw] = self.fill
        sample["img"] = img
        return sample


class GenerateTarget:
    """SimCC labels of ``transformed_keypoints``: ``x_labels`` [K, Wx], ``y_labels`` [K, Wy],
    ``weights`` [K] (mmpose ``SimCCLabel``, split ratio 2, no normalisation)."""

    def __init__(self, input_size: tuple[int, int], sigma: tuple[float, float]) -> None:
        self.codec = SimCCCodec(input_size, sigma=sigma, split_ratio=2.0, normalize=False)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        enc = self.codec.encode(sample["transformed_keypoints"][None],
                                sample["keypoints_visible"][None])
        sample.update({k: v[0] for k, v in enc.items()})
        return sample


class PackInputs:
    """Model-ready tensors: ``inputs`` [3, H, W] float32 (RGB, mean/std normalised), targets
    and per-sample metadata; drops the image and intermediate keys."""

    _ARRAYS = ("x_labels", "y_labels", "weights", "transformed_keypoints", "keypoints_visible",
               "bbox", "bbox_center", "bbox_scale")
    _META = ("img_path", "img_id", "ann_id", "flip", "bbox_rotation", "bbox_score")

    def __init__(self, mean: Sequence[float] = MEAN_RGB, std: Sequence[float] = STD_RGB) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        rgb = sample["img"][..., ::-1].astype(np.float32)  # [H, W, 3]
        chw = ((rgb - self.mean) / self.std).transpose(2, 0, 1)
        out = {"inputs": torch.from_numpy(np.ascontiguousarray(chw))}
        for key in self._ARRAYS:
            if key in sample:
                out[key] = torch.from_numpy(np.ascontiguousarray(sample[key], np.float32))
        out.update({key: sample[key] for key in self._META if key in sample})
        return out


def _sigma_for(input_size: tuple[int, int]) -> tuple[float, float]:
    for size, sigma in INPUT_SIZES.values():
        if tuple(size) == tuple(input_size):
            return sigma
    raise ValueError(f"no config SimCC sigma for input size (w, h) = {tuple(input_size)}; "
                     "pass sigma explicitly")


def build_pipeline(input_size: tuple[int, int], stage: str = "main",
                   sigma: tuple[float, float] | None = None) -> list[Transform]:
    """The RTMPose whole-body training pipeline at ``input_size`` (w, h).

    ``stage="main"``: epochs 0-239 (RandomBBoxTransform scale (0.6, 1.4), rotate 80, default
    shift 0.16 / p 0.3; CoarseDropout p 1.0). ``stage="final"``: the last 30 epochs (no shift,
    scale (0.75, 1.25), rotate 60; CoarseDropout p 0.5). ``stage="plain"``: no augmentation
    (box + affine + targets: small or synthetic sets, where augmentation only slows the first
    thousands of iterations from scratch). ``stage="val"``: box + affine only.
    ``sigma`` defaults to the config value of the input size (256x192: (4.9, 5.66), 384x288:
    (6.0, 6.93)).
    """
    sigma = tuple(sigma) if sigma is not None else _sigma_for(input_size)
    crop = [GetBBoxCenterScale(), TopdownAffine(input_size)]
    if stage == "val":
        return [*crop, PackInputs()]
    if stage == "plain":
        return [*crop, GenerateTarget(input_size, sigma), PackInputs()]
    if stage == "main":
        bbox_aug = RandomBBoxTransform(scale_factor=(0.6, 1.4), rotate_factor=80.0)
        dropout_prob = 1.0
    elif stage == "final":
        bbox_aug = RandomBBoxTransform(shift_factor=0.0, scale_factor=(0.75, 1.25),
                                       rotate_factor=60.0)
        dropout_prob = 0.5
    else:
        raise ValueError(f"stage must be 'main', 'final', 'plain' or 'val', got {stage!r}")
    return [
        GetBBoxCenterScale(),
        RandomFlip(prob=0.5),
        RandomHalfBody(),
        bbox_aug,
        TopdownAffine(input_size),
        HSVRandomAug(),
        Blur(prob=0.1),
        MedianBlur(prob=0.1),
        CoarseDropout(prob=dropout_prob),
        GenerateTarget(input_size, sigma),
        PackInputs(),
    ]


def collate(batch: list[dict]) -> dict:
    """Stack tensors/arrays/numbers of a list of packed samples; other values become lists."""
    out: dict = {}
    for key in batch[0]:
        values = [b[key] for b in batch]
        first = values[0]
        if isinstance(first, torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(first, np.ndarray):
            out[key] = torch.from_numpy(np.stack(values))
        elif isinstance(first, (bool, int, float)):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give the worker's dataset copy its own numpy Generator
    from the seed torch assigned the worker (base seed of the loader's generator + id)."""
    info = torch.utils.data.get_worker_info()
    if hasattr(info.dataset, "set_rng"):
        info.dataset.set_rng(np.random.default_rng(info.seed))


def make_loader(dataset: Dataset, batch_size: int, workers: int, seed: int,
                shuffle: bool = True, distributed: bool = False,
                drop_last: bool = False) -> DataLoader:
    """A reproducible DataLoader: the same ``seed`` gives the same batches and augmentations.

    Order comes from a seeded torch Generator (or ``DistributedSampler(seed=seed)``, whose
    ``set_epoch`` the caller must call each epoch); each worker's augmentation Generator comes
    from ``seed_worker``. With ``workers == 0`` the dataset gets ``default_rng(seed)``.
    Augmentation streams depend on ``workers`` (each worker draws its own).
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    if workers == 0 and hasattr(dataset, "set_rng"):
        dataset.set_rng(np.random.default_rng(seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate, worker_init_fn=seed_worker if workers else None,
                      generator=generator, drop_last=drop_last, pin_memory=False,
                      persistent_workers=False)

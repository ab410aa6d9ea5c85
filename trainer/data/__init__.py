"""Training data: COCO-WholeBody parsing, detected boxes for evaluation, mixed datasets, the
RTMPose augmentation pipeline, reproducible loaders and a synthetic COCO-WholeBody generator
(test fixture / demo data).
"""
from __future__ import annotations

from .coco_wholebody import CocoWholeBodyDataset, MixedDataset
from .detections import DetectionsDataset
from .synthetic import generate
from .transforms import build_pipeline, collate, make_loader

__all__ = [
    "CocoWholeBodyDataset",
    "DetectionsDataset",
    "MixedDataset",
    "build_pipeline",
    "collate",
    "generate",
    "make_loader",
]

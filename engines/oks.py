"""Object keypoint similarity (OKS), as COCO-WholeBody's evaluation computes it.

The one OKS function of the project: the whole-body evaluation (``trainer.evaluation``) matches
predictions to ground truth with it, and the precision gate (``engines.precision_gate``) scores a
reduced-precision model's keypoints against its FP32 original with it.
"""
from __future__ import annotations

import numpy as np


def compute_oks(dt: np.ndarray, gt: np.ndarray, gt_areas: np.ndarray, gt_boxes: np.ndarray,
                sigmas: np.ndarray) -> np.ndarray:
    """COCOeval's OKS, [D, G], between predictions ``dt`` [D, K, 2+] and ground truth [G, K, 3].

    OKS = mean over the labelled (v > 0) points of exp(-d² / (2 · area · (2σ)²)). For a ground
    truth without labelled points, d is the distance of each prediction to its box grown by the
    box size on every side (0 inside) and the mean is over all K points.
    """
    dt = np.asarray(dt, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    labelled = gt[..., 2] > 0  # [G, K]
    has_points = labelled.any(1)[None, :, None]  # [1, G, 1]
    xd, yd = dt[:, None, :, 0], dt[:, None, :, 1]  # [D, 1, K]
    bx, by, bw, bh = (np.asarray(gt_boxes, dtype=np.float64).T[:, None, :, None])
    x0, x1, y0, y1 = bx - bw, bx + bw * 2, by - bh, by + bh * 2
    dx = np.where(has_points, xd - gt[None, :, :, 0],
                  np.maximum(0, x0 - xd) + np.maximum(0, xd - x1))
    dy = np.where(has_points, yd - gt[None, :, :, 1],
                  np.maximum(0, y0 - yd) + np.maximum(0, yd - y1))
    area = np.asarray(gt_areas, dtype=np.float64)[None, :, None]
    e = (dx**2 + dy**2) / variances / (area + np.spacing(1)) / 2
    counted = np.where(has_points, labelled[None], True)
    return np.where(counted, np.exp(-e), 0.0).sum(-1) / counted.sum(-1)

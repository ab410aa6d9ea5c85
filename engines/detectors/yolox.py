"""Raw YOLOX exports: [1, N, 85] head output -> grid decode -> NMS, as the official DWPose code.

Candidates with objectness * class score > 0.1, class-aware NMS at IoU 0.45 with the "+1
pixel" box areas, then class 0 (person) with score > 0.3, boxes divided by the letterbox
ratio. Only the person class is decoded: class-aware NMS treats classes independently, so the
other 79 cannot change the person boxes. Candidates between the two thresholds are dropped
before NMS too: a box can only be suppressed by a higher-scoring one, so boxes that end below
``score_thr`` never decide what survives.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backends import Backend
from ..models import RAW_YOLOX, YOLOX_STRIDES, DetectorIO, check_detector
from .base import YOLOX_NORM, Detections, Detector


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy NMS with YOLOX's "+1" areas; keeps a box when IoU <= ``iou_thr``. Returns indices."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


def anchor_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor-point offsets [N, 2] and strides [N, 1] of a YOLOX head at input ``size``."""
    grids, strides = [], []
    for s in YOLOX_STRIDES:
        n = size // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(strides).astype(np.float32))


class YOLOX(Detector):
    """A raw YOLOX export of any size (416 for nano/tiny, 640 for s..x).

    Args:
        backend: the loaded model.  io: its checked I/O (read from ``backend`` when omitted).
        score_thr: final person score threshold (official 0.3).
        nms_thr: NMS IoU threshold (official 0.45).
        candidate_thr: pre-NMS candidate threshold (official 0.1).
    """

    family = RAW_YOLOX

    def __init__(self, backend: Backend, io: DetectorIO | None = None, score_thr: float = 0.3,
                 nms_thr: float = 0.45, candidate_thr: float = 0.1) -> None:
        super().__init__(backend, io or check_detector(backend), score_thr, YOLOX_NORM)
        if self.io.family != RAW_YOLOX:
            raise ValueError(f"{backend.path}: not a raw YOLOX export ({self.io.describe()})")
        self.output_name = self.io.output_names[0]
        self.nms_thr, self.candidate_thr = nms_thr, candidate_thr
        self._grid, self._strides = anchor_grid(self.input_size)

    def postprocess(self, outputs: Mapping[str, np.ndarray], ratio: float) -> Detections:
        return self.decode(outputs[self.output_name][0], ratio)

    def decode(self, raw: np.ndarray, ratio: float) -> Detections:
        """Raw [N, 85] head output -> person boxes in image pixels, best first."""
        scores = raw[:, 4] * raw[:, 5]
        keep = np.flatnonzero(scores > max(self.candidate_thr, self.score_thr))
        if keep.size == 0:
            return Detections.empty()
        pred, scores = raw[keep], scores[keep]
        xy = (pred[:, :2] + self._grid[keep]) * self._strides[keep]
        half_wh = np.exp(pred[:, 2:4]) * self._strides[keep] * 0.5
        boxes = np.concatenate([xy - half_wh, xy + half_wh], axis=1) / ratio
        kept = nms(boxes, scores, self.nms_thr)
        return Detections(boxes[kept].astype(np.float32), scores[kept].astype(np.float32))

"""YOLOX person detector: letterbox (BGR, 0-255) -> raw [1, N, 85] output -> grid decode -> NMS.

Semantics of the official DWPose detector: candidates with objectness * class score > 0.1,
class-aware NMS at IoU 0.45 with the "+1 pixel" box areas, then class 0 (person) with score
> 0.3, boxes divided by the letterbox ratio. Only the person class is decoded: class-aware NMS
treats classes independently, so the other 79 cannot change the person boxes. Candidates
between the two thresholds are dropped before NMS too: a box can only be suppressed by a
higher-scoring one, so boxes that end below ``score_thr`` never decide what survives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends import Backend
from .models import YOLOX_STRIDES, check_detector
from .transforms import letterbox_blob


@dataclass
class Detections:
    boxes: np.ndarray  # [M, 4] xyxy in image pixels (not clipped, as upstream)
    scores: np.ndarray  # [M] objectness * person score

    def __len__(self) -> int:
        return len(self.boxes)


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


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor-point offsets [N, 2] and strides [N, 1] of a YOLOX head at input ``size``."""
    grids, strides = [], []
    for s in YOLOX_STRIDES:
        n = size // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(strides).astype(np.float32))


class YOLOX:
    """Finds people in a BGR image.

    Args:
        backend: a loaded YOLOX model of any size (the input size is read from the model).
        score_thr: final person score threshold (official 0.3).
        nms_thr: NMS IoU threshold (official 0.45).
        candidate_thr: pre-NMS candidate threshold (official 0.1).
    """

    def __init__(self, backend: Backend, score_thr: float = 0.3, nms_thr: float = 0.45,
                 candidate_thr: float = 0.1) -> None:
        io = check_detector(backend)
        self.backend = backend
        self.input_name, self.output_name = io.input_name, io.output_name
        self.input_size = io.input_size
        self.score_thr, self.nms_thr, self.candidate_thr = score_thr, nms_thr, candidate_thr
        self._grid, self._strides = _grid(self.input_size)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """BGR uint8 image -> [1, 3, S, S] float32 blob (0-255, no normalisation) and ratio."""
        return letterbox_blob(image, self.input_size)

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """[1, 3, S, S] -> raw head output [N, 85]."""
        return self.backend({self.input_name: blob})[self.output_name][0]

    def postprocess(self, raw: np.ndarray, ratio: float) -> Detections:
        """Raw [N, 85] output -> person boxes in image pixels, best first."""
        scores = raw[:, 4] * raw[:, 5]
        keep = np.flatnonzero(scores > max(self.candidate_thr, self.score_thr))
        if keep.size == 0:
            return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        pred, scores = raw[keep], scores[keep]
        xy = (pred[:, :2] + self._grid[keep]) * self._strides[keep]
        half_wh = np.exp(pred[:, 2:4]) * self._strides[keep] * 0.5
        boxes = np.concatenate([xy - half_wh, xy + half_wh], axis=1) / ratio
        kept = nms(boxes, scores, self.nms_thr)
        return Detections(boxes[kept].astype(np.float32), scores[kept].astype(np.float32))

    def __call__(self, image: np.ndarray) -> Detections:
        blob, ratio = self.preprocess(image)
        return self.postprocess(self.infer(blob), ratio)

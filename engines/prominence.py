"""How prominent each person of a frame is: the guide guides the most prominent person and
``dwpose predict --max-persons N`` keeps the N most prominent, by the same measure."""
from __future__ import annotations

import numpy as np


def prominence(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """[N] scores of ``[N, 4]`` xyxy boxes in a frame of ``shape`` (h, w, ...): the box's area
    inside the frame as a fraction of the frame, times ``1 - 0.5 * off_centre``, where
    ``off_centre`` is the horizontal distance of the box's centre from the frame's, in half
    frame widths (a person at the side counts half as much as one of the same size in the
    middle)."""
    h, w = shape[:2]
    b = np.clip(np.asarray(boxes, np.float64).reshape(-1, 4), 0, [w, h, w, h])
    area = np.prod(b[:, 2:] - b[:, :2], axis=1) / (w * h)
    off_centre = np.abs((b[:, 0] + b[:, 2]) / 2 - w / 2) / (w / 2)
    return area * (1 - 0.5 * off_centre)


def most_prominent(boxes: np.ndarray, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Indices of the ``n`` most prominent boxes, in their own order (ties: the earlier)."""
    scores = prominence(boxes, shape)
    keep = np.argsort(-scores, kind="stable")[:n]
    return np.sort(keep)

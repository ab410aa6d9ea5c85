"""The frame as the view shows it: scaled to the widget, mirrored, skeletons and boxes drawn.

Drawing happens after scaling, so lines and points keep a readable size whatever the camera
resolution, and after mirroring (on mirrored coordinates), so track labels read normally.
Skeletons and boxes come from ``engines.draw``, the same look as ``dwpose predict``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.draw import draw_boxes, draw_skeleton
from engines.pipeline import FrameResult

GUIDED_BGR = (80, 200, 60)  # the guided person's box
OTHER_BGR = (0, 160, 255)  # everybody else's


@dataclass(frozen=True)
class DrawOptions:
    """What to draw on the frame."""

    parts: tuple[str, ...] = ("body", "foot", "face", "hand")
    kpt_thr: float = 0.3
    boxes: bool = True
    mirror: bool = False


def fit_size(image_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Largest (w, h) with the aspect ratio of ``image_size`` (w, h) that fits in ``box``."""
    (w, h), (bw, bh) = image_size, box
    scale = min(bw / w, bh / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def render(image: np.ndarray, result: FrameResult | None, options: DrawOptions,
           size: tuple[int, int], guided: int | None = None) -> np.ndarray:
    """A new BGR image of ``size`` (w, h) with ``result`` drawn on it.

    ``guided`` is the index of the person the guide follows (green box); others are orange.
    """
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        out = image.copy()
    else:
        shrink = size[0] < w
        out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if options.mirror:
        out = np.ascontiguousarray(out[:, ::-1])
    if result is None or len(result) == 0:
        return out
    sx, sy = size[0] / w, size[1] / h
    keypoints = np.asarray(result.keypoints, np.float64) * (sx, sy)
    boxes = np.asarray(result.boxes, np.float64) * (sx, sy, sx, sy)
    if options.mirror:
        keypoints[..., 0] = size[0] - keypoints[..., 0]
        boxes[:, [0, 2]] = size[0] - boxes[:, [2, 0]]
    if options.boxes:
        labels = [f"#{int(t)}" for t in result.track_ids]
        others = [i for i in range(len(result)) if i != guided]
        draw_boxes(out, boxes[others], [labels[i] for i in others], color=OTHER_BGR)
        if guided is not None:
            draw_boxes(out, boxes[[guided]], [labels[guided]], color=GUIDED_BGR)
    if options.parts:
        draw_skeleton(out, keypoints, result.scores, parts=options.parts,
                      kpt_thr=options.kpt_thr)
    return out

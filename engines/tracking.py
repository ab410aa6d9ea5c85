"""Boxes for the frames between detector runs, and stable person identities.

The detector runs every ``det_interval`` frames. In between, each person's box for the next
frame is the box around the keypoints just estimated (confident ones only), grown by
``expansion`` about its centre: the pose model then follows the person by itself, which is
what makes live video cheap. Identities are kept by greedy IoU matching of each frame's boxes
against the previous frame's (rtmlib's PoseTracker is the peer design).

Differences from rtmlib, on purpose: only keypoints above ``kpt_thr`` make a box (low-score
points land anywhere and inflate it); a person whose pose loses confidence is dropped, and the
detector runs again on the next frame when nobody is left or someone was dropped, instead of
waiting for the next scheduled run; two tracks that collapse onto one person are merged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix [len(a), len(b)] of xyxy boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def keypoints_to_boxes(keypoints: np.ndarray, scores: np.ndarray, kpt_thr: float,
                       expansion: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [N, 4] around each person's keypoints above ``kpt_thr``, grown by ``expansion``.

    Returns the boxes and a [N] mask of persons with at least two confident keypoints (the
    others have no meaningful box).
    """
    ok = scores > kpt_thr  # [N, K]
    valid = ok.sum(axis=1) >= 2
    big = np.float32(np.inf)
    xs = np.where(ok, keypoints[..., 0], big)
    ys = np.where(ok, keypoints[..., 1], big)
    x1, y1 = xs.min(axis=1), ys.min(axis=1)
    x2 = np.where(ok, keypoints[..., 0], -big).max(axis=1)
    y2 = np.where(ok, keypoints[..., 1], -big).max(axis=1)
    boxes = np.stack([x1, y1, x2, y2], axis=1)
    boxes[~valid] = 0
    center = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * expansion
    return np.concatenate([center - half, center + half], axis=1).astype(np.float32), valid


@dataclass
class Tracks:
    """The persons the tracker follows into the next frame."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class PoseTracker:
    """Decides when the detector must run and carries boxes and identities between frames.

    Args:
        det_interval: run the detector every N frames (1 = every frame, no box propagation).
        kpt_thr: keypoint score above which a keypoint shapes the next box.
        min_pose_score: a tracked person whose mean score over its confident keypoints falls
            below this is dropped (and triggers detection on the next frame).
        iou_thr: minimum IoU for a box to keep the identity of a previous one.
        expansion: growth of the keypoint box about its centre (rtmlib uses 1.25).
    """

    def __init__(self, det_interval: int = 1, kpt_thr: float = 0.3,
                 min_pose_score: float = 0.3, iou_thr: float = 0.3,
                 expansion: float = 1.25) -> None:
        if det_interval < 1:
            raise ValueError("det_interval must be >= 1")
        self.det_interval = det_interval
        self.kpt_thr, self.min_pose_score = kpt_thr, min_pose_score
        self.iou_thr, self.expansion = iou_thr, expansion
        self.reset()

    def reset(self) -> None:
        self.frames_since_detection = 0
        self.force_detection = True
        self.tracks = Tracks()
        self._prev_boxes = np.zeros((0, 4), np.float32)
        self._prev_ids = np.zeros(0, np.int64)
        self._next_id = 0

    def needs_detection(self) -> bool:
        """True when this frame's boxes must come from the detector."""
        return self.force_detection or self.frames_since_detection + 1 >= self.det_interval

    def assign_ids(self, boxes: np.ndarray) -> np.ndarray:
        """Identities for this frame's boxes by greedy IoU against the previous frame."""
        ids = np.full(len(boxes), -1, np.int64)
        if len(boxes) and len(self._prev_boxes):
            iou = box_iou(boxes, self._prev_boxes)
            while iou.size and iou.max() >= self.iou_thr:
                i, j = np.unravel_index(iou.argmax(), iou.shape)
                ids[i] = self._prev_ids[j]
                iou[i, :] = -1
                iou[:, j] = -1
        for i in np.flatnonzero(ids < 0):
            ids[i] = self._next_id
            self._next_id += 1
        return ids

    def update(self, boxes: np.ndarray, box_scores: np.ndarray, keypoints: np.ndarray,
               scores: np.ndarray, detected: bool) -> np.ndarray:
        """Record this frame's result; returns the identity of each person.

        Args:
            boxes: the [N, 4] boxes the pose model ran on this frame.
            box_scores: their [N] detector scores (carried over for tracked boxes).
            keypoints, scores: the [N, K, 2] / [N, K] pose result.
            detected: whether ``boxes`` came from the detector on this frame.
        """
        ids = self.assign_ids(boxes) if detected else self.tracks.ids.copy()
        self._prev_boxes, self._prev_ids = np.asarray(boxes, np.float32), ids
        self.frames_since_detection = 0 if detected else self.frames_since_detection + 1
        if self.det_interval == 1:
            self.force_detection = False
            return ids

        next_boxes, valid = keypoints_to_boxes(keypoints, scores, self.kpt_thr, self.expansion)
        confident = np.where(scores > self.kpt_thr, scores, 0).sum(1) / np.maximum(
            (scores > self.kpt_thr).sum(1), 1)
        keep = valid & (confident >= self.min_pose_score)
        keep &= ~self._duplicates(next_boxes, confident, keep)
        self.tracks = Tracks(next_boxes[keep], np.asarray(box_scores, np.float32)[keep], ids[keep])
        self.force_detection = bool(len(self.tracks.ids) == 0 or not keep.all())
        return ids

    @staticmethod
    def _duplicates(boxes: np.ndarray, quality: np.ndarray, keep: np.ndarray,
                    iou_thr: float = 0.8) -> np.ndarray:
        """Mask of tracks that overlap a better track by more than ``iou_thr`` (same person)."""
        dup = np.zeros(len(boxes), bool)
        iou = box_iou(boxes, boxes)
        for i in np.argsort(-quality):
            if not keep[i] or dup[i]:
                continue
            dup |= (iou[i] > iou_thr) & (quality <= quality[i]) & (np.arange(len(boxes)) != i)
        return dup

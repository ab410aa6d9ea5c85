"""One frame through the whole-body pipeline: detect (or track) -> crop -> pose -> decode.

``WholeBody`` owns the two stage objects and the tracker and times every stage, so the CLI,
the benchmark and the GUI all report the same numbers.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .detectors import Detector
from .pose import RTMPose
from .tracking import PoseTracker

#: Stage names in pipeline order, as ``dwpose bench`` reports them.
STAGES = ("preprocess", "detector", "pose", "postprocess")

#: Keypoint score above which a keypoint counts for the COCO result score (mmpose's rescoring).
RESCORE_THR = 0.2


@dataclass
class FrameResult:
    """All persons found in one frame (N may be 0)."""

    boxes: np.ndarray  # [N, 4] xyxy: the boxes the pose model ran on
    box_scores: np.ndarray  # [N] detector score (0 for the whole-image fallback)
    keypoints: np.ndarray  # [N, 133, 2] image pixels
    scores: np.ndarray  # [N, 133] raw SimCC maxima
    track_ids: np.ndarray  # [N] identities stable across frames
    detected: bool  # whether the detector ran on this frame
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage

    def __len__(self) -> int:
        return len(self.boxes)

    def person_scores(self) -> np.ndarray:
        """[N] instance scores as mmpose rescores them: box score x mean confident kpt score."""
        return rescore(self.box_scores, self.scores)


def rescore(bbox_scores: np.ndarray, keypoint_scores: np.ndarray,
            thr: float = RESCORE_THR) -> np.ndarray:
    """mmpose 'bbox_keypoint' score: box score x mean of the keypoint scores above ``thr``.

    ``keypoint_scores`` is [N, K]; a person without any score above ``thr`` scores 0.
    The sum runs point by point, in mmpose's order.
    """
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    confident = keypoint_scores > thr
    total = np.cumsum(np.where(confident, keypoint_scores, 0.0), axis=1)[:, -1]
    count = confident.sum(1)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.asarray(bbox_scores, dtype=np.float64) * mean


def with_fallback(boxes: np.ndarray, scores: np.ndarray, image: np.ndarray,
                  whole_image: bool) -> tuple[np.ndarray, np.ndarray]:
    """The detected ``boxes`` and ``scores``; with none and ``whole_image``, the whole image
    with score 0 (the official DWPose code's fallback)."""
    if len(boxes) == 0 and whole_image:
        h, w = image.shape[:2]
        return np.array([[0, 0, w, h]], np.float32), np.zeros(1, np.float32)
    return boxes, scores


class StageTimer:
    """Accumulates wall-clock milliseconds per stage for one frame."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1e3


class WholeBody:
    """Person detector + RTMPose/DWPose with tracking between detector runs.

    Args:
        detector: the person detector (either family).  pose: the whole-body pose estimator.
        det_interval: run the detector every N frames (1 = every frame).
        whole_image_fallback: with no person detected, run pose on the whole image as the
            official DWPose code does (its box score is 0); off for live guidance, where
            "nobody there" must stay "nobody there".
    """

    def __init__(self, detector: Detector, pose: RTMPose, det_interval: int = 1,
                 whole_image_fallback: bool = True) -> None:
        self.detector, self.pose = detector, pose
        self.tracker = PoseTracker(det_interval)
        self.whole_image_fallback = whole_image_fallback

    def reset(self) -> None:
        """Forget tracks (call between unrelated images or when a video jumps)."""
        self.tracker.reset()

    def describe(self) -> str:
        """The models and how they run, for start-up lines."""
        det, pose = self.detector.backend, self.pose.backend
        warnings = sorted({b.fallback for b in (det, pose) if b.fallback})
        return (f"detector {det.path.name} ({self.detector.describe()}; {det.name} "
                f"{det.precision}), pose {pose.path.name} ({self.pose.describe()}; {pose.name} "
                f"{pose.precision})" + "".join(f"; WARNING: {w}" for w in warnings))

    def detect(self, image: np.ndarray, timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
        """The frame's person boxes [N, 4] and scores [N] from the detector; the whole image
        (score 0) when nobody is found and ``whole_image_fallback`` is on."""
        with timer("preprocess"):
            blob, ratio = self.detector.preprocess(image)
        with timer("detector"):
            outputs = self.detector.infer(blob)
        with timer("postprocess"):
            dets = self.detector.postprocess(outputs, ratio)
        return with_fallback(dets.boxes, dets.scores, image, self.whole_image_fallback)

    def estimate(self, image: np.ndarray, boxes: np.ndarray,
                 timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
        """The keypoints [N, K, 2] and scores [N, K] of the persons in ``boxes``."""
        k = self.pose.num_keypoints
        if not len(boxes):
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        with timer("preprocess"):
            batch = self.pose.preprocess(image, boxes)
        with timer("pose"):
            simcc_x, simcc_y = self.pose.infer(batch.blob)
        with timer("postprocess"):
            return self.pose.postprocess(simcc_x, simcc_y, batch)

    def __call__(self, image: np.ndarray) -> FrameResult:
        timer = StageTimer()
        detected = self.tracker.needs_detection()
        if detected:
            boxes, box_scores = self.detect(image, timer)
        else:
            boxes, box_scores = self.tracker.tracks.boxes, self.tracker.tracks.scores
        keypoints, scores = self.estimate(image, boxes, timer)
        with timer("postprocess"):
            ids = self.tracker.update(boxes, box_scores, keypoints, scores, detected)
        return FrameResult(boxes, box_scores, keypoints, scores, ids, detected, timer.ms)


def build_pipeline(det_path: str, pose_path: str, backend: str = "onnxruntime",
                   det_interval: int = 1, whole_image_fallback: bool = True,
                   score_thr: float = 0.3, nms_thr: float = 0.45, det_size: int | None = None,
                   det_norm: str | None = None, cache_dir: str | None = None,
                   **backend_options) -> WholeBody:
    """Load and check both models with one runtime and assemble the pipeline.

    ``det_size`` / ``det_norm``: what an end2end detector file leaves open (``load_detector``).
    """
    from .detectors import load_detector
    from .models import load_model

    detector = load_detector(det_path, backend, det_size, det_norm, cache_dir, score_thr,
                             nms_thr, **backend_options)
    pose_backend, _ = load_model(pose_path, "pose", backend, **backend_options)
    return WholeBody(detector, RTMPose(pose_backend), det_interval=det_interval,
                     whole_image_fallback=whole_image_fallback)

"""Several frames of a file in flight, for throughput where latency does not matter.

With the detector on every frame (files' default), a frame's boxes and poses depend on that
frame alone: only the identities the tracker gives depend on the frames before. So
``ParallelWholeBody`` runs detect, crop, pose and decode of up to ``workers`` frames at once,
one frame per worker thread, and gives identities in frame order on the caller's thread. Its
results are the serial pipeline's, in the same order, each one ``workers`` frames later.

The runtimes run the frames side by side: OpenVINO compiled for throughput (several streams,
each with its share of the cores) or ONNX Runtime with the cores shared between the workers
(``Backend.streams``), both releasing the GIL while they compute. With a detector every N > 1
frames a frame's boxes come from the previous frame's keypoints: that chain cannot run ahead,
so ``FrameRunner`` overlaps the two models there instead. Cameras keep the serial or
overlapped pipeline: a frame waiting behind others is a late frame.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .pipeline import FrameResult, StageTimer, WholeBody


@dataclass
class _Estimate:
    """One frame's work done off the caller's thread: everything but identities."""

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    timings: dict[str, float]


class ParallelWholeBody:
    """``pipeline`` (its detector on every frame) on ``workers`` frames at once; ``push``
    returns the oldest frame once ``workers`` are in flight, ``flush`` the rest in order."""

    def __init__(self, pipeline: WholeBody, workers: int) -> None:
        if pipeline.tracker.det_interval != 1:
            raise ValueError("frames run in parallel only with the detector on every frame")
        self.pipeline, self.workers = pipeline, max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dwpose-frame")
        self._in_flight: deque[tuple[np.ndarray, Future, bool]] = deque()

    def _estimate(self, image: np.ndarray) -> _Estimate:
        timer = StageTimer()
        boxes, box_scores = self.pipeline.detect(image, timer)
        keypoints, scores = self.pipeline.estimate(image, boxes, timer)
        return _Estimate(boxes, box_scores, keypoints, scores, timer.ms)

    def push(self, image: np.ndarray,
             cut: bool = False) -> tuple[np.ndarray, FrameResult] | None:
        """Start ``image`` (``cut``: unrelated to the frame before); returns the oldest frame
        and its result once ``workers`` frames are in flight."""
        self._in_flight.append((image, self._pool.submit(self._estimate, image), cut))
        return self._finish() if len(self._in_flight) > self.workers else None

    def flush(self) -> tuple[np.ndarray, FrameResult] | None:
        """The oldest frame in flight and its result (None when there is none)."""
        return self._finish() if self._in_flight else None

    def _finish(self) -> tuple[np.ndarray, FrameResult]:
        image, future, cut = self._in_flight.popleft()
        done = future.result()
        tracker = self.pipeline.tracker
        if cut:
            tracker.reset()
        start = StageTimer()
        with start("postprocess"):
            ids = tracker.update(done.boxes, done.box_scores, done.keypoints, done.scores,
                                 detected=True)
        done.timings["postprocess"] += start.ms["postprocess"]
        return image, FrameResult(done.boxes, done.box_scores, done.keypoints, done.scores,
                                  ids, True, done.timings)

    def discard(self) -> None:
        """Drop the frames in flight unfinished and forget tracks (after a failure)."""
        for _image, future, _cut in self._in_flight:
            future.cancel()
        self._in_flight.clear()
        self.pipeline.tracker.reset()

    def close(self) -> None:
        """Drop the frames in flight and stop the worker threads."""
        self.discard()
        self._pool.shutdown()

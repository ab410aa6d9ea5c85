"""Several frames of a file in flight, for throughput where latency does not matter.

A frame's boxes come from the detector, or, between detector runs, from the keypoints of the
frame before (``PoseTracker``). So the frames fall into *runs*: a detector frame and the
tracked frames after it, up to the next frame that needs the detector. Runs depend on nothing
before them but identities, so ``ParallelWholeBody`` estimates up to ``workers`` runs at once,
each on a worker thread with a tracker of its own, and gives identities in frame order on the
caller's thread. With the detector on every frame (files' default) a run is one frame.

Where the next run starts is known only once the run before it is done: ``det_interval``
frames after its detector frame, or sooner when a person is lost. Runs are started ahead on
the guess that none is (the common case); a run that ends early shows the guess wrong, the
runs after it are dropped and started again from the right frame, and guessing pauses until
a run ends on schedule again (a scene with nobody in it, where every frame asks for the
detector, then runs one run at a time instead of wasting work). Results are therefore the
serial pipeline's, in the same order, whatever happens in the video (tested).

The runtimes run the runs side by side: OpenVINO compiled for throughput (several streams,
each with its share of the cores) or ONNX Runtime with the cores shared between the workers
(``Backend.streams``), both releasing the GIL while they compute. Cameras keep the serial or
overlapped pipeline: a frame waiting behind others is a late frame.
"""
from __future__ import annotations

import copy
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .pipeline import FrameResult, StageTimer, WholeBody
from .tracking import PoseTracker


@dataclass
class _Estimate:
    """One frame's work done off the caller's thread: everything but identities."""

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    detected: bool
    timings: dict[str, float]


@dataclass
class _Run:
    """Frames ``start`` .. ``start + count - 1`` on a worker; its future gives the estimates
    of the frames up to the first one after ``start`` that needs the detector (all of them
    when none does) and whether the frame after the last needs it."""

    start: int
    count: int
    future: Future[tuple[list[_Estimate], bool]]


class ParallelWholeBody:
    """``pipeline`` on ``workers`` runs of frames at once (see the module docstring); ``push``
    returns the oldest frame once ``workers`` runs of frames are held, ``flush`` the rest in
    order."""

    def __init__(self, pipeline: WholeBody, workers: int) -> None:
        self.pipeline, self.workers = pipeline, max(1, workers)
        self._interval = pipeline.tracker.det_interval
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dwpose-frame")
        self._frames: deque[tuple[np.ndarray, bool]] = deque()  # (image, cut) not returned yet
        self._base = 0  # the frame number of self._frames[0]
        self._results: deque[FrameResult] = deque()  # of the oldest frames, in order
        self._runs: deque[_Run] = deque()  # contiguous, the first at the oldest frame unfinished
        self._next = 0  # the first frame in no run
        self._guess = True  # whether runs start ahead on the guess that no person is lost

    # -- the caller's side ------------------------------------------------------------------

    def push(self, image: np.ndarray,
             cut: bool = False) -> tuple[np.ndarray, FrameResult] | None:
        """Start ``image`` (``cut``: unrelated to the frame before); returns the oldest frame
        and its result once ``workers`` runs' worth of frames are held."""
        self._frames.append((image, cut))
        self._start_runs(final=False)
        return self._pop() if len(self._frames) > self.workers * self._interval else None

    def flush(self) -> tuple[np.ndarray, FrameResult] | None:
        """The oldest frame held and its result (None when there is none)."""
        return self._pop() if self._frames else None

    def discard(self) -> None:
        """Drop the frames held unfinished and forget tracks (after a failure)."""
        for run in self._runs:
            run.future.cancel()
        self._runs.clear()
        self._base += len(self._frames)
        self._frames.clear()
        self._results.clear()
        self._next = self._base
        self._guess = True
        self.pipeline.tracker.reset()

    def close(self) -> None:
        """Drop the frames held and stop the worker threads."""
        self.discard()
        self._pool.shutdown()

    def _pop(self) -> tuple[np.ndarray, FrameResult]:
        while not self._results:
            if not self._runs:
                self._start_runs(final=True)  # the last frames: no more to wait for
            self._finish_run()
            self._start_runs(final=False)
        image, _cut = self._frames.popleft()
        self._base += 1
        return image, self._results.popleft()

    # -- runs -------------------------------------------------------------------------------

    def _start_runs(self, final: bool) -> None:
        """Start runs while a worker is free and their frames are here (``final``: start the
        last frames' run however short)."""
        end = self._base + len(self._frames)
        while len(self._runs) < self.workers and self._next < end:
            ahead = bool(self._runs)
            if ahead and not self._guess:
                return
            # a run started ahead begins at a detector frame (the guess); else the tracker
            # as the frames before left it
            tracker = copy.deepcopy(self.pipeline.tracker)
            if ahead:
                tracker.reset()
            count = self._run_length(tracker, self._next)
            if count is None:
                if not final:
                    return
                count = end - self._next
            images = [self._frames[i - self._base][0]
                      for i in range(self._next, self._next + count)]
            cut = self._frames[self._next - self._base][1]
            future = self._pool.submit(self._estimate_run, images, cut, tracker)
            self._runs.append(_Run(self._next, count, future))
            self._next += count

    def _run_length(self, tracker: PoseTracker, start: int) -> int | None:
        """Frames from ``start`` to the tracker's next detector frame or the next cut; None
        while those frames are not all here."""
        cut = self._frames[start - self._base][1]
        length = (self._interval if cut or tracker.needs_detection()
                  else self._interval - 1 - tracker.frames_since_detection)
        for offset in range(1, length):
            if start + offset >= self._base + len(self._frames):
                return None
            if self._frames[start + offset - self._base][1]:
                return offset
        return length

    def _estimate_run(self, images: list[np.ndarray], cut: bool,
                      tracker: PoseTracker) -> tuple[list[_Estimate], bool]:
        """Detect, crop, pose and decode ``images`` in order on a worker, tracking with
        ``tracker`` (the worker's own), up to the first frame after the first that needs the
        detector."""
        if cut:
            tracker.reset()
        estimates = []
        for i, image in enumerate(images):
            detected = tracker.needs_detection()
            if i and detected:
                break
            timer = StageTimer()
            if detected:
                boxes, box_scores = self.pipeline.detect(image, timer)
            else:
                boxes, box_scores = tracker.tracks.boxes, tracker.tracks.scores
            keypoints, scores = self.pipeline.estimate(image, boxes, timer)
            tracker.update(boxes, box_scores, keypoints, scores, detected)
            estimates.append(_Estimate(boxes, box_scores, keypoints, scores, detected,
                                       timer.ms))
        return estimates, tracker.needs_detection()

    def _finish_run(self) -> None:
        """Wait for the oldest run, give its frames identities in order and check the guess
        that started the runs after it."""
        run = self._runs.popleft()
        estimates, next_detects = run.future.result()
        tracker = self.pipeline.tracker
        for offset, done in enumerate(estimates):
            if self._frames[run.start + offset - self._base][1]:
                tracker.reset()
            timer = StageTimer()
            with timer("postprocess"):
                ids = tracker.update(done.boxes, done.box_scores, done.keypoints, done.scores,
                                     done.detected)
            done.timings["postprocess"] += timer.ms["postprocess"]
            self._results.append(FrameResult(done.boxes, done.box_scores, done.keypoints,
                                             done.scores, ids, done.detected, done.timings))
        end = run.start + len(estimates)
        held = end < self._base + len(self._frames)
        # the frame after the run is a detector frame, as the runs started ahead assume
        detector_next = len(estimates) == run.count and (
            next_detects or (held and self._frames[end - self._base][1]))
        if len(estimates) < run.count or (self._runs and not detector_next):
            for later in self._runs:  # they started at a frame that is no detector frame
                later.future.cancel()
            self._runs.clear()
            self._next = end
        self._guess = detector_next

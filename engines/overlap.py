"""The whole-body pipeline with its two models overlapped: detect frame t while pose of t-1 runs.

``OverlappedWholeBody`` runs the same stages as ``engines.pipeline.WholeBody`` (the same
``Detector``, ``RTMPose`` and ``PoseTracker``, in the same order), so its results are identical;
only their timing differs. For each new frame t, with the pose batch of frame t-1 in flight:

1. if the detector runs on frame t for certain (its turn by ``det_interval``, or frame t-1 had
   nobody), preprocess frame t and submit it to the detector;
2. wait for the pose batch of frame t-1, decode it and update the tracker: frame t-1 is done;
3. boxes for frame t: from the detector job; or, when the tracker lost someone at t-1, from a
   detector run now (not overlapped); or from the tracker (no detector run at all);
4. crop frame t and submit its pose batch; return frame t-1 and its result.

So each result comes one frame late: ``push(frame t)`` returns frame t-1 with its result and
``flush()`` returns the last frame. In exchange, on a GPU the detector of frame t (one CUDA
stream) runs while the pose model of frame t-1 (the pose backend's stream) finishes, and the
pose model of frame t runs while the caller draws frame t-1 and reads frame t+1. Each job's
``result()`` waits on the CUDA event recorded at its end, never on the whole device.

Backends whose ``submit`` is synchronous (ONNX Runtime, torch on the CPU) get one worker thread
per stage instead: a thread is the CPU's stream, and both runtimes release the GIL while they
compute.

Timings per frame use the stage names of ``WholeBody``: ``detector`` and ``pose`` are the
runtimes' own times (GPU time between CUDA events on GPU backends, the worker's wall time
otherwise), ``preprocess`` and ``postprocess`` the host time spent on that frame.

``FrameRunner`` puts the serial, the overlapped and the parallel pipeline
(``engines.throughput``: several frames of a file in flight) behind one loop (push each frame,
flush at the end); ``pipeline_kind`` is the rule that ``--pipeline auto`` of ``dwpose
predict`` and of the desktop app follow.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from .backends.base import Backend, Job
from .detectors import Detector
from .pipeline import FrameResult, StageTimer, WholeBody, with_fallback
from .pose import PoseBatch, RTMPose
from .throughput import ParallelWholeBody
from .tracking import PoseTracker

#: Choices of ``--pipeline`` for live sources (``run_app.py``).
PIPELINE_MODES = ("auto", "serial", "overlap")
#: Choices for files (``dwpose predict``, ``dwpose bench``): also several frames in flight.
FILE_PIPELINE_MODES = (*PIPELINE_MODES, "throughput")
#: What ``auto`` picks, for the commands' help (see ``pipeline_kind``).
AUTO_RULE = ("auto = overlap when the backend runs asynchronously (tensorrt, torch on CUDA, "
             "openvino), serial otherwise (onnxruntime, torch on the CPU)")
FILE_AUTO_RULE = ("auto = throughput for a video or folder on the CPU (several frames in "
                  "flight, results in order and unchanged), else as for cameras: " + AUTO_RULE)

T = TypeVar("T")


class _ThreadJob(Job):
    """A synchronous backend's job running on a stage's worker thread."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self) -> dict[str, np.ndarray]:
        job: Job = self._future.result()
        self.elapsed_ms = job.elapsed_ms
        return job.result()


class _Stage:
    """Submits one model's batches without waiting: on the backend's own stream when it is
    asynchronous, else on a worker thread of this stage."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._pool = None if backend.asynchronous else ThreadPoolExecutor(
            1, thread_name_prefix=f"dwpose-{backend.name}")

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Job:
        if self._pool is None:
            return self.backend.submit(feeds)
        return _ThreadJob(self._pool.submit(self.backend.submit, feeds))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


@dataclass
class _Frame:
    """One frame on its way through the overlapped pipeline."""

    image: np.ndarray
    timer: StageTimer = field(default_factory=StageTimer)
    detected: bool = False
    ratio: float = 1.0
    det_job: Job | None = None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    box_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    batch: PoseBatch | None = None
    pose_jobs: list[Job] = field(default_factory=list)
    pose_counts: list[int] = field(default_factory=list)  # real crops of each pose job


class OverlappedWholeBody:
    """Detector + RTMPose/DWPose with tracking, the detector of frame t overlapping the pose model
    of frame t-1; results one frame late (see the module docstring).

    Args:
        detector, pose, det_interval, whole_image_fallback: as for ``WholeBody``.
    """

    def __init__(self, detector: Detector, pose: RTMPose, det_interval: int = 1,
                 whole_image_fallback: bool = True) -> None:
        self.detector, self.pose = detector, pose
        self.tracker = PoseTracker(det_interval)
        self.whole_image_fallback = whole_image_fallback
        self._det_stage, self._pose_stage = _Stage(detector.backend), _Stage(pose.backend)
        self._pending: _Frame | None = None

    @classmethod
    def from_pipeline(cls, pipeline: WholeBody) -> OverlappedWholeBody:
        """The overlapped form of a serial pipeline, sharing its loaded models."""
        return cls(pipeline.detector, pipeline.pose, pipeline.tracker.det_interval,
                   pipeline.whole_image_fallback)

    def push(self, image: np.ndarray,
             cut: bool = False) -> tuple[np.ndarray, FrameResult] | None:
        """Start frame t; returns frame t-1 and its result (None for the first frame).

        ``cut``: frame t is unrelated to frame t-1 (another image, a new source); its tracks
        start afresh, as after ``WholeBody.reset``, while frame t-1 still finishes with its own.
        """
        frame, previous = _Frame(image), self._pending
        if cut or self._detection_certain(previous):
            self._submit_detection(frame)
        done = self._finish(previous) if previous is not None else None
        self._pending = None
        if cut:
            self.tracker.reset()
        if frame.det_job is None and self.tracker.needs_detection():
            self._submit_detection(frame)  # a track was lost at t-1: detect now, not overlapped
        self._take_boxes(frame)
        self._submit_pose(frame)
        self._pending = frame
        return done

    def flush(self) -> tuple[np.ndarray, FrameResult] | None:
        """Finish the frame in flight; returns it and its result (None when there is none)."""
        frame, self._pending = self._pending, None
        return self._finish(frame) if frame is not None else None

    def reset(self) -> tuple[np.ndarray, FrameResult] | None:
        """Finish the frame in flight, then forget tracks (between unrelated images)."""
        done = self.flush()
        self.tracker.reset()
        return done

    def discard(self) -> None:
        """Drop the frame in flight unfinished and forget tracks: the way on after a failure,
        which may have left that frame and the tracker half done."""
        self._pending = None
        self.tracker.reset()

    def close(self) -> None:
        """Finish the frame in flight and stop the worker threads (if any)."""
        self.flush()
        self._det_stage.close()
        self._pose_stage.close()

    # -- scheduling ------------------------------------------------------------------------

    def _detection_certain(self, previous: _Frame | None) -> bool:
        """Whether the tracker will ask for detection on the next frame, whatever the pose of
        ``previous`` turns out to be: the detector's turn by interval, or nobody to track.
        Only a lost track (known after the pose result) can add a detector run."""
        tracker = self.tracker
        if previous is None:
            return tracker.needs_detection()
        since = 0 if previous.detected else tracker.frames_since_detection + 1
        return since + 1 >= tracker.det_interval or len(previous.boxes) == 0

    def _submit_detection(self, frame: _Frame) -> None:
        with frame.timer("preprocess"):
            blob, frame.ratio = self.detector.preprocess(frame.image)
        frame.det_job = self._det_stage.submit(self.detector.feeds(blob))
        frame.detected = True

    def _take_boxes(self, frame: _Frame) -> None:
        if frame.det_job is None:
            frame.boxes, frame.box_scores = self.tracker.tracks.boxes, self.tracker.tracks.scores
            return
        outputs = frame.det_job.result()
        frame.timer.ms["detector"] += frame.det_job.elapsed_ms
        with frame.timer("postprocess"):
            dets = self.detector.postprocess(outputs, frame.ratio)
        frame.boxes, frame.box_scores = with_fallback(dets.boxes, dets.scores, frame.image,
                                                      self.whole_image_fallback)

    def _submit_pose(self, frame: _Frame) -> None:
        """Crop the frame's boxes and submit them (in the calls ``RTMPose.chunks`` makes)."""
        if len(frame.boxes) == 0:
            return
        with frame.timer("preprocess"):
            frame.batch = self.pose.preprocess(frame.image, frame.boxes)
        for part, count in self.pose.chunks(frame.batch.blob):
            frame.pose_jobs.append(self._pose_stage.submit({"input": part}))
            frame.pose_counts.append(count)

    def _finish(self, frame: _Frame) -> tuple[np.ndarray, FrameResult]:
        """Wait for the frame's pose batch, decode it and update the tracker."""
        k = self.pose.num_keypoints
        keypoints, scores = np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        if frame.pose_jobs:
            outputs = [job.result() for job in frame.pose_jobs]
            frame.timer.ms["pose"] += sum(job.elapsed_ms for job in frame.pose_jobs)
            simcc_x, simcc_y = self.pose.merge(outputs, frame.pose_counts)
            with frame.timer("postprocess"):
                keypoints, scores = self.pose.postprocess(simcc_x, simcc_y, frame.batch)
        with frame.timer("postprocess"):
            ids = self.tracker.update(frame.boxes, frame.box_scores, keypoints, scores,
                                      frame.detected)
        return frame.image, FrameResult(frame.boxes, frame.box_scores, keypoints, scores, ids,
                                        frame.detected, frame.timer.ms)


def frames_in_flight(pipeline: WholeBody) -> int:
    """How many runs of frames ``pipeline`` can estimate side by side: its backends'
    streams (``engines.throughput``)."""
    return min(pipeline.detector.backend.streams, pipeline.pose.backend.streams)


def pipeline_kind(pipeline: WholeBody, mode: str = "auto") -> str:
    """``"serial"``, ``"overlapped"`` or ``"parallel"``: how ``mode`` (one of
    ``FILE_PIPELINE_MODES``) runs ``pipeline``.

    ``auto`` runs frames in parallel when the backends were loaded for throughput (several
    streams: ``dwpose predict`` on a video or folder). Otherwise it overlaps when both
    backends are ``asynchronous`` (TensorRT, torch on CUDA, OpenVINO): their CUDA streams,
    or OpenVINO's own threads, run the models while the host decodes, crops and draws
    (OpenVINO on 2 cores, a detector every frame: 1.2-1.5x the serial FPS,
    docs/performance.md). ONNX Runtime and torch on the CPU have no asynchronous submit:
    there ``auto`` stays serial (results a frame sooner); ``overlap`` still asks for it.
    ``throughput`` asks for the parallel pipeline.
    """
    if mode not in FILE_PIPELINE_MODES:
        raise ValueError(f"pipeline {mode!r}: choose one of {', '.join(FILE_PIPELINE_MODES)}")
    if mode in ("serial", "overlap"):
        return "serial" if mode == "serial" else "overlapped"
    if frames_in_flight(pipeline) > 1 or mode == "throughput":
        return "parallel"  # with one stream each, still one run's models beside the next
    det, pose = pipeline.detector.backend, pipeline.pose.backend
    return "overlapped" if det.asynchronous and pose.asynchronous else "serial"


class FrameRunner(Generic[T]):
    """The serial or the overlapped pipeline behind one loop, for callers that must write or
    show every frame: ``push`` each frame with an item of the caller's (a source frame, a GUI
    packet), handle what comes back, ``flush`` at the end.

    What comes back is the (item, result) finished by that call: the pushed frame itself
    (serial), the frame pushed before it (overlapped), or None. Either way every item comes
    back once, in order, with the result the serial pipeline gives it (but for the frame in
    flight when ``discard`` or ``close`` drops it).

    Args:
        pipeline: the loaded models.  mode: one of ``FILE_PIPELINE_MODES`` (see
            ``pipeline_kind``).
    """

    def __init__(self, pipeline: WholeBody, mode: str = "auto") -> None:
        self.pipeline = pipeline
        #: ``"serial"``, ``"overlapped"`` or ``"parallel"``, for status lines.
        self.kind = pipeline_kind(pipeline, mode)
        self.overlapped: OverlappedWholeBody | ParallelWholeBody | None = None
        if self.kind == "overlapped":
            self.overlapped = OverlappedWholeBody.from_pipeline(pipeline)
        elif self.kind == "parallel":
            self.overlapped = ParallelWholeBody(pipeline, max(2, frames_in_flight(pipeline)))
        self._items: deque[T] = deque()  # the items of the frames in flight

    def push(self, item: T, image: np.ndarray,
             cut: bool = False) -> tuple[T, FrameResult] | None:
        """Run ``image``; ``cut``: it is unrelated to the previous frame (no tracking across)."""
        if self.overlapped is None:
            if cut:
                self.pipeline.reset()
            return item, self.pipeline(image)
        done = self.overlapped.push(image, cut)
        self._items.append(item)
        return None if done is None else (self._items.popleft(), done[1])

    def flush(self) -> tuple[T, FrameResult] | None:
        """Finish the oldest frame in flight; its item and result (None when there is none).
        The parallel pipeline has several: ``drain`` finishes them all."""
        done = self.overlapped.flush() if self.overlapped is not None else None
        return None if done is None else (self._items.popleft(), done[1])

    def drain(self) -> Iterator[tuple[T, FrameResult]]:
        """Finish every frame in flight, oldest first."""
        while (done := self.flush()) is not None:
            yield done

    def run(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, FrameResult]]:
        """Every (item, image) of ``frames`` as (item, result), in order, the last ones
        drained."""
        for item, image in frames:
            done = self.push(item, image)
            if done is not None:
                yield done
        yield from self.drain()

    def discard(self) -> None:
        """Drop the frame in flight and forget tracks (after a failed frame)."""
        self._items.clear()
        if self.overlapped is None:
            self.pipeline.reset()
        else:
            self.overlapped.discard()

    def close(self) -> None:
        """Drop the frame in flight (``flush`` first to keep it) and stop the worker threads."""
        self.discard()
        if self.overlapped is not None:
            self.overlapped.close()

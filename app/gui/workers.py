"""The two threads behind the view: capture (camera/file -> frames) and inference.

    CaptureThread --put--> LatestSlot --get--> InferenceThread --put--> LatestSlot --> window
                                                   (pipeline, smoothing, guidance)

Each hand-over is a :class:`LatestSlot`: a queue of size 1 whose ``put`` replaces a stale item
instead of waiting. Capture never waits for inference and inference never waits for the
window, so whatever the model speed the view shows the newest frame (lag is at most one
inference) and the window never freezes.

The capture thread survives its source: a camera that stops sending, a file that vanishes or
a reader that raises are reported (``state``) and reopened with exponential backoff. The
inference thread survives its models: a load or inference failure is reported (``failed``)
and frames keep flowing (without keypoints while no pipeline is loaded).

The inference thread runs the models serially or overlapped (``engines.overlap``: the detector
of a frame runs while the pose model of the one before finishes). Overlapped, each push hands
back the previous frame; whenever no new frame is waiting, the frame in flight is finished at
once, so the overlap adds no latency unless the models are the bottleneck, where it adds
throughput.
"""
from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
from PyQt5.QtCore import QObject, QThread, pyqtSignal

from app.guidance import PROFILES, GuidanceState, Guide, exposure_stats
from engines.backends.auto import choose_backend
from engines.camera import not_opened_reason
from engines.errors import EXPECTED, one_line
from engines.overlap import FrameRunner
from engines.pipeline import FrameResult, build_pipeline
from engines.smoothing import KeypointSmoother
from engines.sources import FrameSource

from .sources import SourceSpec, fit, open_spec, paced

log = logging.getLogger(__name__)

#: Reconnect delays: the first retry after this many seconds, doubling up to the maximum.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 8.0
#: Live views run the detector every N frames and track in between (as ``dwpose predict``).
LIVE_DET_INTERVAL = 7

T = TypeVar("T")


def log_failure(what: str, exc: BaseException) -> None:
    """Log a failure the app survives: an expected one (a bad model, a vanished file:
    ``engines.errors.EXPECTED``) in one line, anything else with its traceback, as a bug."""
    if isinstance(exc, EXPECTED):
        log.warning("%s: %s", what, one_line(exc))
    else:
        log.error("%s: internal error (a bug, please report it)", what, exc_info=exc)


class LatestSlot(Generic[T]):
    """A size-1 queue that keeps only the newest item: ``put`` never blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when the slot was empty (the reader needs a wake-up)."""
        with self._cond:
            was_empty = self._item is None
            self._item = item
            self._cond.notify()
            return was_empty

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item, waiting up to ``timeout`` seconds (None: do not wait)."""
        with self._cond:
            if timeout is not None:
                self._cond.wait_for(lambda: self._item is not None, timeout)
            item, self._item = self._item, None
            return item


@dataclass
class Packet:
    """One captured frame."""

    image: np.ndarray  # BGR, as the source delivered it (fitted into the chosen resolution)
    index: int  # frame number in the source
    seq: int  # frames captured since the capture thread started (gaps = dropped frames)
    t: float  # time.perf_counter() when it was read
    cut: bool  # first frame after an (re)open, a loop or a new image: forget tracking


@dataclass
class Processed:
    """One frame after inference, ready to show."""

    packet: Packet
    # The keypoints saved by a capture: the model's, smoothed per track by the one-euro filter
    # (engines.smoothing, as `dwpose predict --smooth` on a camera), the ones shown and guided.
    result: FrameResult | None = None
    smoothed: FrameResult | None = None  # the same keypoints, in their role of what is shown
    guidance: GuidanceState | None = None
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage, "guide" included
    done: float = 0.0  # time.perf_counter() when processing finished
    raw: FrameResult | None = None  # the model's own output for this very frame


@dataclass(frozen=True)
class ModelSpec:
    """The models to run: two existing files, a runtime (``auto`` or a key of ``BACKENDS``),
    how to run them (one of ``engines.overlap.PIPELINE_MODES``) and what a detector file may
    leave open (``--det-size``, ``--det-norm``; None: the file's or registry's own)."""

    det: str
    pose: str
    backend: str = "auto"
    pipeline: str = "auto"
    det_size: int | None = None
    det_norm: str | None = None


def load_pipeline(spec: ModelSpec) -> FrameRunner[Packet]:
    """The shared pipeline, set up for a live view (tracking, no whole-image fallback), run
    serially or overlapped as ``spec.pipeline`` says; the backend chosen is named on stderr."""
    choice = choose_backend(spec.backend)
    print(f"dwpose: {choice.describe()}", file=sys.stderr)
    options = choice.options()
    if choice.name == "torch":  # a .pth pose checkpoint runs through the trainer's loader
        from trainer.deploy import checkpoint_loader

        options["checkpoint"] = checkpoint_loader()
    pipeline = build_pipeline(spec.det, spec.pose, backend=choice.name,
                              det_interval=LIVE_DET_INTERVAL, whole_image_fallback=False,
                              det_size=spec.det_size, det_norm=spec.det_norm, **options)
    return FrameRunner(pipeline, spec.pipeline)


def backoff(failures: int) -> float:
    """Seconds to wait before reconnect attempt number ``failures`` (1, 2, ...)."""
    return min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S)


class CaptureThread(QThread):
    """Reads ``spec`` in real time into ``slot``, reconnecting whenever the source fails.

    Signals: ``state(message, ok)``: streaming (ok) or lost and reconnecting (not ok);
    ``ended(problem)``: a file without looping reached its end (the thread then stops);
    ``problem`` says why it ended before its announced length ("" when it did not).
    """

    state = pyqtSignal(str, bool)
    ended = pyqtSignal(str)

    def __init__(self, spec: SourceSpec, slot: LatestSlot[Packet],
                 opener: Callable[[SourceSpec], FrameSource] = open_spec,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec, self.slot, self._opener = spec, slot, opener
        self._stop = threading.Event()
        self._seq = 0  # frames captured
        self._failures = 0  # failed attempts since frames last came
        self.setObjectName(f"capture {spec.label}")

    def stop(self) -> None:
        """Ask the thread to end and wait for it (a blocked camera read ends it later)."""
        self._stop.set()
        self.wait()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                source = self._opener(self.spec)
            except Exception as exc:
                why = not_opened_reason() if self.spec.kind == "camera" else exc
                self._retry(f"cannot open {self.spec.label} ({why})")
                continue
            try:
                with source:
                    count = self._stream(source)
            except Exception as exc:
                log_failure(f"{self.spec.label} failed", exc)
                self._retry(f"{self.spec.label} lost: {exc}")
                continue
            if self._stop.is_set():
                return
            short = source.ended_early()  # a truncated file: say so rather than end quietly
            if short:
                log.warning("%s", short)
                self.state.emit(short, False)
            if count and not source.live and not self.spec.loop:
                if not short:
                    self.state.emit(f"{self.spec.label}: end", True)
                self.ended.emit(short or "")
                return
            if source.live or not count:
                what = "stopped sending frames" if source.live else "has no readable frame"
                self._retry(f"{self.spec.label} {what}")

    def _stream(self, source: FrameSource) -> int:
        """Put every frame of one pass into the slot; returns how many there were."""
        count = 0
        for frame in paced(source, self._stop):
            if frame.image is None:
                self.state.emit(f"{self.spec.label}: skipped unreadable {frame.name}", True)
                continue
            if count == 0:
                self._failures = 0  # it works again: the next failure starts a fresh backoff
                self.state.emit(f"{self.spec.label}: streaming", True)
            self._seq += 1
            self.slot.put(Packet(fit(frame.image, self.spec.resolution), frame.index, self._seq,
                                 time.perf_counter(), cut=count == 0))
            count += 1
        return count

    def _retry(self, why: str) -> None:
        """Report ``why`` and wait before the next attempt (longer after each failure)."""
        self._failures += 1
        delay = backoff(self._failures)
        self.state.emit(f"{why}; reconnecting in {delay:.1f} s (attempt {self._failures})",
                        False)
        self._stop.wait(delay)


class InferenceThread(QThread):
    """Pipeline, smoothing and guidance on the newest frame of ``frames``, into ``results``.

    Models load in this thread (:meth:`set_models`), so the window stays responsive while a
    large model loads. Signals: ``processed()``: a new item waits in ``results``;
    ``auto_capture(Processed)``: the guide fired its capture on this frame;
    ``models_state(state, message)``: state is "loading", "loaded" or "failed" (the message
    says why); ``failed(message)``: inference raised on a frame (the thread goes on).
    """

    processed = pyqtSignal()
    auto_capture = pyqtSignal(object)
    models_state = pyqtSignal(str, str)
    failed = pyqtSignal(str)

    def __init__(self, frames: LatestSlot[Packet], profile: str = "full_body",
                 loader: Callable[[ModelSpec], FrameRunner[Packet]] = load_pipeline,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.frames, self._loader = frames, loader
        self.results: LatestSlot[Processed] = LatestSlot()
        self.runner: FrameRunner[Packet] | None = None
        self.guide = Guide(PROFILES[profile])
        self.smoother = KeypointSmoother()
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.setObjectName("inference")

    def set_models(self, spec: ModelSpec | None) -> None:
        """Load ``spec`` before the next frame, replacing the current models (None: unload)."""
        self._tasks.put(lambda: self._load(spec))

    def set_profile(self, name: str) -> None:
        """Guide for another kind of shot from the next frame on."""
        self._tasks.put(lambda: self.guide.set_profile(PROFILES[name]))

    def stop(self) -> None:
        """Ask the thread to end after the current frame and wait for it."""
        self._stop.set()
        self.wait()

    def run(self) -> None:
        while not self._stop.is_set():
            while not self._tasks.empty():
                self._tasks.get()()
            packet = self.frames.get()
            if packet is None:
                # Nothing waits: finish the frame in flight now rather than a frame later.
                self._publish(self._step(None))
                packet = self.frames.get(timeout=0.1)
            if packet is not None:
                self._publish(self._step(packet))
        self._unload()

    def _publish(self, processed: Processed | None) -> None:
        if processed is None:
            return
        if self.results.put(processed):
            self.processed.emit()
        if processed.guidance is not None and processed.guidance.capture:
            self.auto_capture.emit(processed)

    def _load(self, spec: ModelSpec | None) -> None:
        self._publish(self._step(None))  # the frame in flight, from the models that ran it
        self._unload()  # free the old models first
        if spec is None:
            return
        self.models_state.emit("loading", "loading models…")
        try:
            self.runner = self._loader(spec)
        except Exception as exc:
            log_failure("models not loaded", exc)
            self.models_state.emit("failed", f"models not loaded: {one_line(exc)}")
            return
        self.models_state.emit("loaded", f"models loaded ({self.runner.kind} pipeline): "
                                         f"{self.runner.pipeline.describe()}")

    def _unload(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    def _step(self, packet: Packet | None) -> Processed | None:
        """Push ``packet`` through the models (None: finish the frame in flight); returns the
        frame finished now, smoothed and guided: ``packet`` itself (serial, no models, or a
        failure: then without keypoints), the frame before it (overlapped) or None."""
        done = None if packet is None else (packet, None)
        if self.runner is not None:
            try:
                done = (self.runner.flush() if packet is None else
                        self.runner.push(packet, packet.image, cut=packet.cut))
            except Exception as exc:
                self._failed(exc)
        return None if done is None else self._finish(*done)

    def _finish(self, packet: Packet, result: FrameResult | None) -> Processed:
        """Smoothing and guidance on one frame's result (None: shown without keypoints)."""
        out = Processed(packet, raw=result)
        if packet.cut:
            self.smoother.reset()
            self.guide.reset()
        if result is not None:
            try:
                out.timings = dict(result.timings)
                start = time.perf_counter()
                out.result = out.smoothed = self.smoother(result, packet.t)
                out.guidance = self.guide.update(out.smoothed, packet.image.shape, packet.t,
                                                 exposure_stats(packet.image))
                out.timings["guide"] = (time.perf_counter() - start) * 1e3
            except Exception as exc:
                self._failed(exc)
                out = Processed(packet)
        out.done = time.perf_counter()
        return out

    def _failed(self, exc: Exception) -> None:
        """Report a failed frame and start over: tracks, smoothing and guidance may be half
        updated, and the frame in flight is dropped."""
        log_failure("inference failed", exc)
        self.failed.emit(f"{type(exc).__name__}: {one_line(exc)}")
        self.smoother.reset()
        self.guide.reset()
        if self.runner is not None:
            self.runner.discard()
